//! One HTTP/1.1 connection as a state machine, with no I/O.
//!
//! Rule: nothing here touches a socket, a thread or the clock. The driver feeds bytes
//! in ([`Connection::handle_bytes`]), lends each complete request to its router
//! ([`Connection::next_request`]; the request borrows the input buffer, so its head
//! is never copied), hands back their responses
//! ([`Connection::respond`]), and copies [`Connection::poll_output`] to the socket,
//! reporting how much went ([`Connection::consume_output`]). Time comes in as a
//! [`Now`]; the driver asks [`Connection::deadline`] when to call
//! [`Connection::handle_timeout`].
//!
//! Order: every request gets a *slot* when its head is parsed, which it keeps from
//! Receiving (its body) through Queued (for the router), Routing and Ready. Responses leave
//! strictly in slot order, so a late response (`/delay`) holds back the ones behind
//! it and no response is ever split by, or mixed with, another's bytes.
//!
//! Backpressure: at most [`MAX_IN_FLIGHT`] requests are parsed ahead of their
//! responses, at most [`OUTPUT_HIGH_WATER`] bytes of output are queued before the
//! connection stops serializing (and reading), and unparsed input is capped, so a
//! client that pipelines without reading costs a bounded amount of memory.
//!
//! Length: past 600 lines because it is one state machine: parsing, the slots, the
//! output queue and the deadlines each move the others' state, and every transition
//! reads best in one `impl`. Its tests are in `tests/protocol.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;

use super::body::{BodyDecoder, BodyFraming, BodyLimits};
use super::date::Now;
use super::reject::Reject;
use super::request::{parse_head, Method, Parsed, ParsedHead, RequestHead, Version};
use super::response::{self, BodyOut, FileOut, Framing, Response};
use crate::config::{Limits, Timeouts};
use crate::stats::Counters;

/// Requests parsed ahead of their responses (pipelining depth served at once).
pub const MAX_IN_FLIGHT: usize = 32;
/// Queued output above which the connection stops producing more.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;
/// Unparsed input kept at most (beyond the head limit) before reading pauses.
pub const INPUT_SLACK: usize = 64 * 1024;
/// Buffers are given back while idle, so the first allocations after that are
/// sized from what arrived: about this many bytes per request read...
const TYPICAL_REQUEST_BYTES: usize = 48;
/// ...and about this many bytes of output per response queued.
const TYPICAL_RESPONSE_BYTES: usize = 256;

/// What a connection needs to know about the server's policy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Settings {
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// `false` answers every request with `Connection: close` (`--no-keep-alive`).
    pub keep_alive: bool,
}

/// A complete request, body received, lent to the router by
/// [`Connection::next_request`]: its head borrows the connection's input buffer.
#[derive(Debug)]
pub struct Request<'a> {
    /// Position on its connection; give it back to [`Connection::respond`].
    pub seq: u64,
    pub head: RequestHead<'a>,
    /// Body bytes received (the body itself is not kept).
    pub body_len: u64,
}

impl<'a> Deref for Request<'a> {
    type Target = RequestHead<'a>;
    fn deref(&self) -> &RequestHead<'a> {
        &self.head
    }
}

/// A complete request waiting for the router: its parsed head, and where its bytes
/// are. Most heads stay in the input buffer, which is not compacted while any
/// request waits, so they are never copied; a head whose body followed it had to
/// be kept through the body's reads, and was copied then.
#[derive(Debug)]
struct Queued {
    body_len: u64,
    head: ParsedHead,
    bytes: HeadBytes,
}

#[derive(Debug)]
enum HeadBytes {
    /// At this offset of the input buffer.
    InInput(usize),
    /// A copy (the request had a body).
    Copied(Box<[u8]>),
}

/// A head kept while its body arrives.
#[derive(Debug)]
struct HeldHead {
    head: ParsedHead,
    bytes: Box<[u8]>,
}

/// The next bytes to send.
#[derive(Debug)]
pub enum Output<'a> {
    /// Bytes from the output buffer.
    Bytes(&'a [u8]),
    /// A file range: copy it (or `sendfile` it), then report the count.
    File {
        file: &'a File,
        offset: u64,
        len: u64,
    },
}

/// What the driver should do with the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Keep serving.
    Open,
    /// All output is sent: shut down the write side, then read and discard until
    /// EOF or the deadline, so the client reads our last response, not a reset.
    Linger,
    /// Close the socket.
    Closed,
}

/// The input side of the connection, named for what it is doing now.
#[derive(Debug)]
enum State {
    /// Waiting for the next request head (or for room to parse it).
    ReadingHead,
    /// Reading the body of the request in the last slot.
    ReadingBody {
        decoder: BodyDecoder,
        /// Boxed: kept out of every idle connection's footprint.
        head: Box<HeldHead>,
        seq: u64,
    },
    /// No more requests will be read; finishing the responses already accepted.
    Closing,
    /// Output done and write side shut: draining input until EOF or `until`.
    Lingering { until: Instant },
    /// Finished; the driver closes the socket.
    Closed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::ReadingHead => "ReadingHead",
            Self::ReadingBody { .. } => "ReadingBody",
            Self::Closing => "Closing",
            Self::Lingering { .. } => "Lingering",
            Self::Closed => "Closed",
        }
    }
}

/// `Expect: 100-continue` handling for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Continue {
    NotWanted,
    /// Send 100 when this request reaches the front of the queue.
    Wanted,
    Sent,
}

/// Where one request's response is.
#[derive(Debug)]
enum SlotState {
    /// The body is still arriving.
    Receiving(Continue),
    /// Complete, waiting to be lent to the router by [`Connection::next_request`].
    Queued(Queued),
    /// Handed to the router; waiting for [`Connection::respond`].
    Routing,
    /// Answered, waiting for the responses ahead of it.
    Ready(Response),
}

/// One request's place in the response order.
#[derive(Debug)]
struct Slot {
    seq: u64,
    state: SlotState,
    close_after: bool,
    confirm_keep_alive: bool,
    head_request: bool,
    /// `X-Request-Id`, echoed: inline when short (load generators' ids are).
    request_id: Option<SmallVec<[u8; 16]>>,
    /// What the access line needs, kept only when access lines are wanted (boxed:
    /// a slot is moved a few times per request, and most servers log nothing).
    access: Option<Box<AccessEntry>>,
}

/// The request's side of an access line.
#[derive(Debug)]
struct AccessEntry {
    /// `METHOD target VERSION`, or why the request was rejected.
    request_line: String,
    received_at: Instant,
}

/// Why a timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    Head,
    Body,
    Idle,
    WriteStall,
    LingerOver,
}

/// The HTTP/1.1 state of one connection.
pub struct Connection {
    settings: Settings,
    /// This thread's counters (requests, responses).
    counters: Arc<Counters>,
    peer: Option<SocketAddr>,
    /// A number for logs: the token in the reactor, a counter elsewhere.
    id: usize,
    state: State,
    input: Vec<u8>,
    input_pos: usize,
    /// Every request not yet answered in full, oldest first: one queue, whose
    /// slots move from Receiving to Queued, Routing and Ready.
    slots: VecDeque<Slot>,
    /// The `seq` of the next request to lend to the router: Queued slots follow
    /// the routed ones, in order, so this finds the first of them.
    next_to_route: u64,
    /// How many slots are Queued.
    queued: usize,
    out: Vec<u8>,
    out_pos: usize,
    /// The file part of the response being sent, once the bytes before it are.
    file: Option<FileOut>,
    next_seq: u64,
    requests_started: u64,
    peer_eof: bool,
    shutting_down: bool,
    /// Input was refused or thrown away, so closing must linger.
    must_linger: bool,
    /// Access lines are wanted: asked of the logger once, not per request (with
    /// env_logger each question runs its filter).
    access_log: bool,
    head_started: Option<Instant>,
    body_progress_at: Instant,
    idle_since: Instant,
    write_progress_at: Instant,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("state", &self.state.name())
            .field("slots", &self.slots.len())
            .field("pending_output", &self.pending_output())
            .finish()
    }
}

impl Connection {
    /// A new connection, opened at `now`.
    pub fn new(
        settings: Settings,
        counters: Arc<Counters>,
        peer: Option<SocketAddr>,
        id: usize,
        now: Instant,
    ) -> Self {
        Self {
            settings,
            counters,
            peer,
            id,
            state: State::ReadingHead,
            input: Vec::new(),
            input_pos: 0,
            slots: VecDeque::new(),
            next_to_route: 0,
            queued: 0,
            out: Vec::new(),
            out_pos: 0,
            file: None,
            next_seq: 0,
            requests_started: 0,
            peer_eof: false,
            shutting_down: false,
            must_linger: false,
            access_log: log::log_enabled!(target: ACCESS_LOG, log::Level::Info),
            head_started: None,
            body_progress_at: now,
            idle_since: now,
            write_progress_at: now,
        }
    }

    // ---- inputs -------------------------------------------------------------------

    /// Bytes read from the client.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: &Now) {
        if bytes.is_empty() {
            return;
        }
        match self.state {
            State::ReadingHead | State::ReadingBody { .. } => {
                if self.input.is_empty() {
                    self.reserve_queues(bytes.len());
                }
                // The one copy of the bytes: the requests parsed from them borrow them
                // from here until they are routed.
                self.input.extend_from_slice(bytes);
            }
            // Not ours to parse any more; only note that closing must linger.
            State::Closing | State::Lingering { .. } => self.must_linger = true,
            State::Closed => {}
        }
        self.advance(now);
    }

    /// The client shut down its write side (read returned 0).
    pub fn handle_eof(&mut self, now: &Now) {
        self.peer_eof = true;
        if let State::Lingering { .. } = self.state {
            self.set_state(State::Closed);
        }
        self.advance(now);
    }

    /// The response to request `seq`. Responses may come in any order; they are
    /// sent in request order.
    pub fn respond(&mut self, seq: u64, response: Response, now: &Now) {
        let Some(front) = self.slots.front().map(|s| s.seq) else {
            return;
        };
        let may_write = self.file.is_none() && self.pending_output() < OUTPUT_HIGH_WATER;
        let Some(slot) = seq
            .checked_sub(front)
            .and_then(|i| self.slots.get_mut(i as usize))
        else {
            return;
        };
        debug_assert!(matches!(slot.state, SlotState::Routing));
        if seq == front && may_write {
            // The oldest answer, with room for it (the usual case): straight to the
            // output, as `flush_slots` would write it, without a stop in the slot.
            if let Some(slot) = self.slots.pop_front() {
                self.write_slot(slot, response, now);
            }
        } else {
            slot.state = SlotState::Ready(response);
        }
        self.advance(now);
    }

    /// `n` bytes of [`Connection::poll_output`] were written.
    pub fn consume_output(&mut self, n: usize, now: &Now) {
        if n == 0 {
            return;
        }
        self.write_progress_at = now.instant;
        if self.out_pos < self.out.len() {
            self.out_pos = (self.out_pos + n).min(self.out.len());
            compact(&mut self.out, &mut self.out_pos, OUTPUT_HIGH_WATER);
        } else if let Some(file) = &mut self.file {
            // The bytes that follow this range (a multipart delimiter) go into
            // `out`, which is empty while a file range is being sent.
            if !file.advance(n as u64, &mut self.out) {
                self.file = None;
            }
        }
        if !self.has_output() && self.slots.is_empty() {
            self.idle_since = now.instant;
            self.release_buffers();
        }
        self.advance(now);
    }

    /// A timer fired. Harmless when nothing is due: the connection re-checks its
    /// own [`Connection::deadline`].
    pub fn handle_timeout(&mut self, now: &Now) {
        let Some((at, expiry)) = self.next_expiry() else {
            return;
        };
        if at > now.instant {
            return;
        }
        log::debug!(
            "conn {}: {:?} timeout in {}",
            self.id,
            expiry,
            self.state.name()
        );
        match expiry {
            Expiry::Head | Expiry::Body => self.reject(Reject::Timeout, now),
            Expiry::Idle | Expiry::WriteStall | Expiry::LingerOver => self.set_state(State::Closed),
        }
        self.advance(now);
    }

    /// The server is shutting down: answer what was received, then close.
    pub fn handle_shutdown(&mut self, now: &Now) {
        self.shutting_down = true;
        if let Some(last) = self.slots.back_mut() {
            if !matches!(last.state, SlotState::Receiving(_)) {
                last.close_after = true;
            }
        }
        if let State::ReadingHead = self.state {
            self.set_state(State::Closing);
        }
        self.advance(now);
    }

    // ---- outputs ------------------------------------------------------------------

    /// Lends the next complete request, in arrival order, to `route`, and returns
    /// its `seq` with what `route` made of it. The request borrows the connection's
    /// input (its head is never copied), so the borrow ends when `route` returns:
    /// answer with [`Connection::respond`] after that.
    ///
    /// Any input can complete requests, including [`Connection::consume_output`]
    /// (room in the output lets parsing resume), so drivers ask after every call.
    pub fn next_request<R>(&mut self, route: impl FnOnce(&Request<'_>) -> R) -> Option<(u64, R)> {
        let (seq, queued) = self.take_next_queued()?;
        let bytes: &[u8] = match &queued.bytes {
            HeadBytes::InInput(at) => &self.input[*at..*at + queued.head.len()],
            HeadBytes::Copied(bytes) => bytes,
        };
        let request = Request {
            seq,
            head: RequestHead::reunite(queued.head, bytes),
            body_len: queued.body_len,
        };
        let answer = route(&request);
        Some((seq, answer))
    }

    /// A complete request is waiting for [`Connection::next_request`].
    pub fn has_request(&self) -> bool {
        self.queued > 0
    }

    /// Takes the next request to route out of its slot, which becomes Routing; `None`
    /// while that request is incomplete (or there is none).
    fn take_next_queued(&mut self) -> Option<(u64, Queued)> {
        let front = self.slots.front()?.seq;
        let index = self.next_to_route.checked_sub(front)? as usize;
        let slot = self.slots.get_mut(index)?;
        let queued = match std::mem::replace(&mut slot.state, SlotState::Routing) {
            SlotState::Queued(queued) => queued,
            other => {
                slot.state = other; // still receiving its body: leave it as it was
                return None;
            }
        };
        self.queued -= 1;
        self.next_to_route = slot.seq + 1;
        Some((slot.seq, queued))
    }

    /// The next bytes to send, if any.
    pub fn poll_output(&self) -> Option<Output<'_>> {
        if self.out_pos < self.out.len() {
            Some(Output::Bytes(&self.out[self.out_pos..]))
        } else {
            self.file.as_ref().map(|f| Output::File {
                file: f.file(),
                offset: f.offset(),
                len: f.remaining(),
            })
        }
    }

    /// The connection wants to read: it is not closed, not waiting for the client to
    /// read what it already sent, and has room for more input.
    pub fn wants_read(&self) -> bool {
        if self.peer_eof {
            return false;
        }
        match self.state {
            State::ReadingHead | State::ReadingBody { .. } => {
                let room = self.settings.limits.max_head + INPUT_SLACK;
                self.input.len() - self.input_pos < room
                    && self.pending_output() < OUTPUT_HIGH_WATER
            }
            State::Closing | State::Lingering { .. } => true,
            State::Closed => false,
        }
    }

    /// The connection has output to send.
    pub fn wants_write(&self) -> bool {
        self.has_output()
    }

    /// What the driver should do with the socket.
    pub fn phase(&self) -> Phase {
        match self.state {
            State::Lingering { .. } => Phase::Linger,
            State::Closed => Phase::Closed,
            _ => Phase::Open,
        }
    }

    /// When [`Connection::handle_timeout`] must be called next.
    pub fn deadline(&self) -> Option<Instant> {
        self.next_expiry().map(|(at, _)| at)
    }

    /// Heap bytes the connection's buffers and queues hold (their capacity, used or
    /// not): what it costs beyond its own struct.
    pub fn buffered_bytes(&self) -> usize {
        self.input.capacity()
            + self.out.capacity()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
    }

    /// The client's address, when the driver knows it.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Requests parsed whose responses have not been fully queued yet.
    pub fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// Everything this connection will send is queued: once it is written, the
    /// connection closes (or lingers). A driver may then hold the last segment back
    /// for the FIN to leave with it.
    pub fn output_is_last(&self) -> bool {
        matches!(self.state, State::Closing) && self.slots.is_empty()
    }

    // ---- the machine ----------------------------------------------------------------

    fn set_state(&mut self, next: State) {
        // Comparing names costs more than the move: only when someone is listening.
        if log::max_level() >= log::LevelFilter::Trace && self.state.name() != next.name() {
            log::trace!("conn {}: {} -> {}", self.id, self.state.name(), next.name());
        }
        self.state = next;
    }

    fn has_output(&self) -> bool {
        self.out_pos < self.out.len() || self.file.is_some()
    }

    fn pending_output(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Parses what it can, queues what is answered, and settles the state. Every
    /// input ends here, so the rules of progress live in one place.
    fn advance(&mut self, now: &Now) {
        // Waiting for a head with nothing unparsed, no EOF and no shutdown (the usual
        // case after a response): parsing would change nothing.
        let nothing_to_parse = matches!(self.state, State::ReadingHead)
            && self.input_pos == self.input.len()
            && !self.peer_eof
            && !self.shutting_down;
        if nothing_to_parse {
            self.finish_advance(now);
            return;
        }
        let input = std::mem::take(&mut self.input);
        let used = self.parse(&input[self.input_pos..], self.input_pos, now);
        self.input = input;
        self.input_pos += used;
        self.finish_advance(now);
    }

    fn finish_advance(&mut self, now: &Now) {
        self.compact_input();
        self.flush_slots(now);
        self.settle(now);
    }

    /// Parses heads and bodies from `unparsed` as far as the state allows, and
    /// returns how many bytes it used. Bytes that arrive once no more requests will
    /// be read (after a rejection, `Connection: close`, shutdown) are used up too,
    /// and thrown away, which makes the close linger.
    fn parse(&mut self, unparsed: &[u8], base: usize, now: &Now) -> usize {
        let mut used = 0;
        loop {
            let rest = &unparsed[used..];
            match &mut self.state {
                State::ReadingHead => {
                    if self.shutting_down {
                        self.set_state(State::Closing);
                        continue;
                    }
                    if self.slots.len() >= MAX_IN_FLIGHT {
                        break;
                    }
                    if rest.is_empty() {
                        if self.peer_eof {
                            self.set_state(State::Closing);
                        }
                        break;
                    }
                    match parse_head(rest, &self.settings.limits) {
                        Ok(Parsed::Complete { value, consumed }) => {
                            let at = base + used;
                            used += consumed;
                            self.head_started = None;
                            self.begin_request(value, at, now);
                        }
                        Ok(Parsed::Incomplete) => {
                            if self.peer_eof {
                                // A partial head that can never complete.
                                used = unparsed.len();
                                self.set_state(State::Closing);
                            } else {
                                self.head_started.get_or_insert(now.instant);
                            }
                            break;
                        }
                        Err(reject) => self.reject(reject, now),
                    }
                }
                State::ReadingBody { decoder, .. } => {
                    let result = if rest.is_empty() {
                        Ok(super::body::Progress {
                            consumed: 0,
                            done: decoder.is_done(),
                        })
                    } else {
                        decoder.decode(rest)
                    };
                    match result {
                        Ok(progress) => {
                            used += progress.consumed;
                            if progress.consumed > 0 {
                                self.body_progress_at = now.instant;
                                self.client_is_sending_body();
                            }
                            if progress.done {
                                self.finish_body();
                            } else {
                                if self.peer_eof {
                                    self.reject(Reject::IncompleteBody, now);
                                }
                                break;
                            }
                        }
                        Err(reject) => self.reject(reject, now),
                    }
                }
                State::Closing | State::Lingering { .. } | State::Closed => {
                    if !rest.is_empty() {
                        self.must_linger = true;
                    }
                    used = unparsed.len();
                    break;
                }
            }
        }
        used
    }

    /// A head arrived, at offset `at` of the input: give it a slot, then read its
    /// body or dispatch it.
    fn begin_request(&mut self, head: RequestHead<'_>, at: usize, now: &Now) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.requests_started += 1;
        let limits = &self.settings.limits;
        let close_after = !self.settings.keep_alive
            || head.client_wants_close
            || self.shutting_down
            || self.requests_started >= limits.max_requests_per_connection;
        let access = self.access_log.then(|| {
            Box::new(AccessEntry {
                request_line: format!(
                    "{} {} {}",
                    head.method_str(),
                    head.target(),
                    head.version.as_str()
                ),
                received_at: now.instant,
            })
        });
        self.slots.push_back(Slot {
            seq,
            state: SlotState::Receiving(if head.expect_continue {
                Continue::Wanted
            } else {
                Continue::NotWanted
            }),
            close_after,
            confirm_keep_alive: head.version == Version::Http10 && !close_after,
            head_request: head.method == Method::Head,
            request_id: head.request_id().map(SmallVec::from_slice),
            access,
        });
        log::trace!(
            "conn {}: request #{seq} {}: {} {}",
            self.id,
            if head.framing == BodyFraming::Empty {
                "complete"
            } else {
                "head read, body follows"
            },
            head.method_str(),
            head.target()
        );
        match head.framing {
            BodyFraming::Empty => self.dispatch(Queued {
                body_len: 0,
                head: head.into_parsed(),
                bytes: HeadBytes::InInput(at),
            }),
            BodyFraming::Length(n) if n > limits.max_body => self.reject(Reject::BodyTooLarge, now),
            framing => {
                let decoder = BodyDecoder::new(
                    framing,
                    BodyLimits {
                        max_body: limits.max_body,
                        max_metadata: limits.max_chunk_metadata,
                    },
                );
                self.body_progress_at = now.instant;
                self.set_state(State::ReadingBody {
                    decoder,
                    head: Box::new(HeldHead {
                        bytes: head.bytes().into(),
                        head: head.into_parsed(),
                    }),
                    seq,
                });
            }
        }
    }

    /// Body bytes arrived before we said 100 Continue: the client is not waiting.
    fn client_is_sending_body(&mut self) {
        if let Some(slot) = self.slots.back_mut() {
            if let SlotState::Receiving(c @ Continue::Wanted) = &mut slot.state {
                *c = Continue::NotWanted;
            }
        }
    }

    fn finish_body(&mut self) {
        let state = std::mem::replace(&mut self.state, State::ReadingHead);
        if let State::ReadingBody { decoder, head, seq } = state {
            let HeldHead { head, bytes } = *head;
            debug_assert_eq!(self.slots.back().map(|s| s.seq), Some(seq));
            self.dispatch(Queued {
                body_len: decoder.received(),
                head,
                bytes: HeadBytes::Copied(bytes),
            });
        }
    }

    /// Queues a complete request, in the last slot, for the router (through
    /// `next_request`).
    fn dispatch(&mut self, queued: Queued) {
        Counters::bump(&self.counters.requests);
        if queued.body_len > 0 {
            log::trace!(
                "conn {}: request #{} complete ({} body bytes)",
                self.id,
                self.next_seq - 1,
                queued.body_len
            );
        }
        let close_after = match self.slots.back_mut() {
            Some(slot) => {
                slot.state = SlotState::Queued(queued);
                self.queued += 1;
                slot.close_after
            }
            None => true,
        };
        if close_after {
            self.set_state(State::Closing);
        } else if !matches!(self.state, State::ReadingHead) {
            // After a body; a request without one never left ReadingHead.
            self.set_state(State::ReadingHead);
        }
    }

    /// Answers with the rejection's status, then closes (after a lingering drain).
    fn reject(&mut self, reject: Reject, now: &Now) {
        log::debug!("conn {}: rejecting request: {reject}", self.id);
        let response = Response::error(reject.status(), reject.reason());
        match self.slots.back_mut() {
            Some(slot) if matches!(slot.state, SlotState::Receiving(_)) => {
                slot.state = SlotState::Ready(response);
                slot.close_after = true;
                slot.head_request = false;
            }
            _ => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.slots.push_back(Slot {
                    seq,
                    state: SlotState::Ready(response),
                    close_after: true,
                    confirm_keep_alive: false,
                    head_request: false,
                    request_id: None,
                    access: self.access_log.then(|| {
                        Box::new(AccessEntry {
                            request_line: format!("(rejected: {})", reject.reason()),
                            received_at: now.instant,
                        })
                    }),
                });
            }
        }
        // The input after the offending bytes is never parsed: the Closing state
        // uses it up, which makes the close linger.
        self.must_linger = true;
        self.set_state(State::Closing);
    }

    /// Moves answered responses, in order, into the output.
    fn flush_slots(&mut self, now: &Now) {
        while self.file.is_none() && self.pending_output() < OUTPUT_HIGH_WATER {
            let Some(front) = self.slots.front_mut() else {
                break;
            };
            match &mut front.state {
                SlotState::Receiving(c @ Continue::Wanted) => {
                    *c = Continue::Sent;
                    self.start_output(now);
                    self.out.extend_from_slice(response::CONTINUE);
                    self.counters.count_response(100);
                    // The client only starts sending now: so does its body timer.
                    self.body_progress_at = now.instant;
                    break;
                }
                SlotState::Receiving(_) | SlotState::Queued(_) | SlotState::Routing => break,
                SlotState::Ready(_) => {
                    if let Some(mut slot) = self.slots.pop_front() {
                        let state = std::mem::replace(&mut slot.state, SlotState::Routing);
                        if let SlotState::Ready(response) = state {
                            self.write_slot(slot, response, now);
                        }
                    }
                }
            }
        }
    }

    fn start_output(&mut self, now: &Now) {
        if !self.has_output() {
            self.write_progress_at = now.instant;
        }
    }

    fn write_slot(&mut self, slot: Slot, response: Response, now: &Now) {
        self.start_output(now);
        let status = response.status;
        let body_len = if slot.head_request {
            0
        } else {
            response.body.len()
        };
        let framing = Framing {
            now,
            close: slot.close_after,
            confirm_keep_alive: slot.confirm_keep_alive,
            head_request: slot.head_request,
            request_id: slot.request_id.as_deref(),
        };
        if self.out.capacity() == 0 {
            // Every response behind this one is ready too, or soon will be.
            self.out
                .reserve((self.slots.len() + 1) * TYPICAL_RESPONSE_BYTES);
        }
        if let BodyOut::File(file) = response::write_response(&mut self.out, response, &framing) {
            self.file = Some(file);
        }
        self.counters.count_response(status);
        if let Some(access) = &slot.access {
            log_access(self.peer, now, access, status, body_len);
        }
    }

    /// Terminal transitions: a closing connection with nothing left to send closes
    /// (lingering if input was refused), and a drained peer EOF ends it.
    fn settle(&mut self, now: &Now) {
        if !self.slots.is_empty() || self.has_output() {
            return;
        }
        if let State::Closing = self.state {
            if self.must_linger && !self.peer_eof {
                let until = now.instant + self.settings.timeouts.linger;
                self.set_state(State::Lingering { until });
            } else {
                self.set_state(State::Closed);
            }
        }
    }

    /// The request being received asked for 100 Continue and has not had it yet.
    fn awaiting_our_continue(&self) -> bool {
        matches!(
            self.slots.back().map(|s| &s.state),
            Some(SlotState::Receiving(Continue::Wanted))
        )
    }

    /// The queues were given back while idle: take room at once for the requests
    /// `arrived` bytes probably hold, rather than growing 4, 8, 16 one reallocation
    /// at a time under a pipelining client (or taking that much for a single one).
    fn reserve_queues(&mut self, arrived: usize) {
        if self.slots.capacity() == 0 {
            let expected = (arrived / TYPICAL_REQUEST_BYTES).clamp(1, MAX_IN_FLIGHT);
            self.slots.reserve(expected);
        }
    }

    /// Everything asked has been answered and sent: give the buffers back, so an idle
    /// keep-alive connection holds no heap memory (thousands of them may wait).
    /// The next request allocates again, a few small allocations per request.
    fn release_buffers(&mut self) {
        if self.input_pos == self.input.len() && self.slots.is_empty() {
            self.input = Vec::new();
            self.input_pos = 0;
            self.out = Vec::new();
            self.out_pos = 0;
            self.slots = VecDeque::new();
        }
    }

    fn compact_input(&mut self) {
        // Requests waiting for the router borrow their heads from the buffer by
        // offset: it stays as it is until they are all routed.
        if !self.has_request() {
            compact(&mut self.input, &mut self.input_pos, INPUT_SLACK);
        }
    }

    fn next_expiry(&self) -> Option<(Instant, Expiry)> {
        let t = &self.settings.timeouts;
        if self.has_output() {
            return Some((self.write_progress_at + t.write, Expiry::WriteStall));
        }
        match &self.state {
            State::ReadingHead => {
                if let Some(started) = self.head_started {
                    Some((started + t.header, Expiry::Head))
                } else if self.slots.is_empty() {
                    // Before the first request the client gets the head timeout.
                    let wait = if self.requests_started == 0 {
                        t.header
                    } else {
                        t.idle
                    };
                    Some((self.idle_since + wait, Expiry::Idle))
                } else {
                    None
                }
            }
            // A client waiting for our 100 Continue is not late with its body.
            State::ReadingBody { .. } if self.awaiting_our_continue() => None,
            State::ReadingBody { .. } => Some((self.body_progress_at + t.header, Expiry::Body)),
            State::Lingering { until } => Some((*until, Expiry::LingerOver)),
            State::Closing | State::Closed => None,
        }
    }
}

/// Drops the consumed bytes `..*pos` of `buf`: all of them once all are consumed
/// (clear keeps the allocation for the next message), or by moving the rest down
/// once more than `slack` are (so a long stream does not keep growing the buffer).
fn compact(buf: &mut Vec<u8>, pos: &mut usize, slack: usize) {
    if *pos == buf.len() {
        buf.clear();
        *pos = 0;
    } else if *pos > slack {
        buf.drain(..*pos);
        *pos = 0;
    }
}

/// The `log` target of access lines, so they can be filtered on their own.
pub const ACCESS_LOG: &str = "reactor::access";

/// One access line: Common Log Format plus the response time.
fn log_access(peer: Option<SocketAddr>, now: &Now, access: &AccessEntry, status: u16, bytes: u64) {
    let AccessEntry {
        request_line,
        received_at,
    } = access;
    // "Sun, 06 Nov 1994 08:49:37 GMT" -> "06/Nov/1994:08:49:37 +0000"
    let d = now.date_str();
    let clf_date = if d.len() >= 25 {
        format!(
            "{}/{}/{}:{} +0000",
            &d[5..7],
            &d[8..11],
            &d[12..16],
            &d[17..25]
        )
    } else {
        d.to_string()
    };
    let peer = peer.map_or_else(|| "-".to_string(), |p| p.ip().to_string());
    let millis = now
        .instant
        .saturating_duration_since(*received_at)
        .as_secs_f64()
        * 1e3;
    log::info!(
        target: ACCESS_LOG,
        "{peer} - - [{clf_date}] \"{request_line}\" {status} {bytes} {millis:.3}ms"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::DateCache;
    use std::time::{Duration, UNIX_EPOCH};

    fn connection() -> (Connection, Now) {
        let start = Instant::now();
        let settings = Settings {
            keep_alive: true,
            ..Settings::default()
        };
        let now = DateCache::new().now(start, UNIX_EPOCH + Duration::from_secs(1));
        let conn = Connection::new(settings, Arc::default(), None, 0, start);
        (conn, now)
    }

    const TWO: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";

    /// The router reads the head where the bytes arrived: no copy is made of it.
    #[test]
    fn a_routed_head_borrows_the_input_buffer() {
        let (mut conn, now) = connection();
        conn.handle_bytes(TWO, &now);
        let input = conn.input.as_ptr_range();
        for target in ["/a", "/b"] {
            let (_, (seen, at)) = conn
                .next_request(|r| (r.target().to_string(), r.bytes().as_ptr()))
                .expect("a request");
            assert_eq!(seen, target);
            assert!(input.contains(&at), "{target}: its head was copied");
        }
    }

    /// A request waiting for the router keeps its bytes, whatever happens to the
    /// buffer meanwhile: an answered request before it, more input after it.
    #[test]
    fn waiting_heads_survive_responses_and_reads() {
        let (mut conn, now) = connection();
        conn.handle_bytes(TWO, &now);
        let (seq, target) = conn.next_request(|r| r.target().to_string()).unwrap();
        assert_eq!(target, "/a");
        // All input is parsed, and the first answer would compact the buffer.
        conn.respond(seq, Response::text(200, "a"), &now);
        conn.handle_bytes(&b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n".repeat(40), &now);
        let mut targets = Vec::new();
        while let Some((_, target)) = conn.next_request(|r| r.target().to_string()) {
            targets.push(target);
        }
        assert_eq!(targets.len(), 1 + MAX_IN_FLIGHT - 1);
        assert_eq!(targets[0], "/b");
        assert!(targets[1..].iter().all(|t| t == "/c"), "{targets:?}");
    }
}
