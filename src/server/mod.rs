//! The I/O drivers: they move bytes between sockets and [`Connection`]s and decide
//! who waits for what. Nothing here makes an HTTP decision.
//!
//! Five models on one protocol core, which differ only in who waits for what:
//!
//! | model | threads | waiting for a new connection | waiting for a client's bytes (or room to write) | `/delay` | at `--max-connections` |
//! |---|---|---|---|---|---|
//! | [`reactor`] | 1 (or `--workers` loops) | the loop's one `mio::Poll`, with every socket | the same `Poll`: a client is driven when epoll says it is ready | a timer in the loop | the listener leaves the `Poll` |
//! | `uring` (Linux) | 1 (or `--workers` loops) | the kernel, on a multishot accept | the kernel, on a receive (or send); the loop waits in `io_uring_enter` for completions | a timer in the loop | the accept is cancelled |
//! | [`threaded`] | 1 + one per connection | the main thread, in [`accept::accept_until_shutdown`] | that connection's thread, blocked in `read` (or `write`) | that thread sleeps | the main thread stops accepting |
//! | [`pool`] | 1 + `--workers` | the main thread, in [`accept::accept_until_shutdown`], into a queue | a worker, blocked on the queue, then in `read` (or `write`) of its one connection | the worker sleeps | the main thread stops accepting |
//! | [`iterative`] | 1 | the only thread, in [`accept::accept_until_shutdown`], between connections | the only thread, blocked in `read`; every other client waits in the backlog | the only thread sleeps | n/a: one at a time |
//!
//! In every model the kernel's listen backlog holds whoever is not being accepted.
//!
//! What the models share, each in one file:
//!
//! - [`accept`]: accepting with back-off (the pause at the limit and when out of
//!   descriptors), and the blocking models' accept loop;
//! - [`blocking`]: the blocking connection loop, [`blocking::serve`], that
//!   threaded, pool and iterative run for each connection;
//! - [`signals`]: shutdown (SIGINT/SIGTERM) and the drain that follows;
//! - [`timers`]: the event loops' deadlines; [`stats_line`]: `--stats-interval`;
//! - [`io_util`]: writing the core's output to a socket, and naming error kinds;
//! - here: settings, routing context and counters ([`App`]), the listening socket
//!   ([`bind_all`]), the start-up line, and `--workers` loops ([`run_workers`]).
//!
//! Each model's own file says only how it waits: [`reactor`] (with [`client`], one
//! readiness-driven connection), `uring` (with its kernel interface in `uring/`),
//! [`threaded`], [`pool`], [`iterative`].

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{Config, Model};
use crate::protocol::{Connection, Settings};
use crate::routes::{Ctx, FileCache};
use crate::stats::{Counters, Stats};

pub mod accept;
pub mod blocking;
pub mod client;
pub mod io_util;
pub mod iterative;
pub mod pool;
pub mod reactor;
pub mod signals;
pub mod stats_line;
pub mod threaded;
pub mod timers;
#[cfg(target_os = "linux")]
pub mod uring;

/// Pending connections the kernel queues for us (`listen(2)` backlog).
pub const LISTEN_BACKLOG: i32 = 1024;

/// What every driver shares: the configuration, the counters and the file cache.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub stats: Arc<Stats>,
    pub files: FileCache,
    pub started: Instant,
}

impl App {
    /// Shared state for a server with this configuration.
    pub fn new(config: Config) -> Self {
        Self {
            files: FileCache::new(config.file_cache_ttl),
            config,
            stats: Arc::new(Stats::default()),
            started: Instant::now(),
        }
    }

    /// The policy every connection gets.
    pub fn settings(&self) -> Settings {
        Settings {
            limits: self.config.limits,
            timeouts: self.config.timeouts,
            keep_alive: self.config.keep_alive,
        }
    }

    /// A fresh protocol state machine for an accepted connection.
    pub fn new_connection(
        &self,
        counters: &Arc<Counters>,
        peer: SocketAddr,
        id: usize,
        now: Instant,
    ) -> Connection {
        Connection::new(self.settings(), Arc::clone(counters), Some(peer), id, now)
    }

    /// What routes may know, as of `now`.
    pub fn ctx(&self, now: Instant) -> Ctx<'_> {
        Ctx {
            model: self.config.model,
            root: self.config.root.as_deref(),
            stats: &self.stats,
            files: &self.files,
            now,
            uptime: now.saturating_duration_since(self.started),
        }
    }
}

/// Binds the listening socket: non-blocking, `SO_REUSEADDR` (so a restart does not
/// wait for TIME_WAIT), and a deep backlog.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    Ok(bind_all(addr, 1)?.remove(0))
}

/// Binds `count` listening sockets on the same address. With more than one, each
/// has `SO_REUSEPORT`, and the kernel spreads new connections over them (by a hash
/// of the client's address and port), one socket per reactor worker. Port 0 takes
/// the port the first socket got.
pub fn bind_all(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    let mut listeners: Vec<TcpListener> = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        // Accepted sockets inherit it on Linux; the reactor relies on that there.
        socket.set_nodelay(true)?;
        if count > 1 {
            socket.set_reuse_port(true)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        socket.set_nonblocking(true)?;
        let listener: TcpListener = socket.into();
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves until SIGINT/SIGTERM, with the configured model, on bound listeners: one,
/// or one per reactor worker (see [`bind_all`]).
pub fn serve(listeners: Vec<TcpListener>, config: Config) -> io::Result<()> {
    let app = Arc::new(App::new(config));
    let shutdown = signals::Shutdown::install()?;
    let Some(first) = listeners.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no listener"));
    };
    let addr = first.local_addr()?;
    let pool = match app.config.model {
        Model::Pool => Some(pool::Pool::start(&app, &shutdown)?),
        _ => None,
    };
    let workers = match app.config.model {
        Model::Reactor | Model::Uring if listeners.len() > 1 => {
            format!(", {} workers", listeners.len())
        }
        Model::Pool => format!(", {} workers", app.config.workers),
        _ => String::new(),
    };
    log::info!(
        "reactor listening on http://{addr}/ (model {}{workers}, pid {})",
        app.config.model,
        std::process::id()
    );
    // The event loops log their stats line from a timer in the loop.
    if let Some(every) = app
        .config
        .stats_interval
        .filter(|_| !matches!(app.config.model, Model::Reactor | Model::Uring))
    {
        stats_line::spawn_logger(Arc::clone(&app), every)?;
    }
    let mut listeners = listeners;
    match app.config.model {
        Model::Reactor if listeners.len() > 1 => {
            run_workers("reactor", reactor::run, listeners, app, shutdown)
        }
        Model::Reactor => reactor::run(listeners.remove(0), app, shutdown, Worker::ONLY),
        Model::Threaded => threaded::run(listeners.remove(0), app, shutdown),
        Model::Iterative => iterative::run(listeners.remove(0), app, shutdown),
        Model::Pool => match pool {
            Some(pool) => pool.run(listeners.remove(0), shutdown),
            None => Err(io::Error::other("the pool's workers were not started")),
        },
        #[cfg(target_os = "linux")]
        Model::Uring if listeners.len() > 1 => {
            run_workers("uring", uring::run, listeners, app, shutdown)
        }
        #[cfg(target_os = "linux")]
        Model::Uring => uring::run(listeners.remove(0), app, shutdown, Worker::ONLY),
        #[cfg(not(target_os = "linux"))]
        Model::Uring => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring is Linux-only",
        )),
    }
}

/// Whether `--model uring` can run here; the error says why not, in one line.
pub fn uring_available() -> Result<(), String> {
    #[cfg(target_os = "linux")]
    return uring::probe().map_err(|why| why.to_string());
    #[cfg(not(target_os = "linux"))]
    return Err("io_uring unavailable: it is Linux-only".into());
}

/// Which of the `--workers` event loops this is.
#[derive(Clone, Copy, Debug)]
pub struct Worker {
    pub index: usize,
    pub count: usize,
}

impl Worker {
    /// The only loop (the default).
    pub const ONLY: Worker = Worker { index: 0, count: 1 };
}

/// One event-loop body, as [`run_workers`] starts it on each thread.
pub type LoopFn = fn(TcpListener, Arc<App>, signals::Shutdown, Worker) -> io::Result<()>;

/// `--workers N`: N independent loops, each one thread with its own listener
/// (`SO_REUSEPORT`) and everything else of its own: nothing is shared but the
/// counters and the file cache. Each drains on the same signal; returns when all
/// have finished.
pub fn run_workers(
    name: &str,
    run: LoopFn,
    listeners: Vec<TcpListener>,
    app: Arc<App>,
    shutdown: signals::Shutdown,
) -> io::Result<()> {
    let count = listeners.len();
    let mut handles = Vec::with_capacity(count);
    for (index, listener) in listeners.into_iter().enumerate() {
        let worker = Worker { index, count };
        let app = Arc::clone(&app);
        let shutdown = shutdown.another()?;
        let handle = std::thread::Builder::new()
            .name(format!("{name}-{index}"))
            .spawn(move || run(listener, app, shutdown, worker))?;
        handles.push(handle);
    }
    let mut result = Ok(());
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(io::Error::other(format!("a {name} worker panicked"))),
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;
    use std::time::Duration;

    /// The reactor skips a setsockopt per connection on Linux because accepted
    /// sockets inherit TCP_NODELAY from the listener: check that they do.
    #[test]
    fn accepted_sockets_inherit_nodelay_and_workers_share_a_port() {
        let listeners = bind_all(SocketAddr::from(([127, 0, 0, 1], 0)), 2).unwrap();
        let port = listeners[0].local_addr().unwrap().port();
        assert_eq!(listeners[1].local_addr().unwrap().port(), port);
        let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // Either listener may get it; poll both.
        let accepted = (0..1000)
            .find_map(|_| {
                let found = listeners
                    .iter()
                    .find_map(|l| l.accept().ok().map(|(s, _)| s));
                if found.is_none() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                found
            })
            .expect("the connection reaches one of the listeners");
        if cfg!(target_os = "linux") {
            assert!(socket2::SockRef::from(&accepted).nodelay().unwrap());
        }
    }
}
