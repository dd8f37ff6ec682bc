//! The tutorial's "without threads" server: accept one connection, serve it to the
//! end (keep-alive included), then accept the next.
//!
//! Everyone else waits in the kernel's listen backlog meanwhile, so one keep-alive
//! client monopolises the server; `--no-keep-alive` gives the tutorial's
//! answer-then-close behaviour. A failing client is logged and the loop goes on.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::accept::accept_until_shutdown;
use super::blocking;
use super::signals::Shutdown;
use super::App;
use crate::stats::Stats;

/// Serves connections one after another until a shutdown signal.
pub fn run(
    listener: std::net::TcpListener,
    app: Arc<App>,
    mut shutdown: Shutdown,
) -> io::Result<()> {
    app.stats.thread_started();
    let flag = shutdown.flag();
    // One thread accepts and serves: one set of counters for both.
    let counters = app.stats.register();
    accept_until_shutdown(
        listener,
        &app.stats,
        &counters,
        &mut shutdown,
        || true,
        |stream, peer, id| {
            let accepted = Instant::now();
            if let Err(e) = blocking::serve(stream, peer, &app, &counters, id, accepted, &flag) {
                log::debug!("conn {id}: {e}");
            }
            Stats::bump(&app.stats.connections_closed);
        },
    )?;
    log::info!("shutting down; exiting");
    Ok(())
}
