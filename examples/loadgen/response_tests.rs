//! Unit tests for the response reader: each stream is fed whole and split at every byte,
//! as a socket may deliver it. Run with `cargo test --examples`.

use super::*;

/// Feeds `chunks` the way the connection does (keeping unconsumed bytes), then EOF.
fn read_all(chunks: &[&[u8]], method: RequestMethod) -> Result<Vec<Response>, FramingError> {
    let mut reader = ResponseReader::default();
    let mut pending = Vec::new();
    let mut responses = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        loop {
            match reader.parse(&pending, method)? {
                Parsed::Complete { response, consumed } => {
                    responses.push(response);
                    pending.drain(..consumed);
                }
                Parsed::Incomplete { consumed } => {
                    pending.drain(..consumed);
                    break;
                }
            }
        }
    }
    if let Some(last) = reader.finish(&pending)? {
        responses.push(last);
    }
    Ok(responses)
}

/// The same stream, whole and cut at every position, must give the same answer.
fn read_every_way(raw: &[u8], method: RequestMethod) -> Result<Vec<Response>, FramingError> {
    let whole = read_all(&[raw], method);
    for cut in 0..=raw.len() {
        let split = read_all(&[&raw[..cut], &raw[cut..]], method);
        assert_eq!(summary(&whole), summary(&split), "split at {cut}");
    }
    whole
}

type Summary = Result<Vec<(u16, u64, Option<Vec<u8>>, bool)>, FramingError>;

fn summary(result: &Result<Vec<Response>, FramingError>) -> Summary {
    result.as_ref().map_err(|e| *e).map(|responses| {
        let id = |r: &Response| r.request_id.get().map(<[u8]>::to_vec);
        responses
            .iter()
            .map(|r| (r.status, r.body_len, id(r), r.keep_alive))
            .collect()
    })
}

fn ok(raw: &[u8]) -> Vec<(u16, u64, Option<Vec<u8>>, bool)> {
    summary(&read_every_way(raw, RequestMethod::Other)).expect("valid stream")
}

fn err(raw: &[u8]) -> FramingError {
    read_every_way(raw, RequestMethod::Other).expect_err("invalid stream")
}

#[test]
fn content_length_bodies_back_to_back() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Request-Id: c0-0\r\n\r\nhello\
                HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nx-request-id: c0-1\r\n\r\n";
    assert_eq!(
        ok(raw),
        vec![
            (200, 5, Some(b"c0-0".to_vec()), true),
            (404, 0, Some(b"c0-1".to_vec()), true)
        ]
    );
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                5;name=value\r\nhello\r\n1A ; x\r\nabcdefghijklmnopqrstuvwxyz\r\n\
                0\r\nX-Trailer: yes\r\nAnother: one\r\n\r\n\
                HTTP/1.1 204 No Content\r\n\r\n";
    assert_eq!(ok(raw), vec![(200, 31, None, true), (204, 0, None, true)]);
}

#[test]
fn close_delimited_body_ends_at_eof() {
    let raw = b"HTTP/1.1 200 OK\r\nX-Request-Id: a\r\n\r\nuntil the end";
    assert_eq!(ok(raw), vec![(200, 13, Some(b"a".to_vec()), false)]);
}

#[test]
fn non_chunked_transfer_encoding_reads_to_eof() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nabcdef";
    assert_eq!(ok(raw), vec![(200, 6, None, false)]);
}

#[test]
fn transfer_encoding_overrides_content_length() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n\
                3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(ok(raw), vec![(200, 3, None, true)]);
}

#[test]
fn bodiless_statuses_and_head_ignore_lengths() {
    let raw = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n\
                HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n";
    assert_eq!(ok(raw), vec![(304, 0, None, true), (204, 0, None, true)]);
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n";
    let responses = read_every_way(head, RequestMethod::Head).expect("valid");
    assert_eq!(responses.len(), 2);
    assert!(responses.iter().all(|r| r.body_len == 0));
}

#[test]
fn interim_responses_are_skipped() {
    let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(ok(raw), vec![(200, 2, None, true)]);
}

#[test]
fn keep_alive_rules() {
    let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(ok(close), vec![(200, 0, None, false)]);
    let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(ok(old), vec![(200, 0, None, false)]);
    let old_kept = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(ok(old_kept), vec![(200, 0, None, true)]);
}

#[test]
fn truncated_body_and_head_are_errors() {
    assert_eq!(
        err(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello"),
        FramingError::TruncatedBody
    );
    assert_eq!(
        err(b"HTTP/1.1 200 OK\r\nContent-Le"),
        FramingError::TruncatedHead
    );
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
    assert_eq!(err(chunked), FramingError::TruncatedBody);
}

#[test]
fn bad_lengths_are_errors() {
    assert_eq!(
        err(b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"),
        FramingError::BadContentLength
    );
    assert_eq!(
        err(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
        FramingError::BadContentLength
    );
    let twice = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
    assert_eq!(err(twice), FramingError::ConflictingContentLength);
    let same = b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc";
    assert_eq!(ok(same), vec![(200, 3, None, true)]);
}

#[test]
fn bad_chunks_are_errors() {
    let prefix = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let with = |rest: &[u8]| [prefix.as_slice(), rest].concat();
    assert_eq!(err(&with(b"zz\r\n")), FramingError::BadChunkSize);
    assert_eq!(err(&with(b"\r\n")), FramingError::BadChunkSize);
    assert_eq!(err(&with(b"3\r\nabcX\r\n")), FramingError::MissingChunkCrlf);
}

#[test]
fn garbage_is_an_unparsable_head() {
    assert!(matches!(
        err(b"ld!HTTP/1.1 200 OK\r\n\r\n"),
        FramingError::BadHead(_)
    ));
    assert!(matches!(
        err(b"00 OK\r\nContent-Length: 0\r\n\r\n"),
        FramingError::BadHead(_)
    ));
}

#[test]
fn endless_head_is_rejected() {
    let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
    while raw.len() <= MAX_HEAD_BYTES {
        raw.extend_from_slice(
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    let mut reader = ResponseReader::default();
    assert!(matches!(
        reader.parse(&raw, RequestMethod::Other),
        Err(FramingError::HeadTooLarge | FramingError::BadHead(httparse::Error::TooManyHeaders))
    ));
}

#[test]
fn decimal_is_strict() {
    assert_eq!(parse_decimal(b"0"), Some(0));
    assert_eq!(parse_decimal(b"18446744073709551615"), None);
    assert_eq!(parse_decimal(b"+1"), None);
    assert_eq!(parse_decimal(b""), None);
}

/// The reader recognises a head that repeats the previous one with another id instead of
/// parsing it (`HeadTemplate`). That must never change an answer: after one response, a
/// second one with any single byte of its head replaced by any of a set of telling bytes
/// (line ends, a control byte, DEL, obs-text, a colon, a space, a letter) must read exactly
/// as a fresh reader reads it alone.
#[test]
fn a_remembered_head_never_changes_what_the_next_one_means() {
    let head = |id: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nServer: reactor/0.1.0\r\nDate: Thu, 03 Dec 2026 13:23:55 GMT\r\n\
             Content-Length: 13\r\nX-Request-Id: {id}\r\nETag: \"6b-d\"\r\n\r\n"
        )
        .into_bytes()
    };
    let first = [head("c0-1"), b"Hello, world!".to_vec()].concat();
    let second_head = head("c0-2");
    let replacements = [
        0u8, b'\r', b'\n', b'\t', b' ', b'x', b':', b'0', 0x7f, 0x80, 0xff,
    ];
    for at in 0..second_head.len() {
        for &byte in &replacements {
            let mut second = [second_head.clone(), b"Hello, world!".to_vec()].concat();
            second[at] = byte;
            let alone = summary(&read_all(&[&second], RequestMethod::Other));
            let after_first = summary(&read_all(
                &[&[&first[..], &second].concat()],
                RequestMethod::Other,
            ));
            let expected = alone.map(|mut rest| {
                let mut all = ok(&first);
                all.append(&mut rest);
                all
            });
            assert_eq!(after_first, expected, "byte {at} set to {byte:#04x}");
        }
    }
}

#[test]
fn a_remembered_head_takes_the_new_id_whatever_its_length() {
    let response = |id: &str| {
        format!("HTTP/1.1 200 OK\r\nX-Request-Id: {id}\r\nContent-Length: 2\r\n\r\nok").into_bytes()
    };
    let stream = [
        response("c1-9"),
        response("c1-10"),
        response("c1-1"),
        response(""),
    ]
    .concat();
    let ids: Vec<_> = ok(&stream).into_iter().map(|(_, _, id, _)| id).collect();
    let expected = ["c1-9", "c1-10", "c1-1", ""].map(|id| Some(id.as_bytes().to_vec()));
    assert_eq!(ids, expected);
}
