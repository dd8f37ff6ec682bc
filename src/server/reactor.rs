//! The reactor: one thread, one `mio::Poll` (epoll on Linux, kqueue on BSD/macOS)
//! over the listener, the signal source and every connection.
//!
//! One turn of the loop:
//!
//! 1. sleep in `poll` until an event or the nearest timer deadline;
//! 2. for each event: accept (listener), start draining (signals), or run the
//!    client whose token fired: read, route, write, then sync its interest;
//! 3. revisit clients whose budget ran out (so none can starve the others);
//! 4. fire due timers: connection timeouts, `/delay` responses, accept retries;
//! 5. close the clients marked during the turn. Removal waits until here so a slab
//!    key is never reused while events for its old owner may still be in the batch;
//!    a client never registered with the poller can have no such events, and is
//!    closed as soon as it is done (`close_soon`).
//!
//! Rule: this file moves bytes and readiness; every HTTP decision is the core's.

use std::io;
use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::accept::{warn_at_limit, Accepting, AfterFailure, Backoff, ACCEPT_RETRY};
use super::client::Client;
use super::io_util::{interrupted, would_block};
use super::signals::{Drain, Shutdown};
use super::stats_line::StatsLine;
use super::timers::{self, Due, TimerKey, TimerLoop, Timers};
use super::{App, Worker};
use crate::protocol::{Connection, DateCache, Now, Phase};
use crate::routes::{self, Reply};
use crate::stats::{Counters, Stats};

/// The listener's token. Connection tokens are slab keys, far below these.
const LISTENER: Token = Token(usize::MAX - 1);
/// The signal source's token.
const SIGNALS: Token = Token(usize::MAX - 2);
/// Events fetched per `epoll_wait`.
const EVENTS_CAPACITY: usize = 1024;
/// Size of the one read buffer all clients share (data is copied into the core).
const SCRATCH_SIZE: usize = 64 * 1024;
/// Read-route-write rounds per client per turn before it yields to the others.
const DRIVE_ROUNDS: usize = 4;

/// Runs the event loop until a shutdown signal has been handled. Worker 0 logs the
/// `--stats-interval` line; each worker takes its share of `--max-connections`.
pub fn run(
    listener: std::net::TcpListener,
    app: Arc<App>,
    shutdown: Shutdown,
    worker: Worker,
) -> io::Result<()> {
    app.stats.thread_started(); // this loop's thread, for /stats
    let mut reactor = Reactor::new(TcpListener::from_std(listener), app, shutdown, worker)?;
    reactor.run()
}

struct Reactor {
    poll: Poll,
    listener: Option<TcpListener>,
    accepting: Accepting,
    /// This worker's share of `--max-connections`.
    max_connections: usize,
    backoff: Backoff,
    shutdown: Shutdown,
    /// Set once a shutdown began: when the drain must end.
    drain: Drain,
    clients: Slab<Client>,
    next_generation: u64,
    timers: Timers,
    /// Clients whose budget ran out this turn.
    revisit: Vec<usize>,
    /// Clients to close at the end of this turn.
    closing: Vec<usize>,
    app: Arc<App>,
    /// This loop's counters: only this thread writes them.
    counters: Arc<Counters>,
    dates: DateCache,
    scratch: Vec<u8>,
    stats_line: StatsLine,
}

impl Reactor {
    fn new(
        mut listener: TcpListener,
        app: Arc<App>,
        mut shutdown: Shutdown,
        worker: Worker,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        poll.registry()
            .register(&mut shutdown.source, SIGNALS, Interest::READABLE)?;
        let mut timers = Timers::new();
        let stats_line = StatsLine::start(&app, worker, &mut timers);
        Ok(Self {
            poll,
            listener: Some(listener),
            accepting: Accepting::Yes,
            max_connections: app.config.max_connections.div_ceil(worker.count).max(1),
            backoff: Backoff::default(),
            shutdown,
            drain: Drain::default(),
            clients: Slab::with_capacity(1024),
            next_generation: 0,
            timers,
            revisit: Vec::new(),
            closing: Vec::new(),
            stats_line,
            counters: app.stats.register(),
            app,
            dates: DateCache::new(),
            scratch: vec![0; SCRATCH_SIZE],
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if interrupted(&e) {
                    continue;
                }
                return Err(e);
            }
            let fired = events.iter().count();
            log::trace!("poll: woke with {fired} events (timeout was {timeout:?})");
            Counters::bump(&self.counters.poll_wakeups);
            Counters::add(&self.counters.events, fired as u64);

            for event in events.iter() {
                // A fresh time per event: a batch of slow handlers (/spin) must not
                // leave timers and the drain deadline computed from a stale clock.
                let now = self.dates.now(Instant::now(), SystemTime::now());
                // A signal that landed during this batch shows up as a poll event
                // only next turn; its flag is already set, so start draining now.
                if self.shutdown.requested() && !self.drain.started() {
                    self.begin_shutdown(&now);
                }
                if self.drain.expired(now.instant) {
                    break;
                }
                match event.token() {
                    LISTENER => self.accept_all(&now),
                    SIGNALS => self.begin_shutdown(&now),
                    Token(key) => {
                        let Some(client) = self.clients.get_mut(key) else {
                            continue; // a stale event for a client already closed
                        };
                        // Errors and hang-ups show up as readiness: the next read or
                        // write reports them precisely.
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            client.readable = true;
                        }
                        if event.is_read_closed() || event.is_error() {
                            client.peer_closed_hint = true;
                        }
                        if event.is_writable() || event.is_write_closed() || event.is_error() {
                            client.writable = true;
                        }
                        self.drive(key, &now);
                    }
                }
            }
            let now = self.dates.now(Instant::now(), SystemTime::now());
            for key in mem::take(&mut self.revisit) {
                self.drive(key, &now);
            }
            let now = self.dates.now(Instant::now(), SystemTime::now());
            timers::fire_due(self, &now);
            self.close_marked();

            if self.drain.over(self.clients.len()) {
                return Ok(());
            }
        }
    }

    /// Zero when some client still has budgeted work, else until the nearest timer.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.revisit.is_empty() {
            return Some(Duration::ZERO);
        }
        self.drain
            .sooner(self.timers.next_deadline())
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Accepts every queued connection (edge-triggered: one event may stand for many).
    fn accept_all(&mut self, now: &Now) {
        while self.accepting == Accepting::Yes {
            // Each new client is driven at once, which may run a slow handler: let
            // a shutdown signal that arrived meanwhile stop the accepting.
            if self.shutdown.requested() {
                return;
            }
            if self.clients.len() >= self.max_connections {
                warn_at_limit(self.max_connections);
                self.pause_accepting(Accepting::PausedAtLimit);
                return;
            }
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    self.backoff.accepted();
                    self.add_client(stream, peer, now);
                }
                Err(e) if would_block(&e) => return,
                Err(e) => {
                    if self.backoff.failed(&e) == AfterFailure::Pause {
                        self.pause_accepting(Accepting::PausedNoDescriptors);
                        self.timers
                            .schedule(now.instant + ACCEPT_RETRY, Due::AcceptRetry);
                        return;
                    }
                }
            }
        }
    }

    fn add_client(&mut self, stream: TcpStream, peer: std::net::SocketAddr, now: &Now) {
        // Responses are written whole; Nagle would only delay the last segment.
        // Linux copies TCP_NODELAY from the listener (see `bind_all`): one
        // setsockopt per connection saved.
        #[cfg(not(target_os = "linux"))]
        let _ = stream.set_nodelay(true);
        let entry = self.clients.vacant_entry();
        let key = entry.key();
        self.next_generation += 1;
        let conn = self
            .app
            .new_connection(&self.counters, peer, key, now.instant);
        entry.insert(Client::new(key, stream, conn, self.next_generation));
        Stats::bump(&self.app.stats.connections_accepted);
        log::debug!("conn {key}: accepted {peer}");
        if self.drain.started() {
            if let Some(client) = self.clients.get_mut(key) {
                client.conn.handle_shutdown(now);
            }
        }
        // The request is often here already: read it now, and register with the
        // poller only if the connection has to wait (`drive` does), so a
        // `Connection: close` exchange answered at once costs no epoll_ctl.
        self.drive(key, now);
    }

    fn pause_accepting(&mut self, why: Accepting) {
        if let Some(listener) = &mut self.listener {
            let _ = self.poll.registry().deregister(listener);
        }
        self.accepting = why;
    }

    fn resume_accepting(&mut self, now: &Now) {
        if let Some(listener) = &mut self.listener {
            if self
                .poll
                .registry()
                .register(listener, LISTENER, Interest::READABLE)
                .is_ok()
            {
                log::debug!("resuming accept");
                self.accepting = Accepting::Yes;
                // Clients queued while we were paused raised no new edge.
                self.accept_all(now);
            }
        }
    }

    /// First signal: stop accepting, ask every connection to finish, set the
    /// drain deadline. (A second signal never gets here: its handler exits.)
    fn begin_shutdown(&mut self, now: &Now) {
        self.shutdown.drain_pending();
        if !self.shutdown.requested()
            || !self.drain.begin(now.instant, self.app.config.drain_timeout)
        {
            return;
        }
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.accepting = Accepting::Stopped;
        log::info!(
            "shutting down: {} connections to finish (at most {:?})",
            self.clients.len(),
            self.app.config.drain_timeout
        );
        let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
        for key in keys {
            // Requests that already reached the socket count as in flight: read
            // (and answer) them first, unless the drain time is already used up.
            let now = self.dates.now(Instant::now(), SystemTime::now());
            if !self.drain.expired(now.instant) {
                if let Some(client) = self.clients.get_mut(key) {
                    client.readable = true; // a spurious read only meets WouldBlock
                }
                self.drive(key, &now);
            }
            if let Some(client) = self.clients.get_mut(key) {
                client.conn.handle_shutdown(&now);
            }
            self.drive(key, &now);
        }
    }

    /// Runs one client as far as it can go this turn: read, route, write, repeat
    /// while progress is possible and the budget lasts; then sync interest and timer.
    fn drive(&mut self, key: usize, now: &Now) {
        let app = Arc::clone(&self.app);
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        let result: io::Result<()> = (|| {
            for _round in 0..DRIVE_ROUNDS {
                if client.readable && client.conn.wants_read() {
                    client.read_burst(&mut self.scratch, now, &self.counters)?;
                }
                let ctx = app.ctx(now.instant);
                while let Some((seq, reply)) = client.conn.next_request(|r| routes::route(r, &ctx))
                {
                    match reply {
                        Reply::Now(response) => client.conn.respond(seq, response, now),
                        Reply::After(wait, response) => {
                            self.timers.schedule(
                                now.instant + wait,
                                Due::Deferred {
                                    key,
                                    generation: client.generation,
                                    seq,
                                    response: Box::new(response),
                                },
                            );
                        }
                    }
                }
                if client.writable && client.conn.wants_write() && !client.write_shut {
                    client.write_burst(now, &self.counters)?;
                }
                // Writing may have let the connection parse more requests, or want
                // input again: go round while there is something to do.
                if !(client.conn.has_request() || client.readable && client.conn.wants_read()) {
                    break;
                }
            }
            Ok(())
        })();

        if let Err(e) = result {
            log::debug!("conn {key}: {e}; closing");
            self.close_soon(key);
            return;
        }
        match client.conn.phase() {
            Phase::Closed => {
                self.close_soon(key);
                return;
            }
            Phase::Linger => client.shut_write(),
            Phase::Open => {}
        }
        let wanted = client.wanted_interest();
        if client.registered != Some(wanted) {
            log::trace!(
                "conn {key}: interest {:?} -> {:?}",
                client.registered,
                wanted
            );
            // Registering reports readiness that is already there, so nothing that
            // arrived since the last read is missed.
            let registry = self.poll.registry();
            let result = match client.registered {
                None => registry.register(&mut client.stream, Token(key), wanted),
                Some(_) => registry.reregister(&mut client.stream, Token(key), wanted),
            };
            if let Err(e) = result {
                log::debug!("conn {key}: register: {e}; closing");
                self.closing.push(key);
                return;
            }
            client.registered = Some(wanted);
        }
        // One timer entry per connection (see `Timers::keep_entry`).
        self.timers.keep_entry(
            &mut client.scheduled,
            client.conn.deadline(),
            key,
            client.generation,
        );
        // The socket is known to be ready and the connection wants it, but this
        // turn's budget is spent (or backpressure lifted after the last read). No new
        // edge will come for readiness we already saw, so come back before sleeping.
        // Each visit reads or writes something or hits WouldBlock, so this ends.
        let more_input = client.readable && client.conn.wants_read();
        let more_output = client.writable && client.conn.wants_write() && !client.write_shut;
        if more_input || more_output || client.conn.has_request() {
            self.revisit.push(key);
        }
    }

    /// Closes client `key` now if no event for it can be waiting in this turn's batch
    /// (it was never registered with the poller: answered on its first visit), else at
    /// the end of the turn. Closing at once sends the FIN right after the response
    /// (with it, after [`write_last_output`](super::io_util::write_last_output)),
    /// not after the rest of the batch.
    fn close_soon(&mut self, key: usize) {
        match self.clients.get(key) {
            Some(client) if client.registered.is_none() => self.remove_client(key),
            Some(_) => self.closing.push(key),
            None => {}
        }
    }

    fn remove_client(&mut self, key: usize) {
        // Dropping the stream closes it, which also removes it from the epoll set (we
        // never dup descriptors): no separate epoll_ctl call needed.
        let client = self.clients.remove(key);
        if let Some(timer) = client.scheduled {
            self.timers.cancel(timer);
        }
        Stats::bump(&self.app.stats.connections_closed);
        if let Some(peer) = client.conn.peer() {
            log::debug!("conn {key}: closed {peer}");
        }
    }

    fn close_marked(&mut self) {
        let mut closing = mem::take(&mut self.closing);
        closing.sort_unstable();
        closing.dedup();
        for key in closing.drain(..) {
            if self.clients.contains(key) {
                self.remove_client(key);
            }
        }
        self.closing = closing;
        // Clients closed at once (`close_soon`) may have made room too.
        if self.accepting.paused() && self.clients.len() < self.max_connections {
            let now = self.dates.now(Instant::now(), SystemTime::now());
            self.resume_accepting(&now);
        }
    }
}

impl TimerLoop for Reactor {
    fn timers(&mut self) -> &mut Timers {
        &mut self.timers
    }

    fn live_connection(
        &mut self,
        key: usize,
        generation: u64,
    ) -> Option<(&mut Connection, &mut Option<TimerKey>)> {
        let client = self
            .clients
            .get_mut(key)
            .filter(|c| c.generation == generation)?;
        Some((&mut client.conn, &mut client.scheduled))
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
