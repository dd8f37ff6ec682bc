//! `Expect: 100-continue` over a real socket, in every model (RFC 9110 §10.1.1,
//! §15.2.1; RFC 9112 §9.3.2 for its place in a pipeline).
//!
//! - a client that holds its body back gets `100 Continue` first, then the final
//!   response; one that sends the body at once is served too; the expectation is
//!   case-insensitive and works with a chunked body; a request with no body may or
//!   may not get a 100 but gets its 200;
//! - an HTTP/1.0 client never gets a 100;
//! - a body announced over `--max-body` gets 413 instead of a 100, and the close;
//! - the 100 waits until its request reaches the front of a pipeline, and the body
//!   timeout starts with the 100, not with the head.
//!
//! That the 100 is counted as a 1xx response is observability.rs.

mod common;

use std::time::Duration;

use common::{assert_short_text_error, echoed_body_length, get, Server};

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

for_each_model!(
    expect_100_continue,
    expect_100_continue_over_max_body_is_413,
    expect_100_continue_variants,
    expect_100_continue_waits_behind_a_delayed_response,
);
