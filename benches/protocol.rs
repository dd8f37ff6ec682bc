//! The protocol core's cost per request, with no sockets: parsing a head,
//! serializing a response, whole request/response cycles through `Connection` and
//! the router (what the reactor does per request, minus the syscalls), one request
//! per read and sixteen pipelined, and chunked body decoding.
//!
//! `cargo bench --bench protocol`

#[path = "common/rig.rs"]
mod rig;

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use reactor::config::Limits;
use reactor::protocol::body::{BodyDecoder, BodyFraming, BodyLimits};
use reactor::protocol::request::{parse_head, Parsed};
use reactor::protocol::response::{write_response, Framing, PreparedResponse};
use reactor::protocol::{DateCache, Response};
use rig::{Rig, BROWSER_REQUEST, WRK_FILE_REQUEST, WRK_REQUEST};

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
    // What a keep-alive answer to loadgen carries: the connection adds X-Request-Id.
    let framing = Framing {
        now: &now,
        close: false,
        confirm_keep_alive: false,
        head_request: false,
        request_id: Some(b"c12-3456"),
    };
    let mut out = Vec::with_capacity(512);
    let mut bench = |name: &str, response: &dyn Fn() -> Response| {
        c.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                write_response(&mut out, response(), &framing);
                out.len()
            })
        });
    };
    bench("serialize_hello", &|| Response::text(200, "Hello, world!"));
    // The same answer rendered once (what /hello and a cached file's 200 send).
    let prepared = Arc::new(PreparedResponse::new(&Response::text(200, "Hello, world!")));
    bench("serialize_prepared_hello", &|| {
        Response::prepared(black_box(&prepared))
    });
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
