//! What the machine allows and how we use it: the file-descriptor limit, CPU
//! pinning, thread limits, and the description printed above the table.
//!
//! Rule: every libc call of the experiment lives here, except `wait4`/`kill` on the
//! server (in `server.rs`); pinning is the harness's (`tests/common/process.rs`),
//! re-exported. Nothing here starts a process.

use std::fs;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::process::allowed_cpus;
pub use crate::process::{pin_command, pin_self};

/// File descriptors each process needs beyond one per client (listener, epoll,
/// pipes, std streams, the probe connection, slack).
pub const FD_MARGIN: u64 = 64;
/// Threads a thread-per-client server (threaded, a pool sized to the clients) needs
/// beyond one per client (acceptor, slack).
pub const THREAD_MARGIN: u64 = 16;

/// The machine, as printed in the header and saved in the JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub date_utc: String,
    /// Soft RLIMIT_NOFILE as inherited, and after raising it to the hard limit.
    pub rlimit_nofile_before: u64,
    pub rlimit_nofile: u64,
    pub threads_limit: Option<u64>,
    /// /proc/loadavg when the run started: other work on the machine skews the numbers.
    pub loadavg: String,
}

impl Machine {
    pub fn describe(rlimit_nofile_before: u64, rlimit_nofile: u64) -> Self {
        let cpu_model = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            kernel: kernel(),
            date_utc: utc_now(),
            rlimit_nofile_before,
            rlimit_nofile,
            threads_limit: threads_limit(),
            loadavg: fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        }
    }
}

/// `uname -srm`.
fn kernel() -> String {
    // SAFETY: utsname is plain arrays of c_char, for which all zeroes is valid.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct we own with NUL-terminated strings.
    if unsafe { libc::uname(&mut name) } != 0 {
        return "unknown".into();
    }
    let field = |chars: &[libc::c_char]| {
        let bytes: Vec<u8> = chars
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&name.sysname),
        field(&name.release),
        field(&name.machine)
    )
}

/// Raises the soft RLIMIT_NOFILE to the hard limit, in this process, so every child
/// (server and loadgen) inherits it. Returns (before, after).
pub fn raise_nofile_limit() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((before, limit.rlim_cur))
}

/// How many threads (kernel tasks) one process could have at most: the smallest of
/// kernel.threads-max, kernel.pid_max, RLIMIT_NPROC and the cgroup's pids.max.
/// `None` when none of them is set.
pub fn threads_limit() -> Option<u64> {
    let read = |path: &str| {
        fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
    };
    let mut nproc = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above.
    let rlimit_nproc = (unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut nproc) } == 0
        && nproc.rlim_cur != libc::RLIM_INFINITY
        // root is not held to RLIMIT_NPROC
        // SAFETY: geteuid takes nothing and cannot fail.
        && unsafe { libc::geteuid() } != 0)
        .then_some(nproc.rlim_cur);
    [
        read("/proc/sys/kernel/threads-max"),
        read("/proc/sys/kernel/pid_max"),
        rlimit_nproc,
        read("/sys/fs/cgroup/pids.max"),
        read("/sys/fs/cgroup/pids/pids.max"),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Where the server and the load run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Pinning {
    pub server_cpu: usize,
    pub load_cpu: usize,
}

impl Pinning {
    /// The first two CPUs this process may use, or `None` with fewer than two.
    pub fn choose() -> Option<Self> {
        let cpus = allowed_cpus();
        match cpus[..] {
            [server_cpu, load_cpu, ..] => Some(Self {
                server_cpu,
                load_cpu,
            }),
            _ => None,
        }
    }

    /// For the header.
    pub fn describe(pinning: Option<Self>, nproc: usize, asked_not_to: bool) -> String {
        match pinning {
            Some(p) => format!(
                "server on CPU {}, loadgen (and this process) on CPU {} (sched_setaffinity)",
                p.server_cpu, p.load_cpu
            ),
            None if asked_not_to => "none (--no-pin)".into(),
            None => format!("none: only {nproc} CPU available"),
        }
    }
}

/// Now as `YYYY-MM-DD HH:MM:SS UTC` (no date crate needed).
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The command line as typed, quoted where a shell would need it.
pub fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
            match plain {
                true => arg,
                false => format!("'{}'", arg.replace('\'', r"'\''")),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(19_782), (2024, 2, 29));
    }
}
