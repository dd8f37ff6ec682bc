//! Command line: the clap definition, the scenario names, and the checks clap cannot
//! express.
//!
//! Rule: no sockets and no processes here; every error is one line for
//! `attack: ...` and exit code 2.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use reactor::cli::parse_duration;

/// Hostile clients against an HTTP server, each scenario bounded in time and count,
/// on loopback only. Every scenario prints what the server did and a PASS/FAIL line;
/// well-behaved clients (loadgen, open loop) measure latency before and during it.
///
/// Point it at a server one of two ways: `--server 'CMD {PORT} ...'` starts a fresh
/// server for every scenario (the tool then knows its pid, can limit its file
/// descriptors and send it SIGTERM); `--url http://127.0.0.1:PORT [--pid PID]` attacks
/// a running one (fd-exhaustion and shutdown need --server and are skipped).
#[derive(Debug, Parser)]
#[command(name = "attack", version)]
pub struct Args {
    /// Server command line, run with `sh -c`; `{PORT}` becomes 0 (the tool reads the
    /// port from the listening line), `{ROOT}` a directory holding a large file.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["url", "pid"], required_unless_present = "url")]
    pub server: Option<String>,

    /// A running server to attack (loopback only).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// The running server's process id, for its memory, CPU, threads and descriptors.
    #[arg(long, value_name = "PID", requires = "url")]
    pub pid: Option<i32>,

    /// Scenarios to run, comma-separated, or `all`.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "all",
        value_name = "LIST"
    )]
    pub scenario: Vec<Scenario>,

    /// Print the results as one JSON object on stdout (the text goes to stderr).
    #[arg(long)]
    pub json: bool,

    /// Pin a started server to this CPU (like `taskset -c CPU`).
    #[arg(long, value_name = "CPU", requires = "server")]
    pub server_cpu: Option<usize>,

    /// The load generator for the well-behaved clients [default: next to this program].
    #[arg(long, value_name = "PATH")]
    pub loadgen: Option<PathBuf>,

    // ---- what the server was told (to know what to expect) ----
    /// The server's --header-timeout [default: read from --server, else 10s].
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub header_timeout: Option<Duration>,

    /// The server's --write-timeout [default: read from --server, else 30s].
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub write_timeout: Option<Duration>,

    /// The server's --drain-timeout [default: read from --server, else 10s].
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub drain_timeout: Option<Duration>,

    /// How long opening many connections may take; handshakes still pending then
    /// (their SYNs dropped by a full listen backlog) are counted as never connected.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "TIME")]
    pub connect_window: Duration,

    /// Slack allowed beyond each expected timeout before the tool gives up.
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "TIME")]
    pub margin: Duration,

    // ---- well-behaved clients ----
    /// Their rate, requests per second in total (loadgen --rate).
    #[arg(long, default_value_t = 1000.0, value_name = "R")]
    pub rate: f64,

    /// Their connections (one against the iterative server, which serves one at a time).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub good_connections: usize,

    /// How long they measure, before (baseline) and during each attack (slowloris,
    /// idle and no-read: as long as the attack, its timeout plus a second).
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "TIME")]
    pub good_duration: Duration,

    /// Pin the good clients (loadgen) to this CPU. On a machine with two, putting them
    /// on the server's keeps the attackers' own work (on the other) out of their
    /// latency, so it shows what the server does [default: where this process runs].
    #[arg(long, value_name = "CPU")]
    pub good_cpu: Option<usize>,

    /// slowloris passes (reactor) if the good clients' p99 is at most this times the
    /// baseline's.
    #[arg(long, default_value_t = 2.0, value_name = "X")]
    pub max_p99_ratio: f64,

    /// The baseline p99 is taken as at least this, so microsecond noise cannot fail a run.
    #[arg(long, default_value = "1ms", value_parser = parse_duration, value_name = "TIME")]
    pub p99_floor: Duration,

    // ---- sizes ----
    /// slowloris: connections dribbling a request head.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub connections: usize,

    /// slowloris: time between two bytes on one connection.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "TIME")]
    pub interval: Duration,

    /// idle: connections that never send a byte.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub idle_connections: usize,

    /// no-read: connections that pipeline requests and never read.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub no_read_connections: usize,

    /// no-read: most requests one connection writes (`GET /echo` with 2 KB of
    /// padding; at most the server's --max-requests-per-connection, or it closes first).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub no_read_requests: usize,

    /// fd-exhaustion: the started server's RLIMIT_NOFILE.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub fd_limit: u64,

    /// fd-exhaustion: connection attempts, each with one request.
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub fd_attempts: usize,

    /// fd-exhaustion: how long the server's CPU is measured while it is out of descriptors.
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "TIME")]
    pub saturation: Duration,

    /// fd-exhaustion and reset-mid-response: most CPU the server may use while it has
    /// nothing to do, as a fraction of one core.
    #[arg(long, default_value_t = 0.1, value_name = "FRACTION")]
    pub max_idle_cpu: f64,

    /// half-close: connections (half send one request, half three pipelined).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub half_close_connections: usize,

    /// reset-mid-response: downloads reset after their first bytes.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub resets: usize,

    /// reset-mid-response: size of the file created in {ROOT}.
    #[arg(long, default_value_t = 32 << 20, value_name = "BYTES")]
    pub file_size: u64,

    /// reset-mid-response: the large file's path on the server.
    #[arg(long, default_value = "/attack-big.bin", value_name = "PATH")]
    pub big_path: String,

    /// garbage: connections sending random bytes.
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub garbage_connections: usize,

    /// garbage: seed of the random bytes, so a run can be repeated.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,

    /// oversized: size of the huge request line, header and chunk extension.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub oversize: usize,

    /// shutdown: loadgen connections (closed loop) while SIGTERM lands.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub shutdown_connections: usize,

    /// shutdown: when SIGTERM is sent after the load started.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "TIME")]
    pub shutdown_after: Duration,
}

/// One hostile client, by its command-line name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Every scenario below, in this order.
    All,
    /// Connections sending their request head one byte at a time.
    Slowloris,
    /// Connections that never send a byte.
    Idle,
    /// Clients that pipeline requests and never read the responses.
    NoRead,
    /// A server with few file descriptors, and many more clients.
    FdExhaustion,
    /// A request, then shutdown(SHUT_WR): the response must still arrive.
    HalfClose,
    /// A large download reset (RST) by the client after its first bytes.
    ResetMidResponse,
    /// Random bytes.
    Garbage,
    /// A huge request line, header section, body, chunk size.
    Oversized,
    /// Ambiguous framing (CL.TE, TE.CL, ...) and requests hidden in bodies.
    Smuggling,
    /// SIGTERM in the middle of a load.
    Shutdown,
}

impl Scenario {
    pub const EVERY: [Scenario; 10] = [
        Scenario::Slowloris,
        Scenario::Idle,
        Scenario::NoRead,
        Scenario::FdExhaustion,
        Scenario::HalfClose,
        Scenario::ResetMidResponse,
        Scenario::Garbage,
        Scenario::Oversized,
        Scenario::Smuggling,
        Scenario::Shutdown,
    ];

    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::All => "all",
            Scenario::Slowloris => "slowloris",
            Scenario::Idle => "idle",
            Scenario::NoRead => "no-read",
            Scenario::FdExhaustion => "fd-exhaustion",
            Scenario::HalfClose => "half-close",
            Scenario::ResetMidResponse => "reset-mid-response",
            Scenario::Garbage => "garbage",
            Scenario::Oversized => "oversized",
            Scenario::Smuggling => "smuggling",
            Scenario::Shutdown => "shutdown",
        }
    }

    /// Needs to start, limit or signal the server itself.
    pub fn needs_control(self) -> bool {
        matches!(self, Scenario::FdExhaustion | Scenario::Shutdown)
    }
}

impl Args {
    /// The scenarios selected, `all` expanded, each once, in the canonical order.
    pub fn scenarios(&self) -> Vec<Scenario> {
        let all = self.scenario.contains(&Scenario::All);
        Scenario::EVERY
            .into_iter()
            .filter(|s| all || self.scenario.contains(s))
            .collect()
    }

    /// Range checks clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        let counts = [
            ("--connections", self.connections),
            ("--idle-connections", self.idle_connections),
            ("--no-read-connections", self.no_read_connections),
            ("--no-read-requests", self.no_read_requests),
            ("--fd-attempts", self.fd_attempts),
            ("--half-close-connections", self.half_close_connections),
            ("--resets", self.resets),
            ("--garbage-connections", self.garbage_connections),
            ("--shutdown-connections", self.shutdown_connections),
            ("--good-connections", self.good_connections),
        ];
        for (flag, value) in counts {
            if value == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err("--rate must be a positive number of requests per second".into());
        }
        if !(self.max_p99_ratio.is_finite() && self.max_p99_ratio >= 1.0) {
            return Err("--max-p99-ratio must be a number of at least 1".into());
        }
        if !(self.max_idle_cpu.is_finite() && self.max_idle_cpu > 0.0) {
            return Err("--max-idle-cpu must be a positive fraction of one core".into());
        }
        if self.fd_limit < 16 {
            return Err("--fd-limit must be at least 16 (the server needs a few to start)".into());
        }
        if self.oversize < 64 * 1024 {
            return Err("--oversize must be at least 65536 bytes, above every server limit".into());
        }
        if self.file_size < 1 << 20 {
            return Err("--file-size must be at least 1 MiB".into());
        }
        if !self.big_path.starts_with('/') || self.big_path.contains(char::is_whitespace) {
            return Err(format!(
                "--big-path '{}' must be a path like /big.bin",
                self.big_path
            ));
        }
        if let Some(template) = &self.server {
            if !template.contains("{PORT}") {
                return Err(
                    "--server must contain {PORT} where the port goes (it becomes 0, a free port)"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// `--url` as a loopback address.
    pub fn url_addr(&self) -> Result<Option<SocketAddr>, String> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let invalid = || format!("invalid --url '{url}': expected http://127.0.0.1:PORT");
        let rest = url.strip_prefix("http://").ok_or_else(invalid)?;
        let authority = rest.split('/').next().unwrap_or_default();
        let addr = authority
            .to_socket_addrs()
            .map_err(|_| invalid())?
            .next()
            .ok_or_else(invalid)?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "--url {url}: attacks target loopback only (127.0.0.1 or ::1)"
            ));
        }
        Ok(Some(addr))
    }
}
