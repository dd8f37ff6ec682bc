//! Routes: plain functions from a request to a reply.
//!
//! Rule: no sockets, no event loop, no timers. A route that must answer later
//! (`/delay`) says so with [`Reply::After`]; the driver decides how to wait (a reactor
//! timer, or a sleeping thread). The path table below is the whole URL space.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::Model;
use crate::protocol::{Method, Request, Response};
use crate::stats::Stats;

pub mod builtin;
pub mod file_cache;
pub mod file_response;
pub mod files;

pub use file_cache::FileCache;

/// What a route answers.
#[derive(Debug)]
pub enum Reply {
    /// Send this response now.
    Now(Response),
    /// Send this response after the delay, without blocking other clients if the
    /// model allows it.
    After(Duration, Response),
}

/// What routes may know about the server.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub model: Model,
    /// `-d DIR`, if given.
    pub root: Option<&'a Path>,
    pub stats: &'a Stats,
    /// Small files kept in memory for `-d`.
    pub files: &'a FileCache,
    /// The driver's clock reading for this request.
    pub now: Instant,
    /// Time since the server started (for `/stats`).
    pub uptime: Duration,
}

/// Methods every built-in route accepts. POST is allowed so a load test can send
/// bodies to `/hello`; the body is read and discarded.
const BUILTIN_METHODS: &[Method] = &[Method::Get, Method::Head, Method::Post, Method::Options];
const ECHO_METHODS: &[Method] = &[
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Options,
];
const FILE_METHODS: &[Method] = &[Method::Get, Method::Head, Method::Options];
/// What `OPTIONS *` advertises: every method some resource here accepts.
const SERVER_METHODS: &str = "GET, HEAD, POST, PUT, OPTIONS";

/// A resource the path table found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target<'p> {
    Index,
    Hello,
    Echo,
    Delay(&'p str),
    Spin(&'p str),
    Stats,
    Live,
    File,
}

impl Target<'_> {
    fn methods(self) -> &'static [Method] {
        match self {
            Self::Echo => ECHO_METHODS,
            Self::File => FILE_METHODS,
            _ => BUILTIN_METHODS,
        }
    }
}

/// The path table. Built-in routes take precedence over files of the same name.
fn find(path: &str, has_root: bool) -> Option<Target<'_>> {
    match path {
        "/hello" => Some(Target::Hello),
        "/echo" => Some(Target::Echo),
        "/stats" => Some(Target::Stats),
        "/live" => Some(Target::Live),
        "/" if !has_root => Some(Target::Index),
        _ => {
            if let Some(ms) = path.strip_prefix("/delay/") {
                Some(Target::Delay(ms))
            } else if let Some(ms) = path.strip_prefix("/spin/") {
                Some(Target::Spin(ms))
            } else if has_root {
                Some(Target::File)
            } else {
                None
            }
        }
    }
}

/// Answers one request.
pub fn route(req: &Request, ctx: &Ctx<'_>) -> Reply {
    if let Some(reply) = fast_path(req) {
        return reply;
    }
    let path = req.path();
    if path == "*" {
        return Reply::Now(match req.method {
            Method::Options => Response::text(200, "").header("Allow", SERVER_METHODS),
            _ => Response::error(400, "the * target is only for OPTIONS"),
        });
    }
    if !path.starts_with('/') {
        return Reply::Now(Response::error(400, "request target must be a path"));
    }
    let Some(target) = find(path, ctx.root.is_some()) else {
        return Reply::Now(match req.method {
            Method::Get | Method::Head | Method::Post | Method::Put | Method::Options => {
                Response::error(404, "no such resource")
            }
            _ => Response::error(501, "method not implemented"),
        });
    };
    let methods = target.methods();
    if !methods.contains(&req.method) {
        return Reply::Now(
            Response::error(405, "method not allowed here").header("Allow", allow_list(methods)),
        );
    }
    if req.method == Method::Options {
        return Reply::Now(Response::text(200, "").header("Allow", allow_list(methods)));
    }
    if target != Target::File {
        if let Some(refused) = builtin::preconditions(req) {
            return Reply::Now(refused);
        }
    }
    match target {
        Target::Index => Reply::Now(builtin::index(ctx)),
        Target::Hello => Reply::Now(builtin::hello()),
        Target::Echo => Reply::Now(builtin::echo(req)),
        Target::Delay(ms) => builtin::delay(ms),
        Target::Spin(ms) => Reply::Now(builtin::spin(ms)),
        Target::Stats => Reply::Now(builtin::stats(ctx)),
        Target::Live => Reply::Now(builtin::live()),
        Target::File => match ctx.root {
            Some(root) => Reply::Now(files::serve(req, root, ctx.files, ctx.now)),
            None => Reply::Now(Response::error(404, "no such resource")),
        },
    }
}

/// The benchmark target, matched on the raw request target before the table: a
/// plain GET or HEAD of exactly `/hello` (no query, no If-* or Range field) gets the
/// answer the table would give, without cutting the path or checking methods.
fn fast_path(req: &Request) -> Option<Reply> {
    let plain = matches!(req.method, Method::Get | Method::Head) && !req.may_be_conditional;
    (plain && req.target() == "/hello").then(|| Reply::Now(builtin::hello()))
}

fn allow_list(methods: &[Method]) -> String {
    methods
        .iter()
        .map(|m| match m {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Options => "OPTIONS",
            _ => "",
        })
        .collect::<Vec<_>>()
        .join(", ")
}
