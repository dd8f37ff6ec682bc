//! The sans-I/O HTTP/1.1 core: bytes in, requests out, responses to bytes.
//!
//! ```text
//!  socket bytes ──handle_bytes──▶ Connection ──next_request(|req| ...)──▶ routes::route
//!                                   │  ▲        (req borrows the input)           │
//!  socket ◀──poll_output/consume────┘  └──────────── respond(seq, Response) ◀─────┘
//! ```
//!
//! Rule: nothing under `protocol/` opens a socket or a file, starts a thread, or reads
//! the clock. Drivers pass time in as [`date::Now`], so the reactor, a blocking
//! thread and a unit test drive a [`Connection`] the same way.

pub mod body;
pub mod conditional;
pub mod connection;
pub mod date;
pub mod host;
pub mod range;
pub mod reject;
pub mod request;
pub mod response;

pub use connection::{Connection, Output, Phase, Request, Settings};
pub use date::{DateCache, Now};
pub use reject::Reject;
pub use request::{Method, RequestHead, Version};
pub use response::{Body, FileBody, HeaderValue, PartsBody, Piece, Response, SharedBytes};
