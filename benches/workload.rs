//! The workload every bench measures, the peer benchmarks' (`shared/spec/peer-benchmarks.md`):
//! a `request` root span with three fields, entered, with one `db.query` child entered inside
//! it; and the floor under any layer, `Registry` + a layer that does nothing. Included by each
//! bench file (`#[path]`); callgrind finds the workload by its name, `one_trace`.

use std::hint::black_box;

use tracing::info_span;

/// A layer that does nothing: `Registry` + this is the floor (a bare `Registry` never frees
/// span slots, tokio-rs/tracing#900).
pub struct NoopLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {}

/// One trace of two spans.
#[inline(never)]
pub fn one_trace(user_id: u64) {
    let root = info_span!(
        "request",
        http.method = "GET",
        http.route = "/users/{id}",
        user_id
    );
    let _entered = root.enter();
    let child = info_span!(
        "db.query",
        db.statement = "SELECT * FROM users WHERE id = $1"
    );
    let _child = child.enter();
    black_box(&child);
}
