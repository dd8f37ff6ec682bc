//! One reactor client: a non-blocking socket, its protocol state, and what the loop
//! knows about its readiness.
//!
//! Rule: no parsing and no HTTP decisions. Reads and writes are edge-triggered, so
//! they run until `WouldBlock`, but on a budget: a client that always has more to
//! say gets its turn cut, and is revisited before the loop sleeps again.

use std::io::{self, Read};
use std::net::Shutdown;

use mio::net::TcpStream;
use mio::Interest;

use super::io_util::{interrupted, would_block, write_last_output, write_output};
use super::timers::TimerKey;
use crate::protocol::{Connection, Now};
use crate::stats::Counters;

/// Reads per readiness event before the client yields to the others.
pub const READS_PER_TURN: usize = 4;
/// Writes per readiness event before the client yields to the others.
pub const WRITES_PER_TURN: usize = 8;

/// A connection in the reactor's slab.
pub struct Client {
    /// The slab key (and mio token), for logs.
    pub key: usize,
    pub stream: TcpStream,
    pub conn: Connection,
    /// Tells this connection from an earlier one that had the same slab key.
    pub generation: u64,
    /// Interest currently registered with the poller; `None` until the first time
    /// the connection has to wait (one that is answered and closed on its first
    /// visit is never registered at all).
    pub registered: Option<Interest>,
    /// The last edge said readable and no read has hit `WouldBlock` since.
    pub readable: bool,
    /// The socket had room last time we wrote (a fresh socket does).
    pub writable: bool,
    /// The last event said the peer closed its side: read to EOF, skip no read.
    pub peer_closed_hint: bool,
    /// `shutdown(Write)` was done for a lingering close.
    pub write_shut: bool,
    /// This connection's pending deadline entry in the reactor's timers.
    pub scheduled: Option<TimerKey>,
}

impl Client {
    /// A client for a socket just accepted.
    pub fn new(key: usize, stream: TcpStream, conn: Connection, generation: u64) -> Self {
        Self {
            key,
            stream,
            conn,
            generation,
            registered: None,
            readable: true,
            writable: true,
            peer_closed_hint: false,
            write_shut: false,
            scheduled: None,
        }
    }

    /// Reads into `scratch` and feeds the connection, until `WouldBlock`, EOF,
    /// backpressure or the budget. How it ended is left in `readable`: still set
    /// means the socket may hold more, and the loop comes back before sleeping.
    pub fn read_burst(
        &mut self,
        scratch: &mut [u8],
        now: &Now,
        counters: &Counters,
    ) -> io::Result<()> {
        for _ in 0..READS_PER_TURN {
            if !self.conn.wants_read() {
                return Ok(());
            }
            match self.stream.read(scratch) {
                Ok(0) => {
                    log::trace!("conn {}: read EOF (peer closed its side)", self.key);
                    self.readable = false;
                    self.conn.handle_eof(now);
                    return Ok(());
                }
                Ok(n) => {
                    log::trace!("conn {}: read {n} bytes", self.key);
                    Counters::add(&counters.bytes_in, n as u64);
                    self.conn.handle_bytes(&scratch[..n], now);
                    // A short read took everything the socket held. Bytes arriving
                    // later raise a new edge, so the read that would only say
                    // WouldBlock is skipped: one syscall less per request. Not when
                    // the peer has closed: its FIN raised no edge of its own.
                    if n < scratch.len() && !self.peer_closed_hint {
                        self.readable = false;
                        return Ok(());
                    }
                }
                Err(e) if would_block(&e) => {
                    log::trace!("conn {}: read would block", self.key);
                    self.readable = false;
                    return Ok(());
                }
                Err(e) if interrupted(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes the connection's output until it is empty, `WouldBlock`, or the budget.
    /// A full socket clears `writable`; the WRITABLE edge sets it again.
    pub fn write_burst(&mut self, now: &Now, counters: &Counters) -> io::Result<()> {
        for _ in 0..WRITES_PER_TURN {
            let Some(output) = self.conn.poll_output() else {
                return Ok(());
            };
            // The close follows the last write at once (`Reactor::drive`).
            let written = if self.conn.output_is_last() {
                write_last_output(&mut self.stream, output)
            } else {
                write_output(&mut self.stream, output)
            };
            match written {
                Ok(n) => {
                    log::trace!("conn {}: wrote {n} bytes", self.key);
                    Counters::add(&counters.bytes_out, n as u64);
                    self.conn.consume_output(n, now);
                }
                Err(e) if would_block(&e) => {
                    log::trace!("conn {}: write would block: socket buffer full", self.key);
                    self.writable = false;
                    return Ok(());
                }
                Err(e) if interrupted(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Starts a lingering close: no more output, keep draining input.
    pub fn shut_write(&mut self) {
        if !self.write_shut {
            self.write_shut = true;
            // The peer may already be gone; the close that follows handles that.
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }

    /// The interest the connection's state calls for: always readable (to see the
    /// peer close, even while we wait on a timer), writable only while output waits.
    pub fn wanted_interest(&self) -> Interest {
        if self.conn.wants_write() && !self.write_shut {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    }
}
