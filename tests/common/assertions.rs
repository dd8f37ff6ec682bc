//! What every response of this server must look like, for the per-topic suites
//! over real sockets (framing.rs, keep_alive.rs, limits.rs, ...).
//!
//! Rule: unlike the rest of `common`, these do know the server's rules: the fields
//! every response carries (RFC 9110 §6.6, RFC 9112 §6.1, §6.3), the short plain-text
//! body of an error, and what `/echo` reports. Each panics with the whole response
//! (via [`check!`]) when the rule is broken.

use super::client::Response;
use crate::check;

/// A short text body an error response should carry: present, small, plain text.
pub fn assert_short_text_error(r: &Response, status: u16, what: &str) {
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
pub fn assert_well_framed(r: &Response, what: &str) {
    assert_well_framed_for(r, false, what);
}

/// [`assert_well_framed`] for a response to HEAD (its Content-Length describes the
/// body a GET would get) or to any other method.
pub fn assert_well_framed_for(r: &Response, head_request: bool, what: &str) {
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
pub fn echoed_body_length(r: &Response) -> u64 {
    let text = r.text();
    text.lines()
        .find_map(|line| line.strip_prefix("body-length: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no body-length line in /echo response: {text:?}"))
}

/// A graceful stop keeps what is in flight: `count` clients each wait on a
/// `/delay/300` when SIGTERM arrives, and each still gets its own response (by its
/// `X-Request-Id`) followed by a close, before the server exits 0.
pub fn sigterm_answers_requests_in_flight(server: &mut super::Server, count: usize) {
    use std::time::Duration;
    let mut clients: Vec<super::Client> = (0..count).map(|_| server.client()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(&super::get("/delay/300", &[&format!("X-Request-Id: w{i}")]));
    }
    std::thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGTERM);
    for (i, client) in clients.iter_mut().enumerate() {
        client.set_read_timeout(Duration::from_secs(5));
        let response = client.read_response();
        assert_eq!(
            response.header("x-request-id"),
            Some(format!("w{i}").as_str())
        );
        client.expect_close();
    }
    let status = server.wait_exit(Duration::from_secs(8)).expect("exits");
    assert_eq!(status.code(), Some(0));
}
