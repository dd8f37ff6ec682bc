//! The `reactor` command: parse the command line, set up logging, serve.
//!
//! Rule: no HTTP and no event loop here. Every failure the user can cause (a bad
//! flag, a port in use, a missing directory) is one line on stderr and exit code 2.

// An `unsafe fn` states a contract; each unsafe operation inside it still needs its
// own block and SAFETY comment.
#![deny(unsafe_op_in_unsafe_fn)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use reactor::cli::{parse_duration, parse_duration_or_zero};
use reactor::config::{Config, Limits, Model, Timeouts};

/// A small HTTP/1.1 server on a hand-rolled event loop. Serves a built-in site, or
/// a directory with -d, like `python3 -m http.server`.
#[derive(Parser, Debug)]
#[command(name = "reactor", version, about)]
struct Cli {
    /// Port to listen on (0 picks a free one).
    #[arg(default_value_t = 8080)]
    port: u16,

    /// Address to bind. Loopback by default: pass 0.0.0.0 to be reachable from other hosts.
    #[arg(short = 'b', long = "bind", default_value = "127.0.0.1")]
    bind: IpAddr,

    /// Serve this directory instead of the built-in site.
    #[arg(short = 'd', long = "directory", alias = "root", value_name = "DIR")]
    directory: Option<PathBuf>,

    /// Concurrency model.
    #[arg(long, value_enum, default_value_t = ModelArg::Reactor)]
    model: ModelArg,

    /// Reactor model: loops to run, each one thread with its own listener on the same
    /// port (SO_REUSEPORT), like nginx's worker processes; default 1. Pool model:
    /// worker threads; default the number of CPUs this process may run on.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=MAX_POOL_WORKERS))]
    workers: Option<u16>,

    /// Answer every request with `Connection: close` (the tutorial's behaviour).
    #[arg(long)]
    no_keep_alive: bool,

    /// Most connections open at once; beyond it new clients wait in the backlog.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_connections: usize,

    /// Requests served on one keep-alive connection before it is closed.
    #[arg(long, default_value_t = Limits::default().max_requests_per_connection, value_name = "N")]
    max_requests_per_connection: u64,

    /// Time to receive a request head (and longest pause inside a body), e.g. 10s, 500ms.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "TIME")]
    header_timeout: Duration,

    /// How long an idle keep-alive connection stays open.
    #[arg(long, default_value = "15s", value_parser = parse_duration, value_name = "TIME")]
    idle_timeout: Duration,

    /// How long a client may leave a response unread before it is dropped.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "TIME")]
    write_timeout: Duration,

    /// After SIGINT/SIGTERM, how long in-flight responses get to finish.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "TIME")]
    drain_timeout: Duration,

    /// Largest request body in bytes (413 above).
    #[arg(long, default_value_t = Limits::default().max_body, value_name = "BYTES")]
    max_body: u64,

    /// Largest request header section in bytes (431 above).
    #[arg(long, default_value_t = Limits::default().max_head, value_name = "BYTES")]
    max_head: usize,

    /// Longest request line in bytes (414 above).
    #[arg(long, default_value_t = Limits::default().max_request_line, value_name = "BYTES")]
    max_request_line: usize,

    /// Most header fields in a request (431 above).
    #[arg(long, default_value_t = 64, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    max_headers: u16,

    /// Log a line of counters this often (requests/s, connections, wake-ups).
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    stats_interval: Option<Duration>,

    /// How long a small file (up to 64 KiB) served with -d is answered from memory
    /// before it is read again; 0 reads every request from disk.
    #[arg(long, default_value = "1s", value_parser = parse_duration_or_zero, value_name = "TIME")]
    file_cache_ttl: Duration,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModelArg {
    /// One thread, one event loop (default).
    Reactor,
    /// One OS thread per connection.
    Threaded,
    /// One connection at a time.
    Iterative,
    /// A fixed pool of --workers threads fed from a bounded queue.
    Pool,
    /// One thread, one io_uring (Linux 6.1 or later).
    Uring,
}

impl From<ModelArg> for Model {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Reactor => Model::Reactor,
            ModelArg::Threaded => Model::Threaded,
            ModelArg::Iterative => Model::Iterative,
            ModelArg::Pool => Model::Pool,
            ModelArg::Uring => Model::Uring,
        }
    }
}

/// Most reactor loops: each has its own listener and poller, and a machine with more
/// cores than this is rare.
const MAX_REACTOR_WORKERS: u16 = 256;
/// Most pool workers: enough for a pool with a thread per client at the experiment's
/// 10 000 clients; each reserves a 256 KiB stack.
const MAX_POOL_WORKERS: i64 = 16_384;

/// Heads are kept whole in memory and indexed with 32-bit offsets: far more than any
/// real request needs, and a typo cannot ask for gigabytes.
const MAX_HEAD_LIMIT: usize = 64 * 1024 * 1024;

fn config_from(cli: Cli) -> Result<Config, String> {
    if let Some(dir) = &cli.directory {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("-d {}: not a directory", dir.display())),
            Err(e) => return Err(format!("-d {}: {e}", dir.display())),
        }
    }
    let root = match cli.directory {
        Some(dir) => Some(
            dir.canonicalize()
                .map_err(|e| format!("-d {}: {e}", dir.display()))?,
        ),
        None => None,
    };
    let model = Model::from(cli.model);
    let workers = match (model, cli.workers) {
        (Model::Threaded | Model::Iterative, Some(n)) if n > 1 => {
            return Err(format!(
                "--workers applies to the reactor, uring and pool models only (the {model} model has its own way to use cores)"
            ))
        }
        (Model::Reactor | Model::Uring, Some(n)) if n > MAX_REACTOR_WORKERS => {
            return Err(format!(
                "--workers for the reactor and uring models is at most {MAX_REACTOR_WORKERS}"
            ))
        }
        (_, Some(n)) => usize::from(n),
        // One worker per core it may run on (`taskset` and cgroup quotas count).
        (Model::Pool, None) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        (_, None) => 1,
    };
    if cli.max_head > MAX_HEAD_LIMIT || cli.max_request_line > MAX_HEAD_LIMIT {
        return Err("--max-head and --max-request-line must be at most 64 MiB".into());
    }
    if cli.max_connections == 0 {
        return Err("--max-connections must be at least 1".into());
    }
    Ok(Config {
        addr: SocketAddr::new(cli.bind, cli.port),
        root,
        model,
        limits: Limits {
            max_request_line: cli.max_request_line,
            max_head: cli.max_head,
            max_headers: usize::from(cli.max_headers),
            max_body: cli.max_body,
            max_requests_per_connection: cli.max_requests_per_connection.max(1),
            ..Limits::default()
        },
        timeouts: Timeouts {
            header: cli.header_timeout,
            idle: cli.idle_timeout,
            write: cli.write_timeout,
            ..Timeouts::default()
        },
        keep_alive: !cli.no_keep_alive,
        max_connections: cli.max_connections,
        workers,
        drain_timeout: cli.drain_timeout,
        stats_interval: cli.stats_interval,
        file_cache_ttl: cli.file_cache_ttl,
    })
}

fn main() -> ExitCode {
    let cli = match reactor::cli::parse_args::<Cli>("reactor") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // Start-up and warnings by default; RUST_LOG=info adds one access line per
    // request, debug each connection's life, trace every state transition.
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,reactor::access=warn"),
    )
    .init();

    let config = match config_from(cli) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("reactor: {message}");
            return ExitCode::from(2);
        }
    };
    // Before binding: a kernel that lacks or refuses io_uring is a one-line answer,
    // not a listening line followed by a failure.
    if config.model == Model::Uring {
        if let Err(why) = reactor::server::uring_available() {
            eprintln!("reactor: --model uring: {why}");
            return ExitCode::from(2);
        }
    }
    let listeners = match reactor::server::bind_all(config.addr, config.listeners()) {
        Ok(listeners) => listeners,
        Err(e) => {
            eprintln!("reactor: cannot listen on {}: {e}", config.addr);
            return ExitCode::from(2);
        }
    };
    match reactor::server::serve(listeners, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reactor: {e}");
            ExitCode::FAILURE
        }
    }
}
