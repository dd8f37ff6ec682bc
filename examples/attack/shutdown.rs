//! `shutdown`: SIGTERM lands in the middle of a load. Every response the server had
//! started must reach its client whole, and the server must exit 0 within its drain
//! deadline. Two loadgen runs make the load: `/hello` on many connections, and
//! `/delay/100` on a few, so the signal finds responses that are still being made.
//!
//! loadgen's verifier tells the failures apart: a response cut short or malformed
//! is a parse error and a wrong or reordered one is a mismatch (both must be 0);
//! refused connects and resets after the listener closed are expected, and reported.

use std::thread;
use std::time::Duration;

use crate::load::{Load, Outcome, Report};
use crate::report::Findings;
use crate::scenario::{Ctx, NotRun};
use crate::target::Model;

/// A loadgen request waits at most this long.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long the load goes on after the signal (connecting in vain, after the exit).
const AFTER_SIGNAL: Duration = Duration::from_secs(1);

/// Figures: `hello` and `delay` (each: `responses`, `truncated_or_malformed`, `wrong`,
/// `resets`, `connect_errors`, `timeouts`), `answered` (both loads), `exit_code`, `exit_signal`, `exit_s` (from
/// SIGTERM to exit), `killed`, `drain_timeout_s`.
pub fn shutdown(ctx: &Ctx<'_>) -> Result<Findings, NotRun> {
    let args = ctx.args;
    let model = ctx.model();
    let drain = ctx.target.expected.drain;
    let c = args.shutdown_connections;
    let delayed = (c / 5).max(1);
    let expected = match model {
        Model::Iterative => format!(
            "the one connection being served gets its responses whole and a close; the others waited in the backlog and are refused or reset; 0 truncated; exit 0 within the drain deadline ({}s)",
            drain.as_secs_f64()
        ),
        Model::Pool { workers } => format!(
            "{workers} of the {} connections are served at a time, the others wait in the queue (their requests time out, by design); at SIGTERM the served ones get their responses whole and a close, the queued ones are answered what they had sent, connections after the listener closes are refused or reset; 0 truncated; exit 0 within the drain deadline ({}s)",
            c + delayed,
            drain.as_secs_f64()
        ),
        _ => format!(
            "SIGTERM during a load of {c} connections (/hello) and {delayed} more (/delay/100): every response started is delivered whole (loadgen: 0 truncated or malformed, 0 wrong), refusals and resets after the listener closes are reported, and the server exits 0 within the drain deadline ({}s)",
            drain.as_secs_f64()
        ),
    };
    let mut f = Findings::new("shutdown", model.name(), expected);
    let live = ctx.target.start(None)?;
    let addr = live.addr;
    let loadgen = ctx.good.loadgen.clone();
    let duration = args.shutdown_after + AFTER_SIGNAL;
    let run = move |path: &'static str, clients: usize| {
        let loadgen = loadgen.clone();
        thread::spawn(move || {
            Load {
                binary: &loadgen,
                addr,
                path,
                clients,
                duration,
                timeout: TIMEOUT,
                rate: None,
                cpu: None,
            }
            .run()
        })
    };
    let hello = run("/hello", c);
    let delay = run("/delay/100", delayed);
    thread::sleep(args.shutdown_after);
    let ended = live
        .terminate(drain + args.margin)
        .ok_or("the tool did not start this server")?;
    let hello = report(hello.join().map_err(|_| "the loadgen thread panicked")?);
    let delay = report(delay.join().map_err(|_| "the loadgen thread panicked")?);

    for (name, load) in [("hello", &hello), ("delay", &delay)] {
        match load {
            Ok(r) => {
                let truncated = r.errors.parse;
                let wrong = r.mismatched + r.out_of_order;
                f.figure(
                    name,
                    serde_json::json!({
                        "responses": r.requests,
                        "truncated_or_malformed": truncated,
                        "wrong": wrong,
                        "resets": r.errors.reset,
                        "connect_errors": r.errors.connect,
                        "timeouts": r.errors.timeout,
                    }),
                );
                f.did(format!(
                    "/{name}: {} responses verified, {truncated} truncated or malformed, {wrong} wrong; {} reset and {} timed out in flight, {} refused connects",
                    r.requests, r.errors.reset, r.errors.timeout, r.errors.connect
                ));
                f.check(
                    truncated == 0 && wrong == 0,
                    format!(
                        "/{name}: {truncated} truncated or malformed, {wrong} wrong{}",
                        r.first_error
                            .as_deref()
                            .map(|e| format!(" (first: {e})"))
                            .unwrap_or_default()
                    ),
                );
            }
            Err(why) => f.check(false, format!("/{name} load: {why}")),
        }
    }
    let answered: u64 = [&hello, &delay]
        .iter()
        .filter_map(|load| load.as_ref().ok())
        .map(|r| r.requests)
        .sum();
    f.figure("answered", answered);
    f.check(answered > 0, "nothing was answered before the signal");
    f.figure("drain_timeout_s", drain.as_secs_f64());
    match ended {
        Ok((exit, took)) => {
            f.figure("exit_code", exit.code);
            f.figure("exit_signal", exit.signal);
            f.figure("exit_s", took.as_secs_f64());
            f.figure("killed", exit.killed);
            f.did(format!(
                "the server exited {:.2}s after SIGTERM with {}",
                took.as_secs_f64(),
                match (exit.code, exit.signal) {
                    (Some(code), _) => format!("code {code}"),
                    (None, Some(signal)) => format!("signal {signal}"),
                    _ => "an unknown status".into(),
                }
            ));
            f.check(
                !exit.killed,
                format!(
                    "still running {:?} after SIGTERM: killed",
                    drain + args.margin
                ),
            );
            f.check(
                exit.code == Some(0),
                format!("exit status {:?}, not 0", exit.code),
            );
            f.check(
                took <= drain + Duration::from_millis(500),
                format!(
                    "took {:.2}s to exit, beyond the {:.1}s drain deadline",
                    took.as_secs_f64(),
                    drain.as_secs_f64()
                ),
            );
        }
        Err(why) => f.check(false, why),
    }
    Ok(f)
}

/// loadgen's report, or why there is none.
fn report(outcome: Outcome) -> Result<Report, String> {
    match outcome {
        Outcome::Exited {
            report: Some(report),
            ..
        } => Ok(report),
        Outcome::Exited { stderr, .. } => Err(format!(
            "loadgen gave no report: {}",
            stderr.lines().next().unwrap_or("no output")
        )),
        Outcome::Killed { after } => {
            Err(format!("loadgen killed after {:.1}s", after.as_secs_f64()))
        }
        Outcome::NotStarted(why) => Err(why),
    }
}
