//! Tiny HTTP/1.1 servers for the loadgen tests: one correct, the rest broken on purpose.
//!
//! Rule: plain `std::net` and a thread per connection; each server listens on its own
//! ephemeral port on 127.0.0.1 and lives until the test process exits. They are not
//! shipped and not fast; they only need to be exactly as wrong as their name says.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub const BODY: &[u8] = b"Hello, world!";

/// How a test server answers.
#[derive(Debug, Clone, Copy)]
pub enum Behavior {
    /// Correct: Content-Length body, echoes X-Request-Id, keep-alive, honours
    /// `Connection: close`, no body for HEAD.
    Echo,
    /// Correct: chunked body with chunk extensions and a trailer.
    Chunked,
    /// Correct: no length, `Connection: close`, body ends when the server closes.
    CloseDelimited,
    /// Correct framing but no X-Request-Id; with `vary`, every other body is shorter.
    NoEcho { vary: bool },
    /// Answers each request with the id of the previous request from another connection.
    SwapAcrossConnections,
    /// With two requests pipelined, answers the second first.
    ReorderPipelined,
    /// Declares Content-Length 13, sends 5 bytes, closes.
    TruncateBody,
    /// Declares Content-Length 10 and sends 13 bytes: 3 bytes nobody asked for.
    ShortLength,
    /// Declares Content-Length 23 and sends 13 bytes, then carries on: the next response
    /// is swallowed into this body.
    LongLength,
    /// A chunk-size line that is not hex.
    BadChunkSize,
    /// Reads requests and never answers.
    Silent,
    /// Reads one request and closes without answering.
    HangUp,
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub id: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

#[derive(Debug, Default)]
pub struct Log {
    pub connections: AtomicUsize,
    pub requests: Mutex<Vec<Seen>>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub log: Arc<Log>,
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// State shared by all connections of one server (only the swapping server uses it).
#[derive(Default)]
struct Shared {
    /// (connection number, id) of the last request any connection sent.
    last_request: Mutex<Option<(usize, String)>>,
}

pub fn start(behavior: Behavior) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let addr = listener.local_addr().expect("local addr");
    let log = Arc::new(Log::default());
    let shared = Arc::new(Shared::default());
    let server_log = Arc::clone(&log);
    thread::spawn(move || {
        for (conn, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            server_log.connections.fetch_add(1, Ordering::SeqCst);
            let (log, shared) = (Arc::clone(&server_log), Arc::clone(&shared));
            thread::spawn(move || {
                // A client that goes away mid-request is not the server's problem here.
                let _ = serve(stream, behavior, conn, &log, &shared);
            });
        }
    });
    TestServer { addr, log }
}

fn serve(
    stream: TcpStream,
    behavior: Behavior,
    conn: usize,
    log: &Log,
    shared: &Shared,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = BufWriter::new(stream);
    let mut answered = 0usize;
    while let Some(request) = read_request(&mut reader)? {
        log.requests.lock().unwrap().push(request.clone());
        let id = request.id.clone().unwrap_or_default();
        let close = request.wants_close();
        let head = request.method == "HEAD";
        match behavior {
            Behavior::Echo => {
                respond(&mut out, Some(&id), BODY, close, head)?;
                if close {
                    return out.flush();
                }
            }
            Behavior::Chunked => write!(
                out,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Request-Id: {id}\r\n\r\n\
                 5;lang=\"en\"\r\nHello\r\n8 ; x=y\r\n, world!\r\n0\r\nX-Checksum: 42\r\n\r\n"
            )?,
            Behavior::CloseDelimited => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nX-Request-Id: {id}\r\nConnection: close\r\n\r\n"
                )?;
                out.write_all(BODY)?;
                return out.flush();
            }
            Behavior::NoEcho { vary } => {
                let body = if vary && answered % 2 == 1 {
                    &BODY[..5]
                } else {
                    BODY
                };
                respond(&mut out, None, body, close, head)?;
            }
            Behavior::SwapAcrossConnections => {
                let mut last = shared.last_request.lock().unwrap();
                let answer = match last.as_ref() {
                    Some((other, other_id)) if *other != conn => other_id.clone(),
                    _ => id.clone(),
                };
                *last = Some((conn, id));
                drop(last);
                respond(&mut out, Some(&answer), BODY, false, head)?;
            }
            Behavior::ReorderPipelined => {
                match next_request_within(&mut reader, Duration::from_millis(200))? {
                    Some(second) => {
                        log.requests.lock().unwrap().push(second.clone());
                        respond(&mut out, second.id.as_deref(), BODY, false, head)?;
                        respond(&mut out, Some(&id), BODY, false, head)?;
                    }
                    None => respond(&mut out, Some(&id), BODY, false, head)?,
                }
            }
            Behavior::TruncateBody => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nX-Request-Id: {id}\r\n\r\n"
                )?;
                out.write_all(&BODY[..5])?;
                return out.flush();
            }
            Behavior::ShortLength => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Request-Id: {id}\r\n\r\n"
                )?;
                out.write_all(BODY)?;
            }
            Behavior::LongLength => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: 23\r\nX-Request-Id: {id}\r\n\r\n"
                )?;
                out.write_all(BODY)?;
            }
            Behavior::BadChunkSize => write!(
                out,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Request-Id: {id}\r\n\r\n\
                 zz\r\nHello\r\n0\r\n\r\n"
            )?,
            Behavior::Silent => continue,
            Behavior::HangUp => return Ok(()),
        }
        answered += 1;
        // Answer a whole pipelined batch with one write.
        if reader.buffer().is_empty() {
            out.flush()?;
        }
    }
    out.flush()
}

fn respond(
    out: &mut impl Write,
    id: Option<&str>,
    body: &[u8],
    close: bool,
    head: bool,
) -> io::Result<()> {
    write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body.len())?;
    if let Some(id) = id {
        write!(out, "X-Request-Id: {id}\r\n")?;
    }
    if close {
        write!(out, "Connection: close\r\n")?;
    }
    out.write_all(b"\r\n")?;
    if !head {
        out.write_all(body)?;
    }
    Ok(())
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }

    pub fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// One request head plus its Content-Length body; `None` at a clean end of stream.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Seen>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let method = line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let text = line.trim_end();
        if text.is_empty() {
            break;
        }
        if let Some((name, value)) = text.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut seen = Seen {
        method,
        id: None,
        headers,
        body_len: 0,
    };
    seen.id = seen.header("x-request-id").map(str::to_string);
    let length: usize = seen
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    io::copy(&mut reader.take(length as u64), &mut io::sink())?;
    seen.body_len = length;
    Ok(Some(seen))
}

/// The next request if one is already buffered or starts arriving within `wait`.
fn next_request_within(
    reader: &mut BufReader<TcpStream>,
    wait: Duration,
) -> io::Result<Option<Seen>> {
    if reader.buffer().is_empty() {
        reader.get_ref().set_read_timeout(Some(wait))?;
        let arrived = match reader.fill_buf() {
            Ok(bytes) => !bytes.is_empty(),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(e) => return Err(e),
        };
        reader.get_ref().set_read_timeout(None)?;
        if !arrived {
            return Ok(None);
        }
    }
    read_request(reader)
}
