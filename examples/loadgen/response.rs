//! Sans-I/O reader of HTTP/1.x responses: bytes in, one framed [`Response`] out.
//!
//! Rule: nothing here touches a socket or the clock, and nothing here knows about request
//! ids or statistics. The caller keeps the bytes that were not consumed, appends what it
//! reads next and calls [`ResponseReader::parse`] again; at end of stream it calls
//! [`ResponseReader::finish`], because only then does a close-delimited body end.
//!
//! Framing follows RFC 9112 §6.3, in its order: HEAD responses, 1xx, 204 and 304 have no
//! body; a `Transfer-Encoding` whose last coding is `chunked` is decoded chunk by chunk
//! (extensions and trailers included); any other `Transfer-Encoding` is read to EOF; a
//! valid `Content-Length` counts the body; no length at all means the body ends at EOF.
//! A length that is not a number, or two lengths that disagree, is a framing error, as the
//! RFC requires of a client (it "MUST treat it as an unrecoverable error").
//!
//! Speed: each reader remembers the last final head it parsed ([`HeadTemplate`]). A head
//! that repeats it except for the `X-Request-Id` value is recognised with two `memcmp`s
//! and a scan of the id, about a tenth of the instructions of an httparse pass; any other
//! difference falls back to the full parse. The tests hold the two paths to the same answer.

use std::fmt;

/// A head longer than this is treated as garbage rather than buffered for ever.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest chunk-size line (with extensions) or trailer line we wait for.
const MAX_LINE_BYTES: usize = 8 * 1024;
/// Headers we look at per response; more is a framing error (`TooManyHeaders`).
const MAX_HEADERS: usize = 64;
/// Echoed request ids longer than this are kept truncated; they cannot match ours anyway.
const MAX_ECHO_BYTES: usize = 64;

/// Why a byte stream is not a well-framed sequence of responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// httparse rejected the status line or a header.
    BadHead(httparse::Error),
    /// No end of head within [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// `Content-Length` is not a decimal number.
    BadContentLength,
    /// Several `Content-Length` values that disagree.
    ConflictingContentLength,
    /// A chunk-size line that is not hex digits, optional extensions and CRLF.
    BadChunkSize,
    /// Chunk data not followed by CRLF.
    MissingChunkCrlf,
    /// A trailer line longer than we are willing to wait for.
    TrailerTooLarge,
    /// The stream ended inside a response head.
    TruncatedHead,
    /// The stream ended before the declared body was complete.
    TruncatedBody,
    /// Bytes arrived when no request was waiting for a response (raised by the connection,
    /// which is the one that knows what is outstanding).
    UnsolicitedBytes,
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadHead(e) => write!(f, "unparsable response head ({e})"),
            Self::HeadTooLarge => write!(f, "response head larger than {MAX_HEAD_BYTES} bytes"),
            Self::BadContentLength => write!(f, "invalid Content-Length"),
            Self::ConflictingContentLength => write!(f, "conflicting Content-Length values"),
            Self::BadChunkSize => write!(f, "invalid chunk-size line"),
            Self::MissingChunkCrlf => write!(f, "chunk data not followed by CRLF"),
            Self::TrailerTooLarge => write!(f, "trailer line too long"),
            Self::TruncatedHead => write!(f, "connection closed inside a response head"),
            Self::TruncatedBody => write!(f, "connection closed before the body was complete"),
            Self::UnsolicitedBytes => write!(f, "bytes received with no request outstanding"),
        }
    }
}

/// The `X-Request-Id` a response carried, copied out of the read buffer (no allocation).
#[derive(Clone, Copy)]
pub struct EchoedId {
    bytes: [u8; MAX_ECHO_BYTES],
    len: usize,
    present: bool,
}

impl EchoedId {
    const ABSENT: Self = Self {
        bytes: [0; MAX_ECHO_BYTES],
        len: 0,
        present: false,
    };

    fn from_value(value: &[u8]) -> Self {
        let value = value.trim_ascii();
        let len = value.len().min(MAX_ECHO_BYTES);
        let mut bytes = [0; MAX_ECHO_BYTES];
        bytes[..len].copy_from_slice(&value[..len]);
        Self {
            bytes,
            len,
            present: true,
        }
    }

    /// The echoed id, or `None` when the response had no `X-Request-Id` header.
    pub fn get(&self) -> Option<&[u8]> {
        self.present.then(|| &self.bytes[..self.len])
    }
}

impl fmt::Debug for EchoedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            Some(id) => write!(f, "{:?}", String::from_utf8_lossy(id)),
            None => write!(f, "absent"),
        }
    }
}

/// One complete, correctly framed final response.
#[derive(Debug, Clone, Copy)]
pub struct Response {
    pub status: u16,
    /// Body bytes after de-chunking.
    pub body_len: u64,
    pub request_id: EchoedId,
    /// False when the server will close after this response (HTTP/1.0 without keep-alive,
    /// `Connection: close`, or a body that ends at EOF).
    pub keep_alive: bool,
}

/// Outcome of one [`ResponseReader::parse`] call; an error is the third outcome.
#[derive(Debug)]
pub enum Parsed {
    /// A response ended after `consumed` bytes; the rest belongs to the next one.
    Complete { response: Response, consumed: usize },
    /// `consumed` bytes were used (possibly 0); call again with the rest plus more input.
    Incomplete { consumed: usize },
}

/// What the request was, as far as the response's framing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestMethod {
    /// A response to HEAD never has a body, whatever its headers say.
    Head,
    Other,
}

/// Where the reader is inside the current response.
#[derive(Debug)]
enum State {
    ReadingHead,
    ReadingBody {
        response: Response,
        body: BodyFraming,
    },
}

#[derive(Debug, Clone)]
enum BodyFraming {
    Length { remaining: u64 },
    Chunked(ChunkState),
    UntilEof,
}

#[derive(Debug, Clone)]
enum ChunkState {
    SizeLine,
    Data { remaining: u64 },
    DataCrlf,
    Trailers,
}

/// Reads one response at a time from a byte stream; reusable across responses.
#[derive(Debug)]
pub struct ResponseReader {
    state: State,
    last_head: HeadTemplate,
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self {
            state: State::ReadingHead,
            last_head: HeadTemplate::default(),
        }
    }
}

impl ResponseReader {
    /// Consumes as much of `buf` as belongs to the current response.
    pub fn parse(&mut self, buf: &[u8], method: RequestMethod) -> Result<Parsed, FramingError> {
        let mut pos = 0;
        loop {
            match &mut self.state {
                State::ReadingHead => match self.read_head(&buf[pos..], method)? {
                    Head::Incomplete => return Ok(Parsed::Incomplete { consumed: pos }),
                    Head::Interim { len } => pos += len,
                    Head::Final {
                        len,
                        response,
                        body,
                        ..
                    } => {
                        pos += len;
                        match body {
                            None => {
                                return Ok(Parsed::Complete {
                                    response,
                                    consumed: pos,
                                })
                            }
                            Some(body) => self.state = State::ReadingBody { response, body },
                        }
                    }
                },
                State::ReadingBody { response, body } => {
                    let (used, done) = body.advance(&buf[pos..], &mut response.body_len)?;
                    pos += used;
                    if !done {
                        return Ok(Parsed::Incomplete { consumed: pos });
                    }
                    let response = *response;
                    self.state = State::ReadingHead;
                    return Ok(Parsed::Complete {
                        response,
                        consumed: pos,
                    });
                }
            }
        }
    }

    /// The stream ended; `unconsumed` is what the last `parse` left over. Returns the
    /// response a close-delimited body completes, if any, and leaves the reader fresh.
    pub fn finish(&mut self, unconsumed: &[u8]) -> Result<Option<Response>, FramingError> {
        match std::mem::replace(&mut self.state, State::ReadingHead) {
            State::ReadingHead if unconsumed.is_empty() => Ok(None),
            State::ReadingHead => Err(FramingError::TruncatedHead),
            State::ReadingBody {
                response,
                body: BodyFraming::UntilEof,
            } => Ok(Some(response)),
            State::ReadingBody { .. } => Err(FramingError::TruncatedBody),
        }
    }

    /// The head at the start of `buf`: recognised from the last one when it differs only in
    /// the echoed id, parsed (and remembered) otherwise.
    fn read_head(&mut self, buf: &[u8], method: RequestMethod) -> Result<Head, FramingError> {
        if let Some(head) = self.last_head.recognise(buf, method) {
            return Ok(head);
        }
        let head = parse_head(buf, method)?;
        if let Head::Final {
            len,
            response,
            body,
            id_at,
        } = &head
        {
            self.last_head
                .remember(&buf[..*len], method, response, body, *id_at);
        }
        Ok(head)
    }

    /// Forgets any partial response (the connection it belonged to is gone).
    pub fn reset(&mut self) {
        self.state = State::ReadingHead;
    }
}

enum Head {
    Incomplete,
    /// A 1xx other than 101: the final response follows on the same stream.
    Interim {
        len: usize,
    },
    Final {
        len: usize,
        response: Response,
        body: Option<BodyFraming>,
        /// Where the value of the first `X-Request-Id` starts, if there is one.
        id_at: Option<usize>,
    },
}

/// The last final head this reader parsed, kept so that the next one can be recognised
/// instead of parsed. A server answering the same request over and over sends heads that
/// are byte for byte the same except for the echoed id (and a `Date` that changes once a
/// second). A head that matches the template outside the id's value, and whose id value
/// holds only bytes a header value may hold (the bytes httparse accepts), is exactly the
/// head the parser would have seen, so it has the same status, framing and keep-alive; only
/// the id is taken from the new bytes. Anything else, down to one byte, goes to the full
/// parse, which then becomes the template: a cache, never a relaxation of a check.
#[derive(Debug, Default)]
struct HeadTemplate {
    /// The head, status line through the blank line; empty before the first final head.
    bytes: Vec<u8>,
    method: Option<RequestMethod>,
    response: Option<Response>,
    body: Option<BodyFraming>,
    /// The id's value runs from `start` up to `line_end`, the CR or LF that ends its line.
    id: Option<IdSpan>,
}

#[derive(Debug, Clone, Copy)]
struct IdSpan {
    start: usize,
    line_end: usize,
}

impl HeadTemplate {
    fn remember(
        &mut self,
        head: &[u8],
        method: RequestMethod,
        response: &Response,
        body: &Option<BodyFraming>,
        id_at: Option<usize>,
    ) {
        self.bytes.clear();
        self.bytes.extend_from_slice(head);
        self.method = Some(method);
        self.response = Some(*response);
        self.body.clone_from(body);
        self.id = id_at.and_then(|start| {
            let line_end = start
                + head[start..]
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')?;
            Some(IdSpan { start, line_end })
        });
    }

    /// The head at the start of `buf` if it is the template's with another id value.
    fn recognise(&self, buf: &[u8], method: RequestMethod) -> Option<Head> {
        let mut response = self.response?;
        if self.method != Some(method) {
            return None;
        }
        let len = match self.id {
            None => {
                let len = self.bytes.len();
                (buf.get(..len)? == self.bytes.as_slice()).then_some(len)?
            }
            Some(IdSpan { start, line_end }) => {
                if buf.get(..start)? != &self.bytes[..start] {
                    return None;
                }
                // The value ends at the first byte a value may not hold; the template's tail
                // starts with the CR or LF that ended its id line, so comparing the tail also
                // checks that this byte ends the line. A longer id cannot be ours: parse it.
                let value_len = (buf[start..].iter().take(MAX_ECHO_BYTES + 1))
                    .position(|&b| !is_value_byte(b))?;
                let tail = &self.bytes[line_end..];
                let tail_at = start + value_len;
                if buf.get(tail_at..tail_at + tail.len())? != tail {
                    return None;
                }
                response.request_id = EchoedId::from_value(&buf[start..tail_at]);
                tail_at + tail.len()
            }
        };
        Some(Head::Final {
            len,
            response,
            body: self.body.clone(),
            id_at: None,
        })
    }
}

/// A byte httparse accepts inside a header value (RFC 9110 field-vchar, SP, HTAB, obs-text).
fn is_value_byte(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=0x7e | 0x80..=0xff)
}

/// The header fields framing and matching depend on; every other field is only validated.
enum Field {
    ContentLength,
    TransferEncoding,
    Connection,
    RequestId,
    Other,
}

impl Field {
    /// Compares the length first: most names are ruled out without looking at a byte.
    fn of(name: &str) -> Self {
        let is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
        match name.len() {
            14 if is("content-length") => Self::ContentLength,
            17 if is("transfer-encoding") => Self::TransferEncoding,
            10 if is("connection") => Self::Connection,
            12 if is("x-request-id") => Self::RequestId,
            _ => Self::Other,
        }
    }
}

fn parse_head(buf: &[u8], method: RequestMethod) -> Result<Head, FramingError> {
    // Uninitialised slots: httparse writes each header before it hands it back, so the
    // 64 slots (2 KiB) are not zeroed for every response.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut head = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut head,
        buf,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(FramingError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(Head::Incomplete),
        Err(e) => return Err(FramingError::BadHead(e)),
    };
    // Complete implies both are set.
    let status = head.code.unwrap_or(0);
    let http11 = head.version == Some(1);
    if (100..200).contains(&status) && status != 101 {
        return Ok(Head::Interim { len });
    }

    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked_last = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut request_id = EchoedId::ABSENT;
    let mut id_at = None;
    for header in head.headers.iter() {
        match Field::of(header.name) {
            Field::ContentLength => {
                for value in header.value.split(|&b| b == b',') {
                    let n =
                        parse_decimal(value.trim_ascii()).ok_or(FramingError::BadContentLength)?;
                    if content_length.is_some_and(|seen| seen != n) {
                        return Err(FramingError::ConflictingContentLength);
                    }
                    content_length = Some(n);
                }
            }
            Field::TransferEncoding => {
                for coding in header.value.split(|&b| b == b',') {
                    let coding = coding.trim_ascii();
                    if !coding.is_empty() {
                        transfer_encoding = true;
                        chunked_last = coding.eq_ignore_ascii_case(b"chunked");
                    }
                }
            }
            Field::Connection => {
                for token in header.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            Field::RequestId if request_id.get().is_none() => {
                request_id = EchoedId::from_value(header.value);
                // httparse hands out slices of `buf`, so the value's offset is in range.
                id_at = (header.value.as_ptr() as usize).checked_sub(buf.as_ptr() as usize);
            }
            Field::RequestId | Field::Other => {}
        }
    }

    let mut keep_alive = !close && (http11 || keep_alive_token);
    let bodiless = method == RequestMethod::Head || matches!(status, 101 | 204 | 304);
    let body = if bodiless {
        None
    } else if transfer_encoding && chunked_last {
        Some(BodyFraming::Chunked(ChunkState::SizeLine))
    } else if transfer_encoding {
        keep_alive = false;
        Some(BodyFraming::UntilEof)
    } else {
        match content_length {
            Some(0) => None,
            Some(remaining) => Some(BodyFraming::Length { remaining }),
            None => {
                keep_alive = false;
                Some(BodyFraming::UntilEof)
            }
        }
    };
    if status == 101 {
        keep_alive = false;
    }
    let response = Response {
        status,
        body_len: 0,
        request_id,
        keep_alive,
    };
    Ok(Head::Final {
        len,
        response,
        body,
        id_at: id_at.filter(|&at| at <= len),
    })
}

impl BodyFraming {
    /// Consumes body bytes from `buf`; returns how many and whether the body is complete.
    fn advance(&mut self, buf: &[u8], body_len: &mut u64) -> Result<(usize, bool), FramingError> {
        match self {
            Self::Length { remaining } => {
                let take = take_up_to(buf, remaining);
                *body_len += take as u64;
                Ok((take, *remaining == 0))
            }
            Self::UntilEof => {
                *body_len += buf.len() as u64;
                Ok((buf.len(), false))
            }
            Self::Chunked(chunk) => chunk.advance(buf, body_len),
        }
    }
}

impl ChunkState {
    fn advance(&mut self, buf: &[u8], body_len: &mut u64) -> Result<(usize, bool), FramingError> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match self {
                Self::SizeLine => {
                    // httparse accepts an empty size line as 0; RFC 9112 wants 1*HEXDIG.
                    if rest.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
                        return Err(FramingError::BadChunkSize);
                    }
                    match httparse::parse_chunk_size(rest) {
                        Ok(httparse::Status::Complete((len, size))) => {
                            pos += len;
                            *self = match size {
                                0 => Self::Trailers,
                                remaining => Self::Data { remaining },
                            };
                        }
                        Ok(httparse::Status::Partial) if rest.len() > MAX_LINE_BYTES => {
                            return Err(FramingError::BadChunkSize)
                        }
                        Ok(httparse::Status::Partial) => return Ok((pos, false)),
                        Err(httparse::InvalidChunkSize) => return Err(FramingError::BadChunkSize),
                    }
                }
                Self::Data { remaining } => {
                    let take = take_up_to(rest, remaining);
                    pos += take;
                    *body_len += take as u64;
                    if *remaining > 0 {
                        return Ok((pos, false));
                    }
                    *self = Self::DataCrlf;
                }
                Self::DataCrlf => match rest {
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        *self = Self::SizeLine;
                    }
                    [] | [b'\r'] => return Ok((pos, false)),
                    _ => return Err(FramingError::MissingChunkCrlf),
                },
                Self::Trailers => match rest.iter().position(|&b| b == b'\n') {
                    None if rest.len() > MAX_LINE_BYTES => {
                        return Err(FramingError::TrailerTooLarge)
                    }
                    None => return Ok((pos, false)),
                    Some(end) => {
                        pos += end + 1;
                        // A line that is empty (bare CRLF) ends the trailer section.
                        if end == 0 || (end == 1 && rest[0] == b'\r') {
                            return Ok((pos, true));
                        }
                    }
                },
            }
        }
    }
}

/// Takes `min(remaining, buf.len())` bytes off `remaining` and returns that count.
fn take_up_to(buf: &[u8], remaining: &mut u64) -> usize {
    let take = (*remaining).min(buf.len() as u64) as usize;
    *remaining -= take as u64;
    take
}

/// Strict decimal: digits only, no sign, no overflow.
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
