//! SIGINT and SIGTERM for every model: the first asks for a graceful shutdown, the
//! second exits at once.
//!
//! Rule: the only place that touches signal handlers. The reactor registers
//! [`Shutdown::source`] with its `Poll` so a signal wakes the loop; the blocking models
//! poll it the same way while accepting, and their connection threads read
//! [`Shutdown::requested`] between reads. The uring loop, which has no `Poll`, watches
//! a [`SignalPipe`] instead: a plain descriptor that turns readable on a signal.
//!
//! What follows the first signal is here too: the drain, which gives connections
//! until `--drain-timeout` to finish ([`Drain`] for the event loops,
//! [`wait_for_threads`] for the models whose threads serve connections).

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::SigId;
use signal_hook_mio::v1_0::Signals;

/// The shutdown request, as a flag and as a mio event source.
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    /// Readable when a signal arrived; register it with a `Poll`.
    pub source: Signals,
}

impl Shutdown {
    /// Installs the handlers. A second signal while the flag is already set ends the
    /// process with status 128 + signal number, like a shell would report.
    pub fn install() -> io::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // Registered first so it sees the flag as it was *before* this signal.
            signal_hook::flag::register_conditional_shutdown(
                signal,
                128 + signal,
                Arc::clone(&flag),
            )?;
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        let source = Signals::new([SIGINT, SIGTERM])?;
        Ok(Self { flag, source })
    }

    /// Another handle on the same request, with its own event source, for another
    /// thread's `Poll` (each reactor worker registers one).
    pub fn another(&self) -> io::Result<Self> {
        Ok(Self {
            flag: Arc::clone(&self.flag),
            source: Signals::new([SIGINT, SIGTERM])?,
        })
    }

    /// A shutdown was requested.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// A handle connection threads can read.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    /// Consumes pending signal notifications (the flag stays set).
    pub fn drain_pending(&mut self) {
        for signal in self.source.pending() {
            log_received(signal);
        }
    }

    /// A descriptor that becomes readable when SIGINT or SIGTERM arrives, for a loop
    /// that waits on something other than a mio `Poll`.
    pub fn pipe(&self) -> io::Result<SignalPipe> {
        SignalPipe::new()
    }
}

fn log_received(signal: i32) {
    log::info!("received signal {signal}: finishing in-flight responses, then exiting");
}

/// One non-blocking socket pair per signal: the handler writes a byte, the loop
/// watches the read ends. One pair each, so the log can name the signal.
pub struct SignalPipe {
    ends: [(i32, UnixStream, SigId); 2],
}

impl SignalPipe {
    fn new() -> io::Result<Self> {
        let pair = |signal: i32| -> io::Result<(i32, UnixStream, SigId)> {
            let (read, write) = UnixStream::pair()?;
            read.set_nonblocking(true)?;
            let id = signal_hook::low_level::pipe::register(signal, write)?;
            Ok((signal, read, id))
        };
        Ok(Self {
            ends: [pair(SIGINT)?, pair(SIGTERM)?],
        })
    }

    /// The read ends: each turns readable when its signal arrived.
    pub fn fds(&self) -> [RawFd; 2] {
        [self.ends[0].1.as_raw_fd(), self.ends[1].1.as_raw_fd()]
    }

    /// Reads what the handlers wrote and logs each signal once.
    pub fn drain(&mut self) {
        let mut bytes = [0u8; 16];
        for (signal, read, _) in &mut self.ends {
            let mut got = false;
            while matches!(read.read(&mut bytes), Ok(n) if n > 0) {
                got = true;
            }
            if got {
                log_received(*signal);
            }
        }
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        for (_, _, id) in &self.ends {
            signal_hook::low_level::unregister(*id);
        }
    }
}

/// An event loop's drain: not started, or started with a deadline.
#[derive(Clone, Copy, Debug, Default)]
pub struct Drain {
    deadline: Option<Instant>,
}

impl Drain {
    /// Starts the drain at `now`, to end by `now + timeout`; false if it had begun.
    pub fn begin(&mut self, now: Instant, timeout: Duration) -> bool {
        if self.deadline.is_some() {
            return false;
        }
        self.deadline = Some(now + timeout);
        true
    }

    /// A shutdown is under way.
    pub fn started(&self) -> bool {
        self.deadline.is_some()
    }

    /// A shutdown is under way and its deadline has passed.
    pub fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline)
    }

    /// The sooner of `next` and the drain deadline: the loop sleeps at most until then.
    pub fn sooner(&self, next: Option<Instant>) -> Option<Instant> {
        match (next, self.deadline) {
            (Some(next), Some(drain)) => Some(next.min(drain)),
            (next, drain) => next.or(drain),
        }
    }

    /// At the end of a turn, with `open` connections left: whether the loop is done
    /// (all finished, or out of time), logged either way.
    pub fn over(&self, open: usize) -> bool {
        if !self.started() {
            return false;
        }
        if open == 0 {
            log::info!("all connections finished; exiting");
            return true;
        }
        if self.expired(Instant::now()) {
            log::warn!("drain deadline passed; closing {open} connections");
            return true;
        }
        false
    }
}

/// Waits until `busy()` (threads still serving) is zero, looking every 10 ms;
/// `Err` with the count still busy if `deadline` came first.
pub fn wait_for_threads(deadline: Instant, busy: impl Fn() -> usize) -> Result<(), usize> {
    loop {
        match busy() {
            0 => return Ok(()),
            left if Instant::now() >= deadline => return Err(left),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_starts_once_and_caps_the_sleep() {
        let t0 = Instant::now();
        let mut drain = Drain::default();
        assert!(!drain.started() && !drain.expired(t0));
        assert_eq!(drain.sooner(None), None);
        assert!(drain.begin(t0, Duration::from_secs(5)));
        assert!(
            !drain.begin(t0, Duration::from_secs(1)),
            "a second begin is ignored"
        );
        let end = t0 + Duration::from_secs(5);
        assert_eq!(drain.sooner(None), Some(end));
        assert_eq!(drain.sooner(Some(end + Duration::from_secs(1))), Some(end));
        assert_eq!(drain.sooner(Some(t0)), Some(t0));
        assert!(!drain.expired(t0) && drain.expired(end));
    }

    #[test]
    fn waiting_for_threads_ends_at_the_deadline() {
        assert_eq!(wait_for_threads(Instant::now(), || 0), Ok(()));
        assert_eq!(wait_for_threads(Instant::now(), || 3), Err(3));
    }
}
