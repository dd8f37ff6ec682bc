//! End-to-end tests of `examples/loadgen`: the real binary against small test servers
//! (`loadgen/servers.rs`), correct ones and ones broken in exactly one way each. Every
//! broken server must make loadgen report the fault and exit 1; correct ones exit 0.
//!
//! `cargo test --test loadgen` does not build examples, so the first test to need the
//! binary runs `cargo build --example loadgen` (a no-op when it is up to date).
//! Set `LOADGEN_TARGET_URL` to run the clean 200-connection test against a real server
//! (e.g. the reactor) instead of the test server; it must echo X-Request-Id.

mod examples_built;
#[path = "loadgen/servers.rs"]
mod servers;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use servers::{start, Behavior};

/// No loadgen run in these tests should take anywhere near this long.
const RUN_LIMIT: Duration = Duration::from_secs(30);

fn loadgen_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| examples_built::build(&["loadgen"]).remove(0))
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs loadgen to completion (killing it after [`RUN_LIMIT`]).
fn loadgen(args: &[&str]) -> Run {
    let mut child = Command::new(loadgen_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loadgen");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for loadgen") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("loadgen {args:?} ran longer than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Run {
        code: status.code().expect("exit code, not a signal"),
        stdout,
        stderr,
    }
}

/// Runs with `--json` and returns the exit code and the report.
fn run_json(url: &str, args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.extend(["--json", url]);
    let run = loadgen(&all);
    let json = run.json();
    (run.code, json)
}

fn count(report: &Value, path: &str) -> u64 {
    report
        .pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{path} missing in {report}"))
}

#[test]
fn responses_swapped_between_connections_are_mismatched() {
    let server = start(Behavior::SwapAcrossConnections);
    let (code, report) = run_json(&server.url(), &["-c", "2", "-n", "200"]);
    assert!(count(&report, "/mismatched") > 0, "{report}");
    assert_eq!(
        count(&report, "/errors/mismatched"),
        count(&report, "/mismatched")
    );
    assert_eq!(code, 1, "{report}");
}

#[test]
fn pipelined_responses_answered_in_reverse_are_out_of_order() {
    let server = start(Behavior::ReorderPipelined);
    let (code, report) = run_json(&server.url(), &["-c", "1", "--pipeline", "2", "-n", "40"]);
    assert!(count(&report, "/out_of_order") > 0, "{report}");
    assert_eq!(code, 1, "{report}");
}

#[test]
fn body_truncated_at_close_is_a_parse_error() {
    let server = start(Behavior::TruncateBody);
    let (code, report) = run_json(&server.url(), &["-c", "1", "-n", "5"]);
    assert_eq!(count(&report, "/errors/parse"), 5, "{report}");
    assert_eq!(count(&report, "/requests"), 0, "{report}");
    assert_eq!(code, 1, "{report}");
}

#[test]
fn content_length_shorter_than_body_leaves_bytes_that_are_a_parse_error() {
    let server = start(Behavior::ShortLength);
    let (code, report) = run_json(&server.url(), &["-c", "1", "-n", "10"]);
    assert!(count(&report, "/errors/parse") > 0, "{report}");
    assert!(
        report["first_error"]
            .as_str()
            .unwrap()
            .contains("no request outstanding"),
        "{report}"
    );
    assert_eq!(code, 1, "{report}");
}

#[test]
fn content_length_longer_than_body_swallows_the_next_response() {
    let server = start(Behavior::LongLength);
    let (code, report) = run_json(
        &server.url(),
        &["-c", "1", "--pipeline", "4", "-n", "20", "--timeout", "1s"],
    );
    assert!(
        count(&report, "/errors/parse") + count(&report, "/mismatched") > 0,
        "{report}"
    );
    assert_eq!(code, 1, "{report}");
}

#[test]
fn malformed_chunk_size_is_a_parse_error() {
    let server = start(Behavior::BadChunkSize);
    let (code, report) = run_json(&server.url(), &["-c", "1", "-n", "3"]);
    assert_eq!(count(&report, "/errors/parse"), 3, "{report}");
    assert_eq!(code, 1, "{report}");
}

#[test]
fn correct_server_with_200_pipelined_connections_verifies_clean() {
    let server = start(Behavior::Echo);
    let url = std::env::var("LOADGEN_TARGET_URL").unwrap_or_else(|_| server.url());
    let (code, report) = run_json(&url, &["-c", "200", "--pipeline", "8", "-d", "2s"]);
    assert!(count(&report, "/requests") > 1000, "{report}");
    assert_eq!(count(&report, "/mismatched"), 0, "{report}");
    assert_eq!(count(&report, "/out_of_order"), 0, "{report}");
    for error in ["connect", "reset", "timeout", "parse"] {
        assert_eq!(
            count(&report, &format!("/errors/{error}")),
            0,
            "{error}: {report}"
        );
    }
    assert_eq!(report["echoes_request_id"], true);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn chunked_bodies_with_extensions_and_trailers_are_decoded() {
    let server = start(Behavior::Chunked);
    let (code, report) = run_json(&server.url(), &["-c", "4", "--pipeline", "4", "-n", "400"]);
    assert_eq!(count(&report, "/requests"), 400, "{report}");
    assert_eq!(count(&report, "/errors/parse"), 0, "{report}");
    assert_eq!(code, 0, "{report}");
}

#[test]
fn close_delimited_bodies_end_at_eof_and_the_connection_is_reopened() {
    let server = start(Behavior::CloseDelimited);
    let (code, report) = run_json(&server.url(), &["-c", "4", "-n", "100"]);
    assert_eq!(count(&report, "/requests"), 100, "{report}");
    assert_eq!(
        count(&report, "/errors/parse") + count(&report, "/errors/reset"),
        0,
        "{report}"
    );
    assert!(
        server
            .log
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 100
    );
    assert_eq!(code, 0, "{report}");
}

#[test]
fn head_responses_have_no_body_whatever_their_length_says() {
    let server = start(Behavior::Echo);
    let (code, report) = run_json(
        &server.url(),
        &["-c", "2", "-n", "50", "--method", "HEAD", "--timeout", "1s"],
    );
    assert_eq!(count(&report, "/requests"), 50, "{report}");
    assert_eq!(code, 0, "{report}");
}

#[test]
fn server_that_does_not_echo_is_held_to_consistency() {
    let server = start(Behavior::NoEcho { vary: false });
    let run = loadgen(&["-c", "2", "-n", "100", &server.url()]);
    assert!(
        run.stdout.contains("server does not echo X-Request-Id"),
        "{}",
        run.stdout
    );
    let verdict = run.stdout.lines().last().unwrap_or_default();
    assert_eq!(
        verdict,
        "verified: 100 responses, 0 mismatched, 0 out of order"
    );
    assert_eq!(run.code, 0, "{}", run.stdout);

    let varying = start(Behavior::NoEcho { vary: true });
    let (code, report) = run_json(&varying.url(), &["-c", "1", "-n", "20"]);
    assert_eq!(report["echoes_request_id"], false);
    assert_eq!(count(&report, "/mismatched"), 10, "{report}");
    assert_eq!(code, 1, "{report}");
}

#[test]
fn open_loop_rate_is_held() {
    let server = start(Behavior::Echo);
    let (code, report) = run_json(&server.url(), &["--rate", "1000", "-d", "3s", "-c", "20"]);
    let requests = count(&report, "/requests");
    assert!(
        (2850..=3150).contains(&requests),
        "{requests} requests: {report}"
    );
    let seconds = report["duration_s"].as_f64().unwrap();
    assert!((2.9..3.5).contains(&seconds), "{report}");
    assert_eq!(code, 0, "{report}");
}

#[test]
fn bad_input_is_one_line_on_stderr_and_exit_2() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let refused = format!("http://127.0.0.1:{closed_port}/");
    for url in ["https://x", "notaurl", refused.as_str()] {
        let run = loadgen(&["-n", "1", url]);
        assert_eq!(run.code, 2, "{url}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{url}: {}", run.stderr);
        assert!(run.stderr.starts_with("loadgen: "), "{url}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{url}: {}", run.stdout);
    }
    let run = loadgen(&["-n", "1", &refused]);
    assert_eq!(
        run.stderr.trim(),
        format!("loadgen: cannot connect to 127.0.0.1:{closed_port}: Connection refused")
    );
}

#[test]
fn json_report_has_the_documented_fields() {
    let server = start(Behavior::Echo);
    let (code, report) = run_json(&server.url(), &["-c", "5", "-n", "50"]);
    assert_eq!(count(&report, "/requests"), 50);
    assert_eq!(count(&report, "/verified"), 50);
    assert_eq!(count(&report, "/status/200"), 50);
    for field in [
        "duration_s",
        "requests_per_s",
        "bytes_per_s",
        "latency_us/mean",
        "latency_us/stdev",
    ] {
        let value = report.pointer(&format!("/{field}")).and_then(Value::as_f64);
        assert!(value.is_some_and(|v| v > 0.0), "{field}: {report}");
    }
    let percentiles: Vec<u64> = ["p50", "p90", "p99", "p999", "max"]
        .iter()
        .map(|p| count(&report, &format!("/latency_us/{p}")))
        .collect();
    assert!(
        percentiles.windows(2).all(|w| w[0] <= w[1]) && percentiles[0] > 0,
        "{report}"
    );
    for error in [
        "connect",
        "reset",
        "timeout",
        "parse",
        "mismatched",
        "out_of_order",
    ] {
        assert_eq!(count(&report, &format!("/errors/{error}")), 0, "{error}");
    }
    assert_eq!(
        (
            count(&report, "/mismatched"),
            count(&report, "/out_of_order")
        ),
        (0, 0)
    );
    assert_eq!(report["echoes_request_id"], true);
    assert_eq!(code, 0);
    // Nothing timed out: the view with timeouts is the answered one, nothing censored.
    for p in ["p50", "p99", "max"] {
        assert_eq!(
            count(&report, &format!("/latency_with_timeouts_us/{p}")),
            count(&report, &format!("/latency_us/{p}")),
            "{p}: {report}"
        );
    }
    assert_eq!(count(&report, "/latency_with_timeouts_us/censored"), 0);
    assert_eq!(
        (
            count(&report, "/clients"),
            count(&report, "/clients_served")
        ),
        (5, 5)
    );
}

#[test]
fn silent_server_times_out_and_fails_the_run() {
    let server = start(Behavior::Silent);
    let (code, report) = run_json(
        &server.url(),
        &["-c", "2", "-d", "500ms", "--timeout", "200ms"],
    );
    assert!(count(&report, "/errors/timeout") >= 2, "{report}");
    assert_eq!(count(&report, "/requests"), 0, "{report}");
    assert_eq!(code, 1, "{report}");
    // No answer is not no latency: every request counts at the timeout, censored.
    assert_eq!(count(&report, "/timeout_us"), 200_000, "{report}");
    for p in ["p50", "p99", "max"] {
        let at = count(&report, &format!("/latency_with_timeouts_us/{p}"));
        assert_eq!(at, 200_000, "{p}: {report}");
    }
    assert_eq!(
        count(&report, "/latency_with_timeouts_us/censored"),
        count(&report, "/errors/timeout")
    );
    assert_eq!(
        (
            count(&report, "/clients"),
            count(&report, "/clients_served")
        ),
        (2, 0)
    );
}

#[test]
fn connection_closed_with_requests_in_flight_counts_as_reset() {
    let server = start(Behavior::HangUp);
    let (code, report) = run_json(&server.url(), &["-c", "2", "-n", "10"]);
    assert_eq!(count(&report, "/errors/reset"), 10, "{report}");
    assert_eq!(code, 1, "{report}");
}

#[test]
fn close_mode_uses_a_new_connection_per_request() {
    let server = start(Behavior::Echo);
    let (code, report) = run_json(&server.url(), &["--close", "-c", "4", "-n", "100"]);
    assert_eq!(count(&report, "/requests"), 100, "{report}");
    let connections = server
        .log
        .connections
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(connections >= 100, "{connections} connections");
    let seen = server.log.requests.lock().unwrap();
    assert!(seen.iter().all(|request| request.wants_close()));
    assert_eq!(code, 0, "{report}");
}

#[test]
fn ids_headers_method_and_body_reach_the_server() {
    let server = start(Behavior::Echo);
    let args = [
        "--threads",
        "2",
        "-c",
        "4",
        "-n",
        "40",
        "--method",
        "POST",
        "--body-size",
        "100",
    ];
    let (code, report) = run_json(
        &server.url(),
        &[&args[..], &["-H", "X-Test: yes"][..]].concat(),
    );
    assert_eq!(code, 0, "{report}");
    let seen = server.log.requests.lock().unwrap();
    assert_eq!(seen.len(), 40);
    let mut ids: Vec<&str> = seen
        .iter()
        .filter_map(|request| request.id.as_deref())
        .collect();
    for request in seen.iter() {
        assert_eq!((request.method.as_str(), request.body_len), ("POST", 100));
        assert!(
            request.headers.contains(&("X-Test".into(), "yes".into())),
            "{request:?}"
        );
    }
    // t{thread}c{conn}-{seq}: threads 0 and 1 own connections 0-1 and 2-3.
    for id in &ids {
        let (conn, seq) = id.split_once('-').expect("conn-seq");
        assert!(["t0c0", "t0c1", "t1c2", "t1c3"].contains(&conn), "{id}");
        assert!(seq.parse::<u64>().is_ok(), "{id}");
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40, "ids are unique");
}

/// A connect that fails is a connect error with the kernel's reason, never a reset of the
/// request it would have carried: the server answers one request with `Connection: close`,
/// then stops listening before it closes, so every reconnect is refused.
#[test]
fn a_refused_reconnect_is_a_connect_error() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        // The first connection loadgen makes only checks the address and sends nothing.
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            if head.ends_with(b"\r\n\r\n") {
                let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
                stream.write_all(reply).unwrap();
                drop(listener);
                return; // drops the stream after the listener: its FIN finds no listener
            }
        }
    });
    let (_, report) = run_json(&url, &["-c", "1", "-n", "3", "--timeout", "300ms"]);
    server.join().unwrap();
    assert_eq!(count(&report, "/requests"), 1, "{report}");
    assert!(count(&report, "/errors/connect") >= 1, "{report}");
    assert_eq!(count(&report, "/errors/reset"), 0, "{report}");
    let first = report["first_error"].as_str().unwrap_or_default();
    assert!(first.contains("Connection refused"), "{report}");
}
