//! The RFC 9112 rejection rules, as a table, over a real socket, against every model.
//!
//! Each row is (name, raw request bytes, expected status, a word the error text must
//! contain, why). For each row the test opens a connection, sends the bytes, and
//! expects: that status; `Connection: close`; a short `text/plain` body that says
//! what was wrong; and the server closing the connection with nothing after the
//! response. One server per model runs the whole table (started with
//! `--max-body 1000` for the 413 rows), one connection per row and never two at
//! once, so the iterative model needs no special case. Failures are collected and
//! reported together, each naming its row.
//!
//! Over 600 lines, for a reason: `CASES` is one table (64 rows, about 460 of the
//! lines), a row per rule with its why. Kept whole, one server per model runs every
//! row and reports every failure at once, and `case_names_are_unique` sees every
//! name; the code around it is under 200 lines.

mod common;

use common::{Client, Response, Server};

/// The request bytes of a row: literal, or built (for the long ones).
enum Raw {
    Bytes(&'static [u8]),
    Built(fn() -> Vec<u8>),
}

impl Raw {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Raw::Bytes(b) => b.to_vec(),
            Raw::Built(build) => build(),
        }
    }
}

/// One rejection rule.
struct Case {
    name: &'static str,
    raw: Raw,
    status: u16,
    /// A word the error body must contain (case-insensitive): it says what was wrong.
    says: &'static str,
    why: &'static str,
}

/// `--max-body` for the server running the table.
const MAX_BODY: &str = "1000";

const CASES: &[Case] = &[
    // ---- message framing (RFC 9112 §6) ----
    Case {
        name: "content_length_with_transfer_encoding",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        status: 400,
        says: "transfer-encoding",
        why: "RFC 9112 §6.3: both is a smuggling vector; a server ought to reject it",
    },
    Case {
        name: "transfer_encoding_then_content_length",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        status: 400,
        says: "transfer-encoding",
        why: "the same in the other order",
    },
    Case {
        name: "two_differing_content_lengths",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        status: 400,
        says: "content-length",
        why: "RFC 9112 §6.3 step 5: differing lengths are unrecoverable",
    },
    Case {
        name: "differing_content_length_list",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!"),
        status: 400,
        says: "content-length",
        why: "RFC 9110 §8.6: a list is only acceptable when every member is the same",
    },
    Case {
        name: "content_length_plus_sign",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello"),
        status: 400,
        says: "content-length",
        why: "Content-Length = 1*DIGIT: no sign",
    },
    Case {
        name: "content_length_minus_sign",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\nhello"),
        status: 400,
        says: "content-length",
        why: "Content-Length = 1*DIGIT: no sign",
    },
    Case {
        name: "content_length_inner_space",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5 5\r\n\r\nhello"),
        status: 400,
        says: "content-length",
        why: "Content-Length = 1*DIGIT: no inner whitespace",
    },
    Case {
        name: "content_length_hex",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x5\r\n\r\nhello"),
        status: 400,
        says: "content-length",
        why: "Content-Length is decimal",
    },
    Case {
        name: "content_length_letters",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\nhello"),
        status: 400,
        says: "content-length",
        why: "Content-Length = 1*DIGIT",
    },
    Case {
        name: "content_length_empty",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\n"),
        status: 400,
        says: "content-length",
        why: "Content-Length needs at least one digit",
    },
    Case {
        name: "content_length_overflow",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\nhello"),
        status: 400,
        says: "content-length",
        why: "RFC 9110 §8.6: a length that overflows must not wrap",
    },
    Case {
        name: "content_length_empty_list_member",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5,\r\n\r\nhello"),
        status: 400,
        says: "content-length",
        why: "Content-Length = 1*DIGIT; §8.6 tolerates a list of equal values, not an empty one",
    },
    Case {
        name: "transfer_encoding_gzip",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nhello"),
        status: 400,
        says: "chunked",
        why: "RFC 9112 §6.3 step 4: final coding not chunked means the length is unknown",
    },
    Case {
        name: "transfer_encoding_chunked_then_gzip",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
        status: 400,
        says: "chunked",
        why: "RFC 9112 §6.3 step 4: chunked must be the final coding",
    },
    Case {
        name: "transfer_encoding_chunked_twice",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        status: 400,
        says: "",
        why: "RFC 9112 §6.1: chunked must not be applied more than once",
    },
    Case {
        name: "transfer_encoding_gzip_then_chunked",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        status: 501,
        says: "coding",
        why: "RFC 9112 §6.1: a coding we do not implement is 501",
    },
    Case {
        name: "transfer_encoding_chunked_with_parameter",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n"),
        status: 400,
        says: "chunked",
        why: "chunked defines no parameters: not the chunked coding, so the final one is not chunked",
    },
    Case {
        name: "transfer_encoding_on_http10",
        raw: Raw::Bytes(b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        status: 400,
        says: "transfer-encoding",
        why: "RFC 9112 §6.1: an HTTP/1.0 message cannot carry Transfer-Encoding",
    },
    // ---- field syntax (RFC 9112 §5) ----
    Case {
        name: "obs_fold",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Long: first\r\n  folded\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "RFC 9112 §5.2: obs-fold in a request must be rejected (or replaced)",
    },
    Case {
        name: "obs_fold_with_tab",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Long: first\r\n\tfolded\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "RFC 9112 §5.2: obs-fold starts with SP or HTAB",
    },
    Case {
        name: "space_before_colon",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost : t\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "RFC 9112 §5.1: whitespace between field name and colon must be rejected",
    },
    Case {
        name: "tab_before_colon",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A\t: b\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "RFC 9112 §5.1: no whitespace of any kind before the colon",
    },
    Case {
        name: "missing_host",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nX-A: b\r\n\r\n"),
        status: 400,
        says: "host",
        why: "RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400",
    },
    Case {
        name: "two_hosts",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        status: 400,
        says: "host",
        why: "RFC 9112 §3.2: more than one Host gets 400",
    },
    // ---- the Host value (RFC 9112 §3.2, RFC 9110 §7.2; grammar in src/protocol/host.rs) ----
    Case {
        name: "host_with_userinfo",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: user@t\r\n\r\n"),
        status: 400,
        says: "host",
        why: "Host = uri-host [ \":\" port ]: no userinfo",
    },
    Case {
        name: "host_with_path",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t/hello\r\n\r\n"),
        status: 400,
        says: "host",
        why: "a Host value has no path",
    },
    Case {
        name: "host_with_query",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t?x=1\r\n\r\n"),
        status: 400,
        says: "host",
        why: "a Host value has no query",
    },
    Case {
        name: "host_list",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: a, b\r\n\r\n"),
        status: 400,
        says: "host",
        why: "RFC 9112 §3.2: Host is one value, and a list is two Hosts joined",
    },
    Case {
        name: "host_list_without_space",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: a,b\r\n\r\n"),
        status: 400,
        says: "host",
        why: "no DNS name has a comma; a proxy may read it as two hosts",
    },
    Case {
        name: "host_inner_space",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n"),
        status: 400,
        says: "host",
        why: "whitespace is not in reg-name",
    },
    Case {
        name: "host_control_byte",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: a\x01b\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "a control byte is already invalid field syntax (RFC 9110 §5.5)",
    },
    Case {
        name: "host_port_not_digits",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t:http\r\n\r\n"),
        status: 400,
        says: "host",
        why: "port = *DIGIT",
    },
    Case {
        name: "host_empty_port_then_garbage",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t: 80\r\n\r\n"),
        status: 400,
        says: "host",
        why: "port = *DIGIT: no space",
    },
    Case {
        name: "host_two_ports",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t:80:81\r\n\r\n"),
        status: 400,
        says: "host",
        why: "one port at most; a reg-name has no colon",
    },
    Case {
        name: "host_unclosed_ip_literal",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: [::1\r\n\r\n"),
        status: 400,
        says: "host",
        why: "IP-literal = \"[\" ( IPv6address / IPvFuture ) \"]\"",
    },
    Case {
        name: "host_invalid_on_http10",
        raw: Raw::Bytes(b"GET /hello HTTP/1.0\r\nHost: user@t\r\n\r\n"),
        status: 400,
        says: "host",
        why: "RFC 9112 §3.2: any request with an invalid Host value, whatever the version",
    },
    Case {
        name: "absolute_target_with_userinfo",
        raw: Raw::Bytes(b"GET http://user@t/hello HTTP/1.1\r\nHost: t\r\n\r\n"),
        status: 400,
        says: "host",
        why: "RFC 9110 §4.2.4: userinfo in an http URI is an error",
    },
    Case {
        name: "absolute_target_empty_host",
        raw: Raw::Bytes(b"GET http:///hello HTTP/1.1\r\nHost: t\r\n\r\n"),
        status: 400,
        says: "host",
        why: "RFC 9110 §4.2.1: an http URI with an empty host MUST be rejected",
    },
    // ---- chunked coding (RFC 9112 §7.1) ----
    Case {
        name: "chunk_size_not_hex",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
        status: 400,
        says: "chunk",
        why: "chunk-size = 1*HEXDIG",
    },
    Case {
        name: "chunk_size_negative",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n"),
        status: 400,
        says: "chunk",
        why: "chunk-size = 1*HEXDIG: no sign",
    },
    Case {
        name: "chunk_data_without_crlf",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
        status: 400,
        says: "chunk",
        why: "chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF",
    },
    Case {
        name: "chunk_size_overflow",
        raw: Raw::Bytes(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\nhello\r\n0\r\n\r\n"),
        status: 400,
        says: "chunk",
        why: "a chunk size that overflows must not wrap",
    },
    // ---- bytes that may not appear (RFC 9112 §2.2, RFC 9110 §5.5) ----
    Case {
        name: "bare_cr_in_request_line",
        raw: Raw::Bytes(b"GET /hel\rlo HTTP/1.1\r\nHost: t\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "RFC 9112 §2.2: a bare CR must be rejected or replaced",
    },
    Case {
        name: "bare_cr_ending_request_line",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\rHost: t\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "RFC 9112 §2.2: CR alone is not a line terminator",
    },
    Case {
        name: "bare_cr_in_field_value",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "RFC 9112 §2.2: a bare CR must be rejected or replaced",
    },
    Case {
        name: "nul_in_request_line",
        raw: Raw::Bytes(b"GET /a\x00b HTTP/1.1\r\nHost: t\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "NUL is not allowed in a request target",
    },
    Case {
        name: "nul_in_field_value",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "RFC 9110 §5.5: NUL in a field value must be rejected or replaced",
    },
    Case {
        name: "ctl_0x01_in_request_line",
        raw: Raw::Bytes(b"GET /a\x01b HTTP/1.1\r\nHost: t\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "control characters are not allowed in a request target",
    },
    Case {
        name: "ctl_0x01_in_field_value",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "field-vchar excludes control characters",
    },
    Case {
        name: "del_in_request_line",
        raw: Raw::Bytes(b"GET /a\x7fb HTTP/1.1\r\nHost: t\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "DEL (0x7f) is not allowed in a request target",
    },
    Case {
        name: "del_in_field_value",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x7fb\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "field-vchar excludes DEL (0x7f)",
    },
    Case {
        name: "ctl_in_method",
        raw: Raw::Bytes(b"GE\x01T /hello HTTP/1.1\r\nHost: t\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "a method is a token",
    },
    // ---- size limits (RFC 9112 §3, RFC 6585 §5, RFC 9110 §15.5) ----
    Case {
        name: "request_line_too_long",
        raw: Raw::Built(long_request_line),
        status: 414,
        says: "request line",
        why: "a 9 KiB target is above the default 8 KiB request-line limit",
    },
    Case {
        name: "header_section_too_large",
        raw: Raw::Built(large_header_section),
        status: 431,
        says: "header",
        why: "20 KiB of fields is above the default 16 KiB head limit",
    },
    Case {
        name: "too_many_fields",
        raw: Raw::Built(too_many_fields),
        status: 431,
        says: "header",
        why: "100 fields is above the default limit of 64",
    },
    Case {
        name: "body_over_max_body",
        raw: Raw::Built(long_body),
        status: 413,
        says: "body",
        why: "Content-Length 5000 with --max-body 1000",
    },
    Case {
        name: "chunked_body_over_max_body_in_one_chunk",
        raw: Raw::Built(long_chunked_body),
        status: 413,
        says: "body",
        why: "one 5000-byte chunk with --max-body 1000",
    },
    Case {
        name: "chunked_body_over_max_body_in_small_chunks",
        raw: Raw::Built(many_small_chunks),
        status: 413,
        says: "body",
        why: "twelve 100-byte chunks with --max-body 1000",
    },
    // ---- version and expectations ----
    Case {
        name: "http_2_0",
        raw: Raw::Bytes(b"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n"),
        status: 505,
        says: "HTTP/1.1",
        why: "RFC 9110 §15.6.6: a major version we do not support",
    },
    Case {
        name: "space_in_target",
        raw: Raw::Bytes(b"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "RFC 9112 §3: a request line is three parts; the version is fine (not 505)",
    },
    Case {
        name: "two_spaces_before_version",
        raw: Raw::Bytes(b"GET /hello  HTTP/1.1\r\nHost: t\r\n\r\n"),
        status: 400,
        says: "malformed",
        why: "RFC 9112 §3: single spaces between the parts",
    },
    Case {
        name: "http_1_2",
        raw: Raw::Bytes(b"GET /hello HTTP/1.2\r\nHost: t\r\n\r\n"),
        status: 505,
        says: "HTTP/1.1",
        why: "a minor version this server does not speak",
    },
    Case {
        name: "expect_something_else",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t\r\nExpect: something-else\r\n\r\n"),
        status: 417,
        says: "expect",
        why: "RFC 9110 §10.1.1: an expectation we cannot meet gets 417",
    },
    Case {
        name: "expect_list_with_something_else",
        raw: Raw::Bytes(b"GET /hello HTTP/1.1\r\nHost: t\r\nExpect: 100-continue, x-y\r\n\r\n"),
        status: 417,
        says: "expect",
        why: "Expect = #expectation: every member must be met",
    },
];

fn long_request_line() -> Vec<u8> {
    format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9 * 1024)).into_bytes()
}

fn large_header_section() -> Vec<u8> {
    let mut raw = String::from("GET /hello HTTP/1.1\r\nHost: t\r\n");
    for i in 0..20 {
        raw.push_str(&format!("X-Big-{i}: {}\r\n", "v".repeat(1024)));
    }
    raw.push_str("\r\n");
    raw.into_bytes()
}

fn too_many_fields() -> Vec<u8> {
    let mut raw = String::from("GET /hello HTTP/1.1\r\nHost: t\r\n");
    for i in 0..100 {
        raw.push_str(&format!("X-F{i}: {i}\r\n"));
    }
    raw.push_str("\r\n");
    raw.into_bytes()
}

fn long_body() -> Vec<u8> {
    let mut raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n".to_vec();
    raw.extend(std::iter::repeat_n(b'b', 5000));
    raw
}

fn long_chunked_body() -> Vec<u8> {
    let mut raw =
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n".to_vec();
    raw.extend(std::iter::repeat_n(b'c', 5000));
    raw.extend(b"\r\n0\r\n\r\n");
    raw
}

fn many_small_chunks() -> Vec<u8> {
    let mut raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..12 {
        raw.extend(b"64\r\n");
        raw.extend(std::iter::repeat_n(b'd', 100));
        raw.extend(b"\r\n");
    }
    raw.extend(b"0\r\n\r\n");
    raw
}

/// What is wrong with the server's answer to one row, if anything.
fn check_case(server: &Server, case: &Case) -> Result<(), String> {
    let mut client = Client::connect(server.addr());
    client.send(&case.raw.bytes());
    let r: Response = client.try_read_response(false).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    if r.status != case.status {
        problems.push(format!("status {} (expected {})", r.status, case.status));
    }
    if !r.connection_has("close") {
        problems.push("no `Connection: close`".to_string());
    }
    if !r
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain"))
    {
        problems.push(format!(
            "Content-Type {:?}, expected text/plain",
            r.header("content-type")
        ));
    }
    let text = r.text();
    if text.is_empty() || text.len() > 200 {
        problems.push(format!("body of {} bytes, expected short text", text.len()));
    }
    if !text.to_lowercase().contains(&case.says.to_lowercase()) {
        problems.push(format!("body does not mention {:?}", case.says));
    }
    if problems.is_empty() {
        // Nothing may follow the error, and the server must close.
        match client.try_read_to_close() {
            Ok(rest) if rest.is_empty() => {}
            Ok(rest) => problems.push(format!(
                "{} bytes after the response: {:?}",
                rest.len(),
                String::from_utf8_lossy(&rest[..rest.len().min(200)])
            )),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}; got {} {} {:?} {:?}",
            problems.join("; "),
            r.status,
            r.reason,
            r.headers,
            text
        ))
    }
}

fn rejections(model: &str) {
    let server = Server::start(model, &["--max-body", MAX_BODY]);
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|case| {
            check_case(&server, case)
                .err()
                .map(|problem| format!("  {} ({}): {problem}", case.name, case.why))
        })
        .collect();
    // The server survived the whole table.
    let r = server.request(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200, "server unusable after the rejection table");
    assert!(
        failures.is_empty(),
        "{model}: {} of {} rejection rows failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// The table has no duplicate names, so a failure names exactly one row.
#[test]
fn case_names_are_unique() {
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "duplicate case names");
}

for_each_model!(rejections);
