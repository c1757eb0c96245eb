//! Panics as span errors: the one failure a Rust team most wants to see on its traces.
//!
//! In: a panic, on the thread that panics (an app thread), through the process's panic hook.
//! Out: the innermost span dd-trace records on that thread (the current span, else its
//! nearest recorded ancestor) marked an error: `error.type` `panic`, `error.message` the panic's
//! message, `error.stack` where it panicked (and the backtrace when `RUST_BACKTRACE` asks for
//! one). Then the hook that was in place before runs, as it would have. The span is delivered
//! as any other when unwinding closes it (a `catch_unwind`, a task's `JoinError`, a thread's
//! join). Only tracers with `DD_TRACE_PANIC_ERRORS_ENABLED` on (the default) mark their spans.
//!
//! When the build aborts on panic (`panic = "abort"`), no span closes and nothing unwinds:
//! the hook then has every running tracer send what has finished, waiting at most
//! [`ABORT_FLUSH_TIMEOUT`], before the process ends.
//!
//! The hook is installed once per process, by the first tracer built with it on. It takes no
//! lock the panicking code could hold: it touches the span's record as `DatadogSpanExt` does
//! (the list of tracers to flush has a lock of its own, taken only when a tracer starts and
//! by an aborting panic).

use std::backtrace::{Backtrace, BacktraceStatus};
use std::panic::PanicHookInfo;
use std::sync::{Arc, Mutex, Once, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::ext::with_innermost_open_span;

/// How long an aborting panic waits, at most, for the tracers to send what has finished.
pub(crate) const ABORT_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends a tracer's finished traces, waiting at most the given time.
pub(crate) type Flusher = dyn Fn(Duration) + Send + Sync;

/// The running tracers' flushers (each lives as long as its tracer's worker).
static FLUSHERS: Mutex<Vec<Weak<Flusher>>> = Mutex::new(Vec::new());

/// Installs the hook (once per process; later calls do nothing).
pub(crate) fn install_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            mark_current_span(info);
            if cfg!(panic = "abort") {
                flush_finished(ABORT_FLUSH_TIMEOUT);
            }
            previous(info);
        }));
    });
}

/// Adds a running tracer's flusher; it is forgotten once dropped.
pub(crate) fn register_flusher(flusher: &Arc<Flusher>) {
    let mut flushers = FLUSHERS.lock().unwrap_or_else(PoisonError::into_inner);
    flushers.retain(|f| f.strong_count() > 0);
    flushers.push(Arc::downgrade(flusher));
}

/// Has every running tracer send what has finished, all within `timeout`.
pub(crate) fn flush_finished(timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let flushers: Vec<Arc<Flusher>> = FLUSHERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for flush in flushers {
        flush(deadline.saturating_duration_since(Instant::now()));
    }
}

/// The panic's message: its payload when that is text.
fn message(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_string())
}

fn mark_current_span(info: &PanicHookInfo<'_>) {
    let span = tracing::Span::current();
    if span.is_none() {
        return;
    }
    let message = message(info);
    let mut stack = match info.location() {
        Some(at) => format!("panicked at {}:{}:{}", at.file(), at.line(), at.column()),
        None => "panicked".to_string(),
    };
    let backtrace = Backtrace::capture();
    if backtrace.status() == BacktraceStatus::Captured {
        stack.push('\n');
        stack.push_str(&backtrace.to_string());
    }
    with_innermost_open_span(&span, |open, tracer| {
        if tracer.is_some_and(|t| t.panic_errors) {
            open.data
                .fields
                .set_error(Some(&message), Some("panic"), Some(&stack));
        }
    });
}
