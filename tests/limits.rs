//! Size limits and timeouts over a real socket, in every model: what each limit
//! answers, at exactly which size, and when each timeout fires (and does not).
//!
//! - `--max-request-line` is inclusive: a request line of the limit is served, one
//!   byte more is 414 (RFC 9110 §15.5.15; the line without its CRLF, RFC 9112 §3);
//! - `--max-headers` fields are served, one more is 431 (RFC 6585 §5);
//!   `--max-body` bytes are served, one more is 413 (RFC 9110 §15.5.14), with either
//!   framing;
//! - `--idle-timeout` closes a keep-alive connection quietly (RFC 9112 §9.5);
//! - `--header-timeout` answers 408 (RFC 9110 §15.5.9) and closes, for a partial
//!   head, a head dribbled a byte at a time (slowloris) and a stalled body, and drops
//!   a client that sends nothing;
//! - neither timeout cuts a response the server is still preparing;
//! - on Linux the event loops accept a connection only once it has sent something
//!   (`TCP_DEFER_ACCEPT`, for at most 1 s): a head sent later than that is still
//!   answered, and a silent client is still dropped, after about its header timeout
//!   plus that second, not sooner (in every model).
//!
//! Timing bounds are loose (a 1 s timeout must fire between 0.7 s and 4 s): the
//! behaviour is about time, not speed. Every other rejection rule, with the limits'
//! own rows, is a row of rejections.rs.

mod common;

use std::time::{Duration, Instant};

use common::{assert_short_text_error, get, request, Server};

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

fn silent_clients_wait_in_the_kernel_and_late_heads_are_answered(model: &str) {
    let server = Server::start(model, &["--header-timeout", "3s"]);
    let connected = Instant::now();
    let mut silent = server.client();
    let mut late = server.client();
    if cfg!(target_os = "linux") && matches!(model, "reactor" | "uring") {
        // The kernel holds both until they send something (or 1 s has passed): the
        // event loops have accepted only the connection that asks.
        let r = server.request(&get("/stats", &[]));
        check!(r, r.status == 200, "/stats");
        let json: serde_json::Value = serde_json::from_slice(&r.body).expect("stats JSON");
        assert_eq!(
            json["connections"]["accepted"], 1,
            "only the /stats connection is accepted while the others are silent: {json}"
        );
    }
    // Past the kernel's hold (the iterative model may be busy with the silent one
    // until its header timeout, hence the long read timeout).
    std::thread::sleep(Duration::from_millis(1500));
    late.send(&get("/hello", &["Connection: close"]));
    late.set_read_timeout(Duration::from_secs(10));
    let r = late.read_response();
    check!(r, r.status == 200, "a head sent 1.5 s after connecting");

    let closed = silent
        .wait_readable(Duration::from_secs(10))
        .expect("a silent client should be dropped within 10 s");
    let waited = connected.elapsed();
    if !closed {
        let r = silent.read_response();
        assert_eq!(r.status, 408, "only a 408 may be sent to a silent client");
        silent.expect_close();
    }
    assert!(
        waited >= Duration::from_millis(2400) && waited <= Duration::from_secs(8),
        "silent client dropped after {waited:?}, expected 3-4 s (header timeout, plus up to 1 s in the kernel)"
    );
}

for_each_model!(
    silent_clients_wait_in_the_kernel_and_late_heads_are_answered,
    request_line_limit_is_inclusive,
    field_count_and_body_limits_are_inclusive,
    idle_keep_alive_connection_times_out,
    header_timeout_sends_408,
    header_timeout_covers_dribbled_heads_and_stalled_bodies,
    timeouts_do_not_cut_a_slow_response,
);
