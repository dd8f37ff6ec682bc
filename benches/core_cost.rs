//! Runs one workload through the core (`Connection` and the router, no sockets) a
//! given number of times, for `valgrind --tool=callgrind` to count instructions.
//! Counting two run lengths and dividing the difference by the extra requests
//! removes start-up: `benches/callgrind.sh` does that for every workload.
//!
//! `cargo bench --bench core_cost -- WORKLOAD REQUESTS` runs it once (WORKLOAD is
//! `pipelined16-file`, `keep-alive-file`, `keep-alive-hello` or `browser-file`).

#[path = "common/rig.rs"]
mod rig;

use std::hint::black_box;
use std::process::ExitCode;

use rig::{Rig, BROWSER_REQUEST, WRK_FILE_REQUEST, WRK_REQUEST};

/// A workload: what one read holds, how many requests that is, and whether files
/// are served.
struct Workload {
    name: &'static str,
    read: Vec<u8>,
    requests_per_read: usize,
    with_root: bool,
}

fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "pipelined16-file",
            read: WRK_FILE_REQUEST.repeat(16),
            requests_per_read: 16,
            with_root: true,
        },
        Workload {
            name: "keep-alive-file",
            read: WRK_FILE_REQUEST.to_vec(),
            requests_per_read: 1,
            with_root: true,
        },
        Workload {
            name: "keep-alive-hello",
            read: WRK_REQUEST.to_vec(),
            requests_per_read: 1,
            with_root: false,
        },
        Workload {
            name: "browser-file",
            read: BROWSER_REQUEST.to_vec(),
            requests_per_read: 1,
            with_root: true,
        },
    ]
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench` to every bench target: ignore flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let all = workloads();
    let names: Vec<&str> = all.iter().map(|w| w.name).collect();
    let (Some(name), Some(count)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: core_cost WORKLOAD REQUESTS   (WORKLOAD: {})",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let Some(workload) = all.iter().find(|w| w.name == name) else {
        eprintln!(
            "core_cost: unknown workload '{name}' (one of: {})",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let Ok(requests) = count.parse::<usize>() else {
        eprintln!("core_cost: REQUESTS must be a whole number, not '{count}'");
        return ExitCode::from(2);
    };
    let mut rig = Rig::new();
    let mut sent = 0;
    for _ in 0..requests.div_ceil(workload.requests_per_read) {
        sent += rig.exchange(black_box(&workload.read), workload.with_root);
    }
    println!("{name}: {requests} requests, {sent} bytes out");
    ExitCode::SUCCESS
}
