//! `-d DIR` over a real socket: the `reactor` binary serving a scratch directory.
//!
//! Each test starts its own server (via [`common::Server`]) on an ephemeral port over
//! its own fixture, sends raw requests, and reads the responses with [`common::Client`].

mod common;

use std::fs;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::{Response, MODELS};

/// In every file outside the served root; must never appear in a response.
const MARKER: &str = "OUTSIDE-THE-ROOT-7f3a9c1e";
const BIG_LEN: usize = 3 * 1024 * 1024;

/// A running server over a scratch directory. Fields drop in order: the server is
/// killed first, then the directory is removed.
struct FileServer {
    server: common::Server,
    dir: ScratchDir,
}

impl FileServer {
    /// The reactor model over a fresh fixture.
    fn start() -> Self {
        Self::start_model("reactor")
    }

    fn start_model(model: &str) -> Self {
        Self::start_with(model, &[])
    }

    fn start_with(model: &str, args: &[&str]) -> Self {
        let dir = ScratchDir::new();
        let root = dir.0.join("root");
        make_fixture(&dir.0, &root);
        let root = root.to_str().expect("UTF-8 temp path");
        let mut all = vec!["-d", root];
        all.extend_from_slice(args);
        let server = common::Server::start(model, &all);
        Self { server, dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.0.join("root")
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Sends one request (with `Connection: close` and the `extra` field lines) and
    /// reads its response.
    fn get(&self, method: &str, target: &str, extra: &[&str]) -> Response {
        let mut fields = vec!["Connection: close"];
        fields.extend_from_slice(extra);
        let raw = common::request(method, target, &fields, b"");
        self.exchange(&raw, &[method == "HEAD"]).pop().unwrap()
    }

    /// Writes `raw` on one connection and reads one response per entry of `heads`
    /// (true: the request was HEAD, so no body follows).
    fn exchange(&self, raw: &[u8], heads: &[bool]) -> Vec<Response> {
        let mut client = self.server.client();
        client.send(raw);
        heads
            .iter()
            .map(|&head| {
                if head {
                    client.read_head_response()
                } else {
                    client.read_response()
                }
            })
            .collect()
    }

    /// Writes `raw` on one connection and returns everything until the server closes
    /// (for requests that may be rejected before a well-formed response).
    fn raw_exchange(&self, raw: &[u8]) -> Vec<u8> {
        let mut client = self.server.client();
        client.send(raw);
        client.read_to_close()
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "reactor-files-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `dir/root` is served; `dir/secret` and `dir/outside/` hold the marker.
fn make_fixture(dir: &Path, root: &Path) {
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(root.join("list/inner")).unwrap();
    fs::create_dir_all(dir.join("outside")).unwrap();
    fs::write(dir.join("secret"), MARKER).unwrap();
    fs::write(dir.join("outside/secret.txt"), MARKER).unwrap();
    fs::write(root.join("index.html"), "<h1>root index</h1>").unwrap();
    fs::write(root.join("sub/file.txt"), "in sub").unwrap();
    fs::write(root.join("list/<b>&\"x.txt"), "escaped").unwrap();
    fs::write(root.join("style.css"), "body { color: red }").unwrap();
    fs::write(root.join("notes.txt"), "plain text").unwrap();
    fs::write(root.join("page.html"), "<p>page</p>").unwrap();
    fs::write(root.join("pixel.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    fs::write(root.join("hello"), "a file named hello").unwrap();
    fs::write(root.join("big.bin"), big_content()).unwrap();
    symlink(dir.join("outside/secret.txt"), root.join("link-out")).unwrap();
    symlink("../outside", root.join("dir-out")).unwrap();
    symlink("notes.txt", root.join("link-in.txt")).unwrap();
    // Written an hour ago, as a served site's files usually were: their validators
    // are strong (a file changed within the last two seconds gets a weak ETag).
    for file in [
        "index.html",
        "sub/file.txt",
        "style.css",
        "notes.txt",
        "page.html",
        "pixel.png",
        "hello",
        "big.bin",
    ] {
        age(&root.join(file), Duration::from_secs(3600));
    }
    let fifo = std::ffi::CString::new(root.join("fifo").into_os_string().into_vec()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Sets `path`'s mtime `ago` in the past.
fn age(path: &Path, ago: Duration) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - ago))
        .unwrap_or_else(|e| panic!("aging {}: {e}", path.display()));
}

fn big_content() -> Vec<u8> {
    (0..BIG_LEN)
        .map(|i| ((i * 31 + i / 7) % 251) as u8)
        .collect()
}

#[test]
fn index_html_is_served_for_the_root() {
    let server = FileServer::start();
    let reply = server.get("GET", "/", &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "<h1>root index</h1>");
    assert_eq!(
        reply.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn directory_listing_escapes_names() {
    let server = FileServer::start();
    let reply = server.get("GET", "/list/", &[]);
    assert_eq!(reply.status, 200);
    let html = reply.text();
    assert!(
        html.contains("<title>Directory listing for /list/</title>"),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="%3Cb%3E%26%22x.txt">&lt;b&gt;&amp;&quot;x.txt</a>"#),
        "{html}"
    );
    assert!(html.contains(r#"<a href="inner/">inner/</a>"#), "{html}");
    assert!(html.contains(r#"<a href="../">../</a>"#), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    let file = server.get("GET", "/list/%3Cb%3E%26%22x.txt", &[]);
    assert_eq!((file.status, file.text().as_str()), (200, "escaped"));
}

#[test]
fn directory_without_slash_redirects() {
    let server = FileServer::start();
    let reply = server.get("GET", "/sub", &[]);
    assert_eq!(reply.status, 301);
    assert_eq!(reply.header("Location"), Some("/sub/"));
    let reply = server.get("GET", "/sub?a=1&b=2", &[]);
    assert_eq!(reply.header("Location"), Some("/sub/?a=1&b=2"));
    // Not `//sub/`, which a browser would read as the host `sub`.
    let reply = server.get("GET", "//sub", &[]);
    assert_eq!(reply.header("Location"), Some("/sub/"));
    assert_eq!(server.get("GET", "/notes.txt/", &[]).status, 404);
    let listing = server.get("GET", "/sub/", &[]);
    assert_eq!(listing.status, 200);
    assert!(listing.text().contains("Directory listing for /sub/"));
}

#[test]
fn content_types_follow_extensions() {
    let server = FileServer::start();
    for (path, mime) in [
        ("/page.html", "text/html; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/notes.txt", "text/plain; charset=utf-8"),
        ("/pixel.png", "image/png"),
        ("/big.bin", "application/octet-stream"),
    ] {
        let reply = server.get("GET", path, &[]);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("Content-Type"), Some(mime), "{path}");
        assert_eq!(reply.header("Accept-Ranges"), Some("bytes"), "{path}");
        assert!(reply.header("Last-Modified").is_some(), "{path}");
    }
}

#[test]
fn big_file_is_sent_whole_under_every_model() {
    let expected = big_content();
    for model in MODELS {
        if common::skip(model) {
            continue;
        }
        let server = FileServer::start_model(model);
        let reply = server.get("GET", "/big.bin", &[]);
        assert_eq!(reply.status, 200, "{model}");
        assert_eq!(reply.header("Content-Length"), Some("3145728"), "{model}");
        assert!(reply.body == expected, "{model}: body differs");
    }
}

#[test]
fn head_of_big_file_has_length_but_no_body() {
    let server = FileServer::start();
    let raw = common::request("HEAD", "/big.bin", &["Connection: close"], b"");
    let all = server.raw_exchange(&raw);
    let text = String::from_utf8(all).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(text.contains("Content-Length: 3145728\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n"),
        "a HEAD response has no body: {text}"
    );
}

#[test]
fn range_returns_exact_bytes() {
    let server = FileServer::start();
    let big = big_content();
    let reply = server.get("GET", "/big.bin", &["Range: bytes=10-19"]);
    assert_eq!(reply.status, 206);
    assert_eq!(reply.header("Content-Range"), Some("bytes 10-19/3145728"));
    assert_eq!(reply.header("Content-Length"), Some("10"));
    assert_eq!(reply.body, &big[10..20]);
    let tail = server.get("GET", "/big.bin", &["Range: bytes=3145000-"]);
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, &big[3_145_000..]);
}

#[test]
fn suffix_range_returns_the_last_bytes() {
    let server = FileServer::start();
    let big = big_content();
    let reply = server.get("GET", "/big.bin", &["Range: bytes=-100"]);
    assert_eq!(reply.status, 206);
    assert_eq!(
        reply.header("Content-Range"),
        Some("bytes 3145628-3145727/3145728")
    );
    assert_eq!(reply.body, &big[BIG_LEN - 100..]);
    let small = server.get("GET", "/notes.txt", &["Range: bytes=-1000"]);
    assert_eq!((small.status, small.text().as_str()), (206, "plain text"));
}

#[test]
fn unsatisfiable_range_is_416() {
    let server = FileServer::start();
    for range in ["bytes=3145728-", "bytes=-0", "bytes=5000000-6000000"] {
        let reply = server.get("GET", "/big.bin", &[&format!("Range: {range}")]);
        assert_eq!(reply.status, 416, "{range}");
        assert_eq!(
            reply.header("Content-Range"),
            Some("bytes */3145728"),
            "{range}"
        );
    }
    // Syntax errors, other units and more than 16 ranges ignore the field.
    let seventeen = format!("bytes={}", vec!["0-0"; 17].join(","));
    for ignored in ["bytes=abc", "lines=1-2", seventeen.as_str()] {
        let reply = server.get("GET", "/notes.txt", &[&format!("Range: {ignored}")]);
        assert_eq!((reply.status, reply.text().as_str()), (200, "plain text"));
    }
}

#[test]
fn if_modified_since_gives_304() {
    let server = FileServer::start();
    let first = server.get("GET", "/notes.txt", &[]);
    let date = first.header("Last-Modified").unwrap().to_string();
    let same = server.get(
        "GET",
        "/notes.txt",
        &[&format!("If-Modified-Since: {date}")],
    );
    assert_eq!(same.status, 304);
    assert_eq!(same.header("Last-Modified"), Some(date.as_str()));
    assert!(same.header("Content-Length").is_none());
    let since = format!("If-Modified-Since: {date}");
    let with_range = [since.as_str(), "Range: bytes=0-1"];
    assert_eq!(server.get("GET", "/notes.txt", &with_range).status, 304);
    let old = "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT";
    assert_eq!(server.get("GET", "/notes.txt", &[old]).status, 200);
    let garbage = "If-Modified-Since: not a date";
    assert_eq!(server.get("GET", "/notes.txt", &[garbage]).status, 200);
    // A file written after the date is modified (one not asked for before, so no
    // cached copy of an older version answers within the cache's TTL).
    let later = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(1800));
    fs::write(server.root().join("touched.txt"), "plain text").unwrap();
    let touched = server.get(
        "GET",
        "/touched.txt",
        &[&format!("If-Modified-Since: {later}")],
    );
    assert_eq!(touched.status, 200);
}

#[test]
fn escape_attempts_never_leak_outside_files() {
    let server = FileServer::start();
    for target in [
        "/../etc/passwd",
        "/../secret",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e/secret",
        "/%2E%2E/outside/secret.txt",
        "/sub/..%2f..%2fsecret",
        "/sub/%2e%2e%2f%2e%2e%2fsecret",
        "/sub%2f..%2f..%2fsecret",
        "/..\\secret",
        "/sub/..%5c..%5csecret",
        "/a%00b",
        "/notes.txt%00.png",
        "/%ff",
        "/link-out",
        "/dir-out/secret.txt",
        "/dir-out/",
        "http://localhost/../secret",
    ] {
        let raw = common::request("GET", target, &["Connection: close"], b"");
        let reply = server.raw_exchange(&raw);
        let text = String::from_utf8_lossy(&reply);
        let status = text.split(' ').nth(1).unwrap_or("");
        assert!(
            ["400", "403", "404"].contains(&status),
            "{target}: unexpected answer {text}"
        );
        assert!(!text.contains(MARKER), "{target} leaked the outside file");
        assert!(!text.contains("root:x:0"), "{target} leaked /etc/passwd");
    }
    let inside = server.get("GET", "/link-in.txt", &[]);
    assert_eq!((inside.status, inside.text().as_str()), (200, "plain text"));
}

#[test]
fn builtin_routes_win_over_files() {
    let server = FileServer::start();
    let reply = server.get("GET", "/hello", &[]);
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "Hello, world!")
    );
    // `/live` too, even with a file of that name in DIR.
    fs::write(server.root().join("live"), "a file named live").unwrap();
    let reply = server.get("GET", "/live", &[]);
    assert_eq!(reply.status, 200);
    assert!(
        reply.text().contains("fetch(\"/stats\""),
        "/live under -d: {}",
        reply.text()
    );
}

#[test]
fn pipelined_file_responses_stay_in_order() {
    let server = FileServer::start();
    let big = big_content();
    let raw = "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n\
               HEAD /big.bin HTTP/1.1\r\nHost: h\r\n\r\n\
               GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=5-9\r\n\r\n\
               GET /notes.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let replies = server.exchange(raw.as_bytes(), &[false, true, false, false]);
    assert!(replies[0].status == 200 && replies[0].body == big);
    assert_eq!(replies[1].header("Content-Length"), Some("3145728"));
    assert!(replies[1].body.is_empty());
    assert_eq!(
        (replies[2].status, &replies[2].body[..]),
        (206, &big[5..10])
    );
    assert_eq!(replies[3].text(), "plain text");
}

#[test]
fn if_none_match_and_if_range_follow_rfc_9110() {
    let server = FileServer::start();
    let first = server.get("GET", "/notes.txt", &[]);
    let date = first.header("Last-Modified").unwrap().to_string();
    // If-None-Match present: If-Modified-Since is ignored (§13.1.3); we send no ETags.
    let since = format!("If-Modified-Since: {date}");
    let both = [since.as_str(), "If-None-Match: \"abc\""];
    assert_eq!(server.get("GET", "/notes.txt", &both).status, 200);
    // If-Range with the current date: the range applies; otherwise the whole file.
    let fresh = ["Range: bytes=0-4", &format!("If-Range: {date}")];
    let reply = server.get("GET", "/notes.txt", &fresh);
    assert_eq!((reply.status, reply.text().as_str()), (206, "plain"));
    for stale in ["Sun, 06 Nov 1994 08:49:37 GMT", "\"abc\""] {
        let fields = ["Range: bytes=0-4", &format!("If-Range: {stale}")];
        let reply = server.get("GET", "/notes.txt", &fields);
        assert_eq!((reply.status, reply.text().as_str()), (200, "plain text"));
    }
}

#[test]
fn fifos_are_refused_without_blocking_the_server() {
    let server = FileServer::start();
    assert_eq!(server.get("GET", "/fifo", &[]).status, 403);
    assert_eq!(server.get("GET", "/hello", &[]).status, 200);
}

/// A file truncated while it is being sent can never match its Content-Length:
/// the server must close the connection, not spin retrying a zero-byte send.
#[test]
fn a_file_truncated_while_sent_ends_the_connection() {
    for model in MODELS {
        if common::skip(model) {
            continue;
        }
        let server = FileServer::start_model(model);
        let path = server.root().join("shrinking.bin");
        fs::write(&path, vec![7u8; 64 * 1024 * 1024]).unwrap();
        let mut stream = common::connect(server.addr());
        common::send(&mut stream, &common::get("/shrinking.bin", &[]));
        let mut first = vec![0u8; 64 * 1024];
        stream.read_exact(&mut first).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        // Reading on must reach the server's close, well short of 64 MiB.
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{model}: hung for {:?}",
            started.elapsed()
        );
        assert!(rest.len() < 64 * 1024 * 1024, "{model}: got the whole file");
        let _ = fs::remove_file(&path);
    }
}

/// Small files are answered from memory for the cache's TTL, then read again: a
/// change on disk shows within the TTL, never later.
#[test]
fn a_changed_file_is_served_fresh_once_the_cache_ttl_passes() {
    for model in MODELS {
        if common::skip(model) {
            continue;
        }
        let server = FileServer::start_with(model, &["--file-cache-ttl", "300ms"]);
        let path = server.root().join("notes.txt");
        assert_eq!(server.get("GET", "/notes.txt", &[]).text(), "plain text");
        fs::write(&path, "new text!!").unwrap();
        // Within the TTL the cached copy may still be served; after it, never.
        std::thread::sleep(Duration::from_millis(600));
        let fresh = server.get("GET", "/notes.txt", &[]);
        assert_eq!(fresh.text(), "new text!!", "{model}");
        assert_eq!(fresh.content_length(), Some(10), "{model}");
        // Ranges and HEAD are answered from the cached copy like from the file.
        let part = server.get("GET", "/notes.txt", &["Range: bytes=4-7"]);
        assert_eq!(
            (part.status, part.text().as_str()),
            (206, "text"),
            "{model}"
        );
        let head = server.get("HEAD", "/notes.txt", &[]);
        assert_eq!(head.content_length(), Some(10), "{model}");
        assert!(head.body.is_empty(), "{model}");
    }
}

#[test]
fn a_zero_ttl_reads_every_request_from_disk() {
    let server = FileServer::start_with("reactor", &["--file-cache-ttl", "0"]);
    let path = server.root().join("notes.txt");
    assert_eq!(server.get("GET", "/notes.txt", &[]).text(), "plain text");
    fs::write(&path, "changed").unwrap();
    assert_eq!(server.get("GET", "/notes.txt", &[]).text(), "changed");
    fs::remove_file(&path).unwrap();
    assert_eq!(server.get("GET", "/notes.txt", &[]).status, 404);
}

/// A cached entry never lets a path that is refused in full be served: the cache is
/// only filled by files opened beneath the root.
#[test]
fn the_cache_never_serves_what_the_rules_refuse() {
    let server = FileServer::start();
    for _ in 0..2 {
        assert_eq!(server.get("GET", "/notes.txt", &[]).status, 200);
        assert_eq!(server.get("GET", "/notes.txt/", &[]).status, 404);
        assert_eq!(server.get("GET", "/link-out", &[]).status, 403);
        assert_eq!(server.get("GET", "/%2e%2e/secret", &[]).status, 403);
    }
}
