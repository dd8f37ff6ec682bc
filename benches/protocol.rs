//! The protocol core's cost per request, with no sockets: parsing a head,
//! serializing a response, and a whole keep-alive request/response cycle through
//! `Connection` (what the reactor does per request, minus the two syscalls).
//!
//! `cargo bench --bench protocol`

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use reactor::config::{Limits, Model, Timeouts};
use reactor::protocol::request::{parse_head, Parsed};
use reactor::protocol::response::{write_response, Framing};
use reactor::protocol::{Connection, DateCache, Output, Response, Settings};
use reactor::routes::{self, Ctx, FileCache, Reply};
use reactor::stats::Stats;

/// What wrk sends.
const WRK_REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
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

fn cycle(c: &mut Criterion) {
    let stats = Arc::new(Stats::default());
    let settings = Settings {
        limits: Limits {
            max_requests_per_connection: u64::MAX,
            ..Limits::default()
        },
        timeouts: Timeouts::default(),
        keep_alive: true,
    };
    let start = Instant::now();
    let mut conn = Connection::new(settings, Arc::clone(&stats), None, 0, start);
    let mut dates = DateCache::new();
    let now = dates.now(start, UNIX_EPOCH + Duration::from_secs(1));
    let files = FileCache::new(Duration::ZERO);
    let ctx = Ctx {
        model: Model::Reactor,
        root: None,
        stats: &stats,
        files: &files,
        now: start,
        uptime: Duration::ZERO,
    };
    c.bench_function("keep_alive_cycle_hello", |b| {
        b.iter(|| {
            conn.handle_bytes(black_box(WRK_REQUEST), &now);
            while let Some(req) = conn.poll_request() {
                if let Reply::Now(response) = routes::route(&req, &ctx) {
                    conn.respond(req.seq, response, &now);
                }
            }
            let mut sent = 0;
            while let Some(Output::Bytes(bytes)) = conn.poll_output() {
                let n = bytes.len();
                sent += n;
                conn.consume_output(n, &now);
            }
            sent
        })
    });
}

criterion_group!(benches, parse, serialize, cycle);
criterion_main!(benches);
