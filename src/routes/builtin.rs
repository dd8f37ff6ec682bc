//! The built-in site: `/`, `/hello`, `/echo`, `/delay/{ms}`, `/spin/{ms}`, `/stats`,
//! `/live`.
//!
//! Rule: each route is a plain function of the request; none of them waits. `/delay`
//! returns *when* to answer and leaves the waiting to the driver; `/spin` is the one
//! route that deliberately burns the CPU of whoever calls it.

use std::fmt::Write;
use std::hint::black_box;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use super::{Ctx, Reply};
use crate::protocol::conditional::{self, Conditions, Decision, Validators};
use crate::protocol::response::PreparedResponse;
use crate::protocol::{Request, Response};
use crate::stats;

/// Longest `/delay` accepted, in milliseconds.
pub const MAX_DELAY_MS: u64 = 60_000;
/// Longest `/spin` accepted, in milliseconds.
pub const MAX_SPIN_MS: u64 = 10_000;

const INDEX_HTML: &str = include_str!("index.html");
/// The live view: static HTML whose own script polls `/stats`; nothing is filled in
/// here, so the page is the same bytes for every model.
const LIVE_HTML: &str = include_str!("live.html");

/// The built-in routes send no validators: `/stats` and `/echo` change with every
/// request, and the others are too small for a 304 to save anything (`/live`, the
/// largest, is fetched once per view, then only `/stats`). Their
/// preconditions are still evaluated (RFC 9110 §13.2.1: the answer would be 2xx),
/// with nothing to compare against, so only a `*` or a list of tags decides:
/// `If-None-Match: *` is 304 (412 for POST), `If-Match` with tags is 412, and every
/// date condition and every `If-None-Match` tag list lets the request through. The
/// same as nginx answers for a response without an ETag. `None`: go on.
pub fn preconditions(req: &Request) -> Option<Response> {
    if !req.may_be_conditional {
        return None;
    }
    let fields = Conditions::of(&req.head);
    if fields.is_empty() {
        return None;
    }
    match conditional::evaluate(req.method, &fields, &Validators::default()) {
        Decision::Proceed { .. } => None,
        Decision::NotModified => Some(Response::empty(304)),
        Decision::PreconditionFailed => Some(Response::error(412, "a precondition does not hold")),
    }
}

/// `/`: what this server is, which model runs it, and links to the routes.
pub fn index(ctx: &Ctx<'_>) -> Response {
    Response::html(200, INDEX_HTML.replace("{model}", ctx.model.name()))
}

/// `/live`: a page that polls `/stats` once a second and draws the counters.
pub fn live() -> Response {
    Response::html(200, LIVE_HTML)
}

/// `/hello`: the benchmark target, prepared once: no field is built per request.
pub fn hello() -> Response {
    static HELLO: LazyLock<Arc<PreparedResponse>> =
        LazyLock::new(|| Arc::new(PreparedResponse::new(&Response::text(200, "Hello, world!"))));
    Response::prepared(&HELLO)
}

/// `/echo`: the request as the server saw it.
pub fn echo(req: &Request) -> Response {
    let mut text = String::with_capacity(256);
    let _ = writeln!(
        text,
        "{} {} {}",
        req.method_str(),
        req.target(),
        req.version.as_str()
    );
    for (name, value) in req.headers() {
        let _ = writeln!(text, "{name}: {}", String::from_utf8_lossy(value));
    }
    let _ = writeln!(text, "\nbody-length: {}", req.body_len);
    Response::text(200, text)
}

/// `/delay/{ms}`: answers after `ms` milliseconds.
pub fn delay(ms: &str) -> Reply {
    match parse_ms(ms, MAX_DELAY_MS) {
        Ok(ms) => Reply::After(
            Duration::from_millis(ms),
            Response::text(200, format!("delayed {ms} ms\n")),
        ),
        Err(why) => Reply::Now(Response::error(400, &why)),
    }
}

/// `/spin/{ms}`: computes for `ms` milliseconds of CPU time on the calling thread,
/// then answers. In the reactor this stalls every other client; with a thread per
/// connection the kernel spreads it over the cores.
pub fn spin(ms: &str) -> Response {
    match parse_ms(ms, MAX_SPIN_MS) {
        Ok(ms) => {
            // CPU time of this thread, not wall time: a thread that is switched out
            // must still do the whole `ms` of work, or threads would look cheaper
            // than they are on a busy machine.
            let budget = Duration::from_millis(ms);
            let start = thread_cpu_time();
            let elapsed = || thread_cpu_time().saturating_sub(start);
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            let mut rounds = 0u64;
            while elapsed() < budget {
                for _ in 0..1000 {
                    // xorshift: cheap work the optimiser cannot remove.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                }
                rounds += 1;
                black_box(state);
            }
            Response::text(200, format!("spun {ms} ms ({rounds} rounds, {state:x})\n"))
        }
        Err(why) => Response::error(400, &why),
    }
}

/// CPU time consumed by the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
/// (`rustix` lists only clocks every supported system has, so this cannot fail.)
fn thread_cpu_time() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `/stats`: counters as JSON.
pub fn stats(ctx: &Ctx<'_>) -> Response {
    let json = stats::to_json(
        &ctx.stats.snapshot(),
        ctx.model.name(),
        ctx.uptime.as_secs_f64(),
    );
    Response::with_body(
        200,
        "application/json",
        crate::protocol::Body::Bytes(json.into_bytes()),
    )
}

fn parse_ms(text: &str, max: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(ms) if ms <= max && text.bytes().all(|b| b.is_ascii_digit()) => Ok(ms),
        _ => Err(format!("expected a number of milliseconds from 0 to {max}")),
    }
}
