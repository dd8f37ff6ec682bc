//! `-d DIR`: static files (being written; see the files helper).
use std::path::Path;

use crate::protocol::{Request, Response};

/// Serves `req` from `root`.
pub fn serve(_req: &Request, _root: &Path) -> Response {
    Response::error(404, "no such file")
}
