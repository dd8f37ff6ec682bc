//! The blocking driver: one connection on one thread, with blocking reads and
//! writes. The threaded, iterative and pool models all call [`serve`]; they differ
//! only in how many of these run at once and who hands them connections.
//!
//! Rule: the same steps as the reactor's `drive` (read, route, write), with the
//! waiting done by the kernel: socket timeouts stand in for the reactor's timers,
//! and `/delay` sleeps this thread.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use super::io_util::{interrupted, read_arrived, timed_out, write_output};
use super::App;
use crate::protocol::{DateCache, Phase};
use crate::routes::{self, Reply};
use crate::stats::Stats;

/// How often a blocked read wakes up to check for a shutdown request.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(100);
/// How long one blocked write waits before the connection's write deadline is
/// checked. Not the write timeout itself: a write that copies a few bytes and then
/// waits returns those bytes only when its timeout ends, so with SO_SNDTIMEO set to
/// the write timeout a stalled client was dropped only after twice that.
const WRITE_SLICE: Duration = Duration::from_millis(100);
/// Read buffer per connection.
const BUFFER_SIZE: usize = 16 * 1024;
/// Stack for a thread that runs [`serve`] (threaded and pool models): the handlers
/// are shallow, so 256 KiB is plenty and keeps thousands of threads affordable.
pub const THREAD_STACK: usize = 256 * 1024;

/// Serves one connection, accepted at `accepted`, until it closes. Its timeouts
/// run from `accepted`, however long it waited for this thread. I/O errors end this
/// connection only.
pub fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    app: &App,
    id: usize,
    accepted: Instant,
    shutdown: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    let mut dates = DateCache::new();
    let mut conn = app.new_connection(peer, id, accepted);
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut told_shutdown = false;
    stream.set_write_timeout(Some(WRITE_SLICE))?;
    let mut read_timeout = SHUTDOWN_CHECK;
    stream.set_read_timeout(Some(read_timeout))?;
    log::debug!("conn {id}: accepted {peer}");

    loop {
        let now = dates.now(Instant::now(), SystemTime::now());
        if shutdown.load(Ordering::Relaxed) && !told_shutdown {
            told_shutdown = true;
            // Bytes the kernel already holds were sent before the client could know:
            // take them first, so a request that arrived (on a connection the pool
            // had queued, or one accepted just before the signal) is answered, not
            // refused by the shutdown.
            if conn.wants_read() {
                match read_arrived(&stream, &mut buf) {
                    Ok(0) => conn.handle_eof(&now),
                    Ok(n) => {
                        Stats::add(&app.stats.bytes_in, n as u64);
                        conn.handle_bytes(&buf[..n], &now);
                    }
                    Err(e) if timed_out(&e) || interrupted(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            conn.handle_shutdown(&now);
        }
        while let Some(request) = conn.poll_request() {
            let response = match routes::route(&request, &app.ctx(now.instant)) {
                Reply::Now(response) => response,
                Reply::After(wait, response) => {
                    thread::sleep(wait);
                    response
                }
            };
            let now = dates.now(Instant::now(), SystemTime::now());
            conn.respond(request.seq, response, &now);
        }
        while let Some(output) = conn.poll_output() {
            match write_output(&mut stream, output) {
                Ok(n) => {
                    Stats::add(&app.stats.bytes_out, n as u64);
                    let now = dates.now(Instant::now(), SystemTime::now());
                    conn.consume_output(n, &now);
                }
                Err(e) if interrupted(&e) => {}
                Err(e) if timed_out(&e) => {
                    // No room for a whole slice: the core decides whether the client
                    // has stalled for the write timeout since its last progress.
                    let now = dates.now(Instant::now(), SystemTime::now());
                    conn.handle_timeout(&now);
                    if conn.phase() == Phase::Closed {
                        log::debug!("conn {id}: write stalled; dropping {peer}");
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        match conn.phase() {
            Phase::Closed => {
                log::debug!("conn {id}: closed {peer}");
                return Ok(());
            }
            Phase::Linger => {
                let _ = stream.shutdown(Shutdown::Write);
            }
            Phase::Open => {}
        }
        if !conn.wants_read() {
            if !conn.has_request() && !conn.wants_write() {
                // Nothing to read, write or route, yet not closed: only a timer can
                // move it on (it cannot happen today; guard against a busy loop).
                let now = dates.now(Instant::now(), SystemTime::now());
                conn.handle_timeout(&now);
                if conn.phase() == Phase::Open && !conn.wants_read() {
                    return Ok(());
                }
            }
            continue;
        }
        // Wake at the connection's deadline, or sooner to notice a shutdown. The
        // timeout is a socket option (one setsockopt), so it is only changed when
        // the deadline is nearer than the usual check interval.
        let until_deadline = conn
            .deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(SHUTDOWN_CHECK);
        if until_deadline.is_zero() {
            // Already late (a connection that waited in the pool's queue past its
            // header timeout): take what has arrived without waiting for more, and
            // let the core judge the rest. Every expiry moves the core on, and the
            // bytes cannot postpone one that is due, so this cannot repeat for long.
            let now = dates.now(Instant::now(), SystemTime::now());
            match read_arrived(&stream, &mut buf) {
                Ok(0) => conn.handle_eof(&now),
                Ok(n) => {
                    Stats::add(&app.stats.bytes_in, n as u64);
                    conn.handle_bytes(&buf[..n], &now);
                    conn.handle_timeout(&now);
                }
                Err(e) if timed_out(&e) || interrupted(&e) => conn.handle_timeout(&now),
                Err(e) => return Err(e),
            }
            continue;
        }
        let wait = until_deadline.clamp(Duration::from_millis(1), SHUTDOWN_CHECK);
        if wait != read_timeout {
            stream.set_read_timeout(Some(wait))?;
            read_timeout = wait;
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                let now = dates.now(Instant::now(), SystemTime::now());
                conn.handle_eof(&now);
            }
            Ok(n) => {
                Stats::add(&app.stats.bytes_in, n as u64);
                let now = dates.now(Instant::now(), SystemTime::now());
                conn.handle_bytes(&buf[..n], &now);
            }
            Err(e) if interrupted(&e) => {}
            Err(e) if timed_out(&e) => {
                let now = dates.now(Instant::now(), SystemTime::now());
                conn.handle_timeout(&now);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The accept loop of the blocking models. The listener stays non-blocking and is
/// watched by a small `mio::Poll` together with the signal source, so a signal
/// interrupts accepting at once; each accepted socket is handed to `serve_one`
/// (which switches it to blocking). Returns when a shutdown was requested.
pub fn accept_until_shutdown(
    listener: std::net::TcpListener,
    stats: &Stats,
    shutdown: &mut super::signals::Shutdown,
    mut may_accept: impl FnMut() -> bool,
    mut serve_one: impl FnMut(TcpStream, SocketAddr),
) -> io::Result<()> {
    use mio::{Events, Interest, Poll, Token};
    const LISTENER: Token = Token(0);
    const SIGNALS: Token = Token(1);
    /// How often to look again when `may_accept` said no.
    const RECHECK: Duration = Duration::from_millis(10);
    /// How long to wait before accepting again after running out of descriptors:
    /// one frees up only when a connection ends, and each try costs a wake-up.
    const ACCEPT_RETRY: Duration = Duration::from_millis(100);

    let mut listener = mio::net::TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    poll.registry()
        .register(&mut shutdown.source, SIGNALS, Interest::READABLE)?;
    let mut events = Events::with_capacity(16);
    // `Some(wait)`: connections may be queued, look again after `wait` (no new edge
    // will say so). The out-of-descriptors warning is logged once per episode.
    let mut backed_up: Option<Duration> = None;
    let mut warned_no_descriptors = false;
    loop {
        match poll.poll(&mut events, backed_up) {
            Err(e) if interrupted(&e) => continue,
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        // The blocking models wait in two places: here, for new connections, and in
        // each connection's blocking read. Only this one is a poll, so only it counts.
        Stats::bump(&stats.poll_wakeups);
        Stats::add(&stats.events, events.iter().count() as u64);
        shutdown.drain_pending();
        if shutdown.requested() {
            return Ok(());
        }
        // Accept until the queue is empty (edge-triggered), or until told to wait.
        backed_up = None;
        loop {
            if !may_accept() {
                backed_up = Some(RECHECK);
                break;
            }
            match listener.accept() {
                Ok((stream, peer)) => {
                    warned_no_descriptors = false;
                    // mio hands out non-blocking sockets; convert to std for blocking I/O.
                    let stream = TcpStream::from(std::os::fd::OwnedFd::from(stream));
                    serve_one(stream, peer);
                    if shutdown.requested() {
                        return Ok(());
                    }
                }
                Err(e) if super::io_util::would_block(&e) => break,
                Err(e) if interrupted(&e) => {}
                Err(e) if super::io_util::out_of_resources(&e) => {
                    // Once per episode, not once per retry: a client that holds the
                    // descriptors must not also flood the log.
                    if !warned_no_descriptors {
                        warned_no_descriptors = true;
                        log::warn!("accept: {e}; pausing accept until a connection closes");
                    }
                    backed_up = Some(ACCEPT_RETRY);
                    break;
                }
                Err(e) => log::debug!("accept: {e}"),
            }
        }
    }
}
