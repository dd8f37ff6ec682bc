//! One uring connection: its socket, its protocol state, and which of its operations
//! the kernel holds.
//!
//! Rule: no HTTP decisions, and no memory handed to the kernel except through
//! [`Ring`] (`ops.rs`, `buffers.rs`). A connection has at most one receive and one send
//! or file read in flight; [`Conn::in_flight`] counts them, and the loop frees a
//! connection only when it is zero, so no buffer is freed while the kernel may use it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::buffers::{BufRing, SendBuf};
use super::ops::{Completion, Kind, Ring, Tag};
use crate::protocol::{Connection, Now, Output};
use crate::server::io_util::FILE_CHUNK;
use crate::server::timers::TimerKey;
use crate::stats::Counters;

/// The connection's receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recv {
    /// None in flight.
    Idle,
    /// A receive is armed. One at a time, armed again after each completion only
    /// while the core wants input: that is the backpressure, exact to one buffer.
    /// (A multishot receive would keep filling buffers until cancelled, and a client
    /// that writes without reading could push megabytes in before the cancel.)
    Armed,
}

/// The connection's output operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Send {
    /// None in flight.
    Idle,
    /// A send of the send buffer's unsent bytes.
    Sending,
    /// A read of the next file range into the send buffer.
    ReadingFile,
}

/// A connection in the loop's slab.
pub struct Conn {
    pub fd: OwnedFd,
    pub conn: Connection,
    /// Tells this connection from earlier ones that had the same slab key.
    pub generation: u64,
    pub recv: Recv,
    pub send: Send,
    /// Output on its way to the socket, while there is some; back to the pool after.
    pub buf: Option<SendBuf>,
    /// `shutdown(Write)` was done for a lingering close.
    pub write_shut: bool,
    /// Being closed: no new operations; freed once `in_flight` is zero.
    pub closing: bool,
    /// The cancellation of its operations was submitted.
    pub cancelled: bool,
    /// This connection's pending deadline entry in the loop's timers.
    pub scheduled: Option<TimerKey>,
    /// The last receive left the socket empty: the next one waits before trying.
    socket_empty: bool,
}

impl Conn {
    pub fn new(fd: OwnedFd, conn: Connection, generation: u64) -> Conn {
        Conn {
            fd,
            conn,
            generation,
            recv: Recv::Idle,
            send: Send::Idle,
            buf: None,
            write_shut: false,
            closing: false,
            cancelled: false,
            scheduled: None,
            // A new connection's request is usually there already.
            socket_empty: false,
        }
    }

    /// Operations the kernel holds for this connection.
    pub fn in_flight(&self) -> usize {
        usize::from(self.recv != Recv::Idle) + usize::from(self.send != Send::Idle)
    }

    fn tag(&self, kind: Kind, key: usize) -> Tag {
        Tag::new(kind, key, self.generation)
    }

    /// Asks the kernel to cancel each operation it holds for this connection, by its
    /// tag. Not by descriptor: the kernel finds a descriptor's operations by walking
    /// every armed operation of the ring, so with 10 000 idle connections timing out
    /// together it closed a few dozen a second (`idle` in docs/hostile-clients.md);
    /// a tag is found through a hash.
    pub fn cancel_in_flight(&self, key: usize, ring: &mut Ring) -> io::Result<()> {
        if self.recv == Recv::Armed {
            ring.cancel(self.tag(Kind::Recv, key))?;
        }
        match self.send {
            Send::Idle => Ok(()),
            Send::Sending => ring.cancel(self.tag(Kind::Send, key)),
            Send::ReadingFile => ring.cancel(self.tag(Kind::FileRead, key)),
        }
    }

    /// Brings the operations in flight in line with what the connection wants: a
    /// receive armed while it wants input (and cancelled when backpressure says
    /// stop), and a send (or file read) while it has output.
    pub fn sync(&mut self, key: usize, ring: &mut Ring, pool: &mut Vec<SendBuf>) -> io::Result<()> {
        if self.closing {
            return Ok(());
        }
        let fd = self.fd.as_raw_fd();
        if self.recv == Recv::Idle && self.conn.wants_read() {
            ring.recv(fd, self.tag(Kind::Recv, key), self.socket_empty)?;
            self.recv = Recv::Armed;
        }
        if self.send != Send::Idle || self.write_shut {
            return Ok(());
        }
        let buf = self
            .buf
            .get_or_insert_with(|| pool.pop().unwrap_or_default());
        if buf.unsent() > 0 {
            // The rest of a short send, or a file range just read.
            ring.send(fd, buf, Tag::new(Kind::Send, key, self.generation))?;
            self.send = Send::Sending;
            return Ok(());
        }
        match self.conn.poll_output() {
            Some(Output::Bytes(bytes)) => {
                // Copied: the core may grow (and move) its output while the kernel
                // reads ours. Responses are small; one copy costs less than a wait.
                buf.fill(&bytes[..bytes.len().min(SEND_CHUNK)]);
                ring.send(fd, buf, Tag::new(Kind::Send, key, self.generation))?;
                self.send = Send::Sending;
            }
            Some(Output::File { file, offset, len }) => {
                let len = len.min(FILE_CHUNK) as usize;
                let tag = Tag::new(Kind::FileRead, key, self.generation);
                ring.read_file(file.as_raw_fd(), offset, len, buf, tag)?;
                self.send = Send::ReadingFile;
            }
            None => {
                if let Some(buf) = self.buf.take() {
                    give_to_pool(pool, buf);
                }
            }
        }
        Ok(())
    }

    /// A completion of this connection's receive. The buffer it names goes back to
    /// the kernel before this returns, whatever happens to the connection.
    pub fn on_recv(
        &mut self,
        key: usize,
        cqe: &Completion,
        bufs: &mut BufRing,
        now: &Now,
        counters: &Counters,
    ) -> io::Result<()> {
        self.recv = Recv::Idle;
        self.socket_empty = !cqe.socket_nonempty();
        if let Some(bid) = cqe.buffer() {
            let n = cqe.bytes().unwrap_or(0);
            let bytes = bufs.received(bid, n);
            log::trace!("conn {key}: received {n} bytes");
            Counters::add(&counters.bytes_in, n as u64);
            self.conn.handle_bytes(bytes, now);
            bufs.give_back(bid);
            return Ok(());
        }
        match cqe.bytes() {
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                self.socket_empty = false;
                log::trace!("conn {key}: no receive buffer free");
                Ok(())
            }
            Ok(0) => {
                log::trace!("conn {key}: received EOF (peer closed its side)");
                self.conn.handle_eof(now);
                Ok(())
            }
            Ok(_) => Ok(()),
            // Cancelled: the connection is closing.
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {
                log::trace!("conn {key}: receive ended: {e}");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A completion of this connection's send or file read.
    pub fn on_output(
        &mut self,
        key: usize,
        tag: Tag,
        cqe: &Completion,
        ring: &mut Ring,
        now: &Now,
        counters: &Counters,
    ) -> io::Result<()> {
        self.send = Send::Idle;
        let Some(buf) = &mut self.buf else {
            unreachable!("conn {key}: an output completion without a send buffer");
        };
        ring.check_returned(tag, buf.lent_at());
        let result = cqe.bytes();
        match tag.kind {
            Kind::FileRead => {
                buf.filled(tag, *result.as_ref().unwrap_or(&0));
                match result {
                    // A file that shrank after its Content-Length was sent can never
                    // be finished: closing is the only honest answer.
                    Ok(0) => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file was truncated while being sent",
                    )),
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            _ => {
                let n = *result.as_ref().unwrap_or(&0);
                buf.sent(tag, n);
                let n = result?;
                log::trace!("conn {key}: sent {n} bytes");
                Counters::add(&counters.bytes_out, n as u64);
                self.conn.consume_output(n, now);
                Ok(())
            }
        }
    }

    /// Starts a lingering close: no more output, keep draining input.
    pub fn shut_write(&mut self) {
        if !self.write_shut {
            self.write_shut = true;
            // The peer may already be gone; the close that follows handles that.
            let _ = socket2::SockRef::from(&self.fd).shutdown(std::net::Shutdown::Write);
        }
    }
}

/// Most output bytes copied for one send: the copy is memory the reactor does not
/// spend, so it stays small beside the core's own output limit.
const SEND_CHUNK: usize = 64 * 1024;

/// Send buffers kept for reuse, at most...
const POOL_MAX: usize = 1024;

/// Keeps `buf` for the next send, unless the pool is full or the buffer grew large
/// (a file chunk): those are freed, so a burst of downloads does not stay resident.
/// Whatever it held is forgotten first.
pub fn give_to_pool(pool: &mut Vec<SendBuf>, mut buf: SendBuf) {
    if !buf.is_lent() && pool.len() < POOL_MAX && buf.capacity() <= SEND_CHUNK {
        buf.clear();
        pool.push(buf);
    }
}
