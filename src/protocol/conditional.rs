//! Conditional requests (RFC 9110 §13): entity tags, the five precondition fields,
//! and the order §13.2.2 evaluates them in.
//!
//! Rule: a pure function of the request's fields, the method and the current
//! validators; it never looks at a file or a clock. [`evaluate`] answers with a
//! [`Decision`]; the route builds the response (304 with the validators, 412, or the
//! representation with or without its ranges).
//!
//! What an invalid value gets, field by field (RFC 9110 gives the first three):
//! - `If-Modified-Since` that is not one HTTP-date: ignored (§13.1.3), and so when the
//!   method is not GET or HEAD or there is no Last-Modified;
//! - `If-Unmodified-Since` that is not one HTTP-date: ignored (§13.1.4), and so when
//!   there is no Last-Modified;
//! - `If-Range` that is neither one entity-tag nor one HTTP-date, or a weak tag: it
//!   cannot match (a strong comparison), so the Range is ignored and the whole
//!   representation is sent (§13.1.5);
//! - `If-Match` / `If-None-Match` that is not `*` or a list of entity tags (§8.8.3):
//!   RFC 9110 says nothing; here such a list matches nothing (as nginx reads it). So
//!   If-Match fails closed (412: the precondition could not be shown to hold) and
//!   If-None-Match fails open (the full representation, which is always a correct
//!   answer to a GET), and in both cases the field still counts as present, so an
//!   If-None-Match, valid or not, still overrides If-Modified-Since.

use std::sync::Arc;
use std::time::SystemTime;

use smallvec::SmallVec;

use super::request::{Method, RequestHead};

/// An entity tag this server sends: `"opaque"` or `W/"opaque"` (RFC 9110 §8.8.3),
/// kept as the text of the header value, so a response costs no formatting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ETag(Arc<str>);

impl ETag {
    /// A tag from `opaque`, which must consist of `etagc` characters (no `"`).
    pub fn new(opaque: &str, weak: bool) -> Self {
        debug_assert!(opaque.bytes().all(is_etagc));
        let prefix = if weak { "W/" } else { "" };
        Self(format!("{prefix}\"{opaque}\"").into())
    }

    /// `W/` was given: only a weak comparison can match it.
    pub fn is_weak(&self) -> bool {
        self.0.starts_with("W/")
    }

    /// The header value.
    pub fn value(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }

    /// The opaque-tag, quotes included.
    fn opaque(&self) -> &[u8] {
        self.0.trim_start_matches("W/").as_bytes()
    }
}

/// What the server knows of the current representation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Validators<'a> {
    pub etag: Option<&'a ETag>,
    /// In whole seconds, as HTTP dates carry it.
    pub last_modified: Option<SystemTime>,
    /// Last-Modified may be compared as a strong validator (RFC 9110 §8.8.2.2: the
    /// server knows the representation did not change twice within that second).
    /// Only If-Range needs to know.
    pub last_modified_is_strong: bool,
}

/// A precondition field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    IfMatch,
    IfNoneMatch,
    IfModifiedSince,
    IfUnmodifiedSince,
    IfRange,
}

/// The precondition fields of a request, as sent, in one short list. A list field
/// may come in several lines (RFC 9110 §5.3), so every line is kept; for the date
/// fields a second line makes the value a list, which is invalid.
#[derive(Debug, Default)]
pub struct Conditions<'a> {
    lines: SmallVec<[(Field, &'a [u8]); 2]>,
    /// A Range field is present (If-Range means nothing without one).
    pub range: bool,
}

impl<'a> Conditions<'a> {
    /// The fields of `head`, found in one pass that looks only at names starting
    /// with `if-` or equal to `range`; none when the parser saw no such name (most
    /// requests have none).
    pub fn of(head: &'a RequestHead) -> Self {
        let mut found = Self::default();
        if !head.may_be_conditional {
            return found;
        }
        for (name, value) in head.headers() {
            let name = name.as_bytes();
            match name.first() {
                Some(b'i' | b'I') if name.len() > 3 && name[..3].eq_ignore_ascii_case(b"if-") => {
                    if let Some(field) = Field::named(&name[3..]) {
                        found.lines.push((field, value));
                    }
                }
                Some(b'r' | b'R') if name.eq_ignore_ascii_case(b"range") => found.range = true,
                _ => {}
            }
        }
        found
    }

    /// No precondition field at all (the common case, decided at once).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines of one field, in order.
    fn lines(&self, field: Field) -> SmallVec<[&'a [u8]; 1]> {
        self.lines
            .iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, v)| *v)
            .collect()
    }
}

impl Field {
    /// The field whose name is `if-` then `rest`, case-insensitive.
    fn named(rest: &[u8]) -> Option<Self> {
        [
            (&b"match"[..], Self::IfMatch),
            (b"none-match", Self::IfNoneMatch),
            (b"modified-since", Self::IfModifiedSince),
            (b"unmodified-since", Self::IfUnmodifiedSince),
            (b"range", Self::IfRange),
        ]
        .into_iter()
        .find(|(name, _)| rest.eq_ignore_ascii_case(name))
        .map(|(_, field)| field)
    }
}

/// What the preconditions decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Perform the method. `use_range`: the method is GET, a Range was sent, and
    /// If-Range (if any) matched, so the Range applies; otherwise send it whole.
    Proceed { use_range: bool },
    /// 304: the client's copy is current (GET and HEAD only).
    NotModified,
    /// 412.
    PreconditionFailed,
}

/// RFC 9110 §13.2.2, step by step. The caller has already found the resource and
/// would answer 2xx without the preconditions (§13.2.1: otherwise they are ignored).
pub fn evaluate(method: Method, fields: &Conditions<'_>, current: &Validators<'_>) -> Decision {
    let get_or_head = matches!(method, Method::Get | Method::Head);
    let ranged = method == Method::Get && fields.range;
    if fields.is_empty() {
        return Decision::Proceed { use_range: ranged };
    }
    let if_match = fields.lines(Field::IfMatch);
    let if_none_match = fields.lines(Field::IfNoneMatch);
    // 1. If-Match: false is 412.
    if !if_match.is_empty() {
        if !matches_list(&if_match, current.etag, Comparison::Strong) {
            return Decision::PreconditionFailed;
        }
    // 2. Otherwise If-Unmodified-Since: false is 412.
    } else if let (Some(since), Some(modified)) = (
        single_date(&fields.lines(Field::IfUnmodifiedSince)),
        current.last_modified,
    ) {
        if modified > since {
            return Decision::PreconditionFailed;
        }
    }
    // 3. If-None-Match: false is 304 for GET/HEAD, else 412.
    if !if_none_match.is_empty() {
        if matches_list(&if_none_match, current.etag, Comparison::Weak) {
            return if get_or_head {
                Decision::NotModified
            } else {
                Decision::PreconditionFailed
            };
        }
    // 4. Otherwise, for GET/HEAD, If-Modified-Since: false is 304.
    } else if get_or_head {
        if let (Some(since), Some(modified)) = (
            single_date(&fields.lines(Field::IfModifiedSince)),
            current.last_modified,
        ) {
            if modified <= since {
                return Decision::NotModified;
            }
        }
    }
    // 5. GET with Range (and If-Range): the Range applies only if If-Range matches.
    // (RFC 9110 §14.2: GET is the only method with range handling, so HEAD's
    // Range is ignored.)
    let if_range = fields.lines(Field::IfRange);
    let use_range = ranged && (if_range.is_empty() || if_range_matches(&if_range, current));
    Decision::Proceed { use_range }
}

/// RFC 9110 §8.8.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    /// Both tags strong and their opaque-tags identical.
    Strong,
    /// Opaque-tags identical, weak or not.
    Weak,
}

/// `If-Match = "*" / #entity-tag` and `If-None-Match` likewise, over every line of
/// the field. `*` matches any current representation, which here means one with an
/// entity tag or not (every resource we evaluate exists). An invalid list matches
/// nothing (see the module comment).
fn matches_list(lines: &[&[u8]], current: Option<&ETag>, how: Comparison) -> bool {
    let star = |line: &&[u8]| trim_ows(line) == b"*";
    if lines.iter().any(star) {
        // `*` must be the whole field value, not a member of a list.
        return lines.len() == 1;
    }
    let mut any = false;
    for line in lines {
        match EntityTags::new(line).try_fold(false, |hit, tag| {
            tag.map(|tag| hit || current.is_some_and(|c| tag.matches(c, how)))
        }) {
            Some(hit) => any |= hit,
            None => return false,
        }
    }
    any
}

/// `If-Range = entity-tag / HTTP-date` (RFC 9110 §13.1.5): a strong comparison with
/// the entity tag, or a date equal to a strong Last-Modified.
fn if_range_matches(lines: &[&[u8]], current: &Validators<'_>) -> bool {
    let [line] = lines else {
        return false;
    };
    let value = trim_ows(line);
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        let mut tags = EntityTags::new(value);
        return match (tags.next(), tags.next()) {
            (Some(Some(tag)), None) => current
                .etag
                .is_some_and(|c| tag.matches(c, Comparison::Strong)),
            _ => false,
        };
    }
    current.last_modified_is_strong
        && single_date(lines).is_some_and(|date| Some(date) == current.last_modified)
}

/// The field's value as one HTTP-date; `None` for none, several lines, or
/// anything httpdate cannot parse (which includes a list of dates).
fn single_date(lines: &[&[u8]]) -> Option<SystemTime> {
    let [line] = lines else {
        return None;
    };
    let text = std::str::from_utf8(trim_ows(line)).ok()?;
    httpdate::parse_http_date(text).ok()
}

/// One entity tag of a request field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tag<'a> {
    weak: bool,
    /// The opaque-tag, quotes included.
    opaque: &'a [u8],
}

impl Tag<'_> {
    fn matches(&self, current: &ETag, how: Comparison) -> bool {
        let strong_enough = how == Comparison::Weak || !(self.weak || current.is_weak());
        strong_enough && self.opaque == current.opaque()
    }
}

/// The entity tags of `#entity-tag`, in order; an item is `None` (and the last)
/// where the list stops being valid. Empty members (`a, , b`) are allowed, as
/// RFC 9110 §5.6.1 requires. Commas cannot be split on: an opaque-tag may hold one.
///
/// ```text
/// entity-tag = [ weak ] opaque-tag
/// weak       = %s"W/"
/// opaque-tag = DQUOTE *etagc DQUOTE
/// etagc      = %x21 / %x23-7E / obs-text
/// ```
struct EntityTags<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> EntityTags<'a> {
    fn new(value: &'a [u8]) -> Self {
        Self {
            rest: value,
            failed: false,
        }
    }
}

impl<'a> Iterator for EntityTags<'a> {
    type Item = Option<Tag<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        // Skip OWS and empty members up to the next tag.
        let start = self
            .rest
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t' | b','))
            .unwrap_or(self.rest.len());
        let rest = &self.rest[start..];
        if rest.is_empty() {
            return None;
        }
        let (weak, quoted) = match rest.strip_prefix(b"W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let tag = match quoted {
            [b'"', body @ ..] => body
                .iter()
                .position(|&b| !is_etagc(b))
                .and_then(|end| (body[end] == b'"').then(|| &quoted[..end + 2])),
            _ => None,
        };
        let Some(opaque) = tag else {
            self.failed = true;
            return Some(None);
        };
        // After a tag: OWS, then a comma or the end.
        let tail = skip_ows(&quoted[opaque.len()..]);
        match tail.first() {
            None | Some(b',') => self.rest = tail,
            Some(_) => {
                self.failed = true;
                return Some(None);
            }
        }
        Some(Some(Tag { weak, opaque }))
    }
}

/// `etagc = %x21 / %x23-7E / obs-text`: visible characters but `"`, and non-ASCII.
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

fn skip_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    let bytes = skip_ows(bytes);
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |e| e + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    use Decision::{NotModified as N304, PreconditionFailed as F412};
    const GO: Decision = Decision::Proceed { use_range: false };
    const RANGE: Decision = Decision::Proceed { use_range: true };

    /// The file's Last-Modified, and dates around it.
    const MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    fn modified() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    /// (method, field lines "Name: value", expected) against the strong tag `"v1"`
    /// and a strong Last-Modified of MODIFIED: every step of RFC 9110 §13.2.2, and
    /// every precedence between them.
    fn table() -> Vec<(Method, Vec<String>, Decision)> {
        use Method::{Delete, Get, Head, Post, Put};
        let f = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let ims = |d: &str| format!("If-Modified-Since: {d}");
        let ius = |d: &str| format!("If-Unmodified-Since: {d}");
        let ir = |v: &str| format!("If-Range: {v}");
        vec![
            // No preconditions.
            (Get, f(&[]), GO),
            (Get, f(&["Range: bytes=0-1"]), RANGE),
            (Head, f(&["Range: bytes=0-1"]), GO), // §14.2: GET only
            // Step 1: If-Match, strong comparison.
            (Get, f(&["If-Match: \"v1\""]), GO),
            (Put, f(&["If-Match: \"v1\""]), GO),
            (Get, f(&["If-Match: \"v2\""]), F412),
            (Delete, f(&["If-Match: \"v2\""]), F412),
            (Get, f(&["If-Match: W/\"v1\""]), F412), // weak never matches strongly
            (Get, f(&["If-Match: \"v0\", \"v1\""]), GO),
            (Get, f(&["If-Match: \"v0\"", "If-Match: \"v1\""]), GO),
            (Get, f(&["If-Match: *"]), GO),
            (Get, f(&["If-Match: v1"]), F412), // invalid: matches nothing
            (Get, f(&["If-Match: \"v1\" x"]), F412),
            (Get, f(&["If-Match: *, \"v1\""]), F412),
            // Step 1 wins over step 2: If-Unmodified-Since is not looked at.
            (Get, f(&["If-Match: \"v1\"", &ius(BEFORE)]), GO),
            // Step 2: If-Unmodified-Since.
            (Get, f(&[&ius(MODIFIED)]), GO),
            (Get, f(&[&ius(AFTER)]), GO),
            (Get, f(&[&ius(BEFORE)]), F412),
            (Post, f(&[&ius(BEFORE)]), F412),
            (Get, f(&["If-Unmodified-Since: yesterday"]), GO), // invalid: ignored
            (Get, f(&[&ius(BEFORE), &ius(AFTER)]), GO),        // a list: ignored
            // Step 3: If-None-Match, weak comparison.
            (Get, f(&["If-None-Match: \"v1\""]), N304),
            (Head, f(&["If-None-Match: \"v1\""]), N304),
            (Get, f(&["If-None-Match: W/\"v1\""]), N304),
            (Get, f(&["If-None-Match: \"v2\""]), GO),
            (Get, f(&["If-None-Match: \"v2\", \"v1\""]), N304),
            (Get, f(&["If-None-Match: \"a,b\", \"v1\""]), N304), // a comma inside a tag
            (Get, f(&["If-None-Match: , \"v1\",,"]), N304),      // empty members
            (Get, f(&["If-None-Match: *"]), N304),
            (Post, f(&["If-None-Match: *"]), F412),
            (Put, f(&["If-None-Match: \"v1\""]), F412),
            (Put, f(&["If-None-Match: \"v2\""]), GO),
            (Get, f(&["If-None-Match: v1"]), GO), // invalid: matches nothing
            (Get, f(&["If-None-Match: w/\"v1\""]), GO), // `W/` is case-sensitive
            // Steps 1 and 2 come before step 3.
            (Get, f(&["If-Match: \"v2\"", "If-None-Match: \"v2\""]), F412),
            (Get, f(&[&ius(BEFORE), "If-None-Match: \"v1\""]), F412),
            (Get, f(&["If-Match: \"v1\"", "If-None-Match: \"v1\""]), N304),
            // Step 4: If-Modified-Since, GET and HEAD only.
            (Get, f(&[&ims(MODIFIED)]), N304),
            (Get, f(&[&ims(AFTER)]), N304),
            (Head, f(&[&ims(MODIFIED)]), N304),
            (Get, f(&[&ims(BEFORE)]), GO),
            (Post, f(&[&ims(MODIFIED)]), GO),
            (Get, f(&["If-Modified-Since: not a date"]), GO),
            (Get, f(&[&ims(MODIFIED), &ims(MODIFIED)]), GO), // a list: ignored
            // If-None-Match takes precedence over If-Modified-Since.
            (Get, f(&["If-None-Match: \"v2\"", &ims(MODIFIED)]), GO),
            (Get, f(&["If-None-Match: bogus", &ims(MODIFIED)]), GO),
            (Get, f(&["If-None-Match: \"v1\"", &ims(BEFORE)]), N304),
            // A 304 beats a Range.
            (Get, f(&[&ims(MODIFIED), "Range: bytes=0-1"]), N304),
            // Step 5: If-Range, strong comparison or an exact strong date.
            (Get, f(&["Range: bytes=0-1", &ir("\"v1\"")]), RANGE),
            (Get, f(&["Range: bytes=0-1", &ir("\"v2\"")]), GO),
            (Get, f(&["Range: bytes=0-1", &ir("W/\"v1\"")]), GO),
            (Get, f(&["Range: bytes=0-1", &ir(MODIFIED)]), RANGE),
            (Get, f(&["Range: bytes=0-1", &ir(AFTER)]), GO),
            (Get, f(&["Range: bytes=0-1", &ir(BEFORE)]), GO),
            (Get, f(&["Range: bytes=0-1", &ir("garbage")]), GO),
            (Get, f(&["Range: bytes=0-1", &ir("\"v1\", \"v2\"")]), GO),
            (Get, f(&[&ir("\"v1\"")]), GO), // If-Range without Range: nothing to do
            (Head, f(&["Range: bytes=0-1", &ir("\"v1\"")]), GO),
            (
                Get,
                f(&["If-None-Match: \"v2\"", "Range: bytes=0-1", &ir("\"v1\"")]),
                RANGE,
            ),
        ]
    }

    #[test]
    fn preconditions_follow_rfc_9110_section_13_2_2() {
        let tag = ETag::new("v1", false);
        let current = Validators {
            etag: Some(&tag),
            last_modified: Some(modified()),
            last_modified_is_strong: true,
        };
        for (method, lines, expected) in table() {
            let got = evaluate_lines(method, &lines, &current);
            assert_eq!(got, expected, "{method:?} {lines:?}");
        }
    }

    #[test]
    fn weak_validators_match_only_weakly() {
        let tag = ETag::new("v1", true);
        assert!(tag.is_weak());
        assert_eq!(&*tag.value(), "W/\"v1\"");
        let current = Validators {
            etag: Some(&tag),
            last_modified: Some(modified()),
            last_modified_is_strong: false,
        };
        for (lines, expected) in [
            (vec!["If-None-Match: \"v1\""], N304),
            (vec!["If-None-Match: W/\"v1\""], N304),
            (vec!["If-Match: \"v1\""], F412),
            (vec!["If-Match: W/\"v1\""], F412),
            (vec!["Range: bytes=0-1", "If-Range: \"v1\""], GO),
            // A Last-Modified that may hide a second change is weak too.
            (
                vec!["Range: bytes=0-1", &format!("If-Range: {MODIFIED}")],
                GO,
            ),
            (vec!["Range: bytes=0-1"], RANGE),
        ] {
            let got = evaluate_lines(Method::Get, &lines, &current);
            assert_eq!(got, expected, "{lines:?}");
        }
    }

    #[test]
    fn without_validators_only_stars_can_decide() {
        let none = Validators::default();
        for (lines, expected) in [
            (vec!["If-None-Match: \"x\""], GO),
            (vec!["If-None-Match: *"], N304),
            (vec!["If-Match: *"], GO),
            (vec!["If-Match: \"x\""], F412),
            (vec![&*format!("If-Modified-Since: {MODIFIED}")], GO),
            (vec![&*format!("If-Unmodified-Since: {BEFORE}")], GO),
        ] {
            let got = evaluate_lines(Method::Get, &lines, &none);
            assert_eq!(got, expected, "{lines:?}");
        }
    }

    #[test]
    fn entity_tag_lists_parse_per_rfc_9110_section_8_8_3() {
        let tags = |v: &str| {
            EntityTags::new(v.as_bytes())
                .map(|t| t.map(|t| (t.weak, String::from_utf8_lossy(t.opaque).into_owned())))
                .collect::<Vec<_>>()
        };
        let ok = |weak, o: &str| Some((weak, o.to_string()));
        assert_eq!(tags("\"a\""), vec![ok(false, "\"a\"")]);
        assert_eq!(
            tags("W/\"a\", \"b\""),
            vec![ok(true, "\"a\""), ok(false, "\"b\"")]
        );
        assert_eq!(tags("\"\""), vec![ok(false, "\"\"")]);
        assert_eq!(tags(" ,\t\"a,b\" ,"), vec![ok(false, "\"a,b\"")]);
        assert_eq!(tags(""), vec![]);
        assert_eq!(tags("a"), vec![None]);
        assert_eq!(tags("\"a"), vec![None]);
        assert_eq!(tags("\"a\"b"), vec![None]);
        assert_eq!(tags("\"a\" \"b\""), vec![None]);
        assert_eq!(tags("\"a\", b"), vec![ok(false, "\"a\""), None]);
        assert_eq!(tags("\"a b\""), vec![None]);
        assert_eq!(tags("W/ \"a\""), vec![None]);
    }

    /// [`evaluate`] for a request with these header lines.
    fn evaluate_lines(
        method: Method,
        lines: &[impl AsRef<str>],
        current: &Validators<'_>,
    ) -> Decision {
        let raw = format!(
            "{} / HTTP/1.1\r\nHost: h\r\n{}\r\n",
            match method {
                Method::Get => "GET",
                Method::Head => "HEAD",
                Method::Post => "POST",
                Method::Put => "PUT",
                _ => "DELETE",
            },
            lines
                .iter()
                .map(|l| format!("{}\r\n", l.as_ref()))
                .collect::<String>()
        );
        let head = head_of(&raw);
        let fields = Conditions::of(&head);
        evaluate(method, &fields, current)
    }

    fn head_of(raw: &str) -> RequestHead<'_> {
        match super::super::request::parse_head(raw.as_bytes(), &Default::default()) {
            Ok(super::super::request::Parsed::Complete { value, .. }) => value,
            other => panic!("{raw:?}: {other:?}"),
        }
    }
}
