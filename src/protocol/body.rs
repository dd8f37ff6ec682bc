//! Request body framing: how many bytes belong to the body, and where it ends.
//!
//! Rule: this file only finds the end of a body and counts its length; it keeps no
//! body bytes (the server echoes sizes, never contents) and has no buffering policy.
//! The chunked decoder is a byte-at-a-time state machine over RFC 9112 §7.1, so it
//! gives the same answer however the input is split.

use super::reject::Reject;

/// How a request body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Bounds the decoder enforces.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// Largest body accepted, in data bytes.
    pub max_body: u64,
    /// Largest total of chunk-size lines (with extensions) plus trailer fields.
    pub max_metadata: usize,
}

/// Where the decoder is within the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Reading a fixed-length body.
    Length { remaining: u64 },
    /// Reading the hex digits of a chunk size.
    ChunkSize { size: u64, digits: usize },
    /// Skipping chunk extensions up to the CR.
    ChunkExtension { size: u64 },
    /// Expecting the LF that ends a chunk-size line.
    ChunkSizeLf { size: u64 },
    /// Reading chunk data.
    ChunkData { remaining: u64 },
    /// Expecting the CR after chunk data.
    ChunkDataCr,
    /// Expecting the LF after chunk data.
    ChunkDataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerLineStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// Expecting the LF that ends a trailer line.
    TrailerLineLf,
    /// Expecting the LF of the final empty line.
    FinalLf,
    /// The body is complete.
    Done,
}

/// Decodes one request body, counting its data bytes.
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    step: Step,
    limits: BodyLimits,
    received: u64,
    metadata: usize,
}

/// What one call to [`BodyDecoder::decode`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes used; the rest belong to the next request.
    pub consumed: usize,
    /// The body is complete.
    pub done: bool,
}

impl BodyDecoder {
    /// A decoder for a body with the given framing.
    pub fn new(framing: BodyFraming, limits: BodyLimits) -> Self {
        let step = match framing {
            BodyFraming::Empty => Step::Done,
            BodyFraming::Length(n) => Step::Length { remaining: n },
            BodyFraming::Chunked => Step::ChunkSize { size: 0, digits: 0 },
        };
        Self {
            step,
            limits,
            received: 0,
            metadata: 0,
        }
    }

    /// Data bytes received so far (excluding chunk framing).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The body is complete.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// Consumes as much of `input` as belongs to this body.
    pub fn decode(&mut self, input: &[u8]) -> Result<Progress, Reject> {
        let mut pos = 0;
        while pos < input.len() && self.step != Step::Done {
            match self.step {
                Step::Length { remaining } => {
                    let take = remaining.min((input.len() - pos) as u64);
                    self.add_data(take)?;
                    pos += take as usize;
                    self.step = if remaining == take {
                        Step::Done
                    } else {
                        Step::Length {
                            remaining: remaining - take,
                        }
                    };
                }
                Step::ChunkData { remaining } => {
                    let take = remaining.min((input.len() - pos) as u64);
                    pos += take as usize;
                    self.step = if remaining == take {
                        Step::ChunkDataCr
                    } else {
                        Step::ChunkData {
                            remaining: remaining - take,
                        }
                    };
                }
                _ => {
                    let byte = input[pos];
                    pos += 1;
                    self.step_framing_byte(byte)?;
                }
            }
        }
        Ok(Progress {
            consumed: pos,
            done: self.step == Step::Done,
        })
    }

    fn add_data(&mut self, n: u64) -> Result<(), Reject> {
        self.received = self.received.saturating_add(n);
        if self.received > self.limits.max_body {
            return Err(Reject::BodyTooLarge);
        }
        Ok(())
    }

    fn add_metadata(&mut self) -> Result<(), Reject> {
        self.metadata += 1;
        if self.metadata > self.limits.max_metadata {
            return Err(Reject::ChunkMetadataTooLarge);
        }
        Ok(())
    }

    /// One byte of chunk framing: sizes, extensions, CRLFs and trailers.
    fn step_framing_byte(&mut self, byte: u8) -> Result<(), Reject> {
        self.add_metadata()?;
        self.step = match (self.step, byte) {
            (Step::ChunkSize { size, digits }, b) if b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                let size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(Reject::InvalidChunk)?;
                Step::ChunkSize {
                    size,
                    digits: digits + 1,
                }
            }
            // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
            (Step::ChunkSize { size, digits }, b';' | b' ' | b'\t') if digits > 0 => {
                Step::ChunkExtension { size }
            }
            (Step::ChunkSize { size, digits }, b'\r') if digits > 0 => Step::ChunkSizeLf { size },
            (Step::ChunkExtension { size }, b'\r') => Step::ChunkSizeLf { size },
            (Step::ChunkExtension { size }, b) if is_field_byte(b) => Step::ChunkExtension { size },
            (Step::ChunkSizeLf { size: 0 }, b'\n') => Step::TrailerLineStart,
            (Step::ChunkSizeLf { size }, b'\n') => {
                // Refuse an oversized body at its size line, before reading its data.
                if self.received.saturating_add(size) > self.limits.max_body {
                    return Err(Reject::BodyTooLarge);
                }
                self.received += size;
                Step::ChunkData { remaining: size }
            }
            (Step::ChunkDataCr, b'\r') => Step::ChunkDataLf,
            (Step::ChunkDataLf, b'\n') => Step::ChunkSize { size: 0, digits: 0 },
            (Step::TrailerLineStart, b'\r') => Step::FinalLf,
            (Step::TrailerLine, b'\r') => Step::TrailerLineLf,
            (Step::TrailerLineStart | Step::TrailerLine, b) if is_field_byte(b) => {
                Step::TrailerLine
            }
            (Step::TrailerLineLf, b'\n') => Step::TrailerLineStart,
            (Step::FinalLf, b'\n') => Step::Done,
            _ => return Err(Reject::InvalidChunk),
        };
        Ok(())
    }
}

/// Visible characters, space, tab and obs-text: what may appear in a field line.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BodyLimits = BodyLimits {
        max_body: 1 << 20,
        max_metadata: 4096,
    };

    fn decode_all(framing: BodyFraming, input: &[u8]) -> Result<(Progress, u64), Reject> {
        let mut decoder = BodyDecoder::new(framing, LIMITS);
        let progress = decoder.decode(input)?;
        Ok((progress, decoder.received()))
    }

    #[test]
    fn fixed_length_stops_at_its_end() {
        let (p, n) = decode_all(BodyFraming::Length(5), b"helloGET").unwrap();
        assert_eq!((p.consumed, p.done, n), (5, true, 5));
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let body = b"4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\n0\r\nExpires: never\r\n\r\nNEXT";
        let (p, n) = decode_all(BodyFraming::Chunked, body).unwrap();
        assert!(p.done);
        assert_eq!(n, 9);
        assert_eq!(&body[p.consumed..], b"NEXT");
    }

    #[test]
    fn chunked_split_at_every_byte_gives_the_same_result() {
        let body = b"a\r\n0123456789\r\n0\r\nT: v\r\n\r\n";
        let mut decoder = BodyDecoder::new(BodyFraming::Chunked, LIMITS);
        for (i, byte) in body.iter().enumerate() {
            let p = decoder.decode(std::slice::from_ref(byte)).unwrap();
            assert_eq!(p.consumed, 1);
            assert_eq!(p.done, i == body.len() - 1);
        }
        assert_eq!(decoder.received(), 10);
    }

    #[test]
    fn invalid_chunks_are_rejected() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"-1\r\n",
            b"1\nA\r\n",
            b"1\r\nAB",
            b"1\r\nA\rX",
            b"1\r\r\n",
            b"11111111111111111\r\n",
            b"0\r\nbad\x00trailer\r\n\r\n",
        ] {
            assert_eq!(
                decode_all(BodyFraming::Chunked, bad).unwrap_err(),
                Reject::InvalidChunk,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn oversized_bodies_are_refused_early() {
        let limits = BodyLimits {
            max_body: 10,
            max_metadata: 64,
        };
        let mut chunked = BodyDecoder::new(BodyFraming::Chunked, limits);
        assert_eq!(chunked.decode(b"b\r\n").unwrap_err(), Reject::BodyTooLarge);
        let mut long_ext = BodyDecoder::new(BodyFraming::Chunked, limits);
        let ext = format!("1;{}\r\n", "e".repeat(100));
        assert_eq!(
            long_ext.decode(ext.as_bytes()).unwrap_err(),
            Reject::ChunkMetadataTooLarge
        );
    }
}
