//! Server-wide counters, shared by every connection and every thread.
//!
//! Rule: atomics and their JSON rendering only, no I/O. Relaxed ordering is enough:
//! each counter is read on its own, for a report, never to synchronise anything.
//!
//! Two kinds, by how often they move. What changes per request or per read
//! (requests, responses, bytes, wake-ups) lives in [`Counters`]: one set per thread
//! that serves (a reactor loop, a pool worker, a connection thread), written only by
//! that thread, with a plain load and store instead of a locked read-modify-write,
//! each set on cache lines of its own. `--workers` loops therefore never bounce a
//! line between cores per request. [`Stats::snapshot`] (for `/stats` and the stats
//! line) adds them up. What changes per connection or per thread (accepted, closed,
//! threads live) stays a shared atomic in [`Stats`]: the models that limit
//! connections read it on every accept.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// The counters one thread writes; see the module comment. Aligned so that two
/// threads' sets never share a cache line (128 bytes: adjacent-line prefetch).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Counters {
    pub requests: AtomicU64,
    /// Responses by status class: index 0 is 1xx ... index 4 is 5xx.
    pub responses: [AtomicU64; 5],
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Returns from `epoll_wait` (or `io_uring_enter`): the reactor's loop, or the
    /// blocking models' accept loop (their connection threads block in `read`,
    /// which is not counted).
    pub poll_wakeups: AtomicU64,
    /// Readiness events (or completions) handled.
    pub events: AtomicU64,
}

impl Counters {
    /// Adds `n` to a counter of this set. Only the thread the set belongs to calls
    /// this, so a load and a store are exact, and cost no locked instruction.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Adds one to a counter of this set (same rule as [`Counters::add`]).
    pub fn bump(counter: &AtomicU64) {
        Self::add(counter, 1);
    }

    /// Counts a response of the given status.
    pub fn count_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5);
        Self::bump(&self.responses[class - 1]);
    }

    fn add_into(&self, total: &mut Snapshot) {
        let load = |c: &AtomicU64| c.load(Relaxed);
        total.requests += load(&self.requests);
        for (sum, class) in total.responses.iter_mut().zip(&self.responses) {
            *sum += load(class);
        }
        total.bytes_in += load(&self.bytes_in);
        total.bytes_out += load(&self.bytes_out);
        total.poll_wakeups += load(&self.poll_wakeups);
        total.events += load(&self.events);
    }
}

/// Counters reported by `/stats` and `--stats-interval`.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections_accepted: AtomicU64,
    pub connections_closed: AtomicU64,
    pub threads_live: AtomicU64,
    pub threads_peak: AtomicU64,
    /// Every thread's [`Counters`], and the sums of those whose thread ended.
    shards: Mutex<Shards>,
}

#[derive(Debug, Default)]
struct Shards {
    live: Vec<Arc<Counters>>,
    retired: Snapshot,
}

/// A consistent-enough copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub connections_accepted: u64,
    pub connections_closed: u64,
    pub requests: u64,
    pub responses: [u64; 5],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub poll_wakeups: u64,
    pub events: u64,
    pub threads_live: u64,
    pub threads_peak: u64,
}

impl Snapshot {
    /// Connections accepted and not yet closed.
    pub fn connections_open(&self) -> u64 {
        self.connections_accepted
            .saturating_sub(self.connections_closed)
    }

    /// Average readiness events per wake-up.
    pub fn events_per_wakeup(&self) -> f64 {
        if self.poll_wakeups == 0 {
            0.0
        } else {
            self.events as f64 / self.poll_wakeups as f64
        }
    }
}

impl Stats {
    /// Adds one to a shared counter (any thread).
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// A set of [`Counters`] for the calling thread to write, included in every
    /// snapshot from now on. Give it back with [`Stats::retire`] when the thread
    /// stops serving, or the list grows with every thread ever started.
    pub fn register(&self) -> Arc<Counters> {
        let counters = Arc::new(Counters::default());
        if let Ok(mut shards) = self.shards.lock() {
            shards.live.push(Arc::clone(&counters));
        }
        counters
    }

    /// Folds a thread's counters into the totals and stops reading them. In one
    /// step under the lock, so no snapshot counts them twice or misses them.
    pub fn retire(&self, counters: &Arc<Counters>) {
        if let Ok(mut shards) = self.shards.lock() {
            if let Some(i) = shards.live.iter().position(|c| Arc::ptr_eq(c, counters)) {
                let gone = shards.live.swap_remove(i);
                gone.add_into(&mut shards.retired);
            }
        }
    }

    /// Connections accepted and not yet closed, without a whole snapshot.
    pub fn connections_open(&self) -> u64 {
        let closed = self.connections_closed.load(Relaxed);
        self.connections_accepted
            .load(Relaxed)
            .saturating_sub(closed)
    }

    /// A thread started serving; tracks the peak.
    pub fn thread_started(&self) {
        let live = self.threads_live.fetch_add(1, Relaxed) + 1;
        self.threads_peak.fetch_max(live, Relaxed);
    }

    /// A thread finished serving.
    pub fn thread_finished(&self) {
        self.threads_live.fetch_sub(1, Relaxed);
    }

    /// Reads every counter: the shared ones, and the sum of every thread's.
    pub fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Relaxed);
        let mut total = match self.shards.lock() {
            Ok(shards) => {
                let mut total = shards.retired;
                for counters in &shards.live {
                    counters.add_into(&mut total);
                }
                total
            }
            Err(_) => Snapshot::default(),
        };
        total.connections_accepted = load(&self.connections_accepted);
        total.connections_closed = load(&self.connections_closed);
        total.threads_live = load(&self.threads_live);
        total.threads_peak = load(&self.threads_peak);
        total
    }
}

/// Renders the `/stats` JSON document. Field names are stable: tests and the
/// experiment read them.
pub fn to_json(s: &Snapshot, model: &str, uptime_secs: f64) -> String {
    format!(
        concat!(
            "{{\"model\":\"{}\",\"uptime_s\":{:.3},",
            "\"connections\":{{\"open\":{},\"accepted\":{},\"closed\":{}}},",
            "\"requests\":{},",
            "\"responses\":{{\"1xx\":{},\"2xx\":{},\"3xx\":{},\"4xx\":{},\"5xx\":{}}},",
            "\"bytes\":{{\"in\":{},\"out\":{}}},",
            "\"poll\":{{\"wakeups\":{},\"events\":{},\"events_per_wakeup\":{:.2}}},",
            "\"threads_live\":{},\"threads_peak\":{}}}\n"
        ),
        model,
        uptime_secs,
        s.connections_open(),
        s.connections_accepted,
        s.connections_closed,
        s.requests,
        s.responses[0],
        s.responses[1],
        s.responses[2],
        s.responses[3],
        s.responses[4],
        s.bytes_in,
        s.bytes_out,
        s.poll_wakeups,
        s.events,
        s.events_per_wakeup(),
        s.threads_live,
        s.threads_peak,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_sums_every_thread_and_keeps_the_retired() {
        let stats = Stats::default();
        let (a, b) = (stats.register(), stats.register());
        Counters::add(&a.requests, 3);
        Counters::add(&b.requests, 4);
        a.count_response(200);
        b.count_response(404);
        Stats::bump(&stats.connections_accepted);
        let seen = stats.snapshot();
        assert_eq!((seen.requests, seen.responses), (7, [0, 1, 0, 1, 0]));
        assert_eq!(seen.connections_open(), 1);
        stats.retire(&a);
        stats.retire(&a); // twice is harmless
        Counters::bump(&b.requests);
        Counters::bump(&a.requests); // after retiring: no longer read
        assert_eq!(stats.snapshot().requests, 8);
    }

    #[test]
    fn each_threads_counters_have_their_own_cache_lines() {
        assert!(std::mem::align_of::<Counters>() >= 128);
        assert_eq!(std::mem::size_of::<Counters>() % 128, 0);
    }
}
