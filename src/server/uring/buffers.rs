//! The memory the kernel reads and writes for the uring loop: the provided-buffer
//! ring it receives into, and the send buffers it sends from (or reads files into).
//!
//! Rule: nothing here is freed or changed while the kernel may use it. A receive
//! buffer named by a completion is ours until [`BufRing::give_back`]; the rest are the
//! kernel's, and the memory is freed only once the ring no longer has it registered.
//! A [`SendBuf`] lent to an operation refuses every change, and dropped while lent it
//! leaks its memory instead of freeing it.

use std::alloc::{self, Layout};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

use super::ops::Tag;

/// The provided-buffer ring: `count` buffers of `size` bytes the kernel receives
/// into, and the ring of entries through which they are handed over. A buffer named
/// by a completion is ours until [`BufRing::give_back`] returns it to the kernel.
pub struct BufRing {
    pub(super) entries: *mut BufRingEntry,
    memory: *mut u8,
    pub(super) count: u16,
    size: usize,
    /// Our copy of the ring's tail: entries up to it are the kernel's.
    tail: u16,
    /// Registered with a ring: the kernel may write into `memory` any time.
    pub(super) registered: bool,
    /// Debug builds: which buffers a completion handed to us.
    #[cfg(debug_assertions)]
    ours: Vec<bool>,
}

impl BufRing {
    pub(super) fn new(count: u16, size: usize) -> BufRing {
        assert!(count.is_power_of_two());
        let entries_layout = Self::entries_layout(count);
        let memory_layout = Self::memory_layout(count, size);
        // SAFETY: both layouts have a non-zero size. The memory lives until `drop`,
        // which frees it only once the kernel no longer has it registered.
        let (entries, memory) = unsafe {
            (
                alloc::alloc_zeroed(entries_layout).cast::<BufRingEntry>(),
                alloc::alloc(memory_layout),
            )
        };
        if entries.is_null() || memory.is_null() {
            alloc::handle_alloc_error(memory_layout);
        }
        let mut ring = BufRing {
            entries,
            memory,
            count,
            size,
            tail: 0,
            registered: false,
            #[cfg(debug_assertions)]
            ours: vec![true; count as usize],
        };
        for bid in 0..count {
            ring.give_back(bid);
        }
        ring
    }

    fn entries_layout(count: u16) -> Layout {
        // The kernel wants the entries page-aligned.
        Layout::from_size_align(usize::from(count) * size_of::<BufRingEntry>(), 4096)
            .expect("buffer ring layout")
    }

    fn memory_layout(count: u16, size: usize) -> Layout {
        Layout::from_size_align(usize::from(count) * size, 64).expect("buffer memory layout")
    }

    /// The `len` bytes the kernel received into buffer `bid`. Ours until
    /// [`BufRing::give_back`].
    pub fn received(&mut self, bid: u16, len: usize) -> &[u8] {
        assert!(
            bid < self.count && len <= self.size,
            "buffer {bid}, {len} bytes"
        );
        #[cfg(debug_assertions)]
        {
            assert!(!self.ours[bid as usize], "buffer {bid} handed over twice");
            self.ours[bid as usize] = true;
        }
        // SAFETY: `bid` is in range, so the slice lies inside `memory`; the completion
        // that named `bid` handed the buffer to us, and the kernel writes into a
        // buffer only after `give_back` returns it, which needs `&mut self` and so
        // ends this borrow first.
        unsafe { std::slice::from_raw_parts(self.memory.add(usize::from(bid) * self.size), len) }
    }

    /// Returns buffer `bid` to the kernel (visible to it at the next [`publish`]).
    ///
    /// [`publish`]: BufRing::publish
    pub fn give_back(&mut self, bid: u16) {
        #[cfg(debug_assertions)]
        {
            assert!(self.ours[bid as usize], "buffer {bid} given back twice");
            self.ours[bid as usize] = false;
        }
        let slot = usize::from(self.tail & (self.count - 1));
        // SAFETY: `slot < count`, so the entry lies inside `entries`; entries past the
        // published tail are not read by the kernel, so writing this one races
        // nothing. The address is buffer `bid` inside `memory`.
        unsafe {
            let entry = &mut *self.entries.add(slot);
            entry.set_addr(self.memory.add(usize::from(bid) * self.size) as u64);
            entry.set_len(self.size as u32);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers given back visible to the kernel: one release store of the
    /// tail, once per loop turn.
    pub fn publish(&mut self) {
        // SAFETY: `entries` is the ring's first entry, as `tail` requires; the tail
        // field is a u16 the kernel reads atomically, so we write it as an atomic.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast_mut();
            (*tail.cast::<AtomicU16>()).store(self.tail, Ordering::Release);
        }
    }

    /// Buffers a completion handed to us and not given back (debug builds; else 0).
    pub fn held(&self) -> usize {
        #[cfg(debug_assertions)]
        return self.ours.iter().filter(|o| **o).count();
        #[cfg(not(debug_assertions))]
        return 0;
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.registered {
            // Still registered (unregistering failed): the kernel could write into
            // the memory, so it is leaked rather than freed.
            log::error!("receive buffers still registered at exit; leaking them");
            return;
        }
        // SAFETY: allocated in `new` with these layouts, and no longer registered.
        unsafe {
            alloc::dealloc(self.entries.cast(), Self::entries_layout(self.count));
            alloc::dealloc(self.memory, Self::memory_layout(self.count, self.size));
        }
    }
}

// ---- send buffers ------------------------------------------------------------------

/// Bytes taken from a connection's output (copied, or read from its file), on their
/// way to the socket. While *lent* to the kernel nothing may change or free them.
#[derive(Debug, Default)]
pub struct SendBuf {
    bytes: Vec<u8>,
    /// Bytes before this were sent.
    start: usize,
    /// The operation the bytes are lent to, if any.
    lent: Option<Tag>,
}

impl SendBuf {
    /// Replaces the content with `bytes` (the buffer must not be lent).
    pub fn fill(&mut self, bytes: &[u8]) {
        assert!(self.lent.is_none(), "filling a lent send buffer");
        self.bytes.clear();
        self.bytes.extend_from_slice(bytes);
        self.start = 0;
    }

    /// Forgets the content (a buffer going back to the pool: what a closed
    /// connection left unsent must never reach the next one).
    pub fn clear(&mut self) {
        self.fill(&[]);
    }

    /// Bytes taken from the output and not yet sent.
    pub fn unsent(&self) -> usize {
        self.bytes.len() - self.start
    }

    /// Lent to an operation in flight.
    pub fn is_lent(&self) -> bool {
        self.lent.is_some()
    }

    /// Where the bytes lent to the kernel start, while they are lent (for the ledger).
    pub fn lent_at(&self) -> Option<usize> {
        self.lent.map(|_| self.bytes.as_ptr() as usize + self.start)
    }

    pub(super) fn lend_unsent(&mut self, tag: Tag) -> (*const u8, usize) {
        assert!(
            self.lent.is_none() && self.unsent() > 0,
            "lending a send buffer twice"
        );
        self.lent = Some(tag);
        (self.bytes[self.start..].as_ptr(), self.unsent())
    }

    pub(super) fn lend_for_read(&mut self, len: usize, tag: Tag) -> *mut u8 {
        assert!(self.lent.is_none(), "lending a send buffer twice");
        self.bytes.clear();
        self.bytes.resize(len, 0);
        self.start = 0;
        self.lent = Some(tag);
        self.bytes.as_mut_ptr()
    }

    /// The send tagged `tag` completed, having sent `n` bytes (0 on error).
    pub fn sent(&mut self, tag: Tag, n: usize) {
        assert_eq!(
            self.lent,
            Some(tag),
            "completion for a send this buffer was not lent to"
        );
        self.lent = None;
        self.start = (self.start + n).min(self.bytes.len());
    }

    /// The file read tagged `tag` completed with `n` bytes read (0 on error or at
    /// the end of the file): those are now the unsent bytes.
    pub fn filled(&mut self, tag: Tag, n: usize) {
        assert_eq!(
            self.lent,
            Some(tag),
            "completion for a read this buffer was not lent to"
        );
        self.lent = None;
        self.bytes.truncate(n);
        self.start = 0;
    }

    /// Room kept by a buffer going back to the pool.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
}

impl Drop for SendBuf {
    fn drop(&mut self) {
        if let Some(tag) = self.lent {
            // The kernel may still read (or, for a file read, write) these bytes:
            // never free them. The loop waits for every completion before dropping a
            // connection, so this happens only when it gave up at exit.
            log::error!("send buffer dropped while lent to {tag:?}; leaking it");
            std::mem::forget(std::mem::take(&mut self.bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::ops::Kind;
    #[test]
    fn a_lent_send_buffer_refuses_changes_and_is_never_freed() {
        let tag = Tag::new(Kind::Send, 1, 1);
        let mut buf = SendBuf::default();
        buf.fill(b"hello");
        let (ptr, len) = buf.lend_unsent(tag);
        assert_eq!((Some(ptr as usize), len), (buf.lent_at(), 5));
        let refill = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| buf.fill(b"x")));
        assert!(refill.is_err(), "a lent buffer cannot be refilled");
        buf.sent(tag, 2);
        assert_eq!(buf.unsent(), 3);
        buf.fill(b"again");
        // Dropped while lent: the bytes are leaked, not freed (a use-after-free by the
        // kernel would otherwise follow).
        let mut lent = SendBuf::default();
        lent.fill(b"kept");
        lent.lend_unsent(tag);
        drop(lent);
    }
}
