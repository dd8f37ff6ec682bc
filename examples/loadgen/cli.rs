//! Command line: the clap definition, and the checks that turn its strings into a target,
//! durations and headers.
//!
//! Rule: no sockets here (name resolution and the first connect live in `main.rs`); every
//! error is one line of text for `loadgen: ...` and exit code 2.

use std::time::Duration;

use reactor::cli::parse_duration;

use clap::Parser;

/// Event-driven HTTP/1.1 load generator that verifies every response.
///
/// Each request carries a unique X-Request-Id (`c{conn}-{seq}`); each response is
/// framed strictly (Content-Length, chunked, or close-delimited) and its echoed id must
/// name the oldest request in flight on its connection.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
pub struct Args {
    /// Connections to keep open (split across threads).
    #[arg(short = 'c', long, default_value_t = 10)]
    pub connections: usize,

    /// How long to send, e.g. 10s, 500ms, 2m [default: 10s].
    #[arg(short = 'd', long, value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,

    /// Total number of requests instead of a duration.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,

    /// Worker threads, each with its own event loop over its share of connections.
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,

    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,

    /// Open loop: total requests per second, each measured from its intended send time.
    #[arg(long)]
    pub rate: Option<f64>,

    /// A new connection per request, sending `Connection: close`.
    #[arg(long)]
    pub close: bool,

    /// Extra request header `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// Request method.
    #[arg(long, default_value = "GET")]
    pub method: String,

    /// Send a body of this many bytes, with Content-Length.
    #[arg(long, value_name = "BYTES")]
    pub body_size: Option<usize>,

    /// Per-request timeout; the connection is reopened after one.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub timeout: Duration,

    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// Target, http://host[:port][/path][?query].
    pub url: String,
}

/// Default run length when neither `-d` nor `-n` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl Args {
    /// Range checks clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.connections == 0 || self.threads == 0 || self.pipeline == 0 {
            return Err("--connections, --threads and --pipeline must be at least 1".into());
        }
        if self.requests == Some(0) {
            return Err("--requests must be at least 1".into());
        }
        if self
            .rate
            .is_some_and(|rate| !(rate.is_finite() && rate > 0.0))
        {
            return Err("--rate must be a positive number of requests per second".into());
        }
        if self.close && self.pipeline > 1 {
            return Err("--close sends one request per connection; it cannot pipeline".into());
        }
        if self.timeout.is_zero() {
            return Err("--timeout must be positive".into());
        }
        if self.method.is_empty() || !self.method.bytes().all(is_token_byte) {
            return Err(format!("invalid method '{}'", self.method));
        }
        Ok(())
    }

    /// `-H` values split into (name, value); the request id header is ours alone.
    pub fn parsed_headers(&self) -> Result<Vec<(String, String)>, String> {
        self.headers
            .iter()
            .map(|header| parse_header(header))
            .collect()
    }
}

fn parse_header(header: &str) -> Result<(String, String), String> {
    let bad = || format!("invalid header '{header}': expected 'Name: value'");
    let (name, value) = header.split_once(':').ok_or_else(bad)?;
    let value = value.trim();
    if name.is_empty() || !name.bytes().all(is_token_byte) || value.contains(['\r', '\n']) {
        return Err(bad());
    }
    if name.eq_ignore_ascii_case(crate::request::REQUEST_ID_HEADER) {
        return Err("X-Request-Id is set by loadgen itself".into());
    }
    if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding")
    {
        return Err(format!("{name} is set by loadgen itself (use --body-size)"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Where to send: the parts of an `http://` URL that matter to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Origin-form request target: path and query, at least "/".
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, String> {
        let invalid = || format!("invalid URL '{url}': expected http://host[:port][/path]");
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid());
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(format!(
                "cannot load '{url}': https is not supported, only http://"
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(invalid());
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let path = match path.strip_prefix('?') {
            Some(query) => format!("/?{query}"),
            None if path.is_empty() => "/".to_string(),
            None => path.to_string(),
        };
        if authority.is_empty() || authority.contains('@') || path.contains(char::is_whitespace) {
            return Err(invalid());
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']').ok_or_else(invalid)?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            None => 80,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(invalid)?,
        };
        if host.is_empty() || host.contains(['[', ']', ' ']) {
            return Err(invalid());
        }
        Ok(Self {
            host: host.to_string(),
            port,
            path,
        })
    }

    /// The Host header value.
    pub fn host_header(&self) -> String {
        let host = match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.clone(),
        };
        match self.port {
            80 => host,
            port => format!("{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:8080/a/b?c=d#frag").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/a/b?c=d")
        );
        let t = Target::parse("http://localhost").unwrap();
        assert_eq!(
            (t.port, t.path.as_str(), t.host_header()),
            (80, "/", "localhost".into())
        );
        let t = Target::parse("http://[::1]:9000?x").unwrap();
        assert_eq!(
            (t.host.as_str(), t.path.as_str(), t.host_header()),
            ("::1", "/?x", "[::1]:9000".into())
        );
        for bad in [
            "notaurl",
            "https://x",
            "ftp://x",
            "http://",
            "http://h:99999/",
            "http://u@h/",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("Accept: */*"),
            Ok(("Accept".into(), "*/*".into()))
        );
        assert!(parse_header("NoColon").is_err());
        assert!(parse_header("x-request-id: 1").is_err());
    }
}
