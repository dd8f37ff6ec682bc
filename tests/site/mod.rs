//! A served directory for the conditional and range tests: a scratch directory
//! with a few files of known content and age, and a server over it.
//!
//! Rule: nothing here asserts an HTTP rule; the tests do.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::common::{self, Response, Server};

/// Length of `big.bin`: above the in-memory limits, so it is sent with sendfile.
pub const BIG_LEN: usize = 3 * 1024 * 1024;
/// Length of `alphabet.txt`: small (cached, or read inline), but long enough for
/// ranges more than a part's overhead apart.
pub const ALPHABET_LEN: usize = 2600;

/// `big.bin`'s bytes.
pub fn big_content() -> Vec<u8> {
    (0..BIG_LEN)
        .map(|i| ((i * 31 + i / 7) % 251) as u8)
        .collect()
}

/// `alphabet.txt`'s bytes: a to z, a hundred times each.
pub fn alphabet() -> Vec<u8> {
    (0..ALPHABET_LEN).map(|i| b'a' + (i / 100) as u8).collect()
}

/// A server over a fresh directory, killed before the directory is removed.
pub struct Site {
    pub server: Server,
    dir: Scratch,
}

impl Site {
    /// Starts `model` with `args` over a new fixture: `notes.txt`, `alphabet.txt`,
    /// `big.bin` and `app.js`, all modified an hour ago.
    pub fn start(model: &str, args: &[&str]) -> Self {
        let dir = Scratch::new();
        fs::write(dir.0.join("notes.txt"), "plain text").unwrap();
        fs::write(dir.0.join("alphabet.txt"), alphabet()).unwrap();
        fs::write(dir.0.join("big.bin"), big_content()).unwrap();
        fs::write(dir.0.join("app.js"), "let x = 1;\n").unwrap();
        for name in ["notes.txt", "alphabet.txt", "big.bin", "app.js"] {
            set_mtime(
                &dir.0.join(name),
                SystemTime::now() - Duration::from_secs(3600),
            );
        }
        let root = dir.0.to_str().expect("UTF-8 temp path").to_string();
        let mut all = vec!["-d", root.as_str()];
        all.extend_from_slice(args);
        let server = Server::start(model, &all);
        Self { server, dir }
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.dir.0
    }

    /// One request on its own connection (closed after it), with the extra field
    /// lines; the response is read as HEAD's when the method is HEAD.
    pub fn get(&self, method: &str, target: &str, fields: &[&str]) -> Response {
        let mut all = vec!["Connection: close"];
        all.extend_from_slice(fields);
        let mut client = self.server.client();
        client.send(&common::request(method, target, &all, b""));
        if method == "HEAD" {
            client.read_head_response()
        } else {
            client.read_response()
        }
    }
}

/// Sets `path`'s modification time.
pub fn set_mtime(path: &Path, at: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(at))
        .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", path.display()));
}

struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "reactor-site-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir.canonicalize().unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
