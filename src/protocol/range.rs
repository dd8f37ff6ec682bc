//! Byte ranges (RFC 9110 §14): which parts of a representation of known length a
//! `Range` field asks for, and the framing of a `multipart/byteranges` body.
//!
//! Rule: pure arithmetic on lengths; nothing here reads a file or decides whether a
//! Range applies (the method and If-Range are `protocol::conditional`'s). [`plan`]
//! turns a field value into a [`RangePlan`], and [`Multipart`] lays out the parts
//! around the ranges so that the body's length is known before a byte is read.
//!
//! Policy, within what §14.2 allows ("A server MAY ignore the Range header field";
//! it "MAY ignore or reject a Range header field that contains an invalid
//! ranges-specifier, a ranges-specifier with more than two overlapping ranges, or a
//! set of many small ranges that are not listed in ascending order"):
//! - a unit other than `bytes`, or a syntax error anywhere, ignores the field: 200
//!   with the whole representation (as before, and as python's server does);
//! - more than [`MAX_RANGES`] range-specs ignore it too (nginx's `max_ranges`):
//!   sending the whole file is always correct, and costs the client at most one
//!   file where a 416 would cost it a retry;
//! - ranges that overlap, touch, or are closer than [`COALESCE_GAP`] (the overhead
//!   of a part, "around 80 bytes" in §15.3.7.2) are sent as one part, so the body is
//!   never more than the file plus one part header per range: asking for the same
//!   bytes many times is not an amplification vector;
//! - the parts leave in the order the request gave them (each merged part at the
//!   place of its earliest range): a client that asks for a later part first has
//!   a reason to (§14.2);
//! - `last < first` makes that one range unsatisfiable rather than the whole field
//!   invalid, so a lone `bytes=5-2` gets 416, as it always did here and in nginx.

use std::fmt::Write;

use smallvec::SmallVec;

/// Most range-specs one Range field may hold before it is ignored.
pub const MAX_RANGES: usize = 16;
/// Ranges separated by fewer bytes than this are sent as one part.
pub const COALESCE_GAP: u64 = 80;

/// Bytes `first..=last` of the representation, both within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    /// Bytes in the range (never 0).
    pub fn size(self) -> u64 {
        self.last - self.first + 1
    }

    /// `bytes first-last/total`, the Content-Range value.
    pub fn content_range(self, total: u64) -> String {
        format!("bytes {}-{}/{total}", self.first, self.last)
    }
}

/// What a Range field asks of a representation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangePlan {
    /// Send the whole representation with 200 (no usable Range).
    Whole,
    /// No range overlaps the representation: 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
    /// 206 with these parts, one or at most [`MAX_RANGES`], disjoint and at least
    /// [`COALESCE_GAP`] apart: one part is a plain 206, several a multipart body.
    Ranges(SmallVec<[ByteRange; 1]>),
}

/// The plan for `value` on a representation of `len` bytes.
///
/// ```text
/// Range        = ranges-specifier
/// ranges-specifier = range-unit "=" range-set
/// range-set    = 1#range-spec
/// range-spec   = int-range / suffix-range / other-range
/// int-range    = first-pos "-" [ last-pos ]
/// suffix-range = "-" suffix-length
/// ```
pub fn plan(value: &[u8], len: u64) -> RangePlan {
    let Some(set) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim_matches([' ', '\t']).split_once('='))
        .filter(|(unit, _)| unit.eq_ignore_ascii_case("bytes"))
        .map(|(_, set)| set)
    else {
        return RangePlan::Whole;
    };
    // (range, position in the request), for the satisfiable ranges.
    let mut wanted: SmallVec<[(ByteRange, usize); 1]> = SmallVec::new();
    let mut specs = 0;
    // A range-spec holds no comma, so the set splits on them; empty members are
    // allowed (RFC 9110 §5.6.1), but at least one must not be.
    for spec in set.split(',').map(|s| s.trim_matches([' ', '\t'])) {
        if spec.is_empty() {
            continue;
        }
        specs += 1;
        if specs > MAX_RANGES {
            return RangePlan::Whole;
        }
        match resolve(spec, len) {
            Spec::Invalid => return RangePlan::Whole,
            Spec::Unsatisfiable => {}
            Spec::Range(range) => wanted.push((range, specs)),
        }
    }
    if specs == 0 {
        return RangePlan::Whole;
    }
    if wanted.is_empty() {
        return RangePlan::Unsatisfiable;
    }
    RangePlan::Ranges(coalesce(wanted))
}

/// One range-spec against the representation's length.
enum Spec {
    Invalid,
    Unsatisfiable,
    Range(ByteRange),
}

fn resolve(spec: &str, len: u64) -> Spec {
    let Some((first, last)) = spec.split_once('-') else {
        return Spec::Invalid;
    };
    let end = len.saturating_sub(1);
    let (first, last) = match (digits(first), digits(last)) {
        // An int-range is satisfiable if first-pos is inside (§14.1.1).
        (Some(first), Some(last)) if last < first => return Spec::Unsatisfiable,
        (Some(first), Some(last)) => (first, last.min(end)),
        (Some(first), None) if last.is_empty() => (first, end),
        // A suffix-range is satisfiable if suffix-length is not 0.
        (None, Some(suffix)) if first.is_empty() => {
            if suffix == 0 {
                return Spec::Unsatisfiable;
            }
            (len.saturating_sub(suffix), end)
        }
        _ => return Spec::Invalid,
    };
    if first >= len {
        return Spec::Unsatisfiable;
    }
    Spec::Range(ByteRange { first, last })
}

/// Merges ranges that overlap or lie closer than [`COALESCE_GAP`], keeping each
/// merged part at the place of its earliest range.
fn coalesce(mut wanted: SmallVec<[(ByteRange, usize); 1]>) -> SmallVec<[ByteRange; 1]> {
    wanted.sort_unstable_by_key(|(range, _)| range.first);
    let mut merged: SmallVec<[(ByteRange, usize); 1]> = SmallVec::new();
    for (range, at) in wanted {
        match merged.last_mut() {
            Some((open, open_at)) if range.first <= open.last.saturating_add(COALESCE_GAP) => {
                open.last = open.last.max(range.last);
                *open_at = (*open_at).min(at);
            }
            _ => merged.push((range, at)),
        }
    }
    merged.sort_unstable_by_key(|(_, at)| *at);
    merged.into_iter().map(|(range, _)| range).collect()
}

/// `1*DIGIT`, saturating at `u64::MAX` (a huge position is still a position).
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The framing of a `multipart/byteranges` body (RFC 9110 §14.6): before each
/// range a delimiter and the part's fields, after the last one the close
/// delimiter. Every delimiter is `CRLF "--" boundary`, the first one included (an
/// empty preamble, as nginx sends it), so the parts need no special first case.
#[derive(Debug)]
pub struct Multipart {
    /// The response's Content-Type.
    pub content_type: String,
    /// What goes before each range, in order.
    pub part_heads: Vec<Vec<u8>>,
    /// What goes after the last range.
    pub tail: Vec<u8>,
    /// The whole body's length: heads, ranges and tail.
    pub len: u64,
}

impl Multipart {
    /// The layout for `ranges` of a representation of `total` bytes whose type is
    /// `part_type`. `boundary` must not occur in the representation; the caller
    /// makes it unguessable (RFC 2046 §5.1.1 allows 1 to 70 characters).
    pub fn new(ranges: &[ByteRange], total: u64, part_type: &str, boundary: &str) -> Self {
        debug_assert!((1..=70).contains(&boundary.len()));
        let part_heads: Vec<Vec<u8>> = ranges
            .iter()
            .map(|range| {
                let mut head = String::with_capacity(100);
                let _ = write!(
                    head,
                    "\r\n--{boundary}\r\nContent-Type: {part_type}\r\nContent-Range: {}\r\n\r\n",
                    range.content_range(total)
                );
                head.into_bytes()
            })
            .collect();
        let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
        let len = part_heads.iter().map(|h| h.len() as u64).sum::<u64>()
            + ranges.iter().map(|r| r.size()).sum::<u64>()
            + tail.len() as u64;
        Self {
            content_type: format!("multipart/byteranges; boundary={boundary}"),
            part_heads,
            tail,
            len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(list: &[(u64, u64)]) -> RangePlan {
        RangePlan::Ranges(
            list.iter()
                .map(|&(first, last)| ByteRange { first, last })
                .collect(),
        )
    }

    #[test]
    fn plan_table() {
        use RangePlan::{Unsatisfiable as No, Whole};
        let spread = |n: u64| {
            let specs: Vec<String> = (0..n).map(|i| format!("{}-{}", i * 200, i * 200)).collect();
            format!("bytes={}", specs.join(","))
        };
        let (sixteen, many) = (spread(16), spread(17));
        let same_sixteen = format!("bytes={}", ["0-99"; 16].join(","));
        let cases: Vec<(&str, u64, RangePlan)> = vec![
            // One range, each form.
            ("bytes=10-19", 100, ranges(&[(10, 19)])),
            ("bytes=0-0", 100, ranges(&[(0, 0)])),
            ("bytes=90-", 100, ranges(&[(90, 99)])),
            ("bytes=90-500", 100, ranges(&[(90, 99)])),
            ("bytes=-10", 100, ranges(&[(90, 99)])),
            ("bytes=-500", 100, ranges(&[(0, 99)])),
            ("BYTES=1-2", 100, ranges(&[(1, 2)])),
            (" bytes=1-2 ", 100, ranges(&[(1, 2)])),
            ("bytes= 1-2 ", 100, ranges(&[(1, 2)])),
            ("bytes=0-99999999999999999999999", 100, ranges(&[(0, 99)])),
            // Unsatisfiable.
            ("bytes=100-", 100, No),
            ("bytes=100-200", 100, No),
            ("bytes=99999999999999999999999-", 100, No),
            ("bytes=-0", 100, No),
            ("bytes=0-", 0, No),
            ("bytes=-5", 0, No),
            ("bytes=5-2", 100, No),
            ("bytes=100-,200-300,-0", 100, No),
            // Several: unsatisfiable members dropped, the rest kept in request order.
            ("bytes=0-1,500-501", 1000, ranges(&[(0, 1), (500, 501)])),
            ("bytes=500-599,0-9", 1000, ranges(&[(500, 599), (0, 9)])),
            ("bytes=0-9,5000-,-10", 1000, ranges(&[(0, 9), (990, 999)])),
            ("bytes=0-9,,  ,200-209", 1000, ranges(&[(0, 9), (200, 209)])),
            ("bytes=0-1,", 1000, ranges(&[(0, 1)])),
            // Coalesced: overlapping, adjacent, or closer than COALESCE_GAP.
            ("bytes=0-1,5-6", 100, ranges(&[(0, 6)])),
            ("bytes=0-99,50-149", 1000, ranges(&[(0, 149)])),
            ("bytes=0-99,100-199", 1000, ranges(&[(0, 199)])),
            ("bytes=0-99,179-199", 1000, ranges(&[(0, 199)])),
            ("bytes=0-99,180-199", 1000, ranges(&[(0, 99), (180, 199)])),
            (
                "bytes=500-599,0-9,550-",
                1000,
                ranges(&[(500, 999), (0, 9)]),
            ),
            ("bytes=900-,0-9,5-950", 1000, ranges(&[(0, 999)])),
            (&same_sixteen, 1000, ranges(&[(0, 99)])),
            // The bound: 16 specs are served, 17 ignore the field.
            (&sixteen, 10_000, {
                let all: Vec<(u64, u64)> = (0..16).map(|i| (i * 200, i * 200)).collect();
                ranges(&all)
            }),
            (&many, 10_000, Whole),
            // Invalid: the field is ignored.
            ("bytes=", 100, Whole),
            ("bytes=,", 100, Whole),
            ("bytes=-", 100, Whole),
            ("bytes=a-b", 100, Whole),
            ("bytes=1-2-3", 100, Whole),
            ("bytes=+1-2", 100, Whole),
            ("bytes=1 -2", 100, Whole),
            ("bytes=0-1,x", 100, Whole),
            ("bytes 1-2", 100, Whole),
            ("items=1-2", 100, Whole),
            ("", 100, Whole),
        ];
        for (value, len, expected) in cases {
            let shown = &value[..value.len().min(60)];
            assert_eq!(plan(value.as_bytes(), len), expected, "{shown:?} of {len}");
        }
        assert_eq!(plan(b"bytes=\xff-1", 100), Whole);
    }

    #[test]
    fn many_overlapping_ranges_never_exceed_the_file() {
        // Sixteen times the whole file, in every spelling: one part of the file.
        let value = ["0-", "-1000", "0-999", "1-"].repeat(4).join(",");
        assert_eq!(
            plan(format!("bytes={value}").as_bytes(), 1000),
            ranges(&[(0, 999)])
        );
    }

    #[test]
    fn multipart_layout_is_exact() {
        let parts = [
            ByteRange { first: 0, last: 4 },
            ByteRange {
                first: 90,
                last: 99,
            },
        ];
        let layout = Multipart::new(&parts, 100, "text/plain", "B0UND");
        assert_eq!(layout.content_type, "multipart/byteranges; boundary=B0UND");
        let mut body = Vec::new();
        let data = |r: &ByteRange| vec![b'x'; r.size() as usize];
        for (head, range) in layout.part_heads.iter().zip(&parts) {
            body.extend_from_slice(head);
            body.extend(data(range));
        }
        body.extend_from_slice(&layout.tail);
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            text,
            "\r\n--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-4/100\r\n\r\nxxxxx\
             \r\n--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 90-99/100\r\n\r\nxxxxxxxxxx\
             \r\n--B0UND--\r\n"
        );
        assert_eq!(layout.len, text.len() as u64);
    }
}
