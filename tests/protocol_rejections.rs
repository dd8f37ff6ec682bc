//! The core's rejection rules in memory, on the harness's virtual clock.
//!
//! - every rule the core enforces, one row of `REJECTIONS` each: Content-Length and
//!   Transfer-Encoding that disagree or are malformed (RFC 9112 §6.1, §6.3), obs-fold
//!   and whitespace before a colon (§5.1, §5.2), Host missing, repeated or invalid
//!   (§3.2), bad chunk sizes (§7.1), bare CR, NUL and control bytes (§2.2, RFC 9110
//!   §5.5), a version we do not speak (505, RFC 9110 §15.6.6), an expectation we do
//!   not know (417, §10.1.1), a coding we do not know (501): each answers its status
//!   with a short text body, closes, and parses nothing after;
//! - the same status however the client's bytes were split;
//! - the size limits answer 414, 431 and 413 (RFC 9110 §15.5.15, RFC 6585 §5, RFC
//!   9110 §15.5.14), a long line before it ends and a chunked body as it comes.
//!
//! The same rules over a real socket, in every model, are tests/rejections.rs.

mod harness;

use reactor::config::Limits;
use reactor::protocol::{Phase, Reject, Settings};

use harness::{get, responses, run_split, settings, statuses, Harness};

// ---- rejections -----------------------------------------------------------------------

/// One row per rejection rule: (why, raw request, expected status).
const REJECTIONS: &[(&str, &str, u16)] = &[
    (
        "CL with TE",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    (
        "differing CLs",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        400,
    ),
    (
        "CL list differing",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\n",
        400,
    ),
    (
        "CL with sign",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\n",
        400,
    ),
    (
        "CL negative",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -3\r\n\r\n",
        400,
    ),
    (
        "CL inner space",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1 2\r\n\r\n",
        400,
    ),
    (
        "CL non-digit",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0x3\r\n\r\n",
        400,
    ),
    (
        "CL overflow",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\n",
        400,
    ),
    (
        "TE final not chunked",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
    ),
    (
        "TE chunked then gzip",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    ),
    (
        "TE chunked twice",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        400,
    ),
    (
        "TE unknown coding",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
    (
        "TE on HTTP/1.0",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    (
        "obs-fold",
        "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n  folded\r\n\r\n",
        400,
    ),
    (
        "space before colon",
        "GET / HTTP/1.1\r\nHost: t\r\nX-A : a\r\n\r\n",
        400,
    ),
    ("missing Host", "GET / HTTP/1.1\r\nX-A: a\r\n\r\n", 400),
    (
        "repeated Host",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    ),
    (
        "chunk size not hex",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    (
        "chunk size negative",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
        400,
    ),
    (
        "chunk without CRLF",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
        400,
    ),
    (
        "chunk size overflow",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
        400,
    ),
    (
        "bare CR in request line",
        "GET /\r HTTP/1.1\r\nHost: t\r\n\r\n",
        400,
    ),
    (
        "bare CR in field",
        "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n",
        400,
    ),
    (
        "NUL in target",
        "GET /a\0b HTTP/1.1\r\nHost: t\r\n\r\n",
        400,
    ),
    (
        "NUL in field",
        "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n",
        400,
    ),
    (
        "control char in field",
        "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n",
        400,
    ),
    (
        "DEL in field",
        "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x7fb\r\n\r\n",
        400,
    ),
    ("HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ("HTTP/1.2", "GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505),
    ("garbage version", "GET / HTXP/1.1\r\nHost: t\r\n\r\n", 400),
    (
        "unknown expectation",
        "GET / HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n",
        417,
    ),
    (
        "Host with userinfo",
        "GET / HTTP/1.1\r\nHost: u@t\r\n\r\n",
        400,
    ),
    ("Host list", "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400),
    ("Host bad port", "GET / HTTP/1.1\r\nHost: t:x\r\n\r\n", 400),
    (
        "absolute-form with userinfo",
        "GET http://u@t/ HTTP/1.1\r\nHost: t\r\n\r\n",
        400,
    ),
];

#[test]
fn each_rejection_rule_answers_its_status_and_closes() {
    for (why, raw, status) in REJECTIONS {
        let mut h = Harness::new();
        h.feed(raw.as_bytes());
        let out = h.drain_all();
        let all = responses(&out);
        assert_eq!(all.len(), 1, "{why}: {:?}", String::from_utf8_lossy(&out));
        let (got, head, body) = &all[0];
        assert_eq!(got, status, "{why}");
        assert!(head.contains("Connection: close\r\n"), "{why}: {head}");
        assert!(head.contains("Content-Type: text/plain"), "{why}: {head}");
        assert!(
            !body.is_empty() && body.len() < 200,
            "{why}: short text body"
        );
        assert_ne!(h.conn.phase(), Phase::Open, "{why}: must close");
        // Nothing more is parsed after a rejection.
        h.feed(get("/hello", "late").as_bytes());
        assert!(
            h.drain_all().is_empty(),
            "{why}: input after a rejection is ignored"
        );
    }
}

/// A rejection's status does not depend on where the client's bytes were split. Found
/// by fuzzing: `GET / HTTP/9.` then `9\r\n...` was answered 400, not 505, because the
/// version was judged before the request line had ended.
#[test]
fn each_rejection_gets_its_status_however_it_is_split() {
    for (why, raw, status) in REJECTIONS {
        for cut in 1..raw.len() {
            let out = run_split(raw.as_bytes(), &[cut]);
            assert_eq!(statuses(&out), [*status], "{why}, split at {cut}");
        }
    }
}

/// Past a size limit, the status is the same however the bytes were split. Found by
/// fuzzing: a long request line with a control byte near its start got 414 in one
/// read but 400 when the control byte arrived first, and a bad byte beyond the head
/// limit turned 431 into 400 the same way.
#[test]
fn a_broken_limit_gets_its_status_however_it_is_split() {
    let long_line = format!("GET /a\0{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\0\r\n\r\n",
        "b".repeat(17_000)
    );
    for (raw, status) in [(long_line, 400), (big_head, 431)] {
        let len = raw.len();
        let cuts = (1..len)
            .step_by(97)
            .chain([8, 8190, 8200, 16_383, 16_385, len - 1]);
        for cut in cuts {
            let out = run_split(raw.as_bytes(), &[cut]);
            assert_eq!(statuses(&out), [status], "split at {cut} of {len}");
        }
        assert_eq!(statuses(&run_split(raw.as_bytes(), &[])), [status]);
    }
}

#[test]
fn limits_answer_414_431_and_413() {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "b".repeat(20_000)
    );
    let many: String = (0..100).map(|i| format!("X-F{i}: v\r\n")).collect();
    let many_fields = format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n");
    let big_body =
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9000000000\r\n\r\n".to_string();
    for (raw, status) in [
        (long_target, 414),
        (big_head, 431),
        (many_fields, 431),
        (big_body, 413),
    ] {
        let mut h = Harness::new();
        h.feed(raw.as_bytes());
        assert_eq!(statuses(&h.drain_all()), [status]);
    }
    // 414 is detected before the line ends, so a client cannot make us buffer forever.
    let mut h = Harness::new();
    h.feed(format!("GET /{}", "a".repeat(9000)).as_bytes());
    assert_eq!(statuses(&h.drain_all()), [414]);
}

#[test]
fn a_chunked_body_over_the_limit_is_413() {
    let mut h = Harness::with(Settings {
        limits: Limits {
            max_body: 10,
            ..Limits::default()
        },
        ..settings()
    });
    h.feed(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n");
    assert_eq!(statuses(&h.drain_all()), [413]);
}

#[test]
fn reject_messages_name_the_rule() {
    assert_eq!(Reject::LengthWithTransferEncoding.status(), 400);
    assert!(Reject::LengthWithTransferEncoding
        .reason()
        .contains("Transfer-Encoding"));
    assert_eq!(Reject::HeadTooLarge.status(), 431);
}
