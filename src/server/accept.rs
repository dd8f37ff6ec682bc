//! Accepting connections, with the back-off every model shares: at
//! `--max-connections` accepting pauses until a connection closes, and out of file
//! descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM) it pauses for [`ACCEPT_RETRY`],
//! warning once per episode, so an exhausted process neither spins nor floods its log.
//!
//! Rule: this decides when to accept and what an accept error means; who waits for
//! the listener is each model's own (a `Poll` in the reactor, a multishot accept in
//! uring, [`accept_until_shutdown`] for the three blocking models).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::io_util::{interrupted, out_of_resources, would_block};
use super::signals::Shutdown;
use crate::stats::{Counters, Stats};

/// How long to wait before accepting again after running out of descriptors: one
/// frees up only when a connection ends, and each try costs a wake-up.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Why an event loop's listener is not being watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepting {
    /// Watching the listener.
    Yes,
    /// At `--max-connections`: resume when a connection closes.
    PausedAtLimit,
    /// Out of file descriptors: resume when one closes or the retry timer fires.
    PausedNoDescriptors,
    /// Shutting down: the listener is closed.
    Stopped,
}

impl Accepting {
    /// Paused for a reason a closing connection may lift.
    pub fn paused(self) -> bool {
        matches!(
            self,
            Accepting::PausedAtLimit | Accepting::PausedNoDescriptors
        )
    }
}

/// What to do after an accept failed (other than with `WouldBlock`, which each
/// model reads its own way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Go on accepting: a signal interrupted the call, or that client is gone
    /// (ECONNABORTED and friends) and the next may not be.
    GoOn,
    /// Out of descriptors: pause, and try again after [`ACCEPT_RETRY`].
    Pause,
}

/// The out-of-descriptors episode: warned about once, until an accept succeeds.
#[derive(Debug, Default)]
pub struct Backoff {
    warned: bool,
}

impl Backoff {
    /// An accept succeeded: the next exhaustion is a new episode.
    pub fn accepted(&mut self) {
        self.warned = false;
    }

    /// Judges a failed accept, logging it (a warning once per episode).
    pub fn failed(&mut self, err: &io::Error) -> AfterFailure {
        if interrupted(err) {
            AfterFailure::GoOn
        } else if out_of_resources(err) {
            // Once per episode, not once per retry: a client that holds the
            // descriptors must not also flood the log.
            if !self.warned {
                self.warned = true;
                log::warn!("accept: {err}; pausing accept until a connection closes");
            }
            AfterFailure::Pause
        } else {
            log::debug!("accept: {err}");
            AfterFailure::GoOn
        }
    }
}

/// Logs that accepting pauses at `--max-connections` (`max` for this loop).
pub fn warn_at_limit(max: usize) {
    log::warn!("at --max-connections ({max}): pausing accept until a connection closes");
}

/// The accept loop of the blocking models. The listener stays non-blocking and is
/// watched by a small `mio::Poll` together with the signal source, so a signal
/// interrupts accepting at once. Each accepted socket is counted, numbered (from 1)
/// and handed to `serve_one` (which switches it to blocking); wake-ups count in
/// `counters`, the calling thread's. Returns when a shutdown was requested.
pub fn accept_until_shutdown(
    listener: std::net::TcpListener,
    stats: &Stats,
    counters: &Counters,
    shutdown: &mut Shutdown,
    mut may_accept: impl FnMut() -> bool,
    mut serve_one: impl FnMut(TcpStream, SocketAddr, usize),
) -> io::Result<()> {
    use mio::{Events, Interest, Poll, Token};
    const LISTENER: Token = Token(0);
    const SIGNALS: Token = Token(1);
    /// How often to look again when `may_accept` said no.
    const RECHECK: Duration = Duration::from_millis(10);

    let mut listener = mio::net::TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    poll.registry()
        .register(&mut shutdown.source, SIGNALS, Interest::READABLE)?;
    let mut events = Events::with_capacity(16);
    // `Some(wait)`: connections may be queued, look again after `wait` (no new edge
    // will say so).
    let mut backed_up: Option<Duration> = None;
    let mut backoff = Backoff::default();
    let mut next_id = 0usize;
    loop {
        match poll.poll(&mut events, backed_up) {
            Err(e) if interrupted(&e) => continue,
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        // The blocking models wait in two places: here, for new connections, and in
        // each connection's blocking read. Only this one is a poll, so only it counts.
        Counters::bump(&counters.poll_wakeups);
        Counters::add(&counters.events, events.iter().count() as u64);
        shutdown.drain_pending();
        if shutdown.requested() {
            return Ok(());
        }
        // Accept until the queue is empty (edge-triggered), or until told to wait.
        backed_up = None;
        loop {
            if !may_accept() {
                backed_up = Some(RECHECK);
                break;
            }
            match listener.accept() {
                Ok((stream, peer)) => {
                    backoff.accepted();
                    // mio hands out non-blocking sockets; convert to std for blocking I/O.
                    let stream = TcpStream::from(std::os::fd::OwnedFd::from(stream));
                    next_id += 1;
                    Stats::bump(&stats.connections_accepted);
                    serve_one(stream, peer, next_id);
                    if shutdown.requested() {
                        return Ok(());
                    }
                }
                Err(e) if would_block(&e) => break,
                Err(e) => {
                    if backoff.failed(&e) == AfterFailure::Pause {
                        backed_up = Some(ACCEPT_RETRY);
                        break;
                    }
                }
            }
        }
    }
}
