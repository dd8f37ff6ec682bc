//! Range requests over a real socket, in every model (RFC 9110 §14): one range,
//! several as `multipart/byteranges` (from the cache, read inline, and sent from
//! the file with sendfile), the bounds that keep ranges from amplifying a response,
//! HEAD, If-Range, and 416.
//!
//! Multipart bodies are parsed strictly here: each part's length comes from its own
//! Content-Range, so a part one byte too long or short breaks the parse, and the
//! Content-Length is checked by reading a second response on the same connection.

mod common;
mod site;

use site::{alphabet, big_content, Site, ALPHABET_LEN, BIG_LEN};

/// One part of a multipart/byteranges body.
#[derive(Debug)]
struct Part {
    content_type: String,
    first: usize,
    last: usize,
    total: usize,
    bytes: Vec<u8>,
}

/// Splits `body` by the boundary of `content_type` (RFC 9110 §14.6, RFC 2046
/// §5.1.1), reading each part's data by the length its Content-Range gives.
fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .ok_or_else(|| format!("not multipart/byteranges: {content_type}"))?;
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = body;
    let mut parts = Vec::new();
    loop {
        rest = rest.strip_prefix(delimiter.as_bytes()).ok_or_else(|| {
            format!(
                "no delimiter at {:?}",
                String::from_utf8_lossy(&rest[..rest.len().min(80)])
            )
        })?;
        if let Some(after) = rest.strip_prefix(b"--\r\n") {
            if !after.is_empty() {
                return Err(format!("{} bytes after the close delimiter", after.len()));
            }
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("no CRLF after the delimiter")?;
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("part header section does not end")?;
        let head = std::str::from_utf8(&rest[..end]).map_err(|_| "part head is not text")?;
        rest = &rest[end + 4..];
        let field = |name: &str| {
            head.split("\r\n")
                .find_map(|line| {
                    let (n, v) = line.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
                .ok_or(format!("part without {name}: {head:?}"))
        };
        let range = field("Content-Range")?;
        let spec = range.strip_prefix("bytes ").ok_or("Content-Range unit")?;
        let (span, total) = spec.split_once('/').ok_or("Content-Range total")?;
        let (first, last) = span.split_once('-').ok_or("Content-Range span")?;
        let (first, last, total): (usize, usize, usize) = (
            first.parse().map_err(|_| "first")?,
            last.parse().map_err(|_| "last")?,
            total.parse().map_err(|_| "total")?,
        );
        let len = last + 1 - first;
        if rest.len() < len {
            return Err(format!("part {first}-{last} cut short"));
        }
        parts.push(Part {
            content_type: field("Content-Type")?,
            first,
            last,
            total,
            bytes: rest[..len].to_vec(),
        });
        rest = &rest[len..];
    }
}

/// Sends `GET path` with `Range: range` (and `extra`) on a keep-alive connection,
/// then `/hello` on the same one: the second response parses only if the first was
/// framed exactly.
fn ranged(site: &Site, path: &str, range: &str, extra: &[&str]) -> common::Response {
    let mut fields = vec![format!("Range: {range}")];
    fields.extend(extra.iter().map(|f| f.to_string()));
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let mut client = site.server.client();
    client.send(&common::request("GET", path, &fields, b""));
    client.send(&common::get("/hello", &[]));
    let r = client.read_response();
    let next = client.read_response();
    check!(
        next,
        next.status == 200 && next.text() == "Hello, world!",
        "the response after {range}"
    );
    r
}

/// Checks a multipart response against the expected (first, last) parts of `file`.
fn expect_parts(r: &common::Response, file: &[u8], want: &[(usize, usize)], part_type: &str) {
    check!(r, r.status == 206, "206 for several ranges");
    check!(
        r,
        r.header("content-range").is_none(),
        "no Content-Range on a multipart 206"
    );
    let ty = r.header("content-type").unwrap_or_default();
    let parts = parse_multipart(ty, &r.body).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    let got: Vec<(usize, usize)> = parts.iter().map(|p| (p.first, p.last)).collect();
    check!(r, got == want, "parts {got:?}, expected {want:?}");
    for part in &parts {
        check!(r, part.total == file.len(), "complete length in {part:?}");
        check!(
            r,
            part.content_type == part_type,
            "part type {}",
            part.content_type
        );
        check!(
            r,
            part.bytes == file[part.first..=part.last],
            "bytes of part {}-{}",
            part.first,
            part.last
        );
    }
}

/// Several ranges of a big file: the parts are sent from the file (sendfile), in
/// the order asked, each with its Content-Range.
fn multipart_from_a_big_file(model: &str) {
    let site = Site::start(model, &[]);
    let big = big_content();
    let r = ranged(&site, "/big.bin", "bytes=2000000-2099999, 0-99, -50", &[]);
    expect_parts(
        &r,
        &big,
        &[(2_000_000, 2_099_999), (0, 99), (BIG_LEN - 50, BIG_LEN - 1)],
        "application/octet-stream",
    );
    check!(
        r,
        r.header("etag").is_some() && r.header("accept-ranges") == Some("bytes"),
        "fields"
    );
}

/// Several ranges of a small file: from the cache, and read inline without it.
fn multipart_from_a_small_file(model: &str) {
    let text = alphabet();
    for args in [&[][..], &["--file-cache-ttl", "0"][..]] {
        let site = Site::start(model, args);
        for _ in 0..2 {
            let r = ranged(&site, "/alphabet.txt", "bytes=2500-, 0-9, 1000-1099", &[]);
            expect_parts(
                &r,
                &text,
                &[(2500, ALPHABET_LEN - 1), (0, 9), (1000, 1099)],
                "text/plain; charset=utf-8",
            );
        }
    }
}

/// Overlapping and nearby ranges are sent as one part; asking for the same bytes
/// many times costs no more than the file.
fn overlapping_ranges_are_coalesced(model: &str) {
    let site = Site::start(model, &[]);
    let big = big_content();
    // Sixteen times the whole file: one part of the file's length, not sixteen.
    let whole = format!(
        "bytes={}",
        ["0-", "-3145728", "0-3145727", "1-"].repeat(4).join(",")
    );
    let r = ranged(&site, "/big.bin", &whole, &[]);
    check!(r, r.status == 206, "16 overlapping ranges");
    check!(
        r,
        r.content_length() == Some(BIG_LEN as u64),
        "one file's worth"
    );
    check!(
        r,
        r.header("content-range") == Some("bytes 0-3145727/3145728"),
        "one part"
    );
    check!(r, r.body == big, "the file");
    // Overlapping and touching: one part, not multipart.
    let r = ranged(&site, "/big.bin", "bytes=100-199, 150-299, 300-309", &[]);
    check!(
        r,
        r.header("content-range") == Some("bytes 100-309/3145728"),
        "merged"
    );
    check!(r, r.body == big[100..310], "merged bytes");
    // Closer than a part's overhead (80 bytes): merged; farther: two parts.
    let r = ranged(&site, "/big.bin", "bytes=0-9, 50-59", &[]);
    check!(
        r,
        r.header("content-range") == Some("bytes 0-59/3145728"),
        "a 40-byte gap"
    );
    let r = ranged(&site, "/big.bin", "bytes=0-9, 90-99", &[]);
    expect_parts(&r, &big, &[(0, 9), (90, 99)], "application/octet-stream");
}

/// More than 16 range-specs: the field is ignored and the whole file sent (200),
/// however small the ranges, as nginx's max_ranges does.
fn too_many_ranges_get_the_whole_file(model: &str) {
    let site = Site::start(model, &[]);
    let specs: Vec<String> = (0..17)
        .map(|i| format!("{}-{}", i * 1000, i * 1000))
        .collect();
    let r = ranged(
        &site,
        "/big.bin",
        &format!("bytes={}", specs.join(",")),
        &[],
    );
    check!(r, r.status == 200 && r.body.len() == BIG_LEN, "17 ranges");
    let r = ranged(
        &site,
        "/big.bin",
        &format!("bytes={}", specs[..16].join(",")),
        &[],
    );
    check!(r, r.status == 206, "16 ranges are served");
    let want: Vec<(usize, usize)> = (0..16).map(|i| (i * 1000, i * 1000)).collect();
    expect_parts(&r, &big_content(), &want, "application/octet-stream");
}

/// HEAD ignores Range (RFC 9110 §14.2: GET is the only method with range
/// handling): 200 with the whole length and no body.
fn head_ignores_ranges(model: &str) {
    let site = Site::start(model, &[]);
    for range in ["bytes=0-99", "bytes=0-99,2000000-2000099", "bytes=9999999-"] {
        let r = site.get("HEAD", "/big.bin", &[&format!("Range: {range}")]);
        check!(r, r.status == 200, "HEAD {range}");
        check!(
            r,
            r.content_length() == Some(BIG_LEN as u64),
            "HEAD {range}: whole length"
        );
        check!(r, r.header("content-range").is_none(), "HEAD {range}");
    }
}

/// If-Range that does not match sends the whole file with 200, multipart or not.
fn if_range_mismatch_sends_the_whole_file(model: &str) {
    let site = Site::start(model, &[]);
    let tag = site
        .get("HEAD", "/big.bin", &[])
        .header("etag")
        .unwrap()
        .to_string();
    let range = "bytes=0-9,1000-1009";
    let r = ranged(&site, "/big.bin", range, &["If-Range: \"other\""]);
    check!(
        r,
        r.status == 200 && r.body == big_content(),
        "If-Range mismatch"
    );
    let r = ranged(&site, "/big.bin", range, &[&format!("If-Range: {tag}")]);
    expect_parts(
        &r,
        &big_content(),
        &[(0, 9), (1000, 1009)],
        "application/octet-stream",
    );
}

/// No range inside the file: 416 with `Content-Range: bytes */length`.
fn unsatisfiable_ranges_get_416(model: &str) {
    let site = Site::start(model, &[]);
    for range in [
        "bytes=3145728-",
        "bytes=5000000-,6000000-7000000",
        "bytes=-0",
        "bytes=-0,9999999-",
    ] {
        let r = ranged(&site, "/big.bin", range, &[]);
        check!(r, r.status == 416, "{range}");
        check!(
            r,
            r.header("content-range") == Some("bytes */3145728"),
            "{range}"
        );
    }
    // An unsatisfiable member among satisfiable ones is dropped.
    let r = ranged(&site, "/big.bin", "bytes=9999999-, 0-4", &[]);
    check!(
        r,
        r.status == 206 && r.header("content-range") == Some("bytes 0-4/3145728"),
        "mixed"
    );
}

for_each_model!(
    multipart_from_a_big_file,
    multipart_from_a_small_file,
    overlapping_ranges_are_coalesced,
    too_many_ranges_get_the_whole_file,
    head_ignores_ranges,
    if_range_mismatch_sends_the_whole_file,
    unsatisfiable_ranges_get_416,
);
