//! `--stats-interval`: one log line every interval, with rates since the last line
//! and levels now.
//!
//! Rule: who wakes up to log it is the model's: the event loops from a timer in
//! their loop ([`StatsLine`], worker 0 only), the blocking models from a thread of
//! their own ([`spawn_logger`]), since all their threads block in I/O.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::timers::{Due, Timers};
use super::{App, Worker};
use crate::stats::Snapshot;

/// An event loop's stats line: what the last line counted, and its timer.
#[derive(Debug)]
pub struct StatsLine {
    last: (Instant, Snapshot),
}

impl StatsLine {
    /// Schedules the first line (on worker 0, if `--stats-interval` is set).
    pub fn start(app: &App, worker: Worker, timers: &mut Timers) -> Self {
        if let Some(every) = app.config.stats_interval.filter(|_| worker.index == 0) {
            timers.schedule(Instant::now() + every, Due::StatsLine);
        }
        Self {
            last: (Instant::now(), app.stats.snapshot()),
        }
    }

    /// [`Due::StatsLine`] fired: log the line and schedule the next.
    pub fn fire(&mut self, app: &App, now: Instant, timers: &mut Timers) {
        let current = app.stats.snapshot();
        let (since, previous) = &self.last;
        log_line(previous, &current, now.duration_since(*since));
        self.last = (now, current);
        if let Some(every) = app.config.stats_interval {
            timers.schedule(now + every, Due::StatsLine);
        }
    }
}

/// For the blocking models: a thread of its own. It is not counted in `/stats`
/// threads, which count the threads that serve.
pub fn spawn_logger(app: Arc<App>, every: Duration) -> io::Result<()> {
    std::thread::Builder::new()
        .name("stats".into())
        .spawn(move || {
            let mut last = (Instant::now(), app.stats.snapshot());
            loop {
                std::thread::sleep(every);
                let now = (Instant::now(), app.stats.snapshot());
                log_line(&last.1, &now.1, now.0.duration_since(last.0));
                last = now;
            }
        })
        .map(|_| ())
}

/// Logs the line: rates since the previous line, and levels now.
pub fn log_line(previous: &Snapshot, current: &Snapshot, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let requests = current.requests.saturating_sub(previous.requests);
    let wakeups = current.poll_wakeups.saturating_sub(previous.poll_wakeups);
    let events = current.events.saturating_sub(previous.events);
    let per_wakeup = if wakeups == 0 {
        0.0
    } else {
        events as f64 / wakeups as f64
    };
    log::info!(
        "stats: {:.0} req/s, {} open connections, {:.0} wake-ups/s, {:.1} events/wake-up, {} threads",
        requests as f64 / secs,
        current.connections_open(),
        wakeups as f64 / secs,
        per_wakeup,
        current.threads_live.max(1),
    );
}
