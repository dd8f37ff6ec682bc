//! The server process: the real `reactor` binary on 127.0.0.1 and an ephemeral port,
//! one per test, killed on drop.
//!
//! Rule: its stderr is drained into [`Server::logs`] for the whole run by one
//! thread, so the pipe never fills and a test can read what the server logged. How
//! the process is started, and its /proc figures read, is `process.rs`'s.

use std::io;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::client::{Client, Response};
use super::process::{self, StartError};

/// How long the server gets to print its listening line.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// RLIMIT_NOFILE hard limit of a server whose soft limit a test sets.
const NOFILE_HARD: u64 = 4096;

/// A running `reactor` process on 127.0.0.1 and an ephemeral port.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    model: String,
    logs: Arc<Mutex<String>>,
    drain: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `reactor 0 --model <model> <args>` and waits for its listening line.
    /// Logging is the binary's default (`RUST_LOG` from the test environment is
    /// ignored, so the start-up line is always there).
    pub fn start(model: &str, args: &[&str]) -> Server {
        Self::start_with_env(model, args, &[])
    }

    /// Like [`Server::start`], with extra environment variables (e.g.
    /// `("RUST_LOG", "debug")` to inspect the connection life cycle in [`Server::logs`]).
    pub fn start_with_env(model: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::spawn(model, args, env, None)
    }

    /// Like [`Server::start`], with RLIMIT_NOFILE set to `limit` before the binary
    /// runs (for a limit in force from start-up, unlike [`Server::limit_descriptors`]).
    pub fn start_with_nofile(model: &str, args: &[&str], limit: usize) -> Server {
        Self::spawn(model, args, &[], Some(limit))
    }

    fn spawn(model: &str, args: &[&str], env: &[(&str, &str)], nofile: Option<usize>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_reactor"));
        command
            .arg("0")
            .arg("--model")
            .arg(model)
            .args(args)
            .env_remove("RUST_LOG")
            .env("RUST_LOG_STYLE", "never");
        for (key, value) in env {
            command.env(key, value);
        }
        if let Some(limit) = nofile {
            process::limit_nofile(&mut command, limit as u64, NOFILE_HARD);
        }

        // The reader keeps every line for `logs()`.
        let logs = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&logs);
        let keep = move |line: &str| {
            let mut logs = sink.lock().unwrap_or_else(|p| p.into_inner());
            logs.push_str(line);
            logs.push('\n');
        };
        match process::spawn(command, START_TIMEOUT, keep) {
            Ok(spawned) => Server {
                child: spawned.child,
                addr: spawned.addr,
                model: model.to_string(),
                logs,
                drain: Some(spawned.reader),
            },
            Err(StartError::Spawn(e)) => panic!("cannot start the reactor binary: {e}"),
            Err(StartError::NotListening {
                why,
                status,
                reader,
            }) => {
                let _ = reader.join();
                let logs = logs.lock().unwrap_or_else(|p| p.into_inner()).clone();
                panic!(
                    "reactor --model {model} {args:?} did not print its listening line \
                     within {START_TIMEOUT:?} ({why:?}; exit status {status:?}); stderr:\n{logs}"
                );
            }
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The model it was started with.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends a signal (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        // SAFETY: kill(2) takes plain integers; our child is not reaped until
        // `wait_exit` or drop, so the pid cannot name another process.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {signal}): {}",
            io::Error::last_os_error()
        );
    }

    /// Waits up to `timeout` for the process to exit. Once it has, [`Server::logs`]
    /// holds everything it wrote (the stderr reader has reached EOF).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    if let Some(drain) = self.drain.take() {
                        let _ = drain.join();
                    }
                    return Some(status);
                }
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for the server: {e}"),
            }
        }
    }

    /// Threads of the process now (`Threads:` of `/proc/<pid>/status`).
    pub fn threads(&self) -> usize {
        process::threads(self.proc_pid()).unwrap_or(0) as usize
    }

    /// CPU time (user + system, all threads) used so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        process::cpu_ticks(self.proc_pid())
            .unwrap_or_else(|| panic!("no CPU ticks in /proc/{}/stat", self.pid()))
    }

    /// Lowers the soft RLIMIT_NOFILE of the running server to `limit` (prlimit(2)).
    pub fn limit_descriptors(&self, limit: usize) {
        process::set_nofile_of(self.proc_pid(), limit as u64, NOFILE_HARD)
            .unwrap_or_else(|e| panic!("prlimit: {e}"));
    }

    /// Open file descriptors now (entries of `/proc/<pid>/fd`).
    pub fn open_fds(&self) -> usize {
        process::open_fds(self.proc_pid()).unwrap_or(0)
    }

    /// Resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        process::rss_kib(self.proc_pid())
            .unwrap_or_else(|| panic!("no VmRSS in /proc/{}/status", self.pid()))
    }

    fn proc_pid(&self) -> i32 {
        i32::try_from(self.pid()).expect("pid fits pid_t")
    }

    /// A client connected to this server.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// One request on a fresh connection, its response read (the connection is then
    /// dropped). `raw` must be a complete request.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut client = self.client();
        client.send(raw);
        client.read_response()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill(); // SIGKILL
        }
        let _ = self.child.wait();
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}
