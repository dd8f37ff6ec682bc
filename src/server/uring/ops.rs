//! The uring model's contact with the kernel: operation tags, the ring and the
//! submissions the loop makes, and the start-up probe.
//!
//! Rule: every `unsafe` of the uring model is in this file and `buffers.rs`, and each
//! one names the invariant that keeps the memory an SQE points at alive until its CQE
//! arrives: a receive names only buffers of the [`BufRing`], which lives as long as the
//! ring and is unregistered before it is freed; a send or file read names a lent
//! [`SendBuf`], which refuses every change while lent and leaks rather than frees if
//! dropped.
//!
//! In debug builds (the test suite's binary) a ledger checks at every CQE that the
//! buffer it names is the one lent, at the same address, and panics otherwise.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use io_uring::types::{CancelBuilder, Fd, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring, Probe};

use super::buffers::{BufRing, SendBuf};
pub use super::unavailable::Unavailable;
/// The provided-buffer group every receive draws from.
const BUF_GROUP: u16 = 0;
/// Receive buffers in the ring (a power of two, as the kernel requires): more than
/// the connections whose receives complete in one turn, usually (when they run out,
/// a receive ends with ENOBUFS and is armed again the next turn)...
pub const RECV_BUFFERS: u16 = 128;
/// ...and the size of each. The kernel takes them in ring order, so all of them
/// become resident: 128 x 4 KiB = 512 KiB. A receive takes at most one buffer, which
/// also bounds what a connection reads past the point where it asked to stop.
pub const RECV_BUFFER_SIZE: usize = 4 * 1024;

// ---- user_data ---------------------------------------------------------------------

/// What an operation was for, in the top byte of its `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The multishot accept on the listener.
    Accept = 1,
    /// The multishot poll on a signal pipe.
    Signal,
    /// A connection's multishot receive.
    Recv,
    /// A connection's send of its output.
    Send,
    /// A connection's read of a file range into its send buffer.
    FileRead,
    /// A cancellation (its own completion carries nothing we need).
    Cancel,
    /// The close of a connection's socket, after its last operation ended.
    Close,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        [
            Kind::Accept,
            Kind::Signal,
            Kind::Recv,
            Kind::Send,
            Kind::FileRead,
            Kind::Cancel,
            Kind::Close,
        ]
        .into_iter()
        .find(|k| *k as u8 == byte)
    }
}

/// `IORING_RECVSEND_POLL_FIRST` of `<linux/io_uring.h>` (the crate keeps its copy
/// private): a receive's `ioprio` flag, "wait for data before the first attempt".
const IORING_RECVSEND_POLL_FIRST: u16 = 1;

/// Bits of a connection's generation kept in `user_data`.
const GENERATION_BITS: u32 = 24;

/// An operation's `user_data`: (kind, slab key, generation). The generation tells a
/// completion for an earlier connection with the same key from one for the current
/// one, so a stale completion is ignored rather than delivered to the wrong client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub kind: Kind,
    pub key: u32,
    /// The low [`GENERATION_BITS`] of the connection's generation.
    pub generation: u32,
}

impl Tag {
    /// The tag of `kind` for connection `key` of generation `generation`.
    pub fn new(kind: Kind, key: usize, generation: u64) -> Tag {
        Tag {
            kind,
            key: key as u32,
            generation: (generation & ((1 << GENERATION_BITS) - 1)) as u32,
        }
    }

    /// A tag that belongs to no connection.
    pub fn fixed(kind: Kind) -> Tag {
        Tag {
            kind,
            key: 0,
            generation: 0,
        }
    }

    /// Whether this tag names generation `generation` of its key.
    pub fn is_for(&self, generation: u64) -> bool {
        self.generation == Tag::new(self.kind, 0, generation).generation
    }

    pub fn encode(self) -> u64 {
        (self.kind as u64) << 56 | u64::from(self.generation) << 32 | u64::from(self.key)
    }

    pub fn decode(user_data: u64) -> Option<Tag> {
        Some(Tag {
            kind: Kind::from_byte((user_data >> 56) as u8)?,
            generation: ((user_data >> 32) & ((1 << GENERATION_BITS) - 1)) as u32,
            key: user_data as u32,
        })
    }
}

/// One completion, copied out of the completion queue.
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    pub user_data: u64,
    pub result: i32,
    pub flags: u32,
}

impl Completion {
    /// The socket held more data than this receive took.
    pub fn socket_nonempty(&self) -> bool {
        cqueue::sock_nonempty(self.flags)
    }

    /// More completions will follow for the same operation (multishot).
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The provided buffer the kernel received into, if any.
    pub fn buffer(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }

    /// The result as bytes transferred, or the error it reports.
    pub fn bytes(&self) -> io::Result<usize> {
        if self.result < 0 {
            Err(io::Error::from_raw_os_error(-self.result))
        } else {
            Ok(self.result as usize)
        }
    }
}

pub fn probe() -> Result<(), Unavailable> {
    Ring::new(8).map(drop)
}

// ---- the ring ----------------------------------------------------------------------

/// The io_uring instance and the receive buffers registered with it.
///
/// Field order matters: `ring` is dropped (after [`Drop`] unregistered the buffer
/// group) before `bufs` frees the memory.
pub struct Ring {
    ring: IoUring,
    pub bufs: BufRing,
    /// Completions taken from the queue by the last [`Ring::wait`].
    done: Vec<Completion>,
    /// Debug builds: what each operation in flight was lent (address, length).
    #[cfg(debug_assertions)]
    ledger: std::collections::HashMap<u64, (usize, usize)>,
}

impl Ring {
    /// A ring with `entries` submission slots and [`RECV_BUFFERS`] receive buffers.
    pub fn new(entries: u32) -> Result<Ring, Unavailable> {
        let ring = IoUring::builder()
            // Only this thread submits, and completions' task work runs only when it
            // waits: no interrupts of the loop, no locking in the kernel.
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_submit_all()
            .setup_cqsize(entries * 2)
            .build(entries)
            .map_err(Unavailable::from_setup)?;
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|_| Unavailable::TooOld("IORING_REGISTER_PROBE (Linux 5.6)"))?;
        let needed = [
            (opcode::Accept::CODE, "ACCEPT"),
            (opcode::Recv::CODE, "RECV"),
            (opcode::Send::CODE, "SEND"),
            (opcode::Read::CODE, "READ"),
            (opcode::PollAdd::CODE, "POLL_ADD"),
            (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
            (opcode::Close::CODE, "CLOSE"),
        ];
        let missing: Vec<&'static str> = needed
            .iter()
            .filter(|(code, _)| !probe.is_supported(*code))
            .map(|(_, name)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(Unavailable::MissingOps(missing));
        }
        let bufs = BufRing::new(RECV_BUFFERS, RECV_BUFFER_SIZE);
        // SAFETY: `bufs.entries` points at RECV_BUFFERS page-aligned entries that
        // `bufs` owns; it is freed only after `Ring::drop` unregistered the group (or
        // the ring failed to build it, below, when `bufs` was never registered).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                bufs.entries as u64,
                bufs.count,
                BUF_GROUP,
                0,
            )
        }
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EINVAL) => {
                Unavailable::TooOld("provided-buffer rings (IORING_REGISTER_PBUF_RING, Linux 5.19)")
            }
            _ => Unavailable::Other(e),
        })?;
        let mut ring = Ring {
            ring,
            bufs,
            done: Vec::with_capacity(entries as usize * 2),
            #[cfg(debug_assertions)]
            ledger: Default::default(),
        };
        ring.bufs.registered = true;
        ring.bufs.publish();
        Ok(ring)
    }

    /// Queues one entry, flushing the queue to the kernel first if it is full.
    ///
    /// # Safety
    /// Every pointer in `entry` must stay valid (not freed, not moved, and for a read
    /// into it, not otherwise accessed) until the completion carrying its user_data
    /// without the MORE flag has been taken from [`Ring::wait`].
    unsafe fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: passed on from this function's contract.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            // Full: the kernel copies the queued entries when they are submitted.
            self.ring.submit()?;
        }
    }

    /// [`Ring::push`] for an operation lent `len` bytes at `addr`, with the debug
    /// ledger kept in step: recorded as lent, and forgotten again if the push fails
    /// (the caller then takes its buffer back).
    ///
    /// # Safety
    /// As for [`Ring::push`].
    unsafe fn push_lent(
        &mut self,
        entry: squeue::Entry,
        tag: Tag,
        addr: usize,
        len: usize,
    ) -> io::Result<()> {
        self.record(tag, addr, len);
        // SAFETY: passed on from this function's contract.
        unsafe { self.push(entry) }.inspect_err(|_| self.forget(tag))
    }

    /// Arms the multishot accept on `listener`.
    pub fn accept(&mut self, listener: RawFd) -> io::Result<()> {
        let entry = opcode::AcceptMulti::new(Fd(listener))
            .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .build()
            .user_data(Tag::fixed(Kind::Accept).encode());
        // SAFETY: a multishot accept without an address names no memory of ours.
        unsafe { self.push(entry) }
    }

    /// Arms a multishot poll for readability on `fd` (a signal pipe).
    pub fn poll_readable(&mut self, fd: RawFd, tag: Tag) -> io::Result<()> {
        let entry = opcode::PollAdd::new(Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(tag.encode());
        // SAFETY: a poll names no memory of ours.
        unsafe { self.push(entry) }
    }

    /// Arms one receive on `fd` into a provided buffer. `poll_first`: the socket
    /// was empty at the last receive, so skip the attempt that would only find it
    /// empty again and wait for data at once.
    pub fn recv(&mut self, fd: RawFd, tag: Tag, poll_first: bool) -> io::Result<()> {
        let ioprio = if poll_first {
            IORING_RECVSEND_POLL_FIRST
        } else {
            0
        };
        let entry = opcode::Recv::new(Fd(fd), std::ptr::null_mut(), RECV_BUFFER_SIZE as u32)
            .buf_group(BUF_GROUP)
            .ioprio(ioprio)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)
            .user_data(tag.encode());
        // SAFETY: the receive writes only into a buffer of `self.bufs`, which lives as
        // long as the ring and is unregistered before it is freed (`Ring::drop`).
        unsafe { self.push(entry) }
    }

    /// Sends `buf`'s unsent bytes on `fd`, lending them to the kernel until the
    /// completion for `tag` arrives (then call [`SendBuf::sent`]).
    pub fn send(&mut self, fd: RawFd, buf: &mut SendBuf, tag: Tag) -> io::Result<()> {
        let (ptr, len) = buf.lend_unsent(tag);
        let entry = opcode::Send::new(Fd(fd), ptr, len as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(tag.encode());
        // SAFETY: `buf` is now lent: until `sent` is called with this completion,
        // every method that could change or free its bytes refuses, and dropping it
        // leaks them (`SendBuf::drop`). So `ptr..ptr+len` stays valid and unchanged.
        unsafe { self.push_lent(entry, tag, ptr as usize, len) }.inspect_err(|_| buf.sent(tag, 0))
    }

    /// Reads `len` bytes of `file` at `offset` into `buf`, lending it to the kernel
    /// until the completion for `tag` arrives (then call [`SendBuf::filled`]).
    pub fn read_file(
        &mut self,
        file: RawFd,
        offset: u64,
        len: usize,
        buf: &mut SendBuf,
        tag: Tag,
    ) -> io::Result<()> {
        let ptr = buf.lend_for_read(len, tag);
        let entry = opcode::Read::new(Fd(file), ptr, len as u32)
            .offset(offset)
            .build()
            .user_data(tag.encode());
        // SAFETY: as for `send`: the lent buffer keeps `ptr..ptr+len` allocated and
        // untouched by us until `filled` takes the completion; the file descriptor is
        // the connection's file body, which outlives the read (the kernel also holds
        // its own reference once the read is issued).
        unsafe { self.push_lent(entry, tag, ptr as usize, len) }.inspect_err(|_| buf.filled(tag, 0))
    }

    /// Cancels the operation tagged `tag`.
    pub fn cancel(&mut self, tag: Tag) -> io::Result<()> {
        let entry = opcode::AsyncCancel::new(tag.encode())
            .build()
            .user_data(Tag::fixed(Kind::Cancel).encode());
        // SAFETY: a cancellation names no memory of ours.
        unsafe { self.push(entry) }
    }

    /// Cancels everything in flight (the loop is giving up at the drain deadline).
    pub fn cancel_all(&mut self) -> io::Result<()> {
        let entry = opcode::AsyncCancel2::new(CancelBuilder::any())
            .build()
            .user_data(Tag::fixed(Kind::Cancel).encode());
        // SAFETY: a cancellation names no memory of ours.
        unsafe { self.push(entry) }
    }

    /// Closes `fd` in the ring, at the next submit. The caller gives up the
    /// descriptor: nothing may use the number afterwards.
    pub fn close(&mut self, fd: RawFd) -> io::Result<()> {
        let entry = opcode::Close::new(Fd(fd))
            .build()
            .user_data(Tag::fixed(Kind::Close).encode());
        // SAFETY: a close names no memory of ours.
        unsafe { self.push(entry) }
    }

    /// Submits everything queued and waits for at least one completion, or until
    /// `timeout` (`None`: no limit): one `io_uring_enter`. Returns the completions.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Vec<Completion>> {
        let result = match timeout {
            Some(t) => {
                let ts = Timespec::new().sec(t.as_secs()).nsec(t.subsec_nanos());
                let args = SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submitter().submit_and_wait(1),
        };
        match result {
            Ok(_) => {}
            // The timeout passed, or a signal arrived: both are ordinary wake-ups.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            // The completion queue is full: take what is there first.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => return Err(e),
        }
        let mut done = std::mem::take(&mut self.done);
        done.clear();
        done.extend(self.ring.completion().map(|cqe| Completion {
            user_data: cqe.user_data(),
            result: cqe.result(),
            flags: cqe.flags(),
        }));
        Ok(done)
    }

    /// Submits what is queued without waiting (the closes, at exit).
    pub fn flush(&mut self) -> io::Result<()> {
        self.ring.submit().map(drop)
    }

    /// Gives back the vector [`Ring::wait`] returned, so the next wait reuses it.
    pub fn recycle(&mut self, done: Vec<Completion>) {
        self.done = done;
    }

    /// Debug builds: notes what an operation was lent.
    fn record(&mut self, _tag: Tag, _addr: usize, _len: usize) {
        #[cfg(debug_assertions)]
        {
            let previous = self.ledger.insert(_tag.encode(), (_addr, _len));
            assert!(previous.is_none(), "two operations in flight as {_tag:?}");
        }
    }

    fn forget(&mut self, _tag: Tag) {
        #[cfg(debug_assertions)]
        self.ledger.remove(&_tag.encode());
    }

    /// Debug builds: checks that the completion for `tag` names the memory its
    /// operation was lent, and that `owner_addr` (the buffer the connection still
    /// holds) is that memory. A buffer freed or moved while lent fails here.
    pub fn check_returned(&mut self, _tag: Tag, _owner_addr: Option<usize>) {
        #[cfg(debug_assertions)]
        {
            let lent = self.ledger.remove(&_tag.encode());
            let (addr, _) =
                lent.unwrap_or_else(|| panic!("completion for {_tag:?}, which was lent nothing"));
            assert_eq!(
                Some(addr),
                _owner_addr,
                "completion for {_tag:?}: the buffer lent at {addr:#x} is no longer where its owner holds it"
            );
        }
    }

    /// Operations whose buffers are still lent (debug builds; 0 otherwise).
    pub fn lent(&self) -> usize {
        #[cfg(debug_assertions)]
        return self.ledger.len();
        #[cfg(not(debug_assertions))]
        return 0;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // After this the kernel takes no buffer from the group, so `bufs` may free.
        if self.ring.submitter().unregister_buf_ring(BUF_GROUP).is_ok() {
            self.bufs.registered = false;
        }
    }
}

/// The descriptor an accept completion carries, now ours to close.
pub fn accepted(cqe: &Completion) -> OwnedFd {
    assert!(cqe.result >= 0, "not an accepted descriptor");
    own(cqe.result)
}

/// Takes ownership of a descriptor nothing else owns.
pub fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass descriptors no other owner holds: one an accept just
    // created, or one taken out of its `OwnedFd` by `into_raw_fd` and not yet closed.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_generations_wrap() {
        for kind in [
            Kind::Accept,
            Kind::Recv,
            Kind::Send,
            Kind::FileRead,
            Kind::Close,
        ] {
            let tag = Tag::new(kind, 12_345, 7);
            assert_eq!(Tag::decode(tag.encode()), Some(tag));
        }
        let old = Tag::new(Kind::Recv, 3, 1);
        assert!(old.is_for(1));
        assert!(
            !old.is_for(2),
            "the next connection on key 3 is not the old one"
        );
        // Only the low bits are kept: a generation 2^24 later looks the same, which is
        // why the loop never frees a key with operations in flight (the tag is a
        // second line of defence, not the first).
        assert!(old.is_for(1 + (1 << GENERATION_BITS)));
        assert_eq!(Tag::decode(0), None, "user_data 0 is no tag");
    }

    /// The ring hands buffers over and takes them back; each CQE's buffer is
    /// the memory the kernel wrote. Skips (saying so) where io_uring is unavailable.
    #[test]
    fn received_bytes_are_read_from_the_buffer_the_kernel_named() {
        let mut ring = match Ring::new(8) {
            Ok(ring) => ring,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        };
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        use std::io::Write;
        use std::os::fd::AsRawFd;
        (&a).write_all(b"ping").unwrap();
        let tag = Tag::new(Kind::Recv, 0, 1);
        ring.recv(b.as_raw_fd(), tag, false).unwrap();
        let done = ring.wait(Some(Duration::from_secs(5))).unwrap();
        let cqe = done
            .iter()
            .find(|c| c.user_data == tag.encode())
            .expect("a receive");
        let bid = cqe.buffer().expect("a provided buffer");
        assert_eq!(ring.bufs.received(bid, cqe.bytes().unwrap()), b"ping");
        assert_eq!(ring.bufs.held(), 1);
        ring.bufs.give_back(bid);
        ring.bufs.publish();
        assert_eq!(ring.bufs.held(), 0);
        ring.recycle(done);
        // A receive armed on an empty socket ends when cancelled, without a buffer.
        ring.recv(b.as_raw_fd(), tag, true).unwrap();
        ring.cancel(tag).unwrap();
        let done = ring.wait(Some(Duration::from_secs(5))).unwrap();
        let cqe = done
            .iter()
            .find(|c| c.user_data == tag.encode())
            .expect("the receive ends");
        assert_eq!(cqe.result, -libc::ECANCELED);
        assert_eq!(cqe.buffer(), None);
    }
}
