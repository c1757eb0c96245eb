//! Log correlation for [dd-trace](dd_trace): JSON log lines that carry `dd.trace_id`,
//! `dd.span_id`, `dd.service`, `dd.env` and `dd.version` at their root, so Datadog connects each
//! log to its trace.
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
//! // {"timestamp":"…","level":"INFO","target":"…","message":"handled","user":42,"span":"request",
//! //  "dd.trace_id":"6638b0e8…","dd.span_id":"…","dd.service":"…","dd.env":"…","dd.version":"…"}
//! ```
//!
//! Trace ids are written as 32 lowercase hex digits when their high 64 bits are set and
//! `DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED` is on (the default), otherwise as the decimal low
//! 64 bits; span ids in decimal. Outside any span the id keys are left out.
#![warn(missing_docs)]

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use dd_trace::DatadogLayer;

/// A `tracing-subscriber` event formatter writing one JSON object per line, with Datadog's
/// correlation keys at the root.
#[derive(Clone, Debug, Default)]
pub struct JsonFormat {
    service: Option<String>,
    env: Option<String>,
    version: Option<String>,
    hex_128_bit: bool,
}

impl JsonFormat {
    /// A formatter that writes the service, env and version `layer` was configured with.
    pub fn new(layer: &DatadogLayer) -> Self {
        JsonFormat {
            service: layer.service().map(str::to_string),
            env: layer.env().map(str::to_string),
            version: layer.version().map(str::to_string),
            hex_128_bit: layer.log_128_bit_trace_ids(),
        }
    }
}

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::from(format!("{value:?}")));
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
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut obj = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        obj.insert("timestamp".into(), Value::from(timestamp));
        obj.insert("level".into(), Value::from(meta.level().as_str()));
        obj.insert("target".into(), Value::from(meta.target()));
        event.record(&mut JsonFields(&mut obj));
        if let Some(span) = ctx.parent_span() {
            obj.insert("span".into(), Value::from(span.name()));
            if let Some(ids) = dd_trace::ids_of(&span) {
                obj.insert(
                    "dd.trace_id".into(),
                    Value::from(ids.trace_id.to_log_string(self.hex_128_bit)),
                );
                obj.insert("dd.span_id".into(), Value::from(ids.span_id.to_string()));
            }
        }
        for (key, value) in [
            ("dd.service", &self.service),
            ("dd.env", &self.env),
            ("dd.version", &self.version),
        ] {
            if let Some(v) = value {
                obj.insert(key.into(), Value::from(v.as_str()));
            }
        }
        let line = serde_json::to_string(&obj).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::prelude::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Log lines written while `f` runs under a tracer configured by `vars`, with the ids of
    /// the span `f` returns.
    fn capture(
        vars: &[(&str, &str)],
        f: impl FnOnce() -> Option<tracing::Span>,
    ) -> (Vec<Value>, Option<dd_trace::DatadogIds>) {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (datadog, guard) = DatadogLayer::builder()
            .with_variable_source(move |k| vars.get(k).cloned())
            .with_in_memory_exporter(&dd_trace::testing::InMemoryExporter::new())
            .with_startup_logs(false)
            .build()
            .unwrap();
        let buffer = Buffer::default();
        let out = buffer.clone();
        let logs = tracing_subscriber::fmt::layer()
            .event_format(JsonFormat::new(&datadog))
            .with_writer(move || out.clone());
        let registry = tracing_subscriber::registry().with(datadog).with(logs);
        let dispatch = tracing::Dispatch::new(registry);
        let ids = tracing::dispatcher::with_default(&dispatch, || {
            use dd_trace::DatadogSpanExt;
            f()?.datadog_ids()
        });
        drop(guard);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        (lines, ids)
    }

    #[test]
    fn lines_inside_a_span_carry_its_ids_and_the_service_identity() {
        let (lines, ids) = capture(
            &[
                ("DD_SERVICE", "shop"),
                ("DD_ENV", "prod"),
                ("DD_VERSION", "2.0"),
            ],
            || {
                let span = tracing::info_span!("request");
                span.in_scope(|| tracing::info!(user = 7, "inside"));
                tracing::warn!("outside");
                Some(span)
            },
        );
        let ids = ids.expect("the span has Datadog ids");
        let inside = &lines[0];
        assert_eq!(inside["message"], "inside");
        assert_eq!(inside["user"], 7);
        assert_eq!(inside["span"], "request");
        assert_eq!(
            inside["dd.trace_id"],
            format!("{:032x}", ids.trace_id.to_u128())
        );
        assert_eq!(inside["dd.span_id"], ids.span_id.to_u64().to_string());
        for line in &lines {
            assert_eq!(line["dd.service"], "shop");
            assert_eq!(line["dd.env"], "prod");
            assert_eq!(line["dd.version"], "2.0");
        }
        let outside = &lines[1];
        assert_eq!(outside["level"], "WARN");
        assert!(outside.get("dd.trace_id").is_none());
        assert!(outside.get("dd.span_id").is_none());
    }

    #[test]
    fn lines_after_a_remote_parent_is_adopted_carry_the_remote_trace_id() {
        let (lines, _) = capture(&[], || {
            use dd_trace::DatadogSpanExt;
            let span = tracing::info_span!("request");
            span.in_scope(|| tracing::info!("before"));
            let headers: Vec<(String, String)> = vec![
                ("x-datadog-trace-id".into(), "1234".into()),
                ("x-datadog-parent-id".into(), "5678".into()),
            ];
            span.set_parent(dd_trace::propagation::extract(&headers).unwrap());
            span.in_scope(|| tracing::info!("after"));
            Some(span)
        });
        assert_ne!(lines[0]["dd.trace_id"], "1234");
        assert_eq!(
            lines[1]["dd.trace_id"], "1234",
            "a 64-bit remote id, in decimal"
        );
    }

    #[test]
    fn trace_ids_are_decimal_when_128_bit_logging_is_off() {
        let (lines, ids) = capture(
            &[("DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED", "false")],
            || {
                let span = tracing::info_span!("request");
                span.in_scope(|| tracing::info!("inside"));
                Some(span)
            },
        );
        let ids = ids.unwrap();
        assert_eq!(lines[0]["dd.trace_id"], ids.trace_id.low().to_string());
    }
}
