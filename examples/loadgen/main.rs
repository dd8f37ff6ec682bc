//! `loadgen`: an event-driven HTTP/1.1 load generator that verifies every response.
//!
//! `cargo run --release --example loadgen -- [OPTIONS] URL` (see `--help`).
//!
//! This file owns the process: the command line, name resolution and the first connect
//! (bad input is one line on stderr and exit code 2), the split of connections, request
//! budget and rate across worker threads, the live progress line (only when stderr is a
//! terminal), and printing the merged report. Each worker runs its own mio loop
//! (`driver.rs`) over its connections (`conn.rs`); responses are framed by the sans-I/O
//! reader in `response.rs`; pacing is `schedule.rs`; numbers are `report.rs`.
//!
//! Exit code: 2 for bad input or an unreachable target; 1 if any response was wrongly
//! framed, named the wrong request or came out of order, or if none arrived at all;
//! 0 otherwise.

mod cli;
mod conn;
mod driver;
mod report;
mod request;
mod response;
mod schedule;

use std::io::{self, IsTerminal};
use std::net::{SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Args, Target, DEFAULT_DURATION};
use crate::conn::Settings;
use crate::driver::{WorkerPlan, WorkerResult};
use crate::report::{Report, Stats};
use crate::request::{RequestSpec, RequestTemplate};
use crate::schedule::Stop;

/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

fn main() -> std::process::ExitCode {
    let args = match reactor::cli::parse_args::<Args>("loadgen") {
        Ok(args) => args,
        Err(code) => return code,
    };
    let code = run(&args).unwrap_or_else(|message| {
        eprintln!("loadgen: {message}");
        2
    });
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn run(args: &Args) -> Result<i32, String> {
    args.validate()?;
    let target = Target::parse(&args.url)?;
    let headers = args.parsed_headers()?;
    let addr = resolve(&target)?;
    StdTcpStream::connect_timeout(&addr, args.timeout)
        .map_err(|e| format!("cannot connect to {addr}: {}", describe(&e)))?;

    let host = target.host_header();
    let request = RequestTemplate::render(&RequestSpec {
        method: &args.method,
        target: &target.path,
        host: &host,
        headers: &headers,
        body_size: args.body_size,
        close: args.close,
    });
    let settings = Settings {
        addr,
        pipeline: args.pipeline,
        close_each: args.close,
        timeout: args.timeout,
    };
    let threads = args.threads.min(args.connections);
    if !args.json {
        print_banner(args, threads);
    }

    let start = Instant::now();
    let plans: Vec<WorkerPlan> = (0..threads)
        .map(|thread| plan_for(args, thread, threads, start, &settings, &request))
        .collect();
    let progress = AtomicU64::new(0);
    let results: Vec<io::Result<WorkerResult>> = thread::scope(|scope| {
        let progress = &progress;
        let workers: Vec<_> = (plans.into_iter())
            .map(|plan| scope.spawn(move || driver::run(plan, progress)))
            .collect();
        show_progress(|| workers.iter().all(|w| w.is_finished()), progress, start);
        workers
            .into_iter()
            .map(|w| w.join().expect("worker thread panicked"))
            .collect()
    });

    let mut stats = Stats::default();
    let mut finished = start;
    for result in results {
        let result = result.map_err(|e| format!("event loop failed: {e}"))?;
        stats.merge(&result.stats);
        finished = finished.max(result.finished);
    }
    let report = Report::new(&stats, finished.duration_since(start), args.timeout);
    match args.json {
        true => println!("{}", report.to_json()),
        false => print!("{}", report.to_text()),
    }
    Ok(report.exit_code())
}

/// Thread `thread` of `threads` gets a contiguous block of connections and the matching
/// share of the request budget and of the rate (shares add up exactly to the totals).
fn plan_for(
    args: &Args,
    thread: usize,
    threads: usize,
    start: Instant,
    settings: &Settings,
    request: &RequestTemplate,
) -> WorkerPlan {
    let total = args.connections;
    let conns = total * thread / threads..total * (thread + 1) / threads;
    let share = |whole: u64| {
        whole * conns.end as u64 / total as u64 - whole * conns.start as u64 / total as u64
    };
    let stop = match (args.requests, args.duration) {
        (Some(requests), _) => Stop::After(share(requests)),
        (None, duration) => Stop::At(start + duration.unwrap_or(DEFAULT_DURATION)),
    };
    WorkerPlan {
        thread_tag: (threads > 1).then_some(thread),
        rate: args
            .rate
            .map(|rate| rate * conns.len() as f64 / total as f64),
        conns,
        start,
        stop,
        settings: settings.clone(),
        request: request.clone(),
    }
}

fn resolve(target: &Target) -> Result<SocketAddr, String> {
    let cannot = |why: String| format!("cannot resolve {}: {why}", target.host);
    (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| cannot(describe(&e)))?
        .next()
        .ok_or_else(|| cannot("no addresses".into()))
}

/// An io::Error without the " (os error N)" tail, for one tidy line.
fn describe(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

fn print_banner(args: &Args, threads: usize) {
    let length = match (args.requests, args.duration) {
        (Some(n), _) => format!("{n} requests"),
        (None, d) => format!("{:?} test", d.unwrap_or(DEFAULT_DURATION)),
    };
    let pace = match args.rate {
        Some(rate) => format!("open loop at {rate} req/s"),
        None => "closed loop".to_string(),
    };
    let close = if args.close {
        ", new connection per request"
    } else {
        ""
    };
    println!("Running {length} @ {}", args.url);
    println!(
        "  {threads} threads and {} connections, pipeline {}, {pace}{close}",
        args.connections, args.pipeline
    );
}

/// Redraws "elapsed, responses, current rate" on stderr until `done`, only when stderr
/// is a terminal: piped output stays clean.
fn show_progress(done: impl Fn() -> bool, progress: &AtomicU64, start: Instant) {
    if !io::stderr().is_terminal() {
        return; // the caller's join waits instead
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template");
    bar.set_style(style);
    let (mut last_at, mut last_count) = (start, 0);
    while !done() {
        thread::sleep(Duration::from_millis(10));
        let now = Instant::now();
        if now.duration_since(last_at) < PROGRESS_EVERY {
            continue;
        }
        let count = progress.load(Ordering::Relaxed);
        let rate = (count - last_count) as f64 / now.duration_since(last_at).as_secs_f64();
        bar.set_message(format!("{count} responses, {rate:.0} req/s"));
        bar.tick();
        (last_at, last_count) = (now, count);
    }
    bar.finish_and_clear();
}
