//! The JSON log format for Datadog's log pipeline.
//!
//! In: each event `tracing_subscriber::fmt` formats, on the thread that emits it. Out: one JSON
//! object per line, written straight into the formatter's buffer (no intermediate document).

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use dd_trace::DatadogLayer;

use crate::correlation::Identity;

/// A `tracing_subscriber::fmt` event formatter writing one JSON object per line, with the
/// attributes Datadog's log pipeline reads: `timestamp` (RFC 3339, UTC), `status` (the level),
/// `message`, `logger.name` (the target; for `log` records, their logger), `logger.thread_name`,
/// the event's fields, and `dd.trace_id`, `dd.span_id`, `dd.service`, `dd.env`, `dd.version` at
/// the root. Optionally the current span and its parents, with their fields.
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// # let (datadog, _guard) = dd_trace::DatadogLayer::builder()
/// #     .with_variable_source(|_| None).with_startup_logs(false)
/// #     .with_in_memory_exporter(&dd_trace::testing::InMemoryExporter::new())
/// #     .build().unwrap();
/// let logs = tracing_subscriber::fmt::layer()
///     .event_format(dd_trace_log::JsonFormat::new(&datadog).with_span_list(true))
///     // Span fields as JSON too (for the span list):
///     .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
///     .with_writer(std::io::stdout);
/// let _default = tracing_subscriber::registry().with(datadog).with(logs).set_default();
/// tracing::info_span!("request", user = 7).in_scope(|| tracing::info!(items = 3, "checked out"));
/// // {"timestamp":"2026-12-01T10:00:00.000Z","status":"info","logger.name":"…",
/// //  "logger.thread_name":"main","message":"checked out","items":3,
/// //  "spans":[{"name":"request","user":7}],
/// //  "dd.trace_id":"6638b0e8…","dd.span_id":"…","dd.service":"…"}
/// ```
#[derive(Clone, Debug)]
pub struct JsonFormat {
    identity: Identity,
    current_span: bool,
    span_list: bool,
}

impl JsonFormat {
    /// A formatter that writes the service, env and version `layer` was configured with.
    pub fn new(layer: &DatadogLayer) -> Self {
        JsonFormat {
            identity: Identity::of(layer),
            current_span: false,
            span_list: false,
        }
    }

    /// Adds `span`: the current span's name and fields.
    pub fn with_current_span(mut self, on: bool) -> Self {
        self.current_span = on;
        self
    }

    /// Adds `spans`: the current span and its parents, root first, with their fields.
    pub fn with_span_list(mut self, on: bool) -> Self {
        self.span_list = on;
        self
    }
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        w.write_str("{\"timestamp\":\"")?;
        write!(w, "{}", humantime::format_rfc3339_millis(SystemTime::now()))?;
        w.write_str("\",\"status\":\"")?;
        let status = match *meta.level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warn",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        w.write_str(status)?;
        w.write_str("\",\"logger.name\":")?;
        json_str(&mut w, meta.target())?;
        w.write_str(",\"logger.thread_name\":")?;
        let thread = std::thread::current();
        match thread.name() {
            Some(name) => json_str(&mut w, name)?,
            None => write!(w, "\"{:?}\"", thread.id())?,
        }
        let mut fields = JsonFieldWriter {
            w: &mut w,
            result: Ok(()),
            log_record: normalized.is_some(),
        };
        event.record(&mut fields);
        fields.result?;

        let span = ctx.parent_span();
        if self.current_span {
            if let Some(span) = &span {
                w.write_str(",\"span\":")?;
                write_span::<S, N>(&mut w, span)?;
            }
        }
        if self.span_list {
            if let Some(scope) = ctx.event_scope() {
                w.write_str(",\"spans\":[")?;
                for (i, span) in scope.from_root().enumerate() {
                    if i > 0 {
                        w.write_char(',')?;
                    }
                    write_span::<S, N>(&mut w, &span)?;
                }
                w.write_char(']')?;
            }
        }
        let ids = span.as_ref().and_then(dd_trace::ids_of);
        let mut result = Ok(());
        self.identity.for_each(ids, |key, value| {
            if result.is_ok() {
                result = (|| {
                    w.write_str(",\"")?;
                    w.write_str(key)?;
                    w.write_str("\":")?;
                    json_display(&mut w, value)
                })();
            }
        });
        result?;
        w.write_str("}\n")
    }
}

/// A span as `{"name":…, its fields…}`: JSON fields (from `JsonFields`) are merged in, other
/// formats' text goes in `"fields"`.
fn write_span<S, N>(
    w: &mut Writer<'_>,
    span: &tracing_subscriber::registry::SpanRef<'_, S>,
) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    w.write_str("{\"name\":")?;
    json_str(w, span.name())?;
    let ext = span.extensions();
    if let Some(fields) = ext.get::<FormattedFields<N>>() {
        let text = fields.fields.as_str().trim();
        match text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(inner) if !inner.trim().is_empty() => {
                w.write_char(',')?;
                w.write_str(inner)?;
            }
            Some(_) => {}
            None if !text.is_empty() => {
                w.write_str(",\"fields\":")?;
                json_str(w, text)?;
            }
            None => {}
        }
    }
    w.write_char('}')
}

/// The attributes each line writes itself; event fields of these names become `fields.<name>`.
const RESERVED: &[&str] = &[
    "timestamp",
    "status",
    "logger.name",
    "logger.thread_name",
    "span",
    "spans",
];

/// Writes event fields as `,"key":value`.
struct JsonFieldWriter<'a, 'w> {
    w: &'a mut Writer<'w>,
    result: fmt::Result,
    /// A `log` record: its `log.*` fields are metadata, already written.
    log_record: bool,
}

impl JsonFieldWriter<'_, '_> {
    fn key(&mut self, field: &Field) -> bool {
        if self.result.is_err() || (self.log_record && field.name().starts_with("log.")) {
            return false;
        }
        let name = field.name();
        self.result = (|| {
            self.w.write_char(',')?;
            if RESERVED.contains(&name) || name.starts_with("dd.") {
                // The line's own attributes keep their meaning: a field of that name is moved.
                self.w.write_str("\"fields.")?;
                write!(Escape(self.w), "{name}")?;
                self.w.write_char('"')?;
            } else {
                json_str(self.w, name)?;
            }
            self.w.write_char(':')
        })();
        self.result.is_ok()
    }

    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.key(field) {
            self.result = self.w.write_fmt(value);
        }
    }
}

impl Visit for JsonFieldWriter<'_, '_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, format_args!("{value}"));
        } else if self.key(field) {
            self.result = json_display(self.w, &value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            self.result = json_str(self.w, value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.key(field) {
            self.result = json_display(self.w, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            self.result = json_display(self.w, &format_args!("{value:?}"));
        }
    }
}

/// Writes `s` as a JSON string.
pub(crate) fn json_str<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    json_display(w, &s)
}

/// Writes `value`'s `Display` as a JSON string, escaping as it goes.
pub(crate) fn json_display<W: fmt::Write + ?Sized>(
    w: &mut W,
    value: &dyn fmt::Display,
) -> fmt::Result {
    w.write_char('"')?;
    write!(Escape(w), "{value}")?;
    w.write_char('"')
}

/// Escapes what JSON strings may not hold as themselves.
struct Escape<'a, W: ?Sized>(&'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for Escape<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain = 0;
        for (i, b) in s.bytes().enumerate() {
            let escaped = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            if escaped.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.write_str(escaped)?;
            }
            plain = i + 1;
        }
        self.0.write_str(&s[plain..])
    }
}
