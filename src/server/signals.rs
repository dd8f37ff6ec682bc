//! SIGINT and SIGTERM for every model: the first asks for a graceful shutdown, the
//! second exits at once.
//!
//! Rule: the only place that touches signal handlers. The reactor registers
//! [`Shutdown::source`] with its `Poll` so a signal wakes the loop; the blocking models
//! poll it the same way while accepting, and their connection threads read
//! [`Shutdown::requested`] between reads.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// The shutdown request, as a flag and as a mio event source.
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    /// Readable when a signal arrived; register it with a `Poll`.
    pub source: Signals,
}

impl Shutdown {
    /// Installs the handlers. A second signal while the flag is already set ends the
    /// process with status 128 + signal number, like a shell would report.
    pub fn install() -> io::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // Registered first so it sees the flag as it was *before* this signal.
            signal_hook::flag::register_conditional_shutdown(
                signal,
                128 + signal,
                Arc::clone(&flag),
            )?;
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        let source = Signals::new([SIGINT, SIGTERM])?;
        Ok(Self { flag, source })
    }

    /// Another handle on the same request, with its own event source, for another
    /// thread's `Poll` (each reactor worker registers one).
    pub fn another(&self) -> io::Result<Self> {
        Ok(Self {
            flag: Arc::clone(&self.flag),
            source: Signals::new([SIGINT, SIGTERM])?,
        })
    }

    /// A shutdown was requested.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// A handle connection threads can read.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    /// Consumes pending signal notifications (the flag stays set).
    pub fn drain_pending(&mut self) {
        for signal in self.source.pending() {
            log::info!("received signal {signal}: finishing in-flight responses, then exiting");
        }
    }
}
