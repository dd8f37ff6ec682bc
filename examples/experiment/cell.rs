//! One cell of the grid: a fresh server, one loadgen run against it, and what the
//! pair measured, with a note for everything that did not go to plan.
//!
//! Rule: a cell always produces a [`Cell`]: skipped, failed and killed runs are rows
//! with their reason, never dropped and never a crash of the experiment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::{Grid, Model, Workload};
use crate::load::{self, flag_duration, Load};
use crate::server::{Server, STOP_LIMIT};
use crate::system::{self, Pinning, FD_MARGIN, THREAD_MARGIN};

/// The server's `--max-connections`: above every client count we run.
const MAX_CONNECTIONS: usize = 20_000;
/// How long to wait for the server's `/stats` after the load.
const STATS_LIMIT: Duration = Duration::from_secs(2);
/// What the server's `--drain-timeout` is set to: the load is over by then.
const DRAIN: Duration = Duration::from_secs(1);

/// Everything cells share.
pub struct Bench {
    pub reactor: PathBuf,
    pub loadgen: PathBuf,
    pub pinning: Option<Pinning>,
    pub nofile: u64,
    pub threads_limit: Option<u64>,
    pub grid: Grid,
    /// Server models (`--model`) this machine cannot run, with the reason.
    pub unavailable: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Ran to the end; the numbers are what loadgen got (notes may say timed out).
    Measured,
    /// Something broke (server did not start, died, could not spawn threads, loadgen
    /// failed); numbers are kept where there are any.
    Failed,
    /// Not run: a limit of this machine would make it meaningless.
    Skipped,
    /// loadgen ran past its hard bound and was killed; no numbers.
    Killed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Measured => "measured",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Killed => "killed",
        }
    }
}

/// One row of the results.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub model: &'static str,
    pub workload: &'static str,
    pub clients: usize,
    pub status: Status,
    /// loadgen reported a wrong id, a reordering or a framing error: the server is broken.
    pub verification_failed: bool,
    pub notes: Vec<String>,
    pub requests: Option<u64>,
    /// Requests sent; each ends answered, timed out, reset or as a parse error.
    pub sent: Option<u64>,
    /// `requests` over `sent`.
    pub answered_share: Option<f64>,
    /// Clients (connections) that got at least one response, of `clients`.
    pub clients_served: Option<u64>,
    /// loadgen's own rate: responses over its whole run, tail included.
    pub requests_per_s: Option<f64>,
    /// How long loadgen ran: the load, then waiting for requests still in flight.
    pub loadgen_s: Option<f64>,
    /// loadgen's per-request timeout: where timed-out requests are counted.
    pub timeout_us: u64,
    /// Latency of every request answered or timed out, a timeout counted at
    /// `timeout_us`; where `*_censored` is true the value only says "at least this".
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub max_us: Option<u64>,
    pub p50_censored: bool,
    pub p99_censored: bool,
    pub max_censored: bool,
    /// p99 of the answered requests only (what the table showed before timeouts counted).
    pub p99_answered_us: Option<u64>,
    pub mismatched: Option<u64>,
    pub out_of_order: Option<u64>,
    pub parse_errors: Option<u64>,
    pub timeouts: Option<u64>,
    pub connect_errors: Option<u64>,
    pub resets: Option<u64>,
    pub loadgen_exit: Option<i32>,
    pub loadgen_first_error: Option<String>,
    /// The larger of the two below: a sample can miss a short peak, and the
    /// server's counter leaves out threads it did not start for connections.
    pub threads_peak: Option<u64>,
    /// Max of `Threads:` in /proc/<pid>/status over the samples.
    pub threads_sampled_max: Option<u64>,
    /// The server's own `/stats` `threads_peak`.
    pub server_threads_peak: Option<u64>,
    /// The server's own `/stats` request count (includes the `/stats` request).
    pub server_requests: Option<u64>,
    /// VmHWM (else max sampled VmRSS, else ru_maxrss), KiB.
    pub rss_peak_kib: Option<u64>,
    /// All threads, from wait4's rusage, minus the count when the server was ready.
    pub ctxt_switches: Option<u64>,
    pub ctxt_voluntary: Option<u64>,
    pub ctxt_involuntary: Option<u64>,
    pub samples: u64,
    pub wall_s: f64,
}

impl Cell {
    fn new(
        model: Model,
        workload: Workload,
        clients: usize,
        timeout: Duration,
        status: Status,
    ) -> Self {
        Self {
            model: model.name(),
            workload: workload.path(),
            clients,
            status,
            verification_failed: false,
            notes: Vec::new(),
            requests: None,
            sent: None,
            answered_share: None,
            clients_served: None,
            requests_per_s: None,
            loadgen_s: None,
            timeout_us: timeout.as_micros() as u64,
            p50_us: None,
            p99_us: None,
            max_us: None,
            p50_censored: false,
            p99_censored: false,
            max_censored: false,
            p99_answered_us: None,
            mismatched: None,
            out_of_order: None,
            parse_errors: None,
            timeouts: None,
            connect_errors: None,
            resets: None,
            loadgen_exit: None,
            loadgen_first_error: None,
            threads_peak: None,
            threads_sampled_max: None,
            server_threads_peak: None,
            server_requests: None,
            rss_peak_kib: None,
            ctxt_switches: None,
            ctxt_voluntary: None,
            ctxt_involuntary: None,
            samples: 0,
            wall_s: 0.0,
        }
    }

    fn fail(&mut self, why: String) {
        self.status = Status::Failed;
        self.notes.push(why);
    }
}

impl Bench {
    /// Why this cell cannot run on this machine, if it cannot.
    fn skip_reason(&self, model: Model, clients: usize) -> Option<String> {
        if let Some((_, why)) = self.unavailable.iter().find(|(m, _)| *m == model.server) {
            return Some(why.clone());
        }
        let fds = clients as u64 + FD_MARGIN;
        if self.nofile < fds {
            return Some(format!(
                "needs {fds} file descriptors per process, RLIMIT_NOFILE is {} (the hard limit)",
                self.nofile
            ));
        }
        match (model.thread_per_client, self.threads_limit) {
            (true, Some(limit)) if limit < clients as u64 + THREAD_MARGIN => {
                Some(format!(
                    "needs {} threads, the machine allows {limit} (threads-max, pid_max, RLIMIT_NPROC, pids.max)",
                    clients as u64 + THREAD_MARGIN
                ))
            }
            _ => None,
        }
    }

    /// Runs one cell from server start to server exit.
    pub fn run(&self, model: Model, workload: Workload, clients: usize) -> Cell {
        let started = Instant::now();
        let mut cell = Cell::new(
            model,
            workload,
            clients,
            self.grid.timeout,
            Status::Measured,
        );
        if let Some(why) = self.skip_reason(model, clients) {
            cell.status = Status::Skipped;
            cell.notes.push(why);
            return cell;
        }
        self.measure(&mut cell, model, workload, clients);
        cell.wall_s = started.elapsed().as_secs_f64();
        cell
    }

    fn measure(&self, cell: &mut Cell, model: Model, workload: Workload, clients: usize) {
        let max_connections = MAX_CONNECTIONS.max(clients + 1_000);
        let server_cpu = self.pinning.map(|p| p.server_cpu);
        let command = server_command(&self.reactor, model, clients, max_connections, server_cpu);
        let mut server = match Server::start(command) {
            Ok(server) => server,
            Err(why) => return cell.fail(why),
        };
        server.start_sampling();
        let load = Load {
            binary: &self.loadgen,
            addr: server.addr,
            path: workload.path(),
            clients,
            duration: self.grid.duration,
            timeout: self.grid.timeout,
            rate: None,
            cpu: self.pinning.map(|p| p.load_cpu),
        };
        let outcome = load.run();
        let samples = server.stop_sampling();
        cell.samples = samples.count;
        cell.threads_sampled_max = samples.threads_max;

        read_load(cell, outcome, &load);

        if let Some(exit) = server.exited_early() {
            cell.fail(format!(
                "server exited during the run ({})",
                describe_exit(exit.code, exit.signal)
            ));
        } else if let Some(stats) = server.stats(STATS_LIMIT) {
            cell.server_threads_peak = stats["threads_peak"].as_u64();
            cell.server_requests = stats["requests"].as_u64();
        } else {
            cell.notes
                .push(format!("no /stats answer within {STATS_LIMIT:?}"));
        }

        cell.threads_peak = cell.threads_sampled_max.max(cell.server_threads_peak);

        let log = server.log();
        if log.spawn_failures > 0 {
            cell.fail(format!(
                "{} thread spawn failures in the server",
                log.spawn_failures
            ));
        } else if let Some(first) = &log.first_warning {
            cell.notes.push(format!(
                "server logged {} warnings, first: {}",
                log.warnings,
                shorten(first, 120)
            ));
        }

        let ctxt_at_ready = server.ctxt_at_ready;
        match server.stop() {
            Ok(exit) => {
                let total = exit.ctxt_voluntary + exit.ctxt_involuntary;
                cell.ctxt_voluntary = Some(exit.ctxt_voluntary);
                cell.ctxt_involuntary = Some(exit.ctxt_involuntary);
                cell.ctxt_switches = Some(total.saturating_sub(ctxt_at_ready));
                cell.rss_peak_kib = samples
                    .hwm_kib
                    .or(samples.rss_max_kib)
                    .or(Some(exit.maxrss_kib));
                if exit.killed {
                    cell.notes.push(format!(
                        "server still running {STOP_LIMIT:?} after SIGTERM: killed (SIGKILL)"
                    ));
                } else if exit.code != Some(0) && cell.status != Status::Failed {
                    cell.notes.push(format!(
                        "server stopped with {}",
                        describe_exit(exit.code, exit.signal)
                    ));
                }
            }
            Err(e) => cell.notes.push(format!("cannot reap the server: {e}")),
        }
    }
}

/// Folds loadgen's outcome into the cell.
fn read_load(cell: &mut Cell, outcome: load::Outcome, load: &Load) {
    let (code, report, stderr) = match outcome {
        load::Outcome::NotStarted(why) => return cell.fail(why),
        load::Outcome::Killed { after } => {
            cell.status = Status::Killed;
            cell.notes.push(format!(
                "loadgen still running after {:.1}s (hard bound {:.0}s): killed",
                after.as_secs_f64(),
                load.hard_bound().as_secs_f64()
            ));
            return;
        }
        load::Outcome::Exited {
            code,
            report,
            stderr,
        } => (code, report, stderr),
    };
    cell.loadgen_exit = code;
    let Some(report) = report else {
        let first = stderr.lines().next().unwrap_or("no output");
        return cell.fail(format!(
            "loadgen {} without a report: {first}",
            describe_exit(code, None)
        ));
    };
    cell.requests = Some(report.requests);
    cell.sent = Some(report.sent);
    cell.answered_share = (report.sent > 0).then(|| report.requests as f64 / report.sent as f64);
    cell.clients_served = Some(report.clients_served);
    cell.requests_per_s = Some(report.requests_per_s);
    cell.loadgen_s = Some(report.duration_s);
    // Censoring rule: a request with no answer within the timeout took at least the
    // timeout; leaving it out would let a server that answers few clients look fast.
    let all = &report.latency_with_timeouts_us;
    let timeout_us = report.timeout_us;
    cell.timeout_us = timeout_us;
    if report.requests + all.censored > 0 {
        cell.p50_us = Some(all.p50);
        cell.p99_us = Some(all.p99);
        cell.max_us = Some(all.max);
        cell.p50_censored = all.is_censored(all.p50, timeout_us);
        cell.p99_censored = all.is_censored(all.p99, timeout_us);
        cell.max_censored = all.is_censored(all.max, timeout_us);
        // Each client counts once, too: in a closed loop a starved client sends one
        // request per timeout while a served one sends thousands, so the request
        // percentiles speak for the served clients. A client never answered waited at
        // least the timeout for everything it asked; when more than 1 % (50 %) of the
        // clients are such, no p99 (p50) below the timeout describes what clients saw.
        let unserved = report.clients.saturating_sub(report.clients_served);
        if unserved > 0 && timeout_us > 0 {
            let share = unserved as f64 / report.clients.max(1) as f64;
            if share > 0.01 {
                cell.p99_us = Some(all.p99.max(timeout_us));
                cell.p99_censored = true;
                cell.max_us = Some(all.max.max(timeout_us));
                cell.max_censored = true;
            }
            if share > 0.5 {
                cell.p50_us = Some(all.p50.max(timeout_us));
                cell.p50_censored = true;
            }
        }
    }
    cell.p99_answered_us = (report.requests > 0).then_some(report.latency_us.p99);
    cell.mismatched = Some(report.mismatched);
    cell.out_of_order = Some(report.out_of_order);
    let errors = report.errors;
    cell.parse_errors = Some(errors.parse);
    cell.timeouts = Some(errors.timeout);
    cell.connect_errors = Some(errors.connect);
    cell.resets = Some(errors.reset);
    cell.loadgen_first_error.clone_from(&report.first_error);

    if report.mismatched > 0 || report.out_of_order > 0 || errors.parse > 0 {
        cell.verification_failed = true;
        cell.notes.push(format!(
            "!!! VERIFICATION FAILED: {} mismatched, {} out of order, {} parse errors{}",
            report.mismatched,
            report.out_of_order,
            errors.parse,
            report
                .first_error
                .as_deref()
                .map(|e| format!(" (first: {})", shorten(e, 120)))
                .unwrap_or_default()
        ));
    }
    if errors.timeout > 0 {
        cell.notes.push(format!(
            "timed out {} (no answer within {:?}; counted at {:?} in the percentiles)",
            errors.timeout, load.timeout, load.timeout
        ));
    }
    let planned = load.duration.as_secs_f64();
    if report.requests > 0 && report.duration_s > planned * 1.1 + 0.1 {
        cell.notes.push(format!(
            "req/s is over loadgen's {:.1}s (a {planned:.1}s load, then waiting for requests in flight)",
            report.duration_s
        ));
    }
    if errors.connect > 0 || errors.reset > 0 {
        cell.notes.push(format!(
            "connect errors {}, resets {}",
            errors.connect, errors.reset
        ));
    }
    if report.requests == 0 {
        cell.notes.push(format!(
            "no responses in {:.1}s ({} sent)",
            report.duration_s, report.sent
        ));
    } else if code != Some(0) && !cell.verification_failed {
        cell.notes
            .push(format!("loadgen {}", describe_exit(code, None)));
    }
}

/// `reactor 0 -b 127.0.0.1 --model M [--workers N] ...`, pinned to `cpu` if given.
fn server_command(
    binary: &Path,
    model: Model,
    clients: usize,
    max_connections: usize,
    cpu: Option<usize>,
) -> Command {
    let mut command = Command::new(binary);
    command.args(["0", "-b", "127.0.0.1", "--model", model.server]);
    if let Some(workers) = model.workers_for(clients) {
        command.args(["--workers", &workers.to_string()]);
    }
    command
        .args(["--max-connections", &max_connections.to_string()])
        .args(["--drain-timeout", &flag_duration(DRAIN)])
        .env("RUST_LOG", "info,reactor::access=warn");
    if let Some(cpu) = cpu {
        system::pin_command(&mut command, cpu);
    }
    command
}

fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "killed by a signal".into(),
    }
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report;

    /// loadgen's report of a run where 1 of 10 clients was served: 1 answer, 9 timeouts.
    fn starved_run() -> load::Report {
        serde_json::from_value(serde_json::json!({
            "requests": 1, "duration_s": 3.0, "requests_per_s": 0.33,
            "latency_us": {"p50": 900, "p99": 900, "max": 900},
            "latency_with_timeouts_us": {
                "p50": 2_000_000, "p99": 2_000_000, "max": 2_000_000, "censored": 9
            },
            "timeout_us": 2_000_000, "clients": 10, "clients_served": 1,
            "errors": {"connect": 0, "reset": 0, "timeout": 9, "parse": 0},
            "mismatched": 0, "out_of_order": 0, "sent": 10, "first_error": null
        }))
        .expect("a loadgen report")
    }

    fn fold(report: load::Report) -> Cell {
        let model = crate::cli::MODELS[2];
        let timeout = Duration::from_secs(2);
        let mut cell = Cell::new(model, Workload::Hello, 10, timeout, Status::Measured);
        let load = Load {
            binary: Path::new("loadgen"),
            addr: "127.0.0.1:1".parse().unwrap(),
            path: "/hello",
            clients: 10,
            duration: Duration::from_secs(3),
            timeout,
            rate: None,
            cpu: None,
        };
        let outcome = load::Outcome::Exited {
            code: Some(0),
            report: Some(report),
            stderr: String::new(),
        };
        read_load(&mut cell, outcome, &load);
        cell
    }

    #[test]
    fn timed_out_requests_make_the_percentiles_censored_at_the_timeout() {
        let cell = fold(starved_run());
        assert_eq!(cell.p99_us, Some(2_000_000));
        assert!(cell.p50_censored && cell.p99_censored && cell.max_censored);
        assert_eq!(cell.p99_answered_us, Some(900));
        assert_eq!(cell.answered_share, Some(0.1));
        assert_eq!(cell.clients_served, Some(1));
        let table = report::markdown(&[cell]);
        let row = table.lines().nth(2).expect("a row");
        assert!(row.contains("| 10.0 % | 1/10 | >= 2 s | >= 2 s |"), "{row}");
    }

    /// 2 of 10 clients served thousands of fast requests; 8 got nothing. The request
    /// percentiles alone (99.9 % answered) would show 0.3 ms.
    #[test]
    fn clients_never_answered_make_the_p99_at_least_the_timeout() {
        let mut report = starved_run();
        report.requests = 20_000;
        report.sent = 20_008;
        report.clients_served = 2;
        report.latency_with_timeouts_us = load::CensoredLatency {
            p50: 250,
            p99: 300,
            max: 2_000_000,
            censored: 8,
        };
        let cell = fold(report.clone());
        assert_eq!(cell.p99_us, Some(2_000_000));
        assert!(cell.p99_censored && cell.p50_censored);
        // Every client served: the request percentiles stand.
        report.clients_served = 10;
        let cell = fold(report);
        assert_eq!(cell.p99_us, Some(300));
        assert!(!cell.p99_censored && !cell.p50_censored);
    }

    #[test]
    fn a_cell_without_timeouts_shows_exact_latencies() {
        let mut report = starved_run();
        report.errors.timeout = 0;
        report.sent = 1;
        report.clients = 1;
        report.latency_with_timeouts_us = load::CensoredLatency {
            p50: 900,
            p99: 900,
            max: 900,
            censored: 0,
        };
        let cell = fold(report);
        assert!(!cell.p99_censored && !cell.max_censored);
        let row = report::markdown(&[cell])
            .lines()
            .nth(2)
            .unwrap()
            .to_string();
        assert!(row.contains("| 100 % | 1/10 | 0.90 | 0.90 |"), "{row}");
    }
}
