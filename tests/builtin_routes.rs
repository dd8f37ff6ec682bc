//! The built-in routes and the methods each allows, over a real socket, in every
//! model (RFC 9110 §9, §15).
//!
//! - `/hello` is a fixed `200 OK` text body, `/` an HTML index that names the model
//!   and links `/live`, `/live` the page that polls `/stats` (what it draws is
//!   tests/live.rs), `/delay/N` and `/spin/N` wait or compute N ms and answer 400 to
//!   a number they cannot take, keeping the connection;
//! - any other path is a short text 404 that keeps the connection (RFC 9110
//!   §15.5.5); a query does not change the path;
//! - `OPTIONS` on a path, and `OPTIONS *` (RFC 9112 §3.2.4), list the methods in
//!   `Allow` (RFC 9110 §9.3.7, §10.2.1); `*` with any other method is 400;
//! - a method a route does not allow is 405 with `Allow` (§15.5.6), one no route
//!   knows is 501 (§15.6.2), and methods are case-sensitive (§9.1).
//!
//! `/stats` and the other things an operator reads are observability.rs; `-d DIR`
//! is files.rs.

mod common;

use std::time::{Duration, Instant};

use common::{assert_short_text_error, assert_well_framed, get, request, Server};

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

for_each_model!(
    get_hello_http11,
    index_names_the_model,
    live_page_is_served,
    delay_spin_and_bad_numbers,
    unknown_path_is_404,
    options_on_a_path_lists_allow,
    options_star,
    unknown_method_is_501_or_405,
);
