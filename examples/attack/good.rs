//! Well-behaved clients: `loadgen --rate R --json` (open loop, so a stalled server
//! cannot hide its stall by slowing the client down) against `/hello`, once before an
//! attack (the baseline) and once during it, on a few keep-alive connections.
//!
//! Rule: this file runs loadgen and condenses its report; whether the numbers pass is
//! the scenario's call.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::Serialize;

use crate::load::{Load, Outcome};
use crate::target::Model;

/// A good client waits at most this long for one response.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How the good clients are run.
#[derive(Debug, Clone)]
pub struct GoodClients {
    pub loadgen: PathBuf,
    pub rate: f64,
    pub connections: usize,
    /// Pin loadgen to this CPU (else it runs where this process may).
    pub cpu: Option<usize>,
}

/// What one loadgen run of good clients saw.
#[derive(Debug, Clone, Serialize)]
pub struct GoodRun {
    pub responses: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub max_us: Option<u64>,
    /// Requests that got no answer within the timeout.
    pub timeouts: u64,
    pub connect_errors: u64,
    pub resets: u64,
    /// Due but never sent: every connection was still waiting for an earlier answer.
    pub unsent: u64,
    /// Wrong id, out of order, or a framing error: the server answered wrongly.
    pub wrong: u64,
    /// Why there are no figures, when there are none.
    pub problem: Option<String>,
}

/// Good clients before and during an attack.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub baseline: GoodRun,
    pub during: GoodRun,
    /// During p99 over max(baseline p99, floor); `None` without answers in both runs.
    pub p99_ratio: Option<f64>,
    pub p99_floor_us: u64,
}

impl Latency {
    pub fn new(baseline: GoodRun, during: GoodRun, floor: Duration) -> Self {
        let floor_us = floor.as_micros() as u64;
        let p99_ratio = match (baseline.p99_us, during.p99_us) {
            (Some(base), Some(now)) => Some(now as f64 / base.max(floor_us).max(1) as f64),
            _ => None,
        };
        Self {
            baseline,
            during,
            p99_ratio,
            p99_floor_us: floor_us,
        }
    }

    /// `p50 0.1 ms / p99 0.3 ms (baseline 0.1 / 0.2 ms, 1.3x of max(baseline p99, 1 ms))`.
    pub fn describe(&self) -> String {
        let during = self.during.describe();
        let baseline = self.baseline.describe();
        match self.p99_ratio {
            Some(ratio) => format!(
                "{during}; baseline {baseline}; p99 {ratio:.2}x of max(baseline p99, {} ms)",
                millis(self.p99_floor_us)
            ),
            None => format!("{during}; baseline {baseline}"),
        }
    }
}

impl GoodRun {
    fn failed(problem: String) -> Self {
        Self {
            responses: 0,
            p50_us: None,
            p99_us: None,
            max_us: None,
            timeouts: 0,
            connect_errors: 0,
            resets: 0,
            unsent: 0,
            wrong: 0,
            problem: Some(problem),
        }
    }

    /// `p50 0.12 ms, p99 0.31 ms (5000 answers)`, or why there is nothing to say.
    pub fn describe(&self) -> String {
        let mut text = match (self.p50_us, self.p99_us) {
            (Some(p50), Some(p99)) => format!(
                "p50 {} ms, p99 {} ms ({} answers",
                millis(p50),
                millis(p99),
                self.responses
            ),
            _ => "no answers (".to_string(),
        };
        let mut extra = Vec::new();
        for (count, what) in [
            (self.timeouts, "timed out"),
            (self.unsent, "never sent"),
            (self.connect_errors, "connect errors"),
            (self.resets, "reset"),
            (self.wrong, "WRONG"),
        ] {
            if count > 0 {
                extra.push(format!("{count} {what}"));
            }
        }
        if let Some(problem) = &self.problem {
            extra.push(problem.clone());
        }
        if !extra.is_empty() {
            if self.p99_us.is_some() {
                text.push_str(", ");
            }
            text.push_str(&extra.join(", "));
        }
        text.push(')');
        text
    }
}

impl GoodClients {
    /// Runs them for `duration`, now, to the end.
    pub fn measure(&self, addr: SocketAddr, model: &Model, duration: Duration) -> GoodRun {
        run(self.prepare(addr, model, duration))
    }

    /// Runs them for `duration` on a thread while the caller attacks; join for the
    /// result.
    pub fn start(
        &self,
        addr: SocketAddr,
        model: &Model,
        duration: Duration,
    ) -> JoinHandle<GoodRun> {
        let prepared = self.prepare(addr, model, duration);
        thread::spawn(move || run(prepared))
    }

    fn prepare(&self, addr: SocketAddr, model: &Model, duration: Duration) -> Prepared {
        // The iterative server serves one connection at a time, and a pool as many as
        // it has workers: one keep-alive connection more would wait for another to close.
        let connections = match model {
            Model::Iterative => 1,
            Model::Pool { workers } => self.connections.min(*workers),
            _ => self.connections,
        };
        Prepared {
            loadgen: self.loadgen.clone(),
            addr,
            connections,
            duration,
            rate: self.rate,
            cpu: self.cpu,
        }
    }
}

/// Everything a run needs, owned, so it can move to a thread.
struct Prepared {
    loadgen: PathBuf,
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    rate: f64,
    cpu: Option<usize>,
}

fn run(p: Prepared) -> GoodRun {
    let load = Load {
        binary: &p.loadgen,
        addr: p.addr,
        path: "/hello",
        clients: p.connections,
        duration: p.duration,
        timeout: TIMEOUT,
        rate: Some(p.rate),
        cpu: p.cpu,
    };
    match load.run() {
        Outcome::NotStarted(why) => GoodRun::failed(why),
        Outcome::Killed { after } => {
            GoodRun::failed(format!("loadgen killed after {:.1}s", after.as_secs_f64()))
        }
        Outcome::Exited {
            report: None,
            stderr,
            ..
        } => GoodRun::failed(format!(
            "loadgen gave no report: {}",
            stderr.lines().next().unwrap_or("no output")
        )),
        Outcome::Exited {
            report: Some(r), ..
        } => {
            let answered = r.requests > 0;
            GoodRun {
                responses: r.requests,
                p50_us: answered.then_some(r.latency_us.p50),
                p99_us: answered.then_some(r.latency_us.p99),
                max_us: answered.then_some(r.latency_us.max),
                timeouts: r.errors.timeout,
                connect_errors: r.errors.connect,
                resets: r.errors.reset,
                unsent: r.unsent,
                wrong: r.mismatched + r.out_of_order + r.errors.parse,
                problem: r.first_error.filter(|_| !answered),
            }
        }
    }
}

/// Microseconds as milliseconds with two decimals: `0.31`.
pub fn millis(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}
