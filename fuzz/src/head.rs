//! Checks for `protocol::request::parse_head` on arbitrary bytes.
//!
//! The connection parses the same buffer again every time bytes arrive, so besides
//! "no panic" the parser owes it two things: the same answer for the same bytes, and a
//! verdict that does not depend on where the input was cut. Once a prefix of the
//! input gets a verdict (a complete head, or a rejection), every longer prefix must get
//! the same one; otherwise the response would depend on how the client's bytes were
//! split into reads.
//!
//! Each input is checked against the default limits and against tight limits taken
//! from its last two bytes, so the 414/431 paths are reached with short inputs.

use reactor::config::Limits;
use reactor::protocol::request::{parse_head, Parsed, RequestHead};
use reactor::protocol::{Reject, Version};

/// How many prefixes of a long input are checked (all of them for short inputs).
const PREFIX_SAMPLES: usize = 96;

/// Runs every check on `data`; panics with a description when one fails.
pub fn check(data: &[u8]) {
    check_with(data, &Limits::default());
    check_with(data, &tight_limits(data));
}

/// Small limits derived from the input's last two bytes.
pub fn tight_limits(data: &[u8]) -> Limits {
    let a = usize::from(data.last().copied().unwrap_or(0));
    let b = usize::from(data.len().checked_sub(2).map_or(0, |i| data[i]));
    Limits {
        max_request_line: 1 + a % 64,
        max_head: 8 + b * 2,
        max_headers: 1 + a / 64,
        ..Limits::default()
    }
}

/// The parser's answer reduced to something comparable.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Incomplete,
    Complete { consumed: usize, head: String },
    Rejected(Reject),
}

fn verdict(buf: &[u8], limits: &Limits) -> Verdict {
    match parse_head(buf, limits) {
        Ok(Parsed::Incomplete) => Verdict::Incomplete,
        Ok(Parsed::Complete { value, consumed }) => Verdict::Complete {
            consumed,
            head: format!("{value:?}"),
        },
        Err(reject) => Verdict::Rejected(reject),
    }
}

fn check_with(data: &[u8], limits: &Limits) {
    let whole = verdict(data, limits);
    // Determinism: the connection re-parses the same bytes after every read.
    assert_eq!(
        whole,
        verdict(data, limits),
        "parse_head is not deterministic"
    );

    match parse_head(data, limits) {
        Ok(Parsed::Complete { value, consumed }) => {
            check_complete(data, limits, &value, consumed);
            // The head alone gives the same head: nothing after it was looked at.
            assert_eq!(
                verdict(&data[..consumed], limits),
                whole,
                "the head alone parses differently from the head plus what follows"
            );
        }
        Ok(Parsed::Incomplete) => {
            assert!(
                data.len() <= limits.max_head,
                "incomplete input of {} bytes is above max_head {} and was not rejected",
                data.len(),
                limits.max_head
            );
        }
        Err(_) => {}
    }

    // A verdict, once reached on a prefix, holds for the whole input: otherwise the
    // answer would depend on how the bytes were split into reads.
    let len = data.len();
    let step = (len / PREFIX_SAMPLES).max(1);
    let mut cuts: Vec<usize> = (0..len).step_by(step).collect();
    cuts.extend(len.saturating_sub(4)..len);
    if let Verdict::Complete { consumed, .. } = whole {
        cuts.extend(consumed.saturating_sub(4)..consumed);
    }
    for cut in cuts {
        let early = verdict(&data[..cut], limits);
        match (&early, &whole) {
            (Verdict::Incomplete, _) => {}
            (Verdict::Complete { .. }, _) | (Verdict::Rejected(_), _) => assert_eq!(
                early, whole,
                "the first {cut} of {len} bytes get a different verdict than all of them"
            ),
        }
    }
}

fn check_complete(data: &[u8], limits: &Limits, head: &RequestHead, consumed: usize) {
    assert!(
        consumed > 0 && consumed <= data.len(),
        "consumed {consumed} of {} bytes",
        data.len()
    );
    assert!(
        consumed <= limits.max_head,
        "a head of {consumed} bytes is above max_head {}",
        limits.max_head
    );
    // A head ends with an empty line: LF, then an optional CR, then LF.
    let end = &data[..consumed];
    let blank_line = end.ends_with(b"\n\n") || end.ends_with(b"\n\r\n");
    assert!(blank_line, "a head that does not end with an empty line");
    assert!(!head.method_str().is_empty(), "empty method");
    assert!(!head.target().is_empty(), "empty target");
    assert!(
        head.target()
            .bytes()
            .all(|b| b.is_ascii_graphic() || b >= 0x80),
        "whitespace or a control character in the target {:?}",
        head.target()
    );
    assert!(
        head.headers().count() <= limits.max_headers.max(1),
        "more fields than max_headers"
    );
    let hosts = head
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .count();
    assert!(hosts <= 1, "{hosts} Host fields accepted");
    if head.version == Version::Http11 {
        assert_eq!(hosts, 1, "an HTTP/1.1 head without Host accepted");
    }
    // The head keeps no field positions and reads the lines again when asked:
    // it must cut exactly the names and values httparse did.
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers.max(1)];
    let mut direct = httparse::Request::new(&mut storage);
    if let Ok(httparse::Status::Complete(_)) = direct.parse(&data[..consumed]) {
        let theirs: Vec<(&str, &[u8])> = direct.headers.iter().map(|h| (h.name, h.value)).collect();
        let ours: Vec<(&str, &[u8])> = head.headers().collect();
        assert_eq!(ours, theirs, "the fields read again differ from httparse's");
    }
    for (name, value) in head.headers() {
        assert!(!name.is_empty(), "an empty field name");
        assert!(
            !value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
            "CR, LF or NUL in the value of {name}"
        );
    }
}
