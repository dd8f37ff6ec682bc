//! The server under attack: a fresh process per scenario from the `--server` command
//! line, or the one already running at `--url` (with `--pid` for its figures).
//!
//! Rule: this file knows how to start, observe and stop the server; it decides nothing
//! about what a scenario expects. What the server was configured with (its model, its
//! timeouts) is learnt here, once, so every scenario reads the same answers.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reactor::config::{Config, Timeouts};

use crate::cli::Args;
use crate::process;
use crate::server::{self, Exit, Sampler, Samples, Server, ServerLog};

/// How long the server may take to answer `/stats`.
const STATS_LIMIT: Duration = Duration::from_secs(2);

/// The concurrency model, as the server's `/stats` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Model {
    Reactor,
    Threaded,
    Iterative,
    /// A fixed pool of worker threads fed from a queue: `workers` connections are
    /// served at a time, the rest wait.
    Pool {
        workers: usize,
    },
    /// Not one of ours, or no `/stats`: expected to behave like an event loop.
    Other(String),
}

impl Model {
    fn from_stats(stats: Option<&serde_json::Value>) -> Self {
        match stats.and_then(|s| s["model"].as_str()) {
            Some("reactor") => Model::Reactor,
            Some("threaded") => Model::Threaded,
            Some("iterative") => Model::Iterative,
            // Its threads are its workers and the accepting thread, all counted from
            // before it answers its first request.
            Some("pool") => Model::Pool {
                workers: stats
                    .and_then(|s| s["threads_live"].as_u64())
                    .map_or(1, |live| live.saturating_sub(1).max(1) as usize),
            },
            Some(other) => Model::Other(other.to_string()),
            None => Model::Other("unknown".into()),
        }
    }

    /// How many connections it serves at once, when that is a fixed number: one for
    /// the iterative server, its workers for a pool. The others hold them all.
    pub fn serves_at_once(&self) -> Option<usize> {
        match self {
            Model::Iterative => Some(1),
            Model::Pool { workers } => Some(*workers),
            _ => None,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Model::Reactor => "reactor",
            Model::Threaded => "threaded",
            Model::Iterative => "iterative",
            Model::Pool { .. } => "pool",
            Model::Other(name) => name,
        }
    }
}

/// The server's timeouts, as far as the tool knows them.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    pub header: Duration,
    pub write: Duration,
    pub drain: Duration,
}

/// Where the server comes from.
#[derive(Debug)]
enum Source {
    Spawn {
        template: String,
        cpu: Option<usize>,
        /// Holds the large file for `{ROOT}`; removed at the end.
        root: Option<PathBuf>,
    },
    Attach {
        addr: SocketAddr,
        pid: Option<i32>,
    },
}

/// What the tool knows about the server before any scenario runs.
#[derive(Debug)]
pub struct Target {
    source: Source,
    pub model: Model,
    pub expected: Expected,
    /// How the target is described in reports.
    pub description: String,
}

/// A server ready for one scenario.
pub struct Live {
    pub addr: SocketAddr,
    pub pid: Option<i32>,
    server: Option<Server>,
}

impl Target {
    /// Reads the flags, creates `{ROOT}` if the command has one, then starts the server
    /// once (or connects to it) to learn its model from `/stats`.
    pub fn new(args: &Args) -> Result<Self, String> {
        let defaults = Timeouts::default();
        let template_flag = |flag: &str| {
            args.server
                .as_deref()
                .and_then(|t| flag_in_template(t, flag))
                .transpose()
        };
        // A flag of ours wins over the value in the server command.
        let expected = Expected {
            header: (args.header_timeout.or(template_flag("--header-timeout")?))
                .unwrap_or(defaults.header),
            write: (args.write_timeout.or(template_flag("--write-timeout")?))
                .unwrap_or(defaults.write),
            drain: (args.drain_timeout.or(template_flag("--drain-timeout")?))
                .unwrap_or(Config::default().drain_timeout),
        };
        let source = match (&args.server, args.url_addr()?) {
            (Some(template), _) => Source::Spawn {
                template: template.clone(),
                cpu: args.server_cpu,
                root: match template.contains("{ROOT}") {
                    true => Some(make_root(&args.big_path, args.file_size)?),
                    false => None,
                },
            },
            (None, Some(addr)) => Source::Attach {
                addr,
                pid: args.pid,
            },
            (None, None) => return Err("give --server CMD or --url URL".into()),
        };
        let description = match &source {
            Source::Spawn { template, .. } => format!("--server '{template}'"),
            Source::Attach { addr, pid } => match pid {
                Some(pid) => format!("--url http://{addr}/ --pid {pid}"),
                None => format!("--url http://{addr}/ (no --pid: no memory or CPU figures)"),
            },
        };
        let mut target = Self {
            source,
            model: Model::Other("unknown".into()),
            expected,
            description,
        };
        let live = target.start(None)?;
        target.model = Model::from_stats(live.stats().as_ref());
        live.finish();
        Ok(target)
    }

    /// Whether the tool starts the server itself (and so can limit and signal it).
    pub fn controls_process(&self) -> bool {
        matches!(self.source, Source::Spawn { .. })
    }

    /// A server for one scenario: a fresh process (with RLIMIT_NOFILE `nofile` if
    /// given), or the running one.
    pub fn start(&self, nofile: Option<u64>) -> Result<Live, String> {
        match &self.source {
            Source::Spawn {
                template,
                cpu,
                root,
            } => {
                let mut line = template.replace("{PORT}", "0");
                if let Some(root) = root {
                    line = line.replace("{ROOT}", &root.display().to_string());
                }
                let mut command = Command::new("sh");
                // `exec`: the shell becomes the server, so its pid is the server's.
                command.arg("-c").arg(format!("exec {line}"));
                if let Some(cpu) = cpu {
                    process::pin_command(&mut command, *cpu);
                }
                if let Some(limit) = nofile {
                    // Soft and hard, so the server cannot raise it back.
                    process::limit_nofile(&mut command, limit, limit);
                }
                process::die_with_parent(&mut command);
                let server = Server::start(command)?;
                Ok(Live {
                    addr: server.addr,
                    pid: Some(server.pid),
                    server: Some(server),
                })
            }
            Source::Attach { addr, pid } => {
                std::net::TcpStream::connect_timeout(addr, STATS_LIMIT)
                    .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
                Ok(Live {
                    addr: *addr,
                    pid: *pid,
                    server: None,
                })
            }
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Source::Spawn {
            root: Some(root), ..
        } = &self.source
        {
            let _ = fs::remove_dir_all(root);
        }
    }
}

impl Live {
    /// `/stats`, if the server answers it within a short limit.
    pub fn stats(&self) -> Option<serde_json::Value> {
        server::fetch_stats(self.addr, STATS_LIMIT)
    }

    pub fn rss_kib(&self) -> Option<u64> {
        self.pid.and_then(process::rss_kib)
    }

    pub fn cpu_time(&self) -> Option<Duration> {
        self.pid.and_then(process::cpu_time)
    }

    pub fn open_fds(&self) -> Option<usize> {
        self.pid.and_then(process::open_fds)
    }

    pub fn threads(&self) -> Option<u64> {
        self.pid.and_then(process::threads)
    }

    /// Samples memory and threads until the sampler is finished.
    pub fn sample(&self) -> Option<Sampler> {
        self.pid.map(Sampler::start)
    }

    /// Like [`Live::sample`], also counting open descriptors.
    pub fn sample_counting_descriptors(&self) -> Option<Sampler> {
        self.pid.map(Sampler::counting_descriptors)
    }

    /// What the server logged so far (only for a server we started).
    pub fn log(&self) -> Option<ServerLog> {
        self.server.as_ref().map(Server::log)
    }

    /// How the process ended, if it already has (only for a server we started).
    pub fn exited(&mut self) -> Option<Exit> {
        self.server.as_mut().and_then(Server::exited_early)
    }

    /// Sends SIGTERM and waits up to `limit` for the exit (SIGKILL after it).
    /// Returns how it ended and how long it took; `None` for a server we did not start.
    pub fn terminate(mut self, limit: Duration) -> Option<Result<(Exit, Duration), String>> {
        let server = self.server.take()?;
        let sent = Instant::now();
        Some(
            server
                .stop_within(limit)
                .map(|exit| (exit, sent.elapsed()))
                .map_err(|e| format!("cannot reap the server: {e}")),
        )
    }

    /// Ends the scenario: a server we started is stopped (and reaped); one we did not
    /// start is left running.
    pub fn finish(mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.stop();
        }
    }
}

/// Figures of a sampler, or none without a pid.
pub fn finish_sampling(sampler: Option<Sampler>) -> Samples {
    sampler.map(Sampler::finish).unwrap_or_default()
}

/// The value of `--flag VALUE` or `--flag=VALUE` in a command line, as a duration.
fn flag_in_template(template: &str, flag: &str) -> Option<Result<Duration, String>> {
    let words: Vec<&str> = template.split_whitespace().collect();
    let value = words.iter().enumerate().find_map(|(i, word)| {
        if *word == flag {
            words.get(i + 1).copied()
        } else {
            word.strip_prefix(flag)
                .and_then(|rest| rest.strip_prefix('='))
        }
    })?;
    Some(
        reactor::cli::parse_duration(value.trim_matches(['\'', '"']))
            .map_err(|e| format!("{flag} in --server: {e}")),
    )
}

/// A temporary directory with one sparse file of `size` bytes at `big_path` (a file
/// of zeros that costs no disk, served like any other).
fn make_root(big_path: &str, size: u64) -> Result<PathBuf, String> {
    let root = std::env::temp_dir().join(format!("reactor-attack-{}", std::process::id()));
    let file = root.join(big_path.trim_start_matches('/'));
    let fail = |e: std::io::Error| format!("cannot create {}: {e}", file.display());
    fs::create_dir_all(file.parent().unwrap_or(Path::new(&root))).map_err(fail)?;
    File::create(&file)
        .and_then(|f| f.set_len(size))
        .map_err(fail)?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_from_the_server_command() {
        let t = "reactor {PORT} --header-timeout 5s --write-timeout=2s";
        assert_eq!(
            flag_in_template(t, "--header-timeout"),
            Some(Ok(Duration::from_secs(5)))
        );
        assert_eq!(
            flag_in_template(t, "--write-timeout"),
            Some(Ok(Duration::from_secs(2)))
        );
        assert_eq!(flag_in_template(t, "--drain-timeout"), None);
        assert!(
            flag_in_template("x --header-timeout soon", "--header-timeout")
                .is_some_and(|r| r.is_err())
        );
    }
}
