//! One loadgen run: `loadgen -c N -d T --timeout T --threads 1 --json URL` (with
//! `--rate R` for an open loop) as a child process, killed if it passes a hard time
//! bound, its JSON report parsed. Shared with `examples/attack` (by `#[path]`), whose
//! well-behaved clients are loadgen runs too.
//!
//! Rule: this file owns the loadgen process and knows its JSON fields; it decides
//! nothing about what the numbers mean.

// Shared by two examples (experiment, attack); each uses a different subset.
#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::system;

/// The fields of loadgen's `--json` report that the experiment and the attack use.
#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    pub requests: u64,
    pub duration_s: f64,
    pub requests_per_s: f64,
    /// Answered requests only.
    pub latency_us: Latency,
    /// Answered and timed-out requests, the latter counted at `timeout_us`: with
    /// `censored` > 0, a value at `timeout_us` means "at least the timeout".
    pub latency_with_timeouts_us: CensoredLatency,
    pub timeout_us: u64,
    /// Connections, and how many got at least one response.
    pub clients: u64,
    pub clients_served: u64,
    pub errors: Errors,
    pub mismatched: u64,
    pub out_of_order: u64,
    pub sent: u64,
    /// Open loop only: requests that were due but could not be sent.
    #[serde(default)]
    pub unsent: u64,
    pub first_error: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Latency {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CensoredLatency {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
    pub censored: u64,
}

impl CensoredLatency {
    /// Whether `value` (one of the fields) only says "at least the timeout".
    pub fn is_censored(&self, value: u64, timeout_us: u64) -> bool {
        self.censored > 0 && value >= timeout_us
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Errors {
    pub connect: u64,
    pub reset: u64,
    pub timeout: u64,
    pub parse: u64,
}

/// How a loadgen run ended.
#[derive(Debug)]
pub enum Outcome {
    /// It exited by itself; `report` is `None` if stdout was not a report.
    Exited {
        code: Option<i32>,
        report: Option<Report>,
        stderr: String,
    },
    /// It ran past the hard bound and was killed.
    Killed { after: Duration },
    /// It could not be started.
    NotStarted(String),
}

/// What to run.
pub struct Load<'a> {
    pub binary: &'a Path,
    pub addr: SocketAddr,
    pub path: &'a str,
    pub clients: usize,
    pub duration: Duration,
    pub timeout: Duration,
    /// `--rate`: open loop at this many requests per second in total.
    pub rate: Option<f64>,
    pub cpu: Option<usize>,
}

impl Load<'_> {
    /// The longest a run may take before it is killed: the load, a timeout for the
    /// last requests in flight, and generous slack for connecting many clients.
    pub fn hard_bound(&self) -> Duration {
        self.duration
            + self.timeout * 2
            + Duration::from_secs(10)
            + Duration::from_millis(self.clients as u64)
    }

    pub fn run(&self) -> Outcome {
        let mut command = Command::new(self.binary);
        command
            .args(["-c", &self.clients.to_string()])
            .args(["-d", &flag_duration(self.duration)])
            .args(["--timeout", &flag_duration(self.timeout)])
            .args(["--threads", "1", "--json"]);
        if let Some(rate) = self.rate {
            command.args(["--rate", &rate.to_string()]);
        }
        command
            .arg(format!("http://{}{}", self.addr, self.path))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cpu) = self.cpu {
            system::pin_command(&mut command, cpu);
        }
        let started = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return Outcome::NotStarted(format!("cannot start {}: {e}", self.binary.display()))
            }
        };
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let bound = self.hard_bound();
        let code = match wait_bounded(&mut child, started + bound) {
            Some(code) => code,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::Killed {
                    after: started.elapsed(),
                };
            }
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        let report = stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str(line.trim()).ok());
        Outcome::Exited {
            code,
            report,
            stderr,
        }
    }
}

/// Waits for `child` until `deadline`; its exit code (`Some(None)` if killed by a
/// signal), or `None` if it is still running at the deadline.
fn wait_bounded(child: &mut Child, deadline: Instant) -> Option<Option<i32>> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status.code()),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(_) => return Some(None),
        }
    }
}

/// Reads a pipe to its end on its own thread, so the child never blocks on it.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// `1.5s`, `500ms`: how loadgen and the server spell a duration.
pub fn flag_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}
