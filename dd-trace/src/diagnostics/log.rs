//! The tracer's own diagnostics: warnings and debug lines on stderr, written by the worker and
//! at start (never on the span path).
//!
//! They never go through `tracing`, so they cannot feed back into the tracer, and they reach
//! the pod's log even when the app's subscriber has no formatting layer. Writes that fail are
//! ignored: diagnostics never panic.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static DEBUG: AtomicBool = AtomicBool::new(false);

/// Turns debug lines on (`DD_TRACE_DEBUG`).
pub(crate) fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

fn write(level: &str, args: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "dd-trace {level}: {args}");
}

/// A problem the operator should act on.
pub(crate) fn warn(args: fmt::Arguments<'_>) {
    write("WARN", args);
}

/// A notable state change (e.g. the agent is reachable again).
pub(crate) fn info(args: fmt::Arguments<'_>) {
    write("INFO", args);
}

/// Detail for `DD_TRACE_DEBUG=true`.
pub(crate) fn debug(args: fmt::Arguments<'_>) {
    if DEBUG.load(Ordering::Relaxed) {
        write("DEBUG", args);
    }
}

/// Prints a line exactly as given (the startup configuration line).
pub(crate) fn raw(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
