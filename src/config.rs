//! Everything the server can be told, with its defaults in one place.
//!
//! Rule: plain data and documented constants, no I/O. `main.rs` fills a [`Config`]
//! from the command line; the protocol core reads [`Limits`] and [`Timeouts`]; the
//! drivers read the rest.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Size limits that protect the server from a client's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version). Above it: 414.
    pub max_request_line: usize,
    /// Largest header section, request line included. Above it: 431.
    pub max_head: usize,
    /// Most header fields. Above it: 431.
    pub max_headers: usize,
    /// Largest request body. Above it: 413.
    pub max_body: u64,
    /// Most bytes of chunk-size lines, extensions and trailers in one body. Above: 400.
    pub max_chunk_metadata: usize,
    /// Requests served on one connection before the server asks to close it
    /// (like nginx's `keepalive_requests`).
    pub max_requests_per_connection: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_line: 8 * 1024,
            max_head: 16 * 1024,
            max_headers: 64,
            max_body: 8 * 1024 * 1024,
            max_chunk_metadata: 16 * 1024,
            max_requests_per_connection: 10_000,
        }
    }
}

/// How long the server waits for a client before giving up on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to receive a whole request head, and the longest pause while a body is
    /// arriving. A client that dribbles its head (slowloris) gets 408 and a close.
    pub header: Duration,
    /// How long an idle keep-alive connection is kept open between requests.
    pub idle: Duration,
    /// Longest time the server waits for a client to accept more response bytes.
    pub write: Duration,
    /// How long a lingering close drains input after the last response.
    pub linger: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(15),
            write: Duration::from_secs(30),
            linger: Duration::from_secs(2),
        }
    }
}

/// The concurrency model: the one thing that differs between the servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Model {
    /// One thread, one mio event loop over every connection.
    #[default]
    Reactor,
    /// One OS thread per connection, blocking I/O.
    Threaded,
    /// One connection at a time, blocking I/O, served to the end before the next.
    Iterative,
    /// A fixed set of worker threads (`--workers`), blocking I/O, fed accepted
    /// connections from a bounded queue; each serves one connection to its end.
    Pool,
    /// One thread, one io_uring: the kernel does the I/O, the loop only reads completions.
    Uring,
}

impl Model {
    /// The name used on the command line and in `/stats`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Reactor => "reactor",
            Self::Threaded => "threaded",
            Self::Iterative => "iterative",
            Self::Pool => "pool",
            Self::Uring => "uring",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The whole server configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Directory to serve; `None` serves the built-in site.
    pub root: Option<PathBuf>,
    pub model: Model,
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// Keep connections open between requests (HTTP/1.1 default).
    pub keep_alive: bool,
    /// Most connections open at once; the listener is paused at the limit. With
    /// several reactor workers, each takes an equal share.
    pub max_connections: usize,
    /// Reactor and uring models: independent event loops, each one thread, sharing
    /// the port (`SO_REUSEPORT`). Pool model: the worker threads that serve connections.
    pub workers: usize,
    /// After SIGINT/SIGTERM, how long in-flight responses get to finish.
    pub drain_timeout: Duration,
    /// Log a line of counters this often.
    pub stats_interval: Option<Duration>,
    /// How long a small file read for `-d` is served from memory before it is read
    /// again; zero turns the cache off.
    pub file_cache_ttl: Duration,
}

impl Config {
    /// Listening sockets the model needs: one per event loop (reactor, uring), else one.
    pub fn listeners(&self) -> usize {
        match self.model {
            Model::Reactor | Model::Uring => self.workers.max(1),
            Model::Threaded | Model::Iterative | Model::Pool => 1,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            root: None,
            model: Model::Reactor,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            keep_alive: true,
            max_connections: 10_000,
            workers: 1,
            drain_timeout: Duration::from_secs(10),
            stats_interval: None,
            file_cache_ttl: Duration::from_secs(1),
        }
    }
}
