//! What a run measured: per-thread [`Stats`] (hot-path counters), their merge, and the
//! final [`Report`] printed as text or as one JSON object.
//!
//! Rule: no I/O except the two `print` functions; the JSON field names are an interface
//! (the experiment tooling parses them), so add fields rather than rename them.
//!
//! Censoring rule: a request that got no answer within the timeout has a latency of
//! *at least* the timeout, not none. `latency_us` describes the answered requests only
//! (its old meaning); `latency_with_timeouts_us` counts every timed-out request at the
//! timeout, so a server that leaves most clients unanswered cannot show a low p99.
//! There, a percentile at the timeout is censored: read it as ">= timeout".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies above this (an hour, in microseconds) are recorded as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Status codes are three digits; index the counters directly.
const STATUS_SLOTS: usize = 1000;

/// Failures by kind. `mismatched` here counts only explicit wrong ids; the report adds
/// missing ids and inconsistent responses to it (see [`Report::new`]).
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Errors {
    pub connect: u64,
    pub reset: u64,
    pub timeout: u64,
    pub parse: u64,
    pub mismatched: u64,
    pub out_of_order: u64,
}

/// How a response's `X-Request-Id` compared with what the connection had outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdVerdict {
    /// It names the oldest outstanding request, as HTTP/1.1 ordering requires.
    Matches,
    /// It names another request outstanding on the same connection.
    OutOfOrder,
    /// It names anything else.
    Mismatched,
    /// The response has no `X-Request-Id`.
    NotEchoed,
}

/// Responses that carried no id are only checked for looking like the first such response.
#[derive(Debug, Default, Clone)]
struct WithoutId {
    count: u64,
    /// (status, body length) of the first response without an id.
    reference: Option<(u16, u64)>,
    inconsistent: u64,
}

/// One thread's measurements. Cheap to update: no allocation per response.
#[derive(Debug, Clone)]
pub struct Stats {
    latency_us: Histogram<u64>,
    status: Vec<u64>,
    pub responses: u64,
    pub sent: u64,
    pub unsent: u64,
    pub bytes_received: u64,
    pub errors: Errors,
    echoed: u64,
    without_id: WithoutId,
    /// The first framing error seen, for the report (allocated only on failure).
    pub first_error: Option<String>,
    /// Connections of this thread, and how many of them got at least one response
    /// (set by the worker at the end of the run).
    pub clients: u64,
    pub clients_served: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid bounds"),
            status: vec![0; STATUS_SLOTS],
            responses: 0,
            sent: 0,
            unsent: 0,
            bytes_received: 0,
            errors: Errors::default(),
            echoed: 0,
            without_id: WithoutId::default(),
            first_error: None,
            clients: 0,
            clients_served: 0,
        }
    }
}

impl Stats {
    pub fn record_response(
        &mut self,
        status: u16,
        body_len: u64,
        latency: Duration,
        id: IdVerdict,
    ) {
        self.responses += 1;
        self.status[usize::from(status) % STATUS_SLOTS] += 1;
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency_us.saturating_record(micros);
        match id {
            IdVerdict::Matches => self.echoed += 1,
            IdVerdict::OutOfOrder => {
                self.echoed += 1;
                self.errors.out_of_order += 1;
            }
            IdVerdict::Mismatched => {
                self.echoed += 1;
                self.errors.mismatched += 1;
            }
            IdVerdict::NotEchoed => {
                let seen = &mut self.without_id;
                seen.count += 1;
                match seen.reference {
                    None => seen.reference = Some((status, body_len)),
                    Some(first) if first != (status, body_len) => seen.inconsistent += 1,
                    Some(_) => {}
                }
            }
        }
    }

    pub fn record_failure(&mut self, description: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(description());
        }
    }

    /// Folds another thread's stats into these.
    pub fn merge(&mut self, other: &Stats) {
        self.latency_us.add(&other.latency_us).expect("same bounds");
        for (mine, theirs) in self.status.iter_mut().zip(&other.status) {
            *mine += theirs;
        }
        self.responses += other.responses;
        self.sent += other.sent;
        self.unsent += other.unsent;
        self.bytes_received += other.bytes_received;
        let (a, b) = (&mut self.errors, &other.errors);
        a.connect += b.connect;
        a.reset += b.reset;
        a.timeout += b.timeout;
        a.parse += b.parse;
        a.mismatched += b.mismatched;
        a.out_of_order += b.out_of_order;
        self.echoed += other.echoed;
        self.clients += other.clients;
        self.clients_served += other.clients_served;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        let (mine, theirs) = (&mut self.without_id, &other.without_id);
        mine.count += theirs.count;
        mine.inconsistent += theirs.inconsistent;
        match (mine.reference, theirs.reference) {
            (None, reference) => mine.reference = reference,
            // The other thread was consistent with a different reference: all of its
            // responses that matched its own reference disagree with ours.
            (Some(a), Some(b)) if a != b => mine.inconsistent += theirs.count - theirs.inconsistent,
            _ => {}
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub mean: f64,
    pub stdev: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Every request that was answered or timed out, the timed-out ones at the timeout.
/// With `censored` > 0, a value equal to the report's `timeout_us` is censored: the
/// true figure is at least that (no mean: it is not known).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CensoredLatency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// How many of the values are timeouts, counted at the timeout.
    pub censored: u64,
}

impl CensoredLatency {
    /// `answered` plus `timeouts` values at `timeout_us`. A quantile that falls at or
    /// above the timeout is only known to be at least the timeout, so it is reported
    /// as exactly `timeout_us`.
    fn new(answered: &Histogram<u64>, timeouts: u64, timeout_us: u64) -> Self {
        let mut all = answered.clone();
        if timeouts > 0 {
            all.saturating_record_n(timeout_us.clamp(1, MAX_LATENCY_US), timeouts);
        }
        let at = |q: f64| match all.is_empty() {
            true => 0,
            false => match all.value_at_quantile(q) {
                v if timeouts > 0 && v >= timeout_us => timeout_us,
                v => v,
            },
        };
        Self {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
            censored: timeouts,
        }
    }

    /// Whether `value` (one of the fields) stands for "at least the timeout".
    pub fn is_censored(&self, value: u64, timeout_us: u64) -> bool {
        self.censored > 0 && value >= timeout_us
    }
}

/// The final report; serialized as-is for `--json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub requests: u64,
    pub duration_s: f64,
    pub requests_per_s: f64,
    pub bytes_per_s: f64,
    /// Answered requests only.
    pub latency_us: Latency,
    /// Answered and timed-out requests, the latter censored at `timeout_us`.
    pub latency_with_timeouts_us: CensoredLatency,
    /// The per-request timeout (`--timeout`).
    pub timeout_us: u64,
    /// Connections the run used, and how many got at least one response.
    pub clients: u64,
    pub clients_served: u64,
    pub status: BTreeMap<String, u64>,
    pub errors: Errors,
    pub verified: u64,
    pub mismatched: u64,
    pub out_of_order: u64,
    pub echoes_request_id: bool,
    pub sent: u64,
    pub unsent: u64,
    pub first_error: Option<String>,
}

impl Report {
    pub fn new(stats: &Stats, elapsed: Duration, timeout: Duration) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let h = &stats.latency_us;
        let empty = h.is_empty();
        let at = |q: f64| if empty { 0 } else { h.value_at_quantile(q) };
        let latency_us = Latency {
            mean: if empty { 0.0 } else { h.mean() },
            stdev: if empty { 0.0 } else { h.stdev() },
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: if empty { 0 } else { h.max() },
        };
        let status = (stats.status.iter().enumerate())
            .filter(|(_, &n)| n > 0)
            .map(|(code, &n)| (code.to_string(), n))
            .collect();
        // A server that never echoes is held to consistency instead; one that echoes
        // sometimes must echo always.
        let echoes_request_id = stats.echoed > 0;
        let unverifiable = match echoes_request_id {
            true => stats.without_id.count,
            false => stats.without_id.inconsistent,
        };
        let mut errors = stats.errors;
        errors.mismatched += unverifiable;
        let timeout_us = u64::try_from(timeout.as_micros()).unwrap_or(MAX_LATENCY_US);
        Self {
            requests: stats.responses,
            duration_s: seconds,
            requests_per_s: stats.responses as f64 / seconds,
            bytes_per_s: stats.bytes_received as f64 / seconds,
            latency_us,
            latency_with_timeouts_us: CensoredLatency::new(h, errors.timeout, timeout_us),
            timeout_us,
            clients: stats.clients,
            clients_served: stats.clients_served,
            status,
            errors,
            verified: stats.responses,
            mismatched: errors.mismatched,
            out_of_order: errors.out_of_order,
            echoes_request_id,
            sent: stats.sent,
            unsent: stats.unsent,
            first_error: stats.first_error.clone(),
        }
    }

    /// 1 for any sign of a broken server (wrong id, reordering, bad framing) or when not
    /// one response arrived; 0 otherwise, even with connect/reset/timeout errors.
    pub fn exit_code(&self) -> i32 {
        let server_fault = self.mismatched > 0 || self.out_of_order > 0 || self.errors.parse > 0;
        i32::from(server_fault || self.requests == 0)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("report serializes")
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let l = &self.latency_us;
        let e = &self.errors;
        let status: Vec<String> = self
            .status
            .iter()
            .map(|(code, n)| format!("{code}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "  Requests:     {} responses in {:.2}s ({} sent)",
            self.requests, self.duration_s, self.sent
        );
        let _ = writeln!(out, "  Requests/sec: {:.2}", self.requests_per_s);
        let _ = writeln!(out, "  Transfer/sec: {}", human_bytes(self.bytes_per_s));
        let _ = writeln!(
            out,
            "  Latency:      mean {}, stdev {}, max {}",
            human_micros(l.mean),
            human_micros(l.stdev),
            human_micros(l.max as f64)
        );
        let _ = writeln!(
            out,
            "                p50 {}, p90 {}, p99 {}, p99.9 {}",
            human_micros(l.p50 as f64),
            human_micros(l.p90 as f64),
            human_micros(l.p99 as f64),
            human_micros(l.p999 as f64)
        );
        let c = &self.latency_with_timeouts_us;
        if c.censored > 0 {
            let shown = |v: u64| match c.is_censored(v, self.timeout_us) {
                true => format!(">= {}", human_micros(v as f64)),
                false => human_micros(v as f64),
            };
            let _ = writeln!(
                out,
                "  With the {} timed out at {}: p50 {}, p90 {}, p99 {}, p99.9 {}",
                c.censored,
                human_micros(self.timeout_us as f64),
                shown(c.p50),
                shown(c.p90),
                shown(c.p99),
                shown(c.p999)
            );
        }
        if self.clients_served < self.clients {
            let _ = writeln!(
                out,
                "  Clients:      only {} of {} connections got any response",
                self.clients_served, self.clients
            );
        }
        let status = if status.is_empty() {
            "none".to_string()
        } else {
            status.join(", ")
        };
        let _ = writeln!(out, "  Status codes: {status}");
        let _ = writeln!(
            out,
            "  Errors:       connect {}, reset {}, timeout {}, parse {}, wrong id {}, out of order {}",
            e.connect, e.reset, e.timeout, e.parse, e.mismatched, e.out_of_order
        );
        if self.unsent > 0 {
            let _ = writeln!(
                out,
                "  Unsent:       {} scheduled requests never went out (too few connections or a slow server)",
                self.unsent
            );
        }
        if let Some(error) = &self.first_error {
            let _ = writeln!(out, "  First error:  {error}");
        }
        if self.requests > 0 && !self.echoes_request_id {
            let _ = writeln!(
                out,
                "server does not echo X-Request-Id: verified framing and per-URL consistency only"
            );
        }
        let _ = writeln!(
            out,
            "verified: {} responses, {} mismatched, {} out of order",
            self.verified, self.mismatched, self.out_of_order
        );
        out
    }
}

/// 123us, 1.23ms, 1.23s.
pub fn human_micros(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1_000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

/// Bytes per second in binary units, like wrk's Transfer/sec.
pub fn human_bytes(per_second: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut value = per_second;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn units() {
        assert_eq!(human_micros(123.0), "123us");
        assert_eq!(human_micros(1_234.0), "1.23ms");
        assert_eq!(human_micros(1_200_000.0), "1.20s");
        assert_eq!(human_bytes(2048.0), "2.00KB");
    }

    #[test]
    fn missing_ids_are_mismatches_only_when_the_server_echoes_others() {
        let mut stats = Stats::default();
        let ms = Duration::from_millis(1);
        stats.record_response(200, 5, ms, IdVerdict::NotEchoed);
        stats.record_response(200, 5, ms, IdVerdict::NotEchoed);
        let report = Report::new(&stats, SECOND, SECOND);
        assert_eq!(
            (
                report.mismatched,
                report.echoes_request_id,
                report.exit_code()
            ),
            (0, false, 0)
        );
        stats.record_response(200, 6, ms, IdVerdict::NotEchoed);
        assert_eq!(Report::new(&stats, SECOND, SECOND).mismatched, 1);
        stats.record_response(200, 5, ms, IdVerdict::Matches);
        let report = Report::new(&stats, SECOND, SECOND);
        assert_eq!((report.mismatched, report.exit_code()), (3, 1));
    }

    #[test]
    fn merging_threads_with_different_references_counts_the_difference() {
        let ms = Duration::from_millis(1);
        let mut a = Stats::default();
        a.record_response(200, 5, ms, IdVerdict::NotEchoed);
        let mut b = Stats::default();
        b.record_response(404, 9, ms, IdVerdict::NotEchoed);
        b.record_response(404, 9, ms, IdVerdict::NotEchoed);
        a.merge(&b);
        assert_eq!(Report::new(&a, SECOND, SECOND).mismatched, 2);
    }

    /// A server that answers one request in ten quickly and leaves nine unanswered.
    fn one_answered_nine_timed_out(timeout: Duration) -> Report {
        let mut stats = Stats::default();
        stats.record_response(200, 5, Duration::from_millis(1), IdVerdict::Matches);
        stats.errors.timeout = 9;
        stats.clients = 10;
        stats.clients_served = 1;
        Report::new(&stats, SECOND, timeout)
    }

    #[test]
    fn timed_out_requests_count_at_the_timeout() {
        let timeout = Duration::from_secs(2);
        let report = one_answered_nine_timed_out(timeout);
        let c = &report.latency_with_timeouts_us;
        assert_eq!(report.timeout_us, 2_000_000);
        // Nine of ten never answered: the median and the tail are at least the timeout.
        assert_eq!(
            (c.p50, c.p90, c.p99, c.max),
            (2_000_000, 2_000_000, 2_000_000, 2_000_000)
        );
        assert!(c.is_censored(c.p99, report.timeout_us));
        assert_eq!(c.censored, 9);
        // The answered-only view is unchanged: one fast response.
        assert!(report.latency_us.p99 < 2_000, "{:?}", report.latency_us);
        assert_eq!((report.clients, report.clients_served), (10, 1));
        let text = report.to_text();
        assert!(text.contains("p99 >= 2.00s"), "{text}");
        assert!(text.contains("only 1 of 10 connections"), "{text}");
    }

    #[test]
    fn a_few_timeouts_leave_the_low_percentiles_exact() {
        let mut stats = Stats::default();
        for _ in 0..999 {
            stats.record_response(200, 5, Duration::from_millis(3), IdVerdict::Matches);
        }
        stats.errors.timeout = 1;
        let report = Report::new(&stats, SECOND, Duration::from_secs(2));
        let c = &report.latency_with_timeouts_us;
        assert!((2_990..=3_010).contains(&c.p99), "{c:?}");
        assert!(!c.is_censored(c.p99, report.timeout_us));
        assert!(c.is_censored(c.max, report.timeout_us), "{c:?}");
    }

    #[test]
    fn without_timeouts_both_views_agree() {
        let mut stats = Stats::default();
        for ms in 1..=100 {
            stats.record_response(200, 5, Duration::from_millis(ms), IdVerdict::Matches);
        }
        let report = Report::new(&stats, SECOND, SECOND);
        let (a, c) = (&report.latency_us, &report.latency_with_timeouts_us);
        assert_eq!((a.p50, a.p99, a.max), (c.p50, c.p99, c.max));
        assert_eq!(c.censored, 0);
        assert!(!c.is_censored(c.max, report.timeout_us));
        assert!(!report.to_text().contains("timed out at"));
    }
}
