//! Why a request was refused, with the status and the short text that says so.
//!
//! Rule: one variant per rejection rule, so a reviewer can find each RFC 9112 check by
//! name. Every rejection ends the connection: after a framing error the server can no
//! longer tell where the next request would start (RFC 9112 §6.3, §11.2).

use std::fmt;

/// A request the core refuses to process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// The request line is longer than the configured limit.
    RequestLineTooLong,
    /// The header section is larger than the configured limit.
    HeadTooLarge,
    /// More header fields than the configured limit.
    TooManyHeaders,
    /// The request line or a field is not valid HTTP/1.1 syntax (includes bare CR,
    /// NUL and other control characters, obs-fold, and space before the colon).
    Malformed,
    /// The protocol version is well formed but not HTTP/1.0 or HTTP/1.1.
    UnsupportedVersion,
    /// HTTP/1.1 request without a Host field.
    MissingHost,
    /// More than one Host field.
    RepeatedHost,
    /// A Host value that is not `uri-host [ ":" port ]` (see `protocol::host`).
    InvalidHost,
    /// An absolute-form target whose authority is empty, has userinfo or is not a
    /// valid host and port (RFC 9110 §4.2.1, §4.2.4).
    InvalidTargetAuthority,
    /// A Content-Length that is not a plain decimal number (sign, space, overflow...).
    InvalidContentLength,
    /// Several Content-Length values that differ.
    ConflictingContentLength,
    /// Both Content-Length and Transfer-Encoding (a request smuggling vector).
    LengthWithTransferEncoding,
    /// Transfer-Encoding whose final coding is not `chunked`.
    FinalCodingNotChunked,
    /// Transfer-Encoding on an HTTP/1.0 request, which cannot carry it.
    TransferEncodingOnHttp10,
    /// A transfer coding other than `chunked` (we implement no others).
    UnknownTransferCoding,
    /// A chunk-size line that is not hexadecimal, overflows, or is not ended by CRLF.
    InvalidChunk,
    /// Chunk extensions or trailer fields above the configured limit.
    ChunkMetadataTooLarge,
    /// The request body is larger than the configured limit.
    BodyTooLarge,
    /// The client closed its side before the body was complete.
    IncompleteBody,
    /// The request head or body did not arrive in time.
    Timeout,
    /// `Expect` with a value other than `100-continue`.
    UnsupportedExpectation,
}

impl Reject {
    /// The status code this rejection is answered with.
    pub fn status(self) -> u16 {
        match self {
            Self::RequestLineTooLong => 414,
            Self::HeadTooLarge | Self::TooManyHeaders => 431,
            Self::UnsupportedVersion => 505,
            Self::BodyTooLarge => 413,
            Self::Timeout => 408,
            Self::UnknownTransferCoding => 501,
            Self::UnsupportedExpectation => 417,
            _ => 400,
        }
    }

    /// A one-line explanation, sent as the response body.
    pub fn reason(self) -> &'static str {
        match self {
            Self::RequestLineTooLong => "request line too long",
            Self::HeadTooLarge => "request header section too large",
            Self::TooManyHeaders => "too many header fields",
            Self::Malformed => "malformed request line or header field",
            Self::UnsupportedVersion => "only HTTP/1.0 and HTTP/1.1 are supported",
            Self::MissingHost => "HTTP/1.1 request without Host",
            Self::RepeatedHost => "more than one Host field",
            Self::InvalidHost => "invalid Host field value",
            Self::InvalidTargetAuthority => "invalid host in the request target",
            Self::InvalidContentLength => "invalid Content-Length",
            Self::ConflictingContentLength => "conflicting Content-Length values",
            Self::LengthWithTransferEncoding => "both Content-Length and Transfer-Encoding",
            Self::FinalCodingNotChunked => "final transfer coding is not chunked",
            Self::TransferEncodingOnHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            Self::UnknownTransferCoding => "transfer coding not implemented",
            Self::InvalidChunk => "invalid chunk size line",
            Self::ChunkMetadataTooLarge => "chunk extensions or trailers too large",
            Self::BodyTooLarge => "request body too large",
            Self::IncompleteBody => "request body ended early",
            Self::Timeout => "request not received in time",
            Self::UnsupportedExpectation => "only Expect: 100-continue is supported",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for Reject {}
