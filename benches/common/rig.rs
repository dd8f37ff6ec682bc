//! A connection and the router around it, driven as the reactor drives them, with
//! no sockets: what the core costs per request. Shared by the criterion bench
//! (`benches/protocol.rs`) and the instruction counter (`benches/core_cost.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use reactor::config::{Limits, Model, Timeouts};
use reactor::protocol::{Connection, DateCache, Now, Output, Settings};
use reactor::routes::{self, Ctx, FileCache, Reply};
use reactor::stats::Stats;

/// What wrk sends.
pub const WRK_REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
/// What wrk sends in the peers benchmark: a small static file.
pub const WRK_FILE_REQUEST: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
/// What a browser sends.
pub const BROWSER_REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nX-Request-Id: c12-3456\r\n\r\n";

/// Serves the built-in site and, with `with_root`, a directory holding `hello.txt`
/// (`Hello, world!`) and `index.html`.
pub struct Rig {
    conn: Connection,
    stats: Arc<Stats>,
    files: FileCache,
    root: PathBuf,
    now: Now,
    start: Instant,
}

impl Rig {
    pub fn new() -> Self {
        let settings = Settings {
            limits: Limits {
                max_requests_per_connection: u64::MAX,
                ..Limits::default()
            },
            timeouts: Timeouts::default(),
            keep_alive: true,
        };
        let stats = Arc::new(Stats::default());
        let start = Instant::now();
        let root = std::env::temp_dir().join(format!("reactor-bench-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("hello.txt"), "Hello, world!").unwrap();
        std::fs::write(root.join("index.html"), "<!DOCTYPE html><p>Hello</p>\n").unwrap();
        Self {
            conn: Connection::new(settings, stats.register(), None, 0, start),
            stats,
            files: FileCache::new(Duration::from_secs(3600)),
            root: root.canonicalize().unwrap(),
            now: DateCache::new().now(start, UNIX_EPOCH + Duration::from_secs(1)),
            start,
        }
    }

    /// Feeds `input` as one read, routes every request, and drains the output as
    /// one write would; returns the bytes sent.
    pub fn exchange(&mut self, input: &[u8], with_root: bool) -> usize {
        let ctx = Ctx {
            model: Model::Reactor,
            root: with_root.then_some(self.root.as_path()),
            stats: &self.stats,
            files: &self.files,
            now: self.start,
            uptime: Duration::ZERO,
        };
        self.conn.handle_bytes(input, &self.now);
        let mut sent = 0;
        loop {
            while let Some((seq, reply)) = self.conn.next_request(|req| routes::route(req, &ctx)) {
                if let Reply::Now(response) = reply {
                    self.conn.respond(seq, response, &self.now);
                }
            }
            let Some(Output::Bytes(bytes)) = self.conn.poll_output() else {
                break;
            };
            let n = bytes.len();
            sent += n;
            self.conn.consume_output(n, &self.now);
        }
        sent
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
