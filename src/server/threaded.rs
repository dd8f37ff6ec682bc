//! The tutorial's "with threads" server: the main thread accepts, and every
//! connection gets its own named OS thread running [`blocking::serve`].
//!
//! No thread pool, on purpose: this is the design the course built (the pool is
//! [`super::pool`]). Each thread costs a stack (reserved virtual memory, mostly
//! untouched) and a kernel task, and the scheduler switches between them. At `--max-connections` live connections the
//! main thread stops accepting, so further clients wait in the kernel's backlog.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use super::accept::accept_until_shutdown;
use super::blocking;
use super::signals::{wait_for_threads, Shutdown};
use super::App;
use crate::stats::Stats;

/// Accepts until a shutdown signal, then waits (up to the drain deadline) for the
/// connection threads to finish.
pub fn run(
    listener: std::net::TcpListener,
    app: Arc<App>,
    mut shutdown: Shutdown,
) -> io::Result<()> {
    app.stats.thread_started(); // the accepting thread
    let flag = shutdown.flag();
    let max = app.config.max_connections as u64;
    let limit_app = Arc::clone(&app);
    let accept_counters = app.stats.register();
    accept_until_shutdown(
        listener,
        &app.stats,
        &accept_counters,
        &mut shutdown,
        || limit_app.stats.connections_open() < max,
        |stream, peer, id| {
            let accepted = Instant::now();
            let stats = Arc::clone(&app.stats);
            let app = Arc::clone(&app);
            let flag = Arc::clone(&flag);
            stats.thread_started();
            let spawned = thread::Builder::new()
                .name(format!("conn-{id}"))
                .stack_size(blocking::THREAD_STACK)
                .spawn(move || {
                    let counters = app.stats.register();
                    let served =
                        blocking::serve(stream, peer, &app, &counters, id, accepted, &flag);
                    if let Err(e) = served {
                        log::debug!("conn {id}: {e}");
                    }
                    app.stats.retire(&counters);
                    Stats::bump(&app.stats.connections_closed);
                    app.stats.thread_finished();
                });
            if let Err(e) = spawned {
                // The stream was moved into the closure and is dropped (closed) here.
                log::warn!("cannot start a thread for connection {id}: {e}");
                Stats::bump(&stats.connections_closed);
                stats.thread_finished();
            }
        },
    )?;

    let live = |app: &App| app.stats.threads_live.load(Ordering::Relaxed);
    log::info!(
        "shutting down: {} connection threads to finish (at most {:?})",
        live(&app).saturating_sub(1),
        app.config.drain_timeout
    );
    let deadline = Instant::now() + app.config.drain_timeout;
    match wait_for_threads(deadline, || live(&app).saturating_sub(1) as usize) {
        Ok(()) => log::info!("all connections finished; exiting"),
        Err(left) => log::warn!("drain deadline passed; {left} threads still running"),
    }
    Ok(())
}
