//! What every scenario shares: the context it runs in, the dispatch from a name to
//! its code, and the steps most of them take (a fresh server, a baseline of the good
//! clients, a liveness check at the end).
//!
//! Rule: a scenario always returns an [`Outcome`]; a server that cannot be started or
//! a scenario this target cannot run is an outcome too, never a crash of the tool.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cli::{Args, Scenario};
use crate::good::{GoodClients, GoodRun};
use crate::report::{Findings, Outcome};
use crate::target::{Live, Model, Target};
use crate::wire;
use crate::{hold, malformed, resources, shutdown};

/// How long the liveness probe after an attack waits for its answer.
const ALIVE_LIMIT: Duration = Duration::from_secs(10);

/// Why a scenario produced no findings.
#[derive(Debug)]
pub enum NotRun {
    /// Something broke before the attack could be judged (the server did not start...).
    Broken(String),
    /// This target cannot run it (says what is missing).
    Skipped(String),
}

impl From<String> for NotRun {
    fn from(why: String) -> Self {
        NotRun::Broken(why)
    }
}

impl From<&str> for NotRun {
    fn from(why: &str) -> Self {
        NotRun::Broken(why.to_string())
    }
}

/// What a scenario runs with.
pub struct Ctx<'a> {
    pub args: &'a Args,
    pub target: &'a Target,
    pub good: &'a GoodClients,
}

impl Ctx<'_> {
    pub fn model(&self) -> &Model {
        &self.target.model
    }

    /// A fresh server (or the running one) and the good clients' baseline against it,
    /// measured for `window`: as long as they will be measured during the attack, so
    /// both percentiles rest on as many samples.
    pub fn start(&self, nofile: Option<u64>, window: Duration) -> Result<(Live, GoodRun), NotRun> {
        let live = self.target.start(nofile)?;
        let baseline = self.good.measure(live.addr, self.model(), window);
        Ok((live, baseline))
    }

    /// Starts the good clients for `window` while the caller attacks.
    pub fn good_clients(&self, live: &Live, window: Duration) -> JoinHandle<GoodRun> {
        self.good.start(live.addr, self.model(), window)
    }

    /// Checks that the server is still running and answers `/hello` after the
    /// attack, and records it (`alive_after`).
    pub fn check_alive(&self, live: &mut Live, findings: &mut Findings) {
        if let Some(exit) = live.exited() {
            findings.figure("alive_after", false);
            findings.check(
                false,
                format!(
                    "the server exited during the attack (code {:?}, signal {:?})",
                    exit.code, exit.signal
                ),
            );
            return;
        }
        let answered = wire::probe_alive(live.addr, ALIVE_LIMIT);
        findings.figure("alive_after", answered.is_ok());
        match answered {
            Ok(()) => findings.did("still answers GET /hello after the attack"),
            Err(why) => findings.check(false, format!("not serving after the attack: {why}")),
        }
    }
}

/// Runs one scenario against the target.
pub fn run(scenario: Scenario, ctx: &Ctx<'_>) -> Outcome {
    let name = scenario.name();
    let model = ctx.model().name().to_string();
    if scenario.needs_control() && !ctx.target.controls_process() {
        return Outcome::skipped(
            name,
            &model,
            "needs --server: the tool must start the server to limit or signal it",
        );
    }
    let started = Instant::now();
    let result = match scenario {
        Scenario::All => Err(NotRun::Broken("`all` is expanded before running".into())),
        Scenario::Slowloris => hold::slowloris(ctx),
        Scenario::Idle => hold::idle(ctx),
        Scenario::NoRead => resources::no_read(ctx),
        Scenario::FdExhaustion => resources::fd_exhaustion(ctx),
        Scenario::ResetMidResponse => resources::reset_mid_response(ctx),
        Scenario::HalfClose => malformed::half_close(ctx),
        Scenario::Garbage => malformed::garbage(ctx),
        Scenario::Oversized => malformed::oversized(ctx),
        Scenario::Smuggling => malformed::smuggling(ctx),
        Scenario::Shutdown => shutdown::shutdown(ctx),
    };
    match result {
        Ok(findings) => findings.finish(started.elapsed()),
        Err(NotRun::Broken(why)) => Outcome::broken(name, &model, why),
        Err(NotRun::Skipped(why)) => Outcome::skipped(name, &model, why),
    }
}
