//! Clients judged by what the server answers on one connection: `half-close` (a
//! request, then shutdown(SHUT_WR)), `garbage` (random bytes), `oversized` (each size
//! limit, far exceeded) and `smuggling` (ambiguous framing, requests hidden in bodies).
//!
//! Every case is one connection at a time, so the iterative server needs no special
//! treatment here: each case ends when the server closes the connection, and the
//! next one is accepted. Each case reads every byte the server sends until it closes,
//! and frames it strictly, so an extra response (a smuggled request answered) or a
//! truncated one cannot go unnoticed.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::good::Latency;
use crate::report::{spread, Findings};
use crate::scenario::{Ctx, NotRun};
use crate::wire::{self, End, Exchange};

/// How long one case may take before the server is said not to close.
const CASE_LIMIT: Duration = Duration::from_secs(10);
/// The request a smuggling case hides; its id must never be echoed.
const HIDDEN: &str = "GET /secret HTTP/1.1\r\nHost: attack\r\nX-Request-Id: hidden\r\n\r\n";

/// Figures: `connections`, `complete` (connections that got every response, in
/// order, then a close), `responses`, `t_min_s`/`t_median_s`/`t_max_s`, `alive_after`.
pub fn half_close(ctx: &Ctx<'_>) -> Result<Findings, NotRun> {
    let n = ctx.args.half_close_connections;
    let model = ctx.model();
    let expected = format!(
        "{n} connections send their requests and shut down their writing side (half of them one /delay/50, half three pipelined requests): every response arrives whole and in order, then the server closes"
    );
    let mut f = Findings::new("half-close", model.name(), expected);
    let window = ctx.args.good_duration;
    let (mut live, baseline) = ctx.start(None, window)?;
    let good = ctx.good_clients(&live, window);
    let mut complete = 0;
    let mut responses = 0;
    let mut times = Vec::new();
    let mut problems = Vec::new();
    for i in 0..n {
        let (request, ids): (String, Vec<String>) = if i % 2 == 0 {
            (
                format!("GET /delay/50 HTTP/1.1\r\nHost: attack\r\nX-Request-Id: hc{i}\r\n\r\n"),
                vec![format!("hc{i}")],
            )
        } else {
            (
                format!(
                    "GET /hello HTTP/1.1\r\nHost: attack\r\nX-Request-Id: hc{i}a\r\n\r\n\
                     GET /delay/30 HTTP/1.1\r\nHost: attack\r\nX-Request-Id: hc{i}b\r\n\r\n\
                     POST /echo HTTP/1.1\r\nHost: attack\r\nX-Request-Id: hc{i}c\r\nContent-Length: 5\r\n\r\nhello"
                ),
                ["a", "b", "c"].iter().map(|s| format!("hc{i}{s}")).collect(),
            )
        };
        match wire::exchange(live.addr, request.as_bytes(), true, CASE_LIMIT) {
            Ok(exchange) => {
                responses += exchange.responses.len();
                times.push(exchange.took);
                let all_ok = exchange.responses.iter().all(|r| r.status == 200);
                if exchange.ids() == ids && all_ok && exchange.end == End::Closed {
                    complete += 1;
                } else {
                    problems.push(format!(
                        "connection {i}: ids {:?} (wanted {ids:?}), statuses {:?}, {:?}{}",
                        exchange.ids(),
                        exchange
                            .responses
                            .iter()
                            .map(|r| r.status)
                            .collect::<Vec<_>>(),
                        exchange.end,
                        exchange
                            .garbled
                            .map(|g| format!(", garbled: {g}"))
                            .unwrap_or_default()
                    ));
                }
            }
            Err(e) => problems.push(format!("connection {i}: {e}")),
        }
    }
    let during = good
        .join()
        .map_err(|_| "the good clients' thread panicked")?;
    let spread_text = spread(&times);
    let t = crate::report::min_median_max(&times);
    f.figure("connections", n);
    f.figure("complete", complete);
    f.figure("responses", responses);
    f.figure("t_min_s", t.map(|t| t.0.as_secs_f64()));
    f.figure("t_median_s", t.map(|t| t.1.as_secs_f64()));
    f.figure("t_max_s", t.map(|t| t.2.as_secs_f64()));
    f.did(format!(
        "{complete} of {n} half-closed connections got all their responses ({responses} in all), in order, then a close; each took {} (min/median/max)",
        spread_text.unwrap_or_else(|| "-".into())
    ));
    f.check(complete == n, problems.first().cloned().unwrap_or_default());
    f.latency(Latency::new(baseline, during, ctx.args.p99_floor));
    ctx.check_alive(&mut live, &mut f);
    live.finish();
    Ok(f)
}

/// A small deterministic generator (xorshift64*): the same `--seed`, the same bytes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, len: usize, pick: impl Fn(u64) -> u8) -> Vec<u8> {
        (0..len).map(|_| pick(self.next())).collect()
    }
}

/// One garbage request; four kinds in turn, from pure noise to almost HTTP.
fn garbage_request(rng: &mut Rng, i: usize) -> Vec<u8> {
    let len = 1 + rng.below(2048) as usize;
    match i % 4 {
        // Any byte at all.
        0 => rng.bytes(len, |r| r as u8),
        // Printable lines, CRLF-separated, ending like a head.
        1 => {
            let mut out = rng.bytes(len, |r| b' ' + (r % 95) as u8);
            for at in (40..out.len()).step_by(41) {
                out[at - 1] = b'\r';
                out[at] = b'\n';
            }
            out.extend_from_slice(b"\r\n\r\n");
            out
        }
        // A real request line, then noise where the fields go.
        2 => {
            let mut out = b"GET /hello HTTP/1.1\r\nHost: attack\r\n".to_vec();
            out.extend(rng.bytes(len, |r| r as u8));
            out.extend_from_slice(b"\r\n\r\n");
            out
        }
        // A noisy request line, then a real head.
        _ => {
            let mut out = rng.bytes(1 + len % 16, |r| b'A' + (r % 26) as u8);
            out.push(b' ');
            out.extend(rng.bytes(len, |r| r as u8));
            out.extend_from_slice(b" HTTP/1.1\r\nHost: attack\r\n\r\n");
            out
        }
    }
}

/// Figures: `connections`, `statuses` (first response status -> count),
/// `closed_silently` (closed without a response), `resets`, `timeouts` (the server
/// neither answered nor closed), `garbled`, `server_errors` (5xx other than 501/505),
/// `alive_after`.
pub fn garbage(ctx: &Ctx<'_>) -> Result<Findings, NotRun> {
    let args = ctx.args;
    let n = args.garbage_connections;
    let model = ctx.model();
    let expected = format!(
        "{n} connections of random bytes (seed {}), each followed by shutdown(SHUT_WR): each is answered with a 4xx (or 501/505) or closed without a word, promptly; never a 5xx error, a hang or a crash",
        args.seed
    );
    let mut f = Findings::new("garbage", model.name(), expected);
    let window = ctx.args.good_duration;
    let (mut live, baseline) = ctx.start(None, window)?;
    let good = ctx.good_clients(&live, window);
    let mut rng = Rng::new(args.seed);
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let (mut silent, mut resets, mut timeouts, mut garbled, mut server_errors) = (0, 0, 0, 0, 0);
    let mut example = None;
    for i in 0..n {
        let request = garbage_request(&mut rng, i);
        let exchange = match wire::exchange(live.addr, &request, true, CASE_LIMIT) {
            Ok(exchange) => exchange,
            Err(e) => {
                example.get_or_insert(format!("connection {i}: {e}"));
                timeouts += 1;
                continue;
            }
        };
        match exchange.first_status() {
            Some(status) => {
                *statuses.entry(status).or_default() += 1;
                if status >= 500 && status != 501 && status != 505 {
                    server_errors += 1;
                    example.get_or_insert(format!("connection {i} got {status}"));
                }
            }
            None if exchange.end == End::Closed => silent += 1,
            None => {}
        }
        match exchange.end {
            End::Closed => {}
            End::Reset => resets += 1,
            End::TimedOut => {
                timeouts += 1;
                example.get_or_insert(format!("connection {i}: no close within {CASE_LIMIT:?}"));
            }
        }
        if let Some(why) = exchange.garbled {
            garbled += 1;
            example.get_or_insert(format!("connection {i}: garbled answer: {why}"));
        }
    }
    let during = good
        .join()
        .map_err(|_| "the good clients' thread panicked")?;
    f.figure("connections", n);
    f.figure("statuses", &statuses);
    f.figure("closed_silently", silent);
    f.figure("resets", resets);
    f.figure("timeouts", timeouts);
    f.figure("garbled", garbled);
    f.figure("server_errors", server_errors);
    f.did(format!(
        "answers {statuses:?}; {silent} closed without a response, {resets} reset, {timeouts} neither answered nor closed"
    ));
    f.check(
        timeouts == 0 && garbled == 0 && server_errors == 0,
        example.unwrap_or_default(),
    );
    f.latency(Latency::new(baseline, during, args.p99_floor));
    ctx.check_alive(&mut live, &mut f);
    live.finish();
    Ok(f)
}

/// One connection's bytes and the one answer they must get.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    status: u16,
    /// The server must close after it (a rejection), or may keep the connection.
    closes: bool,
}

fn oversized_cases(size: usize) -> Vec<Case> {
    let head = |text: &str| text.as_bytes().to_vec();
    let with = |mut start: Vec<u8>, fill: u8, end: &str| {
        start.extend(std::iter::repeat_n(fill, size));
        start.extend_from_slice(end.as_bytes());
        start
    };
    let mut many_fields = head("GET /hello HTTP/1.1\r\nHost: attack\r\n");
    for i in 0..size / 16 {
        many_fields.extend_from_slice(format!("X-F{i}: v\r\n").as_bytes());
    }
    many_fields.extend_from_slice(b"\r\n");
    let chunked = "POST /echo HTTP/1.1\r\nHost: attack\r\nTransfer-Encoding: chunked\r\n\r\n";
    vec![
        Case {
            name: "request line",
            bytes: with(head("GET /"), b'a', " HTTP/1.1\r\nHost: attack\r\n\r\n"),
            status: 414,
            closes: true,
        },
        Case {
            name: "header field",
            bytes: with(
                head("GET /hello HTTP/1.1\r\nHost: attack\r\nX-Big: "),
                b'b',
                "\r\n\r\n",
            ),
            status: 431,
            closes: true,
        },
        Case {
            name: "header count",
            bytes: many_fields,
            status: 431,
            closes: true,
        },
        Case {
            name: "Content-Length",
            bytes: with(
                head(
                    "POST /echo HTTP/1.1\r\nHost: attack\r\nContent-Length: 1000000000000\r\n\r\n",
                ),
                b'c',
                "",
            ),
            status: 413,
            closes: true,
        },
        Case {
            name: "chunk size",
            bytes: with(
                head(&format!("{chunked}ffffffffff\r\n")),
                b'd',
                "\r\n0\r\n\r\n",
            ),
            status: 413,
            closes: true,
        },
        Case {
            name: "chunk size digits",
            bytes: with(head(chunked), b'f', "\r\n"),
            status: 400,
            closes: true,
        },
        Case {
            name: "chunk extension",
            bytes: with(head(&format!("{chunked}1;")), b'e', "\r\nx\r\n0\r\n\r\n"),
            status: 400,
            closes: true,
        },
    ]
}

/// Figures: `cases`, `as_expected`, `answers` (case -> status got), `alive_after`.
pub fn oversized(ctx: &Ctx<'_>) -> Result<Findings, NotRun> {
    let size = ctx.args.oversize;
    let model = ctx.model();
    let cases = oversized_cases(size);
    let expected = format!(
        "each limit exceeded {size} bytes over: request line 414, header field 431, header count 431, Content-Length 413, chunk size 413, chunk-size digits 400, chunk extension 400; each answered at once and closed"
    );
    let mut f = Findings::new("oversized", model.name(), expected);
    let window = ctx.args.good_duration;
    let (mut live, baseline) = ctx.start(None, window)?;
    let good = ctx.good_clients(&live, window);
    let results = run_cases(live.addr, &cases);
    let during = good
        .join()
        .map_err(|_| "the good clients' thread panicked")?;
    record_cases(&mut f, &cases, &results);
    f.latency(Latency::new(baseline, during, ctx.args.p99_floor));
    ctx.check_alive(&mut live, &mut f);
    live.finish();
    Ok(f)
}

fn smuggling_cases() -> Vec<Case> {
    let body_len = HIDDEN.len();
    let chunk = format!("{body_len:x}\r\n{HIDDEN}\r\n0\r\n\r\n");
    let post = "POST /echo HTTP/1.1\r\nHost: attack\r\nX-Request-Id: outer\r\n";
    let case = |name, head: String, status, closes| Case {
        name,
        bytes: head.into_bytes(),
        status,
        closes,
    };
    let reject =
        |name, fields: &str, body: &str| case(name, format!("{post}{fields}\r\n{body}"), 400, true);
    vec![
        // Ambiguous: two framings disagree, so the only safe answer is 400 and a close.
        reject(
            "CL.TE",
            &format!("Content-Length: {}\r\nTransfer-Encoding: chunked\r\n", 5 + body_len),
            &format!("0\r\n\r\n{HIDDEN}"),
        ),
        reject(
            "TE.CL",
            "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
            &format!("{body_len:x}\r\n{HIDDEN}\r\n0\r\n\r\n"),
        ),
        reject(
            "two Content-Lengths",
            &format!("Content-Length: 0\r\nContent-Length: {body_len}\r\n"),
            HIDDEN,
        ),
        reject(
            "Content-Length list",
            &format!("Content-Length: {body_len}, 0\r\n"),
            HIDDEN,
        ),
        reject("TE xchunked", "Transfer-Encoding: xchunked\r\n", &chunk),
        reject("TE chunked, identity", "Transfer-Encoding: chunked, identity\r\n", &chunk),
        reject("TE chunked then identity", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", &chunk),
        reject("TE space before colon", "Transfer-Encoding : chunked\r\n", &chunk),
        reject("TE obs-fold", "Transfer-Encoding:\r\n chunked\r\n", &chunk),
        reject("TE quoted", "Transfer-Encoding: \"chunked\"\r\n", &chunk),
        reject("TE vertical tab", "Transfer-Encoding: \x0bchunked\r\n", &chunk),
        reject("TE empty", "Transfer-Encoding: \r\n", &chunk),
        case(
            "TE identity, chunked",
            format!("{post}Transfer-Encoding: identity, chunked\r\n\r\n{chunk}"),
            501,
            true,
        ),
        case(
            "TE on HTTP/1.0",
            format!("POST /echo HTTP/1.0\r\nHost: attack\r\nX-Request-Id: outer\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}"),
            400,
            true,
        ),
        reject(
            "chunk extension with bare LF",
            "Transfer-Encoding: chunked\r\n",
            &format!("{body_len:x};x\n{HIDDEN}\r\n0\r\n\r\n"),
        ),
        reject(
            "chunk size 0x",
            "Transfer-Encoding: chunked\r\n",
            &format!("0x{body_len:x}\r\n{HIDDEN}\r\n0\r\n\r\n"),
        ),
        reject(
            "chunk longer than its size",
            "Transfer-Encoding: chunked\r\n",
            &format!("5\r\n{HIDDEN}\r\n0\r\n\r\n"),
        ),
        // Unambiguous: one framing, and the hidden request is only body bytes.
        case(
            "hidden in a Content-Length body",
            format!("{post}Content-Length: {body_len}\r\n\r\n{HIDDEN}"),
            200,
            false,
        ),
        case(
            "hidden in a chunked body",
            format!("{post}Transfer-Encoding: chunked\r\n\r\n{chunk}"),
            200,
            false,
        ),
        case(
            "TE with a tab (valid whitespace)",
            format!("{post}Transfer-Encoding:\tchunked\r\n\r\n{chunk}"),
            200,
            false,
        ),
        case(
            "TE in capitals",
            format!("{post}Transfer-Encoding: CHUNKED\r\n\r\n{chunk}"),
            200,
            false,
        ),
        case(
            "two equal Content-Lengths",
            format!("{post}Content-Length: {body_len}\r\nContent-Length: {body_len}\r\n\r\n{HIDDEN}"),
            200,
            false,
        ),
        case(
            "GET with a body",
            format!("GET /hello HTTP/1.1\r\nHost: attack\r\nX-Request-Id: outer\r\nContent-Length: {body_len}\r\n\r\n{HIDDEN}"),
            200,
            false,
        ),
    ]
}

/// Figures: `cases`, `as_expected`, `answers` (case -> status got), `hidden_answered`
/// (cases where the hidden request got its own response), `alive_after`.
pub fn smuggling(ctx: &Ctx<'_>) -> Result<Findings, NotRun> {
    let model = ctx.model();
    let cases = smuggling_cases();
    let rejected = cases.iter().filter(|c| c.closes).count();
    let expected = format!(
        "{rejected} ambiguous framings (CL.TE, TE.CL, differing lengths, obfuscated Transfer-Encoding, bad chunk lines) get 400 (501 for an unknown coding) and a close; in {} unambiguous ones the request hidden in the body is only body: exactly one response per connection, and the hidden request (X-Request-Id: hidden) is never answered",
        cases.len() - rejected
    );
    let mut f = Findings::new("smuggling", model.name(), expected);
    let window = ctx.args.good_duration;
    let (mut live, baseline) = ctx.start(None, window)?;
    let good = ctx.good_clients(&live, window);
    let results = run_cases(live.addr, &cases);
    let during = good
        .join()
        .map_err(|_| "the good clients' thread panicked")?;
    let hidden_answered = results
        .iter()
        .filter(|r| {
            r.as_ref()
                .is_ok_and(|e| e.ids().iter().any(|id| id == "hidden"))
        })
        .count();
    f.figure("hidden_answered", hidden_answered);
    f.check(
        hidden_answered == 0,
        format!("the hidden request was answered on {hidden_answered} connections"),
    );
    record_cases(&mut f, &cases, &results);
    f.latency(Latency::new(baseline, during, ctx.args.p99_floor));
    ctx.check_alive(&mut live, &mut f);
    live.finish();
    Ok(f)
}

fn run_cases(addr: std::net::SocketAddr, cases: &[Case]) -> Vec<std::io::Result<Exchange>> {
    cases
        .iter()
        .map(|case| wire::exchange(addr, &case.bytes, true, CASE_LIMIT))
        .collect()
}

/// Checks every case got exactly its one answer (and a close where it must), and
/// records `cases`, `as_expected` and `answers`.
fn record_cases(f: &mut Findings, cases: &[Case], results: &[std::io::Result<Exchange>]) {
    let mut answers = BTreeMap::new();
    let mut as_expected = 0;
    for (case, result) in cases.iter().zip(results) {
        let problem = match result {
            Err(e) => Some(format!("cannot connect: {e}")),
            Ok(e) => {
                answers.insert(case.name, e.first_status());
                let statuses: Vec<u16> = e.responses.iter().map(|r| r.status).collect();
                if let Some(why) = &e.garbled {
                    Some(format!("garbled answer ({why}) after {statuses:?}"))
                } else if statuses != [case.status] {
                    Some(format!("answered {statuses:?}, expected [{}]", case.status))
                } else if case.closes && e.responses[0].keep_alive {
                    Some("no Connection: close on the rejection".into())
                } else if e.end == End::TimedOut {
                    Some(format!("not closed within {CASE_LIMIT:?}"))
                } else {
                    None
                }
            }
        };
        match problem {
            None => as_expected += 1,
            Some(why) => f.check(false, format!("{}: {why}", case.name)),
        }
    }
    f.figure("cases", cases.len());
    f.figure("as_expected", as_expected);
    f.figure("answers", &answers);
    let mut by_status: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, status) in &answers {
        let key = status.map_or("none".into(), |s| s.to_string());
        by_status.entry(key).or_default().push(name);
    }
    for (status, names) in by_status {
        f.did(format!("{status}: {}", names.join(", ")));
    }
    f.did(format!(
        "{as_expected} of {} cases answered as expected",
        cases.len()
    ));
}
