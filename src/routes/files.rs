//! `-d DIR`: static files, like `python3 -m http.server`, plus ranges and
//! conditional requests (those two in `file_response.rs`).
//!
//! Rule: this is the only code in the crate that opens files, and it never reads a
//! large one into memory: a body above [`INLINE_MAX`] is a [`FileBody`] (an open
//! file and a range) that the driver copies to the socket with `sendfile`, in
//! bounded chunks. A smaller body is read in one `pread`, so it travels in the same
//! `write` as its head (and as the responses pipelined after it). Safety rules, in
//! the order applied:
//!
//! 1. The URL path is split on `/` and each segment percent-decoded once. A segment
//!    that decodes to `..`, or contains `/` (`%2f`), `\` or NUL, or is not UTF-8, is
//!    refused (403, or 400 for NUL and bad UTF-8): URL segments are file-name segments.
//! 2. The joined path is canonicalized and must still lie under the (canonical) root:
//!    a symlink may point anywhere inside the root, never outside it (403).
//! 3. The type is checked from metadata before opening: only regular files and
//!    directories are served; a fifo, socket or device gets 403. Files are opened
//!    with `O_NONBLOCK | O_NOFOLLOW` and checked again, so a file swapped for a fifo
//!    or a symlink in between cannot block the thread or escape the root.
//!
//! [`INLINE_MAX`]: super::file_response::INLINE_MAX
//! [`FileBody`]: crate::protocol::FileBody

use std::fmt::Write;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::file_cache::{self, CachedFile, FileCache, FileFacts};
use super::file_response::{respond, Contents};
use crate::protocol::{Request, Response};

/// Bytes left as they are in a listing's hrefs: RFC 3986 unreserved characters.
const HREF_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a request path is not served: a status and a short reason for the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Denied(u16, &'static str);

impl Denied {
    fn response(self) -> Response {
        Response::error(self.0, self.1)
    }
}

/// Serves `req` from `root`, which must be canonical. GET and HEAD get the same
/// response; the connection drops the body of a HEAD.
///
/// A small file found before, within the cache's TTL, is answered from memory.
pub fn serve(req: &Request, root: &Path, cache: &FileCache, now: Instant) -> Response {
    let raw = req.path();
    if let Some(file) = cache.get(raw, now) {
        // No If-* and no Range: the whole file, its head rendered when it was read.
        if !req.may_be_conditional {
            return Response::prepared(&file.whole);
        }
        return respond(req, &file.facts, Contents::Cached(file.bytes()));
    }
    let segments = match url_segments(raw) {
        Ok(segments) => segments,
        Err(denied) => return denied.response(),
    };
    if let Some(response) = serve_file_fast(req, root, &segments, raw, cache, now) {
        return response;
    }
    let path = segments.iter().fold(root.to_path_buf(), |p, s| p.join(s));
    let (real, meta) = match locate(&path, root) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    if meta.is_dir() {
        if !raw.ends_with('/') {
            return redirect_to_slash(raw, req.query());
        }
        return serve_directory(req, root, &real, &segments, (cache, raw, now));
    }
    if !meta.is_file() {
        return Denied(403, "not a regular file or directory").response();
    }
    if raw.ends_with('/') {
        return Denied(404, "not a directory").response();
    }
    serve_file(req, &real, &path, (cache, raw, now))
}

/// Splits and decodes a URL path into file-name segments, refusing every escape.
/// Empty and `.` segments are dropped.
fn url_segments(raw: &str) -> Result<Vec<String>, Denied> {
    let mut segments = Vec::new();
    for encoded in raw.split('/') {
        let bytes: Vec<u8> = percent_decode_str(encoded).collect();
        let segment =
            String::from_utf8(bytes).map_err(|_| Denied(400, "path is not valid UTF-8"))?;
        if segment.contains('\0') {
            return Err(Denied(400, "NUL in path"));
        }
        if segment.contains('/') || segment.contains('\\') {
            return Err(Denied(403, "slash or backslash inside a path segment"));
        }
        match segment.as_str() {
            "" | "." => {}
            ".." => return Err(Denied(403, "path leaves the served directory")),
            _ => segments.push(segment),
        }
    }
    Ok(segments)
}

/// Canonicalizes `path`, checks it is under `root`, and returns it with its metadata.
fn locate(path: &Path, root: &Path) -> Result<(PathBuf, Metadata), Denied> {
    let real = path.canonicalize().map_err(|e| io_denied(&e))?;
    if !real.starts_with(root) {
        return Err(Denied(
            403,
            "symbolic link leads outside the served directory",
        ));
    }
    let meta = real.metadata().map_err(|e| io_denied(&e))?;
    Ok((real, meta))
}

fn io_denied(err: &io::Error) -> Denied {
    match err.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => Denied(404, "no such file"),
        ErrorKind::PermissionDenied => Denied(403, "permission denied"),
        _ => match err.raw_os_error() {
            Some(libc::ENAMETOOLONG) => Denied(404, "no such file"),
            Some(libc::ELOOP) => Denied(403, "symbolic link loop"),
            _ => {
                log::warn!("files: {err}");
                Denied(500, "cannot read the file system")
            }
        },
    }
}

/// 301 to the same URL with a `/` added, keeping the query. Leading slashes are
/// collapsed so `//host/dir` cannot become a redirect to another host.
fn redirect_to_slash(raw: &str, query: Option<&str>) -> Response {
    let mut location = format!("/{}/", raw.trim_start_matches('/'));
    if let Some(query) = query {
        location.push('?');
        location.push_str(query);
    }
    Response::error(301, "a directory URL ends with /").header("Location", location)
}

/// `index.html` if the directory has one, else a listing.
fn serve_directory(
    req: &Request,
    root: &Path,
    dir: &Path,
    segments: &[String],
    to_cache: CacheAs<'_>,
) -> Response {
    let index = dir.join("index.html");
    match locate(&index, root) {
        Ok((real, meta)) if meta.is_file() => serve_file(req, &real, &index, to_cache),
        Ok(_) | Err(Denied(404, _)) => match directory_listing(dir, segments, dir == root) {
            Ok(html) => Response::html(200, html),
            Err(e) => io_denied(&e).response(),
        },
        Err(denied) => denied.response(),
    }
}

/// The HTML page listing `dir`, whose URL is made of `segments`.
fn directory_listing(dir: &Path, segments: &[String], at_root: bool) -> io::Result<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // `Path::is_dir` follows symlinks, as the link would.
        names.push((entry.file_name(), entry.path().is_dir()));
    }
    names.sort();
    let mut url = String::from("/");
    for segment in segments {
        url.push_str(segment);
        url.push('/');
    }
    let title = format!("Directory listing for {}", html_escape(&url));
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n<hr>\n<ul>\n"
    );
    if !at_root {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        let href: String = percent_encode(name.as_bytes(), HREF_KEEP).collect();
        let text = html_escape(&name.to_string_lossy());
        let _ = writeln!(html, "<li><a href=\"{href}{slash}\">{text}{slash}</a></li>");
    }
    html.push_str("</ul>\n<hr>\n</body>\n</html>\n");
    Ok(html)
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A regular file: 200, 206, 304 or 416. `name` (the path as requested, before
/// symlinks) picks the Content-Type.
fn serve_file(req: &Request, real: &Path, name: &Path, to_cache: CacheAs<'_>) -> Response {
    match open_regular(real) {
        Ok((file, meta, looked)) => answer_open_file(req, file, (&meta, looked), name, to_cache),
        Err(denied) => denied.response(),
    }
}

/// Where a file's answer may be cached: the cache, the URL path, and the time.
type CacheAs<'a> = (&'a FileCache, &'a str, Instant);
/// The common case in few system calls: a regular file opened beneath the root with
/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, where the kernel itself
/// refuses any `..` or symlink that would leave the root (3 `readlink`s and a `stat`
/// fewer than canonicalizing). Anything else (a directory, an escape, a missing file,
/// an absolute symlink, an old kernel) returns `None`, and the portable path decides.
/// A small file found here is read whole and cached under the URL path.
fn serve_file_fast(
    req: &Request,
    root: &Path,
    segments: &[String],
    raw: &str,
    cache: &FileCache,
    now: Instant,
) -> Option<Response> {
    if segments.is_empty() || raw.ends_with('/') {
        return None;
    }
    let relative: PathBuf = segments.iter().collect();
    let file = beneath::open(root, &relative)?;
    let looked = SystemTime::now();
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    Some(answer_open_file(
        req,
        file,
        (&meta, looked),
        &relative,
        (cache, raw, now),
    ))
}

/// The response for a regular file that passed every rule, given its metadata and
/// the wall-clock time read just *before* the metadata (the ETag's strength depends
/// on it: `file_response.rs`). A small one is read whole and cached under the URL
/// path it was asked by (`to_cache`), so the next requests for that path within the
/// TTL skip the file system, and are answered from the same facts.
fn answer_open_file(
    req: &Request,
    file: File,
    (meta, looked): (&Metadata, SystemTime),
    name: &Path,
    (cache, url_path, now): CacheAs<'_>,
) -> Response {
    let facts = FileFacts::of(meta, name, looked);
    if cache.enabled() && facts.len <= file_cache::MAX_FILE {
        if let Ok(bytes) = read_whole(&file, facts.len) {
            let cached = Arc::new(CachedFile::new(bytes, facts, now));
            cache.insert(url_path, Arc::clone(&cached));
            return respond(req, &cached.facts, Contents::Cached(cached.bytes()));
        }
    }
    respond(req, &facts, Contents::Open(file, name))
}

/// Reads a file of `len` bytes whole; a file that changed size meanwhile is an error,
/// and the uncached path answers for it.
fn read_whole(file: &File, len: u64) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; len as usize];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}

#[cfg(target_os = "linux")]
mod beneath {
    use std::fs::File;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;

    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};

    /// The served directory, opened once (a process serves one root).
    static ROOT: OnceLock<Option<(PathBuf, File)>> = OnceLock::new();

    /// Opens `relative` for reading, never outside `root`.
    pub fn open(root: &Path, relative: &Path) -> Option<File> {
        let cached = ROOT.get_or_init(|| {
            let dir = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY)
                .open(root)
                .ok()?;
            Some((root.to_path_buf(), dir))
        });
        let (cached_root, dir) = cached.as_ref()?;
        if cached_root != root {
            return None;
        }
        // RESOLVE_BENEATH: no `..`, absolute path or symlink may leave `dir`. Any
        // failure (ENOSYS on kernels before 5.6 included) sends the request down the
        // portable path, which decides for itself.
        let fd = openat2(
            dir,
            relative,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
        .ok()?;
        Some(File::from(fd))
    }
}

#[cfg(not(target_os = "linux"))]
mod beneath {
    use std::fs::File;
    use std::path::Path;

    /// No `openat2` here: the portable path handles every request.
    pub fn open(_root: &Path, _relative: &Path) -> Option<File> {
        None
    }
}

/// Opens a file without blocking (a fifo swapped in would) or following a symlink
/// swapped in, and checks again that it is a regular file. Also returns the time
/// read just before its metadata.
fn open_regular(path: &Path) -> Result<(File, Metadata, SystemTime), Denied> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| io_denied(&e))?;
    let looked = SystemTime::now();
    let meta = file.metadata().map_err(|e| io_denied(&e))?;
    if !meta.is_file() {
        return Err(Denied(403, "not a regular file or directory"));
    }
    Ok((file, meta, looked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn url_segments_refuse_every_escape() {
        let ok = |raw: &str, want: &[&str]| assert_eq!(url_segments(raw).unwrap(), want, "{raw}");
        ok("/", &[]);
        ok("/a/b.txt", &["a", "b.txt"]);
        ok("//a/./b/", &["a", "b"]);
        ok("/a%20b/%2e/c", &["a b", "c"]);
        ok("/%252e%252e", &["%2e%2e"]);
        ok("/...", &["..."]);
        ok("/caf%C3%A9", &["café"]);
        let cases: &[(&str, u16)] = &[
            ("/..", 403),
            ("/../etc/passwd", 403),
            ("/a/../../b", 403),
            ("/%2e%2e/%2e%2e/etc/passwd", 403),
            ("/%2E%2E", 403),
            ("/.%2e/x", 403),
            ("/sub/..%2f..%2fsecret", 403),
            ("/sub/..%2F..%2Fsecret", 403),
            ("/a%5cb", 403),
            ("/..\\secret", 403),
            ("/a%00b", 400),
            ("/a\0b", 400),
            ("/%ff", 400),
            ("/%c3", 400),
        ];
        for (raw, status) in cases {
            assert_eq!(url_segments(raw).map_err(|d| d.0), Err(*status), "{raw:?}");
        }
    }

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("reactor-files-unit-{tag}-{}", std::process::id()));
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

    #[test]
    fn locate_keeps_symlinks_inside_the_root() {
        use std::os::unix::fs::symlink;
        let scratch = Scratch::new("locate");
        let root = scratch.0.join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/in.txt"), "in").unwrap();
        fs::write(scratch.0.join("outside.txt"), "out").unwrap();
        symlink(root.join("sub/in.txt"), root.join("inner-link")).unwrap();
        symlink("../outside.txt", root.join("outer-link")).unwrap();
        symlink(&scratch.0, root.join("outer-dir")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let status = |rel: &str| {
            locate(&root.join(rel), &root)
                .map(|_| 200)
                .unwrap_or_else(|d| d.0)
        };
        assert_eq!(status("sub/in.txt"), 200);
        assert_eq!(status("inner-link"), 200);
        assert_eq!(status("sub"), 200);
        assert_eq!(status("outer-link"), 403);
        assert_eq!(status("outer-dir/outside.txt"), 403);
        assert_eq!(status("outer-dir"), 403);
        assert_eq!(status("missing"), 404);
        assert_eq!(status("sub/in.txt/x"), 404);
        assert_eq!(status("loop"), 403);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_fast_path_never_opens_outside_the_root() {
        use std::os::unix::fs::symlink;
        let scratch = Scratch::new("beneath");
        let root = scratch.0.join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/in.txt"), "in").unwrap();
        fs::write(scratch.0.join("outside.txt"), "out").unwrap();
        symlink("sub/in.txt", root.join("inner-link")).unwrap();
        symlink("../outside.txt", root.join("outer-link")).unwrap();
        symlink(&scratch.0, root.join("outer-dir")).unwrap();
        let root = root.canonicalize().unwrap();
        let opens = |rel: &str| beneath::open(&root, Path::new(rel)).is_some();
        assert!(opens("sub/in.txt"));
        assert!(opens("inner-link"));
        assert!(!opens("outer-link"));
        assert!(!opens("outer-dir/outside.txt"));
        assert!(!opens("../outside.txt"));
        assert!(!opens("sub/../../outside.txt"));
        assert!(!opens("missing"));
    }

    #[test]
    fn listing_escapes_names_and_encodes_hrefs() {
        let scratch = Scratch::new("listing");
        fs::create_dir(scratch.0.join("d i r")).unwrap();
        fs::write(scratch.0.join("<b>&\"x'.txt"), "").unwrap();
        fs::write(scratch.0.join("a.txt"), "").unwrap();
        let segments = ["sub<".to_string()];
        let html = directory_listing(&scratch.0, &segments, false).unwrap();
        assert!(html.contains("<title>Directory listing for /sub&lt;/</title>"));
        assert!(html.contains(r#"<a href="../">../</a>"#));
        assert!(
            html.contains(r#"<a href="%3Cb%3E%26%22x%27.txt">&lt;b&gt;&amp;&quot;x&#39;.txt</a>"#)
        );
        assert!(html.contains(r#"<a href="d%20i%20r/">d i r/</a>"#));
        let a = html.find("a.txt").unwrap();
        assert!(html.find("%3Cb").unwrap() < a && a < html.find("d%20i%20r").unwrap());
        let root = directory_listing(&scratch.0, &[], true).unwrap();
        assert!(root.contains("Directory listing for /<") && !root.contains("../"));
    }
}
