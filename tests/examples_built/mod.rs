//! The example binaries an integration test runs (loadgen, experiment, attack):
//! `cargo test --test X` does not build examples, so they are built here for the test's
//! own profile (a no-op when up to date) and found next to it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `names` (when cargo is at hand, as under `cargo test`) and returns their
/// paths, in order: `…/target/<profile>/deps/<test>-<hash>` → `…/target/<profile>/examples/<name>`.
pub fn build(names: &[&str]) -> Vec<PathBuf> {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    if let (Ok(cargo), Some(target_dir)) = (std::env::var("CARGO"), profile_dir.parent()) {
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet"]);
        for name in names {
            build.args(["--example", name]);
        }
        build
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the examples {names:?} failed");
    }
    names
        .iter()
        .map(|name| {
            let binary = profile_dir
                .join("examples")
                .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            assert!(
                binary.exists(),
                "{} is missing: cargo build --example {name}",
                binary.display()
            );
            binary
        })
        .collect()
}
