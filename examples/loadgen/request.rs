//! The request every connection sends, rendered once; only the id differs per request.
//!
//! Rule: no I/O and no allocation per request. [`RequestTemplate::append`] copies the
//! pre-rendered head, writes the `X-Request-Id` value (`<prefix><seq>`) with a stack
//! buffer, then copies the pre-rendered end of head and body into the caller's reused
//! output buffer.

use crate::response::RequestMethod;

/// The header loadgen uses to tie each response to its request.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// What goes into every request of a run.
#[derive(Debug, Clone)]
pub struct RequestSpec<'a> {
    pub method: &'a str,
    /// Origin-form target: path plus query, starting with '/'.
    pub target: &'a str,
    /// Value of the Host header (host, plus ":port" when not 80).
    pub host: &'a str,
    /// Extra `Name: value` headers, already validated.
    pub headers: &'a [(String, String)],
    pub body_size: Option<usize>,
    /// Ask the server to close after the response (`--close`).
    pub close: bool,
}

/// A request split around its id, ready to be stamped out.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// Everything up to and including `X-Request-Id: `.
    before_id: Vec<u8>,
    /// CRLF ending the id line, the blank line, then the body.
    after_id: Vec<u8>,
    method: RequestMethod,
}

impl RequestTemplate {
    pub fn render(spec: &RequestSpec<'_>) -> Self {
        let has = |name: &str| {
            spec.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        let mut head = format!("{} {} HTTP/1.1\r\n", spec.method, spec.target);
        if !has("host") {
            head.push_str(&format!("Host: {}\r\n", spec.host));
        }
        if !has("user-agent") {
            head.push_str("User-Agent: reactor-loadgen\r\n");
        }
        for (name, value) in spec.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(size) = spec.body_size {
            head.push_str(&format!("Content-Length: {size}\r\n"));
        }
        if spec.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str(REQUEST_ID_HEADER);
        head.push_str(": ");

        let mut after_id = b"\r\n\r\n".to_vec();
        after_id.resize(after_id.len() + spec.body_size.unwrap_or(0), b'x');
        let method = match spec.method.eq_ignore_ascii_case("HEAD") {
            true => RequestMethod::Head,
            false => RequestMethod::Other,
        };
        Self {
            before_id: head.into_bytes(),
            after_id,
            method,
        }
    }

    /// Appends one request with id `<id_prefix><seq>` to `out`.
    pub fn append(&self, out: &mut Vec<u8>, id_prefix: &[u8], seq: u64) {
        out.extend_from_slice(&self.before_id);
        out.extend_from_slice(id_prefix);
        append_decimal(out, seq);
        out.extend_from_slice(&self.after_id);
    }

    /// Whether responses to these requests can have a body (not for HEAD).
    pub fn method(&self) -> RequestMethod {
        self.method
    }
}

/// Writes `n` in decimal without going through `fmt` (which would be slower, not wrong).
pub fn append_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// The id prefix of a connection: `c{conn}-`, or `t{thread}c{conn}-` with several threads.
pub fn id_prefix(thread: Option<usize>, conn: usize) -> Vec<u8> {
    match thread {
        Some(thread) => format!("t{thread}c{conn}-").into_bytes(),
        None => format!("c{conn}-").into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_id_headers_and_body() {
        let headers = vec![("Accept".to_string(), "*/*".to_string())];
        let spec = RequestSpec {
            method: "POST",
            target: "/echo?x=1",
            host: "localhost:8080",
            headers: &headers,
            body_size: Some(3),
            close: true,
        };
        let mut out = Vec::new();
        RequestTemplate::render(&spec).append(&mut out, b"c7-", 1234567890);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /echo?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: reactor-loadgen\r\n\
             Accept: */*\r\nContent-Length: 3\r\nConnection: close\r\nX-Request-Id: c7-1234567890\
             \r\n\r\nxxx"
        );
    }

    #[test]
    fn decimal_edges() {
        for n in [0, 9, 10, u64::MAX] {
            let mut out = Vec::new();
            append_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
