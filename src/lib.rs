//! `reactor`: a small HTTP/1.1 server on a hand-rolled, single-threaded event loop,
//! with the tutorial's thread-per-connection and iterative designs on the same core.
//!
//! The architecture, one module per layer:
//!
//! - [`protocol`]: sans-I/O HTTP/1.1. A [`protocol::Connection`] takes bytes and
//!   time in, gives requests and response bytes out. No sockets, threads or clock.
//! - [`routes`]: plain functions from a request to a response (or a response due
//!   later, for `/delay`). The only code that opens files.
//! - [`server`]: the I/O drivers. `reactor` (one thread, mio/epoll), `uring` (one
//!   thread, io_uring), `threaded` (a thread per connection), `pool` (a fixed set of
//!   threads) and `iterative` (one client at a time) differ only in who waits for
//!   what (the table in [`server`]); none of them makes an HTTP decision.
//! - [`config`] and [`stats`]: plain data shared by all of the above.
//!
//! Rule: `protocol` never sees a socket, a clock or a thread; `server` never makes
//! an HTTP decision.

// An `unsafe fn` states a contract; each unsafe operation inside it still needs its
// own block and SAFETY comment.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cli;
pub mod config;
pub mod protocol;
pub mod routes;
pub mod server;
pub mod stats;
