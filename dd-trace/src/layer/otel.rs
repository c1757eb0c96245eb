//! The `tracing` spans that stand for OpenTelemetry API spans (feature `opentelemetry`), by
//! their Datadog span id, so that an OpenTelemetry span can be the parent of a `tracing` span
//! and of another OpenTelemetry span.
//!
//! In: spans registered when the OpenTelemetry tracer starts them and removed when they end, on
//! the app's threads that start and end them (a lock of one of [`SHARDS`] shards, taken only on
//! that path); lookups by the layer for a `tracing` span that has no `tracing` parent while an
//! OpenTelemetry context is current (one relaxed load when no OpenTelemetry span is open).
//! Out: the `tracing` span to parent on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use opentelemetry::trace::TraceContextExt;

/// Shards of the registry: spans started on different threads rarely share one.
const SHARDS: usize = 16;

static OPEN: [Mutex<Option<HashMap<u64, tracing::Span>>>; SHARDS] =
    [const { Mutex::new(None) }; SHARDS];

/// OpenTelemetry spans open now (the layer looks only when there are some).
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn shard(span_id: u64) -> std::sync::MutexGuard<'static, Option<HashMap<u64, tracing::Span>>> {
    OPEN[(span_id % SHARDS as u64) as usize]
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Registers `span`, the `tracing` span of the OpenTelemetry span `span_id`.
pub(crate) fn register(span_id: u64, span: tracing::Span) {
    if shard(span_id)
        .get_or_insert_with(HashMap::new)
        .insert(span_id, span)
        .is_none()
    {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

/// Forgets the OpenTelemetry span `span_id` (it ended).
pub(crate) fn unregister(span_id: u64) {
    let removed = shard(span_id).as_mut().and_then(|m| m.remove(&span_id));
    if removed.is_some() {
        COUNT.fetch_sub(1, Ordering::Relaxed);
    }
    // Dropped outside the shard's lock: closing the span runs the layer.
    drop(removed);
}

/// The `tracing` span of the open OpenTelemetry span `span_id`, if it is one of ours.
pub(crate) fn lookup(span_id: u64) -> Option<tracing::Span> {
    shard(span_id).as_ref()?.get(&span_id).cloned()
}

/// The `tracing` span of the OpenTelemetry span active in the current OpenTelemetry context,
/// if it is one of ours; nothing (one relaxed load) when no OpenTelemetry span is open.
pub(crate) fn current() -> Option<tracing::Span> {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let span_id = opentelemetry::Context::map_current(|cx| {
        cx.has_active_span()
            .then(|| u64::from_be_bytes(cx.span().span_context().span_id().to_bytes()))
    })?;
    lookup(span_id)
}
