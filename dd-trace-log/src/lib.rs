//! Log correlation for [dd-trace](dd_trace): every log line written inside a span carries
//! `dd.trace_id` and `dd.span_id` (the ids of that span, as strings), with `dd.service`,
//! `dd.env` and `dd.version` (the tracer's configuration), so Datadog connects each log to its
//! trace and back.
//!
//! Four ways in, for the ways Rust services log:
//!
//! 1. **[`JsonFormat`]**: a `tracing_subscriber::fmt` event format writing one JSON object per
//!    line with the attributes Datadog's log pipeline reads (`timestamp`, `status`, `message`,
//!    `logger.name`, `logger.thread_name`, the event's fields, optionally the span and its
//!    parents) and the `dd.*` keys at the root. Any `MakeWriter`.
//! 2. **[`WithCorrelationIds`]**: wraps any other `fmt` event format (the default text format,
//!    `compact()`, `json()`, your own) and appends ` dd.trace_id=… dd.span_id=… dd.service=…`
//!    to each text line, as Datadog's log parsing expects of text logs, or adds them as members
//!    when the line is one JSON object.
//! 3. **The `log` crate**: records from crates that use `log` become `tracing` events through
//!    the `tracing-log` bridge (`tracing_log::LogTracer::init()`), and both formats treat them
//!    like any other event: inside a span they carry its ids; `logger.name` is the record's
//!    target.
//! 4. **[`LogCorrelation`]**: the values for the current span, for other logging stacks.
//!
//! ```
//! use tracing_subscriber::prelude::*;
//!
//! let (datadog, _guard) = dd_trace::DatadogLayer::builder()
//!     # .with_variable_source(|_| None).with_startup_logs(false)
//!     # .with_in_memory_exporter(&dd_trace::testing::InMemoryExporter::new())
//!     .build()
//!     .expect("tracer");
//! let logs = tracing_subscriber::fmt::layer().event_format(dd_trace_log::JsonFormat::new(&datadog));
//! tracing_subscriber::registry().with(datadog).with(logs).init();
//!
//! let span = tracing::info_span!("request");
//! let _entered = span.enter();
//! tracing::info!(user = 42, "handled");
//! // {"timestamp":"2026-12-01T10:00:00.000Z","status":"info","logger.name":"app",
//! //  "logger.thread_name":"main","message":"handled","user":42,
//! //  "dd.trace_id":"6638b0e8…","dd.span_id":"…","dd.service":"…","dd.env":"…","dd.version":"…"}
//! ```
//!
//! **Ids.** `dd.span_id` is the decimal span id. `dd.trace_id` is 32 lowercase hex digits when
//! the trace id's high 64 bits are set (the default for traces started here) and
//! `DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED` is on (the default), else the decimal low 64 bits
//! (a 64-bit trace from upstream, for instance). After
//! [`set_parent`](dd_trace::DatadogSpanExt::set_parent), lines carry the remote trace's id.
//!
//! **Outside any span** a line carries `dd.service`, `dd.env` and `dd.version` only, no ids.
//!
//! **`DD_LOGS_INJECTION=false`** (or `with_logs_injection(false)`) turns every `dd.*` key off;
//! so does a disabled tracer.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms,
    rustdoc::broken_intra_doc_links
)]

mod correlation;
mod json;
mod text;

pub use correlation::LogCorrelation;
pub use json::JsonFormat;
pub use text::WithCorrelationIds;

#[cfg(test)]
mod tests;
