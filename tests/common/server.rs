//! The server process: the real `reactor` binary on 127.0.0.1 and an ephemeral port,
//! one per test, killed on drop.
//!
//! Rule: its stderr is drained into [`Server::logs`] for the whole run by one
//! thread, so the pipe never fills and a test can read what the server logged.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::client::{Client, Response};

/// How long the server gets to print its listening line.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The start-up line every model prints, up to the address.
pub(super) const LISTENING: &str = "reactor listening on http://";

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
            .env("RUST_LOG_STYLE", "never")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        if let Some(limit) = nofile {
            let rlimit = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: 4096,
            };
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec only setrlimit runs, which is
            // async-signal-safe, on a value prepared before the fork.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the reactor binary: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");

        // One thread reads stderr for the life of the process: it reports the
        // listening address once, and keeps every line for `logs()`.
        let logs = Arc::new(Mutex::new(String::new()));
        let (found_tx, found_rx) = mpsc::channel();
        let sink = Arc::clone(&logs);
        let drain = thread::spawn(move || {
            let mut found = Some(found_tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = parse_listening_line(&line) {
                    if let Some(tx) = found.take() {
                        let _ = tx.send(addr);
                    }
                }
                let mut logs = sink.lock().unwrap_or_else(|p| p.into_inner());
                logs.push_str(&line);
                logs.push('\n');
            }
        });

        match found_rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => Server {
                child,
                addr,
                model: model.to_string(),
                logs,
                drain: Some(drain),
            },
            Err(why) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                let _ = drain.join();
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

    /// Threads of the process now (entries of `/proc/<pid>/task`).
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// CPU time (user + system, all threads) used so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .unwrap_or_else(|e| panic!("reading /proc/{}/stat: {e}", self.pid()));
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// Lowers the soft RLIMIT_NOFILE of the running server to `limit` (prlimit(2)).
    pub fn limit_descriptors(&self, limit: usize) {
        let rlimit = libc::rlimit {
            rlim_cur: limit as libc::rlim_t,
            rlim_max: 4096,
        };
        let pid = self.pid() as libc::pid_t;
        // SAFETY: prlimit(2) on our own child with a valid rlimit and no old-value output.
        let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &rlimit, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "prlimit: {}", io::Error::last_os_error());
    }

    /// Open file descriptors now (entries of `/proc/<pid>/fd`).
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// Resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_else(|e| panic!("reading /proc/{}/status: {e}", self.pid()));
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS line in /proc/{}/status", self.pid()))
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

/// `... reactor listening on http://127.0.0.1:PORT/ (model M, pid P)` -> the address.
fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(LISTENING)? + LISTENING.len()..];
    rest[..rest.find('/')?].parse().ok()
}
