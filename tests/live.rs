//! `/live` in a real browser: headless Chromium loads the page while a few keep-alive
//! clients keep the server busy, and the DOM it leaves behind must hold drawn series
//! and numbers that agree with `/stats`.
//!
//! Rule: the page is judged only by what it put in the DOM (`--dump-dom`), against a
//! `/stats` read after it, so every comparison allows for the requests served since.
//! Chromium's virtual time (`--virtual-time-budget`) runs the page's one-second timer
//! fast, but it waits for each real fetch of `/stats` to come back, so the numbers are
//! real answers of the server under load.
//!
//! Without Chromium (`chromium` or `chromium-browser` on PATH or in /usr/bin, or the
//! binary `REACTOR_CHROMIUM` names) the tests print why and pass, unless
//! `REACTOR_REQUIRE_BROWSER=1` (as `.ci/run` sets it), where a missing browser is a
//! failure.
//!
//! The iterative model is not run: it serves one connection to its end, so the
//! browser's keep-alive connection and the load's cannot both be answered.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{get, Client, Server};

/// Keep-alive clients sending `/hello` while the browser watches.
const LOAD_CLIENTS: usize = 4;
/// Virtual milliseconds the page gets: about this many polls of `/stats`.
const VIRTUAL_BUDGET_MS: u64 = 6000;
/// Real time Chromium may take before the test calls it stuck.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// The Chromium binary (`REACTOR_CHROMIUM` if set, else the first on PATH), or why
/// there is none.
fn chromium() -> Result<PathBuf, String> {
    if let Some(given) = std::env::var_os("REACTOR_CHROMIUM") {
        let given = PathBuf::from(given);
        return if given.is_file() {
            Ok(given)
        } else {
            Err(format!(
                "REACTOR_CHROMIUM={} is not a file",
                given.display()
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err("no chromium or chromium-browser on PATH or in /usr/bin".into())
}

/// The browser, or `None` after printing why the test does not run. Panics instead
/// when `REACTOR_REQUIRE_BROWSER=1`.
fn browser_or_skip() -> Option<PathBuf> {
    match chromium() {
        Ok(path) => Some(path),
        Err(why) if std::env::var("REACTOR_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("REACTOR_REQUIRE_BROWSER=1 but {why} (apt-get install chromium)")
        }
        Err(why) => {
            eprintln!("skipped: {why}; install chromium to run the /live browser test");
            None
        }
    }
}

/// `LOAD_CLIENTS` threads, each on one keep-alive connection, sending `/hello` until
/// told to stop; they count the responses they read.
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let threads = (0..LOAD_CLIENTS)
            .map(|_| {
                let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
                let mut client = Client::connect(addr);
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let r = client.request(&get("/hello", &[]));
                        assert_eq!(r.status, 200, "load: /hello answered {}", r.status);
                        answered.fetch_add(1, Ordering::Relaxed);
                        // A short pause so four clients do not take the whole CPU
                        // that the browser and the server share with them.
                        thread::sleep(Duration::from_millis(2));
                    }
                })
            })
            .collect();
        Load {
            stop,
            answered,
            threads,
        }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("a load thread panicked");
        }
        self.answered.load(Ordering::Relaxed)
    }
}

/// Loads `url` in headless Chromium and returns the DOM once the virtual-time budget
/// is spent.
fn dump_dom(browser: &PathBuf, url: &str) -> String {
    // One browser at a time: the tests share two cores with the servers they watch.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    static PROFILES: AtomicU64 = AtomicU64::new(0);
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let profile = std::env::temp_dir().join(format!(
        "reactor-live-{}-{}",
        std::process::id(),
        PROFILES.fetch_add(1, Ordering::Relaxed)
    ));
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={VIRTUAL_BUDGET_MS}"))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = thread::spawn(move || {
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        dom
    });
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&profile);
            panic!("chromium did not finish within {BROWSER_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let dom = reader.join().expect("reader");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(status.success(), "chromium exited with {status}");
    dom
}

/// The text of the element with `id="<id>"` (no nested tags in those the page fills).
fn text_of<'d>(dom: &'d str, id: &str) -> &'d str {
    let open = format!("id=\"{id}\">");
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no element id={id:?} in the DOM:\n{dom}"))
        + open.len();
    let end = dom[start..].find('<').expect("element text ends") + start;
    &dom[start..end]
}

fn number_of(dom: &str, id: &str) -> f64 {
    let text = text_of(dom, id);
    text.parse()
        .unwrap_or_else(|e| panic!("id={id:?} shows {text:?}, not a number ({e})"))
}

/// The value of `attr="..."` in the tag that starts at `tag_start`.
fn attribute<'d>(dom: &'d str, tag_start: usize, attr: &str) -> &'d str {
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>').expect("tag ends")];
    let key = format!("{attr}=\"");
    let start = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in {tag}"))
        + key.len();
    &tag[start..start + tag[start..].find('"').expect("value ends")]
}

/// Each drawn series: (name, `data-points`, points in its polyline).
fn series(dom: &str) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = dom[from..].find("<svg") {
        let svg = from + at;
        let name = attribute(dom, svg, "data-series").to_string();
        let count: usize = attribute(dom, svg, "data-points").parse().expect("count");
        let polyline = svg + dom[svg..].find("<polyline").expect("a polyline per chart");
        let drawn = attribute(dom, polyline, "points")
            .split_whitespace()
            .count();
        found.push((name, count, drawn));
        from = polyline;
    }
    found
}

fn stats(server: &Server) -> serde_json::Value {
    let r = server.request(&get("/stats", &["Connection: close"]));
    assert_eq!(r.status, 200);
    serde_json::from_slice(&r.body).expect("/stats is JSON")
}

/// The page, watched under load in `model`, draws every series and shows numbers
/// that `/stats` confirms.
fn live_view_follows_stats(model: &str, args: &[&str]) {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    if common::skip(model) {
        return;
    }
    let server = Server::start(model, args);
    let load = Load::start(server.addr());
    // The load is under way before the page's first poll.
    let until = Instant::now() + Duration::from_secs(10);
    while load.answered.load(Ordering::Relaxed) < 50 {
        assert!(Instant::now() < until, "the load got no answers");
        thread::sleep(Duration::from_millis(10));
    }
    let before = stats(&server)["requests"].as_u64().unwrap();
    let dom = dump_dom(&browser, &format!("http://{}/live", server.addr()));
    let after = stats(&server);
    let answered = load.stop();

    let polls = number_of(&dom, "polls") as u64;
    assert!(
        polls >= 3,
        "the page drew only {polls} answers of /stats:\n{dom}"
    );
    let drawn = series(&dom);
    let names: Vec<&str> = drawn.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "rps",
            "open",
            "wakeups_per_s",
            "events_per_wakeup",
            "threads_live"
        ]
    );
    for (name, count, points) in &drawn {
        // Levels get a point per answer; rates need two answers for their first.
        assert!(*count >= 2, "{name}: {count} points");
        assert_eq!(
            count, points,
            "{name}: data-points and the polyline disagree"
        );
    }

    assert_eq!(text_of(&dom, "model"), model, "model shown");
    assert_eq!(after["model"], model);
    let shown = number_of(&dom, "requests") as u64;
    let total = after["requests"].as_u64().unwrap();
    assert!(
        before <= shown && shown <= total,
        "requests shown {shown}, /stats said {before} before the page and {total} after"
    );
    // The page's own requests (itself and one /stats per poll) are not all it saw:
    // the load's /hello requests were counted while it watched.
    assert!(
        shown > before + polls + 1,
        "requests shown {shown}: no more than the page's own since {before}"
    );
    assert!(number_of(&dom, "rps") > 0.0, "requests/s under load");
    let open = number_of(&dom, "open") as u64;
    assert!(
        open > LOAD_CLIENTS as u64,
        "open connections shown {open}: the {LOAD_CLIENTS} load clients and the browser"
    );
    let threads = number_of(&dom, "threads_live") as u64;
    eprintln!(
        "{model}: {polls} polls drawn; shown {shown} requests ({before} before, {total} after), \
         {} req/s, {open} open, {threads} threads live",
        text_of(&dom, "rps")
    );
    match model {
        // The accepting thread plus one per connection open.
        "threaded" => assert!(
            threads > LOAD_CLIENTS as u64,
            "threads live shown {threads} with {open} connections open"
        ),
        // The pool's threads never depend on the clients.
        "pool" => assert_eq!(
            threads,
            after["threads_live"].as_u64().unwrap(),
            "the pool's threads are fixed"
        ),
        // One loop thread, whatever the load.
        _ => assert_eq!(threads, 1, "threads live in the {model} model"),
    }
    assert!(answered > 0);
}

#[test]
fn reactor() {
    live_view_follows_stats("reactor", &[]);
}

#[test]
fn threaded() {
    live_view_follows_stats("threaded", &[]);
}

#[test]
fn pool() {
    // More workers than the load's connections plus the browser's, so the page is
    // served while the load runs.
    live_view_follows_stats("pool", &["--workers", "8"]);
}

#[test]
fn uring() {
    live_view_follows_stats("uring", &[]);
}
