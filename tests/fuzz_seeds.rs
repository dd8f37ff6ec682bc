//! The fuzz targets' checks over their seed corpora, on every `cargo test`.
//!
//! The checks live in `fuzz/src` as plain functions of the input bytes; this file
//! includes those same files (no copy) and runs them over `fuzz/seeds/<target>/`: the
//! requests of this test suite, a few schedules, and every input a fuzzer once failed
//! on (`regression-*`). Fuzzing itself needs nightly and cargo-fuzz (README,
//! "Fuzzing"); this needs neither.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../fuzz/src/connection.rs"]
mod connection;
#[path = "../fuzz/src/head.rs"]
mod head;

/// The seed files of a fuzz target, in name order.
fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{}: too few seeds", dir.display());
    files
}

/// Runs `check` on every seed, naming the ones that fail.
fn check_all(target: &str, check: fn(&[u8])) {
    let mut failed = Vec::new();
    for path in seeds(target) {
        let data = fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "checks failed on: {failed:#?}");
}

#[test]
fn parse_head_checks_hold_on_the_seeds() {
    check_all("parse_head", head::check);
}

#[test]
fn connection_checks_hold_on_the_seeds() {
    check_all("connection", connection::check);
}
