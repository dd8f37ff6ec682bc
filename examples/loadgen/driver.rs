//! One worker thread's event loop: a mio `Poll` over its share of the connections.
//!
//! Rule: this file owns the poll, the clock and the loop's exit; connections own their
//! sockets ([`Conn`]), the schedule owns pacing. The loop is, top to bottom: decide
//! whether the run is over, sleep until readiness or the next deadline (next intended send
//! or the next sweep), hand each event to its connection, hand newly due requests to their
//! connections, and every `sweep_every` check timeouts. Connections live in a fixed `Vec`
//! indexed by token: their number never changes during a run, so a slab would add nothing.

use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::{Events, Poll};

use crate::conn::{Conn, Env, Settings};
use crate::report::Stats;
use crate::request::{id_prefix, RequestTemplate};
use crate::schedule::{Schedule, Stop};

/// Bytes read per read() call; one buffer per worker, shared by all its connections.
const SCRATCH_BYTES: usize = 64 * 1024;
const EVENTS_CAPACITY: usize = 1024;

/// One worker's share of the run.
#[derive(Debug, Clone)]
pub struct WorkerPlan {
    /// Included in request ids when the run has several threads.
    pub thread_tag: Option<usize>,
    /// Global connection numbers of this worker (they name the request ids).
    pub conns: Range<usize>,
    pub start: Instant,
    pub stop: Stop,
    /// This worker's share of `--rate`, or closed loop.
    pub rate: Option<f64>,
    pub settings: Settings,
    pub request: RequestTemplate,
}

/// What a worker hands back: its stats and when it stopped.
pub struct WorkerResult {
    pub stats: Stats,
    pub finished: Instant,
}

pub fn run(plan: WorkerPlan, progress: &AtomicU64) -> io::Result<WorkerResult> {
    let WorkerPlan {
        thread_tag,
        conns: global,
        start,
        stop,
        rate,
        settings,
        request,
    } = plan;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(EVENTS_CAPACITY);
    let mut schedule = match rate {
        Some(rate) => Schedule::open_loop(start, stop, rate, global.len()),
        None => Schedule::closed_loop(start, stop),
    };
    let mut stats = Stats::default();
    let mut scratch = vec![0u8; SCRATCH_BYTES];
    let mut conns: Vec<Conn> = (global.clone().enumerate())
        .map(|(slot, conn)| Conn::new(slot, id_prefix(thread_tag, conn), settings.pipeline, start))
        .collect();

    // Timeouts are checked on a sweep rather than a timer per request: resolution of a
    // fiftieth of the timeout is plenty, and the sweep is O(connections) a few times a
    // second instead of work per request.
    let sweep_every =
        (settings.timeout / 50).clamp(Duration::from_millis(1), Duration::from_millis(20));
    // In -n mode a server that stops accepting would keep us retrying for ever.
    let give_up_after = (settings.timeout * 2).max(Duration::from_secs(1));
    let mut next_sweep = start;
    let mut last_progress = start;
    let mut responses_seen = 0;
    let mut stopped_sending: Option<Instant> = None;

    {
        let mut env = Env {
            registry: poll.registry(),
            settings: &settings,
            request: &request,
            schedule: &mut schedule,
            stats: &mut stats,
        };
        for conn in &mut conns {
            conn.connect(&mut env, start);
        }
    }

    loop {
        let now = Instant::now();
        if schedule.is_over(now) {
            let since = *stopped_sending.get_or_insert(now);
            let drained = !conns.iter().any(Conn::has_in_flight);
            // Every request has its own timeout; this bound only covers sweep slack.
            if drained || now >= since + settings.timeout + sweep_every * 2 {
                break;
            }
        }
        let wake = match schedule.next_wakeup() {
            Some(at) => at.min(next_sweep),
            None => next_sweep,
        };
        if let Err(e) = poll.poll(&mut events, Some(wake.saturating_duration_since(now))) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }

        let mut env = Env {
            registry: poll.registry(),
            settings: &settings,
            request: &request,
            schedule: &mut schedule,
            stats: &mut stats,
        };
        // One clock reading per batch of events, not one per event or per response: a
        // response is timed at the moment poll handed it over, and every request written
        // while handling the batch is stamped with the same instant. Latency stays per
        // request; its resolution is the batch's handling time (microseconds), and the
        // clock leaves the per-response path.
        let now = Instant::now();
        for event in events.iter() {
            if let Some(conn) = conns.get_mut(event.token().0) {
                conn.handle_event(event, &mut env, &mut scratch, now);
            }
        }

        let due = env.schedule.newly_due(now);
        let count = conns.len() as u64;
        if due.end - due.start >= count {
            conns
                .iter_mut()
                .for_each(|conn| conn.handle_due(&mut env, now));
        } else {
            for m in due {
                conns[(m % count) as usize].handle_due(&mut env, now);
            }
        }

        if now >= next_sweep {
            next_sweep = now + sweep_every;
            conns
                .iter_mut()
                .for_each(|conn| conn.handle_tick(&mut env, now));
            if env.stats.responses != responses_seen || conns.iter().any(Conn::is_open) {
                last_progress = now;
            }
            if matches!(stop, Stop::After(_)) && now.duration_since(last_progress) > give_up_after {
                env.stats
                    .record_failure(|| "no connection could be established; giving up".into());
                break;
            }
        }
        progress.fetch_add(env.stats.responses - responses_seen, Ordering::Relaxed);
        responses_seen = env.stats.responses;
    }

    let now = Instant::now();
    let mut env = Env {
        registry: poll.registry(),
        settings: &settings,
        request: &request,
        schedule: &mut schedule,
        stats: &mut stats,
    };
    conns
        .iter_mut()
        .for_each(|conn| conn.abandon(&mut env, now));
    stats.clients = conns.len() as u64;
    stats.clients_served = conns.iter().filter(|c| c.was_served()).count() as u64;
    stats.sent = schedule.claimed();
    stats.unsent = schedule.unsent();
    Ok(WorkerResult {
        stats,
        finished: now,
    })
}
