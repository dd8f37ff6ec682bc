//! One `reactor` server process: start it on an ephemeral port, watch its threads
//! and memory in /proc while the load runs, ask it for `/stats`, stop it with SIGTERM
//! and reap it with `wait4` for its resource usage. Shared by the experiment (one
//! server per cell) and `examples/attack` (one server per scenario), which include
//! this file with `#[path]`; the caller builds the command line.
//!
//! What is measured, and why this way:
//! - Threads: the `Threads:` line of /proc/<pid>/status, sampled every
//!   [`SAMPLE_EVERY`]; the maximum seen. A sample can miss a short peak, so the
//!   cell also asks the server for `/stats` `threads_peak` (its own counter) and
//!   reports the larger.
//! - Peak RSS: `VmHWM` of /proc/<pid>/status read after the load (the kernel's own
//!   high-water mark, so no sample can miss a peak), falling back on the sampled
//!   `VmRSS` maximum and then on `ru_maxrss` from `wait4`.
//! - Context switches: `ru_nvcsw + ru_nivcsw` from `wait4(2)` when the server is
//!   reaped. /proc/<pid>/status counts the main thread only, and summing
//!   /proc/<pid>/task/*/status misses threads that already exited; the kernel folds
//!   each exiting thread's counts into the process total that `wait4` reports, so it
//!   covers every thread. Minus the switches already made when the server was ready
//!   (summed over /proc/<pid>/task/*/status then), it is the count for the load plus
//!   the (short) shutdown.
//!
//! Rule: this file owns the server's process and reads /proc; it knows no flag of the
//! server and decides nothing about what a run means (`cell.rs`, or the attack's
//! scenarios, do). Starting it, the listening line and the /proc fields are the
//! harness's (`tests/common/process.rs`, shared with the tests).

// Shared by two examples (experiment, attack); each uses a different subset.
#![allow(dead_code)]

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::process::{self, open_fds, status_field, StartError};

/// How often /proc/<pid>/status is read during the load.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// How long the server gets to print its listening line.
const START_LIMIT: Duration = Duration::from_secs(10);
/// After SIGTERM, how long before SIGKILL.
pub const STOP_LIMIT: Duration = Duration::from_secs(5);
/// The substring that marks a server's `reactor::server::threaded` spawn failure.
pub const SPAWN_FAILURE: &str = "cannot start a thread";

/// What the server wrote on stderr that matters.
#[derive(Debug, Default, Clone)]
pub struct ServerLog {
    pub warnings: u64,
    pub first_warning: Option<String>,
    pub spawn_failures: u64,
    pub last_line: Option<String>,
}

/// Running maxima from /proc/<pid>/status.
#[derive(Debug, Default, Clone, Copy)]
pub struct Samples {
    pub threads_max: Option<u64>,
    pub rss_max_kib: Option<u64>,
    pub hwm_kib: Option<u64>,
    /// Open descriptors at most (only with [`Sampler::counting_descriptors`]).
    pub fds_max: Option<u64>,
    pub count: u64,
}

impl Samples {
    /// The maxima of both.
    pub fn merge(self, other: &Samples) -> Samples {
        Samples {
            threads_max: self.threads_max.max(other.threads_max),
            rss_max_kib: self.rss_max_kib.max(other.rss_max_kib),
            hwm_kib: self.hwm_kib.max(other.hwm_kib),
            fds_max: self.fds_max.max(other.fds_max),
            count: self.count + other.count,
        }
    }
}

/// What `wait4` said when the server was reaped.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// Exit code, or `None` if killed by a signal.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub ctxt_voluntary: u64,
    pub ctxt_involuntary: u64,
    pub maxrss_kib: u64,
    /// We had to SIGKILL it after SIGTERM.
    pub killed: bool,
}

pub struct Server {
    child: Child,
    pub pid: i32,
    pub addr: SocketAddr,
    log: Arc<Mutex<ServerLog>>,
    /// Voluntary + involuntary switches of all threads when the server was ready.
    pub ctxt_at_ready: u64,
    sampler: Option<Sampler>,
    /// Set once the process has been reaped (it exited early, or by [`Server::stop`]).
    exited: Option<Exit>,
}

impl Server {
    /// Starts `command` (a server told to listen on port 0) with its stderr piped,
    /// and waits for its listening line.
    pub fn start(command: Command) -> Result<Self, String> {
        let program = command.get_program().to_string_lossy().into_owned();
        let log = Arc::new(Mutex::new(ServerLog::default()));
        let sink = Arc::clone(&log);
        let spawned = match process::spawn(command, START_LIMIT, move |line| note(&sink, line)) {
            Ok(spawned) => spawned,
            Err(StartError::Spawn(e)) => return Err(format!("cannot start {program}: {e}")),
            Err(StartError::NotListening { .. }) => {
                let last = log.lock().unwrap().last_line.clone();
                return Err(format!(
                    "server did not report a listening address within {START_LIMIT:?}{}",
                    last.map(|l| format!(": {l}")).unwrap_or_default()
                ));
            }
        };
        let (child, addr) = (spawned.child, spawned.addr);
        let pid = child.id() as i32;
        let ctxt_at_ready = task_ctxt_switches(pid);
        Ok(Self {
            child,
            pid,
            addr,
            log,
            ctxt_at_ready,
            sampler: None,
            exited: None,
        })
    }

    /// Starts reading /proc/<pid>/status every [`SAMPLE_EVERY`].
    pub fn start_sampling(&mut self) {
        self.sampler = Some(Sampler::start(self.pid));
    }

    /// Stops sampling and returns the maxima (including one last read).
    pub fn stop_sampling(&mut self) -> Samples {
        self.sampler.take().map(Sampler::finish).unwrap_or_default()
    }

    /// `None` while the server runs; how it ended if it already exited (reaped then,
    /// with its rusage kept for [`Server::stop`]).
    pub fn exited_early(&mut self) -> Option<Exit> {
        if self.exited.is_none() {
            self.exited = wait4(self.pid, libc::WNOHANG).ok().flatten();
        }
        self.exited
    }

    pub fn log(&self) -> ServerLog {
        self.log.lock().unwrap().clone()
    }

    /// `GET /stats` on a fresh connection; `None` if the server does not answer
    /// within `limit` (the iterative server may still be busy with the backlog).
    pub fn stats(&self, limit: Duration) -> Option<serde_json::Value> {
        fetch_stats(self.addr, limit)
    }

    /// SIGTERM, wait up to [`STOP_LIMIT`], SIGKILL if needed; reap with `wait4`.
    pub fn stop(self) -> io::Result<Exit> {
        self.stop_within(STOP_LIMIT)
    }

    /// SIGTERM, wait up to `limit`, SIGKILL if needed; reap with `wait4`.
    pub fn stop_within(mut self, limit: Duration) -> io::Result<Exit> {
        let _ = self.stop_sampling();
        if let Some(exit) = self.exited {
            return Ok(exit);
        }
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let deadline = Instant::now() + limit;
        let mut killed = false;
        loop {
            if let Some(exit) = wait4(self.pid, libc::WNOHANG)? {
                let exit = Exit { killed, ..exit };
                self.exited = Some(exit);
                return Ok(exit);
            }
            if Instant::now() >= deadline && !killed {
                let _ = self.child.kill();
                killed = true;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    /// A server never outlives its cell, even when the cell ends early.
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = wait4(self.pid, 0);
        }
    }
}

/// Reaps `pid` and reads its rusage; `None` if it is still running (with WNOHANG).
fn wait4(pid: i32, flags: i32) -> io::Result<Option<Exit>> {
    let mut status = 0;
    // SAFETY: rusage is a plain struct of integers, for which all zeroes is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes the status and the rusage struct we own, nothing else.
    let reaped = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
    match reaped {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        _ => Ok(Some(Exit {
            code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
            signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
            ctxt_voluntary: usage.ru_nvcsw as u64,
            ctxt_involuntary: usage.ru_nivcsw as u64,
            maxrss_kib: usage.ru_maxrss as u64,
            killed: false,
        })),
    }
}

/// Counts one line of the server's stderr (the harness reads it to its end, which
/// also keeps a chatty server from blocking on a full pipe).
fn note(log: &Mutex<ServerLog>, line: &str) {
    let mut log = log.lock().unwrap();
    let level = line
        .strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .unwrap_or("");
    if level.contains(" WARN") || level.contains(" ERROR") {
        log.warnings += 1;
        if log.first_warning.is_none() {
            log.first_warning = Some(line.to_string());
        }
        if line.contains(SPAWN_FAILURE) {
            log.spawn_failures += 1;
        }
    }
    log.last_line = Some(line.to_string());
}

/// `GET /stats` on a fresh connection to any server; `None` if it does not answer
/// with JSON within `limit`.
pub fn fetch_stats(addr: SocketAddr, limit: Duration) -> Option<serde_json::Value> {
    let mut stream = TcpStream::connect_timeout(&addr, limit).ok()?;
    stream.set_read_timeout(Some(limit)).ok()?;
    stream.set_write_timeout(Some(limit)).ok()?;
    let request = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let (_, body) = text.split_once("\r\n\r\n")?;
    serde_json::from_str(body.trim()).ok()
}

/// Reads /proc/<pid>/status every [`SAMPLE_EVERY`] on a thread of its own, keeping
/// the maxima, until [`Sampler::finish`]. Works for any process we may read.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Samples>,
}

impl Sampler {
    pub fn start(pid: i32) -> Self {
        Self::spawn(pid, false)
    }

    /// Like [`Sampler::start`], also counting the open descriptors (a directory
    /// listing of /proc/<pid>/fd each time: for a server holding thousands of
    /// connections, much more work than reading its status).
    pub fn counting_descriptors(pid: i32) -> Self {
        Self::spawn(pid, true)
    }

    fn spawn(pid: i32, fds: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut samples = Samples::default();
            let sample_all = |samples: &mut Samples| {
                sample(pid, samples);
                if fds {
                    let open = open_fds(pid).map(|n| n as u64);
                    samples.fds_max = samples.fds_max.max(open);
                }
            };
            while !flag.load(Ordering::Relaxed) {
                sample_all(&mut samples);
                thread::sleep(SAMPLE_EVERY);
            }
            sample_all(&mut samples);
            samples
        });
        Self { stop, handle }
    }

    /// Stops sampling and returns the maxima (including one last read).
    pub fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// Folds one read of /proc/<pid>/status into the running maxima.
fn sample(pid: i32, samples: &mut Samples) {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return;
    };
    samples.count += 1;
    let max = |slot: &mut Option<u64>, value: Option<u64>| {
        if let Some(v) = value {
            *slot = Some(slot.map_or(v, |old| old.max(v)));
        }
    };
    max(&mut samples.threads_max, status_field(&status, "Threads:"));
    max(&mut samples.rss_max_kib, status_field(&status, "VmRSS:"));
    max(&mut samples.hwm_kib, status_field(&status, "VmHWM:"));
}

/// Voluntary + involuntary context switches of every live thread of `pid`.
fn task_ctxt_switches(pid: i32) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("status")).ok())
        .map(|status| {
            status_field(&status, "voluntary_ctxt_switches:").unwrap_or(0)
                + status_field(&status, "nonvoluntary_ctxt_switches:").unwrap_or(0)
        })
        .sum()
}
