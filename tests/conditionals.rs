//! Conditional requests over a real socket, in every model (RFC 9110 §13): ETag on
//! every file response, cached or not; If-None-Match, If-Match,
//! If-Unmodified-Since, If-Modified-Since and If-Range in §13.2.2's order; the
//! built-in routes; and the policies around them (405 for writes to a file, a
//! charset on text). The evaluation order itself is unit-tested in
//! `src/protocol/conditional.rs`; these show the server applies it.

mod common;
mod site;

use std::time::{Duration, SystemTime};

use site::Site;

/// `"<mtime hex>-<size hex>"`, strong for a file an hour old.
fn strong_tag(r: &common::Response) -> String {
    let tag = r.header("etag").unwrap_or_default().to_string();
    check!(
        r,
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
        "a strong ETag, got {tag:?}"
    );
    tag
}

/// Every file response carries the same ETag and Last-Modified: 200, HEAD, 206,
/// 304, whether the cache answers or the file is read every time.
fn every_file_response_has_the_same_etag(model: &str) {
    let cached = Site::start(model, &[]);
    let uncached = Site::start(model, &["--file-cache-ttl", "0"]);
    // Both fixtures are written at once and aged to the same second.
    let mtime = SystemTime::now() - Duration::from_secs(7200);
    for site in [&cached, &uncached] {
        site::set_mtime(&site.root().join("notes.txt"), mtime);
    }
    let first = cached.get("GET", "/notes.txt", &[]);
    let tag = strong_tag(&first);
    let date = first.header("last-modified").unwrap().to_string();
    check!(first, tag.ends_with("-a\""), "size 10 in hex ends the tag");
    for site in [&cached, &uncached] {
        // Twice: the second one is a cache hit on `cached`.
        for _ in 0..2 {
            for (method, fields, status) in [
                ("GET", vec![], 200),
                ("HEAD", vec![], 200),
                ("GET", vec!["Range: bytes=0-4".to_string()], 206),
                ("GET", vec![format!("If-None-Match: {tag}")], 304),
                ("HEAD", vec![format!("If-Modified-Since: {date}")], 304),
            ] {
                let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
                let r = site.get(method, "/notes.txt", &fields);
                check!(r, r.status == status, "{method} {fields:?}");
                check!(r, r.header("etag") == Some(tag.as_str()), "same ETag");
                check!(
                    r,
                    r.header("last-modified") == Some(date.as_str()),
                    "same date"
                );
            }
        }
    }
    // A big file (never cached, sent with sendfile) has one too, and so do its parts.
    let big = cached.get("HEAD", "/big.bin", &[]);
    let big_tag = strong_tag(&big);
    check!(big, big_tag != tag, "another file, another tag");
    let part = cached.get("GET", "/big.bin", &["Range: bytes=0-0,-1"]);
    check!(
        part,
        part.status == 206 && part.header("etag") == Some(big_tag.as_str()),
        "206"
    );
}

/// A file modified within the last seconds has a weak tag: it still gives 304s,
/// but never a range by If-Range, neither by the tag nor by its date.
fn a_just_modified_file_has_a_weak_etag(model: &str) {
    let site = Site::start(model, &["--file-cache-ttl", "0"]);
    // In the future, so it stays "just modified" however slow the machine.
    site::set_mtime(
        &site.root().join("notes.txt"),
        SystemTime::now() + Duration::from_secs(600),
    );
    let r = site.get("GET", "/notes.txt", &[]);
    let tag = r.header("etag").unwrap_or_default().to_string();
    check!(r, tag.starts_with("W/\""), "a weak ETag, got {tag:?}");
    let date = r.header("last-modified").unwrap().to_string();
    let inm = format!("If-None-Match: {tag}");
    let r = site.get("GET", "/notes.txt", &[&inm]);
    check!(r, r.status == 304, "weak If-None-Match");
    for if_range in [format!("If-Range: {tag}"), format!("If-Range: {date}")] {
        let r = site.get("GET", "/notes.txt", &["Range: bytes=0-4", &if_range]);
        check!(r, r.status == 200 && r.text() == "plain text", "{if_range}");
    }
    // Once it is old enough, the same file (same second, same size) is strong.
    site::set_mtime(
        &site.root().join("notes.txt"),
        SystemTime::now() - Duration::from_secs(600),
    );
    let r = site.get("GET", "/notes.txt", &[]);
    strong_tag(&r);
}

/// If-None-Match: 304 for GET and HEAD when a tag matches weakly, `*`, lists, and
/// precedence over If-Modified-Since.
fn if_none_match(model: &str) {
    let site = Site::start(model, &[]);
    let first = site.get("GET", "/notes.txt", &[]);
    let tag = strong_tag(&first);
    let date = first.header("last-modified").unwrap().to_string();
    let old = "Sun, 06 Nov 1994 08:49:37 GMT";
    for (fields, status) in [
        (vec![format!("If-None-Match: {tag}")], 304),
        (vec![format!("If-None-Match: W/{tag}")], 304),
        (vec![format!("If-None-Match: \"x\", {tag}")], 304),
        (
            vec![
                "If-None-Match: \"x\"".into(),
                format!("If-None-Match: {tag}"),
            ],
            304,
        ),
        (vec!["If-None-Match: *".into()], 304),
        (vec!["If-None-Match: \"x\"".into()], 200),
        (vec!["If-None-Match: not-a-tag".into()], 200),
        // If-None-Match takes precedence over If-Modified-Since (§13.1.3).
        (
            vec![
                "If-None-Match: \"x\"".into(),
                format!("If-Modified-Since: {date}"),
            ],
            200,
        ),
        (
            vec![
                format!("If-None-Match: {tag}"),
                format!("If-Modified-Since: {old}"),
            ],
            304,
        ),
        // A 304 wins over a Range.
        (
            vec![format!("If-None-Match: {tag}"), "Range: bytes=0-1".into()],
            304,
        ),
    ] {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        for method in ["GET", "HEAD"] {
            let r = site.get(method, "/notes.txt", &fields);
            check!(r, r.status == status, "{method} {fields:?}");
            if status == 304 {
                check!(
                    r,
                    r.body.is_empty() && r.header("content-length").is_none(),
                    "304 has no body"
                );
                check!(
                    r,
                    r.header("etag") == Some(tag.as_str()),
                    "304 carries the ETag"
                );
            }
        }
    }
}

/// If-Match and If-Unmodified-Since: 412 when they do not hold, in §13.2.2's order.
fn if_match_and_if_unmodified_since(model: &str) {
    let site = Site::start(model, &[]);
    let first = site.get("GET", "/notes.txt", &[]);
    let tag = strong_tag(&first);
    let date = first.header("last-modified").unwrap().to_string();
    let old = "Sun, 06 Nov 1994 08:49:37 GMT";
    for (fields, status) in [
        (vec![format!("If-Match: {tag}")], 200),
        (vec!["If-Match: *".into()], 200),
        (vec![format!("If-Match: \"x\", {tag}")], 200),
        (vec!["If-Match: \"x\"".into()], 412),
        (vec![format!("If-Match: W/{tag}")], 412),
        (vec!["If-Match: garbage".into()], 412),
        (vec![format!("If-Unmodified-Since: {date}")], 200),
        (vec![format!("If-Unmodified-Since: {old}")], 412),
        (vec!["If-Unmodified-Since: garbage".into()], 200),
        // If-Match present: If-Unmodified-Since is not evaluated.
        (
            vec![
                format!("If-Match: {tag}"),
                format!("If-Unmodified-Since: {old}"),
            ],
            200,
        ),
        // Steps 1-2 come before step 3.
        (
            vec!["If-Match: \"x\"".into(), format!("If-None-Match: {tag}")],
            412,
        ),
        (
            vec![format!("If-Match: {tag}"), format!("If-None-Match: {tag}")],
            304,
        ),
        // And before ranges.
        (
            vec!["If-Match: \"x\"".into(), "Range: bytes=0-1".into()],
            412,
        ),
        (
            vec![format!("If-Match: {tag}"), "Range: bytes=0-1".into()],
            206,
        ),
    ] {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let r = site.get("GET", "/notes.txt", &fields);
        check!(r, r.status == status, "{fields:?}");
        if status == 412 {
            check!(r, r.text().contains("precondition"), "412 says why");
        }
    }
}

/// If-Range: the Range applies only for a matching strong tag or the exact date;
/// otherwise the whole file comes back with 200.
fn if_range(model: &str) {
    let site = Site::start(model, &[]);
    let first = site.get("GET", "/notes.txt", &[]);
    let tag = strong_tag(&first);
    let date = first.header("last-modified").unwrap().to_string();
    for (if_range, partial) in [
        (tag.clone(), true),
        (date.clone(), true),
        ("\"x\"".to_string(), false),
        (format!("W/{tag}"), false),
        ("Sun, 06 Nov 1994 08:49:37 GMT".to_string(), false),
        ("garbage".to_string(), false),
    ] {
        let r = site.get(
            "GET",
            "/notes.txt",
            &["Range: bytes=0-4", &format!("If-Range: {if_range}")],
        );
        if partial {
            check!(
                r,
                r.status == 206 && r.text() == "plain",
                "If-Range: {if_range}"
            );
        } else {
            check!(
                r,
                r.status == 200 && r.text() == "plain text",
                "If-Range: {if_range}"
            );
            check!(
                r,
                r.header("content-range").is_none(),
                "no Content-Range on 200"
            );
        }
    }
}

/// The built-in routes send no validators: a body that changes every time (/stats)
/// never gets a 304 for a tag or a date, and only `*` or tags can decide.
fn builtin_routes_have_no_validators(model: &str) {
    let server = common::Server::start(model, &[]);
    let now = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
    for path in ["/stats", "/hello", "/", "/echo"] {
        let r = server.request(&common::get(path, &[]));
        check!(r, r.status == 200, "GET {path}");
        check!(
            r,
            r.header("etag").is_none() && r.header("last-modified").is_none(),
            "{path}: no validators"
        );
        for field in [
            "If-None-Match: \"x\"".to_string(),
            format!("If-Modified-Since: {now}"),
            "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT".to_string(),
            "If-Match: *".to_string(),
        ] {
            let r = server.request(&common::get(path, &[&field]));
            check!(r, r.status == 200 && !r.body.is_empty(), "{path} {field}");
        }
        let r = server.request(&common::get(path, &["If-None-Match: *"]));
        check!(
            r,
            r.status == 304 && r.body.is_empty(),
            "{path}: If-None-Match: * (a representation exists)"
        );
        let r = server.request(&common::get(path, &["If-Match: \"x\""]));
        check!(
            r,
            r.status == 412,
            "{path}: If-Match with a tag it cannot have"
        );
    }
    let r = server.request(&common::request(
        "POST",
        "/echo",
        &["If-None-Match: *"],
        b"abc",
    ));
    check!(
        r,
        r.status == 412,
        "POST with If-None-Match: * is 412, not 304"
    );
}

/// POST, PUT and DELETE to a file: 405 with Allow, as nginx answers. Preconditions
/// are not evaluated (RFC 9110 §13.2.1: the answer without them is not 2xx).
fn writes_to_a_file_get_405_with_allow(model: &str) {
    let site = Site::start(model, &[]);
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        for fields in [vec![], vec!["If-None-Match: *"], vec!["If-Match: \"x\""]] {
            let r = site.get(method, "/notes.txt", &fields);
            check!(r, r.status == 405, "{method} {fields:?}");
            check!(
                r,
                r.header("allow") == Some("GET, HEAD, OPTIONS"),
                "{method}: Allow"
            );
        }
    }
    // The file is untouched.
    let r = site.get("GET", "/notes.txt", &[]);
    check!(r, r.text() == "plain text", "after the writes");
}

/// Text types carry `charset=utf-8`, as nginx and lighttpd are configured to send.
fn text_types_carry_a_charset(model: &str) {
    let site = Site::start(model, &[]);
    for (path, want) in [
        ("/notes.txt", "text/plain"),
        ("/alphabet.txt", "text/plain"),
        ("/app.js", "javascript"),
    ] {
        let r = site.get("GET", path, &[]);
        let ty = r.header("content-type").unwrap_or_default();
        check!(
            r,
            ty.contains(want) && ty.ends_with("; charset=utf-8"),
            "{path}: {ty}"
        );
    }
    let r = site.get("GET", "/big.bin", &["Range: bytes=0-0"]);
    check!(
        r,
        r.header("content-type") == Some("application/octet-stream"),
        "binary: no charset"
    );
}

for_each_model!(
    every_file_response_has_the_same_etag,
    a_just_modified_file_has_a_weak_etag,
    if_none_match,
    if_match_and_if_unmodified_since,
    if_range,
    builtin_routes_have_no_validators,
    writes_to_a_file_get_405_with_allow,
    text_types_carry_a_charset,
);
