//! The client side: raw sockets, [`Client`] (a connection plus its unparsed bytes),
//! response parsing and request builders.
//!
//! Rule: nothing here knows an HTTP rule of the server under test. Responses are
//! parsed with httparse and the framing RFC 9112 gives them (Content-Length,
//! chunked, or close-delimited), so a framing bug in the server shows up as a parse
//! failure or a stray byte here, not as a silently "fixed" response.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// How long a test waits for any single read before calling the server stuck.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---- raw sockets ------------------------------------------------------------------------

/// A blocking connection with a read timeout of [`IO_TIMEOUT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("set_read_timeout");
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .expect("set_write_timeout");
    let _ = stream.set_nodelay(true);
    stream
}

/// Writes all of `bytes`.
pub fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream
        .write_all(bytes)
        .unwrap_or_else(|e| panic!("sending {} bytes: {e}", bytes.len()));
}

/// Reads until the server closes the connection (clean EOF). Panics on a reset or
/// when nothing closes within the read timeout.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    match stream.read_to_end(&mut all) {
        Ok(_) => all,
        Err(e) => panic!(
            "expected the server to close the connection, got {e} ({:?}) after {} bytes: {:?}",
            e.kind(),
            all.len(),
            String::from_utf8_lossy(&all)
        ),
    }
}

/// A connection plus the bytes read but not yet parsed, so pipelined responses can
/// be read one by one.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Client {
    /// Connects with the default read timeout.
    pub fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: connect(addr),
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Wraps a stream the test set up itself (its timeouts are kept).
    pub fn from_stream(stream: TcpStream) -> Client {
        Client {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Changes how long a single read may wait.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set_read_timeout");
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        send(&mut self.stream, bytes);
    }

    /// Sends a request and reads its response.
    pub fn request(&mut self, raw: &[u8]) -> Response {
        self.send(raw);
        self.read_response()
    }

    /// Shuts down our write side (the server reads EOF).
    pub fn shutdown_write(&mut self) {
        self.stream
            .shutdown(Shutdown::Write)
            .expect("shutdown(Write)");
    }

    /// Reads one response to a request that was not HEAD. Panics with what was
    /// received if the response is incomplete or malformed.
    pub fn read_response(&mut self) -> Response {
        self.try_read_response(false)
            .unwrap_or_else(|e| panic!("reading a response: {e}"))
    }

    /// Reads one response to a HEAD request (headers only, whatever they say).
    pub fn read_head_response(&mut self) -> Response {
        self.try_read_response(true)
            .unwrap_or_else(|e| panic!("reading a HEAD response: {e}"))
    }

    /// Reads one response, leaving any bytes after it for the next call. A 1xx
    /// response is returned on its own; call again for the final one.
    pub fn try_read_response(&mut self, head_request: bool) -> io::Result<Response> {
        loop {
            if let Some((response, used)) = parse_response(&self.buf, head_request, self.eof)? {
                self.buf.drain(..used);
                return Ok(response);
            }
            if self.eof {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed {}: {:?}",
                        if self.buf.is_empty() {
                            "before a response"
                        } else {
                            "in the middle of a response"
                        },
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
            self.fill().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "{e} while waiting for a response; have {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                )
            })?;
        }
    }

    /// Reads everything up to the server's close, after what was already buffered.
    /// Panics on a reset or a timeout.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        self.try_read_to_close().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Client::read_to_close`], returning the error instead of panicking.
    pub fn try_read_to_close(&mut self) -> io::Result<Vec<u8>> {
        let mut all = std::mem::take(&mut self.buf);
        if !self.eof {
            let result = self.stream.read_to_end(&mut all);
            self.eof = true;
            if let Err(e) = result {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "expected the server to close the connection, got {e} ({:?}) after {} bytes: {:?}",
                        e.kind(),
                        all.len(),
                        String::from_utf8_lossy(&all[..all.len().min(500)])
                    ),
                ));
            }
        }
        Ok(all)
    }

    /// Asserts that the server closes the connection with nothing more to say.
    pub fn expect_close(&mut self) {
        let rest = self.read_to_close();
        assert!(
            rest.is_empty(),
            "expected the server to close, got {} more bytes: {:?}",
            rest.len(),
            String::from_utf8_lossy(&rest)
        );
    }

    /// Waits up to `timeout` for bytes or a close. `Ok(true)`: the server closed
    /// (clean EOF, or a reset); `Ok(false)`: it sent bytes (kept for the next read);
    /// `Err`: nothing happened before the timeout.
    pub fn wait_readable(&mut self, timeout: Duration) -> io::Result<bool> {
        if !self.buf.is_empty() {
            return Ok(false);
        }
        if self.eof {
            return Ok(true);
        }
        self.set_read_timeout(timeout);
        let result = self.fill();
        self.set_read_timeout(IO_TIMEOUT);
        match result {
            Ok(()) => Ok(self.eof),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.eof = true;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// One read into the buffer; EOF is remembered.
    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

// ---- responses ----------------------------------------------------------------------------

/// One parsed response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// In the order received, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of field `name` (case-insensitive).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `Connection` lists `token` (case-insensitive).
    pub fn connection_has(&self, token: &str) -> bool {
        self.headers_named("connection")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Content-Length` as a number, if present and valid.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Tries to parse one whole response at the start of `buf`. `Ok(None)`: not all of
/// it is here yet. `eof`: the connection is closed, so a close-delimited body ends
/// at the end of `buf`.
pub fn parse_response(
    buf: &[u8],
    head_request: bool,
    eof: bool,
) -> io::Result<Option<(Response, usize)>> {
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Response::new(&mut fields);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "malformed response ({e}): {:?}",
                    String::from_utf8_lossy(&buf[..buf.len().min(2000)])
                ),
            ))
        }
    };
    let status = parsed.code.unwrap_or(0);
    let mut response = Response {
        status,
        reason: parsed.reason.unwrap_or("").to_string(),
        version: parsed.version.unwrap_or(1),
        headers: parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
    };
    let rest = &buf[head_len..];
    let no_body = head_request || status < 200 || status == 204 || status == 304;
    if no_body {
        return Ok(Some((response, head_len)));
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().trim_end().ends_with("chunked"));
    if chunked {
        return Ok(decode_chunked(rest)?.map(|(body, used)| {
            response.body = body;
            (response, head_len + used)
        }));
    }
    if let Some(length) = response.header("content-length") {
        let length: usize = length.trim().parse().map_err(|_| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("bad Content-Length {length:?}"),
            )
        })?;
        if rest.len() < length {
            return Ok(None);
        }
        response.body = rest[..length].to_vec();
        return Ok(Some((response, head_len + length)));
    }
    // No framing: the body runs to the close.
    if !eof {
        return Ok(None);
    }
    response.body = rest.to_vec();
    Ok(Some((response, buf.len())))
}

/// Decodes a chunked body at the start of `buf`: `Ok(None)` if incomplete, else the
/// data and the bytes used (trailers included).
fn decode_chunked(buf: &[u8]) -> io::Result<Option<(Vec<u8>, usize)>> {
    let bad =
        |what: &str| io::Error::new(ErrorKind::InvalidData, format!("bad chunked body: {what}"));
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[pos..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[pos..pos + line_end]).map_err(|_| bad("size line"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad(line))?;
        pos += line_end + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let Some(end) = find_crlf(&buf[pos..]) else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err(bad("no CRLF after chunk data"));
        }
        pos += size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

// ---- request builders ---------------------------------------------------------------------

/// `GET <path> HTTP/1.1` with a Host field and the given extra field lines
/// (each `"Name: value"`).
pub fn get(path: &str, fields: &[&str]) -> Vec<u8> {
    request("GET", path, fields, b"")
}

/// A request with a Host field, the given extra field lines and `body` (with a
/// Content-Length when the body is not empty).
pub fn request(method: &str, path: &str, fields: &[&str], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for field in fields {
        raw.push_str(field);
        raw.push_str("\r\n");
    }
    if !body.is_empty() {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    raw
}
