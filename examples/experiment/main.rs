//! `experiment`: how the server models behave as clients are added.
//!
//! `cargo run --release --example experiment [-- --quick | --out DIR | ...]` (see
//! `--help`). For every workload (`/hello`, `/delay/50`, `/spin/5`), model (reactor,
//! threaded, iterative, the pool with 2 workers and with one per client, uring: the
//! table in `cli.rs`) and client count (1 to 10 000), it starts a fresh `reactor`
//! server pinned to one CPU, runs `loadgen --json` pinned to another, and records
//! throughput, latency (a timed-out request counted at the timeout), the share of
//! requests answered and of clients served, the server's threads, memory and context
//! switches, and loadgen's verification counts (`cell.rs`, `server.rs`, `load.rs`).
//! Where io_uring is unavailable the uring cells are skipped, saying why.
//!
//! Output: the machine and command line, then a markdown table on stdout; results.csv,
//! results.json and chart.svg in the results directory (`report.rs`, `chart.rs`).
//! Progress goes to stderr: a bar on a terminal, one line per cell otherwise.
//!
//! Exit code: 2 for bad flags, missing binaries or a failed build; 1 if any cell
//! failed verification (wrong id, reordering or bad framing: a server bug); else 0,
//! even when cells were skipped, failed or timed out (they are reported as such).

mod binaries;
mod cell;
mod chart;
mod cli;
mod load;
#[path = "../../tests/common/process.rs"]
mod process;
mod report;
mod server;
mod system;

use std::fs;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cell::{Bench, Cell, Status};
use crate::cli::{Args, Grid};
use crate::system::{Machine, Pinning};

fn main() -> ExitCode {
    let args = match reactor::cli::parse_args::<Args>("experiment") {
        Ok(args) => args,
        Err(code) => return code,
    };
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("experiment: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    let started = Instant::now();
    let grid = args.grid();
    // Before anything is started, so the server and loadgen inherit it.
    let (nofile_before, nofile) = system::raise_nofile_limit()
        .map_err(|e| format!("cannot read or raise RLIMIT_NOFILE: {e}"))?;
    if !args.no_build {
        binaries::build()?;
    }
    let (reactor, loadgen) = binaries::locate(args.reactor.as_deref(), args.loadgen.as_deref())?;
    let copies = binaries::Copies::new(&reactor, &loadgen)?;
    fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;

    let machine = Machine::describe(nofile_before, nofile);
    let pinning = match args.no_pin {
        true => None,
        false => Pinning::choose(),
    };
    let mut pinning_text = Pinning::describe(pinning, machine.nproc, args.no_pin);
    // This process samples /proc during the load: keep it off the server's CPU.
    if let Some(p) = pinning {
        if let Err(e) = system::pin_self(p.load_cpu) {
            pinning_text.push_str(&format!(" (this process could not be pinned: {e})"));
        }
    }
    let command = system::command_line();
    let unavailable = unavailable_models(&grid);
    for (model, why) in &unavailable {
        eprintln!("experiment: skipping the {model} model's cells: {why}");
    }
    let plan = format!(
        "{}; server {} and loadgen {} (run from private copies; source {})",
        describe_plan(&grid),
        reactor.display(),
        loadgen.display(),
        binaries::source_version().unwrap_or_else(|| "unknown".into())
    );
    print!(
        "{}",
        report::header(&machine, &command, &pinning_text, &plan)
    );
    for (model, why) in &unavailable {
        println!("- skipped: every {model} cell ({why})");
    }
    let _ = io::stdout().flush();

    let bench = Bench {
        reactor: copies.reactor.clone(),
        loadgen: copies.loadgen.clone(),
        pinning,
        nofile,
        threads_limit: machine.threads_limit,
        grid: grid.clone(),
        unavailable,
    };
    let cells = run_grid(&bench, &grid);
    let total = started.elapsed();

    println!("\n{}", report::markdown(&cells));
    let results = report::Results {
        command: command.clone(),
        machine: &machine,
        pinning: pinning_text,
        duration_s: grid.duration.as_secs_f64(),
        timeout_s: grid.timeout.as_secs_f64(),
        method: report::METHOD,
        total_s: total.as_secs_f64(),
        cells: &cells,
    };
    report::write_files(&args.out, &results)?;
    let svg = args.out.join("chart.svg");
    let title = format!(
        "reactor experiment, {}: {} CPUs, {}; {:?} per cell, {:?} request timeout",
        machine.date_utc,
        machine.nproc,
        match pinning {
            Some(_) => "server and load pinned to separate CPUs",
            None => "not pinned",
        },
        grid.duration,
        grid.timeout
    );
    chart::draw(&svg, &grid, &cells, &title)?;

    for status in [Status::Skipped, Status::Failed, Status::Killed] {
        let count = cells.iter().filter(|c| c.status == status).count();
        if count > 0 {
            println!("{count} cells {} (see notes)", status.name());
        }
    }
    println!(
        "results: {}, {}, chart: {}",
        args.out.join("results.csv").display(),
        args.out.join("results.json").display(),
        svg.display()
    );
    println!("total time: {:.1}s", total.as_secs_f64());

    let broken: Vec<&Cell> = cells.iter().filter(|c| c.verification_failed).collect();
    if broken.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<String> = broken
        .iter()
        .map(|c| format!("{} {} c={}", c.model, c.workload, c.clients))
        .collect();
    let loud = format!(
        "!!! {} cells FAILED VERIFICATION (mismatched / out of order / bad framing): {}",
        broken.len(),
        names.join(", ")
    );
    println!("{loud}");
    eprintln!("experiment: {loud}");
    Ok(ExitCode::from(1))
}

/// Server models in the grid that cannot run on this machine, with the reason: only
/// uring, where the kernel lacks or refuses io_uring. Their cells are skipped, not failed.
fn unavailable_models(grid: &Grid) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if grid.models.iter().any(|m| m.server == "uring") {
        if let Err(why) = reactor::server::uring_available() {
            out.push(("uring", why));
        }
    }
    out
}

fn describe_plan(grid: &Grid) -> String {
    let join = |items: Vec<String>| items.join(",");
    format!(
        "{} cells: workloads {}, models {}, clients {}; loadgen -d {:?} --timeout {:?} --threads 1 per cell; a fresh server per cell",
        grid.cells(),
        join(grid.workloads.iter().map(|w| w.path().to_string()).collect()),
        join(grid.models.iter().map(|m| m.name().to_string()).collect()),
        join(grid.clients.iter().map(usize::to_string).collect()),
        grid.duration,
        grid.timeout,
    )
}

/// Every cell, workload by workload, model by model, clients ascending.
fn run_grid(bench: &Bench, grid: &Grid) -> Vec<Cell> {
    let mut progress = Progress::new(grid.cells());
    let mut cells = Vec::with_capacity(grid.cells());
    for &workload in &grid.workloads {
        for &model in &grid.models {
            for &clients in &grid.clients {
                progress.start(&format!("{} {} c={clients}", model.name(), workload.path()));
                let cell = bench.run(model, workload, clients);
                progress.finish(&cell);
                cells.push(cell);
            }
        }
    }
    progress.clear();
    cells
}

/// A bar on a terminal; otherwise one plain line per finished cell on stderr.
struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    label: String,
}

impl Progress {
    fn new(total: usize) -> Self {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            let style = ProgressStyle::with_template(
                "{bar:30} {pos}/{len} cells, {elapsed_precise} (eta {eta}) {msg}",
            )
            .expect("valid template");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            total,
            done: 0,
            label: String::new(),
        }
    }

    fn start(&mut self, label: &str) {
        self.label = label.to_string();
        if let Some(bar) = &self.bar {
            bar.set_message(label.to_string());
        }
    }

    fn finish(&mut self, cell: &Cell) {
        self.done += 1;
        let line = format!(
            "[{}/{}] {}: {}",
            self.done,
            self.total,
            self.label,
            summary(cell)
        );
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => eprintln!("{line}"),
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One line about a finished cell.
fn summary(cell: &Cell) -> String {
    let mut text = match (cell.requests_per_s, cell.p99_us) {
        (Some(rate), Some(p99)) => format!(
            "{} req/s, {} answered, {}/{} clients served, p50 {}, p99 {}, {} threads",
            report::rate(rate),
            cell.answered_share.map_or("-".into(), report::share),
            cell.clients_served.unwrap_or(0),
            cell.clients,
            with_unit(cell.p50_us.unwrap_or(0), cell.p50_censored),
            with_unit(p99, cell.p99_censored),
            cell.threads_peak.map_or("?".into(), |n| n.to_string())
        ),
        (Some(rate), None) => format!("{} req/s", report::rate(rate)),
        _ => cell.status.name().to_string(),
    };
    if !cell.notes.is_empty() {
        text.push_str(&format!(" [{}]", cell.notes.join("; ")));
    }
    format!("{text} ({:.1}s)", cell.wall_s)
}

/// `0.52 ms`, or `>= 2 s` where censored at the timeout.
fn with_unit(us: u64, censored: bool) -> String {
    match censored {
        true => report::latency(us, true),
        false => format!("{} ms", report::millis(us)),
    }
}
