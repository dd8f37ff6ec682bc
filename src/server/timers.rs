//! Deadlines for the reactor, nearest first.
//!
//! Rule: time is passed in; nothing here reads the clock. Each connection keeps the
//! key of its one pending deadline and cancels it when it closes, so the map holds at
//! most one entry per connection (plus `/delay` responses), however many connections
//! come and go. An entry is still only a hint: a connection re-checks its own
//! deadline when woken, and each entry carries the connection's generation, so an
//! entry for a slab key that now belongs to a newer connection is ignored.
//! What each entry does when due is written once, in [`fire_due`], for both event
//! loops (the reactor and io_uring), each through its [`TimerLoop`].

use std::collections::BTreeMap;
use std::time::Instant;

use crate::protocol::{Connection, Now, Response};

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
        /// Boxed, so the common entries (connection deadlines) stay small.
        response: Box<Response>,
    },
    /// Try accepting again after running out of file descriptors.
    AcceptRetry,
    /// Log the `--stats-interval` line.
    StatsLine,
}

/// Names one scheduled entry, for [`Timers::cancel`]. The counter keeps equal
/// deadlines distinct and makes them fire first-in, first-out.
pub type TimerKey = (Instant, u64);

/// The reactor's timers, ordered by deadline.
#[derive(Debug, Default)]
pub struct Timers {
    entries: BTreeMap<TimerKey, Due>,
    order: u64,
}

impl Timers {
    /// No timers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `due` at `at`.
    pub fn schedule(&mut self, at: Instant, due: Due) -> TimerKey {
        self.order += 1;
        let key = (at, self.order);
        self.entries.insert(key, due);
        key
    }

    /// Removes an entry that has not fired yet.
    pub fn cancel(&mut self, key: TimerKey) -> Option<Due> {
        self.entries.remove(&key)
    }

    /// The nearest deadline: the event loop sleeps at most until then.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.first_key_value().map(|((at, _), _)| *at)
    }

    /// Removes and returns one entry that is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Due> {
        match self.entries.first_key_value() {
            Some(((at, _), _)) if *at <= now => self.entries.pop_first().map(|(_, due)| due),
            _ => None,
        }
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No entries waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps connection `key`'s one entry (`scheduled`) no later than its `deadline`.
    /// The entry moves only when the deadline comes earlier: a later deadline is
    /// found when the early entry fires (and the connection re-checks), which saves
    /// a reschedule on every request.
    pub fn keep_entry(
        &mut self,
        scheduled: &mut Option<TimerKey>,
        deadline: Option<Instant>,
        key: usize,
        generation: u64,
    ) {
        let Some(deadline) = deadline else {
            return;
        };
        if scheduled.is_none_or(|(at, _)| deadline < at) {
            if let Some(old) = scheduled.take() {
                self.cancel(old);
            }
            *scheduled = Some(self.schedule(deadline, Due::Connection { key, generation }));
        }
    }
}

/// An event loop with timers: the reactor and the uring loop. Each says how to
/// find a connection and how to act; [`fire_due`] is the one dispatch of what is due.
pub trait TimerLoop {
    fn timers(&mut self) -> &mut Timers;
    /// Connection `key`'s protocol state and its scheduled entry, if it is still the
    /// connection (`generation`) the entry was made for and it is not closing.
    fn live_connection(
        &mut self,
        key: usize,
        generation: u64,
    ) -> Option<(&mut Connection, &mut Option<TimerKey>)>;
    /// Runs the connection after its state changed (the loop's `drive`).
    fn drive_connection(&mut self, key: usize, now: &Now);
    /// [`Due::AcceptRetry`] fired: accept again if still paused for want of
    /// descriptors (closing connections may have resumed it already).
    fn retry_accept(&mut self, now: &Now);
    fn log_stats_line(&mut self, now: &Now);
}

/// Acts on every entry due at `now`.
pub fn fire_due(event_loop: &mut impl TimerLoop, now: &Now) {
    while let Some(due) = event_loop.timers().pop_due(now.instant) {
        match due {
            Due::Connection { key, generation } => {
                if let Some((conn, scheduled)) = event_loop.live_connection(key, generation) {
                    *scheduled = None;
                    conn.handle_timeout(now);
                    event_loop.drive_connection(key, now);
                }
            }
            Due::Deferred {
                key,
                generation,
                seq,
                response,
            } => {
                if let Some((conn, _)) = event_loop.live_connection(key, generation) {
                    conn.respond(seq, *response, now);
                    event_loop.drive_connection(key, now);
                }
            }
            Due::AcceptRetry => event_loop.retry_accept(now),
            Due::StatsLine => event_loop.log_stats_line(now),
        }
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

    #[test]
    fn cancelled_entries_never_fire() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let key = timers.schedule(t0, Due::AcceptRetry);
        assert!(matches!(timers.cancel(key), Some(Due::AcceptRetry)));
        assert!(timers.cancel(key).is_none());
        assert!(timers.pop_due(t0 + Duration::from_secs(1)).is_none());
        assert!(timers.is_empty());
    }
}
