//! What only the uring model has to prove, against the real binary: a kernel that
//! refuses io_uring gets one line and exit 2; connections closed while the kernel
//! holds their operations free nothing it still uses (the test binary is a debug
//! build, whose ledger panics at any completion for a buffer no longer where it was
//! lent, and at any completion for a connection already freed); a SIGTERM under load
//! loses no response; `--workers` runs one ring per thread.
//!
//! The HTTP behaviour is the per-topic suites (`framing.rs`, `keep_alive.rs`,
//! `limits.rs`, ..., `rejections.rs`), and the loop's promises `reactor_loop.rs`,
//! which run on this model too.

mod common;
mod examples_built;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use common::{get, Client, Server};

fn loadgen_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| examples_built::build(&["loadgen"]).remove(0))
}

/// Starts loadgen with `args` against `server`, printing a JSON report.
fn start_loadgen(server: &Server, args: &[&str]) -> Child {
    Command::new(loadgen_binary())
        .args(args)
        .arg("--json")
        .arg(format!("http://{}/hello", server.addr()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loadgen")
}

/// Waits for loadgen; its report. Panics unless every response it got was right.
fn verified(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().expect("loadgen finishes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "loadgen printed no report ({e}): {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{report}");
    for fault in ["parse", "mismatched", "out_of_order"] {
        assert_eq!(report["errors"][fault], 0, "{fault}: {report}");
    }
    assert!(report["requests"].as_u64() > Some(0), "{report}");
    report
}

/// Where a connection's answer starts to back up: 100 pipelined echoes of 2 KB
/// heads, about 200 KB of output.
fn backed_up_pipeline() -> Vec<u8> {
    get("/echo", &[&format!("X-Pad: {}", "p".repeat(2000))]).repeat(100)
}

fn assert_clean_logs(server: &Server) {
    let logs = server.logs();
    for bad in ["stale completion", "leaking", "panicked", "still lent"] {
        assert!(!logs.contains(bad), "the server logged {bad:?}:\n{logs}");
    }
}

/// Every way a connection can end with an operation in the kernel, while two load
/// generators verify every response on other connections, and slab keys are
/// reused thousands of times:
///
/// - `Connection: close` answered while a receive is armed (loadgen `--close`);
/// - a reset while a send waits for room (the client stops reading, then resets);
/// - the write timeout, with a send waiting for room (cancelled by the server);
/// - a client that connects and closes at once (its receive ends with EOF).
///
/// A connection freed too early would leave a completion with no owner, which the
/// debug binary asserts never happens (and a lent buffer freed would be caught at
/// its completion by the ledger); either panic kills the server and fails the run.
#[test]
fn connections_closed_with_operations_in_flight_free_nothing_the_kernel_holds() {
    if common::skip("uring") {
        return;
    }
    let server = Server::start("uring", &["--write-timeout", "1s"]);
    let keep_alive = start_loadgen(&server, &["-c", "20", "-d", "3s"]);
    let closing = start_loadgen(&server, &["-c", "10", "-d", "3s", "--close"]);
    let pipeline = backed_up_pipeline();
    let stall_pipeline = pipeline.repeat(40);
    let started = Instant::now();
    let mut stalled = Vec::new();
    let mut rounds = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        // Stops reading with a send waiting, then resets.
        let mut reset = server.client();
        reset.send(&pipeline);
        thread::sleep(Duration::from_millis(5));
        socket2::SockRef::from(&reset.stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(reset);
        // Connects and leaves at once.
        drop(server.client());
        // Stops reading for good, with far more asked than the buffers hold: the
        // server stops reading it, its send waits, and the write timeout drops it.
        if rounds % 20 == 0 {
            let mut stall = server.client();
            let flood = stall_pipeline.clone();
            stalled.push(thread::spawn(move || {
                // The sockets' buffers may take it all; the answers back up anyway.
                let wrote = std::io::Write::write_all(&mut stall.stream, &flood);
                thread::sleep(Duration::from_secs(2));
                stall.set_read_timeout(Duration::from_secs(5));
                let mut sink = [0u8; 65536];
                loop {
                    match std::io::Read::read(&mut stall.stream, &mut sink) {
                        Ok(0) => break Ok(()),
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break Ok(()),
                        Err(e) => break Err(format!("write: {wrote:?}, then read: {e}")),
                    }
                }
            }));
        }
        rounds += 1;
    }
    let keep_alive = verified(keep_alive);
    let closing = verified(closing);
    // Every stalled client is dropped by the server (a close or a reset).
    for stall in stalled {
        if let Err(e) = stall.join().unwrap() {
            panic!("a stalled client was never dropped ({e})");
        }
    }
    // Everything closed has been freed: only our /stats connection is open.
    let deadline = Instant::now() + Duration::from_secs(5);
    let open = loop {
        let stats = server.request(&get("/stats", &["Connection: close"]));
        let json: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
        let open = json["connections"]["open"].as_u64().unwrap();
        if open <= 1 || Instant::now() > deadline {
            break open;
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(open, 1, "connections left behind");
    assert!(rounds >= 20, "only {rounds} rounds of closes");
    assert!(closing["requests"].as_u64() > Some(100), "{closing}");
    assert!(keep_alive["requests"].as_u64() > Some(100), "{keep_alive}");
    assert_clean_logs(&server);
}

/// Thousands of idle connections that reach their header timeout together are closed
/// together. Each close cancels the connection's armed receive; cancelled by its
/// descriptor, the kernel found it by walking every armed operation of the ring, so
/// with 10 000 idle connections the server closed a few dozen a second (the `idle`
/// attack, docs/hostile-clients.md). By tag it is a hash lookup.
#[test]
fn idle_connections_timing_out_together_are_closed_together() {
    if common::skip("uring") {
        return;
    }
    const IDLE: usize = 10000;
    raise_descriptor_limit(IDLE as u64 + 256);
    // On one CPU, as in the attack: the kernel's part of the cancellations then
    // competes with the loop.
    let server = common::process::on_cpu(0, || {
        Server::start(
            "uring",
            &["--header-timeout", "2s", "--max-connections", "20000"],
        )
    })
    .expect("sched_setaffinity");
    let idle: Vec<_> = (0..IDLE).map(|_| common::connect(server.addr())).collect();
    let connected = Instant::now();
    let open = |server: &Server| {
        let stats = server.request(&get("/stats", &["Connection: close"]));
        let json: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
        json["connections"]["open"].as_u64().unwrap()
    };
    let held = open(&server);
    assert!(
        held > IDLE as u64 / 2,
        "only {held} of {IDLE} idle connections held"
    );
    // Cancelled by tag, they were all gone 2.0 s after the last connected; by
    // descriptor, 8.8 s (the 2 s timeout, then 6 s of cancellations). In between,
    // with room for a busy machine.
    let deadline = connected + Duration::from_secs(6);
    let left = loop {
        let left = open(&server);
        if left <= 1 || Instant::now() > deadline {
            break left;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert!(
        left <= 1,
        "{} of {IDLE} idle connections still open {:?} after the last connected (2 s header timeout)",
        left - 1,
        connected.elapsed()
    );
    drop(idle);
    assert_clean_logs(&server);
}

/// Raises this process's soft RLIMIT_NOFILE to at least `needed`, or fails saying why.
fn raise_descriptor_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < needed {
            assert!(
                limit.rlim_max >= needed,
                "this test needs {needed} descriptors; the hard limit is {}",
                limit.rlim_max
            );
            limit.rlim_cur = needed;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

/// SIGTERM in the middle of a keep-alive load and of slow responses: every
/// response that was asked for before the signal arrives whole (loadgen verifies
/// its own; refusals after the listener closes are not errors), the slow ones too,
/// and the server exits 0 having freed everything.
#[test]
fn sigterm_under_load_loses_no_response() {
    if common::skip("uring") {
        return;
    }
    let mut server = Server::start("uring", &[]);
    let load = start_loadgen(&server, &["-c", "50", "-d", "2s"]);
    let mut slow: Vec<Client> = (0..10).map(|_| server.client()).collect();
    thread::sleep(Duration::from_millis(500));
    for (i, client) in slow.iter_mut().enumerate() {
        for r in 0..3 {
            client.send(&get("/delay/300", &[&format!("X-Request-Id: s{i}-{r}")]));
        }
    }
    thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGTERM);
    for (i, client) in slow.iter_mut().enumerate() {
        client.set_read_timeout(Duration::from_secs(5));
        for r in 0..3 {
            let response = client.read_response();
            assert_eq!(response.status, 200, "s{i}-{r}");
            assert_eq!(
                response.header("x-request-id"),
                Some(format!("s{i}-{r}").as_str())
            );
        }
        client.expect_close();
    }
    let report = verified(load);
    let status = server
        .wait_exit(Duration::from_secs(8))
        .expect("the server exits after draining");
    assert_eq!(status.code(), Some(0), "{}", server.logs());
    assert!(server.logs().contains("all connections finished"));
    assert!(report["requests"].as_u64() > Some(100), "{report}");
    assert_clean_logs(&server);
}

/// `--workers 2`: two rings, each on its own thread and listener; one signal
/// drains both.
#[test]
fn workers_run_one_ring_each_and_drain_together() {
    if common::skip("uring") {
        return;
    }
    let mut server = Server::start("uring", &["--workers", "2"]);
    // The start-up line comes before the loops run; each counts itself when it starts.
    let threads_live = |server: &Server| {
        let stats = server.request(&get("/stats", &["Connection: close"]));
        let json: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
        json["threads_live"].as_u64().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while (server.threads() < 3 || threads_live(&server) < 2) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.threads(), 3, "two loops and the waiting main thread");
    assert_eq!(threads_live(&server), 2);
    verified(start_loadgen(&server, &["-c", "8", "-n", "2000"]));
    common::assertions::sigterm_answers_requests_in_flight(&mut server, 8);
}

// ---- where io_uring is refused ----------------------------------------------------------

/// Runs `reactor 0 --model uring` under a seccomp filter that fails
/// `io_uring_setup` with `errno`, as container runtimes do; (exit code, stderr).
fn run_with_io_uring_refused(errno: i32) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_reactor"));
    command
        .args(["0", "--model", "uring"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    common::seccomp::refuse_io_uring(&mut command, errno);
    let output = command.output().expect("run reactor under seccomp");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The real refusal path, not a simulation: `io_uring_setup` itself fails, and the
/// binary says why in one line, exits 2, and never prints a listening line.
#[test]
fn refused_io_uring_is_one_line_and_exit_2() {
    for (errno, says) in [(libc::EPERM, "refused (EPERM)"), (libc::ENOSYS, "ENOSYS")] {
        let (code, stderr) = run_with_io_uring_refused(errno);
        assert_eq!(code, Some(2), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("reactor: --model uring: io_uring unavailable: "),
            "{stderr}"
        );
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("listening"), "{stderr}");
    }
}
