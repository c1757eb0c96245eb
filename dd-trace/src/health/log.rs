//! The tracer's own diagnostics: warnings, notices and debug lines, written by the worker and
//! at start (never on the span path).
//!
//! In: lines from the worker, the configuration reader and the guard. Out: each line on stderr,
//! or to the handler the app installed with [`set_handler`]; the latest warnings
//! and notices are also kept (a bounded ring) for tracer flares. They never go through
//! `tracing`, so they cannot feed back into the tracer, and they reach the pod's log even when
//! the app's subscriber has no formatting layer. Writes that fail are ignored: diagnostics
//! never panic.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;

static DEBUG: AtomicBool = AtomicBool::new(false);

/// How serious a line from the tracer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DiagnosticLevel {
    /// Detail, only with `DD_TRACE_DEBUG=true`.
    Debug,
    /// A notable change, e.g. the agent is reachable again, or what shutdown dropped.
    Info,
    /// A problem to act on: each line says the cause and the remedy.
    Warn,
}

impl fmt::Display for DiagnosticLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiagnosticLevel::Debug => "DEBUG",
            DiagnosticLevel::Info => "INFO",
            DiagnosticLevel::Warn => "WARN",
        })
    }
}

type Handler = dyn Fn(DiagnosticLevel, &str) + Send + Sync;

static HANDLER: ArcSwapOption<Box<Handler>> = ArcSwapOption::const_empty();

/// Warnings and notices kept for flares.
const RECENT_LINES: usize = 100;
static RECENT: Mutex<VecDeque<(SystemTime, DiagnosticLevel, String)>> = Mutex::new(VecDeque::new());

/// Sends the tracer's own lines (warnings with their remedies, notices, and debug lines when
/// `DD_TRACE_DEBUG` is on) to `handler` instead of stderr, for every tracer in the process.
///
/// The handler is called on the tracer's worker thread (and on the thread that builds a
/// tracer, for configuration warnings), with no `tracing` dispatcher set: an event it emits
/// with `tracing`'s macros reaches no subscriber, so nothing it does can become part of a
/// trace. To forward lines into a `tracing` subscriber anyway, enter it explicitly; the events
/// are outside any span, so the Datadog layer ignores them:
///
/// ```
/// use dd_trace::diagnostics::DiagnosticLevel;
///
/// let app_logs = tracing::Dispatch::new(tracing_subscriber::fmt().finish());
/// dd_trace::diagnostics::set_handler(move |level, line| {
///     tracing::dispatcher::with_default(&app_logs, || match level {
///         DiagnosticLevel::Warn => tracing::warn!(target: "dd_trace", "{line}"),
///         DiagnosticLevel::Info => tracing::info!(target: "dd_trace", "{line}"),
///         _ => tracing::debug!(target: "dd_trace", "{line}"),
///     });
/// });
/// # dd_trace::diagnostics::reset_handler();
/// ```
///
/// With the `log` facade: `move |level, line| log::warn!(target: "dd_trace", "{line}")`.
pub fn set_handler(handler: impl Fn(DiagnosticLevel, &str) + Send + Sync + 'static) {
    HANDLER.store(Some(Arc::new(Box::new(handler))));
}

/// Sends the tracer's own lines to stderr again (the default).
pub fn reset_handler() {
    HANDLER.store(None);
}

/// Turns debug lines on (`DD_TRACE_DEBUG`).
pub(crate) fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

fn write(level: DiagnosticLevel, args: fmt::Arguments<'_>) {
    let line = args.to_string();
    if level >= DiagnosticLevel::Info {
        let mut recent = RECENT.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RECENT_LINES {
            recent.pop_front();
        }
        recent.push_back((SystemTime::now(), level, line.clone()));
    }
    emit(level, &line, |line| format!("dd-trace {level}: {line}"));
}

/// Hands `line` to the app's handler (with no dispatcher, so nothing it logs comes back as a
/// span), or prints it to stderr as `on_stderr` formats it.
fn emit(level: DiagnosticLevel, line: &str, on_stderr: impl FnOnce(&str) -> String) {
    match HANDLER.load_full() {
        Some(handler) => {
            let none = tracing::Dispatch::none();
            tracing::dispatcher::with_default(&none, || handler(level, line));
        }
        None => {
            let _ = writeln!(std::io::stderr().lock(), "{}", on_stderr(line));
        }
    }
}

/// A problem the operator should act on.
pub(crate) fn warn(args: fmt::Arguments<'_>) {
    write(DiagnosticLevel::Warn, args);
}

/// A notable state change (e.g. the agent is reachable again).
pub(crate) fn info(args: fmt::Arguments<'_>) {
    write(DiagnosticLevel::Info, args);
}

/// Detail for `DD_TRACE_DEBUG=true`.
pub(crate) fn debug(args: fmt::Arguments<'_>) {
    if DEBUG.load(Ordering::Relaxed) {
        write(DiagnosticLevel::Debug, args);
    }
}

/// Prints a line exactly as given (the startup configuration line), to stderr or the handler
/// (as a notice).
pub(crate) fn raw(line: &str) {
    emit(DiagnosticLevel::Info, line, str::to_string);
}

/// The latest warnings and notices, oldest first, as `RFC 3339 time LEVEL line`.
pub(crate) fn recent() -> Vec<String> {
    RECENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(at, level, line)| {
            format!("{} {level} {line}", humantime::format_rfc3339_millis(*at))
        })
        .collect()
}
