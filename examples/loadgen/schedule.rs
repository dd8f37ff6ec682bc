//! When each connection may send its next request: closed loop or open loop (`--rate`).
//!
//! Rule: no I/O; time is passed in. A connection asks [`Schedule::claim`] whenever it has a
//! free pipeline slot; the answer is the request's *intended* send time, from which its
//! latency is measured, or `None`.
//!
//! Closed loop: a request may go as soon as a slot is free (intended = now), until the
//! deadline passes or the request budget is spent.
//!
//! Open loop, as wrk2 does it: request `m` of this thread is intended at
//! `start + m / rate` and belongs to connection `m % conns`, so connection `i`'s `j`-th
//! request is `m = i + j * conns`. Nothing is "dispatched": a connection simply may claim
//! its next request once that request's time has come. A connection that falls behind
//! (server slow, pipeline full) sends late, and the lateness counts in the latency, which
//! is what avoids coordinated omission.

use std::ops::Range;
use std::time::{Duration, Instant};

/// When the run stops sending.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// `-d`: nothing is sent at or after this instant.
    At(Instant),
    /// `-n`: this many requests in total (this thread's share).
    After(u64),
}

#[derive(Debug)]
enum Pace {
    Closed,
    Open {
        /// Nanoseconds between intended sends of this thread.
        interval_ns: f64,
        /// Requests each connection has claimed so far.
        claimed_by_conn: Vec<u64>,
        /// Requests whose intended time has been reached (`m < horizon`).
        horizon: u64,
    },
}

#[derive(Debug)]
pub struct Schedule {
    start: Instant,
    stop: Stop,
    pace: Pace,
    claimed: u64,
}

impl Schedule {
    pub fn closed_loop(start: Instant, stop: Stop) -> Self {
        Self {
            start,
            stop,
            pace: Pace::Closed,
            claimed: 0,
        }
    }

    /// `rate` is this thread's share, in requests per second, over `conns` connections.
    pub fn open_loop(start: Instant, stop: Stop, rate: f64, conns: usize) -> Self {
        let pace = Pace::Open {
            interval_ns: 1e9 / rate,
            claimed_by_conn: vec![0; conns],
            horizon: 0,
        };
        Self {
            start,
            stop,
            pace,
            claimed: 0,
        }
    }

    /// Hands connection `conn` its next request if it may send now; returns the intended
    /// send time.
    pub fn claim(&mut self, conn: usize, now: Instant) -> Option<Instant> {
        if let Stop::At(deadline) = self.stop {
            if now >= deadline {
                return None;
            }
        }
        let intended = match &mut self.pace {
            Pace::Closed => {
                if matches!(self.stop, Stop::After(total) if self.claimed >= total) {
                    return None;
                }
                now
            }
            Pace::Open {
                interval_ns,
                claimed_by_conn,
                ..
            } => {
                let conns = claimed_by_conn.len() as u64;
                let m = conn as u64 + claimed_by_conn[conn] * conns;
                let intended = intended_at(self.start, *interval_ns, m);
                if intended > now || !within(self.stop, m, intended) {
                    return None;
                }
                claimed_by_conn[conn] += 1;
                intended
            }
        };
        self.claimed += 1;
        Some(intended)
    }

    /// Open loop: advances the horizon to `now` and returns the request numbers that just
    /// became due; request `m` belongs to connection `m % conns`. Empty in closed loop.
    pub fn newly_due(&mut self, now: Instant) -> Range<u64> {
        let Pace::Open {
            interval_ns,
            horizon,
            ..
        } = &mut self.pace
        else {
            return 0..0;
        };
        let elapsed = now.saturating_duration_since(self.start).as_nanos() as f64;
        let mut reached = (elapsed / *interval_ns).floor() as u64 + 1;
        let in_run = match self.stop {
            Stop::After(total) => total,
            // Requests with m * interval < deadline - start.
            Stop::At(deadline) => {
                let span = deadline.saturating_duration_since(self.start).as_nanos() as f64;
                (span / *interval_ns).ceil() as u64
            }
        };
        reached = reached.min(in_run);
        let due = *horizon..reached.max(*horizon);
        *horizon = due.end;
        due
    }

    /// The next instant at which something changes by the clock alone: the next intended
    /// send (open loop) or the deadline.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let deadline = match self.stop {
            Stop::At(deadline) => Some(deadline),
            Stop::After(_) => None,
        };
        let next_send = match &self.pace {
            Pace::Open {
                interval_ns,
                horizon,
                ..
            } => {
                let at = intended_at(self.start, *interval_ns, *horizon);
                within(self.stop, *horizon, at).then_some(at)
            }
            Pace::Closed => None,
        };
        match (deadline, next_send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True once no request will ever be claimed again.
    pub fn is_over(&self, now: Instant) -> bool {
        match self.stop {
            Stop::At(deadline) => now >= deadline,
            Stop::After(total) => self.claimed >= total,
        }
    }

    /// Requests sent so far.
    pub fn claimed(&self) -> u64 {
        self.claimed
    }

    /// Open loop: requests whose intended time came before the run stopped sending but
    /// that were never sent (connections too slow or broken). Zero in closed loop.
    pub fn unsent(&self) -> u64 {
        match &self.pace {
            Pace::Open { horizon, .. } => horizon.saturating_sub(self.claimed),
            Pace::Closed => 0,
        }
    }
}

fn intended_at(start: Instant, interval_ns: f64, m: u64) -> Instant {
    start + Duration::from_nanos((m as f64 * interval_ns) as u64)
}

/// Whether request `m`, intended at `intended`, is inside the run at all.
fn within(stop: Stop, m: u64, intended: Instant) -> bool {
    match stop {
        Stop::At(deadline) => intended < deadline,
        Stop::After(total) => m < total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_spreads_requests_round_robin_at_the_rate() {
        let start = Instant::now();
        let stop = Stop::At(start + Duration::from_secs(1));
        let mut schedule = Schedule::open_loop(start, stop, 10.0, 3);
        // At t=0 only request 0 (connection 0) is due.
        assert_eq!(schedule.claim(0, start), Some(start));
        assert_eq!(schedule.claim(1, start), None);
        let later = start + Duration::from_millis(250); // requests 0, 1, 2 are due
        assert_eq!(schedule.newly_due(later), 0..3);
        assert_eq!(schedule.claim(0, later), None); // its next is m=3 at 300ms
        assert_eq!(
            schedule.claim(2, later),
            Some(start + Duration::from_millis(200))
        );
        assert_eq!(
            schedule.next_wakeup(),
            Some(start + Duration::from_millis(300))
        );
        let end = start + Duration::from_millis(999);
        assert_eq!(schedule.newly_due(end), 3..10);
        assert_eq!(schedule.unsent(), 8);
    }

    #[test]
    fn closed_loop_stops_at_budget() {
        let now = Instant::now();
        let mut schedule = Schedule::closed_loop(now, Stop::After(2));
        assert!(schedule.claim(5, now).is_some());
        assert!(schedule.claim(0, now).is_some());
        assert!(schedule.claim(0, now).is_none());
        assert!(schedule.is_over(now));
    }
}
