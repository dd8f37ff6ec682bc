//! Clients that go after the server's resources: `no-read` (memory: pipelined
//! requests whose answers are never read), `fd-exhaustion` (file descriptors: far
//! more clients than the server may open) and `reset-mid-response` (descriptors and
//! CPU: downloads reset half-way).
//!
//! What must hold: memory stays bounded by the server's per-connection limits (it
//! stops reading a client that does not read), running out of descriptors pauses
//! accepting instead of spinning on it, and a reset costs nothing that outlives it.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reactor::config::Limits;
use reactor::protocol::connection::{INPUT_SLACK, OUTPUT_HIGH_WATER};

use crate::good::Latency;
use crate::hold::{cpu_used, CONNECT_BURST};
use crate::report::{mib, min_median_max, spread, Findings};
use crate::scenario::{Ctx, NotRun};
use crate::swarm::{Closed, Swarm};
use crate::target::{finish_sampling, Model};
use crate::wire;

/// The largest read buffer of any model (the reactor's, shared by all its clients).
const READ_BUFFER: usize = 64 * 1024;

/// What one connection may cost the server at most while it does not read (KiB):
/// queued output up to the high-water mark, unparsed input up to the default head
/// limit plus the slack, and one read buffer; twice that, because a growing buffer is
/// reallocated at double its size and freed memory is not always returned at once.
fn bound_per_connection_kib() -> u64 {
    let bytes = OUTPUT_HIGH_WATER + Limits::default().max_head + INPUT_SLACK + READ_BUFFER;
    (2 * bytes / 1024) as u64
}
/// What the uring model holds for all its connections at once (KiB): its receive
/// buffer ring, resident once receives have taken every buffer. A fixed cost, allowed
/// on top of the per-connection bound.
#[cfg(target_os = "linux")]
const URING_RECEIVE_RING_KIB: u64 = (reactor::server::uring::RECEIVE_RING_BYTES / 1024) as u64;
#[cfg(not(target_os = "linux"))]
const URING_RECEIVE_RING_KIB: u64 = 0;

/// A connection whose writes made no progress for this long is blocked.
const STALLED_AFTER: Duration = Duration::from_millis(500);
/// How often the server's sockets are looked at in the kernel's socket table.
const OBSERVE_EVERY: Duration = Duration::from_millis(100);
/// Padding of each pipelined request, echoed back by `/echo`: answers as large as the
/// requests, so the server's output backs up long before the kernel's buffers hold
/// every answer (with `/hello`, 10 000 answers fit in them, and nothing is tested).
const PAD: usize = 2000;

/// The pipelined request of the no-read client: `GET /echo` with a padding field.
fn pipelined_request() -> Vec<u8> {
    let mut request = b"GET /echo HTTP/1.1\r\nHost: attack\r\nX-Pad: ".to_vec();
    request.extend(std::iter::repeat_n(b'p', PAD));
    request.extend_from_slice(b"\r\n\r\n");
    request
}

/// Figures: `connections`, `connected`, `requests_written`, `stalled` (connections
/// with requests waiting unread in the server's socket: it stopped reading them),
/// `unbounded_mib` (what queueing an answer to every request written would have
/// cost), `rss_growth_kib`, `bound_kib`, `closed_by_server` (of which `closed_reset`
/// and `closed_unseen`: see [`Closed::Unseen`]), `waiting_at_end`,
/// `closed_min_s`/`closed_median_s`/`closed_max_s` (from the server's last write on
/// a connection to its close), `write_timeout_s`, and the server's `rss_*`, `cpu_s`,
/// `threads_peak`, `alive_after`.
///
/// The server's side is read from the kernel's socket table every [`OBSERVE_EVERY`]
/// (see [`Swarm::observe_server_side`]): requests it has not read, answers it has
/// written that we have not taken, and when that last grew, which is when its write
/// timeout starts.
pub fn no_read(ctx: &Ctx<'_>) -> Result<Findings, NotRun> {
    let args = ctx.args;
    let k = args.no_read_connections;
    let timeout = ctx.target.expected.write;
    let secs = timeout.as_secs_f64();
    let model = ctx.model();
    let per_connection_kib = bound_per_connection_kib();
    let fixed_kib = if model.name() == "uring" {
        URING_RECEIVE_RING_KIB
    } else {
        0
    };
    let bound_kib = k as u64 * per_connection_kib + fixed_kib;
    let expected = match model {
        Model::Iterative => format!(
            "the connection being served is no longer read once its answers back up, and is dropped at the write timeout ({secs}s); the other {} wait in the backlog; RSS stays bounded",
            k - 1
        ),
        Model::Pool { workers } => format!(
            "{workers} connections at a time are no longer read once their answers back up, and are dropped at the write timeout ({secs}s), then the next {workers} from the queue; the queued ones are not read at all (their requests wait in the kernel's buffers), so RSS stays bounded, but the {k} take {k}/{workers} write timeouts to clear"
        ),
        _ => format!(
            "the server stops reading each of the {k} connections once its answers back up (backpressure), RSS grows by at most {} ({} per connection{}), and each is dropped at the write timeout ({secs}s)",
            mib(bound_kib),
            mib(per_connection_kib),
            if fixed_kib > 0 {
                format!(", plus {} of shared receive buffers", mib(fixed_kib))
            } else {
                String::new()
            }
        ),
    };
    let mut f = Findings::new("no-read", model.name(), expected);
    // The good clients see the attack until its connections are dropped.
    let window = timeout + Duration::from_secs(1);
    let (mut live, baseline) = ctx.start(None, window)?;
    let request = pipelined_request();
    let answer_size = wire::exchange(live.addr, &request, true, Duration::from_secs(5))
        .ok()
        .filter(|e| e.first_status() == Some(200))
        .map(|e| e.responses[0].body_len + 150)
        .unwrap_or(request.len() as u64);
    let rss_before = live.rss_kib();
    let cpu_before = live.cpu_time();
    let sampler = live.sample();

    let mut swarm = Swarm::new(live.addr).map_err(|e| format!("cannot create a poll: {e}"))?;
    swarm.connect(k, CONNECT_BURST, args.connect_window, false);
    let good = ctx.good_clients(&live, window);
    let pipeline = request.repeat(args.no_read_requests);
    let total = pipeline.len() as u64;
    let write_more = |swarm: &mut Swarm| {
        for key in 0..swarm.peers.len() {
            let peer = &swarm.peers[key];
            if peer.is_open() && peer.bytes_sent < total {
                let from = peer.bytes_sent as usize;
                swarm.send(key, &pipeline[from..]);
            }
        }
    };
    // Write until no connection can write more: everything sent, or its writes
    // blocked (the server stopped reading and the kernel's buffers are full).
    let writing_limit = Instant::now() + args.connect_window + timeout;
    let mut observed = Instant::now();
    loop {
        write_more(&mut swarm);
        let now = Instant::now();
        if now.duration_since(observed) >= OBSERVE_EVERY {
            swarm.observe_server_side();
            observed = now;
        }
        let blocked = swarm.peers.iter().all(|p| {
            !p.is_open()
                || p.bytes_sent >= total
                || p.last_send_at
                    .is_some_and(|at| now.duration_since(at) >= STALLED_AFTER)
        });
        if blocked || now >= writing_limit {
            break;
        }
        swarm.pump(Duration::from_millis(20));
    }
    swarm.observe_server_side();
    // Stalled: the server did not take everything sent, or left some of it unread.
    let stalled = swarm
        .peers
        .iter()
        .filter(|p| p.is_connected() && (p.bytes_sent < total || p.server_unread > 0))
        .count();
    // Then wait for the server to give up on them: a reset shows on our socket (and
    // makes a write fail); a plain close may only show in the socket table.
    let deadline = Instant::now() + timeout + args.margin;
    while Instant::now() < deadline && swarm.peers.iter().any(|p| p.is_open()) {
        swarm.pump(OBSERVE_EVERY);
        swarm.observe_server_side();
        write_more(&mut swarm);
    }
    let cpu = cpu_used(&live, cpu_before);
    let samples = finish_sampling(sampler);
    let during = good
        .join()
        .map_err(|_| "the good clients' thread panicked")?;

    let connected = swarm.connected();
    let requests_written: u64 = swarm
        .peers
        .iter()
        .map(|p| p.bytes_sent / request.len() as u64)
        .sum();
    let unbounded_kib = requests_written * answer_size / 1024;
    // From the server's last write to its close, as observed (`close_times`), and at
    // most (`close_times_at_most`: from the observation before the one that saw the
    // write, so a late observation cannot make a drop look early).
    let mut close_times = Vec::new();
    let mut close_times_at_most = Vec::new();
    for peer in &swarm.peers {
        if let (Some((_, at)), Some(wrote)) = (peer.closed_by_server(), peer.server_wrote_at) {
            close_times.push(at.saturating_duration_since(wrote));
            let after = peer.server_wrote_after.unwrap_or(wrote);
            close_times_at_most.push(at.saturating_duration_since(after));
        }
    }
    let closed = close_times.len();
    let closed_how = |how: Closed| {
        swarm
            .peers
            .iter()
            .filter(|p| p.closed.is_some_and(|(h, _)| h == how))
            .count()
    };
    let (resets, unseen) = (closed_how(Closed::Reset), closed_how(Closed::Unseen));
    let waiting = swarm.peers.iter().filter(|p| p.is_open()).count();
    let growth = match (rss_before, samples.rss_max_kib) {
        (Some(before), Some(peak)) => Some(peak.saturating_sub(before)),
        _ => None,
    };
    let times = min_median_max(&close_times);
    let times_at_most = min_median_max(&close_times_at_most);
    f.figure("connections", k);
    f.figure("connected", connected);
    f.figure("requests_written", requests_written);
    f.figure("stalled", stalled);
    f.figure("unbounded_mib", unbounded_kib as f64 / 1024.0);
    f.figure("rss_growth_kib", growth);
    f.figure("bound_kib", bound_kib);
    f.figure("closed_by_server", closed);
    f.figure("closed_reset", resets);
    f.figure("closed_unseen", unseen);
    f.figure("waiting_at_end", waiting);
    f.figure("closed_min_s", times.map(|t| t.0.as_secs_f64()));
    f.figure("closed_median_s", times.map(|t| t.1.as_secs_f64()));
    f.figure("closed_max_s", times.map(|t| t.2.as_secs_f64()));
    f.figure("write_timeout_s", secs);
    f.did(format!(
        "{connected} connections wrote {requests_written} pipelined requests ({:.0} each) until their writes blocked; the server left requests unread on {stalled} of them (answering every request written would have queued {})",
        requests_written as f64 / connected.max(1) as f64,
        mib(unbounded_kib)
    ));
    if let Some(growth) = growth {
        f.did(format!(
            "server RSS grew by {} at most (bound {})",
            mib(growth),
            mib(bound_kib)
        ));
    }
    f.did(format!(
        "{closed} dropped by the server ({resets} with a reset, {unseen} with a FIN stuck behind the unread answers), {} after its last write on them (min/median/max); {waiting} still open",
        spread(&close_times).unwrap_or_else(|| "never".into())
    ));
    f.server_figures(rss_before, &samples, cpu);

    f.check(connected == k, format!("only {connected} of {k} connected"));
    f.check(
        growth.is_none_or(|g| g <= bound_kib),
        format!(
            "RSS grew by {} KiB, above the bound of {bound_kib} KiB",
            growth.unwrap_or(0)
        ),
    );
    // The last write is seen late by up to one observation (more when this process
    // is starved of CPU: hence the "at most" bound for "not too early"), and the
    // reactor stamps the writes of a batch of busy clients with the batch's start (so
    // it may drop them early by up to a turn of its loop, here up to a few hundred
    // ms): allow half.
    let early_ok = |at_most: Duration| at_most + OBSERVE_EVERY >= timeout.mul_f64(0.5);
    let late_ok = |t: Duration| t <= timeout + args.margin;
    match model.serves_at_once() {
        Some(at_once) => {
            f.check(
                closed >= at_once.min(connected),
                format!("only {closed} dropped; {at_once} are served at a time"),
            );
            // A pool has accepted them all: what it does not serve it does not read.
            if matches!(model, Model::Pool { .. }) {
                f.check(
                    stalled == connected,
                    format!(
                        "the server kept reading {} of {connected} connections",
                        connected - stalled
                    ),
                );
            }
            f.check(
                times.is_some_and(|t| late_ok(t.0)) && times_at_most.is_some_and(|t| early_ok(t.0)),
                format!(
                    "the first drop came {:?} after the server's last write, not about {secs}s",
                    times.map(|t| t.0)
                ),
            );
        }
        None => {
            f.check(
                stalled == connected,
                format!(
                    "the server kept reading {} of {connected} connections",
                    connected - stalled
                ),
            );
            f.check(
                closed == connected,
                format!("only {closed} of {connected} were dropped"),
            );
            f.check(
                times.is_some_and(|t| late_ok(t.0) && late_ok(t.2))
                    && times_at_most.is_some_and(|t| early_ok(t.0) && early_ok(t.2)),
                format!(
                    "dropped {} after the server's last write, not about {secs}s",
                    spread(&close_times).unwrap_or_else(|| "never".into())
                ),
            );
        }
    }
    f.latency(Latency::new(baseline, during, args.p99_floor));
    swarm.close_all();
    ctx.check_alive(&mut live, &mut f);
    live.finish();
    Ok(f)
}

/// Figures: `fd_limit`, `attempts`, `connected`, `answered_saturated` (answers while
/// out of descriptors), `cpu_saturated_fraction` (server CPU over the saturation
/// window, in cores), `answered_200`, `warnings` (lines the server logged at WARN),
/// and `alive_after`.
pub fn fd_exhaustion(ctx: &Ctx<'_>) -> Result<Findings, NotRun> {
    let args = ctx.args;
    let attempts = args.fd_attempts;
    let limit = args.fd_limit;
    let model = ctx.model();
    let saturation_s = args.saturation.as_secs_f64();
    let expected = match model {
        Model::Iterative => format!(
            "never short of descriptors (one connection at a time): the {attempts} clients wait in the backlog and are all answered, one by one, as the tool closes each answered connection"
        ),
        Model::Pool { workers } => format!(
            "with RLIMIT_NOFILE {limit}, the server queues what it can accept and pauses accepting without spinning (under {:.0}% of a core for {saturation_s}s); {workers} at a time are answered, each holding its worker until the tool closes it, until all {attempts} are",
            args.max_idle_cpu * 100.0
        ),
        _ => format!(
            "with RLIMIT_NOFILE {limit}, the server accepts what it can and pauses accepting without spinning (under {:.0}% of a core for {saturation_s}s), then serves all {attempts} clients as descriptors free up",
            args.max_idle_cpu * 100.0
        ),
    };
    let mut f = Findings::new("fd-exhaustion", model.name(), expected);
    let window = args.good_duration;
    let (mut live, baseline) = ctx.start(Some(limit), window)?;

    let mut swarm = Swarm::new(live.addr).map_err(|e| format!("cannot create a poll: {e}"))?;
    swarm.connect(attempts, CONNECT_BURST, args.connect_window, true);
    for key in 0..swarm.peers.len() {
        let request =
            format!("GET /hello HTTP/1.1\r\nHost: attack\r\nX-Request-Id: fd{key}\r\n\r\n");
        swarm.send(key, request.as_bytes());
    }
    // Let the server take what it can, then watch it while it can take no more.
    swarm.pump_until(Instant::now() + Duration::from_millis(500), |_| false);
    let good = ctx.good_clients(&live, window);
    let cpu_before = live.cpu_time();
    let fds_saturated = live.open_fds();
    swarm.pump_until(Instant::now() + args.saturation, |_| false);
    let cpu = cpu_used(&live, cpu_before);
    let answered_saturated = swarm
        .peers
        .iter()
        .filter(|p| !p.responses.is_empty())
        .count();

    // Release: close every answered connection, so the queued ones get descriptors.
    let connected = swarm.connected();
    let release_limit =
        Instant::now() + Duration::from_secs(10) + Duration::from_millis(20 * attempts as u64);
    loop {
        for key in 0..swarm.peers.len() {
            let p = &swarm.peers[key];
            if !p.responses.is_empty() && p.closed.is_none() {
                swarm.close(key, false);
            }
        }
        let answered = swarm
            .peers
            .iter()
            .filter(|p| !p.responses.is_empty())
            .count();
        if answered >= connected || Instant::now() >= release_limit {
            break;
        }
        swarm.pump(Duration::from_millis(20));
    }
    let during = good
        .join()
        .map_err(|_| "the good clients' thread panicked")?;
    let answered_200 = swarm
        .peers
        .iter()
        .filter(|p| p.first_status() == Some(200))
        .count();
    let fraction = cpu.map(|c| c.as_secs_f64() / saturation_s);
    let log = live.log();
    let warnings = log.as_ref().map_or(0, |l| l.warnings);
    f.figure("fd_limit", limit);
    f.figure("attempts", attempts);
    f.figure("connected", connected);
    f.figure("fds_saturated", fds_saturated);
    f.figure("answered_saturated", answered_saturated);
    f.figure("cpu_saturated_s", cpu.map(|c| c.as_secs_f64()));
    f.figure("cpu_saturated_fraction", fraction);
    f.figure("answered_200", answered_200);
    f.figure("warnings", warnings);
    f.did(format!(
        "{connected} of {attempts} connected; {answered_saturated} answered while the server held {} descriptors (limit {limit})",
        fds_saturated.map_or("?".into(), |n| n.to_string())
    ));
    if let Some(cpu) = cpu {
        f.did(format!(
            "server CPU while saturated: {:.3} s in {saturation_s}s ({:.1}% of a core)",
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / saturation_s
        ));
    }
    f.did(format!(
        "{answered_200} of {connected} got 200 once the tool closed answered connections"
    ));
    if let Some(first) = log.as_ref().and_then(|l| l.first_warning.clone()) {
        f.did(format!(
            "the server logged {warnings} warnings, the first: {}",
            first.trim()
        ));
    }
    f.check(
        connected == attempts,
        format!("only {connected} of {attempts} connected"),
    );
    f.check(
        answered_200 == connected,
        format!("only {answered_200} of {connected} clients got 200"),
    );
    f.check(
        fraction.is_some_and(|x| x <= args.max_idle_cpu),
        format!(
            "the server used {} of a core while out of descriptors (at most {:.0}% allowed)",
            fraction.map_or("?".into(), |x| format!("{:.1}%", x * 100.0)),
            args.max_idle_cpu * 100.0
        ),
    );
    f.latency(Latency::new(baseline, during, args.p99_floor));
    swarm.close_all();
    ctx.check_alive(&mut live, &mut f);
    live.finish();
    Ok(f)
}

/// Figures: `downloads`, `reset`, `fds_before`, `fds_after`, `threads_before`,
/// `threads_after`, `cpu_quiet_fraction` (server CPU in the second after the resets),
/// and `alive_after`.
pub fn reset_mid_response(ctx: &Ctx<'_>) -> Result<Findings, NotRun> {
    let args = ctx.args;
    let m = args.resets;
    let model = ctx.model();
    let path = &args.big_path;
    let expected = format!(
        "{m} downloads of {path} reset by the client after their first bytes cost nothing that outlives them: descriptors{} back to where they were, no CPU spent afterwards, still serving",
        if *model == Model::Threaded { " and threads" } else { "" }
    );
    let mut f = Findings::new("reset-mid-response", model.name(), expected);
    let window = args.good_duration;
    let (mut live, baseline) = ctx.start(None, window)?;
    let probe = format!("HEAD {path} HTTP/1.1\r\nHost: attack\r\nConnection: close\r\n\r\n");
    let size = match TcpStream::connect(live.addr).and_then(|mut s| {
        s.write_all(probe.as_bytes())?;
        let mut head = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.read_to_end(&mut head)?;
        Ok(head)
    }) {
        Ok(head) => served_length(&head),
        Err(_) => None,
    };
    let Some(size) = size.filter(|&len| len >= 1 << 20) else {
        live.finish();
        return Err(NotRun::Skipped(format!(
            "{path} is not served as a file of 1 MiB or more: put -d {{ROOT}} in --server (the tool puts a {} file there), or pass --big-path",
            mib(args.file_size / 1024)
        )));
    };
    let fds_before = live.open_fds();
    let threads_before = live.threads();
    let good = ctx.good_clients(&live, window);
    let request = format!("GET {path} HTTP/1.1\r\nHost: attack\r\n\r\n");
    let mut reset = 0;
    let mut problems = Vec::new();
    for _ in 0..m {
        match download_then_reset(live.addr, request.as_bytes()) {
            Ok(()) => reset += 1,
            Err(why) => problems.push(why),
        }
    }
    // The server has nothing left to do: it must go quiet and give everything back.
    // Fewer than before is fine: a connection from before the attack (the readiness
    // probe, the baseline's clients) may still have been finishing when counted.
    fn leaked<T: PartialOrd>(before: Option<T>, now: Option<T>) -> bool {
        matches!((before, now), (Some(b), Some(n)) if n > b)
    }
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle
        && (leaked(fds_before, live.open_fds()) || leaked(threads_before, live.threads()))
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let fds_after = live.open_fds();
    let threads_after = live.threads();
    let during = good
        .join()
        .map_err(|_| "the good clients' thread panicked")?;
    let cpu_before = live.cpu_time();
    std::thread::sleep(Duration::from_secs(1));
    let quiet = cpu_used(&live, cpu_before).map(|c| c.as_secs_f64());
    f.figure("downloads", m);
    f.figure("file_bytes", size);
    f.figure("reset", reset);
    f.figure("fds_before", fds_before);
    f.figure("fds_after", fds_after);
    f.figure("threads_before", threads_before);
    f.figure("threads_after", threads_after);
    f.figure("cpu_quiet_fraction", quiet);
    f.did(format!(
        "{reset} of {m} downloads of {} reset after their first 64 KiB",
        mib(size / 1024)
    ));
    if let (Some(before), Some(after)) = (fds_before, fds_after) {
        f.did(format!("server descriptors {before} before, {after} after"));
    }
    if let (Some(before), Some(after)) = (threads_before, threads_after) {
        f.did(format!("server threads {before} before, {after} after"));
    }
    if let Some(quiet) = quiet {
        f.did(format!(
            "server CPU in the quiet second after: {:.1}% of a core",
            quiet * 100.0
        ));
    }
    f.check(
        problems.is_empty(),
        problems.first().cloned().unwrap_or_default(),
    );
    f.check(
        !leaked(fds_before, fds_after),
        format!("descriptors leaked: {fds_before:?} before, {fds_after:?} after"),
    );
    f.check(
        !leaked(threads_before, threads_after),
        format!("threads left over: {threads_before:?} before, {threads_after:?} after"),
    );
    f.check(
        quiet.is_none_or(|q| q <= args.max_idle_cpu),
        format!("the server kept using CPU after the resets: {quiet:?} of a core"),
    );
    f.latency(Latency::new(baseline, during, args.p99_floor));
    ctx.check_alive(&mut live, &mut f);
    live.finish();
    Ok(f)
}

/// The Content-Length of a 200 response head.
fn served_length(head: &[u8]) -> Option<u64> {
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut fields);
    response.parse(head).ok()?;
    if response.code != Some(200) {
        return None;
    }
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))?;
    std::str::from_utf8(length.value).ok()?.trim().parse().ok()
}

/// Starts a download, reads its 200 head and 64 KiB, then resets the connection.
fn download_then_reset(addr: std::net::SocketAddr, request: &[u8]) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request)
        .map_err(|e| format!("send: {e}"))?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while received.len() < 64 * 1024 {
        match stream.read(&mut chunk) {
            Ok(0) => return Err(format!("closed after {} bytes", received.len())),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read after {} bytes: {e}", received.len())),
        }
    }
    if !received.starts_with(b"HTTP/1.1 200") {
        return Err(format!(
            "the download began {:?}",
            String::from_utf8_lossy(&received[..received.len().min(40)])
        ));
    }
    // SO_LINGER 0: close() sends RST, not FIN, while the server is mid-write.
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .map_err(|e| e.to_string())?;
    drop(stream);
    Ok(())
}
