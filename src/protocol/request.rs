//! Request heads: httparse does the syntax, this file adds the RFC 9112 rules on top.
//!
//! Rule: no routing and no I/O. [`parse_head`] takes the bytes buffered so far and
//! answers one of three ways: a complete head (with how many bytes it used), "not yet"
//! (incomplete input is not an error), or a [`Reject`] that says which rule was broken.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::body::BodyFraming;
use super::reject::Reject;
use crate::config::Limits;

/// The most header fields we ever allocate room for on the stack.
pub const MAX_HEADERS_CAP: usize = 256;

/// A request method. The ones this server implements have their own variant; any
/// other token is `Other` and gets 501 (or 405 on a known path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Options,
    Delete,
    Patch,
    Trace,
    Connect,
    Other,
}

impl Method {
    fn from_token(token: &str) -> Self {
        // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "OPTIONS" => Self::Options,
            "DELETE" => Self::Delete,
            "PATCH" => Self::Patch,
            "TRACE" => Self::Trace,
            "CONNECT" => Self::Connect,
            _ => Self::Other,
        }
    }
}

/// The two protocol versions this server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http10 => "HTTP/1.0",
            Self::Http11 => "HTTP/1.1",
        }
    }
}

/// The outcome of parsing when the input may still be incomplete.
#[derive(Debug)]
pub enum Parsed<T> {
    /// A whole value, which used the first `consumed` bytes of the input.
    Complete { value: T, consumed: usize },
    /// Not enough bytes yet; call again with more.
    Incomplete,
}

/// A parsed and validated request head. It owns a copy of the head bytes, and the
/// accessors hand out slices of it, so it outlives the connection's input buffer.
#[derive(Clone, Debug)]
pub struct RequestHead {
    pub method: Method,
    pub version: Version,
    /// How the body that follows is delimited.
    pub framing: BodyFraming,
    /// The client asked to close (`Connection: close`), or is HTTP/1.0 without
    /// `Connection: keep-alive`.
    pub client_wants_close: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    head: Vec<u8>,
    method_range: Range<usize>,
    target: Range<usize>,
    headers: Vec<(Range<usize>, Range<usize>)>,
}

impl RequestHead {
    /// The method as sent, e.g. `GET` or `BREW`.
    pub fn method_str(&self) -> &str {
        self.text(self.method_range.clone())
    }

    /// The request target as sent: origin-form (`/a?b`), absolute-form or `*`.
    pub fn target(&self) -> &str {
        self.text(self.target.clone())
    }

    /// The path part of the target, still percent-encoded. For absolute-form
    /// (`http://host/p?q`) this is `/p`; for `*` it is `*`.
    pub fn path(&self) -> &str {
        let target = self.target();
        // Origin-form is the common case; only absolute-form needs the authority cut.
        let without_scheme = if target.starts_with('/') {
            target
        } else if let Some(i) = target.find("://") {
            let rest = &target[i + 3..];
            rest.find('/').map_or("/", |p| &rest[p..])
        } else {
            target
        };
        match without_scheme.find('?') {
            Some(q) => &without_scheme[..q],
            None => without_scheme,
        }
    }

    /// The query string, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, q)| q)
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All fields in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (self.text(n.clone()), &self.head[v.clone()]))
    }

    fn text(&self, range: Range<usize>) -> &str {
        // Every range was cut from a `&str` that httparse validated.
        std::str::from_utf8(&self.head[range]).unwrap_or("")
    }
}

/// Parses one request head from the start of `buf`.
///
/// Besides httparse's syntax checks (which reject bare CR, control characters,
/// obs-fold and whitespace before the colon), this applies RFC 9112's framing rules:
/// Host, Content-Length, Transfer-Encoding, and the configured size limits.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Parsed<RequestHead>, Reject> {
    check_request_line_length(buf, limits)?;

    // Uninitialised slots: zeroing 256 headers (8 KiB) cost more than the parse.
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let field_limit = limits.max_headers.clamp(1, MAX_HEADERS_CAP);
    let mut req = httparse::Request::new(&mut []);
    let consumed = match req.parse_with_uninit_headers(buf, &mut storage[..field_limit]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > limits.max_head {
                Err(Reject::HeadTooLarge)
            } else {
                Ok(Parsed::Incomplete)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(Reject::TooManyHeaders),
        Err(httparse::Error::Version) if has_other_http_version(buf) => {
            return Err(Reject::UnsupportedVersion)
        }
        Err(_) => return Err(Reject::Malformed),
    };
    if consumed > limits.max_head {
        return Err(Reject::HeadTooLarge);
    }

    let base = buf.as_ptr() as usize;
    let range_of = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let method_str = req.method.unwrap_or("");
    let method = Method::from_token(method_str);
    let method_range = range_of(method_str.as_bytes());
    let target = range_of(req.path.unwrap_or("").as_bytes());
    let version = if req.version == Some(0) {
        Version::Http10
    } else {
        Version::Http11
    };

    let mut fields = FieldSummary::default();
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        fields.note(h.name, h.value)?;
        headers.push((range_of(h.name.as_bytes()), range_of(h.value)));
    }
    let framing = fields.framing(version)?;

    if version == Version::Http11 && fields.hosts == 0 {
        return Err(Reject::MissingHost);
    }
    if fields.hosts > 1 {
        return Err(Reject::RepeatedHost);
    }

    let client_wants_close = fields.close || (version == Version::Http10 && !fields.keep_alive);

    // Copy only the head: the body (if any) is decoded from the connection's buffer.
    let head = buf[..consumed].to_vec();
    Ok(Parsed::Complete {
        value: RequestHead {
            method,
            version,
            framing,
            client_wants_close,
            expect_continue: fields.expect_continue && version == Version::Http11,
            head,
            method_range,
            target,
            headers,
        },
        consumed,
    })
}

/// 414 must win over 431 when it is the request line that is long, and must be
/// detected before the whole head has arrived.
fn check_request_line_length(buf: &[u8], limits: &Limits) -> Result<(), Reject> {
    // RFC 9112 §2.2: empty lines before the request line are ignored.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let line_end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    // The CRLF is not part of the request line (RFC 9112 §3).
    let line_len = line[..line_end]
        .strip_suffix(b"\r")
        .map_or(line_end, <[u8]>::len);
    if line_len > limits.max_request_line {
        return Err(Reject::RequestLineTooLong);
    }
    Ok(())
}

/// Tells a well-formed but unsupported version (`HTTP/2.0`, `HTTP/1.2`) from garbage:
/// the line must have exactly its three parts, and a version httparse would have taken
/// means the fault is elsewhere (`GET /a b HTTP/1.1`, a space in the target, is a
/// malformed request line, not an unsupported version).
fn has_other_http_version(buf: &[u8]) -> bool {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    match version {
        b"HTTP/1.0" | b"HTTP/1.1" => false,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        [b'H', b'T', b'T', b'P', b'/', major] => major.is_ascii_digit(),
        _ => false,
    }
}

/// What the framing-related fields said, gathered in one pass.
#[derive(Default)]
struct FieldSummary {
    hosts: usize,
    content_length: Option<u64>,
    transfer_codings: Vec<String>,
    has_transfer_encoding: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl FieldSummary {
    fn note(&mut self, name: &str, value: &[u8]) -> Result<(), Reject> {
        if name.eq_ignore_ascii_case("host") {
            self.hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            // RFC 9110 §8.6: a list of identical values may be treated as one value.
            for item in value.split(|&b| b == b',') {
                let length = parse_content_length(trim_ows(item))?;
                match self.content_length {
                    Some(seen) if seen != length => return Err(Reject::ConflictingContentLength),
                    _ => self.content_length = Some(length),
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            self.has_transfer_encoding = true;
            for item in value.split(|&b| b == b',') {
                let coding = trim_ows(item);
                if !coding.is_empty() {
                    self.transfer_codings
                        .push(String::from_utf8_lossy(coding).to_ascii_lowercase());
                }
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim_ows(token);
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if trim_ows(value).eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            } else {
                return Err(Reject::UnsupportedExpectation);
            }
        }
        Ok(())
    }

    /// RFC 9112 §6.3, steps 3 to 6, for a request.
    fn framing(&self, version: Version) -> Result<BodyFraming, Reject> {
        if self.has_transfer_encoding {
            if version == Version::Http10 {
                return Err(Reject::TransferEncodingOnHttp10);
            }
            if self.content_length.is_some() {
                return Err(Reject::LengthWithTransferEncoding);
            }
            match self.transfer_codings.split_last() {
                Some((last, rest)) if last == "chunked" => {
                    if rest.iter().any(|c| c == "chunked") {
                        // Chunked applied twice is not a valid message (RFC 9112 §6.1).
                        Err(Reject::Malformed)
                    } else if !rest.is_empty() {
                        Err(Reject::UnknownTransferCoding)
                    } else {
                        Ok(BodyFraming::Chunked)
                    }
                }
                _ => Err(Reject::FinalCodingNotChunked),
            }
        } else {
            Ok(match self.content_length {
                Some(0) | None => BodyFraming::Empty,
                Some(n) => BodyFraming::Length(n),
            })
        }
    }
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6): no sign, no inner space, no overflow.
fn parse_content_length(text: &[u8]) -> Result<u64, Reject> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(Reject::InvalidContentLength);
    }
    text.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(Reject::InvalidContentLength)
    })
}

/// Strips optional whitespace (SP / HTAB) from both ends.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Parsed<RequestHead>, Reject> {
        parse_head(raw.as_bytes(), &Limits::default())
    }

    fn complete(raw: &str) -> RequestHead {
        match parse(raw) {
            Ok(Parsed::Complete { value, .. }) => value,
            other => panic!("expected a complete head for {raw:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_simple_get() {
        let head = complete("GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-Request-Id: 7\r\n\r\n");
        assert_eq!(head.method, Method::Get);
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.path(), "/a/b");
        assert_eq!(head.query(), Some("x=1"));
        assert_eq!(head.header("x-request-id"), Some(&b"7"[..]));
        assert_eq!(head.framing, BodyFraming::Empty);
        assert!(!head.client_wants_close);
    }

    #[test]
    fn incomplete_is_not_an_error() {
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nHo"),
            Ok(Parsed::Incomplete)
        ));
        assert!(matches!(parse(""), Ok(Parsed::Incomplete)));
    }

    #[test]
    fn keep_alive_defaults_follow_the_version() {
        assert!(complete("GET / HTTP/1.0\r\n\r\n").client_wants_close);
        assert!(!complete("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").client_wants_close);
        assert!(
            complete("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").client_wants_close
        );
    }

    #[test]
    fn absolute_form_targets_yield_their_path() {
        let head = complete("GET http://example.com/x/y?q HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!(head.path(), "/x/y");
        assert_eq!(head.query(), Some("q"));
    }

    #[test]
    fn identical_content_lengths_are_one_value() {
        let head = complete(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n",
        );
        assert_eq!(head.framing, BodyFraming::Length(5));
    }

    #[test]
    fn content_length_overflow_is_rejected() {
        let raw = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n";
        assert_eq!(parse(raw).unwrap_err(), Reject::InvalidContentLength);
        let max = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n";
        assert_eq!(complete(max).framing, BodyFraming::Length(u64::MAX));
    }
}
