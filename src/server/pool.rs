//! A fixed pool of worker threads: the main thread accepts connections into a bounded
//! queue, and `--workers` threads (`pool-0`, `pool-1`, ...) each take one, serve it
//! to its end with [`blocking::serve`], and take the next.
//!
//! Rule: a worker serves one connection at a time, to its end; nothing here reads or
//! writes a socket except through [`blocking::serve`].
//!
//! The threads stay at N + 1 however many clients come, which is what a pool is for.
//! The price is that a connection owns its worker until it closes: N idle keep-alive
//! clients pin all N workers, and the next client's connection sits in the queue,
//! unread, until one of them leaves or reaches `--idle-timeout`. That is the failure
//! users of thread-pool servers keep reporting (hyper#368, cpp-httplib#997), shown by
//! `tests/models.rs`. Likewise at most N `/delay` or `/spin` requests run at once;
//! `/spin` spreads over cores like the threaded model's, without a thread per
//! connection.
//!
//! **The queue is bounded by `--max-connections`.** The main thread accepts only while
//! fewer than that many connections are open (being served or queued), as in the
//! threaded model. When the queue is full, accepting pauses and further clients wait
//! in the kernel's listen backlog; nothing is refused. A queued connection costs a
//! descriptor and a queue slot. Its header timeout runs from when it was accepted, not
//! from when a worker takes it: one that sent nothing in that time is closed as soon
//! as a worker reaches it, so a flood of idle connections drains at the speed the
//! workers can close them, not one header timeout per worker each (a request that did
//! arrive is read and answered, however long it waited).
//!
//! **Shutdown** (SIGINT/SIGTERM): accepting stops, the workers finish the connections
//! they serve (an idle keep-alive one closes within 100 ms), then serve the queued
//! ones, each told at once that the server is stopping: a request it had already sent
//! is answered with `Connection: close`, and one it had not sent is not waited for.
//! Those connections were accepted, so their clients are owed what the ones being
//! served get; closing them unread would reset requests the kernel had already taken.
//! All of it within `--drain-timeout`; whatever is left then is dropped.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use super::accept::accept_until_shutdown;
use super::blocking;
use super::signals::{wait_for_threads, Shutdown};
use super::App;
use crate::stats::Stats;

/// An accepted connection waiting for a worker.
struct Job {
    stream: TcpStream,
    peer: SocketAddr,
    id: usize,
    /// When it was accepted: its timeouts run from here, not from when a worker
    /// takes it.
    accepted: Instant,
}

/// The queue between the accepting thread and the workers. Its bound is enforced by
/// the accepting side (`--max-connections`), so pushing never blocks.
#[derive(Default)]
struct Queue {
    state: Mutex<Waiting>,
    /// Signalled when a connection is queued or the queue closes.
    changed: Condvar,
}

#[derive(Default)]
struct Waiting {
    jobs: VecDeque<Job>,
    /// Workers blocked in [`Queue::take`]. While `jobs.len() <= idle`, every queued
    /// connection has a worker on its way (woken, not yet running).
    idle: usize,
    /// No more connections will come: workers exit once `jobs` is empty.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // Nothing panics while holding the lock; if something did, the queue itself
        // is still consistent (a push or a pop either happened or did not).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a connection. Returns `Some(queued)` when no worker is free for it, with
    /// the number of connections now waiting.
    fn push(&self, job: Job) -> Option<usize> {
        let mut state = self.lock();
        state.jobs.push_back(job);
        self.changed.notify_one();
        (state.jobs.len() > state.idle).then(|| state.jobs.len() - state.idle)
    }

    /// The next connection, waiting for one; `None` once the queue is closed and empty.
    fn take(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state.idle += 1;
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.idle -= 1;
        }
    }

    /// No more connections will be queued. Returns how many are still waiting and how
    /// many workers are idle.
    fn close(&self) -> (usize, usize) {
        let mut state = self.lock();
        state.closed = true;
        self.changed.notify_all();
        (state.jobs.len(), state.idle)
    }
}

/// The workers, started and waiting for connections.
pub struct Pool {
    app: Arc<App>,
    queue: Arc<Queue>,
    handles: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `--workers` threads, each waiting for a connection. The server starts
    /// them before it prints its start-up line, so a client that connects once it
    /// is printed finds them running (10 000 of them take a second to start).
    pub fn start(app: &Arc<App>, shutdown: &Shutdown) -> io::Result<Self> {
        let queue = Arc::new(Queue::default());
        let flag = shutdown.flag();
        let handles = (0..app.config.workers.max(1))
            .map(|index| spawn_worker(index, app, &queue, &flag))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self {
            app: Arc::clone(app),
            queue,
            handles,
        })
    }

    /// Accepts until a shutdown signal, then waits (up to the drain deadline) for the
    /// workers to finish the served and the queued connections.
    pub fn run(self, listener: std::net::TcpListener, mut shutdown: Shutdown) -> io::Result<()> {
        let Self {
            app,
            queue,
            handles,
        } = self;
        app.stats.thread_started(); // the accepting thread
        let workers = handles.len();
        let max = app.config.max_connections as u64;
        let mut warned_busy = false;
        let accept_counters = app.stats.register();
        let accepted = accept_until_shutdown(
            listener,
            &app.stats,
            &accept_counters,
            &mut shutdown,
            || app.stats.connections_open() < max,
            |stream, peer, id| {
                let job = Job {
                    stream,
                    peer,
                    id,
                    accepted: Instant::now(),
                };
                if let Some(queued) = queue.push(job) {
                    // Once: under steady load every connection may queue, and the log
                    // must not grow with the load. Each connection's wait is at debug.
                    if !warned_busy {
                        warned_busy = true;
                        log::warn!(
                            "all {workers} pool workers are busy; new connections wait in the \
                             queue until a worker's connection closes (keep-alive clients hold \
                             theirs until --idle-timeout)"
                        );
                    }
                    log::debug!("conn {id}: accepted {peer}; queued behind {queued} waiting");
                }
            },
        );
        let (queued, idle) = queue.close();
        accepted?;

        log::info!(
            "shutting down: {} connections being served and {queued} queued to finish (at most {:?})",
            workers - idle.min(workers),
            app.config.drain_timeout
        );
        let deadline = Instant::now() + app.config.drain_timeout;
        let serving = || handles.iter().filter(|h| !h.is_finished()).count();
        if let Err(busy) = wait_for_threads(deadline, serving) {
            log::warn!(
                "drain deadline passed; {busy} workers still serving, {} connections left unserved",
                queue.lock().jobs.len()
            );
            return Ok(());
        }
        for handle in handles {
            let _ = handle.join();
        }
        log::info!("all connections finished; exiting");
        Ok(())
    }
}

/// One worker: take a connection, serve it to its end, repeat until the queue closes.
fn spawn_worker(
    index: usize,
    app: &Arc<App>,
    queue: &Arc<Queue>,
    flag: &Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    let (app, queue, flag) = (Arc::clone(app), Arc::clone(queue), Arc::clone(flag));
    // Counted before it runs, so /stats never shows a pool short of a worker.
    app.stats.thread_started();
    let stats = Arc::clone(&app.stats);
    thread::Builder::new()
        .name(format!("pool-{index}"))
        .stack_size(blocking::THREAD_STACK)
        .spawn(move || {
            let counters = app.stats.register();
            while let Some(Job {
                stream,
                peer,
                id,
                accepted,
            }) = queue.take()
            {
                // A panic must not shrink the pool for good: the connection is
                // lost, the worker goes on.
                let served = panic::catch_unwind(AssertUnwindSafe(|| {
                    blocking::serve(stream, peer, &app, &counters, id, accepted, &flag)
                }));
                match served {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => log::debug!("conn {id}: {e}"),
                    Err(_) => log::error!("conn {id}: the handler panicked; connection dropped"),
                }
                Stats::bump(&app.stats.connections_closed);
            }
            app.stats.retire(&counters);
            app.stats.thread_finished();
        })
        .inspect_err(|_| stats.thread_finished())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    fn job(listener: &TcpListener, id: usize) -> Job {
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        Job {
            peer: stream.local_addr().unwrap(),
            stream,
            id,
            accepted: Instant::now(),
        }
    }

    /// Connections come out in the order they went in; a push says whether a worker
    /// was free for it; closing lets the queued ones out first, then ends the workers.
    #[test]
    fn queue_is_fifo_reports_waiting_and_drains_after_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let queue = Arc::new(Queue::default());
        assert_eq!(queue.push(job(&listener, 1)), Some(1), "no worker yet");
        assert_eq!(queue.push(job(&listener, 2)), Some(2));
        assert_eq!(queue.take().map(|j| j.id), Some(1));

        // A worker blocked in take: the next push has a worker for it.
        let waiting = Arc::clone(&queue);
        let worker = thread::spawn(move || {
            let first = waiting.take().map(|j| j.id);
            let second = waiting.take().map(|j| j.id);
            (first, second, waiting.take().map(|j| j.id))
        });
        let worker_waits = || {
            let state = queue.lock();
            state.jobs.is_empty() && state.idle == 1
        };
        while !worker_waits() {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            queue.push(job(&listener, 3)),
            None,
            "an idle worker takes it"
        );
        queue.close();
        assert_eq!(worker.join().unwrap(), (Some(2), Some(3), None));
    }
}
