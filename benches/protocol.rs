//! The protocol core's cost per request, with no sockets: parsing a head,
//! serializing a response, whole request/response cycles through `Connection` and
//! the router (what the reactor does per request, minus the syscalls), one request
//! per read and sixteen pipelined, and chunked body decoding.
//!
//! `cargo bench --bench protocol`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use reactor::config::{Limits, Model, Timeouts};
use reactor::protocol::body::{BodyDecoder, BodyFraming, BodyLimits};
use reactor::protocol::request::{parse_head, Parsed};
use reactor::protocol::response::{write_response, Framing};
use reactor::protocol::{Connection, DateCache, Now, Output, Response, Settings};
use reactor::routes::{self, Ctx, FileCache, Reply};
use reactor::stats::Stats;

/// What wrk sends.
const WRK_REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
/// What wrk sends in the peers benchmark: a small static file.
const WRK_FILE_REQUEST: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
/// What a browser sends.
const BROWSER_REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nX-Request-Id: c12-3456\r\n\r\n";

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse_head");
    for (name, raw) in [("wrk", WRK_REQUEST), ("browser", BROWSER_REQUEST)] {
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| match parse_head(black_box(raw), &limits) {
                Ok(Parsed::Complete { consumed, .. }) => consumed,
                _ => unreachable!(),
            })
        });
    }
    group.finish();
}

fn serialize(c: &mut Criterion) {
    let now = DateCache::new().now(Instant::now(), UNIX_EPOCH + Duration::from_secs(1));
    let mut out = Vec::with_capacity(512);
    c.bench_function("serialize_hello", |b| {
        b.iter(|| {
            out.clear();
            let framing = Framing {
                now: &now,
                close: false,
                confirm_keep_alive: false,
                head_request: false,
                request_id: Some(b"c12-3456"),
            };
            write_response(&mut out, Response::text(200, "Hello, world!"), &framing);
            out.len()
        })
    });
}

/// A connection and the router around it, driven as the reactor drives them.
struct Rig {
    conn: Connection,
    stats: Arc<Stats>,
    files: FileCache,
    root: PathBuf,
    now: Now,
    start: Instant,
}

impl Rig {
    /// Serves the built-in site and, under /, a directory holding `hello.txt`.
    fn new() -> Self {
        let settings = Settings {
            limits: Limits {
                max_requests_per_connection: u64::MAX,
                ..Limits::default()
            },
            timeouts: Timeouts::default(),
            keep_alive: true,
        };
        let stats = Arc::new(Stats::default());
        let start = Instant::now();
        let root = std::env::temp_dir().join(format!("reactor-bench-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("hello.txt"), "Hello, world!").unwrap();
        Self {
            conn: Connection::new(settings, Arc::clone(&stats), None, 0, start),
            stats,
            files: FileCache::new(Duration::from_secs(3600)),
            root: root.canonicalize().unwrap(),
            now: DateCache::new().now(start, UNIX_EPOCH + Duration::from_secs(1)),
            start,
        }
    }

    /// Feeds `input` as one read, routes every request, and drains the output as
    /// one write would; returns the bytes sent.
    fn exchange(&mut self, input: &[u8], with_root: bool) -> usize {
        let ctx = Ctx {
            model: Model::Reactor,
            root: with_root.then_some(self.root.as_path()),
            stats: &self.stats,
            files: &self.files,
            now: self.start,
            uptime: Duration::ZERO,
        };
        self.conn.handle_bytes(input, &self.now);
        let mut sent = 0;
        loop {
            while let Some(req) = self.conn.poll_request() {
                if let Reply::Now(response) = routes::route(&req, &ctx) {
                    self.conn.respond(req.seq, response, &self.now);
                }
            }
            let Some(Output::Bytes(bytes)) = self.conn.poll_output() else {
                break;
            };
            let n = bytes.len();
            sent += n;
            self.conn.consume_output(n, &self.now);
        }
        sent
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Parse + route + serialize, one request per read (keep-alive), and sixteen per
/// read (pipelined, answered with one write): the core's cost per request.
fn cycle(c: &mut Criterion) {
    let mut rig = Rig::new();
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Elements(1));
    group.bench_function("keep_alive/hello", |b| {
        b.iter(|| rig.exchange(black_box(WRK_REQUEST), false))
    });
    group.bench_function("keep_alive/file_cached", |b| {
        b.iter(|| rig.exchange(black_box(WRK_FILE_REQUEST), true))
    });
    let batch = WRK_FILE_REQUEST.repeat(16);
    group.throughput(Throughput::Elements(16));
    group.bench_function("pipelined_16/file_cached", |b| {
        b.iter(|| rig.exchange(black_box(&batch), true))
    });
    group.finish();
}

/// Chunked request bodies: 64 KiB in 1 KiB chunks with extensions, decoded as it
/// arrives in 1 500-byte reads.
fn chunked(c: &mut Criterion) {
    let mut body = Vec::new();
    for _ in 0..64 {
        body.extend_from_slice(b"400;ext=1\r\n");
        body.extend_from_slice(&[b'x'; 1024]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let limits = BodyLimits {
        max_body: u64::MAX,
        max_metadata: usize::MAX,
    };
    let mut group = c.benchmark_group("body");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("chunked_64k", |b| {
        b.iter(|| {
            let mut decoder = BodyDecoder::new(BodyFraming::Chunked, limits);
            for read in body.chunks(1500) {
                let mut rest = read;
                while !rest.is_empty() {
                    let progress = decoder.decode(black_box(rest)).unwrap();
                    rest = &rest[progress.consumed..];
                    if progress.done {
                        break;
                    }
                }
            }
            assert!(decoder.is_done());
            decoder.received()
        })
    });
    group.finish();
}

criterion_group!(benches, parse, serialize, cycle, chunked);
criterion_main!(benches);
