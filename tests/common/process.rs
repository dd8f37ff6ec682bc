//! The server as a child process, for every program that starts one: the integration
//! tests (`tests/common/server.rs`), and the experiment and the attack
//! (`examples/experiment/server.rs`, `examples/attack/target.rs`), which include this
//! file with `#[path]`. Not to be confused with `tests/harness/`, the sans-I/O
//! protocol harness, which starts no process.
//!
//! - [`spawn`]: starts a command with stdin and stdout closed and stderr piped, reads
//!   stderr to its end on a thread of its own (so the pipe never fills) and waits for
//!   the listening line. [`listening_addr`] is the one place that line is parsed.
//! - Between fork and exec: [`pin_command`] (like `taskset -c`), [`limit_nofile`]
//!   (like `prlimit --nofile`), [`die_with_parent`]. On a running child:
//!   [`set_nofile_of`].
//! - This process: [`pin_self`], [`on_cpu`], [`allowed_cpus`].
//! - /proc: [`rss_kib`], [`threads`], [`cpu_ticks`], [`cpu_time`], [`open_fds`],
//!   [`status_field`].
//!
//! Rule: std and rustix only, no `unsafe` beyond `pre_exec`; it knows the server's
//! listening line and /proc, and nothing of HTTP, of the server's flags or of what a
//! caller asserts.

// Each includer (the tests, the experiment, the attack) uses a different subset.
#![allow(dead_code)]

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustix::process::{Pid, Resource, Rlimit, Signal};
use rustix::thread::CpuSet;

/// What the server prints once it listens, before the address:
/// `... reactor listening on http://127.0.0.1:PORT/ (model M, pid P)`.
pub const LISTENING: &str = "reactor listening on http://";

/// The address in a listening line; `None` for any other line. Matched from
/// `listening on http://` so that a server other than ours (the attack's `--server`)
/// may print its own name first.
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on http://")?;
    rest.split('/').next()?.parse().ok()
}

/// A started server that printed its listening line.
pub struct Spawned {
    pub child: Child,
    pub addr: SocketAddr,
    /// The thread reading stderr: it ends when the process (and its stderr) does.
    pub reader: JoinHandle<()>,
}

/// Why [`spawn`] has no server to hand back.
pub enum StartError {
    /// The command could not be started at all.
    Spawn(io::Error),
    /// It started but printed no listening line within the limit (`Timeout`) or
    /// closed stderr first (`Disconnected`). The process has been killed and reaped.
    NotListening {
        why: RecvTimeoutError,
        /// How it had ended by then, if it had.
        status: Option<ExitStatus>,
        /// The stderr reader, to join before reading what it collected.
        reader: JoinHandle<()>,
    },
}

/// Starts `command` (a server told to listen on port 0) with stdin and stdout closed
/// and stderr piped, hands every line of stderr to `on_line` (on a thread that reads
/// to the end), and waits up to `limit` for the listening line.
pub fn spawn(
    mut command: Command,
    limit: Duration,
    mut on_line: impl FnMut(&str) + Send + 'static,
) -> Result<Spawned, StartError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(StartError::Spawn)?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let (found_tx, found_rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut found = Some(found_tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = listening_addr(&line) {
                if let Some(tx) = found.take() {
                    let _ = tx.send(addr);
                }
            }
            on_line(&line);
        }
    });
    match found_rx.recv_timeout(limit) {
        Ok(addr) => Ok(Spawned {
            child,
            addr,
            reader,
        }),
        Err(why) => {
            let status = child.try_wait().ok().flatten();
            let _ = child.kill();
            let _ = child.wait();
            Err(StartError::NotListening {
                why,
                status,
                reader,
            })
        }
    }
}

/// Makes `command` run on `cpu` only, like `taskset -c cpu`: the child sets its own
/// affinity between fork and exec.
pub fn pin_command(command: &mut Command, cpu: usize) {
    let set = cpu_set(cpu);
    // SAFETY: the closure makes one async-signal-safe system call on a set built
    // before the fork; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || Ok(rustix::thread::sched_setaffinity(None, &set)?));
    }
}

/// Makes the child start with RLIMIT_NOFILE `soft` / `hard` (like `prlimit
/// --nofile=SOFT:HARD`), set between fork and exec.
pub fn limit_nofile(command: &mut Command, soft: u64, hard: u64) {
    let limit = Rlimit {
        current: Some(soft),
        maximum: Some(hard),
    };
    // SAFETY: the closure makes one async-signal-safe system call on a value built
    // before the fork; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || Ok(rustix::process::setrlimit(Resource::Nofile, limit)?));
    }
}

/// Makes the child get SIGKILL if this process dies first (killed, say), so no
/// server outlives the program that started it.
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: one async-signal-safe system call with constant arguments.
    unsafe {
        command.pre_exec(|| {
            Ok(rustix::process::set_parent_process_death_signal(Some(
                Signal::KILL,
            ))?)
        });
    }
}

/// Sets the RLIMIT_NOFILE of the running process `pid` (prlimit(2)).
pub fn set_nofile_of(pid: i32, soft: u64, hard: u64) -> io::Result<()> {
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("pid 0"))?;
    let limit = Rlimit {
        current: Some(soft),
        maximum: Some(hard),
    };
    rustix::process::prlimit(Some(pid), Resource::Nofile, limit)?;
    Ok(())
}

fn cpu_set(cpu: usize) -> CpuSet {
    let mut set = CpuSet::new();
    set.set(cpu);
    set
}

/// Pins the calling thread to `cpu`, and so the threads and processes it starts
/// later: called before any thread starts, the whole process.
pub fn pin_self(cpu: usize) -> io::Result<()> {
    Ok(rustix::thread::sched_setaffinity(None, &cpu_set(cpu))?)
}

/// Runs `f` on the calling thread pinned to `cpu` (what it starts inherits that),
/// then gives the thread back the CPUs it had.
pub fn on_cpu<T>(cpu: usize, f: impl FnOnce() -> T) -> io::Result<T> {
    let before = rustix::thread::sched_getaffinity(None)?;
    pin_self(cpu)?;
    let result = f();
    rustix::thread::sched_setaffinity(None, &before)?;
    Ok(result)
}

/// The CPUs this thread may run on, in order; empty if the kernel does not say.
pub fn allowed_cpus() -> Vec<usize> {
    let Ok(set) = rustix::thread::sched_getaffinity(None) else {
        return Vec::new();
    };
    (0..CpuSet::MAX_CPU)
        .filter(|&cpu| set.is_set(cpu))
        .collect()
}

/// Resident memory of `pid` now (`VmRSS` of /proc/<pid>/status), in KiB.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field(&status, "VmRSS:")
}

/// Threads of `pid` now (`Threads:` of /proc/<pid>/status).
pub fn threads(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field(&status, "Threads:")
}

/// Open file descriptors of `pid` now (entries of /proc/<pid>/fd).
pub fn open_fds(pid: i32) -> Option<usize> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|dir| dir.count())
}

/// CPU time `pid` has used so far in clock ticks, user + system, all threads (fields
/// 14 and 15 of /proc/<pid>/stat, the numbers `getrusage` would give the process).
pub fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count from after it.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// [`cpu_ticks`] as a duration.
pub fn cpu_time(pid: i32) -> Option<Duration> {
    let ticks = cpu_ticks(pid)?;
    let per_second = rustix::param::clock_ticks_per_second();
    (per_second > 0).then(|| Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// The number after `name` in a /proc status file (`VmRSS:   1234 kB` → 1234).
pub fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
