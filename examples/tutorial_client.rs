//! The threaded client from the operating-systems course, faithfully rebuilt.
//!
//! The course had N threads each open a connection, send one GET and print the
//! response's "Status", "Reason" and "Content" with three separate print calls.
//! With 5-10 clients the fields of different responses appeared mixed together
//! and the server got the blame. The real cause is the client: every `println!`
//! takes the stdout lock on its own, so other threads' lines slip in between one
//! thread's three calls (a short pause between them models CPython's GIL thread
//! switch). A TCP connection never carries another connection's bytes, and each
//! client checks that the server echoed *its own* `X-Request-Id`.
//!
//! `--atomic` formats the three lines into one `String` and writes it with one
//! locked `write_all`: the lines of a response then always stay together, which
//! proves the mix-up happened in the client's shared stdout, not on the wire.
//!
//! `cargo run --example tutorial_client -- [--clients N] [--atomic] [--path P] [URL|ADDR]`
//! Exit codes: 0 ok, 1 some client failed, 2 bad input / server unreachable.
use clap::Parser;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "The course's threaded HTTP client: N simultaneous GETs, printed field by field")]
struct Args {
    /// Number of simultaneous clients (threads).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    clients: u32,
    /// Print each response's three lines with ONE locked write (no interleaving).
    #[arg(long)]
    atomic: bool,
    /// Path to request; overrides the URL's path (default /hello if it has none).
    #[arg(long)]
    path: Option<String>,
    /// http://host:port/path, or host:port.
    #[arg(default_value = "http://127.0.0.1:8080/hello")]
    target: String,
}

struct Reply {
    status: u16,
    reason: String,
    body: String,
    echoed: Option<String>,
}

enum Failure {
    Connect(io::Error),
    Other(String),
}

/// Splits `http://host[:port][/path]` (scheme optional) into (Host header, address, path).
fn parse_target(s: &str) -> Result<(String, SocketAddr, Option<String>), String> {
    let rest = match s.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => return Err(format!("unsupported scheme {scheme:?} (only http)")),
        None => s,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(rest[i..].to_string())),
        None => (rest, None),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.starts_with('[') || h.ends_with(']') => {
            (h, p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?)
        }
        _ => (authority, 80),
    };
    let host_bare = host.trim_start_matches('[').trim_end_matches(']');
    if host_bare.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("expected http://host:port/path or host:port".into());
    }
    let resolved = (host_bare, port).to_socket_addrs().map(|mut a| a.next());
    let Ok(Some(addr)) = resolved else {
        return Err(format!("cannot resolve host {host_bare:?}"));
    };
    Ok((authority.to_string(), addr, path))
}

/// One client: its own connection, one request, the whole response (until EOF).
fn fetch(addr: SocketAddr, host: &str, path: &str, id: &str) -> Result<Reply, Failure> {
    let mut conn =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(Failure::Connect)?;
    let timeout = Some(Duration::from_secs(30));
    conn.set_read_timeout(timeout).map_err(other)?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nX-Request-Id: {id}\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).map_err(other)?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).map_err(other)?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(&raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(other("closed before the end of the head")),
        Err(e) => return Err(other(format!("malformed response: {e}"))),
    };
    let header = |name: &str| {
        let mut hs = resp.headers.iter();
        let h = hs.find(|h| h.name.eq_ignore_ascii_case(name));
        h.map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    let mut body = raw[head_len..].to_vec();
    if header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        body = dechunk(&body).ok_or_else(|| other("malformed chunked body"))?;
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        match body.len() {
            n if n < len => return Err(other(format!("body truncated: {n} of {len} bytes"))),
            _ => body.truncate(len),
        }
    }
    let text = String::from_utf8_lossy(&body);
    Ok(Reply {
        status: resp.code.unwrap_or(0),
        reason: resp.reason.unwrap_or("").to_string(),
        // One field per line, like the course's output: keep embedded newlines visible.
        body: text.trim_end().lines().collect::<Vec<_>>().join("\\n"),
        echoed: header("x-request-id"),
    })
}

fn other(e: impl ToString) -> Failure {
    Failure::Other(e.to_string())
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

fn print_reply(i: u32, r: &Reply, atomic: bool) {
    let lines = [
        format!("Status: {}", r.status),
        format!("Reason: {}", r.reason),
        format!("Content: {}", r.body),
    ];
    if atomic {
        let text = lines.map(|l| format!("[client {i}] {l}\n")).concat();
        let mut out = io::stdout().lock(); // one lock, one write: lines stay together
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    } else {
        for (n, line) in lines.iter().enumerate() {
            if n > 0 {
                // Whether output actually mixes depends on scheduling. In the course,
                // CPython's GIL switched threads between print calls; this short pause
                // models that thread switch so the effect shows up reliably. It only
                // changes *when* a line is printed, never what the connection received.
                thread::sleep(Duration::from_micros(300));
            }
            println!("[client {i}] {line}"); // locks stdout for this one line only
        }
    }
}

fn main() -> ExitCode {
    let args = match reactor::cli::parse_args::<Args>("tutorial_client") {
        Ok(args) => args,
        Err(code) => return code,
    };
    let (host, addr, url_path) = match parse_target(&args.target) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: invalid target {:?}: {e}", args.target);
            return ExitCode::from(2);
        }
    };
    let path = args.path.or(url_path).unwrap_or_else(|| "/hello".into());
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        eprintln!("error: invalid path {path:?}: must start with '/' and contain no spaces");
        return ExitCode::from(2);
    }
    let (barrier, atomic) = (Arc::new(Barrier::new(args.clients as usize)), args.atomic);
    let handles: Vec<_> = (1..=args.clients)
        .map(|i| {
            let (barrier, host, path) = (Arc::clone(&barrier), host.clone(), path.clone());
            thread::spawn(move || {
                barrier.wait(); // all clients start together, so they really overlap
                let id = format!("client-{i}");
                let reply = fetch(addr, &host, &path, &id)?;
                print_reply(i, &reply, atomic);
                match reply.echoed {
                    Some(got) if got != id => Err(other(format!("sent {id}, echo says {got}"))),
                    echoed => Ok(echoed.is_some()), // true: the echo matched our own id
                }
            })
        })
        .collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.join().expect("client thread panicked"));
    }
    // Server unreachable (no client got through): bad input, one line, exit 2.
    if let Some(Err(Failure::Connect(e))) = results.first() {
        if results
            .iter()
            .all(|r| matches!(r, Err(Failure::Connect(_))))
        {
            eprintln!("error: cannot connect to {addr}: {e}");
            return ExitCode::from(2);
        }
    }
    let (mut responses, mut matched) = (0, 0);
    for (i, result) in (1..).zip(&results) {
        match result {
            Ok(same_id) => (responses, matched) = (responses + 1, matched + usize::from(*same_id)),
            Err(Failure::Connect(e)) => eprintln!("[client {i}] error: connect to {addr}: {e}"),
            Err(Failure::Other(e)) => eprintln!("[client {i}] error: {e}"),
        }
    }
    if responses > 0 && matched == 0 {
        println!("responses: {responses}, server did not echo X-Request-Id");
    } else {
        println!("responses: {responses}, each matched its own request: {matched}");
    }
    ExitCode::from(u8::from(responses < results.len()))
}
