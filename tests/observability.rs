//! What the server tells whoever runs it, over a real socket, in every model: the
//! same in each, so the models can be compared by it.
//!
//! - `/stats` is JSON with every field (model, uptime, connections, requests,
//!   responses by class, bytes, poll wake-ups, threads), counting what was done: one
//!   connection, three requests, a 100 Continue as a 1xx response; the reactor and
//!   uring report one thread;
//! - `X-Request-Id` comes back unchanged, once, on every response, and only when
//!   sent;
//! - `RUST_LOG=info` writes one access line per request (Common Log Format plus the
//!   response time); `--stats-interval` logs a line of counters periodically.
//!
//! Not an RFC's rules but the project's; docs/inspect.md shows them in use.

mod common;

use std::time::{Duration, Instant};

use common::{get, Server};

fn stats_json_has_every_field(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    client.request(&get("/hello", &[]));
    client.request(&get("/nope", &[]));
    let r = client.request(&get("/stats", &[]));
    check!(r, r.status == 200, "/stats");
    check!(
        r,
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "/stats is JSON"
    );
    let json: serde_json::Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("/stats is not JSON ({e}): {}", r.text()));
    assert_eq!(json["model"], model, "{json}");
    let number = |path: &[&str]| -> f64 {
        let mut v = &json;
        for key in path {
            v = &v[key];
        }
        v.as_f64()
            .unwrap_or_else(|| panic!("/stats lacks a number at {path:?}: {json}"))
    };
    assert!(number(&["uptime_s"]) >= 0.0);
    assert!(number(&["connections", "open"]) >= 1.0, "{json}");
    assert_eq!(number(&["connections", "accepted"]), 1.0, "{json}");
    assert_eq!(number(&["connections", "closed"]), 0.0, "{json}");
    assert_eq!(number(&["requests"]), 3.0, "{json}");
    assert!(number(&["responses", "1xx"]) == 0.0, "{json}");
    assert!(number(&["responses", "2xx"]) >= 1.0, "{json}");
    assert!(number(&["responses", "3xx"]) == 0.0, "{json}");
    assert!(number(&["responses", "4xx"]) >= 1.0, "{json}");
    assert!(number(&["responses", "5xx"]) == 0.0, "{json}");
    assert!(number(&["bytes", "in"]) > 0.0, "{json}");
    assert!(number(&["bytes", "out"]) > 0.0, "{json}");
    assert!(number(&["poll", "wakeups"]) >= 0.0, "{json}");
    assert!(number(&["poll", "events"]) >= 0.0, "{json}");
    assert!(number(&["poll", "events_per_wakeup"]) >= 0.0, "{json}");
    let live = number(&["threads_live"]);
    assert!(live >= 1.0, "{json}");
    assert!(number(&["threads_peak"]) >= live, "{json}");
    if model == "reactor" || model == "uring" {
        assert_eq!(live, 1.0, "the {model} is one thread: {json}");
        assert!(number(&["poll", "wakeups"]) >= 1.0, "{json}");
    }
}

fn stats_count_interim_responses(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
    );
    assert_eq!(client.read_response().status, 100);
    client.send(b"hi");
    assert_eq!(client.read_response().status, 200);
    let r = client.request(&get("/stats", &[]));
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("stats JSON");
    assert_eq!(
        json["responses"]["1xx"], 1,
        "the 100 Continue sent is a 1xx response: {json}"
    );
}

fn request_id_is_echoed_unchanged(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let id = "Ab-09_~.:/=+ x\t;\"ü";
    for path in ["/hello", "/nope", "/delay/5"] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\nX-Request-Id: {id}\r\n\r\n");
        let r = client.request(raw.as_bytes());
        check!(
            r,
            r.header("x-request-id") == Some(id),
            "{path}: id changed"
        );
        check!(
            r,
            r.headers_named("x-request-id").len() == 1,
            "{path}: one id"
        );
    }
    let r = client.request(&get("/hello", &["x-request-id: lower-case-name"]));
    check!(
        r,
        r.header("x-request-id") == Some("lower-case-name"),
        "field names are case-insensitive"
    );
    let r = client.request(&get("/hello", &[]));
    check!(r, r.header("x-request-id").is_none(), "no id, no echo");
}

/// `RUST_LOG=info` writes one access line per request, the same in every model:
/// Common Log Format plus the response time.
fn access_log_line_per_request(model: &str) {
    let server = Server::start_with_env(model, &[], &[("RUST_LOG", "info")]);
    let r = server.request(&get("/hello?x=1", &["Connection: close"]));
    assert_eq!(r.status, 200);
    let r = server.request(&get("/missing", &["Connection: close"]));
    assert_eq!(r.status, 404);
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let logs = server.logs();
        let lines: Vec<String> = logs
            .lines()
            .filter(|l| l.contains("reactor::access"))
            .map(str::to_string)
            .collect();
        if lines.len() >= 2 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(lines.len(), 2, "{model}: {lines:?}");
    assert!(
        lines[0].contains("127.0.0.1 - - [")
            && lines[0].contains("\"GET /hello?x=1 HTTP/1.1\" 200 13 "),
        "{model}: {}",
        lines[0]
    );
    assert!(
        lines[0].ends_with("ms"),
        "{model}: response time: {}",
        lines[0]
    );
    assert!(
        lines[1].contains("\"GET /missing HTTP/1.1\" 404 "),
        "{model}: {}",
        lines[1]
    );
}

/// `--stats-interval` logs a line of counters periodically, in every model.
fn stats_interval_logs_counters(model: &str) {
    let server = Server::start(model, &["--stats-interval", "200ms"]);
    for _ in 0..5 {
        assert_eq!(
            server
                .request(&get("/hello", &["Connection: close"]))
                .status,
            200
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let lines: Vec<String> = server
            .logs()
            .lines()
            .filter(|l| l.contains("stats: "))
            .map(str::to_string)
            .collect();
        if lines.len() >= 2 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(lines.len() >= 2, "{model}: {lines:?}");
    let line = &lines[0];
    for part in [
        " req/s, ",
        " open connections, ",
        " wake-ups/s, ",
        " events/wake-up, ",
        " threads",
    ] {
        assert!(line.contains(part), "{model}: {line}");
    }
}

for_each_model!(
    stats_json_has_every_field,
    stats_count_interim_responses,
    request_id_is_echoed_unchanged,
    access_log_line_per_request,
    stats_interval_logs_counters,
);
