//! Which models a suite runs against, and when one cannot run here.
//!
//! Rule: a test is skipped only where the machine cannot run its model (the uring
//! model where the kernel lacks or refuses io_uring), never because it failed.
//!
//! The iterative model serves one connection at a time, to its end. So a suite run
//! through [`for_each_model!`] holds one connection open at a time: it drops
//! (closes) each before opening the next, so the iterative server is never left
//! waiting on a keep-alive client while the next one sits in the backlog. The one
//! exception is a test about exactly that difference
//! (`keep_alive.rs`, `second_client_waits_only_in_iterative`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::process::LISTENING;

/// The concurrency models, as `--model` spells them (the same list as in
/// [`for_each_model!`]).
pub const MODELS: [&str; 5] = ["reactor", "threaded", "iterative", "pool", "uring"];

/// Runs each `fn name(model: &str)` once per model, as separately named tests:
/// `reactor::name`, `threaded::name`, `iterative::name`, `pool::name` and
/// `uring::name` (which returns at once, saying why, where io_uring is unavailable:
/// see [`skip`]). A new blocking or readiness model is one more word in the list
/// below (and in [`MODELS`]).
///
/// ```ignore
/// fn keeps_alive(model: &str) { /* ... */ }
/// for_each_model!(keeps_alive, closes_on_request);
/// ```
#[macro_export]
macro_rules! for_each_model {
    ($($name:ident),* $(,)?) => {
        $crate::for_each_model!(@models [reactor threaded iterative pool uring] [$($name),*]);
    };
    (@models [$($model:ident)*] $names:tt) => {
        $( $crate::for_each_model!(@model $model $names); )*
    };
    (@model $model:ident [$($name:ident),*]) => {
        mod $model {
            $( #[test] fn $name() {
                if !$crate::common::skip(stringify!($model)) { super::$name(stringify!($model)) }
            } )*
        }
    };
}

/// `true` (after printing why) when `model` cannot run on this machine: only the
/// uring model, and only when the binary itself says io_uring is unavailable (exit
/// 2 with its one line). Any other failure to start is not a reason to skip.
pub fn skip(model: &str) -> bool {
    if model != "uring" {
        return false;
    }
    match uring_unavailable() {
        Some(why) => {
            eprintln!("skipped on this machine: {why}");
            true
        }
        None => false,
    }
}

/// Why the binary refuses `--model uring` here, asked once per test process.
pub fn uring_unavailable() -> Option<&'static str> {
    static WHY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    WHY.get_or_init(|| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reactor"))
            .args(["0", "--model", "uring"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the reactor binary: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let first = BufReader::new(stderr).lines().next();
        let first = first.and_then(|l| l.ok()).unwrap_or_default();
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if first.contains(LISTENING) {
            return None;
        }
        assert!(
            status.code() == Some(2) && first.contains("io_uring unavailable"),
            "--model uring failed to start for another reason ({status}): {first}"
        );
        Some(first)
    })
    .as_deref()
}
