//! Small files kept in memory, so a busy static site costs no file-system call per
//! request: no `openat2`, `fstat`, `pread` or `close`, and no MIME lookup.
//!
//! The same bargain as lighttpd's stat cache and nginx's `open_file_cache`: an entry
//! is trusted for `--file-cache-ttl` (1 s by default) after it was read. The first
//! request after that misses, and takes the uncached path, which opens the file again
//! beneath the root, with every safety rule, and refreshes the entry. A file changed on
//! disk is therefore served as it was for at most the TTL; `--file-cache-ttl 0` turns
//! the cache off.
//!
//! Rule: the cache only remembers what the uncached path already decided. Entries are
//! keyed by the URL path exactly as received and are inserted only for a regular file
//! opened beneath the root, so a hit answers exactly what a miss would have, apart
//! from staleness within the TTL. Memory is bounded: files up to [`MAX_FILE`] bytes,
//! at most [`MAX_TOTAL`] bytes and [`MAX_ENTRIES`] entries in all; a full cache is
//! emptied and refilled by the requests that follow.
//!
//! Layering: this is the bottom of the file routes. It owns its limits and the facts
//! it stores; `file_response` and `files` use it, and it imports neither.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustc_hash::FxHashMap;

use crate::protocol::conditional::ETag;
use crate::protocol::response::PreparedResponse;
use crate::protocol::SharedBytes;

/// Largest file kept in memory: 64 KiB, the size up to which `file_response` reads
/// a body inline anyway, so a cached file costs no more memory than answering it did.
pub const MAX_FILE: u64 = 64 * 1024;
/// Most file bytes cached in all.
pub const MAX_TOTAL: usize = 8 * 1024 * 1024;
/// Most files cached.
pub const MAX_ENTRIES: usize = 4096;

/// What the response depends on besides the bytes (`file_response` derives it from
/// the metadata; the cache keeps it beside the bytes).
#[derive(Clone, Debug)]
pub struct FileFacts {
    pub len: u64,
    /// In whole seconds, as HTTP dates carry it.
    pub mtime: Option<SystemTime>,
    pub last_modified: Option<Arc<str>>,
    pub etag: Option<ETag>,
    pub content_type: Cow<'static, str>,
}

/// One file as the uncached path found it.
#[derive(Debug)]
pub struct CachedFile {
    /// Length, validators (ETag, Last-Modified) and type, as found when it was read.
    pub facts: FileFacts,
    /// The answer to a GET or HEAD with no precondition and no Range, the one a busy
    /// site gives most, rendered once from the same facts. It holds the file's bytes
    /// ([`CachedFile::bytes`]), so they are in memory once.
    pub whole: Arc<PreparedResponse>,
    /// When the file was read: the entry is trusted until this plus the TTL.
    pub read_at: Instant,
}

/// The cache, shared by every connection (and thread) of a server.
#[derive(Debug)]
pub struct FileCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

#[derive(Debug)]
struct Entry {
    file: Arc<CachedFile>,
    /// `read_at` plus the TTL, added once at insertion rather than per lookup;
    /// `None` when that is beyond what an `Instant` can hold (trusted for good).
    fresh_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Fx hashing: SipHash cost more than the rest of a lookup. Keys are URL paths
    /// of files that exist, at most MAX_ENTRIES of them, so flooding is bounded.
    by_path: FxHashMap<Box<str>, Entry>,
    bytes: usize,
}

impl CachedFile {
    /// The whole file, shared with the prepared answer.
    pub fn bytes(&self) -> SharedBytes {
        self.whole.body()
    }
}

impl FileCache {
    /// A cache whose entries are trusted for `ttl`; zero disables it.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// Whether anything is ever cached.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The entry for `url_path`, if it is still within its TTL at `now`.
    pub fn get(&self, url_path: &str, now: Instant) -> Option<Arc<CachedFile>> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let entry = entries.by_path.get(url_path)?;
        let fresh = entry.fresh_until.is_none_or(|until| now < until);
        fresh.then(|| Arc::clone(&entry.file))
    }

    /// Remembers `file` under `url_path` (replacing an older entry) if it fits.
    pub fn insert(&self, url_path: &str, file: Arc<CachedFile>) {
        let size = file.facts.len as usize;
        if !self.enabled() || size as u64 > MAX_FILE {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some(old) = entries.by_path.remove(url_path) {
            entries.bytes -= old.file.facts.len as usize;
        }
        if entries.bytes + size > MAX_TOTAL || entries.by_path.len() >= MAX_ENTRIES {
            // Start over rather than track recency: the hot files come back at once.
            entries.by_path.clear();
            entries.bytes = 0;
        }
        entries.bytes += size;
        let fresh_until = file.read_at.checked_add(self.ttl);
        entries
            .by_path
            .insert(url_path.into(), Entry { file, fresh_until });
    }

    /// Files cached now.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.by_path.len())
    }

    /// Nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Response;

    fn file(size: usize, read_at: Instant) -> Arc<CachedFile> {
        let response = Response::text(200, vec![b'x'; size]);
        Arc::new(CachedFile {
            whole: Arc::new(PreparedResponse::new(&response)),
            facts: FileFacts {
                len: size as u64,
                mtime: None,
                last_modified: None,
                etag: None,
                content_type: "text/plain".into(),
            },
            read_at,
        })
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = FileCache::new(Duration::from_secs(1));
        let t0 = Instant::now();
        cache.insert("/a.txt", file(3, t0));
        assert!(cache
            .get("/a.txt", t0 + Duration::from_millis(999))
            .is_some());
        assert!(cache.get("/a.txt", t0 + Duration::from_secs(1)).is_none());
        assert!(cache.get("/b.txt", t0).is_none());
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = FileCache::new(Duration::ZERO);
        let t0 = Instant::now();
        cache.insert("/a.txt", file(3, t0));
        assert!(cache.is_empty());
        assert!(cache.get("/a.txt", t0).is_none());
    }

    #[test]
    fn memory_stays_within_its_bounds() {
        let cache = FileCache::new(Duration::from_secs(60));
        let t0 = Instant::now();
        cache.insert("/too-big", file(MAX_FILE as usize + 1, t0));
        assert!(cache.is_empty());
        let per_file = MAX_FILE as usize;
        for i in 0..(MAX_TOTAL / per_file) + 3 {
            cache.insert(&format!("/f{i}"), file(per_file, t0));
            let total = cache.entries.lock().unwrap().bytes;
            assert!(total <= MAX_TOTAL, "{total} bytes cached");
        }
        // Replacing an entry does not count it twice.
        cache.insert("/same", file(10, t0));
        let before = cache.entries.lock().unwrap().bytes;
        cache.insert("/same", file(10, t0));
        assert_eq!(cache.entries.lock().unwrap().bytes, before);
    }
}
