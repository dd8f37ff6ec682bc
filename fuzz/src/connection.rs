//! Drives one `protocol::Connection` the way the reactor does, on a schedule taken
//! from the fuzz input, and checks what comes out.
//!
//! # Input
//!
//! ```text
//! byte 0      flags: bit 0 = --no-keep-alive, bit 1 = tight limits (bytes 2 and 3)
//! byte 1      L, the schedule's length
//! bytes 2, 3  the tight limits, when bit 1 is set
//! next L      the schedule: one op per byte (op = byte >> 5, arg = byte & 31)
//! the rest    the bytes the client sends, in order
//! ```
//!
//! Ops: 0 the client sends the next `size(arg)` bytes (arg 0: through the next
//! empty line, so a head arrives without its body); 1 the socket accepts
//! `size(arg)` bytes of output (0: it is full); 2 virtual time advances by `ms(arg)`;
//! 3 the client shuts down its side (EOF); 4 the client reads everything; 5 the
//! client sends its last chunk again `2^(arg % 16)` times; 6 the server shuts down;
//! 7 a spurious timer (`handle_timeout` when nothing is due). After every op the
//! "driver" does what the reactor would: read while the connection wants input (at
//! most 64 KiB a read), route requests with the real router (no file root), deliver
//! `/delay` responses when their virtual time comes, and fire the connection's
//! timer when it is due. When the schedule ends the client sends whatever is left,
//! closes its side and reads everything, and time runs on until the connection
//! closes.
//!
//! # Checks
//!
//! - nothing panics (debug assertions are on in fuzz builds);
//! - the queued output is, after every call, a sequence of whole, well-formed
//!   HTTP/1.1 responses: status line, Server and Date, Content-Length framing (none
//!   for 1xx/204/304, no body for HEAD), at most one `100 Continue` before a final
//!   response and only for a request that asked for it, `X-Request-Id` echoed,
//!   `Connection: close` when the request or a rejection calls for it, and nothing
//!   after a `Connection: close` response;
//! - queued bytes never change, and a response only starts while less than
//!   `OUTPUT_HIGH_WATER` bytes are waiting: so pending output stays below the high
//!   water mark plus one response;
//! - responses answer the requests in order, one each, plus at most one rejection,
//!   which comes last; request numbers are consecutive;
//! - at most `MAX_IN_FLIGHT` requests in flight, plus a rejection;
//! - a lingering connection has no output left (its write side is shut);
//! - a due timer makes progress (the deadline moves on or the connection closes), and
//!   a timer that is not due changes nothing;
//! - with a client that reads everything and closes, the connection reaches
//!   `Phase::Closed` (through `Linger` or not) in bounded virtual time, never stuck
//!   with nothing to do and no deadline, and waiting on no timer but the linger
//!   (and `/delay`);
//! - when no timeout fired and the server was not shut down, the responses are the
//!   same (Date aside, and /stats bodies, which count) as when the same bytes arrive
//!   in one go and the client reads everything at once: splitting, pacing and a slow
//!   reader change nothing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use reactor::config::{Limits, Model, Timeouts};
use reactor::protocol::connection::{MAX_IN_FLIGHT, OUTPUT_HIGH_WATER};
use reactor::protocol::response::CONTINUE;
use reactor::protocol::{
    Connection, DateCache, Method, Now, Output, Phase, Request, Response, Settings, Version,
};
use reactor::routes::builtin::MAX_SPIN_MS;
use reactor::routes::{self, Ctx, FileCache, Reply};
use reactor::stats::Stats;

/// Bytes taken from the socket in one read, as the reactor's scratch buffer.
const READ_SIZE: usize = 64 * 1024;
/// Cap on what the client sends, so one input stays fast (enough /hello requests to
/// queue more than `OUTPUT_HIGH_WATER` of responses).
const MAX_SENT: usize = 128 * 1024;
/// Queued output compared in full after every call up to this size...
const COMPARE_ALL: usize = 8 * 1024;
/// ...and above it, this much at each end.
const COMPARE_ENDS: usize = 1024;
/// Turns of the closing loop before the connection is called stuck.
const MAX_CLOSING_TURNS: usize = 10_000;

/// Byte counts for the send and write ops (a send of 0 means "through the next empty
/// line").
const SIZES: [usize; 32] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    12,
    14,
    16,
    20,
    24,
    32,
    48,
    64,
    100,
    128,
    200,
    256,
    512,
    1024,
    2048,
    4096,
    8192,
    16384,
    65536,
    262_144,
    1 << 20,
];
/// Time steps in milliseconds, clustered around the default timeouts.
const MILLIS: [u64; 32] = [
    0, 1, 2, 5, 10, 50, 100, 500, 999, 1000, 1001, 1999, 2000, 2001, 5000, 9999, 10_000, 10_001,
    14_999, 15_000, 15_001, 29_999, 30_000, 30_001, 45_000, 59_999, 60_000, 60_001, 120_000, 3, 20,
    250,
];

/// Runs the input and every check; panics with a description when one fails.
pub fn check(data: &[u8]) {
    let input = Input::parse(data);
    let mut run = Run::new(input.settings);
    run.client_data = input.client.to_vec();
    for &op in input.schedule {
        if run.closed() {
            break;
        }
        run.op(op);
    }
    if !run.closed() {
        run.finish();
    }
    if run.comparable() {
        let mut reference = Run::new(input.settings);
        reference.client_data = run.sent.clone();
        reference.finish();
        assert_eq!(
            run.normalized(),
            reference.normalized(),
            "the responses depend on how the bytes were split, paced or read"
        );
    }
}

/// The fuzz input, cut into its parts.
struct Input<'a> {
    settings: Settings,
    schedule: &'a [u8],
    client: &'a [u8],
}

impl<'a> Input<'a> {
    fn parse(data: &'a [u8]) -> Self {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let flags = byte(0);
        let schedule_len = usize::from(byte(1));
        let (a, b) = (usize::from(byte(2)), usize::from(byte(3)));
        let limits = if flags & 2 != 0 {
            Limits {
                max_request_line: 8 + (a & 0x3f) * 4,
                max_head: 32 + b * 8,
                max_headers: 1 + (a >> 6) * 4,
                max_body: (b as u64 & 0x0f) * 16,
                max_chunk_metadata: 8 + (b >> 4) * 8,
                max_requests_per_connection: 1 + (a >> 6) as u64,
            }
        } else {
            Limits::default()
        };
        let rest = data.get(4..).unwrap_or(&[]);
        let (schedule, client) = rest.split_at(schedule_len.min(rest.len()));
        Self {
            settings: Settings {
                limits,
                timeouts: Timeouts::default(),
                keep_alive: flags & 1 == 0,
            },
            schedule,
            client,
        }
    }
}

/// What the harness remembers of a request it routed.
#[derive(Debug)]
struct Seen {
    method: Method,
    version: Version,
    wants_close: bool,
    expect_continue: bool,
    request_id: Option<Vec<u8>>,
    is_stats: bool,
}

impl Seen {
    fn of(request: &Request<'_>) -> Self {
        Self {
            method: request.method,
            version: request.version,
            wants_close: request.client_wants_close,
            expect_continue: request.expect_continue,
            request_id: request.header("x-request-id").map(<[u8]>::to_vec),
            is_stats: request.path() == "/stats",
        }
    }
}

/// A final response as parsed from the output.
#[derive(PartialEq, Eq)]
struct Final {
    status: u16,
    /// Header fields in order, except Date.
    fields: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Final {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v)))
            .collect();
        f.debug_struct("Final")
            .field("status", &self.status)
            .field("fields", &fields)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// One connection, its driver, its client and everything observed.
struct Run {
    settings: Settings,
    conn: Connection,
    stats: Arc<Stats>,
    /// Unused without a file root, but every route gets one.
    files: FileCache,
    start: Instant,
    elapsed: Duration,
    dates: DateCache,
    /// `/delay` responses not yet due: (due at, seq, response).
    deferred: Vec<(Duration, u64, Response)>,

    // The client.
    /// Everything the client may send, in order.
    client_data: Vec<u8>,
    /// How much of `client_data` was sent.
    client_pos: usize,
    /// Sent and not yet read by the server (the socket's receive queue).
    queue: VecDeque<u8>,
    /// Every byte sent, in order (including repeats).
    sent: Vec<u8>,
    last_chunk: Vec<u8>,
    client_eof: bool,
    eof_delivered: bool,

    // What came out.
    requests: Vec<Seen>,
    /// Every output byte ever queued: consumed ones, then pending ones.
    stream: Vec<u8>,
    /// Bytes of `stream` the client has read.
    consumed: usize,
    /// Bytes of `stream` already parsed into responses.
    parsed: usize,
    finals: Vec<Final>,
    /// `100 Continue` seen since the last final response.
    interim: usize,
    /// A response said `Connection: close`, or was a rejection.
    last_response_seen: bool,

    // What happened.
    timed_out_while_open: bool,
    shut_down: bool,
}

impl Run {
    fn new(settings: Settings) -> Self {
        let stats = Arc::new(Stats::default());
        let start = Instant::now();
        Self {
            settings,
            conn: Connection::new(settings, stats.register(), None, 1, start),
            stats,
            files: FileCache::new(Duration::ZERO),
            start,
            elapsed: Duration::ZERO,
            dates: DateCache::new(),
            deferred: Vec::new(),
            client_data: Vec::new(),
            client_pos: 0,
            queue: VecDeque::new(),
            sent: Vec::new(),
            last_chunk: Vec::new(),
            client_eof: false,
            eof_delivered: false,
            requests: Vec::new(),
            stream: Vec::new(),
            consumed: 0,
            parsed: 0,
            finals: Vec::new(),
            interim: 0,
            last_response_seen: false,
            timed_out_while_open: false,
            shut_down: false,
        }
    }

    /// The virtual time, on a fixed wall clock so runs are reproducible.
    fn now(&mut self) -> Now {
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000) + self.elapsed;
        self.dates.now(self.start + self.elapsed, wall)
    }

    fn closed(&self) -> bool {
        self.conn.phase() == Phase::Closed
    }

    // ---- the schedule ------------------------------------------------------------

    fn op(&mut self, byte: u8) {
        let arg = usize::from(byte & 31);
        match byte >> 5 {
            0 => {
                let rest = &self.client_data[self.client_pos..];
                let n = if arg == 0 {
                    // Through the next empty line: a head without its body.
                    rest.windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map_or(rest.len(), |i| i + 4)
                } else {
                    SIZES[arg].min(rest.len())
                };
                let chunk = self.client_data[self.client_pos..self.client_pos + n].to_vec();
                self.client_pos += n;
                self.send(&chunk);
            }
            1 => self.write(SIZES[arg]),
            2 => self.elapsed += Duration::from_millis(MILLIS[arg]),
            3 => self.client_eof = true,
            4 => self.read_everything(),
            5 => {
                let chunk = std::mem::take(&mut self.last_chunk);
                for _ in 0..1usize << (arg % 16) {
                    self.send(&chunk);
                }
                self.last_chunk = chunk;
            }
            6 => {
                let now = self.now();
                self.conn.handle_shutdown(&now);
                self.shut_down = true;
                self.observe("handle_shutdown");
            }
            _ => self.spurious_timeout(),
        }
        self.pump();
    }

    /// The client writes `chunk` (unless it has closed its side).
    fn send(&mut self, chunk: &[u8]) {
        if self.client_eof || chunk.is_empty() || self.sent.len() + chunk.len() > MAX_SENT {
            return;
        }
        self.queue.extend(chunk);
        self.sent.extend_from_slice(chunk);
        self.last_chunk = chunk.to_vec();
    }

    /// One write to a socket with room for `room` bytes.
    fn write(&mut self, room: usize) {
        let n = match self.conn.poll_output() {
            Some(Output::Bytes(bytes)) => bytes.len().min(room),
            Some(Output::File { .. }) => panic!("a file body without a file root"),
            None => return,
        };
        let now = self.now();
        self.conn.consume_output(n, &now);
        self.consumed += n;
        self.observe("consume_output");
    }

    /// Writes until the output is empty (the driver routes in between, as it does).
    fn read_everything(&mut self) {
        while self.conn.poll_output().is_some() && !self.closed() {
            self.write(usize::MAX);
            self.pump();
        }
    }

    /// `handle_timeout` when nothing is due must change nothing.
    fn spurious_timeout(&mut self) {
        let now = self.now();
        if self.conn.deadline().is_some_and(|d| d <= now.instant) {
            return; // Due: the driver fires it in `pump`.
        }
        let phase = self.conn.phase();
        let deadline = self.conn.deadline();
        let queued = self.stream.len();
        self.conn.handle_timeout(&now);
        self.observe("handle_timeout (not due)");
        assert_eq!(
            self.conn.phase(),
            phase,
            "a timer that was not due changed the phase"
        );
        assert_eq!(
            self.conn.deadline(),
            deadline,
            "a timer that was not due moved the deadline"
        );
        assert_eq!(
            self.stream.len(),
            queued,
            "a timer that was not due queued output"
        );
        assert!(
            !self.conn.has_request(),
            "a timer that was not due completed a request"
        );
    }

    // ---- the driver --------------------------------------------------------------

    /// What the reactor does after an event: route, deliver due `/delay` responses,
    /// fire a due timer, read while the connection wants input; until nothing moves.
    fn pump(&mut self) {
        loop {
            if self.closed() {
                return;
            }
            let mut moved = false;
            loop {
                let now = self.start + self.elapsed;
                let (stats, files) = (&self.stats, &self.files);
                let Some((seq, (seen, reply))) = self
                    .conn
                    .next_request(|request| (Seen::of(request), route(request, stats, files, now)))
                else {
                    break;
                };
                self.handle_reply(seq, seen, reply);
                moved = true;
            }
            moved |= self.deliver_due();
            if self.closed() {
                return;
            }
            let now = self.now();
            if self.conn.deadline().is_some_and(|d| d <= now.instant) {
                let was_open = self.conn.phase() == Phase::Open;
                self.conn.handle_timeout(&now);
                self.timed_out_while_open |= was_open;
                self.observe("handle_timeout");
                assert!(
                    self.closed() || self.conn.deadline().is_none_or(|d| d > now.instant),
                    "a due timer fired and the deadline is still due: the driver would spin"
                );
                moved = true;
            }
            if self.closed() {
                return;
            }
            if self.conn.wants_read() {
                if !self.queue.is_empty() {
                    let n = self.queue.len().min(READ_SIZE);
                    let bytes: Vec<u8> = self.queue.drain(..n).collect();
                    let now = self.now();
                    self.conn.handle_bytes(&bytes, &now);
                    self.observe("handle_bytes");
                    moved = true;
                } else if self.client_eof && !self.eof_delivered {
                    let now = self.now();
                    self.conn.handle_eof(&now);
                    self.eof_delivered = true;
                    self.observe("handle_eof");
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Routes one request with the real router; `/delay` waits for virtual time.
    fn handle_reply(&mut self, seq: u64, seen: Seen, reply: Reply) {
        assert_eq!(
            seq,
            self.requests.len() as u64,
            "request numbers are not consecutive"
        );
        self.requests.push(seen);
        match reply {
            Reply::Now(response) => {
                let now = self.now();
                self.conn.respond(seq, response, &now);
                self.observe("respond");
            }
            Reply::After(wait, response) => {
                self.deferred.push((self.elapsed + wait, seq, response));
            }
        }
    }

    /// Delivers the `/delay` responses whose time has come, earliest first.
    fn deliver_due(&mut self) -> bool {
        let mut delivered = false;
        while let Some(i) = (0..self.deferred.len())
            .filter(|&i| self.deferred[i].0 <= self.elapsed)
            .min_by_key(|&i| self.deferred[i].0)
        {
            let (_, seq, response) = self.deferred.remove(i);
            let now = self.now();
            self.conn.respond(seq, response, &now);
            self.observe("respond (deferred)");
            delivered = true;
            if self.closed() {
                break;
            }
        }
        delivered
    }

    /// The client sends what is left, closes its side and reads everything; time runs
    /// on until the connection closes.
    fn finish(&mut self) {
        let rest = self.client_data[self.client_pos..].to_vec();
        self.client_pos = self.client_data.len();
        self.send(&rest);
        self.client_eof = true;
        for _ in 0..MAX_CLOSING_TURNS {
            self.pump();
            self.read_everything();
            if self.closed() {
                return;
            }
            let now = self.now();
            let next_deferred = self.deferred.iter().map(|d| d.0).min();
            let next_timer = self
                .conn
                .deadline()
                .map(|d| d.saturating_duration_since(self.start));
            let Some(next) = [next_deferred, next_timer].into_iter().flatten().min() else {
                panic!(
                    "stuck: {:?} is not closed, has nothing to read, write or route, and \
                     no deadline (wants_read {}, queued input {}, at {:?})",
                    self.conn,
                    self.conn.wants_read(),
                    self.queue.len(),
                    now.instant - self.start
                );
            };
            // The client has sent everything, closed its side and read every byte:
            // only /delay responses and the lingering close may take time. Any other
            // timer (idle, head, body, write) would mean the connection missed the
            // EOF or stopped making progress on its own.
            if next_deferred.is_none() {
                assert!(
                    self.eof_delivered && self.conn.phase() == Phase::Linger,
                    "after the client closed and read everything, {:?} waits for a \
                     timer (EOF delivered: {}, wants_read {}, queued input {})",
                    self.conn,
                    self.eof_delivered,
                    self.conn.wants_read(),
                    self.queue.len()
                );
            }
            assert!(
                next > self.elapsed,
                "the next event at {next:?} is already due at {:?} after the driver ran",
                self.elapsed
            );
            self.elapsed = next;
        }
        panic!(
            "not closed after {MAX_CLOSING_TURNS} turns: {:?}",
            self.conn
        );
    }

    // ---- the checks ----------------------------------------------------------------

    /// After every call into the connection: the output it queued, and its bounds.
    fn observe(&mut self, after: &str) {
        assert!(
            self.conn.in_flight() <= MAX_IN_FLIGHT + 1,
            "{} requests in flight after {after}",
            self.conn.in_flight()
        );
        let pending: &[u8] = match self.conn.poll_output() {
            Some(Output::Bytes(bytes)) => bytes,
            Some(Output::File { .. }) => panic!("a file body without a file root"),
            None => &[],
        };
        let known = &self.stream[self.consumed..];
        // Queued bytes never change. Comparing all of them after every call would
        // make long pipelines quadratic, so above a few KiB only both ends are
        // compared: an off-by-n in consuming or compacting shows at the start.
        let n = known.len();
        let same = pending.len() >= n
            && if n <= COMPARE_ALL {
                pending[..n] == *known
            } else {
                pending[..COMPARE_ENDS] == known[..COMPARE_ENDS]
                    && pending[n - COMPARE_ENDS..n] == known[n - COMPARE_ENDS..]
            };
        assert!(same, "queued output changed after {after}");
        let new = pending[known.len()..].to_vec();
        if !new.is_empty() {
            assert!(
                !self.last_response_seen,
                "output after a closing response (after {after}): {:?}",
                String::from_utf8_lossy(&new)
            );
            assert_ne!(
                self.conn.phase(),
                Phase::Linger,
                "output queued while lingering (the write side is shut)"
            );
            self.stream.extend_from_slice(&new);
            self.parse_responses(after);
        }
        if self.conn.phase() == Phase::Linger {
            assert!(
                self.conn.poll_output().is_none() && !self.conn.wants_write(),
                "lingering with output still queued"
            );
        }
    }

    /// Parses the newly queued responses. Responses are queued whole, so the queue
    /// always ends at a response boundary.
    fn parse_responses(&mut self, after: &str) {
        while self.parsed < self.stream.len() {
            let start = self.parsed;
            // A response starts only while less than the high water mark is queued.
            let queued_before = start - self.consumed;
            assert!(
                queued_before < OUTPUT_HIGH_WATER,
                "a response was queued behind {queued_before} bytes of pending output \
                 (high water {OUTPUT_HIGH_WATER}) after {after}"
            );
            let rest = &self.stream[start..];
            if rest.starts_with(b"HTTP/1.1 1") {
                assert!(
                    rest.starts_with(CONTINUE),
                    "an interim response other than 100 Continue: {:?}",
                    String::from_utf8_lossy(&rest[..rest.len().min(200)])
                );
                self.interim += 1;
                assert_eq!(self.interim, 1, "two 100 Continue for one request");
                self.parsed += CONTINUE.len();
                continue;
            }
            let index = self.finals.len();
            let (response, len, close) = parse_final(
                rest,
                self.requests.get(index),
                self.interim,
                self.settings.keep_alive,
                after,
            );
            self.finals.push(response);
            assert!(
                self.finals.len() <= self.requests.len() + 1,
                "more responses than requests plus a rejection"
            );
            self.interim = 0;
            self.last_response_seen = close;
            self.parsed += len;
        }
    }

    // ---- the differential check ----------------------------------------------------

    /// The run is deterministic in its bytes alone: no timeout cut it short and the
    /// server was not shut down.
    fn comparable(&self) -> bool {
        !self.timed_out_while_open && !self.shut_down
    }

    /// The final responses without what legitimately varies: Date (virtual time) and
    /// the body of `/stats` (its counters depend on when it was asked).
    fn normalized(&self) -> Vec<Final> {
        self.finals
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if self.requests.get(i).is_some_and(|s| s.is_stats) && f.status == 200 {
                    Final {
                        status: f.status,
                        fields: f
                            .fields
                            .iter()
                            .filter(|(n, _)| !n.eq_ignore_ascii_case("content-length"))
                            .cloned()
                            .collect(),
                        body: Vec::new(),
                    }
                } else {
                    Final {
                        status: f.status,
                        fields: f.fields.clone(),
                        body: f.body.clone(),
                    }
                }
            })
            .collect()
    }
}

/// The real router, built-in site, except that `/spin/{ms}` does not burn `ms` of CPU
/// (it answers as `/spin/0` does).
fn route(request: &Request, stats: &Stats, files: &FileCache, now: Instant) -> Reply {
    if let Some(ms) = request.path().strip_prefix("/spin/") {
        let spins = !ms.is_empty()
            && ms.bytes().all(|b| b.is_ascii_digit())
            && ms
                .parse::<u64>()
                .is_ok_and(|v| (1..=MAX_SPIN_MS).contains(&v));
        if spins && matches!(request.method, Method::Get | Method::Head | Method::Post) {
            return Reply::Now(routes::builtin::spin("0"));
        }
    }
    let ctx = Ctx {
        model: Model::Reactor,
        root: None,
        stats,
        files,
        now,
        uptime: Duration::from_secs(1),
    };
    routes::route(request, &ctx)
}

/// Parses and checks one final response at the start of `rest`, the answer to
/// `request` (`None`: a rejection), after `interim` 100 Continue. Returns it, its
/// length, and whether it closes the connection.
fn parse_final(
    rest: &[u8],
    request: Option<&Seen>,
    interim: usize,
    keep_alive: bool,
    after: &str,
) -> (Final, usize, bool) {
    let shown = || String::from_utf8_lossy(&rest[..rest.len().min(300)]).into_owned();
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(rest) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "queued output is not a whole response after {after} ({other:?}): {:?}",
            shown()
        ),
    };
    assert_eq!(parsed.version, Some(1), "not HTTP/1.1: {:?}", shown());
    let status = parsed.code.unwrap_or(0);
    assert!(
        (200..600).contains(&status),
        "status {status}: {:?}",
        shown()
    );
    assert!(
        parsed.reason.is_some_and(|r| !r.is_empty()),
        "no reason phrase"
    );

    let named = |name: &str| -> Vec<&[u8]> {
        parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
            .collect()
    };
    assert_eq!(named("server").len(), 1, "Server: {:?}", shown());
    let dates = named("date");
    assert!(
        dates.len() == 1 && dates[0].len() == 29 && dates[0].ends_with(b" GMT"),
        "Date: {:?}",
        shown()
    );
    let lengths = named("content-length");
    let no_content = status == 204 || status == 304;
    let length = if no_content {
        assert!(
            lengths.is_empty(),
            "Content-Length on {status}: {:?}",
            shown()
        );
        0
    } else {
        assert_eq!(lengths.len(), 1, "Content-Length: {:?}", shown());
        std::str::from_utf8(lengths[0])
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("bad Content-Length: {:?}", shown()))
    };
    if length > 0 {
        assert_eq!(
            named("content-type").len(),
            1,
            "Content-Type: {:?}",
            shown()
        );
    }
    let connection = named("connection");
    assert!(
        connection.len() <= 1,
        "two Connection fields: {:?}",
        shown()
    );
    let close = connection.first().is_some_and(|v| *v == b"close");
    if let Some(v) = connection.first() {
        assert!(
            *v == b"close" || *v == b"keep-alive",
            "Connection: {:?}",
            shown()
        );
    }
    let ids = named("x-request-id");
    assert!(ids.len() <= 1, "two X-Request-Id fields: {:?}", shown());

    let head_request = match request {
        Some(seen) => {
            // The answer to a request the router saw.
            assert_eq!(
                ids.first().map(|v| v.to_vec()),
                seen.request_id,
                "X-Request-Id not echoed unchanged"
            );
            if interim > 0 {
                assert!(
                    seen.expect_continue,
                    "100 Continue before the response to a request that did not ask"
                );
            }
            if seen.wants_close || !keep_alive {
                assert!(close, "the request asked to close: {:?}", shown());
            }
            if seen.version == Version::Http10 && !close {
                assert!(
                    connection.first().is_some_and(|v| *v == b"keep-alive"),
                    "HTTP/1.0 keep-alive not confirmed: {:?}",
                    shown()
                );
            }
            seen.method == Method::Head
        }
        None => {
            // More responses than requests routed: only a rejection may be, once.
            assert!(
                status >= 400,
                "a response that answers no request: {:?}",
                shown()
            );
            assert!(
                close,
                "a rejection without Connection: close: {:?}",
                shown()
            );
            false
        }
    };
    let body_len = if head_request { 0 } else { length };
    assert!(
        rest.len() >= head_len + body_len,
        "queued output ends inside a body after {after}: {:?}",
        shown()
    );
    let fields = parsed
        .headers
        .iter()
        .filter(|h| !h.name.eq_ignore_ascii_case("date"))
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    let response = Final {
        status,
        fields,
        body: rest[head_len..head_len + body_len].to_vec(),
    };
    (response, head_len + body_len, close)
}
