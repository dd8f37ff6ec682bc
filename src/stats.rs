//! Server-wide counters, shared by every connection and every thread.
//!
//! Rule: atomics and their JSON rendering only, no I/O. Relaxed ordering is enough:
//! each counter is read on its own, for a report, never to synchronise anything.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters reported by `/stats` and `--stats-interval`.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections_accepted: AtomicU64,
    pub connections_closed: AtomicU64,
    pub requests: AtomicU64,
    /// Responses by status class: index 0 is 1xx ... index 4 is 5xx.
    pub responses: [AtomicU64; 5],
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Returns from `epoll_wait`: the reactor's loop, or the blocking models' accept
    /// loop (their connection threads block in `read`, which is not counted).
    pub poll_wakeups: AtomicU64,
    /// Readiness events handled.
    pub events: AtomicU64,
    pub threads_live: AtomicU64,
    pub threads_peak: AtomicU64,
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
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Counts a response of the given status.
    pub fn count_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5);
        Self::bump(&self.responses[class - 1]);
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

    /// Reads every counter.
    pub fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Relaxed);
        Snapshot {
            connections_accepted: load(&self.connections_accepted),
            connections_closed: load(&self.connections_closed),
            requests: load(&self.requests),
            responses: [0, 1, 2, 3, 4].map(|i| load(&self.responses[i])),
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
            poll_wakeups: load(&self.poll_wakeups),
            events: load(&self.events),
            threads_live: load(&self.threads_live),
            threads_peak: load(&self.threads_peak),
        }
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
