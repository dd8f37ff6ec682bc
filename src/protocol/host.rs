//! The Host field's value and the authority of an absolute-form target.
//!
//! Rule: one predicate per grammar, quoted above it, and nothing else: no lookups, no
//! routing (this server serves one site whatever the name). RFC 9112 §3.2: "A server
//! MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request message
//! that lacks a Host header field and to any request message that contains more than
//! one Host header field line or a Host header field with an invalid field value."
//!
//! One deliberate narrowing of RFC 3986: a comma, although a `sub-delims`, is refused
//! in a reg-name. No DNS name holds one, and `a, b` is what an intermediary that joins
//! two Host lines into one list produces (RFC 9110 §5.3); a server that read the
//! first member and a proxy that read the whole value would disagree about the host.

use std::net::Ipv6Addr;

/// RFC 9110 §7.2 and RFC 3986 §3.2.2-3.2.3:
///
/// ```text
/// Host        = uri-host [ ":" port ]
/// uri-host    = IP-literal / IPv4address / reg-name
/// IP-literal  = "[" ( IPv6address / IPvFuture  ) "]"
/// IPvFuture   = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
/// IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet
/// reg-name    = *( unreserved / pct-encoded / sub-delims )
/// port        = *DIGIT
/// ```
///
/// An IPv4address is also a reg-name (digits and dots), so it needs no rule of its
/// own to be valid. An empty value is valid: a client sends `Host:` with nothing
/// when the target URI has no authority (RFC 9112 §3.2).
pub fn is_valid_host(value: &[u8]) -> bool {
    if value.first() == Some(&b'[') {
        return match split_port(value) {
            Some((host, port)) => port.iter().all(u8::is_ascii_digit) && is_uri_host(host),
            None => false,
        };
    }
    // A reg-name, then perhaps a port, in one pass: every request has a Host, so
    // this runs per request.
    let mut bytes = value.iter();
    while let Some(&b) = bytes.next() {
        if REG_NAME[usize::from(b)] {
            continue;
        }
        match b {
            b':' => return bytes.all(u8::is_ascii_digit),
            // pct-encoded = "%" HEXDIG HEXDIG
            b'%' => {
                let hex = |d: Option<&u8>| d.is_some_and(u8::is_ascii_hexdigit);
                if !(hex(bytes.next()) && hex(bytes.next())) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// The authority of an `http` or `https` absolute-form target (RFC 9110 §4.2.1,
/// §4.2.4): a valid Host value, with a host that is not empty ("A recipient that
/// processes such a URI reference MUST reject it as invalid") and no userinfo ("a
/// recipient SHOULD parse for userinfo and treat its presence as an error"). The `@`
/// is not a reg-name character, so userinfo fails the host rule by itself.
pub fn is_valid_target_authority(authority: &[u8]) -> bool {
    matches!(split_port(authority), Some((host, _)) if !host.is_empty()) && is_valid_host(authority)
}

/// `uri-host [ ":" port ]` split at the colon that starts the port. An IP-literal
/// must be followed by nothing or by `:`; a reg-name holds no colon, so the first
/// one starts the port.
fn split_port(value: &[u8]) -> Option<(&[u8], &[u8])> {
    if value.first() == Some(&b'[') {
        let close = value.iter().position(|&b| b == b']')?;
        let (host, rest) = value.split_at(close + 1);
        match rest {
            [] => Some((host, rest)),
            [b':', port @ ..] => Some((host, port)),
            _ => None,
        }
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(colon) => Some((&value[..colon], &value[colon + 1..])),
            None => Some((value, &[])),
        }
    }
}

fn is_uri_host(host: &[u8]) -> bool {
    match host {
        [b'[', inner @ .., b']'] => is_ipv6(inner) || is_ipv_future(inner),
        _ => is_reg_name(host),
    }
}

/// `IPv6address` (RFC 3986 §3.2.2), which is what std's parser accepts: eight
/// groups of at most four hex digits, one `::`, an IPv4 tail; no zone identifier.
fn is_ipv6(text: &[u8]) -> bool {
    std::str::from_utf8(text).is_ok_and(|t| t.parse::<Ipv6Addr>().is_ok())
}

/// `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`.
fn is_ipv_future(text: &[u8]) -> bool {
    let [b'v' | b'V', rest @ ..] = text else {
        return false;
    };
    let Some(dot) = rest.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
    !version.is_empty()
        && version.iter().all(u8::is_ascii_hexdigit)
        && !tail.is_empty()
        && tail
            .iter()
            .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`, without the comma (see
/// the module comment). Every request has a Host, so this runs per request: one
/// table lookup per byte, the `%` escapes aside.
fn is_reg_name(text: &[u8]) -> bool {
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if REG_NAME[usize::from(b)] {
            i += 1;
        } else if b == b'%' {
            // pct-encoded = "%" HEXDIG HEXDIG
            let hex = text.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else {
            return false;
        }
    }
    true
}

/// The bytes a reg-name holds as themselves: unreserved and sub-delims, no comma.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = byte != b',' && (is_unreserved(byte) || is_sub_delim(byte));
        b += 1;
    }
    table
};

/// `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="`.
const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (value, valid, why): the forms a client may send and the ones it may not.
    const HOSTS: &[(&str, bool, &str)] = &[
        ("example.com", true, "reg-name"),
        ("example.com:8080", true, "reg-name and port"),
        ("EXAMPLE.com", true, "reg-names are case-insensitive"),
        (
            "localhost:",
            true,
            "port = *DIGIT: an empty port is allowed",
        ),
        (
            "",
            true,
            "empty: the target URI has no authority (RFC 9112 §3.2)",
        ),
        ("127.0.0.1", true, "IPv4address"),
        ("127.0.0.1:80", true, "IPv4address and port"),
        (
            "999.1.1.1",
            true,
            "not an IPv4address, but a valid reg-name",
        ),
        ("[::1]", true, "IP-literal"),
        ("[::1]:8080", true, "IP-literal and port"),
        ("[2001:db8::7]", true, "IPv6address"),
        ("[::ffff:192.0.2.1]", true, "IPv6address with an IPv4 tail"),
        ("[v1.fe80::a+en1]", true, "IPvFuture"),
        ("xn--bcher-kva.example", true, "punycode is a reg-name"),
        ("a%41b", true, "pct-encoded"),
        ("a_b~c-d", true, "unreserved"),
        ("a!$&'()*+;=b", true, "sub-delims but the comma"),
        ("65536", true, "port-looking reg-name"),
        ("host:99999", true, "port = *DIGIT has no upper bound"),
        ("user@host", false, "userinfo (RFC 9110 §4.2.4)"),
        ("user:pw@host", false, "userinfo with a password"),
        ("host/path", false, "a path"),
        ("host?q", false, "a query"),
        ("host#frag", false, "a fragment"),
        (
            "a,b",
            false,
            "a list: two Host lines joined (see the module comment)",
        ),
        ("a, b", false, "a list with whitespace"),
        ("a b", false, "inner whitespace"),
        ("a\tb", false, "inner tab"),
        ("a\x01b", false, "control byte"),
        ("a\x7fb", false, "DEL"),
        (
            "caf\u{e9}",
            false,
            "raw non-ASCII (a reg-name is percent-encoded)",
        ),
        ("host:abc", false, "port that is not digits"),
        ("host:8o", false, "port with a letter"),
        ("host:+80", false, "port with a sign"),
        ("host:80:81", false, "two ports"),
        ("host: 80", false, "whitespace before the port"),
        (
            ":80",
            true,
            "empty reg-name with a port (RFC 3986 allows it)",
        ),
        ("[::1", false, "unclosed IP-literal"),
        ("::1", false, "IPv6 without brackets"),
        ("[::1]x", false, "garbage after the IP-literal"),
        ("[::1]:x", false, "IP-literal with a bad port"),
        ("[example.com]", false, "a reg-name in brackets"),
        (
            "[fe80::1%25en0]",
            false,
            "zone identifiers are not in RFC 3986",
        ),
        ("[v1.]", false, "IPvFuture with nothing after the dot"),
        ("[vx.a]", false, "IPvFuture without a hex version"),
        ("a%4", false, "truncated pct-encoding"),
        ("a%zz", false, "pct-encoding that is not hex"),
        ("a\\b", false, "backslash"),
        ("a\"b", false, "quote"),
        ("a[b]", false, "brackets inside a reg-name"),
    ];

    #[test]
    fn host_values_table() {
        for (value, valid, why) in HOSTS {
            assert_eq!(is_valid_host(value.as_bytes()), *valid, "{value:?}: {why}");
        }
    }

    #[test]
    fn target_authorities_need_a_host() {
        for (authority, valid) in [
            ("example.com", true),
            ("example.com:80", true),
            ("[::1]:80", true),
            ("", false),
            (":80", false),
            ("user@example.com", false),
            ("a,b", false),
        ] {
            assert_eq!(
                is_valid_target_authority(authority.as_bytes()),
                valid,
                "{authority:?}"
            );
        }
    }
}
