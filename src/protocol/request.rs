//! Request heads: httparse does the syntax, this file adds the RFC 9112 rules on top.
//!
//! Rule: no routing and no I/O. [`parse_head`] takes the bytes buffered so far and
//! answers one of three ways: a complete head (with how many bytes it used), "not yet"
//! (incomplete input is not an error), or a [`Reject`] that says which rule was broken.
//!
//! Length: past 600 lines only with its unit tests (the code is some 520 lines).

use std::mem::MaybeUninit;
use std::ops::Range;

use super::body::BodyFraming;
use super::host;
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

/// A byte range of the head, as offsets from its first byte (a head is at most
/// `max_head` bytes, far below 4 GiB): half the size of a `Range<usize>`, so a
/// parsed head moves through the connection's queues in fewer bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(range: Range<usize>) -> Self {
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            start: at(range.start),
            end: at(range.end),
        }
    }

    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
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

/// What a validated request head says, as spans into the bytes it was parsed from.
/// It holds no bytes: the connection keeps it beside its input buffer, and pairs the
/// two again as a [`RequestHead`] when the request is routed.
#[derive(Clone, Debug)]
pub struct ParsedHead {
    pub method: Method,
    pub version: Version,
    /// How the body that follows is delimited.
    pub framing: BodyFraming,
    /// The client asked to close (`Connection: close`), or is HTTP/1.0 without
    /// `Connection: keep-alive`.
    pub client_wants_close: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// A field named `If-...` or `Range` was sent: only then do the routes look for
    /// preconditions and ranges (`protocol::conditional`), so most requests skip it.
    pub may_be_conditional: bool,
    /// The head's length in bytes: the spans below lie within it.
    len: u32,
    method_span: Span,
    target_span: Span,
    /// The path inside the target, found once: routes ask for it several times.
    /// `None` for an absolute-form target without one (`http://host`), which is `/`.
    path_span: Option<Span>,
    /// The `X-Request-Id` value, noticed in the same pass as the framing fields.
    request_id: Option<Span>,
    /// Where the field lines start. Their positions are not kept: the one pass at
    /// parse time notes every field the core acts on, and a route that asks for
    /// another (rare: Range, If-*, /echo) reads the lines again, which keeps a
    /// parsed head small enough to move through the connection's queues cheaply.
    fields_at: u32,
}

impl ParsedHead {
    /// The head's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }
}

/// A request head and the bytes it was parsed from, borrowed: no copy of the head
/// is made to route it. The fields of [`ParsedHead`] are reachable through it.
#[derive(Clone, Debug)]
pub struct RequestHead<'a> {
    parsed: ParsedHead,
    /// Exactly the bytes `parse_head` parsed `parsed` from (see [`Self::text`]).
    bytes: &'a [u8],
}

impl std::ops::Deref for RequestHead<'_> {
    type Target = ParsedHead;
    fn deref(&self) -> &ParsedHead {
        &self.parsed
    }
}

impl<'a> RequestHead<'a> {
    /// Pairs a head with its bytes again, after the connection kept them apart.
    ///
    /// Contract (the reason this is not public): `bytes` are the very bytes
    /// `parse_head` returned `parsed` for, up to its length: the same buffer, or an
    /// exact copy of its head. The accessors below rely on it.
    pub(crate) fn reunite(parsed: ParsedHead, bytes: &'a [u8]) -> Self {
        debug_assert_eq!(bytes.len(), parsed.len as usize);
        Self { parsed, bytes }
    }

    /// The head without its bytes, for the connection to keep.
    pub(crate) fn into_parsed(self) -> ParsedHead {
        self.parsed
    }

    /// The head's bytes, request line to blank line.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The method as sent, e.g. `GET` or `BREW`.
    pub fn method_str(&self) -> &'a str {
        self.text(self.parsed.method_span)
    }

    /// The request target as sent: origin-form (`/a?b`), absolute-form or `*`.
    pub fn target(&self) -> &'a str {
        self.text(self.parsed.target_span)
    }

    /// The path part of the target, still percent-encoded. For absolute-form
    /// (`http://host/p?q`) this is `/p`; for `*` it is `*`.
    pub fn path(&self) -> &'a str {
        self.parsed.path_span.map_or("/", |span| self.text(span))
    }

    /// The query string, without the `?`.
    pub fn query(&self) -> Option<&'a str> {
        self.target().split_once('?').map(|(_, q)| q)
    }

    /// The `X-Request-Id` value, if one was sent (the first, if several were).
    pub fn request_id(&self) -> Option<&'a [u8]> {
        self.parsed.request_id.map(|span| &self.bytes[span.range()])
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        // Compared as bytes: turning every name into a `&str` to compare it showed
        // up in profiles.
        self.field_lines()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value)
    }

    /// All fields in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.field_lines().map(|(name, value)| {
            // SAFETY: a field name is a token (RFC 9110 §5.1), which httparse checked
            // byte by byte when it parsed these bytes (the contract of `reunite`):
            // ASCII, so UTF-8.
            (unsafe { std::str::from_utf8_unchecked(name) }, value)
        })
    }

    /// The field lines as httparse accepted them, read again: `name ":" OWS value
    /// OWS` ending in LF or CRLF, until the empty line. httparse (default config)
    /// refuses every other shape, so this cuts the same names and values it did:
    /// the value without the OWS around it (nor the CR).
    fn field_lines(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        let is_ows = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
        self.bytes[self.parsed.fields_at as usize..]
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .take_while(|line| !line.is_empty())
            .filter_map(move |line| {
                let colon = line.iter().position(|&b| b == b':')?;
                let value = &line[colon + 1..];
                let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
                let end = value
                    .iter()
                    .rposition(|b| !is_ows(b))
                    .map_or(start, |e| e + 1);
                Some((&line[..colon], &value[start..end]))
            })
    }

    fn text(&self, span: Span) -> &'a str {
        let bytes = &self.bytes[span.range()];
        // SAFETY: `bytes` are the bytes `parse_head` parsed (the contract of
        // `reunite`; `parse_head` itself pairs them with their own buffer), and every
        // span here was cut there from a `&str` httparse had validated (method,
        // target, path, field names), so they hold UTF-8 and begin and end on
        // character boundaries. Checking the UTF-8 again on every access cost 117
        // instructions a request, 1.7% of the core's cost (callgrind, 20 000 requests
        // alternating wrk's and a browser's head through Connection and the router,
        // `from_utf8` against this: 139.2 M against 136.9 M instructions).
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

/// Parses one request head from the start of `buf`.
///
/// Besides httparse's syntax checks (which reject bare CR, control characters,
/// obs-fold and whitespace before the colon), this applies RFC 9112's framing rules:
/// Host, Content-Length, Transfer-Encoding, and the configured size limits.
pub fn parse_head<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<RequestHead<'a>>, Reject> {
    // Past a limit, only the bytes before it are parsed: the verdict must not depend
    // on how many bytes beyond the limit happened to arrive in the same read.
    let (buf, over) = within_limits(buf, limits);

    // Uninitialised slots: zeroing 256 headers (8 KiB) cost more than the parse.
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let field_limit = limits.max_headers.clamp(1, MAX_HEADERS_CAP);
    let mut req = httparse::Request::new(&mut []);
    let consumed = match req.parse_with_uninit_headers(buf, &mut storage[..field_limit]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return over.map_or(Ok(Parsed::Incomplete), Err),
        Err(httparse::Error::TooManyHeaders) => return Err(Reject::TooManyHeaders),
        Err(httparse::Error::Version) => {
            return match version_verdict(buf) {
                Ok(()) => over.map_or(Ok(Parsed::Incomplete), Err),
                Err(reject) => Err(reject),
            }
        }
        Err(_) => return Err(Reject::Malformed),
    };
    // A head that ends before the first broken limit is within the limits (what
    // follows it is the body or the next request).
    debug_assert!(consumed <= limits.max_head);

    let base = buf.as_ptr() as usize;
    let span_of = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        Span::new(start..start + s.len())
    };
    let method_str = req.method.unwrap_or("");
    let method = Method::from_token(method_str);
    let target_str = req.path.unwrap_or("");
    if target_authority(target_str).is_some_and(|a| !host::is_valid_target_authority(a.as_bytes()))
    {
        return Err(Reject::InvalidTargetAuthority);
    }
    let version = if req.version == Some(0) {
        Version::Http10
    } else {
        Version::Http11
    };

    let mut fields = FieldSummary::default();
    for h in req.headers.iter() {
        if fields.note(h.name, h.value)? == Noted::RequestId && fields.request_id.is_none() {
            fields.request_id = Some(span_of(h.value));
        }
    }
    // The field lines start after the request line: the first LF after the target
    // (empty lines before the request line come before the target).
    let target = span_of(target_str.as_bytes());
    let fields_at = buf[target.end as usize..consumed]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(consumed, |lf| target.end as usize + lf + 1);
    let framing = fields.framing(version)?;

    if version == Version::Http11 && fields.hosts == 0 {
        return Err(Reject::MissingHost);
    }
    if fields.hosts > 1 {
        return Err(Reject::RepeatedHost);
    }

    let client_wants_close = fields.close || (version == Version::Http10 && !fields.keep_alive);

    // Only the head is the request's: the body (if any) and whatever follows are
    // the connection's to decode.
    Ok(Parsed::Complete {
        value: RequestHead {
            parsed: ParsedHead {
                method,
                version,
                framing,
                client_wants_close,
                expect_continue: fields.expect_continue && version == Version::Http11,
                may_be_conditional: fields.conditional,
                len: Span::new(0..consumed).end,
                method_span: span_of(method_str.as_bytes()),
                target_span: target,
                path_span: path_of(target_str).map(|p| span_of(p.as_bytes())),
                request_id: fields.request_id,
                fields_at: Span::new(0..fields_at).end,
            },
            bytes: &buf[..consumed],
        },
        consumed,
    })
}

/// The path part of a request target, a slice of it; `None` when an absolute-form
/// target has no path (`http://host?q`). Origin-form is the common case; only
/// absolute-form (`http://host/p?q`) needs the authority cut.
fn path_of(target: &str) -> Option<&str> {
    let without_scheme = if target.starts_with('/') {
        target
    } else if let Some(i) = target.find("://") {
        let rest = &target[i + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let after = &rest[authority_end..];
        if !after.starts_with('/') {
            return None;
        }
        after
    } else {
        target
    };
    Some(
        match without_scheme.as_bytes().iter().position(|&b| b == b'?') {
            Some(q) => &without_scheme[..q],
            None => without_scheme,
        },
    )
}

/// The authority of an absolute-form target (`http://host:port/p` gives `host:port`),
/// `None` for every other form.
fn target_authority(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return None;
    }
    let rest = &target[target.find("://")? + 3..];
    Some(&rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())])
}

/// The part of `buf` a verdict may depend on, and the limit broken past it.
///
/// A limit is broken at one byte: the first request-line byte beyond
/// `max_request_line` (414), or the first head byte beyond `max_head` (431). Only the
/// bytes before the first broken limit are parsed, so a syntax error before it wins
/// (400), and one after it cannot change the answer, however the input was split.
/// Both are found before the head ends, so a client cannot make us buffer forever.
/// With the default limits the request line's comes first: 414 wins over 431 when
/// it is the request line that is long.
fn within_limits<'b>(buf: &'b [u8], limits: &Limits) -> (&'b [u8], Option<Reject>) {
    // Bytes no longer than either limit cannot break one (the usual case: a read
    // of a few requests), so they need no scan for the end of the line.
    if buf.len() <= limits.max_request_line && buf.len() <= limits.max_head {
        return (buf, None);
    }
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
    // The byte after the limit breaks it, unless it is a CR: that one breaks it only
    // when no LF follows, and it may already be an error itself (`GET /\r`), which
    // the parse must see like it does when the CR arrives alone.
    let line_over = (line_len > limits.max_request_line).then(|| {
        let end = start + limits.max_request_line;
        end + usize::from(buf[end] == b'\r')
    });
    let head_over = (buf.len() > limits.max_head).then_some(limits.max_head);
    match (line_over, head_over) {
        (Some(line), Some(head)) if head < line => (&buf[..head], Some(Reject::HeadTooLarge)),
        (Some(line), _) => (&buf[..line], Some(Reject::RequestLineTooLong)),
        (None, Some(head)) => (&buf[..head], Some(Reject::HeadTooLarge)),
        (None, None) => (buf, None),
    }
}

/// httparse stopped at a version other than HTTP/1.0 and HTTP/1.1: a well-formed
/// version we do not support (`HTTP/2.0`, `HTTP/1.2`: 505) or garbage (400).
///
/// That is only known once the request line has ended: `HTTP/2` may go on as
/// `HTTP/2.0` or as `HTTP/2x`. Judging part of the line would make the answer depend
/// on how the client's bytes were split into reads, so an unfinished line that can
/// still become a version waits for more input: `Ok(())`.
fn version_verdict(buf: &[u8]) -> Result<(), Reject> {
    // RFC 9112 §2.2: empty lines before the request line are ignored (as httparse does).
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let (line, ended) = match line.iter().position(|&b| b == b'\n') {
        Some(end) => (&line[..end], true),
        None => (line, false),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // `method SP target SP version`: the version is the rest of the line after the
    // second space (so `GET GET / HTTP/1.1` is garbage, not a version).
    let version = line.splitn(3, |&b| b == b' ').nth(2).unwrap_or(b"");
    if ended {
        if is_http_version(version) {
            Err(Reject::UnsupportedVersion)
        } else {
            Err(Reject::Malformed)
        }
    } else if could_become_http_version(version) {
        Ok(())
    } else {
        Err(Reject::Malformed)
    }
}

/// `HTTP/d.d` or `HTTP/d`.
fn is_http_version(token: &[u8]) -> bool {
    match token {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        [b'H', b'T', b'T', b'P', b'/', major] => major.is_ascii_digit(),
        _ => false,
    }
}

/// `token` is the start of `HTTP/d.d` (which includes all of `HTTP/d`).
fn could_become_http_version(token: &[u8]) -> bool {
    const PREFIX: &[u8] = b"HTTP/";
    if token.len() <= PREFIX.len() {
        return PREFIX.starts_with(token);
    }
    let rest = &token[PREFIX.len()..];
    token.starts_with(PREFIX)
        && match rest {
            [major] | [major, b'.'] => major.is_ascii_digit(),
            [major, b'.', minor] => major.is_ascii_digit() && minor.is_ascii_digit(),
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
    /// A field named `If-...` or `Range`.
    conditional: bool,
    /// Where the first `X-Request-Id` value is.
    request_id: Option<Span>,
}

/// What kind of field [`FieldSummary::note`] saw, when the caller needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Noted {
    RequestId,
    Other,
}

impl FieldSummary {
    /// Classifies one field and checks the ones the core interprets. One pass: the
    /// name's length picks the only candidate it can be, so each field costs one
    /// comparison, not one per name the core knows.
    fn note(&mut self, name: &str, value: &[u8]) -> Result<Noted, Reject> {
        let bytes = name.as_bytes();
        let is = |known: &str| bytes.eq_ignore_ascii_case(known.as_bytes());
        match bytes.len() {
            4 if is("host") => {
                self.hosts += 1;
                if !host::is_valid_host(trim_ows(value)) {
                    return Err(Reject::InvalidHost);
                }
            }
            14 if is("content-length") => {
                // RFC 9110 §8.6: a list of identical values may be treated as one value.
                for item in value.split(|&b| b == b',') {
                    let length = parse_content_length(trim_ows(item))?;
                    match self.content_length {
                        Some(seen) if seen != length => {
                            return Err(Reject::ConflictingContentLength)
                        }
                        _ => self.content_length = Some(length),
                    }
                }
            }
            17 if is("transfer-encoding") => {
                self.has_transfer_encoding = true;
                for item in value.split(|&b| b == b',') {
                    let coding = trim_ows(item);
                    if !coding.is_empty() {
                        self.transfer_codings
                            .push(String::from_utf8_lossy(coding).to_ascii_lowercase());
                    }
                }
            }
            10 if is("connection") => {
                for token in value.split(|&b| b == b',') {
                    let token = trim_ows(token);
                    self.close |= token.eq_ignore_ascii_case(b"close");
                    self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            6 if is("expect") => {
                // `Expect = #expectation` (RFC 9110 §10.1.1), case-insensitive; empty
                // list members are ignored (§5.6.1). Anything but 100-continue: 417.
                for member in value.split(|&b| b == b',').map(trim_ows) {
                    if member.eq_ignore_ascii_case(b"100-continue") {
                        self.expect_continue = true;
                    } else if !member.is_empty() {
                        return Err(Reject::UnsupportedExpectation);
                    }
                }
            }
            12 if is("x-request-id") => return Ok(Noted::RequestId),
            5 if is("range") => self.conditional = true,
            _ => {
                self.conditional |= bytes
                    .get(..3)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"if-"));
            }
        }
        Ok(Noted::Other)
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

    fn parse(raw: &str) -> Result<Parsed<RequestHead<'_>>, Reject> {
        parse_head(raw.as_bytes(), &Limits::default())
    }

    #[test]
    fn the_path_is_cut_from_every_target_form() {
        for (target, path) in [
            ("/a/b?q=1", "/a/b"),
            ("/", "/"),
            ("/?", "/"),
            ("http://host/p?q", "/p"),
            ("http://host", "/"),
            ("http://host?x/y", "/"),
            ("https://host:8080/a/b", "/a/b"),
            ("*", "*"),
        ] {
            let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
            let head = complete(&raw);
            assert_eq!(head.path(), path, "{target}");
            assert_eq!(head.target(), target);
        }
    }

    fn complete(raw: &str) -> RequestHead<'_> {
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
    fn a_version_is_judged_when_the_request_line_ends() {
        let cases: [(&str, Reject); 5] = [
            (
                "GET / HTTP/9.9\r\nHost: h\r\n\r\n",
                Reject::UnsupportedVersion,
            ),
            (
                "GET / HTTP/2\r\nHost: h\r\n\r\n",
                Reject::UnsupportedVersion,
            ),
            ("GET / HTTP/2x\r\nHost: h\r\n\r\n", Reject::Malformed),
            ("GET GET / HTTP/1.1\r\nHost: h\r\n\r\n", Reject::Malformed),
            (
                "\r\nGET / HTTP/2.0\r\nHost: h\r\n\r\n",
                Reject::UnsupportedVersion,
            ),
        ];
        for (raw, reject) in cases {
            assert_eq!(parse(raw).unwrap_err(), reject, "{raw:?}");
            // Every prefix either waits for more or already has the final answer.
            for cut in 0..raw.len() {
                match parse(&raw[..cut]) {
                    Ok(Parsed::Incomplete) => {}
                    Err(r) if r == reject => {}
                    other => panic!("{:?}: {other:?}", &raw[..cut]),
                }
            }
        }
    }

    #[test]
    fn a_limit_is_judged_on_the_bytes_before_it() {
        let line_12 = Limits {
            max_request_line: 12,
            ..Limits::default()
        };
        let long_line = format!("GET /a\x01{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(9000));
        let cases: [(&[u8], Limits, Reject); 4] = [
            // A control byte before the line limit: 400, not 414.
            (long_line.as_bytes(), Limits::default(), Reject::Malformed),
            // A CR just past the limit, not followed by LF, after a target with no
            // version: the parse sees the CR as it does when it arrives alone.
            (b"GET HTTP/1.1\r\0\0\n\r\n", line_12, Reject::Malformed),
            // Past the limit with nothing wrong before it: 414.
            (
                b"GET /abcdefgh HTTP/1.1\r\n\r\n",
                line_12,
                Reject::RequestLineTooLong,
            ),
            // A bad byte beyond max_head: the head was already too large.
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nX-A: aaaa\0\r\n\r\n",
                Limits {
                    max_head: 30,
                    ..Limits::default()
                },
                Reject::HeadTooLarge,
            ),
        ];
        for (raw, limits, reject) in cases {
            let shown = String::from_utf8_lossy(&raw[..raw.len().min(40)]);
            assert_eq!(parse_head(raw, &limits).unwrap_err(), reject, "{shown:?}");
            for cut in 0..raw.len() {
                match parse_head(&raw[..cut], &limits) {
                    Ok(Parsed::Incomplete) => {}
                    Err(r) if r == reject => {}
                    other => panic!("{shown:?} cut at {cut}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn conditional_and_range_fields_are_noticed() {
        for (field, noticed) in [
            ("If-None-Match: \"a\"", true),
            ("if-modified-since: x", true),
            ("IF-RANGE: x", true),
            ("If-Anything: x", true),
            ("Range: bytes=0-1", true),
            ("range: x", true),
            ("X-If-None-Match: x", false),
            ("Ranges: x", false),
            ("If: x", false),
            ("Accept: */*", false),
        ] {
            let raw = format!("GET / HTTP/1.1\r\nHost: h\r\n{field}\r\n\r\n");
            let head = complete(&raw);
            assert_eq!(head.may_be_conditional, noticed, "{field}");
        }
        assert!(!complete("GET / HTTP/1.1\r\nHost: h\r\n\r\n").may_be_conditional);
    }

    /// The fields are read again from the bytes when asked: the same names and
    /// values httparse cut, whatever the whitespace and line endings.
    #[test]
    fn fields_read_again_are_httparses() {
        let raw = "\r\nGET /x HTTP/1.1\r\nHost: h\r\nX-A:  spaced \t \r\nX-Empty:\r\n\
                   X-Tabs:\t\tv\nX-Colon: a:b: c\r\nx-request-id: 7\r\n\r\nGET /next";
        let head = complete(raw);
        let mut storage = [httparse::EMPTY_HEADER; 16];
        let mut direct = httparse::Request::new(&mut storage);
        assert!(direct.parse(raw.as_bytes()).unwrap().is_complete());
        let theirs: Vec<(&str, &[u8])> = direct.headers.iter().map(|h| (h.name, h.value)).collect();
        assert_eq!(head.headers().collect::<Vec<_>>(), theirs);
        assert_eq!(head.header("x-a"), Some(&b"spaced"[..]));
        assert_eq!(head.header("X-EMPTY"), Some(&b""[..]));
        assert_eq!(head.header("x-colon"), Some(&b"a:b: c"[..]));
        assert_eq!(head.request_id(), Some(&b"7"[..]));
        assert_eq!(head.header("next"), None);
    }

    #[test]
    fn content_length_overflow_is_rejected() {
        let raw = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n";
        assert_eq!(parse(raw).unwrap_err(), Reject::InvalidContentLength);
        let max = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n";
        assert_eq!(complete(max).framing, BodyFraming::Length(u64::MAX));
    }
}
