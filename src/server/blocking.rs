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
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use super::io_util::{interrupted, read_arrived, timed_out, write_output};
use super::App;
use crate::protocol::{DateCache, Phase};
use crate::routes::{self, Reply};
use crate::stats::Counters;

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
/// connection only. `counters` are the calling thread's own.
pub fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    app: &App,
    counters: &Arc<Counters>,
    id: usize,
    accepted: Instant,
    shutdown: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    let mut dates = DateCache::new();
    let mut conn = app.new_connection(counters, peer, id, accepted);
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
                        Counters::add(&counters.bytes_in, n as u64);
                        conn.handle_bytes(&buf[..n], &now);
                    }
                    Err(e) if timed_out(&e) || interrupted(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            conn.handle_shutdown(&now);
        }
        let ctx = app.ctx(now.instant);
        while let Some((seq, reply)) = conn.next_request(|r| routes::route(r, &ctx)) {
            let response = match reply {
                Reply::Now(response) => response,
                Reply::After(wait, response) => {
                    thread::sleep(wait);
                    response
                }
            };
            let now = dates.now(Instant::now(), SystemTime::now());
            conn.respond(seq, response, &now);
        }
        while let Some(output) = conn.poll_output() {
            match write_output(&mut stream, output) {
                Ok(n) => {
                    Counters::add(&counters.bytes_out, n as u64);
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
                    Counters::add(&counters.bytes_in, n as u64);
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
                Counters::add(&counters.bytes_in, n as u64);
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
