//! Correlation ids for any other `tracing_subscriber::fmt` format: text lines, or a JSON layout
//! of your own.
//!
//! In: each event the wrapped format writes, on the thread that emits it. Out: the same line
//! with ` dd.trace_id=… dd.span_id=… dd.service=… dd.env=… dd.version=…` before its end, as
//! Datadog's log parsing reads them, or with `"dd.trace_id":"…"` members when the line is one
//! JSON object. The inner format writes into a thread-local buffer
//! reused from line to line.

use std::cell::RefCell;
use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use dd_trace::DatadogLayer;

use crate::correlation::Identity;
use crate::json::{json_display, json_str};

/// Wraps a `tracing_subscriber::fmt` event format (the default text format, `compact()`, or
/// your own) and adds the `dd.*` keys to each line: ` key=value` pairs at the end of a text
/// line, or members of the object when the line is one JSON object (`format().json()`, a JSON
/// layout of your own), so the line stays valid JSON. The wrapped format writes without ANSI
/// colors (log files should not hold them).
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// # let (datadog, _guard) = dd_trace::DatadogLayer::builder()
/// #     .with_variable_source(|_| None).with_startup_logs(false)
/// #     .with_in_memory_exporter(&dd_trace::testing::InMemoryExporter::new())
/// #     .build().unwrap();
/// let format = dd_trace_log::WithCorrelationIds::new(tracing_subscriber::fmt::format(), &datadog);
/// let logs = tracing_subscriber::fmt::layer().event_format(format);
/// let _default = tracing_subscriber::registry().with(datadog).with(logs).set_default();
/// tracing::info_span!("request").in_scope(|| tracing::info!("checked out"));
/// // 2026-12-01T10:00:00.000000Z  INFO request: app: checked out dd.trace_id=6638b0e8… dd.span_id=…
/// ```
#[derive(Clone, Debug)]
pub struct WithCorrelationIds<F> {
    inner: F,
    identity: Identity,
}

impl<F> WithCorrelationIds<F> {
    /// `inner`, with the ids of `layer`'s spans and its service, env and version.
    pub fn new(inner: F, layer: &DatadogLayer) -> Self {
        WithCorrelationIds {
            inner,
            identity: Identity::of(layer),
        }
    }
}

thread_local! {
    /// The inner format's line, reused from line to line on each thread.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, N, F> FormatEvent<S, N> for WithCorrelationIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut write_line = |line: &mut String| -> fmt::Result {
            line.clear();
            self.inner.format_event(ctx, Writer::new(line), event)?;
            let ids = ctx.parent_span().as_ref().and_then(dd_trace::ids_of);
            append_ids(&mut writer, line, &self.identity, ids)?;
            writer.write_char('\n')
        };
        let result = LINE.try_with(|line| match line.try_borrow_mut() {
            Ok(mut line) => {
                let result = write_line(&mut line);
                if line.capacity() > 64 * 1024 {
                    *line = String::new();
                }
                Some(result)
            }
            // A format that logs while formatting comes back here: the outer call has the
            // buffer.
            Err(_) => None,
        });
        match result {
            Ok(Some(result)) => result,
            _ => write_line(&mut String::new()),
        }
    }
}

/// Writes `line` with the `dd.*` pairs of `identity` and `ids`: as members before the closing
/// brace when the line is one JSON object, else as ` key=value` text at its end.
fn append_ids(
    writer: &mut Writer<'_>,
    line: &str,
    identity: &Identity,
    ids: Option<dd_trace::DatadogIds>,
) -> fmt::Result {
    let line = line.trim_end();
    // One JSON object: `{` + members (each starting with a quoted key) + `}`. A text line that
    // merely starts with `{` and ends with `}` (`{a}`) does not qualify.
    let json_body = line
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .filter(|body| {
            let body = body.trim_start();
            body.is_empty() || body.starts_with('"')
        })
        .map(|body| (body, !body.trim().is_empty()));
    let mut result = Ok(());
    match json_body {
        Some((body, mut comma)) => {
            writer.write_char('{')?;
            writer.write_str(body.trim_end())?;
            identity.for_each(ids, |key, value| {
                if result.is_ok() {
                    result = (|| {
                        if comma {
                            writer.write_char(',')?;
                        }
                        comma = true;
                        json_str(writer, key)?;
                        writer.write_char(':')?;
                        json_display(writer, value)
                    })();
                }
            });
            result?;
            writer.write_char('}')
        }
        None => {
            writer.write_str(line)?;
            identity.write_text(ids, writer)
        }
    }
}
