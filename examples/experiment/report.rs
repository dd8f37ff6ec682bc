//! The results as text: the header and markdown table for stdout, and the CSV and
//! JSON files.
//!
//! Rule: formatting only; the one I/O is writing the files it is handed paths for.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::cell::{Cell, Status};
use crate::system::Machine;

/// How each number was obtained, saved with the data.
pub const METHOD: &str = "requests/s, p50, p99, mismatched, out of order: loadgen --json \
(closed loop, --threads 1). Latency percentiles count every request that was answered or timed out: \
a request with no answer within the timeout is counted AT the timeout (censored), and a percentile \
that falls on it is shown as '>= T' (its true value is at least the timeout). Each client counts once \
too: when more than 1 % of the clients (50 % for p50) never got an answer, p99 and max (p50) are '>= T', \
since those clients waited at least the timeout for everything they asked, and a closed loop's request \
percentiles speak only for the served clients. answered: responses over \
requests sent. clients served: connections that got at least one response. threads: the larger of the max of Threads: in /proc/<pid>/status sampled every 50 ms \
and the server's own /stats threads_peak counter (asked after the load; both are in the JSON). peak RSS: VmHWM from /proc/<pid>/status \
after the load. ctxt switches: ru_nvcsw + ru_nivcsw from wait4() when the server is reaped \
(every thread, including exited ones, which /proc/<pid>/task/*/status would miss), minus the \
count at start-up; includes the 1 s drain after SIGTERM. One fresh server per cell.";

/// Everything a run produced, as saved in results.json.
#[derive(Debug, Serialize)]
pub struct Results<'a> {
    pub command: String,
    pub machine: &'a Machine,
    pub pinning: String,
    pub duration_s: f64,
    pub timeout_s: f64,
    pub method: &'static str,
    pub total_s: f64,
    pub cells: &'a [Cell],
}

/// The lines printed above the table.
pub fn header(machine: &Machine, command: &str, pinning: &str, plan: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# reactor experiment\n");
    let _ = writeln!(out, "- command: `{command}`");
    let _ = writeln!(out, "- date: {}", machine.date_utc);
    let _ = writeln!(
        out,
        "- machine: {} CPUs, {}; kernel {}; load average at start {}",
        machine.nproc, machine.cpu_model, machine.kernel, machine.loadavg
    );
    let threads = machine
        .threads_limit
        .map_or("no limit found".into(), |n| n.to_string());
    let _ = writeln!(
        out,
        "- limits: RLIMIT_NOFILE soft {} (was {}; raised to the hard limit, inherited by server and loadgen); threads per process {threads}",
        machine.rlimit_nofile, machine.rlimit_nofile_before
    );
    let _ = writeln!(out, "- pinning: {pinning}");
    let _ = writeln!(out, "- plan: {plan}");
    let _ = writeln!(out, "- method: {METHOD}");
    out
}

const TABLE_HEAD: &str = "| workload | model | clients | req/s | answered | clients served | p50 ms | p99 ms | threads | peak RSS MiB | ctxt switches | mismatched | out of order | notes |";

/// One row per cell, in the order given.
pub fn markdown(cells: &[Cell]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{TABLE_HEAD}");
    let _ = writeln!(
        out,
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
    );
    for cell in cells {
        let mut notes = cell.notes.join("; ");
        if cell.status != Status::Measured {
            notes = format!("**{}**: {notes}", cell.status.name());
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell.workload,
            cell.model,
            cell.clients,
            or_dash(cell.requests_per_s.map(rate)),
            or_dash(cell.answered_share.map(share)),
            or_dash(cell.clients_served.map(|n| format!("{n}/{}", cell.clients))),
            or_dash(cell.p50_us.map(|us| latency(us, cell.p50_censored))),
            or_dash(cell.p99_us.map(|us| latency(us, cell.p99_censored))),
            or_dash(cell.threads_peak),
            or_dash(
                cell.rss_peak_kib
                    .map(|k| format!("{:.1}", k as f64 / 1024.0))
            ),
            or_dash(cell.ctxt_switches),
            or_dash(cell.mismatched.map(loud)),
            or_dash(cell.out_of_order.map(loud)),
            notes.replace('|', "\\|"),
        );
    }
    out
}

fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or("-".into(), |v| v.to_string())
}

/// A count that must be zero, in bold when it is not.
fn loud(n: u64) -> String {
    match n {
        0 => "0".into(),
        n => format!("**{n}**"),
    }
}

/// Requests per second: whole numbers, one decimal below 100.
pub fn rate(per_s: f64) -> String {
    match per_s < 100.0 {
        true => format!("{per_s:.1}"),
        false => format!("{per_s:.0}"),
    }
}

/// A latency for the table: milliseconds, or `>= 2 s` where it is censored at the
/// timeout (the request got no answer; its latency is at least that).
pub fn latency(us: u64, censored: bool) -> String {
    match censored {
        true => format!(">= {}", seconds(us)),
        false => millis(us),
    }
}

/// `2 s`, `0.5 s`: a timeout as the table shows it.
pub fn seconds(us: u64) -> String {
    format!("{} s", trim_decimals(us as f64 / 1e6))
}

fn trim_decimals(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A share of requests: `100 %` only when all were answered, never rounded up to it.
pub fn share(fraction: f64) -> String {
    let percent = fraction * 100.0;
    match percent {
        p if p >= 100.0 => "100 %".into(),
        p if p >= 99.95 => "> 99.9 %".into(),
        p if p > 0.0 && p < 0.05 => "< 0.1 %".into(),
        p => format!("{p:.1} %"),
    }
}

/// Microseconds as milliseconds with three significant digits or so.
pub fn millis(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    match ms {
        ms if ms < 10.0 => format!("{ms:.2}"),
        ms if ms < 100.0 => format!("{ms:.1}"),
        ms => format!("{ms:.0}"),
    }
}

/// CSV columns, in order: the cell's JSON fields.
const CSV_COLUMNS: [&str; 38] = [
    "workload",
    "model",
    "clients",
    "status",
    "verification_failed",
    "requests",
    "sent",
    "answered_share",
    "clients_served",
    "requests_per_s",
    "loadgen_s",
    "timeout_us",
    "p50_us",
    "p50_censored",
    "p99_us",
    "p99_censored",
    "max_us",
    "max_censored",
    "p99_answered_us",
    "mismatched",
    "out_of_order",
    "parse_errors",
    "timeouts",
    "connect_errors",
    "resets",
    "loadgen_exit",
    "loadgen_first_error",
    "threads_peak",
    "threads_sampled_max",
    "server_threads_peak",
    "server_requests",
    "rss_peak_kib",
    "ctxt_switches",
    "ctxt_voluntary",
    "ctxt_involuntary",
    "samples",
    "wall_s",
    "notes",
];

/// RFC 4180 CSV, one row per cell; empty fields for missing numbers.
pub fn csv(cells: &[Cell]) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for cell in cells {
        let value = serde_json::to_value(cell).expect("a cell serializes");
        let fields: Vec<String> = CSV_COLUMNS
            .iter()
            .map(|column| csv_field(&value[column]))
            .collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn csv_field(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map_or(item.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    match text.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", text.replace('"', "\"\"")),
        false => text,
    }
}

/// Writes results.csv and results.json into `dir`.
pub fn write_files(dir: &Path, results: &Results) -> Result<(), String> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("results.csv", csv(results.cells))?;
    let json = serde_json::to_string_pretty(results).expect("results serialize");
    write("results.json", json + "\n")
}
