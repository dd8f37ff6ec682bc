//! End-to-end test of `examples/experiment`: a tiny grid (6 models x 2 workloads x
//! 2 client counts, half a second per cell) against the real server and loadgen, then
//! the table on stdout and the CSV, JSON and SVG files it wrote.
//!
//! `cargo test --test experiment` does not build examples, so the first test runs
//! `cargo build --example experiment --example loadgen` (a no-op when up to date).

mod examples_built;
#[path = "common/seccomp.rs"]
mod seccomp;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

const MODELS: [&str; 6] = [
    "reactor",
    "threaded",
    "iterative",
    "pool-2",
    "pool-c",
    "uring",
];
const WORKLOADS: [&str; 2] = ["/hello", "/delay/50"];
const CLIENTS: [u64; 2] = [1, 5];

/// The experiment and loadgen examples, built for this profile.
fn examples() -> &'static (PathBuf, PathBuf) {
    static BINARIES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let mut built = examples_built::build(&["experiment", "loadgen"]).into_iter();
        (built.next().unwrap(), built.next().unwrap())
    })
}

/// A results directory of our own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_experiment(args: &[&str]) -> Output {
    let (experiment, _) = examples();
    Command::new(experiment)
        .args(args)
        .output()
        .expect("run the experiment")
}

/// The rows of the markdown table: (workload, model, clients) → cells.
fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|line| line.starts_with("| /"))
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn a_small_grid_measures_every_cell_and_writes_every_file() {
    let (_, loadgen) = examples();
    let out = TempDir::new("experiment-test");
    let output = run_experiment(&[
        "--quick",
        "--clients",
        "1,5",
        "--workloads",
        "hello,delay",
        "--duration",
        "500ms",
        "--timeout",
        "500ms",
        "--no-build",
        "--reactor",
        env!("CARGO_BIN_EXE_reactor"),
        "--loadgen",
        loadgen.to_str().expect("utf-8 path"),
        "--out",
        out.0.to_str().expect("utf-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(output.status.code(), Some(0), "{context}");
    assert!(stdout.contains("- machine: "), "{context}");
    assert!(stdout.contains("- command: `"), "{context}");

    // The table: every model x workload x clients row, each with numbers.
    let rows = table_rows(&stdout);
    let expected: BTreeSet<(String, String, u64)> = WORKLOADS
        .iter()
        .flat_map(|w| {
            MODELS
                .iter()
                .flat_map(move |m| CLIENTS.map(|c| (*w, *m, c)))
        })
        .map(|(w, m, c)| (w.to_string(), m.to_string(), c))
        .collect();
    let seen: BTreeSet<(String, String, u64)> = rows
        .iter()
        .map(|row| (row[0].clone(), row[1].clone(), row[2].parse().unwrap()))
        .collect();
    assert_eq!(rows.len(), expected.len(), "{context}");
    assert_eq!(seen, expected, "{context}");
    // Where io_uring is unavailable the experiment says so and skips those cells.
    let uring_skipped = stderr.contains("skipping the uring model's cells");
    let measured = |row: &Vec<String>| !(uring_skipped && row[1] == "uring");
    for row in rows.iter().filter(|row| measured(row)) {
        // req/s, threads, peak RSS, ctxt switches: numbers.
        for column in [3, 8, 9, 10] {
            let value: f64 = row[column]
                .parse()
                .unwrap_or_else(|_| panic!("column {column} of {row:?} is not a number"));
            assert!(value >= 0.0);
        }
        assert!(
            row[3].parse::<f64>().unwrap() > 0.0,
            "no throughput: {row:?}"
        );
        // answered, clients served, p50 and p99 (a number, or censored at the timeout).
        assert!(row[4].ends_with(" %"), "{row:?}");
        assert!(row[5].ends_with(&format!("/{}", row[2])), "{row:?}");
        for column in [6, 7] {
            assert!(
                row[column] == ">= 0.5 s" || row[column].parse::<f64>().is_ok(),
                "column {column} of {row:?}"
            );
        }
        assert_eq!((row[11].as_str(), row[12].as_str()), ("0", "0"), "{row:?}");
    }

    // The JSON has the same cells, all measured and verified.
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out.0.join("results.json")).expect("results.json"),
    )
    .expect("results.json parses");
    let cells = json["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), expected.len());
    for cell in cells {
        if uring_skipped && cell["model"] == "uring" {
            assert_eq!(cell["status"], "skipped", "{cell}");
            continue;
        }
        assert_eq!(cell["status"], "measured", "{cell}");
        assert!(cell["requests"].as_u64().unwrap() > 0, "{cell}");
        assert_eq!(cell["mismatched"], 0, "{cell}");
        assert_eq!(cell["out_of_order"], 0, "{cell}");
        assert_eq!(cell["verification_failed"], false, "{cell}");
        assert!(cell["threads_peak"].as_u64().unwrap() >= 1, "{cell}");
        assert!(cell["rss_peak_kib"].as_u64().unwrap() > 0, "{cell}");
    }
    assert!(json["machine"]["nproc"].as_u64().unwrap() >= 1);

    // The pool's starvation cell: two workers, five keep-alive clients, so three are
    // never served; sized to the clients, the pool serves all five with six threads.
    let cell = |model: &str, workload: &str, clients: u64| {
        cells
            .iter()
            .find(|c| c["model"] == model && c["workload"] == workload && c["clients"] == clients)
            .unwrap_or_else(|| panic!("no {model} {workload} c={clients} cell"))
    };
    for workload in WORKLOADS {
        let starved = cell("pool-2", workload, 5);
        assert!(starved["timeouts"].as_u64().unwrap() >= 3, "{starved}");
        assert_eq!(starved["threads_peak"], 3, "{starved}");
        assert_eq!(starved["clients_served"], 2, "{starved}");
        assert!(
            starved["answered_share"].as_f64().unwrap() < 1.0,
            "{starved}"
        );
        assert_eq!(starved["max_censored"], true, "{starved}");
        let sized = cell("pool-c", workload, 5);
        assert!(sized["threads_peak"].as_u64().unwrap() >= 6, "{sized}");
        assert_eq!(sized["clients_served"], 5, "{sized}");
    }

    // Timed-out requests count at the timeout: at 20 answers a second per served
    // client, the four clients the iterative server never reaches put its p99 (and its
    // median) at "at least the timeout", while the reactor's stays measured.
    let iterative = cell("iterative", "/delay/50", 5);
    assert_eq!(iterative["clients_served"], 1, "{iterative}");
    assert_eq!(iterative["p99_censored"], true, "{iterative}");
    assert_eq!(iterative["p99_us"], 500_000, "{iterative}");
    assert!(iterative["p99_answered_us"].as_u64().unwrap() < 500_000);
    let reactor = cell("reactor", "/delay/50", 5);
    assert_eq!(reactor["p99_censored"], false, "{reactor}");
    assert_eq!(reactor["answered_share"], 1.0, "{reactor}");
    let row = rows
        .iter()
        .find(|r| r[0] == "/delay/50" && r[1] == "iterative" && r[2] == "5")
        .expect("the iterative /delay/50 row");
    assert_eq!(
        (row[5].as_str(), row[7].as_str()),
        ("1/5", ">= 0.5 s"),
        "{row:?}"
    );

    // The CSV: a header and one row per cell, with as many fields.
    let csv = std::fs::read_to_string(out.0.join("results.csv")).expect("results.csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("CSV header").split(',').collect();
    assert!(header.contains(&"requests_per_s") && header.contains(&"p99_us"));
    let data: Vec<&str> = lines.collect();
    assert_eq!(data.len(), expected.len(), "{csv}");
    for line in data {
        // Notes may be quoted and hold commas; everything before them may not.
        let fields = line.splitn(header.len(), ',').count();
        assert_eq!(fields, header.len(), "{line}");
    }

    let svg = std::fs::read_to_string(out.0.join("chart.svg")).expect("chart.svg");
    assert!(svg.contains("<svg") && svg.contains("</svg>"));
    assert!(svg.contains("reactor") && svg.contains("/delay/50"));
}

#[test]
fn a_bad_flag_is_one_line_and_exit_code_2() {
    for args in [
        &["--bogus"][..],
        &["--clients", "0"],
        &["--workloads", "nope"],
    ] {
        let output = run_experiment(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("experiment: "), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

/// Where io_uring is refused (here by a seccomp filter that fails `io_uring_setup`
/// with EPERM, as container runtimes do; the filter is inherited by the server), the
/// uring cells are skipped with the reason and the run goes on.
#[test]
fn without_io_uring_the_uring_cells_are_skipped_saying_why() {
    let (experiment, loadgen) = examples();
    let out = TempDir::new("experiment-no-uring");
    let mut command = Command::new(experiment);
    command.args([
        "--models",
        "reactor,uring",
        "--workloads",
        "hello",
        "--clients",
        "1",
        "--duration",
        "300ms",
        "--timeout",
        "500ms",
        "--no-build",
        "--reactor",
        env!("CARGO_BIN_EXE_reactor"),
        "--loadgen",
        loadgen.to_str().expect("utf-8 path"),
        "--out",
        out.0.to_str().expect("utf-8 path"),
    ]);
    seccomp::refuse_io_uring(&mut command, libc::EPERM);
    let output = command.output().expect("run the experiment under seccomp");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(output.status.code(), Some(0), "{context}");
    assert!(
        stderr.contains("skipping the uring model's cells: io_uring unavailable"),
        "{context}"
    );
    assert!(
        stdout.contains("- skipped: every uring cell (io_uring unavailable"),
        "{context}"
    );
    let rows = table_rows(&stdout);
    let uring = rows.iter().find(|r| r[1] == "uring").expect("a uring row");
    assert!(
        uring[13].starts_with("**skipped**: io_uring unavailable"),
        "{uring:?}"
    );
    let reactor = rows
        .iter()
        .find(|r| r[1] == "reactor")
        .expect("a reactor row");
    assert!(reactor[3].parse::<f64>().unwrap() > 0.0, "{reactor:?}");
}
