//! Persistent connections and pipelining over a real socket, in every model
//! (RFC 9112 §9.3, §9.6, Appendix C.2.2; RFC 9110 §7.6.1).
//!
//! - HTTP/1.1 keeps the connection by default, HTTP/1.0 closes unless it sends
//!   `Connection: keep-alive`, which is then confirmed (RFC 9112 §9.3, C.2.2);
//! - `close` in Connection, as any token of the list and in any case, is the last
//!   response, and nothing after it is answered (§9.6); `--no-keep-alive` and
//!   `--max-requests-per-connection` close where they say;
//! - a client that half-closes after its requests still gets every response;
//! - pipelined requests (§9.3.2) are answered in order, a hundred in one write and
//!   slow ones ahead of fast ones; a rejected request in a pipeline is answered
//!   after those before it, then the connection closes;
//! - the iterative model serves a second client only once the first has gone; the
//!   others serve both at once (the one test here with two connections open).
//!
//! The idle timeout between requests is limits.rs.

mod common;

use std::time::Duration;

use common::{assert_short_text_error, echoed_body_length, get, request, Server};

fn http11_keeps_alive_by_default(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let first = client.request(&get("/hello", &[]));
    check!(first, first.status == 200, "first");
    check!(first, !first.connection_has("close"), "first stays open");
    let stats = client.request(&get("/stats", &[]));
    check!(stats, stats.status == 200, "second on the same connection");
    let json: serde_json::Value = serde_json::from_slice(&stats.body).expect("stats JSON");
    assert_eq!(
        json["connections"]["accepted"], 1,
        "both requests used one connection: {json}"
    );
}

fn http10_closes_by_default(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let r = client.request(b"GET /hello HTTP/1.0\r\n\r\n");
    check!(
        r,
        r.status == 200 && r.body == b"Hello, world!",
        "HTTP/1.0 GET"
    );
    check!(r, r.version == 1, "the server answers as HTTP/1.1");
    check!(r, r.connection_has("close"), "HTTP/1.0 closes by default");
    client.expect_close();
}

fn http10_keep_alive_is_confirmed(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let ka = b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    for i in 0..2 {
        let r = client.request(ka);
        check!(r, r.status == 200, "HTTP/1.0 keep-alive #{i}");
        check!(
            r,
            r.connection_has("keep-alive"),
            "HTTP/1.0 keep-alive must be confirmed"
        );
    }
    // Without the token, the third closes.
    let r = client.request(b"GET /hello HTTP/1.0\r\n\r\n");
    check!(r, r.connection_has("close"), "plain HTTP/1.0 closes");
    client.expect_close();
}

fn connection_close_is_honoured(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let r = client.request(&get("/hello", &["Connection: close"]));
    check!(r, r.status == 200, "Connection: close");
    check!(r, r.connection_has("close"), "response says close");
    client.expect_close();

    // Also as one token of several, in any case.
    let mut client = server.client();
    let r = client.request(&get("/hello", &["Connection: TE, Close"]));
    check!(r, r.connection_has("close"), "Connection: TE, Close");
    client.expect_close();
}

fn close_request_ends_a_pipeline(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let mut raw = get("/hello", &["X-Request-Id: 1"]);
    raw.extend(get("/hello", &["X-Request-Id: 2", "Connection: close"]));
    raw.extend(get("/hello", &["X-Request-Id: 3"]));
    client.send(&raw);
    let r1 = client.read_response();
    let r2 = client.read_response();
    check!(r1, r1.header("x-request-id") == Some("1"), "first");
    check!(r2, r2.header("x-request-id") == Some("2"), "second");
    check!(r2, r2.connection_has("close"), "second closes");
    // The request after `Connection: close` is not answered.
    client.expect_close();
}

fn no_keep_alive_flag_closes_every_response(model: &str) {
    let server = Server::start(model, &["--no-keep-alive"]);
    for version in ["HTTP/1.1", "HTTP/1.0"] {
        let mut client = server.client();
        let raw = format!("GET /hello {version}\r\nHost: test\r\nConnection: keep-alive\r\n\r\n");
        let r = client.request(raw.as_bytes());
        check!(r, r.status == 200, "{version} with --no-keep-alive");
        check!(r, r.connection_has("close"), "{version}: must say close");
        client.expect_close();
    }
}

fn max_requests_per_connection(model: &str) {
    let server = Server::start(model, &["--max-requests-per-connection", "3"]);
    let mut client = server.client();
    for i in 1..=3 {
        let r = client.request(&get("/hello", &[]));
        check!(r, r.status == 200, "request {i}");
        check!(
            r,
            r.connection_has("close") == (i == 3),
            "only the 3rd response says close (request {i})"
        );
    }
    client.expect_close();

    // Pipelined past the limit: three answers, then the close.
    let mut client = server.client();
    let raw: Vec<u8> = (0..5).flat_map(|_| get("/hello", &[])).collect();
    client.send(&raw);
    for _ in 0..3 {
        assert_eq!(client.read_response().status, 200);
    }
    client.expect_close();
}

fn half_close_still_gets_the_response(model: &str) {
    let server = Server::start(model, &[]);
    for path in ["/hello", "/delay/50"] {
        let mut client = server.client();
        client.send(&get(path, &["X-Request-Id: hc"]));
        client.shutdown_write();
        let r = client.read_response();
        check!(r, r.status == 200, "{path} after shutdown(Write)");
        check!(r, r.header("x-request-id") == Some("hc"), "{path}: id");
        if path == "/hello" {
            check!(r, r.body == b"Hello, world!", "full body");
        }
        client.expect_close();
    }
    // Pipelined, then half-closed: every request is still answered.
    let mut client = server.client();
    let raw: Vec<u8> = (0..5)
        .flat_map(|i| get("/delay/10", &[&format!("X-Request-Id: {i}")]))
        .collect();
    client.send(&raw);
    client.shutdown_write();
    for i in 0..5 {
        let r = client.read_response();
        check!(
            r,
            r.header("x-request-id") == Some(&i.to_string()[..]),
            "pipelined {i}"
        );
    }
    client.expect_close();
}

/// The one test that holds two connections at once, because that is where the
/// models differ: the iterative server does not accept a second client until the
/// first has gone; the others serve both at the same time (the pool as long as it
/// has a second worker, so it gets two whatever the machine's CPU count).
fn second_client_waits_only_in_iterative(model: &str) {
    let args: &[&str] = if model == "pool" {
        &["--workers", "2"]
    } else {
        &[]
    };
    let server = Server::start(model, args);
    let mut first = server.client();
    let r = first.request(&get("/hello", &[]));
    check!(r, r.status == 200, "first client");
    // `first` is still open (keep-alive).
    let mut second = server.client();
    second.send(&get("/hello", &["X-Request-Id: second"]));
    let answered = second.wait_readable(Duration::from_millis(700)).is_ok();
    if model == "iterative" {
        assert!(
            !answered,
            "iterative must not serve a second client while the first is open"
        );
        drop(first);
    } else {
        assert!(answered, "{model} must serve two clients at once");
    }
    let r = second.read_response();
    check!(r, r.status == 200, "second client");
    check!(r, r.header("x-request-id") == Some("second"), "second id");
}

fn hundred_pipelined_requests_in_one_write(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let mut raw = Vec::new();
    for i in 0..100 {
        let id = format!("X-Request-Id: req-{i:03}");
        raw.extend(match i % 3 {
            0 => get("/hello", &[&id]),
            1 => request("HEAD", "/hello", &[&id], b""),
            _ => request("POST", "/echo", &[&id], format!("body {i}").as_bytes()),
        });
    }
    client.send(&raw);
    for i in 0..100 {
        let r = if i % 3 == 1 {
            client.read_head_response()
        } else {
            client.read_response()
        };
        let want = format!("req-{i:03}");
        check!(r, r.status == 200, "pipelined #{i}");
        check!(
            r,
            r.header("x-request-id") == Some(want.as_str()),
            "pipelined responses out of order at #{i}"
        );
        match i % 3 {
            0 => check!(r, r.body == b"Hello, world!", "#{i} body"),
            1 => check!(r, r.body.is_empty(), "#{i} HEAD"),
            _ => assert_eq!(echoed_body_length(&r), format!("body {i}").len() as u64),
        }
    }
    // The connection is still good.
    let r = client.request(&get("/hello", &["X-Request-Id: after"]));
    check!(
        r,
        r.header("x-request-id") == Some("after"),
        "after the pipeline"
    );
}

fn pipelined_delays_stay_in_order(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let plan = [
        ("/delay/50", "a"),
        ("/hello", "b"),
        ("/delay/10", "c"),
        ("/hello", "d"),
        ("/delay/30", "e"),
        ("/delay/0", "f"),
        ("/hello", "g"),
    ];
    let raw: Vec<u8> = plan
        .iter()
        .flat_map(|(path, id)| get(path, &[&format!("X-Request-Id: {id}")]))
        .collect();
    client.send(&raw);
    for (path, id) in plan {
        let r = client.read_response();
        check!(r, r.status == 200, "{path}");
        check!(
            r,
            r.header("x-request-id") == Some(id),
            "expected {id} ({path}) next"
        );
        if path == "/hello" {
            check!(r, r.body == b"Hello, world!", "{path} body");
        } else {
            check!(r, r.text().starts_with("delayed"), "{path} body");
        }
    }
}

fn rejection_after_pipelined_requests_answers_those_first(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let mut raw = get("/delay/50", &["X-Request-Id: a"]);
    raw.extend(get("/hello", &["X-Request-Id: b"]));
    raw.extend(b"GET /hello HTTP/1.1\r\nX-Request-Id: c\r\n\r\n"); // no Host
    raw.extend(get("/hello", &["X-Request-Id: d"]));
    client.send(&raw);
    let r = client.read_response();
    check!(
        r,
        r.status == 200 && r.header("x-request-id") == Some("a"),
        "a"
    );
    check!(r, !r.connection_has("close"), "a keeps the connection");
    let r = client.read_response();
    check!(
        r,
        r.status == 200 && r.header("x-request-id") == Some("b"),
        "b"
    );
    let r = client.read_response();
    assert_short_text_error(&r, 400, "request without Host");
    check!(r, r.connection_has("close"), "a rejection closes");
    // Nothing after the rejection is answered.
    client.expect_close();
}

for_each_model!(
    http11_keeps_alive_by_default,
    http10_closes_by_default,
    http10_keep_alive_is_confirmed,
    connection_close_is_honoured,
    close_request_ends_a_pipeline,
    no_keep_alive_flag_closes_every_response,
    max_requests_per_connection,
    half_close_still_gets_the_response,
    second_client_waits_only_in_iterative,
    hundred_pipelined_requests_in_one_write,
    pipelined_delays_stay_in_order,
    rejection_after_pipelined_requests_answers_those_first,
);
