//! The uring model: one thread, one io_uring. The kernel does the reads and writes;
//! the loop submits operations and reads their completions.
//!
//! One turn of the loop:
//!
//! 1. submit everything queued since the last turn and wait for a completion or the
//!    nearest timer deadline: one `io_uring_enter`;
//! 2. for each completion: admit a connection (multishot accept), feed received
//!    bytes to its core and give the buffer back (multishot receive into the
//!    provided-buffer ring), or tell the core how much was sent; then route what the
//!    core parsed and queue the next send;
//! 3. fire due timers: connection timeouts, `/delay` responses, accept retries;
//! 4. close the connections marked during the turn, once the kernel holds none of
//!    their operations (their buffers live until then).
//!
//! Where it differs from the reactor, and why, is in `docs/uring.md`. In short: no
//! readiness, so no budgets or revisits (each completion is one buffer's worth of
//! work); output is copied into a buffer the kernel may hold (the core's own buffer
//! may move while a send is in flight); closing waits for the last completion.
//!
//! Rule: this file moves bytes and completions; every HTTP decision is the core's,
//! and every `unsafe` is in `ops.rs` and `buffers.rs`. It is past 600 lines because
//! a turn, accepting, the drain and the closing of connections read best together:
//! each depends on the others' state (what the kernel still holds).

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use slab::Slab;

mod buffers;
mod conn;
mod ops;
mod unavailable;

use buffers::SendBuf;
use conn::{give_to_pool, Conn};
pub use ops::{probe, Unavailable};

/// The receive buffers all connections share (one provided-buffer ring): a fixed cost
/// that becomes resident as receives take its buffers, whatever the connection count.
pub const RECEIVE_RING_BYTES: usize = ops::RECV_BUFFERS as usize * ops::RECV_BUFFER_SIZE;
use ops::{Completion, Kind, Ring, Tag};

use super::accept::{warn_at_limit, Accepting, AfterFailure, Backoff, ACCEPT_RETRY};
use super::signals::{Drain, Shutdown, SignalPipe};
use super::stats_line::StatsLine;
use super::timers::{self, Due, TimerKey, TimerLoop, Timers};
use super::{App, Worker};
use crate::protocol::connection::ACCESS_LOG;
use crate::protocol::{Connection, DateCache, Now, Phase};
use crate::routes::{self, Reply};
use crate::stats::{Counters, Stats};

/// Submission slots of the loop's ring.
const RING_ENTRIES: u32 = 1024;
/// At the drain deadline: how long to wait for the kernel to give back what it
/// holds before exiting anyway (leaking, never freeing, what it still holds).
const GIVE_BACK_WAIT: Duration = Duration::from_secs(1);

/// Runs the loop until a shutdown signal has been handled and the drain is over.
pub fn run(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: Shutdown,
    worker: Worker,
) -> io::Result<()> {
    app.stats.thread_started(); // this loop's thread, for /stats
    let ring = Ring::new(RING_ENTRIES).map_err(|why| io::Error::other(why.to_string()))?;
    let mut looper = Loop::new(ring, listener, app, shutdown, worker)?;
    let result = looper.run();
    looper.exit();
    result
}

struct Loop {
    ring: Ring,
    listener: Option<TcpListener>,
    accepting: Accepting,
    /// The multishot accept is in the kernel (its last completion has not come).
    accept_armed: bool,
    /// Accepted while at the limit, waiting (as they would in the backlog).
    parked: VecDeque<OwnedFd>,
    /// This worker's share of `--max-connections`.
    max_connections: usize,
    backoff: Backoff,
    shutdown: Shutdown,
    signals: SignalPipe,
    /// The drain began this turn: after the completions, take in what reached the
    /// sockets and ask every connection to finish.
    shutdown_pending: bool,
    drain: Drain,
    conns: Slab<Conn>,
    next_generation: u64,
    timers: Timers,
    /// Connections to close once the kernel holds none of their operations.
    closing: Vec<usize>,
    /// Send buffers for reuse.
    pool: Vec<SendBuf>,
    /// Peer addresses are only for logs: asked of the kernel only when logged.
    want_peer: bool,
    app: Arc<App>,
    /// This loop's counters: only this thread writes them.
    counters: Arc<Counters>,
    dates: DateCache,
    stats_line: StatsLine,
}

impl Loop {
    fn new(
        ring: Ring,
        listener: TcpListener,
        app: Arc<App>,
        shutdown: Shutdown,
        worker: Worker,
    ) -> io::Result<Loop> {
        let signals = shutdown.pipe()?;
        let mut timers = Timers::new();
        let stats_line = StatsLine::start(&app, worker, &mut timers);
        let mut looper = Loop {
            ring,
            listener: Some(listener),
            accepting: Accepting::Yes,
            accept_armed: false,
            parked: VecDeque::new(),
            max_connections: app.config.max_connections.div_ceil(worker.count).max(1),
            backoff: Backoff::default(),
            shutdown,
            signals,
            shutdown_pending: false,
            drain: Drain::default(),
            conns: Slab::with_capacity(1024),
            next_generation: 0,
            timers,
            closing: Vec::new(),
            pool: Vec::new(),
            want_peer: log::log_enabled!(target: ACCESS_LOG, log::Level::Info)
                || log::log_enabled!(log::Level::Debug),
            stats_line,
            counters: app.stats.register(),
            app,
            dates: DateCache::new(),
        };
        for (index, fd) in looper.signals.fds().into_iter().enumerate() {
            looper
                .ring
                .poll_readable(fd, Tag::new(Kind::Signal, index, 0))?;
        }
        looper.arm_accept()?;
        Ok(looper)
    }

    fn run(&mut self) -> io::Result<()> {
        loop {
            self.turn(self.wait_timeout())?;
            let now = self.now();
            timers::fire_due(self, &now);
            if mem::take(&mut self.shutdown_pending) {
                self.finish_connections()?;
            }
            self.close_marked();

            if self.drain.over(self.conns.len()) {
                return Ok(());
            }
        }
    }

    fn now(&mut self) -> Now {
        self.dates.now(Instant::now(), SystemTime::now())
    }

    /// Until the nearest timer or the drain deadline; `None` waits for completions.
    fn wait_timeout(&self) -> Option<Duration> {
        self.drain
            .sooner(self.timers.next_deadline())
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Submits, waits, and handles every completion that came.
    fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let done = self.ring.wait(timeout)?;
        log::trace!(
            "ring: woke with {} completions (timeout was {timeout:?})",
            done.len()
        );
        Counters::bump(&self.counters.poll_wakeups);
        Counters::add(&self.counters.events, done.len() as u64);
        for cqe in &done {
            // A fresh time per completion: a batch of slow handlers (/spin) must not
            // leave timers and the drain deadline computed from a stale clock.
            let now = self.now();
            // A signal that landed during this batch completes its poll only next
            // turn; its flag is already set, so start draining now.
            if self.shutdown.requested() && !self.drain.started() {
                self.begin_shutdown(&now);
            }
            if self.drain.expired(now.instant) {
                self.give_up();
            }
            self.complete(cqe, &now);
        }
        self.ring.recycle(done);
        // The buffers given back this turn are the kernel's again from here.
        self.ring.bufs.publish();
        Ok(())
    }

    fn complete(&mut self, cqe: &Completion, now: &Now) {
        let Some(tag) = Tag::decode(cqe.user_data) else {
            log::warn!("completion with unknown user_data {:#x}", cqe.user_data);
            return;
        };
        match tag.kind {
            Kind::Accept => self.on_accept(cqe, now),
            Kind::Signal => {
                self.signals.drain();
                if self.shutdown.requested() {
                    self.begin_shutdown(now);
                }
                if !cqe.more() {
                    let fd = self.signals.fds()[tag.key as usize];
                    if let Err(e) = self.ring.poll_readable(fd, tag) {
                        log::error!("re-arming the signal poll: {e}");
                    }
                }
            }
            Kind::Recv | Kind::Send | Kind::FileRead => self.on_conn_completion(tag, cqe, now),
            Kind::Cancel | Kind::Close => {
                if cqe.result < 0 && cqe.result != -libc::ENOENT && cqe.result != -libc::EALREADY {
                    log::trace!(
                        "{:?}: {}",
                        tag.kind,
                        io::Error::from_raw_os_error(-cqe.result)
                    );
                }
            }
        }
    }

    fn on_conn_completion(&mut self, tag: Tag, cqe: &Completion, now: &Now) {
        let key = tag.key as usize;
        let Some(conn) = live(&mut self.conns, tag) else {
            // Keys are freed only after their last completion, so this is a bug; the
            // buffer it carries still goes back to the kernel.
            debug_assert!(false, "stale completion {tag:?}");
            log::error!("stale completion {tag:?}; ignored");
            if let Some(bid) = cqe.buffer() {
                self.ring.bufs.received(bid, 0);
                self.ring.bufs.give_back(bid);
            }
            return;
        };
        let result = match tag.kind {
            Kind::Recv => conn.on_recv(key, cqe, &mut self.ring.bufs, now, &self.counters),
            _ => conn.on_output(key, tag, cqe, &mut self.ring, now, &self.counters),
        };
        if let Err(e) = result {
            log::debug!("conn {key}: {e}; closing");
            self.mark_closing(key);
        }
        self.drive(key, now);
    }

    fn arm_accept(&mut self) -> io::Result<()> {
        if let Some(listener) = &self.listener {
            if !self.accept_armed {
                self.ring.accept(listener.as_raw_fd())?;
                self.accept_armed = true;
            }
        }
        Ok(())
    }

    fn on_accept(&mut self, cqe: &Completion, now: &Now) {
        if !cqe.more() {
            self.accept_armed = false;
        }
        match cqe.bytes() {
            Ok(_) => {
                let fd = ops::accepted(cqe);
                self.backoff.accepted();
                if self.accepting == Accepting::Stopped {
                    drop(fd); // raced the shutdown: as if still in the backlog
                } else if self.conns.len() >= self.max_connections {
                    self.parked.push_back(fd);
                    self.pause_accepting(Accepting::PausedAtLimit);
                } else {
                    self.admit(fd, now);
                    if self.conns.len() >= self.max_connections {
                        self.pause_accepting(Accepting::PausedAtLimit);
                    }
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {}
            Err(e) => {
                if self.backoff.failed(&e) == AfterFailure::Pause {
                    self.pause_accepting(Accepting::PausedNoDescriptors);
                    self.timers
                        .schedule(now.instant + ACCEPT_RETRY, Due::AcceptRetry);
                }
            }
        }
        if self.accepting == Accepting::Yes {
            if let Err(e) = self.arm_accept() {
                log::error!("re-arming accept: {e}");
            }
        }
    }

    fn pause_accepting(&mut self, why: Accepting) {
        if self.accepting == Accepting::Yes {
            if why == Accepting::PausedAtLimit {
                warn_at_limit(self.max_connections);
            }
            if self.accept_armed {
                if let Err(e) = self.ring.cancel(Tag::fixed(Kind::Accept)) {
                    log::error!("cancelling accept: {e}");
                }
            }
        }
        self.accepting = why;
    }

    fn resume_accepting(&mut self, now: &Now) {
        while self.conns.len() < self.max_connections {
            let Some(fd) = self.parked.pop_front() else {
                break;
            };
            self.admit(fd, now);
        }
        if self.conns.len() < self.max_connections {
            log::debug!("resuming accept");
            self.accepting = Accepting::Yes;
            if let Err(e) = self.arm_accept() {
                log::error!("re-arming accept: {e}");
            }
        }
    }

    fn admit(&mut self, fd: OwnedFd, now: &Now) {
        let peer = if self.want_peer {
            socket2::SockRef::from(&fd)
                .peer_addr()
                .ok()
                .and_then(|a| a.as_socket())
        } else {
            None
        };
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        self.next_generation += 1;
        let mut conn = Connection::new(
            self.app.settings(),
            Arc::clone(&self.counters),
            peer,
            key,
            now.instant,
        );
        if self.drain.started() {
            conn.handle_shutdown(now);
        }
        entry.insert(Conn::new(fd, conn, self.next_generation));
        Stats::bump(&self.app.stats.connections_accepted);
        if let Some(peer) = peer {
            log::debug!("conn {key}: accepted {peer}");
        }
        self.drive(key, now);
    }

    /// First signal: stop accepting and set the drain deadline; after this turn's
    /// completions, [`Loop::finish_connections`]. (A second signal never gets here:
    /// its handler exits.)
    fn begin_shutdown(&mut self, now: &Now) {
        if !self.drain.begin(now.instant, self.app.config.drain_timeout) {
            return;
        }
        self.pause_accepting(Accepting::Stopped);
        self.listener = None;
        self.parked.clear();
        self.shutdown_pending = true;
        log::info!(
            "shutting down: {} connections to finish (at most {:?})",
            self.conns.len(),
            self.app.config.drain_timeout
        );
    }

    /// Requests that already reached a socket count as in flight: one turn that does
    /// not wait takes in what the kernel has received for us; then every connection
    /// is asked to finish what it has and close.
    fn finish_connections(&mut self) -> io::Result<()> {
        self.turn(Some(Duration::ZERO))?;
        let now = self.now();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(c) = self.conns.get_mut(key).filter(|c| !c.closing) {
                c.conn.handle_shutdown(&now);
            }
            self.drive(key, &now);
        }
        Ok(())
    }

    /// Routes what the connection parsed, then syncs its operations and its timer.
    fn drive(&mut self, key: usize, now: &Now) {
        let app = Arc::clone(&self.app);
        let Some(c) = self.conns.get_mut(key).filter(|c| !c.closing) else {
            return;
        };
        let ctx = app.ctx(now.instant);
        while let Some((seq, reply)) = c.conn.next_request(|r| routes::route(r, &ctx)) {
            match reply {
                Reply::Now(response) => c.conn.respond(seq, response, now),
                Reply::After(wait, response) => {
                    self.timers.schedule(
                        now.instant + wait,
                        Due::Deferred {
                            key,
                            generation: c.generation,
                            seq,
                            response: Box::new(response),
                        },
                    );
                }
            }
        }
        match c.conn.phase() {
            Phase::Closed => {
                self.mark_closing(key);
                return;
            }
            Phase::Linger => c.shut_write(),
            Phase::Open => {}
        }
        if let Err(e) = c.sync(key, &mut self.ring, &mut self.pool) {
            log::debug!("conn {key}: submit: {e}; closing");
            self.mark_closing(key);
            return;
        }
        // One timer entry per connection (see `Timers::keep_entry`).
        self.timers
            .keep_entry(&mut c.scheduled, c.conn.deadline(), key, c.generation);
    }

    /// The drain deadline passed: every connection closes, and the completions
    /// still to come only give their buffers back.
    fn give_up(&mut self) {
        if self.conns.iter().all(|(_, c)| c.closing) {
            return;
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.mark_closing(key);
        }
    }

    fn mark_closing(&mut self, key: usize) {
        if let Some(c) = self.conns.get_mut(key) {
            if !c.closing {
                c.closing = true;
                self.closing.push(key);
            }
        }
    }

    /// Frees the connections marked closing whose operations have all completed;
    /// cancels the operations of the others, which are freed on a later turn.
    fn close_marked(&mut self) {
        if self.closing.is_empty() {
            return;
        }
        let mut closing = mem::take(&mut self.closing);
        let mut freed = false;
        closing.retain(|&key| {
            let Some(c) = self.conns.get_mut(key) else {
                return false;
            };
            if c.in_flight() > 0 {
                if !c.cancelled {
                    c.cancelled = true;
                    if let Err(e) = c.cancel_in_flight(key, &mut self.ring) {
                        log::error!("conn {key}: cancel: {e}");
                    }
                }
                return true;
            }
            let c = self.conns.remove(key);
            if let Some(timer) = c.scheduled {
                self.timers.cancel(timer);
            }
            if let Some(buf) = c.buf {
                give_to_pool(&mut self.pool, buf);
            }
            // Closed in the ring, at the next submit: no close(2) of our own.
            let fd = c.fd.into_raw_fd();
            if let Err(e) = self.ring.close(fd) {
                log::debug!("conn {key}: close in the ring: {e}; closing directly");
                drop(ops::own(fd));
            }
            Stats::bump(&self.app.stats.connections_closed);
            if let Some(peer) = c.conn.peer() {
                log::debug!("conn {key}: closed {peer}");
            }
            freed = true;
            false
        });
        self.closing = closing;
        if freed && self.accepting.paused() && self.conns.len() < self.max_connections {
            let now = self.now();
            self.resume_accepting(&now);
        }
    }

    /// Leaves the loop with nothing of ours in the kernel's hands: closes what is
    /// left, waits (a bounded time) for the last completions, submits the closes.
    /// Whatever the kernel still holds after that is leaked, never freed.
    fn exit(&mut self) {
        self.give_up();
        let deadline = Instant::now() + GIVE_BACK_WAIT;
        loop {
            self.close_marked();
            if self.conns.is_empty() || Instant::now() >= deadline {
                break;
            }
            if let Err(e) = self.turn(Some(Duration::from_millis(50))) {
                log::error!("waiting for the last completions: {e}");
                break;
            }
        }
        if let Err(e) = self.ring.cancel_all().and_then(|()| self.ring.flush()) {
            log::debug!("final submit: {e}");
        }
        debug_assert_eq!(self.ring.bufs.held(), 0, "receive buffers not given back");
        if !self.conns.is_empty() {
            log::error!(
                "{} connections still had operations in the kernel at exit; leaking their buffers",
                self.conns.len()
            );
            mem::forget(mem::take(&mut self.conns));
        } else {
            debug_assert_eq!(self.ring.lent(), 0, "send buffers still lent at exit");
        }
    }
}

impl TimerLoop for Loop {
    fn timers(&mut self) -> &mut Timers {
        &mut self.timers
    }

    fn live_connection(
        &mut self,
        key: usize,
        generation: u64,
    ) -> Option<(&mut Connection, &mut Option<TimerKey>)> {
        let c = self
            .conns
            .get_mut(key)
            .filter(|c| c.generation == generation && !c.closing)?;
        Some((&mut c.conn, &mut c.scheduled))
    }

    fn drive_connection(&mut self, key: usize, now: &Now) {
        self.drive(key, now);
    }

    fn retry_accept(&mut self, now: &Now) {
        if self.accepting == Accepting::PausedNoDescriptors {
            self.resume_accepting(now);
        }
    }

    fn log_stats_line(&mut self, now: &Now) {
        self.stats_line
            .fire(&self.app, now.instant, &mut self.timers);
    }
}

/// The connection a completion is for, if it is still the one the operation was
/// submitted for (not a later connection that got the same key).
fn live<T: Generation>(slab: &mut Slab<T>, tag: Tag) -> Option<&mut T> {
    slab.get_mut(tag.key as usize)
        .filter(|c| tag.is_for(c.generation()))
}

/// Things that carry a generation, so [`live`] can be tested without sockets.
trait Generation {
    fn generation(&self) -> u64;
}

impl Generation for Conn {
    fn generation(&self) -> u64 {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Entry(u64);
    impl Generation for Entry {
        fn generation(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn a_completion_for_a_reused_key_finds_no_connection() {
        let mut slab = Slab::new();
        let key = slab.insert(Entry(1));
        let old = Tag::new(Kind::Recv, key, 1);
        assert!(live(&mut slab, old).is_some());
        slab.remove(key);
        assert!(live(&mut slab, old).is_none(), "the key is free");
        assert_eq!(slab.insert(Entry(2)), key, "the slab reuses the key");
        assert!(live(&mut slab, old).is_none(), "generation 1 is gone");
        assert!(live(&mut slab, Tag::new(Kind::Send, key, 2)).is_some());
    }
}
