//! Runs `examples/tutorial_client` against a tiny thread-per-connection server started
//! here, and checks that every client got its own response, whether or not the lines of
//! different clients interleave on stdout.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `…/target/debug/deps/tutorial_client-xxxx` -> `…/target/debug/examples/tutorial_client`
/// (`cargo test` builds the examples before running the tests).
fn example_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let name = format!("tutorial_client{}", std::env::consts::EXE_SUFFIX);
    let bin = profile_dir.join("examples").join(name);
    assert!(
        bin.exists(),
        "example not built: {} (run `cargo test`)",
        bin.display()
    );
    bin
}

fn run(args: &[&str]) -> Output {
    Command::new(example_bin())
        .args(args)
        .output()
        .expect("run tutorial_client")
}

/// Starts the test server on 127.0.0.1:0 and returns its URL. Each connection gets its own
/// thread and a random-ish delay, so responses finish in a different order than requested.
fn start_server(echo: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    thread::spawn(move || {
        for (n, conn) in (0u64..).zip(listener.incoming()) {
            if let Ok(conn) = conn {
                thread::spawn(move || serve(conn, n, echo));
            }
        }
    });
    format!("http://{addr}/hello")
}

fn serve(mut conn: TcpStream, n: u64, echo: bool) {
    let (mut head, mut buf) = (Vec::new(), [0u8; 1024]);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => head.extend_from_slice(&buf[..k]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let id = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("x-request-id")
            .then(|| value.trim().to_string())
    });
    let id = id.unwrap_or_else(|| "nobody".into());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let delay = (nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 20;
    thread::sleep(Duration::from_millis(delay));
    let body = format!("Hello from {id}");
    let echoed = if echo {
        format!("X-Request-Id: {id}\r\n")
    } else {
        String::new()
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{echoed}Connection: close\r\n\r\n",
        body.len()
    );
    // Head and body in separate writes, as a real server may send them.
    let _ = conn.write_all(head.as_bytes());
    thread::sleep(Duration::from_millis(delay % 3));
    let _ = conn.write_all(body.as_bytes());
}

/// The `[client i] Field: value` lines of stdout, as (i, "Field: value").
fn client_lines(stdout: &str) -> Vec<(u32, String)> {
    let lines = stdout.lines().filter_map(|l| l.strip_prefix("[client "));
    let parsed = lines.map(|rest| {
        let (n, field) = rest
            .split_once("] ")
            .unwrap_or_else(|| panic!("bad line: {rest}"));
        (
            n.parse()
                .unwrap_or_else(|_| panic!("bad client number: {n}")),
            field.to_string(),
        )
    });
    parsed.collect()
}

fn expected(client: u32) -> Vec<String> {
    let content = format!("Content: Hello from client-{client}");
    vec!["Status: 200".into(), "Reason: OK".into(), content]
}

/// True if every client's three lines are consecutive.
fn grouped(lines: &[(u32, String)]) -> bool {
    lines.len().is_multiple_of(3) && lines.chunks(3).all(|c| c.iter().all(|(n, _)| *n == c[0].0))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn atomic_output_keeps_each_response_together() {
    let url = start_server(true);
    let out = run(&["--atomic", "--clients", "10", &url]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    println!("--- atomic, 10 clients ---\n{stdout}");
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let lines = client_lines(&stdout);
    assert_eq!(lines.len(), 30, "{stdout}");
    assert!(
        grouped(&lines),
        "lines of one response were split:\n{stdout}"
    );
    let mut seen: Vec<u32> = lines.chunks(3).map(|c| c[0].0).collect();
    for chunk in lines.chunks(3) {
        let fields: Vec<String> = chunk.iter().map(|(_, f)| f.clone()).collect();
        assert_eq!(fields, expected(chunk[0].0), "{stdout}");
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        stdout.lines().last(),
        Some("responses: 10, each matched its own request: 10")
    );
}

#[test]
fn separate_prints_may_interleave_but_every_client_gets_its_own_data() {
    let url = start_server(true);
    let runs = 5;
    let mut interleaved_runs = 0;
    for run_no in 1..=runs {
        let out = run(&["--clients", "10", &url]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
        let lines = client_lines(&stdout);
        assert_eq!(lines.len(), 30, "{stdout}");
        for client in 1..=10 {
            let own: Vec<String> = lines
                .iter()
                .filter(|(n, _)| *n == client)
                .map(|(_, f)| f.clone())
                .collect();
            assert_eq!(own, expected(client), "client {client}:\n{stdout}");
        }
        assert_eq!(
            stdout.lines().last(),
            Some("responses: 10, each matched its own request: 10")
        );
        let interleaved = !grouped(&lines);
        interleaved_runs += usize::from(interleaved);
        println!("--- run {run_no}: interleaved = {interleaved} ---\n{stdout}");
    }
    println!("non-atomic output interleaved in {interleaved_runs} of {runs} runs");
}

#[test]
fn server_without_echo_is_reported() {
    let url = start_server(false);
    let out = run(&["--atomic", "--clients", "3", &url]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(client_lines(&stdout).len(), 9, "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("responses: 3, server did not echo X-Request-Id")
    );
}

#[test]
fn bad_url_exits_2_with_one_line() {
    for bad in [
        "http://127.0.0.1:notaport/hello",
        "ftp://127.0.0.1/x",
        "http:///hello",
    ] {
        let out = run(&[bad]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{bad}: {stderr}");
        assert!(out.stdout.is_empty(), "{bad}");
    }
}

#[test]
fn connection_refused_exits_2_with_one_line() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The listener is dropped here, so nothing listens on `port` any more.
    let out = run(&["--clients", "4", &format!("127.0.0.1:{port}")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
}
