//! `attack`: hostile clients against an HTTP server, to show what it survives.
//!
//! `cargo run --release --example attack -- --server 'target/release/reactor {PORT}'`
//! (see `--help`). Ten scenarios, each bounded in time and count and on loopback only:
//! slowloris, idle, no-read, fd-exhaustion (`hold.rs`, `resources.rs`), half-close,
//! reset-mid-response, garbage, oversized, smuggling (`malformed.rs`, `resources.rs`)
//! and shutdown (`shutdown.rs`). Each starts a fresh server (`target.rs`), measures
//! well-behaved clients before and during the attack (`good.rs`, loadgen in open loop),
//! and prints what the server did with a PASS or FAIL line (`report.rs`). Many
//! connections at once run on one mio loop (`swarm.rs`); single exchanges are blocking
//! (`wire.rs`).
//!
//! It shares the experiment's process plumbing (`../experiment/{server,load,system}.rs`),
//! the child-process harness of the tests (`../../tests/common/process.rs`)
//! and loadgen's strict response reader (`../loadgen/response.rs`).
//!
//! Exit code: 2 for a bad command line or a server that cannot be reached; 1 if any
//! scenario failed; 0 otherwise (skipped scenarios do not fail a run).

mod cli;
mod good;
mod hold;
#[path = "../experiment/load.rs"]
mod load;
mod malformed;
#[path = "../../tests/common/process.rs"]
mod process;
mod report;
mod resources;
#[path = "../loadgen/response.rs"]
#[allow(dead_code)] // loadgen's reader; we only frame responses with it
mod response;
mod scenario;
#[path = "../experiment/server.rs"]
mod server;
mod shutdown;
mod swarm;
#[path = "../experiment/system.rs"]
#[allow(dead_code, unused_imports)] // the experiment's machine plumbing; we use part of it
mod system;
mod target;
mod wire;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::Args;
use crate::good::GoodClients;
use crate::report::{Outcome, Verdict};
use crate::scenario::Ctx;
use crate::target::Target;

fn main() -> ExitCode {
    let args = match reactor::cli::parse_args::<Args>("attack") {
        Ok(args) => args,
        Err(code) => return code,
    };
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("attack: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    args.validate()?;
    // 10 000 idle connections need 10 000 descriptors here, and the servers we start
    // inherit the limit too.
    let (nofile_before, nofile) = system::raise_nofile_limit()
        .map_err(|e| format!("cannot read or raise RLIMIT_NOFILE: {e}"))?;
    let needed = args.idle_connections.max(args.connections) as u64 + 64;
    if nofile < needed {
        return Err(format!(
            "RLIMIT_NOFILE is {nofile} (the hard limit): too few for {} connections; lower --idle-connections",
            needed - 64
        ));
    }
    let loadgen = locate_loadgen(args)?;
    let target = Target::new(args)?;
    let machine = system::Machine::describe(nofile_before, nofile);
    let mut text = Output::new(args.json);
    // SAFETY: sysconf only reads a configuration value.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    text.line(&format!(
        "attack: {}, {online} x {} ({}), this process on {} of them, load average {}",
        machine.date_utc, machine.cpu_model, machine.kernel, machine.nproc, machine.loadavg
    ));
    text.line(&format!(
        "target: {} (model {}); expects header timeout {:?}, write timeout {:?}, drain timeout {:?}",
        target.description,
        target.model.name(),
        target.expected.header,
        target.expected.write,
        target.expected.drain
    ));
    text.line(&format!("command: {}\n", system::command_line()));

    let good = GoodClients {
        loadgen,
        rate: args.rate,
        connections: args.good_connections,
        cpu: args.good_cpu,
    };
    let ctx = Ctx {
        args,
        target: &target,
        good: &good,
    };
    let mut outcomes: Vec<Outcome> = Vec::new();
    for scenario in args.scenarios() {
        let outcome = scenario::run(scenario, &ctx);
        text.line(&outcome.to_text());
        outcomes.push(outcome);
    }
    text.line(&report::summary(&outcomes));

    let failed = outcomes.iter().any(|o| o.verdict == Verdict::Fail);
    if args.json {
        let json = serde_json::json!({
            "date": machine.date_utc,
            "machine": machine,
            "command": system::command_line(),
            "target": target.description,
            "model": target.model.name(),
            "expected_timeouts_s": {
                "header": target.expected.header.as_secs_f64(),
                "write": target.expected.write.as_secs_f64(),
                "drain": target.expected.drain.as_secs_f64(),
            },
            "passed": !failed,
            "results": outcomes,
        });
        println!("{json}");
    }
    Ok(match failed {
        true => ExitCode::from(1),
        false => ExitCode::SUCCESS,
    })
}

/// loadgen: `--loadgen`, else next to this program (`target/<profile>/examples/`).
fn locate_loadgen(args: &Args) -> Result<PathBuf, String> {
    let path = match &args.loadgen {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot tell where this program is: {e}"))?
            .with_file_name(format!("loadgen{}", std::env::consts::EXE_SUFFIX)),
    };
    match path.is_file() {
        true => Ok(path),
        false => Err(format!(
            "loadgen not found at {} (cargo build --release --example loadgen, or pass --loadgen PATH)",
            path.display()
        )),
    }
}

/// Human-readable text: on stdout, or on stderr when stdout carries the JSON.
struct Output {
    to_stderr: bool,
}

impl Output {
    fn new(json: bool) -> Self {
        Self { to_stderr: json }
    }

    fn line(&mut self, text: &str) {
        let text = text.trim_end_matches('\n');
        if self.to_stderr {
            eprintln!("{text}");
        } else {
            println!("{text}");
            let _ = std::io::stdout().flush();
        }
    }
}
