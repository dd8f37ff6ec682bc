//! One connection at a time, blocking: send some bytes (possibly a lot, possibly
//! nonsense), optionally shut down our writing side, and read every response until
//! the server closes. Used by the scenarios that judge what the server answers on one
//! connection (half-close, garbage, oversized, smuggling) and by the liveness probe.
//!
//! Rule: responses are framed by loadgen's strict reader (RFC 9112 §6.3), so a badly
//! framed answer shows up as `garbled`, never as a silently fixed response.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::response::{Parsed, RequestMethod, Response, ResponseReader};

/// Requests up to this size are written before reading; larger ones from a thread
/// while the answer is read, since the server may answer (and stop reading) early.
const WRITE_INLINE: usize = 64 * 1024;

/// How a connection ended, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server closed it (FIN) after what it had to say.
    Closed,
    /// The server reset it (RST).
    Reset,
    /// The server neither closed nor said more within the limit.
    TimedOut,
}

/// Everything the server sent on one connection.
#[derive(Debug)]
pub struct Exchange {
    pub responses: Vec<Response>,
    /// The bytes did not frame as responses: what was wrong.
    pub garbled: Option<String>,
    pub end: End,
    /// From connect to the end.
    pub took: Duration,
}

impl Exchange {
    pub fn first_status(&self) -> Option<u16> {
        self.responses.first().map(|r| r.status)
    }

    /// The X-Request-Id each response echoed, as text (`-` when absent).
    pub fn ids(&self) -> Vec<String> {
        self.responses
            .iter()
            .map(|r| {
                r.request_id
                    .get()
                    .map_or("-".into(), |id| String::from_utf8_lossy(id).into_owned())
            })
            .collect()
    }
}

/// Connects to `addr`, sends `request`, shuts down writing if `half_close`, and reads
/// until the server closes the connection or `limit` passes.
pub fn exchange(
    addr: SocketAddr,
    request: &[u8],
    half_close: bool,
    limit: Duration,
) -> io::Result<Exchange> {
    let started = Instant::now();
    let deadline = started + limit;
    let mut stream = TcpStream::connect_timeout(&addr, limit)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(limit))?;
    let writer = if request.len() <= WRITE_INLINE {
        // A server that already closed makes this fail: what it said is still readable.
        let _ = stream.write_all(request);
        if half_close {
            let _ = stream.shutdown(Shutdown::Write);
        }
        None
    } else {
        let mut writing = stream.try_clone()?;
        let request = request.to_vec();
        Some(thread::spawn(move || {
            let _ = writing.write_all(&request);
            if half_close {
                let _ = writing.shutdown(Shutdown::Write);
            }
        }))
    };
    let (received, end) = read_until_close(&mut stream, deadline);
    drop(stream);
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let (responses, garbled) = frame(&received, end == End::Closed);
    Ok(Exchange {
        responses,
        garbled,
        end,
        took: started.elapsed(),
    })
}

/// Reads until EOF, a reset or the deadline; everything received, and how it ended.
fn read_until_close(stream: &mut TcpStream, deadline: Instant) -> (Vec<u8>, End) {
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return (received, End::TimedOut);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return (received, End::Closed),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (received, End::TimedOut)
            }
            Err(_) => return (received, End::Reset),
        }
    }
}

/// Splits `bytes` into responses; `eof`: the stream ended there (so a body without
/// a length ends there too).
pub fn frame(bytes: &[u8], eof: bool) -> (Vec<Response>, Option<String>) {
    let mut reader = ResponseReader::default();
    let mut responses = Vec::new();
    let mut pos = 0;
    loop {
        match reader.parse(&bytes[pos..], RequestMethod::Other) {
            Ok(Parsed::Complete { response, consumed }) => {
                responses.push(response);
                pos += consumed;
            }
            Ok(Parsed::Incomplete { consumed }) => {
                pos += consumed;
                break;
            }
            Err(e) => return (responses, Some(e.to_string())),
        }
    }
    if !eof {
        return (responses, None);
    }
    match reader.finish(&bytes[pos..]) {
        Ok(Some(response)) => responses.push(response),
        Ok(None) => {}
        Err(e) => return (responses, Some(e.to_string())),
    }
    (responses, None)
}

/// `GET /hello` on a fresh connection: `Ok` if a 200 comes back within `limit`.
pub fn probe_alive(addr: SocketAddr, limit: Duration) -> Result<(), String> {
    let request = b"GET /hello HTTP/1.1\r\nHost: attack\r\nConnection: close\r\n\r\n";
    let exchange =
        exchange(addr, request, false, limit).map_err(|e| format!("cannot connect: {e}"))?;
    match exchange.first_status() {
        Some(200) => Ok(()),
        Some(status) => Err(format!("GET /hello answered {status}")),
        None => Err(format!(
            "no answer to GET /hello within {:.1}s ({:?})",
            limit.as_secs_f64(),
            exchange.end
        )),
    }
}
