//! HTTP/1.1 behaviour over real sockets, one suite run against every model.
//!
//! Each test is a plain `fn name(model: &str)` that starts its own server (port 0)
//! and talks to it with raw bytes; `for_each_model!` at the bottom turns each into
//! `reactor::name`, `threaded::name`, `iterative::name` and `pool::name`.
//!
//! The iterative model serves one connection at a time, to its end. So no test here
//! holds two connections open at once, except `second_client_waits_only_in_iterative`,
//! which is about exactly that difference. Every other test drops (closes) one
//! connection before opening the next, so the iterative server is never left
//! waiting on a keep-alive client while the next one sits in the backlog.

mod common;

use std::time::{Duration, Instant};

use common::{get, request, Response, Server};

/// A short text body an error response should carry: present, small, plain text.
fn assert_short_text_error(r: &Response, status: u16, what: &str) {
    check!(r, r.status == status, "{what}: expected {status}");
    let content_type = r.header("content-type").unwrap_or("");
    check!(
        r,
        content_type.starts_with("text/plain"),
        "{what}: error body should be text/plain"
    );
    check!(
        r,
        !r.body.is_empty() && r.body.len() < 200,
        "{what}: error body should be short, non-empty text"
    );
    check!(
        r,
        r.text().starts_with(&status.to_string()),
        "{what}: error body should name the status"
    );
}

/// The fields every response must have (RFC 9110 §6.6, RFC 9112 §6.1, §6.3).
fn assert_well_framed(r: &Response, what: &str) {
    assert_well_framed_for(r, false, what);
}

/// [`assert_well_framed`] for a response to HEAD (its Content-Length describes the
/// body a GET would get) or to any other method.
fn assert_well_framed_for(r: &Response, head_request: bool, what: &str) {
    let dates = r.headers_named("date");
    check!(r, dates.len() == 1, "{what}: exactly one Date");
    let date = dates[0];
    check!(
        r,
        date.len() == 29 && date.ends_with(" GMT") && date.as_bytes()[3] == b',',
        "{what}: Date must be an IMF-fixdate, got {date:?}"
    );
    check!(
        r,
        r.headers_named("server").len() == 1,
        "{what}: exactly one Server"
    );
    let lengths = r.headers_named("content-length").len();
    let chunked = r
        .headers_named("transfer-encoding")
        .iter()
        .any(|te| te.to_ascii_lowercase().contains("chunked"));
    check!(
        r,
        (lengths == 1) != chunked,
        "{what}: exactly one of Content-Length and Transfer-Encoding: chunked"
    );
    if head_request {
        check!(r, r.body.is_empty(), "{what}: a HEAD response has no body");
    } else if lengths == 1 && !chunked {
        check!(
            r,
            r.content_length() == Some(r.body.len() as u64),
            "{what}: Content-Length must match the body"
        );
    }
    if !r.body.is_empty() {
        check!(
            r,
            r.headers_named("content-type").len() == 1,
            "{what}: a body needs exactly one Content-Type"
        );
    }
}

/// The `body-length: N` line of an `/echo` response.
fn echoed_body_length(r: &Response) -> u64 {
    let text = r.text();
    text.lines()
        .find_map(|line| line.strip_prefix("body-length: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no body-length line in /echo response: {text:?}"))
}

// ---- methods and routes -------------------------------------------------------------

fn get_hello_http11(model: &str) {
    let server = Server::start(model, &[]);
    let r = server.request(&get("/hello", &[]));
    check!(r, r.status == 200 && r.reason == "OK", "GET /hello");
    check!(r, r.version == 1, "responses are HTTP/1.1");
    check!(r, r.body == b"Hello, world!", "GET /hello body");
    check!(r, r.content_length() == Some(13), "Content-Length");
    check!(
        r,
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "Content-Type"
    );
    check!(
        r,
        r.header("connection").is_none(),
        "HTTP/1.1 keep-alive is the default: no Connection field needed"
    );
    assert_well_framed(&r, "GET /hello");
}

fn head_has_get_headers_and_no_body(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    for path in ["/hello", "/", "/echo"] {
        let got = client.request(&get(path, &[]));
        client.send(&request("HEAD", path, &[], b""));
        let head = client.read_head_response();
        check!(head, head.status == got.status, "HEAD {path}: same status");
        let strip = |r: &Response| -> Vec<(String, String)> {
            r.headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect()
        };
        if path == "/echo" {
            // /echo describes the request, so the lengths differ; the rest must not.
            let names = |r: &Response| -> Vec<String> {
                r.headers
                    .iter()
                    .map(|(n, _)| n.to_ascii_lowercase())
                    .collect()
            };
            assert_eq!(names(&head), names(&got), "HEAD {path}: same field names");
            check!(
                head,
                head.content_length().is_some_and(|n| n > 0),
                "HEAD {path}: Content-Length of the body a GET would get"
            );
        } else {
            assert_eq!(strip(&head), strip(&got), "HEAD {path}: same header fields");
            check!(
                head,
                head.content_length() == Some(got.body.len() as u64),
                "HEAD {path}: Content-Length of the GET body"
            );
        }
    }
    // No body bytes followed any HEAD response: the next response parses cleanly.
    let after = client.request(&get("/hello", &[]));
    check!(
        after,
        after.status == 200 && after.body == b"Hello, world!",
        "request after HEADs"
    );
}

fn post_and_put_bodies_are_read_fully(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    for (method, size) in [("POST", 1usize), ("PUT", 1000), ("POST", 300_000)] {
        let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let r = client.request(&request(method, "/echo", &[], &body));
        check!(r, r.status == 200, "{method} /echo with {size} bytes");
        assert_eq!(echoed_body_length(&r), size as u64, "{method} body length");
        check!(
            r,
            r.text().starts_with(&format!("{method} /echo HTTP/1.1\n")),
            "/echo names the request"
        );
    }
    // POST to /hello is accepted and its body discarded, keeping the connection usable.
    let r = client.request(&request("POST", "/hello", &[], b"ignored body"));
    check!(
        r,
        r.status == 200 && r.body == b"Hello, world!",
        "POST /hello"
    );
    let r = client.request(&get("/hello", &[]));
    check!(r, r.status == 200, "GET after bodies");
}

fn chunked_bodies_with_extensions_and_trailers(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    for method in ["POST", "PUT"] {
        let raw = format!(
            "{method} /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
             4;name=value\r\nWiki\r\n\
             5 ; ext\r\npedia\r\n\
             E;a=1;b=\"q\"\r\n in\r\n\r\nchunks.\r\n\
             0\r\n\
             Expires: never\r\nX-Trailer: t\r\n\r\n"
        );
        let r = client.request(raw.as_bytes());
        check!(r, r.status == 200, "{method} chunked");
        assert_eq!(
            echoed_body_length(&r),
            4 + 5 + 14,
            "{method} chunked length"
        );
    }
    // Transfer-Encoding is case-insensitive, and an empty chunked body is fine.
    let raw = b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n";
    let r = client.request(raw);
    check!(r, r.status == 200, "empty chunked body");
    assert_eq!(echoed_body_length(&r), 0);
    // The framing was consumed exactly: the connection still parses requests.
    let r = client.request(&get("/hello", &[]));
    check!(
        r,
        r.status == 200 && r.body == b"Hello, world!",
        "after chunked"
    );
}

fn options_on_a_path_lists_allow(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    for (path, methods) in [
        ("/hello", &["GET", "HEAD", "POST", "OPTIONS"][..]),
        ("/echo", &["GET", "HEAD", "POST", "PUT", "OPTIONS"][..]),
    ] {
        let r = client.request(&request("OPTIONS", path, &[], b""));
        check!(r, r.status == 200, "OPTIONS {path}");
        let allow: Vec<&str> = r
            .header("allow")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .collect();
        for m in methods {
            check!(r, allow.contains(m), "OPTIONS {path}: Allow lacks {m}");
        }
        check!(r, !allow.contains(&"DELETE"), "OPTIONS {path}: no DELETE");
        assert_well_framed(&r, "OPTIONS");
    }
}

fn options_star(model: &str) {
    let server = Server::start(model, &[]);
    let r = server.request(b"OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n");
    check!(r, r.status == 200, "OPTIONS *");
    let allow = r.header("allow").unwrap_or("");
    for m in ["GET", "HEAD", "POST", "PUT", "OPTIONS"] {
        check!(r, allow.contains(m), "OPTIONS *: Allow lacks {m}");
    }
    assert_well_framed(&r, "OPTIONS *");
    // `*` is only for OPTIONS.
    let r = server.request(b"GET * HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_short_text_error(&r, 400, "GET *");
}

fn unknown_method_is_501_or_405(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let r = client.request(&request("BREW", "/no-such-pot", &[], b""));
    assert_short_text_error(&r, 501, "BREW on an unknown path");
    let r = client.request(&request("BREW", "/hello", &[], b""));
    assert_short_text_error(&r, 405, "BREW /hello");
    let allow = r.header("allow").unwrap_or("");
    check!(
        r,
        allow.contains("GET") && allow.contains("HEAD") && !allow.contains("BREW"),
        "405 must carry Allow"
    );
    let r = client.request(&request("DELETE", "/hello", &[], b""));
    assert_short_text_error(&r, 405, "DELETE /hello");
    check!(r, r.header("allow").is_some(), "405 must carry Allow");
    // Methods are case-sensitive: `get` is an unknown method, not GET.
    let r = client.request(&request("get", "/hello", &[], b""));
    assert_short_text_error(&r, 405, "lowercase get /hello");
    // None of these closed the connection.
    let r = client.request(&get("/hello", &[]));
    check!(r, r.status == 200, "after 405/501");
}

fn unknown_path_is_404(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    for path in ["/nope", "/hello/", "/hellox", "/echo/x", "/static/a.txt"] {
        let r = client.request(&get(path, &[]));
        assert_short_text_error(&r, 404, path);
        assert_well_framed(&r, path);
        check!(
            r,
            r.header("connection").is_none(),
            "404 keeps the connection"
        );
    }
    let r = client.request(&get("/hello?x=1", &[]));
    check!(r, r.status == 200, "a query does not change the path");
}

fn index_names_the_model(model: &str) {
    let server = Server::start(model, &[]);
    let r = server.request(&get("/", &[]));
    check!(r, r.status == 200, "GET /");
    check!(
        r,
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "index is HTML"
    );
    let marker = format!("<strong>{model}</strong> model");
    check!(r, r.text().contains(&marker), "index should say {marker:?}");
    assert_well_framed(&r, "GET /");
}

/// `/live` is the same static page in every model: HTML whose script polls `/stats`
/// (what it draws is tested in a browser by tests/live.rs), linked from `/`.
fn live_page_is_served(model: &str) {
    let server = Server::start(model, &[]);
    let r = server.request(&get("/live", &[]));
    check!(r, r.status == 200, "GET /live");
    check!(
        r,
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "/live is HTML"
    );
    check!(
        r,
        r.text().contains("fetch(\"/stats\""),
        "/live polls /stats"
    );
    assert_well_framed(&r, "GET /live");
    let index = server.request(&get("/", &[]));
    check!(
        index,
        index.text().contains("href=\"/live\""),
        "/ links to /live"
    );
}

fn delay_spin_and_bad_numbers(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let started = Instant::now();
    let r = client.request(&get("/delay/100", &[]));
    let took = started.elapsed();
    check!(r, r.status == 200, "/delay/100");
    check!(r, r.text().contains("100"), "/delay/100 body");
    assert!(
        took >= Duration::from_millis(95),
        "/delay/100 took {took:?}"
    );
    let r = client.request(&get("/spin/10", &[]));
    check!(r, r.status == 200, "/spin/10");
    for path in [
        "/delay/10000000",
        "/delay/abc",
        "/delay/-1",
        "/delay/",
        "/spin/abc",
        "/spin/99999999",
    ] {
        let r = client.request(&get(path, &[]));
        assert_short_text_error(&r, 400, path);
        check!(
            r,
            r.header("connection").is_none(),
            "{path}: a 400 from a route keeps the connection"
        );
    }
}

// ---- connection management -----------------------------------------------------------

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

fn idle_keep_alive_connection_times_out(model: &str) {
    let server = Server::start(model, &["--idle-timeout", "1s"]);
    let mut client = server.client();
    let r = client.request(&get("/hello", &[]));
    check!(r, r.status == 200, "before idling");
    let started = Instant::now();
    let closed = client
        .wait_readable(Duration::from_secs(5))
        .expect("the server should close an idle connection within 5 s");
    let waited = started.elapsed();
    assert!(closed, "expected a close, got bytes");
    assert!(
        client.read_to_close().is_empty(),
        "no bytes before the close"
    );
    assert!(
        waited >= Duration::from_millis(700) && waited <= Duration::from_secs(4),
        "idle close after {waited:?}, expected about 1 s"
    );
}

fn header_timeout_sends_408(model: &str) {
    let server = Server::start(model, &["--header-timeout", "1s"]);
    let mut client = server.client();
    client.send(b"GET /hello HTTP/1.1\r\nHost: test\r\nX-Partial: ye");
    let started = Instant::now();
    client.set_read_timeout(Duration::from_secs(5));
    let r = client.read_response();
    let waited = started.elapsed();
    assert_short_text_error(&r, 408, "partial head");
    check!(r, r.connection_has("close"), "408 closes");
    assert!(
        waited >= Duration::from_millis(700) && waited <= Duration::from_secs(4),
        "408 after {waited:?}, expected about 1 s"
    );
    client.expect_close();

    // The same for a client that connects and sends nothing at all: no response is
    // required, but the connection must not stay open.
    let mut silent = server.client();
    let closed = silent
        .wait_readable(Duration::from_secs(5))
        .expect("a silent client should be dropped within 5 s");
    if !closed {
        let r = silent.read_response();
        assert_eq!(r.status, 408, "only a 408 may be sent to a silent client");
        silent.expect_close();
    }
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

fn body_cut_short_by_eof_gets_400(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello");
    client.shutdown_write();
    let r = client.read_response();
    assert_short_text_error(&r, 400, "body ended by EOF");
    check!(r, r.connection_has("close"), "400 closes");
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

// ---- pipelining ------------------------------------------------------------------------

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

// ---- Expect: 100-continue -------------------------------------------------------------

fn expect_100_continue(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    client.set_read_timeout(Duration::from_secs(5));
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
    );
    // We hold the body back until the server asks for it.
    let interim = client.read_response();
    check!(
        interim,
        interim.status == 100,
        "expected 100 Continue first"
    );
    check!(interim, interim.reason == "Continue", "reason phrase");
    check!(interim, interim.version == 1, "HTTP/1.1 100");
    client.send(b"hello world");
    let r = client.read_response();
    check!(r, r.status == 200, "final response after the body");
    assert_eq!(echoed_body_length(&r), 11);

    // A client that does not wait for the 100 is served too; a 100 may or may not
    // precede the final response.
    let mut raw =
        b"PUT /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
            .to_vec();
    raw.extend(get("/hello", &[]));
    client.send(&raw);
    let mut r = client.read_response();
    if r.status == 100 {
        r = client.read_response();
    }
    check!(r, r.status == 200, "impatient 100-continue client");
    assert_eq!(echoed_body_length(&r), 3);
    let r = client.read_response();
    check!(r, r.status == 200 && r.body == b"Hello, world!", "after");

    // HTTP/1.0 clients never get a 100 (RFC 9110 §10.1.1). (Close the first
    // connection before opening the next: the iterative server would not get to it.)
    drop(client);
    let mut client = server.client();
    client.send(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
    let r = client.read_response();
    check!(r, r.status == 200, "HTTP/1.0 with Expect gets no 100");
}

fn expect_100_continue_over_max_body_is_413(model: &str) {
    let server = Server::start(model, &["--max-body", "1000"]);
    let mut client = server.client();
    client.set_read_timeout(Duration::from_secs(5));
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
    );
    let r = client.read_response();
    assert_short_text_error(&r, 413, "Expect with a body over --max-body");
    check!(r, r.connection_has("close"), "413 closes");
    client.expect_close();
}

// ---- every response ----------------------------------------------------------------------

fn every_response_is_well_framed(model: &str) {
    let server = Server::start(model, &[]);
    let cases: &[(&[u8], u16, bool)] = &[
        (b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        (b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, true),
        (b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        (b"GET /stats HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        (b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        (b"OPTIONS /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        (b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        (b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, false),
        (b"HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, true),
        (b"DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n", 405, false),
        (b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501, false),
        (b"GET /delay/abc HTTP/1.1\r\nHost: t\r\n\r\n", 400, false),
        (b"GET /hello HTTP/1.1\r\n\r\n", 400, false),
        (b"GET /hello HTTP/1.0\r\n\r\n", 200, false),
    ];
    for &(raw, status, head) in cases {
        let what =
            String::from_utf8_lossy(raw.split(|&b| b == b'\r').next().unwrap_or(raw)).into_owned();
        let mut client = server.client();
        client.send(raw);
        let r = if head {
            client.read_head_response()
        } else {
            client.read_response()
        };
        check!(r, r.status == status, "{what}: expected {status}");
        assert_well_framed_for(&r, head, &what);
        if status >= 400 && !head {
            assert_short_text_error(&r, status, &what);
        }
        if head {
            // Nothing may follow a HEAD response's head.
            client.shutdown_write();
            let rest = client.read_to_close();
            assert!(
                rest.is_empty(),
                "{what}: bytes after a HEAD response: {:?}",
                String::from_utf8_lossy(&rest)
            );
        }
    }
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

// ---- more timeouts ---------------------------------------------------------------------

fn header_timeout_covers_dribbled_heads_and_stalled_bodies(model: &str) {
    let server = Server::start(model, &["--header-timeout", "1s"]);

    // A head dribbled a byte at a time (slowloris) still has 1 s in all.
    let mut client = server.client();
    let started = Instant::now();
    let head = b"GET /hello HTTP/1.1\r\nHost: test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut sent_all = true;
    for byte in head {
        if client.wait_readable(Duration::from_millis(100)).is_ok() {
            sent_all = false;
            break; // the server answered (or closed) before we finished
        }
        if std::io::Write::write_all(&mut client.stream, std::slice::from_ref(byte)).is_err() {
            sent_all = false;
            break;
        }
    }
    assert!(
        !sent_all,
        "a head dribbled over {:?} was not cut off",
        started.elapsed()
    );
    let r = client.read_response();
    let waited = started.elapsed();
    assert_short_text_error(&r, 408, "dribbled head");
    check!(r, r.connection_has("close"), "408 closes");
    assert!(
        waited <= Duration::from_secs(4),
        "408 for a dribbled head after {waited:?}, expected about 1 s"
    );
    client.expect_close();

    // A body that stops half way gets 408 too.
    let mut client = server.client();
    client.send(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhello");
    let started = Instant::now();
    let r = client.read_response();
    let waited = started.elapsed();
    assert_short_text_error(&r, 408, "stalled body");
    check!(r, r.connection_has("close"), "408 closes");
    assert!(
        waited >= Duration::from_millis(700) && waited <= Duration::from_secs(4),
        "408 for a stalled body after {waited:?}, expected about 1 s"
    );
    client.expect_close();
}

fn timeouts_do_not_cut_a_slow_response(model: &str) {
    // The client is waiting for us, not the other way round: neither the idle nor
    // the head timeout may fire while a response is being prepared.
    let server = Server::start(model, &["--idle-timeout", "1s", "--header-timeout", "1s"]);
    let mut client = server.client();
    let r = client.request(&get("/delay/1500", &[]));
    check!(r, r.status == 200, "/delay/1500 with 1 s timeouts");
    check!(r, !r.connection_has("close"), "still keep-alive");
    let r = client.request(&get("/hello", &[]));
    check!(r, r.status == 200, "the connection survived");
}

// ---- framing edge cases ------------------------------------------------------------------

fn framing_edge_cases(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    // RFC 9112 §2.2: empty lines before a request line are ignored.
    let r = client.request(b"\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    check!(r, r.status == 200, "leading empty lines");
    // A body on a GET is read and discarded, not taken for the next request.
    let r = client
        .request(b"GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 18\r\n\r\nGET /nope HTTP/1.1");
    check!(r, r.status == 200, "GET with a body");
    let r = client.request(&get("/echo", &[]));
    check!(r, r.status == 200, "next request after a GET body");
    // RFC 9110 §8.6: a list of identical lengths is one length.
    let r = client.request(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc",
    );
    check!(r, r.status == 200, "identical Content-Length list");
    assert_eq!(echoed_body_length(&r), 3);
    // Content-Length: 0 is no body.
    let r = client.request(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(echoed_body_length(&r), 0);
    // Absolute-form targets name the same resources.
    let r = client.request(b"GET http://test/hello HTTP/1.1\r\nHost: test\r\n\r\n");
    check!(
        r,
        r.status == 200 && r.body == b"Hello, world!",
        "absolute-form"
    );
    // Field names are case-insensitive, values keep their surrounding OWS trimmed.
    let r = client.request(b"POST /echo HTTP/1.1\r\nhOsT: t\r\ncontent-LENGTH:   4  \r\n\r\nabcd");
    check!(r, r.status == 200, "odd field-name case");
    assert_eq!(echoed_body_length(&r), 4);
    // Chunk sizes in either case, with leading zeros.
    let r = client.request(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          A\r\n0123456789\r\n000b\r\n0123456789a\r\n00\r\n\r\n",
    );
    check!(r, r.status == 200, "chunk size case");
    assert_eq!(echoed_body_length(&r), 21);
    let r = client.request(&get("/hello", &[]));
    check!(r, r.status == 200, "connection still in sync");
}

fn requests_split_into_single_bytes(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let mut raw = get("/hello", &["X-Request-Id: one"]);
    raw.extend(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: two\r\nTransfer-Encoding: chunked\r\n\r\n\
          3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nT: x\r\n\r\n",
    );
    for byte in &raw {
        client.send(std::slice::from_ref(byte));
        std::thread::sleep(Duration::from_micros(300));
    }
    let r = client.read_response();
    check!(
        r,
        r.header("x-request-id") == Some("one") && r.status == 200,
        "first"
    );
    let r = client.read_response();
    check!(
        r,
        r.header("x-request-id") == Some("two") && r.status == 200,
        "second"
    );
    assert_eq!(echoed_body_length(&r), 5);
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

fn request_line_limit_is_inclusive(model: &str) {
    let server = Server::start(model, &["--max-request-line", "100"]);
    // A request line of exactly the limit is fine: "414 above" the limit, and the
    // request-line is `method SP target SP version`, its CRLF not included (RFC 9112 §3).
    for (len, status) in [(99, 404), (100, 404), (101, 414)] {
        let target = format!("/{}", "a".repeat(len - "GET / HTTP/1.1".len()));
        let line = format!("GET {target} HTTP/1.1");
        assert_eq!(line.len(), len);
        let r = server.request(format!("{line}\r\nHost: t\r\n\r\n").as_bytes());
        check!(
            r,
            r.status == status,
            "request line of {len} bytes with --max-request-line 100: expected {status}"
        );
    }
}

fn field_count_and_body_limits_are_inclusive(model: &str) {
    let server = Server::start(model, &["--max-headers", "5", "--max-body", "1000"]);
    // Exactly --max-headers fields are fine; one more is 431.
    for (fields, status) in [(5, 200), (6, 431)] {
        let extra: Vec<String> = (1..fields).map(|i| format!("X-F{i}: {i}")).collect();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let r = server.request(&get("/hello", &extra));
        check!(
            r,
            r.status == status,
            "{fields} fields with --max-headers 5"
        );
    }
    // A body of exactly --max-body is fine, with either framing.
    for (size, status) in [(1000, 200), (1001, 413)] {
        let body = vec![b'x'; size];
        let r = server.request(&request("POST", "/echo", &[], &body));
        check!(
            r,
            r.status == status,
            "Content-Length body of {size} with --max-body 1000"
        );
        let mut chunked =
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for part in body.chunks(300) {
            chunked.extend(format!("{:x}\r\n", part.len()).bytes());
            chunked.extend(part);
            chunked.extend(b"\r\n");
        }
        chunked.extend(b"0\r\n\r\n");
        let r = server.request(&chunked);
        check!(
            r,
            r.status == status,
            "chunked body of {size} with --max-body 1000"
        );
    }
}

// ---- more Expect: 100-continue ----------------------------------------------------------

fn expect_100_continue_variants(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    client.set_read_timeout(Duration::from_secs(5));

    // The expectation is case-insensitive, and works with a chunked body.
    client.send(
        b"PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    let interim = client.read_response();
    check!(interim, interim.status == 100, "100 for a chunked body");
    client.send(b"5\r\nhello\r\n0\r\n\r\n");
    let r = client.read_response();
    check!(r, r.status == 200, "chunked body after 100");
    assert_eq!(echoed_body_length(&r), 5);

    // No body to wait for: a 100 is allowed but not needed; the 200 must come.
    client.send(&get("/hello", &["Expect: 100-continue"]));
    let mut r = client.read_response();
    if r.status == 100 {
        r = client.read_response();
    }
    check!(
        r,
        r.status == 200 && r.body == b"Hello, world!",
        "Expect without a body"
    );
}

fn expect_100_continue_waits_behind_a_delayed_response(model: &str) {
    // A 100 Continue may only be sent when its request reaches the front of the
    // pipeline: after the earlier responses. Until then the client is (rightly)
    // waiting for us, so the body timeout must not run out on it.
    let server = Server::start(model, &["--header-timeout", "1s"]);
    let mut client = server.client();
    client.set_read_timeout(Duration::from_secs(5));
    let mut raw = get("/delay/1500", &["X-Request-Id: slow"]);
    raw.extend(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: expect\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    client.send(&raw);
    let r = client.read_response();
    check!(
        r,
        r.status == 200 && r.header("x-request-id") == Some("slow"),
        "delayed response first"
    );
    let interim = client.read_response();
    check!(
        interim,
        interim.status == 100,
        "expected 100 Continue once the request reached the front"
    );
    // A client may take a moment to start the body after the 100: the body
    // timeout (1 s here) starts with the 100, not with the head.
    std::thread::sleep(Duration::from_millis(100));
    client.send(b"hello");
    let r = client.read_response();
    check!(
        r,
        r.status == 200 && r.header("x-request-id") == Some("expect"),
        "final response"
    );
    assert_eq!(echoed_body_length(&r), 5);
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
    get_hello_http11,
    head_has_get_headers_and_no_body,
    post_and_put_bodies_are_read_fully,
    chunked_bodies_with_extensions_and_trailers,
    options_on_a_path_lists_allow,
    options_star,
    unknown_method_is_501_or_405,
    unknown_path_is_404,
    index_names_the_model,
    live_page_is_served,
    delay_spin_and_bad_numbers,
    http11_keeps_alive_by_default,
    http10_closes_by_default,
    http10_keep_alive_is_confirmed,
    connection_close_is_honoured,
    close_request_ends_a_pipeline,
    no_keep_alive_flag_closes_every_response,
    max_requests_per_connection,
    idle_keep_alive_connection_times_out,
    header_timeout_sends_408,
    half_close_still_gets_the_response,
    body_cut_short_by_eof_gets_400,
    second_client_waits_only_in_iterative,
    hundred_pipelined_requests_in_one_write,
    pipelined_delays_stay_in_order,
    expect_100_continue,
    expect_100_continue_over_max_body_is_413,
    every_response_is_well_framed,
    request_id_is_echoed_unchanged,
    stats_json_has_every_field,
    header_timeout_covers_dribbled_heads_and_stalled_bodies,
    timeouts_do_not_cut_a_slow_response,
    framing_edge_cases,
    requests_split_into_single_bytes,
    rejection_after_pipelined_requests_answers_those_first,
    request_line_limit_is_inclusive,
    field_count_and_body_limits_are_inclusive,
    expect_100_continue_variants,
    expect_100_continue_waits_behind_a_delayed_response,
    stats_count_interim_responses,
    access_log_line_per_request,
    stats_interval_logs_counters,
);
