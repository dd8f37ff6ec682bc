//! What a scenario found: its verdict, what it expected of this model, what the
//! server did (as sentences and as named figures), and the good clients' latency;
//! printed as text, and as JSON for `--json`.
//!
//! Rule: no I/O except the print functions. The figure names are an interface (the
//! tests and the README read them): add figures rather than rename them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::good::Latency;
use crate::server::Samples;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not run: it needs something this run does not have (e.g. `--server`).
    Skip,
}

/// One scenario's result against one server.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: &'static str,
    pub model: String,
    pub verdict: Verdict,
    /// Why it passed, failed or was skipped, in one line.
    pub reason: String,
    /// What this scenario expects of this model.
    pub expected: String,
    /// What the server did, one sentence each.
    pub did: Vec<String>,
    /// The same, as numbers (names documented in each scenario).
    pub figures: BTreeMap<String, Value>,
    pub latency: Option<Latency>,
    pub wall_s: f64,
}

/// Collects a scenario's findings and the checks that decide its verdict.
#[derive(Debug)]
pub struct Findings {
    scenario: &'static str,
    model: String,
    expected: String,
    did: Vec<String>,
    figures: BTreeMap<String, Value>,
    failures: Vec<String>,
    latency: Option<Latency>,
}

impl Findings {
    pub fn new(scenario: &'static str, model: &str, expected: impl Into<String>) -> Self {
        Self {
            scenario,
            model: model.to_string(),
            expected: expected.into(),
            did: Vec::new(),
            figures: BTreeMap::new(),
            failures: Vec::new(),
            latency: None,
        }
    }

    /// A sentence about what the server did.
    pub fn did(&mut self, sentence: impl Into<String>) {
        self.did.push(sentence.into());
    }

    /// A named figure.
    pub fn figure(&mut self, name: &str, value: impl Serialize) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.figures.insert(name.to_string(), value);
    }

    /// An expectation: a failure with `what` unless `ok`.
    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.failures.push(what.into());
        }
    }

    pub fn latency(&mut self, latency: Latency) {
        self.latency = Some(latency);
    }

    /// Server memory, CPU and threads over the attack, as sentences and figures:
    /// `rss_before_kib`, `rss_peak_kib`, `cpu_s`, `threads_peak`.
    pub fn server_figures(
        &mut self,
        rss_before_kib: Option<u64>,
        samples: &Samples,
        cpu: Option<Duration>,
    ) {
        let peak = samples.rss_max_kib;
        self.figure("rss_before_kib", rss_before_kib);
        self.figure("rss_peak_kib", peak);
        self.figure("cpu_s", cpu.map(|c| c.as_secs_f64()));
        self.figure("threads_peak", samples.threads_max);
        if let (Some(before), Some(peak), Some(cpu)) = (rss_before_kib, peak, cpu) {
            self.did(format!(
                "server RSS {} before, {} at peak; {:.2} s of CPU during the attack; {} threads at most",
                mib(before),
                mib(peak),
                cpu.as_secs_f64(),
                samples.threads_max.unwrap_or(0)
            ));
        }
    }

    pub fn finish(self, wall: Duration) -> Outcome {
        let (verdict, reason) = match self.failures.is_empty() {
            true => (Verdict::Pass, "as expected".to_string()),
            false => (Verdict::Fail, self.failures.join("; ")),
        };
        Outcome {
            scenario: self.scenario,
            model: self.model,
            verdict,
            reason,
            expected: self.expected,
            did: self.did,
            figures: self.figures,
            latency: self.latency,
            wall_s: wall.as_secs_f64(),
        }
    }
}

impl Outcome {
    /// A scenario that could not run here.
    pub fn skipped(scenario: &'static str, model: &str, why: impl Into<String>) -> Self {
        Self {
            scenario,
            model: model.to_string(),
            verdict: Verdict::Skip,
            reason: why.into(),
            expected: String::new(),
            did: Vec::new(),
            figures: BTreeMap::new(),
            latency: None,
            wall_s: 0.0,
        }
    }

    /// A scenario that could not even start (no server, ...).
    pub fn broken(scenario: &'static str, model: &str, why: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Fail,
            ..Self::skipped(scenario, model, why)
        }
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "== {} ({}) ==", self.scenario, self.model);
        if !self.expected.is_empty() {
            let _ = writeln!(out, "expected: {}", self.expected);
        }
        for sentence in &self.did {
            let _ = writeln!(out, "  - {sentence}");
        }
        if let Some(latency) = &self.latency {
            let _ = writeln!(out, "  - good clients: {}", latency.describe());
        }
        let verdict = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        };
        let _ = writeln!(
            out,
            "{verdict}: {} {} ({:.1}s)",
            self.scenario, self.reason, self.wall_s
        );
        out
    }
}

/// The closing table: one line per scenario.
pub fn summary(outcomes: &[Outcome]) -> String {
    let mut out = String::from("\nsummary:\n");
    for o in outcomes {
        let verdict = match o.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        };
        let _ = writeln!(
            out,
            "  {verdict}  {:<19} {:<10} {}",
            o.scenario, o.model, o.reason
        );
    }
    let failed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Fail)
        .count();
    let passed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Pass)
        .count();
    let skipped = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Skip)
        .count();
    let _ = writeln!(out, "{passed} passed, {failed} failed, {skipped} skipped");
    out
}

/// KiB as `12.3 MiB`.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `min/median/max` of durations, in seconds: `5.00/5.01/5.03 s`.
pub fn spread(times: &[Duration]) -> Option<String> {
    let (min, median, max) = min_median_max(times)?;
    Some(format!(
        "{:.2}/{:.2}/{:.2} s",
        min.as_secs_f64(),
        median.as_secs_f64(),
        max.as_secs_f64()
    ))
}

pub fn min_median_max(times: &[Duration]) -> Option<(Duration, Duration, Duration)> {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    Some((*sorted.first()?, sorted[sorted.len() / 2], *sorted.last()?))
}
