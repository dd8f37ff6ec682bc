//! Clients that hold a connection open without finishing a request: `slowloris`
//! (the head dribbled one byte at a time) and `idle` (not a byte, ever).
//!
//! An event loop holds thousands of them for a few KiB each and cuts them at the
//! header timeout; a thread per connection pays a thread each; the iterative server
//! serves one of them and leaves the rest, and everyone else, in the listen backlog;
//! a pool serves as many as it has workers and queues the rest, and everyone else.
//! Each connection's fate is read from its own socket: the 408 it received (or the
//! close without a word), and when.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reactor::server::{ACCEPT_DEFER_MOST, LISTEN_BACKLOG};

use crate::good::Latency;
use crate::report::{mib, min_median_max, spread, Findings};
use crate::scenario::{Ctx, NotRun};
use crate::swarm::{listen_backlog, Swarm};
use crate::target::{finish_sampling, Live, Model};

/// Handshakes in flight at once while connecting, well under the listen backlog.
pub const CONNECT_BURST: usize = 256;
/// How many moments of each interval the slowloris bytes are spread over.
const SLOTS: usize = 100;
/// The slowloris head: a request whose last header value never ends.
const SLOW_HEAD: &[u8] = b"GET /hello HTTP/1.1\r\nHost: attack\r\nUser-Agent: slowloris\r\nX-Pad: ";

/// Byte `i` of the slowloris stream: the head, then an endless header value.
fn slow_byte(i: u64) -> u8 {
    usize::try_from(i)
        .ok()
        .and_then(|i| SLOW_HEAD.get(i))
        .copied()
        .unwrap_or(b'a')
}

/// Every connection is settled: closed by someone, or it never connected.
fn all_settled(swarm: &Swarm) -> bool {
    swarm
        .peers
        .iter()
        .all(|p| p.closed.is_some() || (!p.is_connected() && !p.is_connecting()))
}

/// Figures: `connections`, `connected`, `got_408`, `other_statuses`,
/// `closed_by_server`, `waiting_at_end`, `t408_min_s`/`t408_median_s`/`t408_max_s`
/// (time from a connection's first byte to its 408), `header_timeout_s`, and the
/// server's `rss_*`, `cpu_s`, `threads_peak`, `alive_after`.
pub fn slowloris(ctx: &Ctx<'_>) -> Result<Findings, NotRun> {
    let args = ctx.args;
    let n = args.connections;
    let timeout = ctx.target.expected.header;
    let model = ctx.model();
    let secs = timeout.as_secs_f64();
    let expected = match model {
        Model::Threaded => format!(
            "each of the {n} connections gets 408 and a close {secs}s after its first byte (the header timeout), each holding a thread until then; good clients are still served (their latency is reported, not judged)"
        ),
        Model::Iterative => format!(
            "one connection at a time: the one being served gets 408 at the header timeout ({secs}s), the others wait in the listen backlog, and so do the good clients (not served during the attack, by design)"
        ),
        Model::Pool { workers } => format!(
            "{workers} connections at a time (a worker each): each gets 408 at the header timeout ({secs}s) and holds its worker through the lingering close that follows (the client keeps sending); the others wait in the queue, and so do the good clients (not served during the attack, by design)"
        ),
        _ => format!(
            "each of the {n} connections gets 408 and a close {secs}s after its first byte (the header timeout); good clients' p99 stays within {}x of the baseline",
            args.max_p99_ratio
        ),
    };
    let mut f = Findings::new("slowloris", model.name(), expected);
    // The good clients see the whole attack, the 408s at its end included.
    let window = timeout + Duration::from_secs(1);
    let (mut live, baseline) = ctx.start(None, window)?;
    let rss_before = live.rss_kib();
    let cpu_before = live.cpu_time();
    let sampler = live.sample();

    let mut swarm = Swarm::new(live.addr).map_err(|e| format!("cannot create a poll: {e}"))?;
    swarm.connect(n, CONNECT_BURST, args.connect_window, true);
    let good = ctx.good_clients(&live, window);
    let attack_start = Instant::now();
    let deadline = attack_start + timeout + args.margin;
    // Each connection sends its byte at its own moment of the interval, as
    // independent slow clients would: the interval is cut into `slots` ticks, and
    // connection `key` sends on tick `key % slots`.
    let slots = n.clamp(1, SLOTS) as u32;
    let tick = args.interval / slots;
    let mut next_tick = attack_start;
    let mut tick_number = 0usize;
    while !all_settled(&swarm) && Instant::now() < deadline {
        if Instant::now() >= next_tick {
            let slot = tick_number % slots as usize;
            for key in (slot..swarm.peers.len()).step_by(slots as usize) {
                let peer = &swarm.peers[key];
                if peer.is_open() && peer.responses.is_empty() {
                    let byte = slow_byte(peer.bytes_sent);
                    swarm.send(key, &[byte]);
                }
            }
            tick_number += 1;
            next_tick += tick;
        }
        swarm.pump_until(next_tick.min(deadline), all_settled);
    }
    let attack_time = attack_start.elapsed();
    let cpu = cpu_used(&live, cpu_before);
    let samples = finish_sampling(sampler);
    let during = good
        .join()
        .map_err(|_| "the good clients' thread panicked")?;

    let connected = swarm.connected();
    let mut got_408 = 0;
    let mut other_statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut to_408 = Vec::new();
    let mut closed_after_408 = 0;
    for peer in &swarm.peers {
        match peer.responses.first() {
            Some(&(408, at)) => {
                got_408 += 1;
                if let Some(first) = peer.first_sent_at {
                    to_408.push(at.saturating_duration_since(first));
                }
                if peer.closed_by_server().is_some() {
                    closed_after_408 += 1;
                }
            }
            Some(&(status, _)) => *other_statuses.entry(status).or_default() += 1,
            None => {}
        }
    }
    let closed_by_server = swarm
        .peers
        .iter()
        .filter(|p| p.closed_by_server().is_some())
        .count();
    let waiting = swarm.peers.iter().filter(|p| p.is_open()).count();
    let times = min_median_max(&to_408);
    f.figure("connections", n);
    f.figure("connected", connected);
    f.figure("got_408", got_408);
    f.figure("other_statuses", &other_statuses);
    f.figure("closed_by_server", closed_by_server);
    f.figure("waiting_at_end", waiting);
    f.figure("t408_min_s", times.map(|t| t.0.as_secs_f64()));
    f.figure("t408_median_s", times.map(|t| t.1.as_secs_f64()));
    f.figure("t408_max_s", times.map(|t| t.2.as_secs_f64()));
    f.figure("header_timeout_s", secs);
    f.did(format!(
        "{got_408} of {n} connections got 408 and {closed_after_408} of those were closed; {connected} connected, {closed_by_server} closed by the server, {waiting} still waiting after {:.1}s",
        attack_time.as_secs_f64()
    ));
    if let Some(text) = spread(&to_408) {
        f.did(format!(
            "408 arrived {text} after each connection's first byte (min/median/max)"
        ));
    }
    if !other_statuses.is_empty() {
        f.did(format!("other answers: {other_statuses:?}"));
    }
    f.server_figures(rss_before, &samples, cpu);
    let latency = Latency::new(baseline, during, args.p99_floor);

    // The server must neither cut a client long before the timeout nor long after it.
    let on_time = |t: Duration| t >= timeout.mul_f64(0.9) && t <= timeout + args.margin;
    f.check(
        other_statuses.is_empty(),
        format!("answers other than 408: {other_statuses:?}"),
    );
    f.check(
        closed_after_408 == got_408,
        format!(
            "{} connections got 408 but stayed open",
            got_408 - closed_after_408
        ),
    );
    match model.serves_at_once() {
        Some(at_once) => {
            let most = at_once * ((attack_time.as_secs_f64() / secs).floor() as usize + 1);
            f.check(got_408 >= 1, "not one slowloris connection was cut");
            f.check(
                got_408 <= most,
                format!(
                    "{got_408} connections got 408 in {:.1}s; {at_once} at a time allows {most}",
                    attack_time.as_secs_f64()
                ),
            );
            f.check(
                times.is_some_and(|t| on_time(t.0)),
                format!(
                    "the first 408 came {:?} after the first byte, not about {secs}s",
                    times.map(|t| t.0)
                ),
            );
            let place = match model {
                Model::Pool { .. } => "queue",
                _ => "backlog",
            };
            f.did(format!(
                "{at_once} connections are served at a time: {waiting} slowloris connections were still in the {place} when the attack ended; good clients got {} answers",
                latency.during.responses
            ));
        }
        None => {
            f.check(connected == n, format!("only {connected} of {n} connected"));
            f.check(
                got_408 == n,
                format!("only {got_408} of {n} connections got 408"),
            );
            f.check(
                times.is_some_and(|t| on_time(t.0) && on_time(t.2)),
                format!(
                    "408 came {} after the first byte, not within [{:.2}, {:.2}]s",
                    spread(&to_408).unwrap_or_else(|| "never".into()),
                    secs * 0.9,
                    (timeout + args.margin).as_secs_f64()
                ),
            );
            f.check(
                latency.during.wrong == 0,
                format!("{} good clients got wrong answers", latency.during.wrong),
            );
            f.check(
                latency.during.responses > 0,
                "the good clients got no answers during the attack",
            );
            if *model != Model::Threaded {
                f.check(
                    latency.p99_ratio.is_some_and(|r| r <= args.max_p99_ratio),
                    format!(
                        "good clients' p99 was {} of the baseline's (at most {}x allowed)",
                        latency
                            .p99_ratio
                            .map_or("unmeasured".into(), |r| format!("{r:.2}x")),
                        args.max_p99_ratio
                    ),
                );
            }
        }
    }
    f.latency(latency);
    swarm.close_all();
    ctx.check_alive(&mut live, &mut f);
    live.finish();
    Ok(f)
}

/// Figures: `connections`, `connected` (within the connect window),
/// `never_connected`, `held_at_peak` (most of them the server held at once, by its
/// descriptors while they arrived),
/// `backlog_queued` (connections in the listen backlog once accepting settled) and
/// `backlog_max` (the backlog this server's listen(2) asks for, capped by somaxconn),
/// `rss_all_open_kib` and `threads_all_open` (their peaks while the connections
/// arrived), `kib_per_connection`,
/// `closed_by_server`, `answered` (connections that got any response), `waiting_at_end`,
/// `closed_min_s`/`closed_median_s`/`closed_max_s` (from connect to close),
/// `header_timeout_s`, and the server's `rss_*`, `cpu_s`, `threads_peak`, `alive_after`.
pub fn idle(ctx: &Ctx<'_>) -> Result<Findings, NotRun> {
    let args = ctx.args;
    let n = args.idle_connections;
    let timeout = ctx.target.expected.header;
    let secs = timeout.as_secs_f64();
    let model = ctx.model();
    let expected = match model {
        Model::Threaded => format!(
            "a thread per connection, each closed {secs}s after it was accepted (the header timeout: no request ever started); a thread is started per accept, so a burst faster than that overflows the listen backlog ({LISTEN_BACKLOG}) and the clients whose SYNs are dropped may not connect at all within the connect window"
        ),
        Model::Iterative => format!(
            "one connection is served (and closed at the header timeout, {secs}s) while the others wait in the listen backlog, which holds about {LISTEN_BACKLOG}; the server does not finish the handshakes of the rest (some clients see theirs finished, but no more are queued)"
        ),
        Model::Pool { workers } => format!(
            "all {n} connections accepted into the queue (a descriptor and a queue slot each), {workers} served at a time; their header timeout ({secs}s) runs from the accept, so once the first ones are closed the workers close each expired one at once: all closed without a response about {secs}s after connecting; the good clients wait in the queue behind them until then"
        ),
        _ => format!(
            "all {n} connections accepted and held for a few KiB each, then closed without a response {secs}s later (the header timeout)"
        ),
    };
    let mut f = Findings::new("idle", model.name(), expected);
    // The good clients see the whole attack, the closes at its end included.
    let window = timeout + Duration::from_secs(1);
    let (mut live, baseline) = ctx.start(None, window)?;
    let rss_before = live.rss_kib();
    let fds_before = settled_descriptors(&live);
    let cpu_before = live.cpu_time();
    // Descriptors are counted while the connections arrive, and only then: what the
    // server holds at its peak, before the good clients add theirs.
    let arrival_sampler = live.sample_counting_descriptors();

    let mut swarm = Swarm::new(live.addr).map_err(|e| format!("cannot create a poll: {e}"))?;
    swarm.connect(n, CONNECT_BURST, args.connect_window, true);
    let held_since = Instant::now();
    let connected = swarm.connected();
    settle_accepts(&live, &mut swarm, fds_before, connected);
    let arrival = finish_sampling(arrival_sampler);
    let sampler = live.sample();
    let queued = listen_backlog(live.addr.port());
    // What our server asks of listen(2), capped by the kernel's somaxconn.
    let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    let backlog_max = somaxconn.map_or(LISTEN_BACKLOG, |s| s.min(LISTEN_BACKLOG));
    let good = ctx.good_clients(&live, window);
    let deadline = held_since + timeout + args.margin;
    swarm.pump_until(deadline, all_settled);
    let attack_time = held_since.elapsed();
    let cpu = cpu_used(&live, cpu_before);
    let samples = finish_sampling(sampler).merge(&arrival);
    let during = good
        .join()
        .map_err(|_| "the good clients' thread panicked")?;
    // Most connections the server held at once, by its descriptors, and what they cost.
    let held = arrival
        .fds_max
        .zip(fds_before)
        .map(|(max, before)| max.saturating_sub(before as u64));
    let rss_all = arrival.rss_max_kib;
    let threads_all = arrival.threads_max;

    let mut close_times = Vec::new();
    for peer in &swarm.peers {
        if let (Some((_, at)), Some(since)) = (peer.closed_by_server(), peer.connected_at) {
            close_times.push(at.saturating_duration_since(since));
        }
    }
    let closed = close_times.len();
    let answered = swarm
        .peers
        .iter()
        .filter(|p| !p.responses.is_empty())
        .count();
    let never_connected = n - connected;
    let waiting = swarm.peers.iter().filter(|p| p.is_open()).count();
    let per_connection = match (rss_before, rss_all, held) {
        (Some(before), Some(all), Some(held)) if held > 0 => {
            Some(all.saturating_sub(before) as f64 / held as f64)
        }
        _ => None,
    };
    let times = min_median_max(&close_times);
    f.figure("connections", n);
    f.figure("connected", connected);
    f.figure("never_connected", never_connected);
    f.figure("held_at_peak", held);
    f.figure("backlog_queued", queued);
    f.figure("backlog_max", backlog_max);
    f.figure("rss_all_open_kib", rss_all);
    f.figure("kib_per_connection", per_connection);
    f.figure("threads_all_open", threads_all);
    f.figure("closed_by_server", closed);
    f.figure("answered", answered);
    f.figure("waiting_at_end", waiting);
    f.figure("closed_min_s", times.map(|t| t.0.as_secs_f64()));
    f.figure("closed_median_s", times.map(|t| t.1.as_secs_f64()));
    f.figure("closed_max_s", times.map(|t| t.2.as_secs_f64()));
    f.figure("header_timeout_s", secs);
    f.did(format!(
        "{connected} of {n} connected within {:.0}s ({never_connected} never completed the handshake); the server held at most {} of them at once",
        args.connect_window.as_secs_f64(),
        held.map_or("?".into(), |a| a.to_string())
    ));
    if let (Some(before), Some(all), Some(per)) = (rss_before, rss_all, per_connection) {
        f.did(format!(
            "server RSS {} before, {} at the peak: {per:.1} KiB per connection held{}",
            mib(before),
            mib(all),
            threads_all.map_or(String::new(), |t| format!(", {t} threads"))
        ));
    }
    f.did(format!(
        "{closed} closed by the server ({answered} with a response), {waiting} still open after {:.1}s",
        attack_time.as_secs_f64()
    ));
    if let Some(text) = spread(&close_times) {
        f.did(format!("closed {text} after connecting (min/median/max)"));
    }
    f.server_figures(rss_before, &samples, cpu);
    if *model == Model::Threaded && never_connected > 0 {
        f.did(format!(
            "{never_connected} connections never got a handshake: a thread per connection is started at accept, and the accept loop fell behind the burst"
        ));
    }

    // Our event loops (reactor, uring) accept with TCP_DEFER_ACCEPT, as nginx's
    // `deferred` may: the kernel hands a silent connection over up to
    // ACCEPT_DEFER_MOST after it connected, and the header timeout runs from there.
    let deferred = matches!(model, Model::Reactor | Model::Other(_));
    let late = if deferred {
        ACCEPT_DEFER_MOST
    } else {
        Duration::ZERO
    };
    let on_time = |t: Duration| t >= timeout.mul_f64(0.9) && t <= timeout + args.margin + late;
    match model {
        Model::Iterative => {
            // Closes are counted until the last one seen, which can come after the
            // attack's own window: one at a time means one per header timeout over
            // that whole span.
            let span = times.map_or(0.0, |t| t.2.as_secs_f64());
            let span = span.max(attack_time.as_secs_f64());
            let most = (span / secs).floor() as usize + 1;
            f.check(closed >= 1, "the connection being served was never closed");
            f.check(
                closed <= most,
                format!("{closed} connections closed in {span:.1}s; one at a time allows {most}"),
            );
            f.check(
                times.is_some_and(|t| on_time(t.0)),
                format!(
                    "the first close came {:?} after connecting, not about {secs}s",
                    times.map(|t| t.0)
                ),
            );
            f.check(
                held.is_none_or(|a| a <= 1),
                format!("the iterative server held {held:?} connections at once"),
            );
            if let Some(queued) = queued {
                f.did(format!(
                    "the listen backlog held {queued} connections (this server's listen(2) asks for {backlog_max}; Linux queues one more) besides the one served; the others' handshakes were left unfinished by the server, or finished only on the client's side"
                ));
            }
        }
        _ => {
            // An event loop accepts as fast as connections come; a thread per
            // connection only as fast as it can start threads.
            if *model != Model::Threaded {
                f.check(
                    connected == n,
                    format!(
                        "only {connected} of {n} connected within {:.0}s",
                        args.connect_window.as_secs_f64()
                    ),
                );
                f.check(
                    held.is_none_or(|a| a == connected as u64),
                    format!("the server held at most {held:?} of {connected} connections at once"),
                );
            }
            f.check(
                closed == connected,
                format!("only {closed} of {connected} were closed by the server"),
            );
            f.check(
                times.is_some_and(|t| on_time(t.0) && on_time(t.2)),
                format!(
                    "closed {} after connecting, not within [{:.2}, {:.2}]s",
                    spread(&close_times).unwrap_or_else(|| "never".into()),
                    secs * 0.9,
                    (timeout + args.margin + late).as_secs_f64()
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

/// CPU the server used since `before`.
pub fn cpu_used(live: &Live, before: Option<Duration>) -> Option<Duration> {
    Some(live.cpu_time()?.saturating_sub(before?))
}

/// The server's open descriptors once the count holds still for 100 ms (the good
/// clients' baseline has just closed its connections; the server may not have yet).
fn settled_descriptors(live: &Live) -> Option<usize> {
    let limit = Instant::now() + Duration::from_secs(2);
    let mut last = live.open_fds()?;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = live.open_fds()?;
        if now == last || Instant::now() >= limit {
            return Some(now);
        }
        last = now;
    }
}

/// Waits until the server's descriptor count covers `expected` connections, or stops
/// growing for a second (it has accepted what it will accept; a second, because an
/// accept thread starved of CPU may pause for a while), or 5 s pass. Returns at once
/// without a pid. The swarm is pumped meanwhile, so closes are timed when they come.
fn settle_accepts(live: &Live, swarm: &mut Swarm, before: Option<usize>, expected: usize) {
    let Some(before) = before else {
        return;
    };
    let limit = Instant::now() + Duration::from_secs(5);
    let Some(mut last) = live.open_fds() else {
        return;
    };
    let mut stable_since = Instant::now();
    loop {
        swarm.pump_until(Instant::now() + Duration::from_millis(50), |_| false);
        let Some(now_fds) = live.open_fds() else {
            return;
        };
        if now_fds != last {
            last = now_fds;
            stable_since = Instant::now();
        }
        let opened = last.saturating_sub(before);
        // Quiet for longer than the kernel may hold a silent connection before our
        // server accepts it (`TCP_DEFER_ACCEPT`): no count is taken in that pause.
        if opened >= expected
            || stable_since.elapsed() >= ACCEPT_DEFER_MOST + Duration::from_millis(500)
            || Instant::now() >= limit
        {
            return;
        }
    }
}
