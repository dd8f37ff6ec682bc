//! What makes the models different, measured with wide margins: who waits for a
//! slow handler, who waits for a busy one, who waits for an idle one, and how many
//! threads each uses. (What makes them the same, the HTTP behaviour, is
//! the per-topic suites: `framing.rs`, `keep_alive.rs`, `limits.rs` and the rest
//! that docs/tests.md lists.)

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{get, Client, Server, MODELS};

/// Sends `/delay/200` on ten connections at once; returns how long until all ten
/// responses were in, and the server's thread count while they were in flight.
fn ten_delays(server: &Server) -> (Duration, usize) {
    let start = Instant::now();
    let addr = server.addr();
    let handles: Vec<_> = (0..10)
        .map(|i| {
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let r = c.request(&get(
                    "/delay/200",
                    &[&format!("X-Request-Id: d{i}"), "Connection: close"],
                ));
                assert_eq!(r.status, 200);
                assert_eq!(r.header("x-request-id"), Some(format!("d{i}").as_str()));
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let threads = server.threads();
    for h in handles {
        h.join().unwrap();
    }
    (start.elapsed(), threads)
}

#[test]
fn reactor_overlaps_ten_delays_on_one_thread() {
    let server = Server::start("reactor", &[]);
    let (took, threads) = ten_delays(&server);
    assert!(took < Duration::from_millis(800), "took {took:?}");
    assert_eq!(threads, 1);
}

#[test]
fn threaded_overlaps_ten_delays_with_a_thread_each() {
    let server = Server::start("threaded", &[]);
    let (took, threads) = ten_delays(&server);
    assert!(took < Duration::from_millis(800), "took {took:?}");
    assert!(threads >= 11, "main + 10 connection threads, saw {threads}");
    let stats = server.request(&get("/stats", &[]));
    let json: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert!(json["threads_peak"].as_u64().unwrap() >= 11, "{json}");
}

#[test]
fn iterative_serves_ten_delays_one_after_another() {
    let server = Server::start("iterative", &[]);
    let (took, threads) = ten_delays(&server);
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    assert_eq!(threads, 1);
}

/// Time for a `/hello` sent while another connection runs `/spin/400`.
fn hello_during_spin(server: &Server) -> Duration {
    let addr = server.addr();
    let spinner = thread::spawn(move || {
        let mut c = Client::connect(addr);
        assert_eq!(c.request(&get("/spin/400", &[])).status, 200);
    });
    thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    let mut c = server.client();
    assert_eq!(c.request(&get("/hello", &[])).status, 200);
    let took = start.elapsed();
    spinner.join().unwrap();
    took
}

#[test]
fn a_cpu_bound_handler_stalls_the_reactor_but_not_the_threads() {
    let reactor = Server::start("reactor", &[]);
    let stalled = hello_during_spin(&reactor);
    assert!(
        stalled >= Duration::from_millis(200),
        "reactor answered in {stalled:?}"
    );

    let threaded = Server::start("threaded", &[]);
    let free = hello_during_spin(&threaded);
    assert!(
        free < Duration::from_millis(150),
        "threaded answered in {free:?}"
    );
}

/// The pool spreads `/spin` over its workers like the threaded model spreads it over
/// threads, without a thread per connection; with one worker it stalls like the
/// reactor, because a spinning worker is a busy worker.
#[test]
fn a_cpu_bound_handler_holds_one_pool_worker() {
    let pool = Server::start("pool", &["--workers", "2"]);
    let free = hello_during_spin(&pool);
    assert!(
        free < Duration::from_millis(150),
        "pool answered in {free:?}"
    );
    assert_eq!(
        pool.threads(),
        2 + 1,
        "two workers and the accepting thread"
    );

    let one = Server::start("pool", &["--workers", "1"]);
    let stalled = hello_during_spin(&one);
    assert!(
        stalled >= Duration::from_millis(200),
        "a one-worker pool answered in {stalled:?}"
    );
}

/// The failure pools are known for (hyper#368, cpp-httplib#997): N idle keep-alive
/// clients pin all N workers, and the next client is not answered until the idle
/// timeout frees one. The reactor, given the same clients, answers it at once.
#[test]
fn idle_keep_alive_clients_pin_every_pool_worker_until_the_idle_timeout() {
    let server = Server::start("pool", &["--workers", "2", "--idle-timeout", "2s"]);
    let mut idle: Vec<Client> = (0..2).map(|_| server.client()).collect();
    for client in &mut idle {
        assert_eq!(client.request(&get("/hello", &[])).status, 200);
    }
    // Both connections stay open and silent: each holds a worker.
    let idle_since = Instant::now();
    let mut next = server.client();
    next.send(&get("/hello", &["X-Request-Id: next"]));
    assert!(
        next.wait_readable(Duration::from_millis(1500)).is_err(),
        "the third client was answered while both workers held idle connections"
    );
    next.set_read_timeout(Duration::from_secs(8));
    let r = next.read_response();
    let waited = idle_since.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("next"));
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "answered {waited:?} after the others went idle, with a 2 s idle timeout"
    );
    // What freed the worker: the idle timeout closed the pinned connections.
    for client in &mut idle {
        client.expect_close();
    }
    assert!(
        server.logs().contains("pool workers are busy"),
        "{}",
        server.logs()
    );

    let reactor = Server::start("reactor", &["--idle-timeout", "2s"]);
    let _idle: Vec<Client> = (0..2)
        .map(|_| {
            let mut c = reactor.client();
            assert_eq!(c.request(&get("/hello", &[])).status, 200);
            c
        })
        .collect();
    let mut next = reactor.client();
    next.send(&get("/hello", &[]));
    assert!(
        next.wait_readable(Duration::from_millis(1000)).is_ok(),
        "the reactor serves a third client at once"
    );
}

/// A queued connection's header timeout runs while it waits: once a worker is free,
/// the ones that sent nothing in that time are closed at once, one after another (not
/// a header timeout each), and one whose request did arrive is answered.
#[test]
fn a_queued_connection_s_header_timeout_runs_while_it_waits() {
    let server = Server::start(
        "pool",
        &[
            "--workers",
            "1",
            "--header-timeout",
            "1s",
            "--idle-timeout",
            "2s",
        ],
    );
    let mut pinned = server.client();
    assert_eq!(pinned.request(&get("/hello", &[])).status, 200);
    let mut silent: Vec<Client> = (0..5).map(|_| server.client()).collect();
    let mut asking = server.client();
    asking.send(&get("/hello", &["X-Request-Id: waited"]));
    // The pinned connection holds the worker until its idle timeout (2 s), by when
    // every queued connection is past its 1 s header timeout.
    pinned.set_read_timeout(Duration::from_secs(6));
    pinned.expect_close();
    let freed = Instant::now();
    for client in &mut silent {
        client.set_read_timeout(Duration::from_secs(6));
        client.expect_close();
    }
    let all_closed = freed.elapsed();
    assert!(
        all_closed < Duration::from_millis(900),
        "five expired connections took {all_closed:?} to close after the worker was free"
    );
    asking.set_read_timeout(Duration::from_secs(6));
    let r = asking.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("waited"));
}

/// However many clients come, the pool runs its N workers and the accepting thread:
/// 50 connections at once on two workers are all answered, two at a time.
#[test]
fn the_pool_keeps_n_plus_one_threads_under_fifty_connections() {
    let server = Server::start("pool", &["--workers", "2"]);
    let addr = server.addr();
    let started = Instant::now();
    let clients: Vec<_> = (0..50)
        .map(|i| {
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let id = format!("X-Request-Id: p{i}");
                let r = c.request(&get("/delay/20", &[&id, "Connection: close"]));
                assert_eq!(r.status, 200);
                assert_eq!(r.header("x-request-id"), Some(format!("p{i}").as_str()));
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(150));
    let during = server.threads();
    for c in clients {
        c.join().unwrap();
    }
    // 25 rounds of two 20 ms delays: a pool that ran them all at once would take 20 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "50 delays on 2 workers took {:?}",
        started.elapsed()
    );
    assert_eq!(during, 3, "two workers and the accepting thread");
    let stats = server.request(&get("/stats", &["Connection: close"]));
    let json: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert_eq!(json["threads_peak"], 3, "{json}");
    assert_eq!(json["threads_live"], 3, "{json}");
    assert!(
        json["connections"]["accepted"].as_u64().unwrap() >= 51,
        "{json}"
    );
}

/// SIGTERM with connections still queued: they were accepted, so each is served
/// after the ones ahead of it (a request it had sent is answered, with a close),
/// and the server exits 0 within the drain deadline.
#[test]
fn pool_shutdown_answers_the_queued_connections_too() {
    let mut server = Server::start("pool", &["--workers", "1"]);
    let mut pinned = server.client();
    assert_eq!(pinned.request(&get("/hello", &[])).status, 200);
    let mut queued: Vec<Client> = (0..3).map(|_| server.client()).collect();
    for (i, client) in queued.iter_mut().enumerate() {
        client.send(&get("/delay/100", &[&format!("X-Request-Id: q{i}")]));
    }
    assert!(
        queued[0].wait_readable(Duration::from_millis(300)).is_err(),
        "the queued connections wait behind the idle one"
    );
    server.signal(libc::SIGTERM);
    pinned.set_read_timeout(Duration::from_secs(5));
    pinned.expect_close();
    for (i, client) in queued.iter_mut().enumerate() {
        client.set_read_timeout(Duration::from_secs(5));
        let r = client.read_response();
        assert_eq!(r.status, 200, "q{i}");
        assert_eq!(r.header("x-request-id"), Some(format!("q{i}").as_str()));
        assert!(r.connection_has("close"), "q{i}");
        client.expect_close();
    }
    let status = server.wait_exit(Duration::from_secs(8)).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(server.logs().contains("3 queued"), "{}", server.logs());
}

#[test]
fn one_keep_alive_client_monopolises_the_iterative_server() {
    let server = Server::start("iterative", &[]);
    let mut first = server.client();
    assert_eq!(first.request(&get("/hello", &[])).status, 200);
    let mut second = server.client();
    second.send(&get("/hello", &[]));
    assert!(
        second.wait_readable(Duration::from_millis(500)).is_err(),
        "the second client waits while the first keeps its connection"
    );
    drop(first);
    second.set_read_timeout(Duration::from_secs(5));
    assert_eq!(second.read_response().status, 200);

    // --no-keep-alive: the tutorial's answer-then-close.
    let server = Server::start("iterative", &["--no-keep-alive"]);
    let mut c = server.client();
    let r = c.request(&get("/hello", &[]));
    assert!(r.connection_has("close"));
    c.expect_close();
}

/// SIGTERM while responses are in flight: every model answers them all, then exits 0.
#[test]
fn shutdown_under_traffic_loses_no_response_in_any_model() {
    for model in MODELS {
        if common::skip(model) {
            continue;
        }
        let mut server = Server::start(model, &[]);
        // The iterative model serves one connection at a time, so it gets one
        // pipelined connection; the others get one connection per request.
        let connections = if model == "iterative" { 1 } else { 8 };
        let per_connection = if model == "iterative" { 8 } else { 1 };
        let mut clients: Vec<Client> = (0..connections).map(|_| server.client()).collect();
        for (c, client) in clients.iter_mut().enumerate() {
            for r in 0..per_connection {
                client.send(&get("/delay/300", &[&format!("X-Request-Id: {c}-{r}")]));
            }
        }
        thread::sleep(Duration::from_millis(150));
        server.signal(libc::SIGTERM);
        for (c, client) in clients.iter_mut().enumerate() {
            client.set_read_timeout(Duration::from_secs(8));
            for r in 0..per_connection {
                let response = client.read_response();
                assert_eq!(response.status, 200, "{model} {c}-{r}");
                assert_eq!(
                    response.header("x-request-id"),
                    Some(format!("{c}-{r}").as_str()),
                    "{model}"
                );
            }
            client.expect_close();
        }
        let status = server
            .wait_exit(Duration::from_secs(8))
            .unwrap_or_else(|| panic!("{model} did not exit"));
        assert_eq!(status.code(), Some(0), "{model}");
        assert!(server.logs().contains("exiting"), "{model}");
    }
}

#[test]
fn every_model_reports_itself_in_stats() {
    for model in MODELS {
        if common::skip(model) {
            continue;
        }
        let server = Server::start(model, &[]);
        let stats = server.request(&get("/stats", &["Connection: close"]));
        let json: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
        assert_eq!(json["model"], model);
        assert!(json["threads_live"].as_u64().unwrap() >= 1);
        assert!(json["threads_peak"].as_u64().unwrap() >= 1);
    }
}

/// At `--max-connections` the reactor and the threaded model stop accepting, so the
/// next client waits in the kernel's backlog (no thread, no 503) until a connection
/// closes, and is then served.
#[test]
fn at_max_connections_new_clients_wait_and_are_served_later() {
    for (model, threads_at_limit) in [("reactor", 1), ("threaded", 4)] {
        let server = Server::start(model, &["--max-connections", "3"]);
        let mut first: Vec<Client> = (0..3).map(|_| server.client()).collect();
        for client in &mut first {
            assert_eq!(client.request(&get("/hello", &[])).status, 200);
        }
        let mut waiting = server.client();
        waiting.send(&get("/hello", &[]));
        assert!(
            waiting.wait_readable(Duration::from_millis(500)).is_err(),
            "{model}: the fourth client waits in the backlog"
        );
        assert_eq!(server.threads(), threads_at_limit, "{model}");
        drop(first.pop());
        waiting.set_read_timeout(Duration::from_secs(5));
        assert_eq!(waiting.read_response().status, 200, "{model}");
        if model == "reactor" {
            assert!(server.logs().contains("max-connections"), "logged once");
        }
    }
}

/// `--workers 2`: two reactor loops, each one thread, share the port. A handler
/// that stalls one loop leaves the other serving, and one signal drains both.
#[test]
fn reactor_workers_share_the_port_and_drain_together() {
    let mut server = Server::start("reactor", &["--workers", "2"]);
    // The start-up line comes before the loops' threads are running: give them a
    // moment (each is counted when its loop starts).
    let threads_live = |server: &Server| {
        let stats = server.request(&get("/stats", &["Connection: close"]));
        let json: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
        json["threads_live"].as_u64().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while (server.threads() < 3 || threads_live(&server) < 2) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        server.threads(),
        2 + 1,
        "two loops and the waiting main thread"
    );
    assert_eq!(threads_live(&server), 2);

    // The kernel picks a worker per connection by a hash of the client's port, so
    // of 16 connections made while one loop spins, some land on the free loop
    // (all 16 on the same one: one chance in 32 768).
    let addr = server.addr();
    let spinner = thread::spawn(move || {
        let mut c = Client::connect(addr);
        assert_eq!(c.request(&get("/spin/600", &[])).status, 200);
    });
    thread::sleep(Duration::from_millis(100));
    let fastest = (0..16)
        .map(|_| {
            let start = Instant::now();
            let mut c = server.client();
            c.set_read_timeout(Duration::from_secs(5));
            assert_eq!(c.request(&get("/hello", &[])).status, 200);
            start.elapsed()
        })
        .min()
        .unwrap();
    assert!(
        fastest < Duration::from_millis(150),
        "no connection reached the free worker: fastest took {fastest:?}"
    );
    spinner.join().unwrap();

    common::assertions::sigterm_answers_requests_in_flight(&mut server, 8);
}

/// Out of descriptors, the threaded server retries accepting on a timer, warns once
/// per episode (it used to warn on every retry, 100 lines a second, for as long as
/// a client held the descriptors), uses next to no CPU, and serves the queued
/// clients once connections close.
#[test]
fn threaded_out_of_descriptors_warns_once_and_serves_the_queue_later() {
    let server = Server::start("threaded", &[]);
    server.limit_descriptors(server.open_fds() + 8);
    let mut held: Vec<Client> = Vec::new();
    for _ in 0..8 {
        let mut c = server.client();
        assert_eq!(c.request(&get("/hello", &[])).status, 200);
        held.push(c);
    }
    let mut queued: Vec<Client> = (0..5).map(|_| server.client()).collect();
    for c in &mut queued {
        c.send(&get("/hello", &[]));
    }
    let before = server.cpu_ticks();
    thread::sleep(Duration::from_secs(1));
    let used = server.cpu_ticks() - before;
    assert!(
        used < 10,
        "the server used {used} ticks of CPU in 1 s while out of descriptors"
    );
    let warnings = server.logs().matches("Too many open files").count();
    assert!(
        (1..=2).contains(&warnings),
        "warned {warnings} times in 1 s:\n{}",
        server.logs()
    );
    held.clear();
    for c in &mut queued {
        c.set_read_timeout(Duration::from_secs(5));
        assert_eq!(c.read_response().status, 200);
    }
}

/// A client that stops reading is dropped one write timeout after the server could
/// last write to it, in every model. The blocking models used to set SO_SNDTIMEO to
/// the write timeout, and a write that copied a few bytes and then waited returned
/// only when that timeout ended: a stalled client was dropped after twice the time.
#[test]
fn a_client_that_stops_reading_is_dropped_at_the_write_timeout() {
    use std::io::{ErrorKind, Write};
    for model in MODELS {
        if common::skip(model) {
            continue;
        }
        let server = Server::start_with_env(
            model,
            &["--write-timeout", "1s"],
            &[("RUST_LOG", "reactor=debug")],
        );
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.set_nonblocking(true).unwrap();
        // Requests with answers as big as they are, far more than the socket buffers
        // hold: the server's answers back up, then it stops reading.
        let request = get("/echo", &[&format!("X-Pad: {}", "p".repeat(2000))]);
        let pipeline = request.repeat(20_000);
        let (mut sent, mut last_write) = (0, Instant::now());
        while last_write.elapsed() < Duration::from_millis(300) && sent < pipeline.len() {
            match stream.write(&pipeline[sent..]) {
                Ok(n) => {
                    sent += n;
                    last_write = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("{model}: write: {e}"),
            }
        }
        assert!(sent < pipeline.len(), "{model}: the server read everything");
        // The reactor's core logs the timeout; the blocking driver, the drop.
        let dropped = || {
            let logs = server.logs();
            logs.contains("WriteStall timeout") || logs.contains("write stalled")
        };
        while !dropped() && last_write.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(10));
        }
        let dropped_after = last_write.elapsed();
        assert!(dropped(), "{model}: never dropped:\n{}", server.logs());
        assert!(
            dropped_after >= Duration::from_millis(500)
                && dropped_after <= Duration::from_millis(1600),
            "{model}: dropped {dropped_after:?} after our writes stalled, with a 1 s write timeout"
        );
    }
}
