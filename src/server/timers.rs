//! Deadlines for the reactor: a min-heap, nearest first.
//!
//! Rule: time is passed in; nothing here reads the clock. Cancelling is lazy: an
//! entry for a connection that closed (or whose slab key now belongs to a newer
//! connection, told apart by its generation) is simply ignored when it pops, and a
//! connection re-checks its own deadline when woken, so an early entry is harmless.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::protocol::Response;

/// What is due when a timer fires.
#[derive(Debug)]
pub enum Due {
    /// Check a connection's own deadline (header, idle, write, linger timeouts).
    Connection { key: usize, generation: u64 },
    /// A `/delay` response is ready to be sent.
    Deferred {
        key: usize,
        generation: u64,
        seq: u64,
        response: Response,
    },
    /// Try accepting again after running out of file descriptors.
    AcceptRetry,
    /// Log the `--stats-interval` line.
    StatsLine,
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    /// Insertion order, so equal deadlines fire first-in, first-out.
    order: u64,
    due: Due,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// The reactor's timer heap.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Entry>,
    order: u64,
}

impl Timers {
    /// An empty heap.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `due` at `at`.
    pub fn schedule(&mut self, at: Instant, due: Due) {
        self.order += 1;
        self.heap.push(Entry {
            at,
            order: self.order,
            due,
        });
    }

    /// The nearest deadline: the event loop sleeps at most until then.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    /// Removes and returns one entry that is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Due> {
        if self.heap.peek()?.at <= now {
            self.heap.pop().map(|e| e.due)
        } else {
            None
        }
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// No entries waiting.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_then_insertion_order() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        timers.schedule(t0 + Duration::from_millis(30), Due::StatsLine);
        timers.schedule(
            t0 + Duration::from_millis(10),
            Due::Connection {
                key: 1,
                generation: 1,
            },
        );
        timers.schedule(
            t0 + Duration::from_millis(10),
            Due::Connection {
                key: 2,
                generation: 1,
            },
        );
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert!(timers.pop_due(t0).is_none());
        let now = t0 + Duration::from_millis(20);
        assert!(matches!(
            timers.pop_due(now),
            Some(Due::Connection { key: 1, .. })
        ));
        assert!(matches!(
            timers.pop_due(now),
            Some(Due::Connection { key: 2, .. })
        ));
        assert!(timers.pop_due(now).is_none());
        assert_eq!(timers.len(), 1);
    }
}
