//! What each field the core interprets gets when its value is valid but unusual, or
//! invalid in a way the RFC says to tolerate, over a real socket in every model.
//! (The values that get an error status are rows of `tests/rejections.rs`.)
//!
//! - Host: every form of `uri-host [ ":" port ]` is served (RFC 9110 §7.2);
//! - Connection: options we do not know, or that are not tokens, are ignored, and
//!   `close` anywhere in the list wins (RFC 9110 §7.6.1, RFC 9112 §9.6);
//! - Expect and Transfer-Encoding: empty list members are ignored (RFC 9110 §5.6.1).

mod common;

use common::Server;

/// Every valid Host form gets the page, on a connection kept open.
fn valid_host_forms_are_served(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    for host in [
        "example.com",
        "example.com:8080",
        "127.0.0.1",
        "127.0.0.1:80",
        "[::1]",
        "[::1]:8080",
        "[2001:db8::7]:443",
        "[v1.fe80::a+en1]",
        "localhost:",
        "xn--bcher-kva.example",
        "a%41b",
        "",
    ] {
        let raw = format!("GET /hello HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let r = client.request(raw.as_bytes());
        check!(r, r.status == 200, "Host: {host:?}");
        check!(r, !r.connection_has("close"), "Host: {host:?} kept alive");
    }
}

/// An empty Host on a request whose target has no authority is what RFC 9112 §3.2
/// tells a client to send; with an absolute-form target the target's authority is
/// used and the Host value is ignored, so it may differ (RFC 9112 §3.2.2).
fn host_with_and_without_an_authority_in_the_target(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    let cases: [&[u8]; 4] = [
        b"GET /hello HTTP/1.1\r\nHost:\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: \r\n\r\n",
        b"GET http://example.com/hello HTTP/1.1\r\nHost:\r\n\r\n",
        b"GET http://[::1]:8080/hello HTTP/1.1\r\nHost: other.example\r\n\r\n",
    ];
    for raw in cases {
        let r = client.request(raw);
        check!(r, r.status == 200, "{:?}", String::from_utf8_lossy(raw));
    }
    // HTTP/1.0 needs no Host at all (a second connection: close the first, for the
    // iterative model).
    drop(client);
    let r = server.request(b"GET /hello HTTP/1.0\r\n\r\n");
    check!(r, r.status == 200, "HTTP/1.0 without Host");
}

/// Connection options: `close` anywhere wins, the rest is ignored.
fn connection_options_we_do_not_know_are_ignored(model: &str) {
    let server = Server::start(model, &[]);
    for (value, closes) in [
        ("close, @@@", true),
        (",close,", true),
        ("keep-alive, close", true),
        ("CLOSE", true),
        ("foo", false),
        ("foo, bar", false),
        ("@@@ ???", false),
        ("", false),
        ("upgrade", false),
    ] {
        let mut client = server.client();
        let raw = format!("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: {value}\r\n\r\n");
        let r = client.request(raw.as_bytes());
        check!(r, r.status == 200, "Connection: {value:?}");
        check!(
            r,
            r.connection_has("close") == closes,
            "Connection: {value:?} closes: {closes}"
        );
        if closes {
            client.expect_close();
        } else {
            let again = client.request(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
            check!(again, again.status == 200, "after Connection: {value:?}");
        }
    }
}

/// `Expect` and `Transfer-Encoding` are lists: empty members are not an error.
fn empty_list_members_are_ignored(model: &str) {
    let server = Server::start(model, &[]);
    let mut client = server.client();
    // An empty Expect asks nothing.
    let r = client.request(b"GET /hello HTTP/1.1\r\nHost: t\r\nExpect:\r\n\r\n");
    check!(r, r.status == 200, "empty Expect");
    // `, 100-continue,` is 100-continue: the 100 comes before the body is sent.
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: , 100-Continue,\r\nContent-Length: 3\r\n\r\n",
    );
    let interim = client.read_response();
    check!(
        interim,
        interim.status == 100,
        "Expect list with 100-continue"
    );
    client.send(b"abc");
    let r = client.read_response();
    check!(
        r,
        r.status == 200 && r.text().contains("body-length: 3"),
        "body after 100"
    );
    // `chunked,` is chunked.
    let r = client.request(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked,\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    check!(
        r,
        r.status == 200 && r.text().contains("body-length: 3"),
        "Transfer-Encoding: chunked,"
    );
}

for_each_model!(
    valid_host_forms_are_served,
    host_with_and_without_an_authority_in_the_target,
    connection_options_we_do_not_know_are_ignored,
    empty_list_members_are_ignored,
);
