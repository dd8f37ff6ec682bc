//! The protocol core in memory: no sockets, no threads, a virtual clock.
//!
//! These tests drive `protocol::Connection` through the harness (tests/harness/)
//! exactly as the drivers do (bytes in, requests to the real router, responses back,
//! output drained), so every rule is checked without I/O: any split of the input gives
//! the same bytes, pipelines are answered in order (RFC 9112 §9.3.2), keep-alive
//! (§9.3, §9.6), 100-continue (RFC 9110 §10.1.1), backpressure and every timeout.
//! The rejection rules and size limits are protocol_rejections.rs.

mod harness;

use std::time::Duration;

use proptest::prelude::*;
use reactor::config::{Limits, Timeouts};
use reactor::protocol::connection::{MAX_IN_FLIGHT, OUTPUT_HIGH_WATER};
use reactor::protocol::{Output, Phase, Settings};

use harness::{get, responses, run_split, settings, statuses, Harness};

// ---- splitting ----------------------------------------------------------------------

/// A pipeline exercising every framing: plain, Content-Length, chunked with
/// extensions and trailers, HTTP/1.0 keep-alive, a deferred response, and a close.
fn corpus() -> Vec<u8> {
    let mut input = String::new();
    input += &get("/hello", "a");
    input += "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nX-Request-Id: b\r\n\r\nhello";
    input +=
        "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nX-Request-Id: c\r\n\r\n\
              4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: yes\r\n\r\n";
    input += &get("/delay/5", "d");
    input += "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\nX-Request-Id: e\r\n\r\n";
    input += &get("/nope", "f");
    input += "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Request-Id: g\r\n\r\n";
    input.into_bytes()
}

#[test]
fn the_corpus_is_answered_in_order() {
    let out = run_split(&corpus(), &[]);
    let all = responses(&out);
    let ids: Vec<String> = all
        .iter()
        .map(|(_, head, _)| {
            head.lines()
                .find_map(|l| l.strip_prefix("X-Request-Id: "))
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["a", "b", "c", "d", "e", "f", "g"]);
    assert_eq!(statuses(&out), [200, 200, 200, 200, 200, 404, 200]);
    assert!(String::from_utf8_lossy(&all[1].2).contains("body-length: 5"));
    assert!(String::from_utf8_lossy(&all[2].2).contains("body-length: 9"));
    assert!(all[4].1.contains("Connection: keep-alive"));
    assert!(all[6].1.contains("Connection: close"));
}

#[test]
fn one_byte_at_a_time_gives_the_same_bytes() {
    let input = corpus();
    let whole = run_split(&input, &[]);
    let every: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run_split(&input, &every), whole);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Feeding the same bytes split at arbitrary points yields identical output.
    #[test]
    fn any_split_gives_the_same_bytes(mut cuts in proptest::collection::vec(0usize..600, 0..12)) {
        let input = corpus();
        cuts.sort_unstable();
        prop_assert_eq!(run_split(&input, &cuts), run_split(&input, &[]));
    }

    /// Whatever the pipeline, responses come back one per request, in order.
    #[test]
    fn pipelines_are_answered_in_order(paths in proptest::collection::vec(
        prop_oneof![Just("/hello"), Just("/echo"), Just("/delay/3"), Just("/delay/1"), Just("/missing")],
        1..60,
    )) {
        let mut input = String::new();
        for (i, path) in paths.iter().enumerate() {
            input += &get(path, &format!("id-{i}"));
        }
        let out = run_split(input.as_bytes(), &[]);
        let all = responses(&out);
        prop_assert_eq!(all.len(), paths.len());
        for (i, (_, head, _)) in all.iter().enumerate() {
            let expected = format!("X-Request-Id: id-{i}\r\n");
            prop_assert!(head.contains(&expected), "response {} is {}", i, head);
        }
    }
}

// ---- keep-alive and order -------------------------------------------------------------------

#[test]
fn keep_alive_rules_follow_rfc_9112() {
    // HTTP/1.1 keeps the connection open by default.
    let mut h = Harness::new();
    h.feed(get("/hello", "1").as_bytes());
    let out = String::from_utf8(h.drain()).unwrap();
    assert!(!out.contains("Connection:"));
    assert_eq!(h.conn.phase(), Phase::Open);

    // HTTP/1.0 closes unless asked.
    let mut h = Harness::new();
    h.feed(b"GET /hello HTTP/1.0\r\n\r\n");
    assert!(String::from_utf8(h.drain())
        .unwrap()
        .contains("Connection: close"));
    assert_eq!(h.conn.phase(), Phase::Closed);

    // --no-keep-alive closes every connection after one response.
    let mut h = Harness::with(Settings {
        keep_alive: false,
        ..settings()
    });
    h.feed(format!("{}{}", get("/hello", "1"), get("/hello", "2")).as_bytes());
    assert_eq!(statuses(&h.drain_all()), [200]);
    assert_ne!(h.conn.phase(), Phase::Open);
}

#[test]
fn the_last_output_is_known_before_it_is_written() {
    // A driver holds the last segment back for the FIN (MSG_MORE) only when nothing
    // can follow it: not on a keep-alive exchange, nor while a response is awaited.
    let mut h = Harness::new();
    h.feed(get("/hello", "1").as_bytes());
    assert!(!h.conn.output_is_last(), "keep-alive: more may follow");
    h.drain();
    let mut h = Harness::new();
    h.feed(b"GET /delay/10 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert!(!h.conn.output_is_last(), "the response is not queued yet");
    h.advance(Duration::from_millis(20));
    assert!(h.conn.output_is_last(), "Connection: close, answered");
    assert!(h.conn.wants_write());
    h.drain();
    assert_eq!(h.conn.phase(), Phase::Closed);
}

#[test]
fn the_request_cap_closes_the_connection() {
    let mut h = Harness::with(Settings {
        limits: Limits {
            max_requests_per_connection: 2,
            ..Limits::default()
        },
        ..settings()
    });
    let three: String = (0..3).map(|i| get("/hello", &i.to_string())).collect();
    h.feed(three.as_bytes());
    let out = h.drain_all();
    let all = responses(&out);
    assert_eq!(all.len(), 2);
    assert!(all[1].1.contains("Connection: close"));
}

#[test]
fn a_late_response_holds_back_the_ones_behind_it() {
    let mut h = Harness::new();
    h.feed(format!("{}{}", get("/delay/50", "slow"), get("/hello", "fast")).as_bytes());
    assert!(
        h.drain().is_empty(),
        "the fast response must wait for the slow one"
    );
    h.advance(Duration::from_millis(50));
    let out = h.drain();
    let all = responses(&out);
    assert!(all[0].1.contains("X-Request-Id: slow"));
    assert!(all[1].1.contains("X-Request-Id: fast"));
}

#[test]
fn half_close_still_gets_the_response() {
    let mut h = Harness::new();
    h.feed(get("/delay/10", "x").as_bytes());
    h.eof();
    assert_eq!(h.conn.phase(), Phase::Open);
    let out = h.drain_all();
    assert_eq!(statuses(&out), [200]);
    assert_eq!(h.conn.phase(), Phase::Closed);
}

#[test]
fn a_body_cut_short_by_eof_is_400() {
    let mut h = Harness::new();
    h.feed(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    h.eof();
    assert_eq!(statuses(&h.drain_all()), [400]);
}

#[test]
fn head_gets_headers_but_no_body() {
    let mut h = Harness::new();
    h.feed(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    let out = String::from_utf8(h.drain()).unwrap();
    assert!(out.contains("Content-Length: 13\r\n"));
    assert!(out.ends_with("\r\n\r\n"), "{out}");
}

// ---- 100-continue ---------------------------------------------------------------------------

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let mut h = Harness::new();
    h.feed(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(h.drain(), b"HTTP/1.1 100 Continue\r\n\r\n");
    h.feed(b"abc");
    let out = String::from_utf8(h.drain()).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"));
    assert!(out.contains("body-length: 3"));
}

#[test]
fn expect_100_continue_waits_for_earlier_responses() {
    let mut h = Harness::new();
    h.feed(get("/delay/20", "first").as_bytes());
    h.feed(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    assert!(
        h.drain().is_empty(),
        "100 must not overtake the earlier response"
    );
    h.advance(Duration::from_millis(20));
    let out = String::from_utf8(h.drain()).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"));
    assert!(out.ends_with("HTTP/1.1 100 Continue\r\n\r\n"), "{out}");
}

#[test]
fn expect_100_continue_over_the_limit_gets_413_instead() {
    let mut h = Harness::with(Settings {
        limits: Limits {
            max_body: 10,
            ..Limits::default()
        },
        ..settings()
    });
    h.feed(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\nExpect: 100-continue\r\n\r\n");
    let out = h.drain();
    assert_eq!(statuses(&out), [413]);
    assert!(!String::from_utf8_lossy(&out).contains("100 Continue"));
}

// ---- backpressure ---------------------------------------------------------------------------

#[test]
fn a_client_that_never_reads_is_bounded() {
    let mut h = Harness::new();
    let request = get("/hello", "p");
    let mut fed = 0;
    // Feed pipelined requests while the connection wants them, never draining output.
    for _ in 0..10_000 {
        if !h.conn.wants_read() {
            break;
        }
        h.feed(request.as_bytes());
        fed += 1;
        assert!(h.conn.in_flight() <= MAX_IN_FLIGHT + 1);
    }
    assert!(fed < 10_000, "the connection must stop asking for input");
    let pending = match h.conn.poll_output() {
        Some(Output::Bytes(b)) => b.len(),
        _ => 0,
    };
    assert!(
        pending <= OUTPUT_HIGH_WATER + 4096,
        "pending output {pending}"
    );
    // Draining lets it go on, and every request fed is answered in order.
    let out = h.drain_all();
    assert_eq!(statuses(&out).len(), fed);
    assert!(h.conn.wants_read());
}

/// Thousands of keep-alive connections may sit idle: once everything is answered
/// and sent, a connection holds no buffers, whatever it served before.
#[test]
fn an_idle_connection_gives_its_buffers_back() {
    let mut h = Harness::new();
    assert_eq!(
        h.conn.buffered_bytes(),
        0,
        "a new connection allocates nothing"
    );
    let batch = get("/hello", "b").repeat(20);
    // Split so part of a head is buffered, then the rest arrives.
    h.feed(&batch.as_bytes()[..batch.len() - 5]);
    assert!(h.conn.buffered_bytes() > 0);
    h.feed(&batch.as_bytes()[batch.len() - 5..]);
    assert_eq!(statuses(&h.drain_all()).len(), 20);
    assert_eq!(h.conn.buffered_bytes(), 0, "idle after the batch");
    // A request the client has only started keeps its bytes.
    h.feed(b"GET /hel");
    assert!(h.conn.buffered_bytes() > 0);
}

// ---- timeouts (virtual clock: nothing sleeps) ---------------------------------------------

#[test]
fn a_dribbled_head_gets_408_at_the_header_timeout() {
    let mut h = Harness::new();
    h.feed(b"GET /hello HTTP/1.1\r\nHo");
    let deadline = h.conn.deadline().expect("a head timer");
    assert_eq!(deadline - h.start, Timeouts::default().header);
    // More dribbling does not extend the head deadline.
    h.advance(Duration::from_secs(5));
    h.feed(b"st");
    assert_eq!(h.conn.deadline(), Some(deadline));
    h.advance(Duration::from_secs(5));
    assert_eq!(statuses(&h.drain()), [408]);
    assert_ne!(h.conn.phase(), Phase::Open);
}

#[test]
fn a_stalled_body_gets_408() {
    let mut h = Harness::new();
    h.feed(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    h.advance(Timeouts::default().header);
    assert_eq!(statuses(&h.drain()), [408]);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_quietly() {
    let mut h = Harness::new();
    h.feed(get("/hello", "1").as_bytes());
    h.drain();
    h.advance(Timeouts::default().idle - Duration::from_millis(1));
    assert_eq!(h.conn.phase(), Phase::Open);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.conn.phase(), Phase::Closed);
    assert!(h.drain().is_empty(), "no response to an idle close");
}

#[test]
fn a_client_that_stops_reading_is_dropped_at_the_write_timeout() {
    let mut h = Harness::new();
    h.feed(get("/hello", "1").as_bytes());
    assert!(h.conn.wants_write());
    h.advance(Timeouts::default().write);
    assert_eq!(h.conn.phase(), Phase::Closed);
}

#[test]
fn a_rejected_connection_lingers_then_closes() {
    let mut h = Harness::new();
    h.feed(b"GET / HTTP/9.9\r\n\r\n");
    h.drain();
    assert_eq!(h.conn.phase(), Phase::Linger);
    h.feed(b"more junk the client was still sending");
    assert_eq!(h.conn.phase(), Phase::Linger);
    h.advance(Timeouts::default().linger);
    assert_eq!(h.conn.phase(), Phase::Closed);
}

#[test]
fn shutdown_finishes_in_flight_requests_then_closes() {
    let mut h = Harness::new();
    h.feed(get("/delay/30", "in-flight").as_bytes());
    let now = h.now();
    h.conn.handle_shutdown(&now);
    assert_eq!(h.conn.phase(), Phase::Open);
    let out = h.drain_all();
    let all = responses(&out);
    assert_eq!(all.len(), 1);
    assert!(all[0].1.contains("Connection: close"));
    assert_eq!(h.conn.phase(), Phase::Closed);
}

#[test]
fn the_date_header_is_an_input() {
    let mut h = Harness::new();
    h.feed(get("/hello", "1").as_bytes());
    let out = String::from_utf8(h.drain()).unwrap();
    assert!(
        out.contains("Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n"),
        "{out}"
    );
}
