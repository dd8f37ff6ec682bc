//! Finding (and first building) the two programs the experiment runs.
//!
//! `cargo run --release --example experiment` builds only this example, so unless
//! `--no-build` is given we run `cargo build [--release] --bin reactor --example loadgen`
//! for the profile we were built with, read off our own path
//! (`target/<profile>/examples/experiment`), into the same target directory.
//!
//! Rule: the only place that knows the target directory's layout.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/examples/experiment` → (`target/<profile>`, profile name).
fn own_profile_dir() -> Option<(PathBuf, String)> {
    let exe = std::env::current_exe().ok()?;
    let examples = exe.parent()?;
    if examples.file_name()? != "examples" {
        return None;
    }
    let profile_dir = examples.parent()?;
    let profile = profile_dir.file_name()?.to_str()?.to_string();
    Some((profile_dir.to_path_buf(), profile))
}

/// Builds the server and loadgen with the profile this program was built with.
pub fn build() -> Result<(), String> {
    let (profile_dir, profile) = own_profile_dir().ok_or(
        "cannot tell the build profile from this program's path; pass --no-build with --reactor and --loadgen",
    )?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.args([
        "build",
        "--quiet",
        "--bin",
        "reactor",
        "--example",
        "loadgen",
    ]);
    command.args([
        "--manifest-path",
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
    ]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    if let Some(target_dir) = profile_dir.parent() {
        command.env("CARGO_TARGET_DIR", target_dir);
    }
    let shown = format!(
        "{} build --bin reactor --example loadgen{}",
        Path::new(&cargo).display(),
        match profile.as_str() {
            "debug" => String::new(),
            "release" => " --release".into(),
            other => format!(" --profile {other}"),
        }
    );
    eprintln!("experiment: {shown}");
    let status = command
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("{shown} failed ({status})")),
    }
}

/// The server and loadgen binaries: the flags if given, else next to this program.
pub fn locate(
    reactor: Option<&Path>,
    loadgen: Option<&Path>,
) -> Result<(PathBuf, PathBuf), String> {
    let beside = |relative: &str| own_profile_dir().map(|(dir, _)| dir.join(relative));
    let reactor = reactor
        .map(Path::to_path_buf)
        .or_else(|| beside("reactor"))
        .ok_or("cannot find the reactor binary; pass --reactor PATH")?;
    let loadgen = loadgen
        .map(Path::to_path_buf)
        .or_else(|| beside("examples/loadgen"))
        .ok_or("cannot find the loadgen binary; pass --loadgen PATH")?;
    for (what, path) in [("reactor", &reactor), ("loadgen", &loadgen)] {
        if !path.is_file() {
            return Err(format!(
                "{what} binary not found at {} (build it, or pass --{what} PATH)",
                path.display()
            ));
        }
    }
    Ok((reactor, loadgen))
}

/// Private copies of the two binaries for the length of a run: the target directory
/// is shared, and a rebuild by someone else mid-run would otherwise change the server
/// under test between cells. Removed when dropped.
pub struct Copies {
    dir: PathBuf,
    pub reactor: PathBuf,
    pub loadgen: PathBuf,
}

impl Copies {
    pub fn new(reactor: &Path, loadgen: &Path) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("reactor-experiment-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let copy = |from: &Path, name: &str| {
            let to = dir.join(name);
            std::fs::copy(from, &to)
                .map(|_| to)
                .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), dir.display()))
        };
        let copied = copy(reactor, "reactor").and_then(|r| Ok((r, copy(loadgen, "loadgen")?)));
        match copied {
            Ok((reactor, loadgen)) => Ok(Self {
                dir,
                reactor,
                loadgen,
            }),
            Err(why) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(why)
            }
        }
    }
}

impl Drop for Copies {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `git describe --always --dirty` of the source tree, if git can tell.
pub fn source_version() -> Option<String> {
    let output = Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR")])
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}
