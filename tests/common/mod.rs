//! Shared helpers for the integration tests: start the real `reactor` binary on an
//! ephemeral port, talk to it over raw sockets, and parse what comes back.
//!
//! Rule: nothing here knows an HTTP rule of the server under test, except
//! [`assertions`], whose one job is to state those rules. The client side parses
//! responses with httparse and the framing RFC 9112 gives them (Content-Length,
//! chunked, or close-delimited), so a framing bug in the server shows up as a parse
//! failure or a stray byte here, not as a silently "fixed" response.
//!
//! - [`Server`] (`server.rs`): one child process per test, killed on drop; its
//!   stderr is drained into [`Server::logs`] for the whole run, so the pipe never
//!   fills.
//! - [`Client`] (`client.rs`): a `TcpStream` plus a buffer, so pipelined responses
//!   can be read one at a time ([`Client::read_response`]) and the rest kept for the
//!   next call; [`parse_response`], and the request builders [`get`] and [`request`].
//! - [`for_each_model!`] (`models.rs`): turns `fn name(model: &str)` into one named
//!   `#[test]` per concurrency model (`reactor::name`, `threaded::name`, ...,
//!   `pool::name`, `uring::name`). Where the kernel lacks or refuses io_uring, the
//!   uring tests print why and pass without running ([`skip`]); only then.
//! - [`assertions`]: what every response of this server must look like (framing
//!   fields, short text errors), shared by the per-topic suites.
//! - [`process`]: the child-process plumbing (spawn and wait for the listening line,
//!   CPU pinning, rlimits, /proc figures), shared with `examples/experiment` and
//!   `examples/attack`, which include the file with `#[path]`.
//! - [`check!`]: an assertion on a response that prints the whole response.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code, unused_imports)]

pub mod assertions;
mod client;
mod models;
pub mod process;
pub mod seccomp;
mod server;

pub use assertions::{
    assert_short_text_error, assert_well_framed, assert_well_framed_for, echoed_body_length,
};
pub use client::{
    connect, get, parse_response, read_to_close, request, send, Client, Response, IO_TIMEOUT,
};
pub use models::{skip, uring_unavailable, MODELS};
pub use server::{Server, START_TIMEOUT};

/// Asserts a condition on a response, printing the whole response if it fails.
#[macro_export]
macro_rules! check {
    ($response:expr, $cond:expr, $($msg:tt)+) => {{
        let r = &$response;
        assert!(
            $cond,
            "{}\n  response: {} {} {:?}\n  body: {:?}",
            format_args!($($msg)+),
            r.status,
            r.reason,
            r.headers,
            String::from_utf8_lossy(&r.body[..r.body.len().min(500)])
        );
    }};
}
