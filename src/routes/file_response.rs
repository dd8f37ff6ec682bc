//! The answer for a regular file that passed every path rule: its validators
//! (ETag, Last-Modified), the preconditions, the ranges, and the body.
//!
//! Rule: this decides the status, the fields and where the bytes come from, and
//! reads only what goes inline; `files.rs` found and opened the file, and the
//! decisions themselves are `protocol::conditional`'s and `protocol::range`'s. A
//! cached file and an uncached one get the same answer (same ETag, same ranges):
//! both go through [`respond`] with the same [`FileFacts`].
//!
//! The entity tag is nginx's, `"<mtime>-<size>"` in hex, strong only when a change
//! could not hide behind it: a file written twice in the same second, to the same
//! size, keeps its mtime (in whole seconds, as HTTP dates carry it) and its size, so
//! its tag would not change. [`entity_tag`] therefore makes a tag strong only when
//! the file was last modified in a second that had ended, by a margin, before the
//! server looked at it (Apache's rule, and RFC 9110 §8.8.2.2's condition for a
//! Last-Modified to be strong); otherwise weak, `W/"..."`. A weak tag still gives
//! 304s (If-None-Match compares weakly) but never a range by If-Range, and a
//! Last-Modified of the same second is then not used for If-Range either.

use std::borrow::Cow;
use std::fs::{File, Metadata};
use std::hash::{BuildHasher, Hasher};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::file_cache::{CachedFile, FileFacts};
use crate::protocol::conditional::{self, Conditions, Decision, ETag, Validators};
use crate::protocol::range::{self, ByteRange, Multipart, RangePlan};
use crate::protocol::response::PreparedResponse;
use crate::protocol::{Body, FileBody, PartsBody, Piece, Request, Response, SharedBytes};

/// Bodies up to this size are read into the response rather than sent with
/// `sendfile`: for small files one `pread` is cheaper than a separate `sendfile`
/// after every head, and it lets pipelined responses share one `write`. (The cache
/// keeps files up to the same size, `file_cache::MAX_FILE`.)
pub const INLINE_MAX: u64 = 64 * 1024;

/// How long after the second of its mtime a file must have been looked at for its
/// tag to be strong: the second itself, plus a second for the file system's
/// timestamps, which come from a coarse clock that may lag the one we read.
const STRONG_AFTER: Duration = Duration::from_secs(2);

impl FileFacts {
    /// The facts of a file whose metadata was read at or after `looked`.
    pub fn of(meta: &Metadata, name: &Path, looked: SystemTime) -> Self {
        let mtime = meta.modified().ok().and_then(whole_seconds);
        Self {
            len: meta.len(),
            mtime,
            last_modified: mtime.map(|m| httpdate::fmt_http_date(m).into()),
            etag: mtime.and_then(|m| entity_tag(meta.len(), m, looked)),
            content_type: content_type(name),
        }
    }

    fn validators(&self) -> Validators<'_> {
        Validators {
            etag: self.etag.as_ref(),
            last_modified: self.mtime,
            last_modified_is_strong: self.etag.as_ref().is_some_and(|t| !t.is_weak()),
        }
    }

    /// Adds ETag and Last-Modified: to 200, 206 and 304 alike (RFC 9110 §15.4.5).
    fn with_validators(&self, mut response: Response) -> Response {
        if let Some(tag) = &self.etag {
            response = response.header("ETag", tag.value());
        }
        if let Some(date) = &self.last_modified {
            response = response.header("Last-Modified", Arc::clone(date));
        }
        response
    }
}

impl CachedFile {
    /// A file read whole at `read_at`, with its plain 200 prepared from the same
    /// facts [`respond`] would answer with.
    pub fn new(bytes: Vec<u8>, facts: FileFacts, read_at: Instant) -> Self {
        let whole = whole_file(&facts, Body::Bytes(bytes));
        Self {
            whole: Arc::new(PreparedResponse::new(&whole)),
            facts,
            read_at,
        }
    }
}

/// The 200 for the whole file: what a request with no precondition and no Range gets.
fn whole_file(facts: &FileFacts, body: Body) -> Response {
    with_file_fields(
        facts,
        Response::with_body(200, facts.content_type.clone(), body),
    )
}

/// The fields every 200 and 206 of a file carries: Accept-Ranges, then its validators.
fn with_file_fields(facts: &FileFacts, response: Response) -> Response {
    facts.with_validators(response.header("Accept-Ranges", "bytes"))
}

/// The entity tag of a file of `len` bytes last modified in the second `mtime`, as
/// seen at `looked` (see the module comment); `None` before the epoch.
pub fn entity_tag(len: u64, mtime: SystemTime, looked: SystemTime) -> Option<ETag> {
    let secs = mtime.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let weak = looked < mtime + STRONG_AFTER;
    Some(ETag::new(&format!("{secs:x}-{len:x}"), weak))
}

/// Where the body comes from.
pub enum Contents<'a> {
    /// An open file (and its name, for errors): small bodies are read into the
    /// response, larger ones sent from the file.
    Open(File, &'a Path),
    /// The whole file, already in memory.
    Cached(SharedBytes),
}

/// The response for a regular file: 200, 206, 304, 412 or 416.
pub fn respond(req: &Request, facts: &FileFacts, contents: Contents<'_>) -> Response {
    let len = facts.len;
    // Most requests carry no precondition and no Range: decided without a look.
    let decision = if req.may_be_conditional {
        conditional::evaluate(req.method, &Conditions::of(&req.head), &facts.validators())
    } else {
        Decision::Proceed { use_range: false }
    };
    let use_range = match decision {
        Decision::NotModified => return facts.with_validators(Response::empty(304)),
        Decision::PreconditionFailed => {
            return Response::error(
                412,
                "a precondition (If-Match, If-Unmodified-Since or If-None-Match) does not hold",
            )
        }
        Decision::Proceed { use_range } => use_range,
    };
    let plan = match req.header("Range") {
        Some(value) if use_range => range::plan(value, len),
        _ => RangePlan::Whole,
    };
    let whole = ByteRange {
        first: 0,
        last: len.saturating_sub(1),
    };
    let (status, body) = match &plan {
        RangePlan::Whole if len == 0 => (200, Ok(Body::Empty)),
        RangePlan::Whole => (200, single(contents, whole)),
        RangePlan::Unsatisfiable => {
            let response = Response::error(416, "no byte of the file is in the range")
                .header("Content-Range", format!("bytes */{len}"));
            return response.header("Accept-Ranges", "bytes");
        }
        RangePlan::Ranges(ranges) => match ranges.as_slice() {
            [one] => (206, single(contents, *one)),
            several => {
                let layout = Multipart::new(several, len, &facts.content_type, &boundary());
                let body = multipart(contents, several, &layout);
                let response = match body {
                    Ok(body) => {
                        debug_assert_eq!(body.len(), layout.len);
                        Response::with_body(206, layout.content_type, body)
                    }
                    Err(failed) => return failed,
                };
                return with_file_fields(facts, response);
            }
        },
    };
    let body = match body {
        Ok(body) => body,
        Err(failed) => return failed,
    };
    if let RangePlan::Ranges(ranges) = &plan {
        let response = Response::with_body(status, facts.content_type.clone(), body)
            .header("Content-Range", ranges[0].content_range(len));
        return with_file_fields(facts, response);
    }
    whole_file(facts, body)
}

/// One range of the file as a body.
fn single(contents: Contents<'_>, range: ByteRange) -> Result<Body, Response> {
    Ok(match contents {
        Contents::Cached(bytes) => {
            // Both ends lie within the file, which is at most MAX_FILE bytes.
            Body::Shared(bytes.slice(range.first as usize..range.last as usize + 1))
        }
        Contents::Open(file, name) if range.size() <= INLINE_MAX => {
            let mut bytes = vec![0; range.size() as usize];
            read_at(&file, name, &mut bytes, range.first)?;
            Body::Bytes(bytes)
        }
        Contents::Open(file, _) => Body::File(FileBody {
            file,
            offset: range.first,
            len: range.size(),
        }),
    })
}

/// Several ranges as a `multipart/byteranges` body: in memory when the file is, or
/// when the ranges are small; otherwise part heads between file ranges, which the
/// driver sends with `sendfile` like any file body.
fn multipart(
    contents: Contents<'_>,
    ranges: &[ByteRange],
    layout: &Multipart,
) -> Result<Body, Response> {
    let parts = layout.part_heads.iter().zip(ranges);
    match contents {
        Contents::Open(file, _) if layout.len > INLINE_MAX => {
            let mut pieces = Vec::with_capacity(ranges.len() * 2 + 1);
            for (head, range) in parts {
                pieces.push(Piece::Bytes(head.clone()));
                pieces.push(Piece::File {
                    offset: range.first,
                    len: range.size(),
                });
            }
            pieces.push(Piece::Bytes(layout.tail.clone()));
            Ok(Body::Parts(PartsBody { file, pieces }))
        }
        contents => {
            // At most INLINE_MAX bytes, or a cached file (at most MAX_FILE) plus
            // MAX_RANGES part heads.
            let mut body = Vec::with_capacity(layout.len as usize);
            for (head, range) in parts {
                body.extend_from_slice(head);
                let at = body.len();
                body.resize(at + range.size() as usize, 0);
                match &contents {
                    Contents::Cached(bytes) => body[at..].copy_from_slice(
                        &bytes.as_slice()[range.first as usize..range.last as usize + 1],
                    ),
                    Contents::Open(file, name) => {
                        read_at(file, name, &mut body[at..], range.first)?
                    }
                }
            }
            body.extend_from_slice(&layout.tail);
            Ok(Body::Bytes(body))
        }
    }
}

fn read_at(file: &File, name: &Path, into: &mut [u8], offset: u64) -> Result<(), Response> {
    file.read_exact_at(into, offset).map_err(|e| {
        log::warn!("reading {}: {e}", name.display());
        Response::error(500, "the file could not be read")
    })
}

/// A multipart boundary no client can predict, so none can plant it in a file it
/// later asks ranges of: 128 bits from std's randomly keyed hasher (seeded by the
/// OS once per thread, then stepped per use) over a counter. RFC 2046 §5.1.1 asks
/// that it not occur in the parts; nginx and Apache rely on the same improbability.
fn boundary() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut words = [0u64; 2];
    for (i, word) in words.iter_mut().enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(n);
        hasher.write_usize(i);
        *word = hasher.finish();
    }
    format!("{:016x}{:016x}", words[0], words[1])
}

/// A time truncated to whole seconds, as HTTP dates carry it.
pub fn whole_seconds(time: SystemTime) -> Option<SystemTime> {
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The Content-Type for a file name. Text gets `charset=utf-8`, as nginx's
/// `charset utf-8` and lighttpd's default `mimetype.assign` give it: without one a
/// browser guesses (RFC 9110 §8.3.2), and a served text file is UTF-8 far more
/// often than anything else. Other types keep their own rules (JSON, for one, is
/// UTF-8 by definition, RFC 8259 §8.1).
pub fn content_type(name: &Path) -> Cow<'static, str> {
    let Some(mime) = mime_guess::from_path(name).first_raw() else {
        return Cow::Borrowed("application/octet-stream");
    };
    // The common types without formatting a string each time.
    match mime {
        "text/html" => Cow::Borrowed("text/html; charset=utf-8"),
        "text/plain" => Cow::Borrowed("text/plain; charset=utf-8"),
        "text/css" => Cow::Borrowed("text/css; charset=utf-8"),
        text if text.starts_with("text/") || text.ends_with("/javascript") => {
            Cow::Owned(format!("{text}; charset=utf-8"))
        }
        other => Cow::Borrowed(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_strong_only_when_no_change_can_hide_behind_it() {
        let second = UNIX_EPOCH + Duration::from_secs(0x5f00_0000);
        let at = |ms: u64| second + Duration::from_millis(ms);
        for (looked, weak) in [
            (at(0), true),
            (at(999), true),
            (at(1_000), true),
            (at(1_999), true),
            (at(2_000), false),
            (at(86_400_000), false),
            // A file modified "in the future" (clock skew) is weak too.
            (second - Duration::from_secs(5), true),
        ] {
            let tag = entity_tag(0x1234, second, looked).unwrap();
            assert_eq!(tag.is_weak(), weak, "{looked:?}");
            let opaque = if weak {
                "W/\"5f000000-1234\""
            } else {
                "\"5f000000-1234\""
            };
            assert_eq!(&*tag.value(), opaque);
        }
        assert!(entity_tag(1, UNIX_EPOCH - Duration::from_secs(1), second).is_none());
    }

    #[test]
    fn boundaries_differ_and_fit_rfc_2046() {
        let (a, b) = (boundary(), boundary());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
