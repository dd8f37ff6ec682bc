//! Message framing over a real socket, in every model (RFC 9112 §2.2, §6, §7;
//! RFC 9110 §6.6, §8.6, §9.3.2): where each request body ends, so the next request
//! on the connection is read from the right byte, and how every response is framed.
//!
//! - bodies by Content-Length (RFC 9112 §6.2) up to 300 000 bytes, and chunked
//!   (§7.1) with extensions (§7.1.1), trailers (§7.1.2), either case of hex and of
//!   `chunked`, leading zeros, and an empty body; a body on a GET is read and
//!   discarded; a list of identical Content-Length values is one length (RFC 9110
//!   §8.6);
//! - empty lines before a request line are ignored (RFC 9112 §2.2), absolute-form
//!   targets name the same resources (§3.2.2), field names are case-insensitive
//!   (§5);
//! - requests sent one byte at a time are answered as if sent whole;
//! - a body cut short by EOF is 400 and closes (§8);
//! - every response has one Date, one Server, exactly one of Content-Length and
//!   chunked, a Content-Length equal to its body, and a Content-Type with any body
//!   (RFC 9110 §6.6.1, §10.2.4, RFC 9112 §6.1-6.3); a HEAD response has the GET's
//!   fields and no body (RFC 9110 §9.3.2, RFC 9112 §6.3).
//!
//! The request framings the core refuses (RFC 9112 §6.3's smuggling rules) are rows
//! of rejections.rs.

mod common;

use std::time::Duration;

use common::{
    assert_short_text_error, assert_well_framed_for, echoed_body_length, get, request, Response,
    Server,
};

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

for_each_model!(
    post_and_put_bodies_are_read_fully,
    chunked_bodies_with_extensions_and_trailers,
    head_has_get_headers_and_no_body,
    framing_edge_cases,
    requests_split_into_single_bytes,
    body_cut_short_by_eof_gets_400,
    every_response_is_well_framed,
);
