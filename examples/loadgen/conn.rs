//! One client connection: its socket's life cycle, the requests it has in flight, and the
//! check of every response against them.
//!
//! Rule: the connection owns its socket and buffers but no policy. *When* it may send
//! comes from the [`Schedule`]; *what* it sends from the [`RequestTemplate`]; framing from
//! the sans-I/O [`ResponseReader`]. The worker loop owns the poll and calls in with
//! `handle_event` (readiness), `handle_due` (the clock made a request due) and
//! `handle_tick` (timeouts and reconnects, on a coarse sweep).
//!
//! Accounting rule: every request sent ends as exactly one of a response, a parse error
//! (its response was malformed), a reset (the connection went away with it in flight) or a
//! timeout (its connection was given up on, or the run ended, while it was in flight).
//! Bytes that no request asked for are a parse error of their own, charged to no request.
//! After any framing error the connection is dropped (the stream can no longer be trusted)
//! and its other requests in flight count as reset.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::report::{IdVerdict, Stats};
use crate::request::RequestTemplate;
use crate::response::{FramingError, Parsed, Response, ResponseReader};
use crate::schedule::Schedule;

/// Pause before retrying a failed connect, so a refusing server is not hammered.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(20);

/// Per-run settings every connection reads.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// `--close`: one request per connection, then wait for the server to close.
    pub close_each: bool,
    pub timeout: Duration,
}

/// What a connection needs from its worker while handling one input.
pub struct Env<'a> {
    pub registry: &'a Registry,
    pub settings: &'a Settings,
    pub request: &'a RequestTemplate,
    pub schedule: &'a mut Schedule,
    pub stats: &'a mut Stats,
}

/// A request written (or queued to be written) and not yet answered.
#[derive(Debug)]
struct InFlight {
    seq: u64,
    /// When the schedule meant it to go; latency is measured from here.
    intended: Instant,
    /// When it was queued; the per-request timeout runs from here.
    sent: Instant,
}

#[derive(Debug)]
enum State {
    /// No socket. Connect once `reconnect_at` has passed (at once after a clean close).
    Waiting { reconnect_at: Instant },
    /// Non-blocking connect in progress.
    Connecting { stream: TcpStream, since: Instant },
    /// Sending requests and reading responses; `requests` counts this socket's requests.
    Open { stream: TcpStream, requests: u64 },
    /// The server will close (it said so, or `--close`): send nothing, wait for its FIN.
    Draining { stream: TcpStream, since: Instant },
}

/// How requests still in flight are counted when their connection is dropped.
#[derive(Debug, Clone, Copy)]
enum Lost {
    Reset,
    Timeout,
}

#[derive(Debug)]
pub struct Conn {
    /// Index in the worker's table; also the mio token and the schedule's connection number.
    slot: usize,
    /// `c{conn}-` or `t{thread}c{conn}-`; the sequence number follows.
    id_prefix: Vec<u8>,
    state: State,
    in_flight: VecDeque<InFlight>,
    /// Sequence numbers continue across reconnects, so every id of a run is unique.
    next_seq: u64,
    out: Vec<u8>,
    written: usize,
    /// Received bytes not yet consumed by the reader (a partial response).
    unparsed: Vec<u8>,
    reader: ResponseReader,
    /// It got at least one response during the run (on any of its sockets).
    served: bool,
}

impl Conn {
    pub fn new(slot: usize, id_prefix: Vec<u8>, pipeline: usize, now: Instant) -> Self {
        Self {
            slot,
            id_prefix,
            state: State::Waiting { reconnect_at: now },
            in_flight: VecDeque::with_capacity(pipeline),
            next_seq: 0,
            out: Vec::new(),
            written: 0,
            unparsed: Vec::new(),
            reader: ResponseReader::default(),
            served: false,
        }
    }

    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Whether this client got at least one response.
    pub fn was_served(&self) -> bool {
        self.served
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Starts a non-blocking connect.
    pub fn connect(&mut self, env: &mut Env<'_>, now: Instant) {
        let registered = TcpStream::connect(env.settings.addr).and_then(|mut stream| {
            // Both interests once, edge-triggered: no reregister calls on the hot path.
            let interest = Interest::READABLE | Interest::WRITABLE;
            env.registry
                .register(&mut stream, Token(self.slot), interest)?;
            Ok(stream)
        });
        match registered {
            Ok(stream) => self.state = State::Connecting { stream, since: now },
            Err(e) => self.connect_failed(env, now, &e),
        }
    }

    /// Readiness for this connection's socket.
    pub fn handle_event(
        &mut self,
        event: &Event,
        env: &mut Env<'_>,
        scratch: &mut [u8],
        now: Instant,
    ) {
        if let State::Connecting { stream, .. } = &mut self.state {
            match connect_outcome(stream, event) {
                Ok(false) => return,
                Ok(true) => {
                    // Nagle only delays a segment while earlier data is unacknowledged, which
                    // cannot happen to the one request of a `--close` connection: spare it
                    // the system call.
                    if !env.settings.close_each {
                        let _ = stream.set_nodelay(true);
                    }
                    let State::Connecting { stream, .. } = self.take_state(now) else {
                        unreachable!("matched Connecting above")
                    };
                    self.state = State::Open {
                        stream,
                        requests: 0,
                    };
                }
                Err(e) => {
                    self.drop_socket(now);
                    self.connect_failed(env, now, &e);
                    return;
                }
            }
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            let until = match (event.is_error(), event.is_read_closed()) {
                (true, _) => ReadUntil::Error,
                (false, true) => ReadUntil::PeerClosed,
                (false, false) => ReadUntil::ShortRead,
            };
            self.read_available(env, scratch, now, until);
        }
        self.fill_and_flush(env, now);
    }

    /// The schedule has made a request of this connection due (open loop).
    pub fn handle_due(&mut self, env: &mut Env<'_>, now: Instant) {
        self.fill_and_flush(env, now);
    }

    /// Periodic sweep: per-request timeouts, stuck connects and drains, reconnects.
    pub fn handle_tick(&mut self, env: &mut Env<'_>, now: Instant) {
        let timeout = env.settings.timeout;
        let expired = |since: Instant| now.saturating_duration_since(since) >= timeout;
        match &self.state {
            State::Waiting { reconnect_at } => {
                if now >= *reconnect_at && !env.schedule.is_over(now) {
                    self.connect(env, now);
                }
            }
            State::Connecting { since, .. } if expired(*since) => {
                let e = io::Error::new(ErrorKind::TimedOut, "connect timed out");
                self.drop_socket(now);
                self.connect_failed(env, now, &e);
            }
            State::Connecting { .. } => {}
            State::Open { .. } | State::Draining { .. } => {
                if self
                    .in_flight
                    .front()
                    .is_some_and(|oldest| expired(oldest.sent))
                {
                    env.stats
                        .record_failure(|| format!("request timed out after {timeout:?}"));
                    self.close(env, now, Lost::Timeout);
                } else if let State::Draining { since, .. } = self.state {
                    // The server promised to close but has not; stop waiting for it.
                    if expired(since) {
                        self.close(env, now, Lost::Reset);
                    }
                }
            }
        }
    }

    /// The run is over: whatever is still in flight timed out. Leaves the socket closed.
    pub fn abandon(&mut self, env: &mut Env<'_>, now: Instant) {
        env.stats.errors.timeout += self.in_flight.len() as u64;
        self.in_flight.clear();
        self.drop_socket(now);
    }

    fn read_available(
        &mut self,
        env: &mut Env<'_>,
        scratch: &mut [u8],
        now: Instant,
        until: ReadUntil,
    ) {
        loop {
            let stream = match &mut self.state {
                State::Open { stream, .. } | State::Draining { stream, .. } => stream,
                _ => return,
            };
            match stream.read(scratch) {
                Ok(0) => return self.handle_eof(env, now),
                Ok(n) => {
                    env.stats.bytes_received += n as u64;
                    if let Err(e) = self.handle_bytes(&scratch[..n], env, now) {
                        return self.fail_framing(env, now, e);
                    }
                    // A short TCP read took everything queued; anything arriving later raises
                    // a new edge. This saves the extra read() that would only say WouldBlock
                    // (wrk does the same).
                    if n < scratch.len() {
                        match until {
                            ReadUntil::ShortRead => return,
                            // The FIN was in before this read (TCP takes it in sequence, after
                            // all data), so these were the last bytes: the read() that would
                            // return 0 is spared too, one per `--close` request.
                            ReadUntil::PeerClosed => return self.handle_eof(env, now),
                            ReadUntil::Error => {}
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    env.stats.record_failure(|| format!("read: {e}"));
                    return self.close(env, now, Lost::Reset);
                }
            }
        }
    }

    /// Feeds received bytes to the reader, keeping what it could not use yet.
    fn handle_bytes(
        &mut self,
        data: &[u8],
        env: &mut Env<'_>,
        now: Instant,
    ) -> Result<(), FramingError> {
        if self.unparsed.is_empty() {
            // Common case: parse straight from the scratch buffer, copy only the tail.
            let used = self.parse_responses(data, env, now)?;
            self.unparsed.extend_from_slice(&data[used..]);
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.unparsed);
        pending.extend_from_slice(data);
        let result = self.parse_responses(&pending, env, now);
        let used = match result {
            Ok(used) => used,
            Err(_) => pending.len(),
        };
        pending.drain(..used);
        self.unparsed = pending;
        result.map(drop)
    }

    /// Reads complete responses from `buf`; returns the bytes used.
    fn parse_responses(
        &mut self,
        buf: &[u8],
        env: &mut Env<'_>,
        now: Instant,
    ) -> Result<usize, FramingError> {
        let mut pos = 0;
        while pos < buf.len() {
            if self.in_flight.is_empty() || matches!(self.state, State::Draining { .. }) {
                return Err(FramingError::UnsolicitedBytes);
            }
            match self.reader.parse(&buf[pos..], env.request.method())? {
                Parsed::Incomplete { consumed } => return Ok(pos + consumed),
                Parsed::Complete { response, consumed } => {
                    pos += consumed;
                    self.complete(response, env, now);
                }
            }
        }
        Ok(pos)
    }

    /// A response ended: match it to the oldest request and record it.
    fn complete(&mut self, response: Response, env: &mut Env<'_>, now: Instant) {
        let verdict = self.check_id(response.request_id.get());
        let Some(request) = self.in_flight.pop_front() else {
            return; // unreachable: parse_responses only reads with a request in flight
        };
        let latency = now.saturating_duration_since(request.intended);
        self.served = true;
        env.stats
            .record_response(response.status, response.body_len, latency, verdict);
        if !response.keep_alive || env.settings.close_each {
            if let State::Open { stream, .. } = self.take_state(now) {
                self.state = State::Draining { stream, since: now };
                self.out.clear();
                self.written = 0;
            }
        }
    }

    /// HTTP/1.1 answers in request order, so the echoed id must be the oldest's.
    fn check_id(&self, echoed: Option<&[u8]>) -> IdVerdict {
        let Some(echoed) = echoed else {
            return IdVerdict::NotEchoed;
        };
        let Some(seq) = echoed
            .strip_prefix(self.id_prefix.as_slice())
            .and_then(canonical_decimal)
        else {
            return IdVerdict::Mismatched;
        };
        let mut outstanding = self.in_flight.iter();
        match outstanding.next() {
            Some(oldest) if oldest.seq == seq => IdVerdict::Matches,
            Some(_) if outstanding.any(|request| request.seq == seq) => IdVerdict::OutOfOrder,
            _ => IdVerdict::Mismatched,
        }
    }

    /// The server closed its side: a close-delimited body ends here, anything else
    /// unfinished is truncated.
    fn handle_eof(&mut self, env: &mut Env<'_>, now: Instant) {
        let unparsed = std::mem::take(&mut self.unparsed);
        match self.reader.finish(&unparsed) {
            Ok(Some(response)) => self.complete(response, env, now),
            Ok(None) => {}
            Err(e) => return self.fail_framing(env, now, e),
        }
        self.close(env, now, Lost::Reset);
    }

    /// The byte stream is not valid HTTP: the response being read is a parse error, and
    /// the connection cannot be trusted any more.
    fn fail_framing(&mut self, env: &mut Env<'_>, now: Instant, error: FramingError) {
        env.stats.errors.parse += 1;
        let slot = self.slot;
        env.stats
            .record_failure(|| format!("connection {slot}: {error}"));
        self.in_flight.pop_front();
        self.close(env, now, Lost::Reset);
    }

    fn fill_and_flush(&mut self, env: &mut Env<'_>, now: Instant) {
        self.fill(env, now);
        if let Err(e) = self.flush() {
            env.stats.record_failure(|| format!("write: {e}"));
            self.close(env, now, Lost::Reset);
        }
    }

    /// Queues as many requests as the pipeline and the schedule allow.
    fn fill(&mut self, env: &mut Env<'_>, now: Instant) {
        let State::Open { requests, .. } = &mut self.state else {
            return;
        };
        let depth = if env.settings.close_each {
            1
        } else {
            env.settings.pipeline
        };
        while self.in_flight.len() < depth && !(env.settings.close_each && *requests > 0) {
            let Some(intended) = env.schedule.claim(self.slot, now) else {
                break;
            };
            env.request
                .append(&mut self.out, &self.id_prefix, self.next_seq);
            self.in_flight.push_back(InFlight {
                seq: self.next_seq,
                intended,
                sent: now,
            });
            self.next_seq += 1;
            *requests += 1;
        }
    }

    /// Writes queued output until done or the socket is full (a writable edge follows).
    fn flush(&mut self) -> io::Result<()> {
        let State::Open { stream, .. } = &mut self.state else {
            return Ok(());
        };
        while self.written < self.out.len() {
            match stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.written = 0;
        Ok(())
    }

    /// Drops the socket, counts what was in flight as `lost`, and reconnects at once
    /// unless the run has stopped sending.
    fn close(&mut self, env: &mut Env<'_>, now: Instant, lost: Lost) {
        let count = self.in_flight.len() as u64;
        match lost {
            Lost::Reset => env.stats.errors.reset += count,
            Lost::Timeout => env.stats.errors.timeout += count,
        }
        self.in_flight.clear();
        self.drop_socket(now);
        if !env.schedule.is_over(now) {
            self.connect(env, now);
        }
    }

    /// Closes the socket, if any, and forgets everything tied to it. There is no deregister
    /// call: epoll forgets a descriptor when it is closed, and the stream is the only holder
    /// of this one. That is one system call less per connection, which `--close` pays once
    /// per request.
    fn drop_socket(&mut self, now: Instant) {
        drop(self.take_state(now));
        self.out.clear();
        self.written = 0;
        self.unparsed.clear();
        self.reader.reset();
    }

    fn connect_failed(&mut self, env: &mut Env<'_>, now: Instant, error: &io::Error) {
        env.stats.errors.connect += 1;
        let addr = env.settings.addr;
        env.stats
            .record_failure(|| format!("connect to {addr}: {error}"));
        self.state = State::Waiting {
            reconnect_at: now + RECONNECT_BACKOFF,
        };
    }

    /// Moves the state out, leaving `Waiting` (reconnect at `now`) in its place.
    fn take_state(&mut self, now: Instant) -> State {
        std::mem::replace(&mut self.state, State::Waiting { reconnect_at: now })
    }
}

/// How far one readiness event lets a read loop go.
#[derive(Debug, Clone, Copy)]
enum ReadUntil {
    /// Plain readability: a short read took everything there is.
    ShortRead,
    /// The peer's FIN has arrived: a short read took the last bytes, end of stream follows.
    PeerClosed,
    /// The socket reported an error: read until read() says what it is.
    Error,
}

/// Whether a non-blocking connect finished, judged from its event: `Ok(true)` connected,
/// `Ok(false)` not yet (a spurious event), `Err` failed. epoll reports a completed connect
/// as writable and a failed one with its error or hang-up flag, so the common case needs
/// no system call (mio's documented check, `take_error` then `peer_addr`, costs two per
/// connection, which `--close` pays per request). Should a spurious writable event ever
/// pass for a connect still under way, the first write says WouldBlock and waits for the
/// next edge, or returns the connect's error, counted as a reset.
fn connect_outcome(stream: &TcpStream, event: &Event) -> io::Result<bool> {
    if event.is_error() || event.is_write_closed() {
        let closed = || io::Error::new(ErrorKind::NotConnected, "closed while connecting");
        return Err(stream.take_error()?.unwrap_or_else(closed));
    }
    Ok(event.is_writable())
}

/// A decimal without leading zeros, as loadgen writes them; anything else is not our id.
fn canonical_decimal(digits: &[u8]) -> Option<u64> {
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    crate::response::parse_decimal(digits)
}
