//! Shared helpers for the integration tests: start the real `reactor` binary on an
//! ephemeral port, talk to it over raw sockets, and parse what comes back.
//!
//! Rule: nothing here knows an HTTP rule of the server under test. The client side
//! parses responses with httparse and the framing RFC 9112 gives them (Content-Length,
//! chunked, or close-delimited), so a framing bug in the server shows up as a parse
//! failure or a stray byte here, not as a silently "fixed" response.
//!
//! - [`Server`]: one child process per test, killed on drop; its stderr is drained
//!   into [`Server::logs`] for the whole run, so the pipe never fills.
//! - [`Client`]: a `TcpStream` plus a buffer, so pipelined responses can be read one
//!   at a time ([`Client::read_response`]) and the rest kept for the next call.
//! - [`for_each_model!`]: turns `fn name(model: &str)` into one named `#[test]` per
//!   concurrency model (`reactor::name`, `threaded::name`, ..., `pool::name`,
//!   `uring::name`). Where the kernel lacks or refuses io_uring, the uring tests
//!   print why and pass without running ([`skip`]); only then.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The concurrency models, as `--model` spells them (the same list as in
/// [`for_each_model!`]).
pub const MODELS: [&str; 5] = ["reactor", "threaded", "iterative", "pool", "uring"];

/// How long a test waits for any single read before calling the server stuck.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server gets to print its listening line.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The start-up line every model prints, up to the address.
const LISTENING: &str = "reactor listening on http://";

/// Runs each `fn name(model: &str)` once per model, as separately named tests:
/// `reactor::name`, `threaded::name`, `iterative::name`, `pool::name` and
/// `uring::name` (which returns at once, saying why, where io_uring is unavailable:
/// see [`skip`]). A new blocking or readiness model is one more word in the list
/// below (and in [`MODELS`]).
///
/// ```ignore
/// fn keeps_alive(model: &str) { /* ... */ }
/// for_each_model!(keeps_alive, closes_on_request);
/// ```
#[macro_export]
macro_rules! for_each_model {
    ($($name:ident),* $(,)?) => {
        $crate::for_each_model!(@models [reactor threaded iterative pool uring] [$($name),*]);
    };
    (@models [$($model:ident)*] $names:tt) => {
        $( $crate::for_each_model!(@model $model $names); )*
    };
    (@model $model:ident [$($name:ident),*]) => {
        mod $model {
            $( #[test] fn $name() {
                if !$crate::common::skip(stringify!($model)) { super::$name(stringify!($model)) }
            } )*
        }
    };
}

/// `true` (after printing why) when `model` cannot run on this machine: only the
/// uring model, and only when the binary itself says io_uring is unavailable (exit
/// 2 with its one line). Any other failure to start is not a reason to skip.
pub fn skip(model: &str) -> bool {
    if model != "uring" {
        return false;
    }
    match uring_unavailable() {
        Some(why) => {
            eprintln!("skipped on this machine: {why}");
            true
        }
        None => false,
    }
}

/// Why the binary refuses `--model uring` here, asked once per test process.
pub fn uring_unavailable() -> Option<&'static str> {
    static WHY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    WHY.get_or_init(|| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reactor"))
            .args(["0", "--model", "uring"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the reactor binary: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let first = BufReader::new(stderr).lines().next();
        let first = first.and_then(|l| l.ok()).unwrap_or_default();
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if first.contains(LISTENING) {
            return None;
        }
        assert!(
            status.code() == Some(2) && first.contains("io_uring unavailable"),
            "--model uring failed to start for another reason ({status}): {first}"
        );
        Some(first)
    })
    .as_deref()
}

// ---- the server process ---------------------------------------------------------------

/// A running `reactor` process on 127.0.0.1 and an ephemeral port.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    model: String,
    logs: Arc<Mutex<String>>,
    drain: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `reactor 0 --model <model> <args>` and waits for its listening line.
    /// Logging is the binary's default (`RUST_LOG` from the test environment is
    /// ignored, so the start-up line is always there).
    pub fn start(model: &str, args: &[&str]) -> Server {
        Self::start_with_env(model, args, &[])
    }

    /// Like [`Server::start`], with extra environment variables (e.g.
    /// `("RUST_LOG", "debug")` to inspect the connection life cycle in [`Server::logs`]).
    pub fn start_with_env(model: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::spawn(model, args, env, None)
    }

    /// Like [`Server::start`], with RLIMIT_NOFILE set to `limit` before the binary
    /// runs (for a limit in force from start-up, unlike [`Server::limit_descriptors`]).
    pub fn start_with_nofile(model: &str, args: &[&str], limit: usize) -> Server {
        Self::spawn(model, args, &[], Some(limit))
    }

    fn spawn(model: &str, args: &[&str], env: &[(&str, &str)], nofile: Option<usize>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_reactor"));
        command
            .arg("0")
            .arg("--model")
            .arg(model)
            .args(args)
            .env_remove("RUST_LOG")
            .env("RUST_LOG_STYLE", "never")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        if let Some(limit) = nofile {
            let rlimit = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: 4096,
            };
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec only setrlimit runs, which is
            // async-signal-safe, on a value prepared before the fork.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the reactor binary: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");

        // One thread reads stderr for the life of the process: it reports the
        // listening address once, and keeps every line for `logs()`.
        let logs = Arc::new(Mutex::new(String::new()));
        let (found_tx, found_rx) = mpsc::channel();
        let sink = Arc::clone(&logs);
        let drain = thread::spawn(move || {
            let mut found = Some(found_tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = parse_listening_line(&line) {
                    if let Some(tx) = found.take() {
                        let _ = tx.send(addr);
                    }
                }
                let mut logs = sink.lock().unwrap_or_else(|p| p.into_inner());
                logs.push_str(&line);
                logs.push('\n');
            }
        });

        match found_rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => Server {
                child,
                addr,
                model: model.to_string(),
                logs,
                drain: Some(drain),
            },
            Err(why) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                let _ = drain.join();
                let logs = logs.lock().unwrap_or_else(|p| p.into_inner()).clone();
                panic!(
                    "reactor --model {model} {args:?} did not print its listening line \
                     within {START_TIMEOUT:?} ({why:?}; exit status {status:?}); stderr:\n{logs}"
                );
            }
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The model it was started with.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends a signal (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        // SAFETY: kill(2) takes plain integers; our child is not reaped until
        // `wait_exit` or drop, so the pid cannot name another process.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {signal}): {}",
            io::Error::last_os_error()
        );
    }

    /// Waits up to `timeout` for the process to exit. Once it has, [`Server::logs`]
    /// holds everything it wrote (the stderr reader has reached EOF).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    if let Some(drain) = self.drain.take() {
                        let _ = drain.join();
                    }
                    return Some(status);
                }
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for the server: {e}"),
            }
        }
    }

    /// Threads of the process now (entries of `/proc/<pid>/task`).
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// CPU time (user + system, all threads) used so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .unwrap_or_else(|e| panic!("reading /proc/{}/stat: {e}", self.pid()));
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// Lowers the soft RLIMIT_NOFILE of the running server to `limit` (prlimit(2)).
    pub fn limit_descriptors(&self, limit: usize) {
        let rlimit = libc::rlimit {
            rlim_cur: limit as libc::rlim_t,
            rlim_max: 4096,
        };
        let pid = self.pid() as libc::pid_t;
        // SAFETY: prlimit(2) on our own child with a valid rlimit and no old-value output.
        let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &rlimit, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "prlimit: {}", io::Error::last_os_error());
    }

    /// Open file descriptors now (entries of `/proc/<pid>/fd`).
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// Resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_else(|e| panic!("reading /proc/{}/status: {e}", self.pid()));
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS line in /proc/{}/status", self.pid()))
    }

    /// A client connected to this server.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// One request on a fresh connection, its response read (the connection is then
    /// dropped). `raw` must be a complete request.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut client = self.client();
        client.send(raw);
        client.read_response()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill(); // SIGKILL
        }
        let _ = self.child.wait();
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}

/// `... reactor listening on http://127.0.0.1:PORT/ (model M, pid P)` -> the address.
fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(LISTENING)? + LISTENING.len()..];
    rest[..rest.find('/')?].parse().ok()
}

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

/// Asserts a condition on a response, printing the whole response if it fails.
#[macro_export]
macro_rules! check {
    ($response:expr, $cond:expr, $($msg:tt)+) => {{
        let r = &$response;
        assert!(
            $cond,
            "{}\n  response: {} {} {:?}\n  body: {:?}",
            format_args!($($msg)+),
            r.status,
            r.reason,
            r.headers,
            String::from_utf8_lossy(&r.body[..r.body.len().min(500)])
        );
    }};
}
