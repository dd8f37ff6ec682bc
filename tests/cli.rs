//! The `reactor` command line: every mistake is one line on stderr and exit code 2,
//! before anything is served.

use std::net::TcpListener;
use std::process::Command;

/// Runs `reactor ARGS` and returns (exit code, stderr).
fn reactor(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_reactor"))
        .args(args)
        .output()
        .expect("run reactor");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn mistakes_are_one_line_and_exit_code_2() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--model", "threaded", "--workers", "2"],
            "--workers applies to the reactor, uring and pool models only",
        ),
        (&["--workers", "0"], "--workers"),
        (&["--max-head", "100000000"], "at most 64 MiB"),
        (&["--header-timeout", "0"], "above zero"),
        (&["--file-cache-ttl", "soon"], "not a duration"),
        (&["-d", "/no/such/directory"], "/no/such/directory"),
        (&["--max-connections", "0"], "--max-connections"),
        (&[&busy_port], "cannot listen"),
        (&["--no-such-flag"], "--no-such-flag"),
    ];
    for (args, says) in cases {
        let (code, stderr) = reactor(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
