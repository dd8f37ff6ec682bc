//! Command line: the clap definition and the grid it selects.
//!
//! Rule: no processes and no files here; every error is one line for
//! `experiment: ...` and exit code 2.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{Parser, ValueEnum};

/// Runs the `reactor` server once per cell of a grid (model x workload x clients),
/// drives each run with `loadgen`, and writes a markdown table on stdout plus CSV,
/// JSON and an SVG chart to the results directory.
#[derive(Debug, Parser)]
#[command(name = "experiment", version)]
pub struct Args {
    /// Reduced grid (clients 1, 10, 100; 1 s per cell): about 75 s for the six models.
    #[arg(long)]
    pub quick: bool,

    /// Client counts, comma-separated [default: 1,2,5,10,100,1000,10000].
    #[arg(long, value_delimiter = ',', value_parser = parse_clients, value_name = "LIST")]
    pub clients: Option<Vec<usize>>,

    /// Workloads, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_enum, value_name = "LIST")]
    pub workloads: Option<Vec<Workload>>,

    /// Server models, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_enum, value_name = "LIST")]
    pub models: Option<Vec<Model>>,

    /// Load per cell, e.g. 3s, 500ms [default: 3s, or 1s with --quick].
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub duration: Option<Duration>,

    /// loadgen's per-request timeout [default: 2s, or 1s with --quick].
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub timeout: Option<Duration>,

    /// Where the CSV, JSON and SVG go (created if missing).
    #[arg(long, default_value = "experiment-results", value_name = "DIR")]
    pub out: PathBuf,

    /// Do not run `cargo build` for the server and loadgen first.
    #[arg(long)]
    pub no_build: bool,

    /// The server binary [default: target/<profile>/reactor next to this program].
    #[arg(long, value_name = "PATH")]
    pub reactor: Option<PathBuf>,

    /// The load generator [default: target/<profile>/examples/loadgen].
    #[arg(long, value_name = "PATH")]
    pub loadgen: Option<PathBuf>,

    /// Do not pin the server and the load to separate cores.
    #[arg(long)]
    pub no_pin: bool,
}

/// How many `--workers` a model's server is given in a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workers {
    /// The server's default (no `--workers` flag).
    Default,
    /// This many, whatever the number of clients.
    Fixed(usize),
    /// One per client: a pool sized so that no client waits for a worker.
    PerClient,
}

/// One server configuration the experiment compares: a row of [`MODELS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    /// Its name in `--models`, the table, the CSV and the chart.
    pub name: &'static str,
    /// The server's `--model`.
    pub server: &'static str,
    pub workers: Workers,
    /// It runs a thread per client, so the machine's thread limit can rule a cell out.
    pub thread_per_client: bool,
    /// Its line in the chart.
    pub color: (u8, u8, u8),
    /// What `--help` says about it.
    pub about: &'static str,
}

/// Every model the experiment knows, in report order: a new one is one more line.
/// (name, server's --model, workers, a thread per client, chart colour, help)
#[rustfmt::skip]
pub static MODELS: &[Model] = &[
    Model::new("reactor", "reactor", Workers::Default, false, (31, 119, 180), "One thread, one event loop"),
    Model::new("threaded", "threaded", Workers::Default, true, (214, 39, 40), "One OS thread per connection"),
    Model::new("iterative", "iterative", Workers::Default, false, (44, 160, 44), "One connection at a time"),
    Model::new("pool-2", "pool", Workers::Fixed(2), false, (148, 103, 189), "A pool of 2 worker threads"),
    Model::new("pool-c", "pool", Workers::PerClient, true, (255, 127, 14), "A pool of one worker per client"),
    Model::new("uring", "uring", Workers::Default, false, (140, 86, 75), "One thread, one io_uring (skipped where io_uring is unavailable)"),
];

impl Model {
    const fn new(
        name: &'static str,
        server: &'static str,
        workers: Workers,
        thread_per_client: bool,
        color: (u8, u8, u8),
        about: &'static str,
    ) -> Self {
        Self {
            name,
            server,
            workers,
            thread_per_client,
            color,
            about,
        }
    }

    /// The name in the reports.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// The server's `--workers` for a cell with `clients` clients, if it gets one.
    pub fn workers_for(self, clients: usize) -> Option<usize> {
        match self.workers {
            Workers::Default => None,
            Workers::Fixed(n) => Some(n),
            Workers::PerClient => Some(clients),
        }
    }
}

impl ValueEnum for Model {
    fn value_variants<'a>() -> &'a [Self] {
        MODELS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name).help(self.about))
    }
}

/// What each request asks the server to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// `/hello`: a static body, nearly no work.
    Hello,
    /// `/delay/50`: a slow handler that waits 50 ms without computing.
    Delay,
    /// `/spin/5`: a handler that computes for 5 ms.
    Spin,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::Hello, Workload::Delay, Workload::Spin];

    pub fn path(self) -> &'static str {
        match self {
            Workload::Hello => "/hello",
            Workload::Delay => "/delay/50",
            Workload::Spin => "/spin/5",
        }
    }
}

/// The cells to run and how long each may take.
#[derive(Debug, Clone)]
pub struct Grid {
    pub models: Vec<Model>,
    pub workloads: Vec<Workload>,
    pub clients: Vec<usize>,
    /// Load per cell (loadgen's `-d`).
    pub duration: Duration,
    /// loadgen's `--timeout`.
    pub timeout: Duration,
}

const FULL_CLIENTS: [usize; 7] = [1, 2, 5, 10, 100, 1_000, 10_000];
const QUICK_CLIENTS: [usize; 3] = [1, 10, 100];

impl Args {
    /// The grid the flags select; defaults depend on `--quick`.
    pub fn grid(&self) -> Grid {
        let (clients, duration, timeout) = match self.quick {
            true => (&QUICK_CLIENTS[..], 1, 1),
            false => (&FULL_CLIENTS[..], 3, 2),
        };
        let mut clients = self.clients.clone().unwrap_or_else(|| clients.to_vec());
        clients.sort_unstable();
        clients.dedup();
        Grid {
            models: dedup(self.models.clone().unwrap_or(MODELS.to_vec())),
            workloads: dedup(self.workloads.clone().unwrap_or(Workload::ALL.to_vec())),
            clients,
            duration: self.duration.unwrap_or(Duration::from_secs(duration)),
            timeout: self.timeout.unwrap_or(Duration::from_secs(timeout)),
        }
    }
}

impl Grid {
    pub fn cells(&self) -> usize {
        self.models.len() * self.workloads.len() * self.clients.len()
    }
}

fn dedup<T: PartialEq + Copy>(items: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn parse_clients(text: &str) -> Result<usize, String> {
    match text.trim().replace('_', "").parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!("'{text}' is not a client count from 1 to 1000000")),
    }
}

/// A duration for a cell (`3s`, `500ms`): from 1 ms to 1 h.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match reactor::cli::parse_duration(text)? {
        d if d >= Duration::from_millis(1) && d <= Duration::from_secs(3600) => Ok(d),
        _ => Err(format!("'{text}' must be from 1ms to 1h")),
    }
}
