//! The harness for the protocol core in memory (protocol.rs, protocol_rejections.rs):
//! a `protocol::Connection` driven exactly as the drivers do (bytes in, requests to
//! the real router, responses back, output drained), on a virtual clock.
//!
//! Rule: no sockets, no threads, no sleep. Time moves only by [`Harness::advance`],
//! and the wall clock is fixed, so the same input always gives the same bytes.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use reactor::config::{Limits, Model, Timeouts};
use reactor::protocol::{Connection, DateCache, Now, Output, Response, Settings};
use reactor::routes::{self, Ctx, FileCache, Reply};
use reactor::stats::Stats;

/// A connection and a virtual clock.
pub struct Harness {
    pub conn: Connection,
    pub stats: Arc<Stats>,
    pub start: Instant,
    pub elapsed: Duration,
    pub dates: DateCache,
    /// Deferred responses not yet due: (due at, seq, response).
    pub deferred: Vec<(Duration, u64, Response)>,
    pub files: FileCache,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(settings())
    }

    pub fn with(settings: Settings) -> Self {
        let stats = Arc::new(Stats::default());
        let start = Instant::now();
        Self {
            conn: Connection::new(settings, stats.register(), None, 1, start),
            stats,
            start,
            elapsed: Duration::ZERO,
            dates: DateCache::new(),
            deferred: Vec::new(),
            files: FileCache::new(Duration::ZERO),
        }
    }

    /// The virtual time, with a fixed wall clock so output is byte-identical.
    pub fn now(&mut self) -> Now {
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000) + self.elapsed;
        self.dates.now(self.start + self.elapsed, wall)
    }

    pub fn advance(&mut self, by: Duration) {
        self.elapsed += by;
        let now = self.now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|(at, _, _)| *at <= self.elapsed);
        self.deferred = later;
        for (_, seq, response) in due {
            self.conn.respond(seq, response, &now);
        }
        if self.conn.deadline().is_some_and(|d| d <= now.instant) {
            self.conn.handle_timeout(&now);
        }
        self.route_all();
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        let now = self.now();
        self.conn.handle_bytes(bytes, &now);
        self.route_all();
    }

    pub fn eof(&mut self) {
        let now = self.now();
        self.conn.handle_eof(&now);
        self.route_all();
    }

    /// Routes every complete request with the real router. Deferred replies wait
    /// for `advance`.
    pub fn route_all(&mut self) {
        loop {
            let ctx = Ctx {
                model: Model::Reactor,
                root: None,
                stats: &self.stats,
                files: &self.files,
                now: self.start + self.elapsed,
                uptime: Duration::from_secs(1),
            };
            let Some((seq, reply)) = self.conn.next_request(|req| routes::route(req, &ctx)) else {
                return;
            };
            match reply {
                Reply::Now(response) => {
                    let now = self.now();
                    self.conn.respond(seq, response, &now);
                }
                Reply::After(wait, response) => {
                    self.deferred.push((self.elapsed + wait, seq, response));
                }
            }
        }
    }

    /// Takes all pending output, as a socket with unlimited room would.
    pub fn drain(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let n = match self.conn.poll_output() {
                Some(Output::Bytes(bytes)) => {
                    all.extend_from_slice(bytes);
                    bytes.len()
                }
                Some(Output::File { .. }) => panic!("no files in these tests"),
                None => break,
            };
            let now = self.now();
            self.conn.consume_output(n, &now);
            self.route_all();
        }
        all
    }

    /// Runs deferred responses to completion and returns everything sent.
    pub fn drain_all(&mut self) -> Vec<u8> {
        let mut all = self.drain();
        while !self.deferred.is_empty() {
            self.advance(Duration::from_millis(1));
            all.extend(self.drain());
        }
        all
    }
}

pub fn settings() -> Settings {
    Settings {
        limits: Limits::default(),
        timeouts: Timeouts::default(),
        keep_alive: true,
    }
}

/// Status codes of every response in `output`, in order.
pub fn statuses(output: &[u8]) -> Vec<u16> {
    responses(output).into_iter().map(|r| r.0).collect()
}

/// (status, head text, body) of every response in `output`.
pub fn responses(output: &[u8]) -> Vec<(u16, String, Vec<u8>)> {
    let mut rest = output;
    let mut found = Vec::new();
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "unparsable output {other:?}: {:?}",
                String::from_utf8_lossy(rest)
            ),
        };
        let status = response.code.unwrap_or(0);
        let length = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .map(|h| {
                std::str::from_utf8(h.value)
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            })
            .unwrap_or(0);
        let head = String::from_utf8_lossy(&rest[..head_len]).into_owned();
        // HEAD responses carry a length but no body; the tests that send HEAD say so.
        let body_len = if head.contains("X-Head: yes") {
            0
        } else {
            length
        };
        let body = rest[head_len..head_len + body_len].to_vec();
        found.push((status, head, body));
        rest = &rest[head_len + body_len..];
    }
    found
}

pub fn get(path: &str, id: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nX-Request-Id: {id}\r\n\r\n")
}

/// Feeds `input` to a fresh [`Harness`] cut at `cuts`, draining after each piece,
/// and returns everything it sent.
pub fn run_split(input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut h = Harness::new();
    let mut out = Vec::new();
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(last, input.len());
        h.feed(&input[last..cut]);
        out.extend(h.drain());
        last = cut;
    }
    out.extend(h.drain_all());
    out
}
