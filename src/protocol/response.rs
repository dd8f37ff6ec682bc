//! Responses and their serialization.
//!
//! Rule: this file turns a [`Response`] into bytes and never reads a file: a
//! [`Body::File`] range, and each file piece of a [`Body::Parts`], is handed to the
//! I/O driver, which copies it to the socket (with `sendfile` where it can). Every response gets `Date`, `Server` and a
//! `Content-Length` (this server always knows its body lengths, so it never needs
//! chunked output), except where RFC 9110 forbids one (1xx, 204, 304).
//!
//! Length: past 600 lines only with its unit tests (the code is under 480 lines).

use std::borrow::Cow;
use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

use super::date::{Now, HTTP_DATE_LEN};

/// The `Server` header value.
pub const SERVER_NAME: &str = concat!("reactor/", env!("CARGO_PKG_VERSION"));

/// A byte range of an open file, sent as the body without being read into memory.
#[derive(Debug)]
pub struct FileBody {
    pub file: File,
    pub offset: u64,
    pub len: u64,
}

/// Bytes and ranges of one file, in order: a `multipart/byteranges` body whose
/// file parts are sent like any file range, never read into memory.
#[derive(Debug)]
pub struct PartsBody {
    pub file: File,
    pub pieces: Vec<Piece>,
}

/// One piece of a [`PartsBody`].
#[derive(Debug)]
pub enum Piece {
    Bytes(Vec<u8>),
    File { offset: u64, len: u64 },
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::File { len, .. } => *len,
        }
    }
}

/// A response body.
#[derive(Debug, Default)]
pub enum Body {
    /// No body at all (`Content-Length: 0`).
    #[default]
    Empty,
    /// Bytes compiled into the binary: no allocation per response.
    Static(&'static [u8]),
    /// Bytes built for this response.
    Bytes(Vec<u8>),
    /// Part of a buffer shared with a cache (a small file kept in memory): each
    /// response holds a reference, and the bytes are copied once, into the output.
    Shared(SharedBytes),
    /// Part or all of a file, streamed by the driver.
    File(FileBody),
    /// Bytes and file ranges in turn (several ranges of a large file).
    Parts(PartsBody),
    /// A whole response prepared once (a cached file's 200, `/hello`): its head
    /// template carries every field, so the route adds none.
    Prepared(Arc<PreparedResponse>),
}

impl Body {
    /// The body length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Static(b) => b.len() as u64,
            Self::Bytes(b) => b.len() as u64,
            Self::Shared(b) => b.as_slice().len() as u64,
            Self::File(f) => f.len,
            Self::Parts(p) => p.pieces.iter().map(Piece::len).sum(),
            Self::Prepared(p) => p.body_len() as u64,
        }
    }

    /// The body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A header field value: fixed text, text built for this response, or text shared
/// with a cache (a file's `Last-Modified`), so common values cost no allocation.
#[derive(Clone, Debug)]
pub enum HeaderValue {
    Static(&'static str),
    Owned(String),
    Shared(Arc<str>),
}

impl HeaderValue {
    /// The value as text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Static(s) => s,
            Self::Owned(s) => s,
            Self::Shared(s) => s,
        }
    }
}

impl From<&'static str> for HeaderValue {
    fn from(s: &'static str) -> Self {
        Self::Static(s)
    }
}

impl From<String> for HeaderValue {
    fn from(s: String) -> Self {
        Self::Owned(s)
    }
}

impl From<Arc<str>> for HeaderValue {
    fn from(s: Arc<str>) -> Self {
        Self::Shared(s)
    }
}

/// A range of a shared, immutable buffer.
#[derive(Clone, Debug)]
pub struct SharedBytes {
    bytes: Arc<[u8]>,
    range: Range<usize>,
}

impl SharedBytes {
    /// `bytes[range]`; a range beyond the buffer is cut to fit.
    pub fn new(bytes: Arc<[u8]>, range: Range<usize>) -> Self {
        let end = range.end.min(bytes.len());
        let start = range.start.min(end);
        Self {
            bytes,
            range: start..end,
        }
    }

    /// The bytes in the range.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[self.range.clone()]
    }

    /// `range` of these bytes (cut to fit), sharing the same buffer.
    pub fn slice(&self, range: Range<usize>) -> Self {
        let start = self.range.start + range.start.min(self.range.len());
        let end = self.range.start + range.end.min(self.range.len());
        Self::new(Arc::clone(&self.bytes), start..end.max(start))
    }
}

/// A response rendered once, for the answers a busy server repeats (a cached file's
/// 200, `/hello`): status line, `Server`, every field the route would add
/// (Content-Type, Content-Length, ETag, ...), the blank line and the body, as one
/// buffer with a gap for the `Date` value. A keep-alive answer is then one copy
/// and the date; only when the connection adds a field of its own (`Connection`,
/// `X-Request-Id`) is it copied in two parts around them. It is built by the same
/// code that writes any head ([`PreparedResponse::new`]), so a prepared answer and
/// a freshly built one are the same bytes.
#[derive(Debug)]
pub struct PreparedResponse {
    status: u16,
    /// The whole response; the body is shared with whoever lends it out
    /// ([`PreparedResponse::body`]).
    bytes: Arc<[u8]>,
    /// Where the `Date` value goes.
    date_at: usize,
    /// Where the route's fields end: the connection's go here, then the blank line.
    fields_end: usize,
}

impl PreparedResponse {
    /// Renders `response` once: its head, and its body, which must be in memory
    /// (a file body is for the driver to send, and cannot be prepared).
    pub fn new(response: &Response) -> Self {
        let body: &[u8] = match &response.body {
            Body::Static(bytes) => bytes,
            Body::Bytes(bytes) => bytes,
            Body::Shared(bytes) => bytes.as_slice(),
            Body::Prepared(prepared) => &prepared.bytes[prepared.body_at()..],
            Body::Empty | Body::File(_) | Body::Parts(_) => {
                debug_assert!(
                    response.body.is_empty(),
                    "only a body in memory is prepared"
                );
                &[]
            }
        };
        let mut bytes = Vec::with_capacity(HEAD_RESERVE + body.len());
        write_status_line(&mut bytes, response.status);
        let date_at = bytes.len();
        bytes.extend_from_slice(&[b' '; HTTP_DATE_LEN]);
        write_entity_fields(&mut bytes, response);
        let fields_end = bytes.len();
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(body);
        Self {
            status: response.status,
            bytes: bytes.into(),
            date_at,
            fields_end,
        }
    }

    /// The body, shared: no copy is made.
    pub fn body(&self) -> SharedBytes {
        SharedBytes::new(Arc::clone(&self.bytes), self.body_at()..self.bytes.len())
    }

    fn body_at(&self) -> usize {
        self.fields_end + 2
    }

    fn body_len(&self) -> usize {
        self.bytes.len() - self.body_at()
    }

    /// Appends bytes `..end` with the date filled in.
    fn write_until(&self, out: &mut Vec<u8>, end: usize, date: &[u8; HTTP_DATE_LEN]) {
        let at = out.len() + self.date_at;
        out.extend_from_slice(&self.bytes[..end]);
        out[at..at + HTTP_DATE_LEN].copy_from_slice(date);
    }
}

/// A response as routes build it; the connection adds the framing headers.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<Cow<'static, str>>,
    /// Extra fields (`Allow`, `Location`, `Last-Modified`...). The connection writes
    /// Date, Server, Content-Length, Connection and X-Request-Id itself.
    pub headers: Vec<(Cow<'static, str>, HeaderValue)>,
    pub body: Body,
}

impl Response {
    /// A response with no body and no content type.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// A response prepared once and shared: no field is built, and serializing it
    /// is three copies (the template around the `Date`, then the body).
    pub fn prepared(prepared: &Arc<PreparedResponse>) -> Self {
        Self {
            status: prepared.status,
            content_type: None,
            headers: Vec::new(),
            body: Body::Prepared(Arc::clone(prepared)),
        }
    }

    /// A response with a body of the given type.
    pub fn with_body(status: u16, content_type: impl Into<Cow<'static, str>>, body: Body) -> Self {
        Self {
            status,
            content_type: Some(content_type.into()),
            headers: Vec::new(),
            body,
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<TextBody>) -> Self {
        Self::with_body(status, "text/plain; charset=utf-8", body.into().0)
    }

    /// A `text/html` response.
    pub fn html(status: u16, body: impl Into<TextBody>) -> Self {
        Self::with_body(status, "text/html; charset=utf-8", body.into().0)
    }

    /// An error response whose short text body says what was wrong, e.g.
    /// `404 Not Found: no such file`.
    pub fn error(status: u16, detail: &str) -> Self {
        Self::text(
            status,
            format!("{status} {}: {detail}\n", reason_phrase(status)),
        )
    }

    /// Adds a header field.
    pub fn header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<HeaderValue>,
    ) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The status class counted in `/stats` (1 to 5).
    pub fn class(&self) -> usize {
        usize::from(self.status / 100).clamp(1, 5)
    }

    /// The status forbids a body and a Content-Length (RFC 9110 §8.6, §15.3.5, §15.4.5).
    fn has_no_content(&self) -> bool {
        self.status < 200 || self.status == 204 || self.status == 304
    }
}

/// Lets `Response::text` take static strings without allocating and built ones too.
pub struct TextBody(Body);

impl From<&'static str> for TextBody {
    fn from(s: &'static str) -> Self {
        Self(Body::Static(s.as_bytes()))
    }
}

impl From<String> for TextBody {
    fn from(s: String) -> Self {
        Self(Body::Bytes(s.into_bytes()))
    }
}

impl From<Vec<u8>> for TextBody {
    fn from(b: Vec<u8>) -> Self {
        Self(Body::Bytes(b))
    }
}

/// What the connection decided about the message around a response.
#[derive(Clone, Copy, Debug)]
pub struct Framing<'a> {
    pub now: &'a Now,
    /// Send `Connection: close` (and close after this response).
    pub close: bool,
    /// The request was HTTP/1.0 with keep-alive, which must be confirmed explicitly.
    pub confirm_keep_alive: bool,
    /// The request was HEAD: same headers, no body.
    pub head_request: bool,
    /// Echoed unchanged as `X-Request-Id`.
    pub request_id: Option<&'a [u8]>,
}

/// The reason phrase for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The interim response sent before reading a body the client is holding back.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Room for a typical response head, reserved before writing one.
const HEAD_RESERVE: usize = 256;

/// `HTTP/1.1 200 OK\r\nServer: reactor/x.y.z\r\nDate: ` for the statuses a busy
/// server sends most, as one constant: a single copy instead of seven.
fn common_prefix(status: u16) -> Option<&'static [u8]> {
    macro_rules! prefix {
        ($status:literal, $reason:literal) => {
            concat!(
                "HTTP/1.1 ",
                $status,
                " ",
                $reason,
                "\r\nServer: reactor/",
                env!("CARGO_PKG_VERSION"),
                "\r\nDate: "
            )
            .as_bytes()
        };
    }
    Some(match status {
        200 => prefix!("200", "OK"),
        206 => prefix!("206", "Partial Content"),
        304 => prefix!("304", "Not Modified"),
        404 => prefix!("404", "Not Found"),
        _ => return None,
    })
}

/// Appends the status line and header section of `response` to `out`, in this
/// order: status line, Server, Date; the route's fields (Content-Type,
/// Content-Length, then its own); the connection's (Connection, X-Request-Id).
pub fn write_head(out: &mut Vec<u8>, response: &Response, framing: &Framing<'_>) {
    // One reservation, then copies that never reallocate.
    out.reserve(HEAD_RESERVE);
    if let Body::Prepared(prepared) = &response.body {
        prepared.write_until(out, prepared.fields_end, &framing.now.date);
    } else {
        write_status_line(out, response.status);
        out.extend_from_slice(&framing.now.date);
        write_entity_fields(out, response);
    }
    if framing.close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if framing.confirm_keep_alive {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    if let Some(id) = framing.request_id {
        header_line(out, "X-Request-Id", id);
    }
    out.extend_from_slice(b"\r\n");
}

/// The status line and `Server`, up to the `Date` value.
fn write_status_line(out: &mut Vec<u8>, status: u16) {
    if let Some(prefix) = common_prefix(status) {
        out.extend_from_slice(prefix);
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason_phrase(status).as_bytes());
        out.extend_from_slice(b"\r\nServer: ");
        out.extend_from_slice(SERVER_NAME.as_bytes());
        out.extend_from_slice(b"\r\nDate: ");
    }
}

/// From the end of the `Date` value to the end of the route's fields: Content-Type,
/// Content-Length (unless the status forbids one) and the route's own fields.
fn write_entity_fields(out: &mut Vec<u8>, response: &Response) {
    out.extend_from_slice(b"\r\n");
    if let Some(content_type) = &response.content_type {
        header_line(out, "Content-Type", content_type.as_bytes());
    }
    if !response.has_no_content() {
        let mut number = itoa::Buffer::new();
        header_line(
            out,
            "Content-Length",
            number.format(response.body.len()).as_bytes(),
        );
    }
    for (name, value) in &response.headers {
        header_line(out, name, value.as_str().as_bytes());
    }
}

/// Where the body goes once the head is written.
pub enum BodyOut {
    /// Nothing more to send.
    Done,
    /// File ranges (and the bytes between them) must follow.
    File(FileOut),
}

/// The file part of a body being sent: the current range, and what follows it.
/// The connection shows the range to the driver as [`super::Output::File`]; when it
/// is sent, [`FileOut::advance`] appends the bytes that follow to the output buffer
/// and moves to the next range, so the driver only ever sees bytes or one range.
#[derive(Debug)]
pub struct FileOut {
    file: File,
    offset: u64,
    len: u64,
    rest: std::vec::IntoIter<Piece>,
}

impl FileOut {
    /// Appends the leading byte pieces to `out` and stops at the first file range;
    /// `None` when no file range is left.
    fn start(file: File, mut rest: std::vec::IntoIter<Piece>, out: &mut Vec<u8>) -> Option<Self> {
        let (offset, len) = next_range(&mut rest, out)?;
        Some(Self {
            file,
            offset,
            len,
            rest,
        })
    }

    /// The file being sent.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where the current range starts now.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// What is left of the current range (never 0).
    pub fn remaining(&self) -> u64 {
        self.len
    }

    /// `n` bytes of the current range went out. When it is done, the bytes that
    /// follow are appended to `out`; `false` once no file range is left.
    pub fn advance(&mut self, n: u64, out: &mut Vec<u8>) -> bool {
        let n = n.min(self.len);
        self.offset += n;
        self.len -= n;
        if self.len > 0 {
            return true;
        }
        match next_range(&mut self.rest, out) {
            Some((offset, len)) => {
                self.offset = offset;
                self.len = len;
                true
            }
            None => false,
        }
    }
}

/// Appends byte pieces to `out` up to the next non-empty file range.
fn next_range(pieces: &mut std::vec::IntoIter<Piece>, out: &mut Vec<u8>) -> Option<(u64, u64)> {
    for piece in pieces {
        match piece {
            Piece::Bytes(bytes) => out.extend_from_slice(&bytes),
            Piece::File { len: 0, .. } => {}
            Piece::File { offset, len } => return Some((offset, len)),
        }
    }
    None
}

/// Appends the whole response to `out`, except a file body, which is returned.
pub fn write_response(out: &mut Vec<u8>, response: Response, framing: &Framing<'_>) -> BodyOut {
    if let Body::Prepared(prepared) = &response.body {
        // The connection adds no field (a keep-alive answer with no request id):
        // the whole response is one copy.
        if !(framing.close || framing.confirm_keep_alive || framing.request_id.is_some()) {
            let end = if framing.head_request {
                prepared.body_at()
            } else {
                prepared.bytes.len()
            };
            prepared.write_until(out, end, &framing.now.date);
            return BodyOut::Done;
        }
    }
    write_head(out, &response, framing);
    if framing.head_request || response.has_no_content() {
        return BodyOut::Done;
    }
    match response.body {
        Body::Empty => BodyOut::Done,
        Body::Static(bytes) => {
            out.extend_from_slice(bytes);
            BodyOut::Done
        }
        Body::Bytes(bytes) => {
            out.extend_from_slice(&bytes);
            BodyOut::Done
        }
        Body::Shared(bytes) => {
            out.extend_from_slice(bytes.as_slice());
            BodyOut::Done
        }
        Body::Prepared(prepared) => {
            out.extend_from_slice(&prepared.bytes[prepared.body_at()..]);
            BodyOut::Done
        }
        Body::File(FileBody { file, offset, len }) => {
            let range = vec![Piece::File { offset, len }];
            FileOut::start(file, range.into_iter(), out).map_or(BodyOut::Done, BodyOut::File)
        }
        Body::Parts(PartsBody { file, pieces }) => {
            FileOut::start(file, pieces.into_iter(), out).map_or(BodyOut::Done, BodyOut::File)
        }
    }
}

#[inline]
fn header_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::date::DateCache;
    use std::time::{Duration, Instant, UNIX_EPOCH};

    /// The framing of a plain keep-alive GET: no close, no HEAD, no request id.
    fn plain_framing(now: &Now) -> Framing<'_> {
        Framing {
            now,
            close: false,
            confirm_keep_alive: false,
            head_request: false,
            request_id: None,
        }
    }

    /// Serializes `response` as the connection would, with a fixed date.
    fn serialize(response: Response, close: bool, head_request: bool, id: Option<&[u8]>) -> String {
        let now = DateCache::new().now(
            Instant::now(),
            UNIX_EPOCH + Duration::from_secs(784_111_777),
        );
        let framing = Framing {
            close,
            head_request,
            request_id: id,
            ..plain_framing(&now)
        };
        let mut out = Vec::new();
        write_response(&mut out, response, &framing);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn serializes_head_and_body_with_framing_headers() {
        let text = serialize(
            Response::text(200, "Hello, world!"),
            false,
            false,
            Some(b"abc-1"),
        );
        assert_eq!(
            text,
            format!(
                "HTTP/1.1 200 OK\r\nServer: {SERVER_NAME}\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\
                 X-Request-Id: abc-1\r\n\r\nHello, world!"
            )
        );
    }

    /// A prepared answer is the same bytes as the one built each time, whatever
    /// fields the connection adds and whether the request was HEAD.
    #[test]
    fn prepared_responses_are_the_bytes_a_built_one_would_be() {
        let build = || {
            Response::text(200, "Hello, world!")
                .header("ETag", "\"1-d\"")
                .header("Accept-Ranges", "bytes")
        };
        let prepared = Arc::new(PreparedResponse::new(&build()));
        assert_eq!(prepared.body().as_slice(), b"Hello, world!");
        for close in [false, true] {
            for head_request in [false, true] {
                for id in [None, Some(&b"r-1"[..])] {
                    let built = serialize(build(), close, head_request, id);
                    let fast = serialize(Response::prepared(&prepared), close, head_request, id);
                    assert_eq!(fast, built, "close {close}, HEAD {head_request}, id {id:?}");
                }
            }
        }
    }

    #[test]
    fn common_prefixes_match_the_general_form() {
        for status in [200, 206, 304, 404] {
            let general = format!(
                "HTTP/1.1 {status} {}\r\nServer: {SERVER_NAME}\r\nDate: ",
                reason_phrase(status)
            );
            assert_eq!(common_prefix(status), Some(general.as_bytes()), "{status}");
        }
        assert_eq!(common_prefix(418), None);
    }

    #[test]
    fn head_requests_get_the_length_but_no_body() {
        let text = serialize(Response::text(200, "Hello, world!"), true, true, None);
        assert!(text.contains("Content-Length: 13\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn not_modified_and_no_content_have_no_length() {
        for status in [204, 304] {
            let text = serialize(Response::empty(status), false, false, None);
            assert!(!text.contains("Content-Length"), "{text}");
        }
    }

    /// A parts body: the bytes before the first range follow the head, each range
    /// is shown alone, and the bytes after it are appended when it is sent.
    #[test]
    fn parts_bodies_interleave_bytes_and_ranges() {
        // The core never reads the file; any open file will do.
        let file = File::open("/dev/null").unwrap();
        let pieces = vec![
            Piece::Bytes(b"<a>".to_vec()),
            Piece::File { offset: 10, len: 5 },
            Piece::Bytes(b"<b>".to_vec()),
            Piece::Bytes(b"<c>".to_vec()),
            Piece::File { offset: 0, len: 0 },
            Piece::File {
                offset: 100,
                len: 2,
            },
            Piece::Bytes(b"<end>".to_vec()),
        ];
        let body = Body::Parts(PartsBody { file, pieces });
        assert_eq!(body.len(), 3 + 5 + 3 + 3 + 2 + 5);
        let response = Response::with_body(206, "multipart/byteranges; boundary=x", body);
        let now = DateCache::new().now(Instant::now(), UNIX_EPOCH);
        let framing = plain_framing(&now);
        let mut out = Vec::new();
        let BodyOut::File(mut stream) = write_response(&mut out, response, &framing) else {
            panic!("a parts body with file ranges streams");
        };
        assert!(String::from_utf8_lossy(&out).contains("Content-Length: 21\r\n"));
        assert!(out.ends_with(b"\r\n\r\n<a>"));
        assert_eq!((stream.offset(), stream.remaining()), (10, 5));
        out.clear();
        assert!(stream.advance(3, &mut out));
        assert_eq!((stream.offset(), stream.remaining(), out.len()), (13, 2, 0));
        assert!(stream.advance(2, &mut out));
        assert_eq!(out, b"<b><c>");
        assert_eq!((stream.offset(), stream.remaining()), (100, 2));
        out.clear();
        assert!(!stream.advance(2, &mut out));
        assert_eq!(out, b"<end>");
    }

    #[test]
    fn an_empty_file_range_is_no_body() {
        let file = File::open("/dev/null").unwrap();
        let body = Body::File(FileBody {
            file,
            offset: 0,
            len: 0,
        });
        let now = DateCache::new().now(Instant::now(), UNIX_EPOCH);
        let framing = plain_framing(&now);
        let mut out = Vec::new();
        let response = Response::with_body(200, "text/plain", body);
        assert!(matches!(
            write_response(&mut out, response, &framing),
            BodyOut::Done
        ));
    }
}
