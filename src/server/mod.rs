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

/// How long the kernel may hold a connection that has sent nothing, with
/// `TCP_DEFER_ACCEPT` (see [`defer_accept_until_data`]): its shortest period, the first
/// SYN-ACK retransmission. Longer ones come in doubling steps (3 s, 7 s, 15 s...).
/// Linux only; elsewhere connections are handed over at once.
pub const ACCEPT_DEFER: std::time::Duration = std::time::Duration::from_secs(1);

/// The latest a silent connection is handed over with `TCP_DEFER_ACCEPT`, seen
/// under a flood of them: one whose handshake's last ACK comes back when the accept
/// queue is full waits for the next SYN-ACK retransmission, 3 s after connecting
/// (10 000 idle connections at once: most handed over at once or at 1 s, the last
/// at 3.05 s, so closed by the header timeout up to 3 s late).
pub const ACCEPT_DEFER_MOST: std::time::Duration = std::time::Duration::from_secs(3);

/// Lets `accept` hand over a connection only once its first bytes have arrived
/// (Linux `TCP_DEFER_ACCEPT`, nginx's `listen ... deferred`), so the first read of
/// every connection finds its request: no read that meets `EAGAIN`, no wait in the
/// poller, no wake-up for it. A client that connects and stays silent is kept by
/// the kernel (no descriptor, none of our memory) for [`ACCEPT_DEFER`], then handed
/// over anyway, and the header timeout runs from there; so a silent client is
/// dropped [`ACCEPT_DEFER`] later than without it ([`ACCEPT_DEFER_MOST`] under a
/// flood). With a header timeout
/// shorter than that it is not used: a silent client must not outlive its timeout
/// by more than the timeout itself.
///
/// Only the event loops (reactor, uring) ask for it: for them a connection accepted
/// before its request costs a read that finds nothing, a registration and a wake-up
/// more. The blocking models wait for the bytes in a blocking read anyway, so it
/// would buy them nothing, and it would change what they are: their queue would be
/// served in the order clients first spoke, not connected, and an iterative server
/// would have a second kernel queue (the deferred ones) to get through after a flood.
#[cfg(target_os = "linux")]
pub fn defer_accept_until_data(
    listener: &TcpListener,
    header_timeout: std::time::Duration,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    if header_timeout < ACCEPT_DEFER {
        return Ok(());
    }
    let seconds = ACCEPT_DEFER.as_secs() as libc::c_int;
    // SAFETY: the descriptor is the listener's, open for the call; the option value
    // is a c_int that lives across the call, and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&seconds as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Serves until SIGINT/SIGTERM, with the configured model, on bound listeners: one,
/// or one per reactor worker (see [`bind_all`]).
pub fn serve(listeners: Vec<TcpListener>, config: Config) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if matches!(config.model, Model::Reactor | Model::Uring) {
        for listener in &listeners {
            defer_accept_until_data(listener, config.timeouts.header)?;
        }
    }
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

    /// A silent client reaches `accept` only after the kernel's hold, unless the
    /// header timeout is shorter than the hold, when there is none.
    #[cfg(target_os = "linux")]
    #[test]
    fn accept_waits_for_data_unless_the_header_timeout_is_shorter() {
        let accepted_within = |header_timeout: Duration, wait: Duration, send: &[u8]| {
            let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
            defer_accept_until_data(&listener, header_timeout).unwrap();
            let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            std::io::Write::write_all(&mut client, send).unwrap();
            let started = Instant::now();
            while started.elapsed() < wait {
                if listener.accept().is_ok() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            false
        };
        let short = Duration::from_millis(300);
        let long = Duration::from_secs(3);
        assert!(!accepted_within(Duration::from_secs(10), short, b""));
        assert!(accepted_within(Duration::from_secs(10), long, b"GET"));
        assert!(
            accepted_within(Duration::from_secs(10), long, b""),
            "handed over after the hold"
        );
        assert!(accepted_within(Duration::from_millis(500), short, b""));
    }
}
