//! Golden lines for every way in, on a tracer that delivers to memory.

use std::io;
use std::sync::{Arc, Mutex};

use dd_trace::testing::TestTracer;
use dd_trace::{DatadogIds, DatadogSpanExt};
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::{JsonFormat, LogCorrelation, WithCorrelationIds};

/// Collects what a `fmt` layer writes.
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

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

impl Buffer {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A test tracer configured by `configure` whose log lines go through `format` into a buffer.
fn tracer_with_json(
    configure: impl FnOnce(dd_trace::DatadogLayerBuilder) -> dd_trace::DatadogLayerBuilder,
    format: impl FnOnce(JsonFormat) -> JsonFormat,
) -> (TestTracer, Buffer) {
    let buffer = Buffer::default();
    let out = buffer.clone();
    let tracer = TestTracer::with_subscriber(configure, move |datadog| {
        let logs = tracing_subscriber::fmt::layer()
            .event_format(format(JsonFormat::new(&datadog)))
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .with_writer(out);
        tracing::Dispatch::new(tracing_subscriber::registry().with(datadog).with(logs))
    });
    (tracer, buffer)
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn identity() -> impl FnOnce(dd_trace::DatadogLayerBuilder) -> dd_trace::DatadogLayerBuilder {
    |b| b.with_service("shop").with_env("prod").with_version("2.0")
}

#[test]
fn json_lines_carry_the_pipeline_attributes_and_the_ids_at_the_root() {
    let (tracer, buffer) = tracer_with_json(identity(), |f| f);
    let ids: DatadogIds = tracer.in_scope(|| {
        let span = tracing::info_span!("request");
        span.in_scope(|| {
            tracing::warn!(
                user = 7,
                ratio = 0.5,
                ok = true,
                note = "a \"b\"\n",
                "inside"
            )
        });
        span.datadog_ids().unwrap()
    });
    let line = &buffer.lines()[0];
    let v = json(line);
    let thread = std::thread::current().name().unwrap().to_string();
    let expected = serde_json::json!({
        "timestamp": v["timestamp"],
        "status": "warn",
        "logger.name": "dd_trace_log::tests",
        "logger.thread_name": thread,
        "message": "inside",
        "user": 7,
        "ratio": 0.5,
        "ok": true,
        "note": "a \"b\"\n",
        "dd.trace_id": format!("{:032x}", ids.trace_id.to_u128()),
        "dd.span_id": ids.span_id.to_string(),
        "dd.service": "shop",
        "dd.env": "prod",
        "dd.version": "2.0",
    });
    assert_eq!(v, expected, "{line}");
    // RFC 3339, UTC, milliseconds.
    let ts = v["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{ts}"
    );
    // Keys in the order Datadog's pipeline reads best: attributes, fields, then dd.*.
    let order: Vec<&str> = [
        "\"timestamp\"",
        "\"status\"",
        "\"message\"",
        "\"dd.trace_id\"",
    ]
    .to_vec();
    let positions: Vec<usize> = order.iter().map(|k| line.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
}

#[test]
fn fields_named_like_the_lines_own_attributes_do_not_overwrite_them() {
    let (tracer, buffer) = tracer_with_json(identity(), |f| f);
    tracer.in_scope(|| {
        tracing::info_span!("request").in_scope(|| {
            tracing::info!(
                status = 502,
                timestamp = "x",
                dd.trace_id = "forged",
                "failed"
            )
        })
    });
    let v = json(&buffer.lines()[0]);
    assert_eq!(v["status"], "info");
    assert_eq!(v["fields.status"], 502);
    assert_eq!(v["fields.timestamp"], "x");
    assert_eq!(v["fields.dd.trace_id"], "forged");
    assert_ne!(v["dd.trace_id"], "forged");
}

#[test]
fn the_span_and_its_parents_come_along_when_asked() {
    let (tracer, buffer) = tracer_with_json(identity(), |f| {
        f.with_current_span(true).with_span_list(true)
    });
    tracer.in_scope(|| {
        tracing::info_span!("request", route = "/cart").in_scope(|| {
            tracing::info_span!("db", rows = 3).in_scope(|| tracing::info!("queried"));
        });
    });
    let v = json(&buffer.lines()[0]);
    assert_eq!(v["span"], serde_json::json!({"name": "db", "rows": 3}));
    assert_eq!(
        v["spans"],
        serde_json::json!([{"name": "request", "route": "/cart"}, {"name": "db", "rows": 3}])
    );
}

#[test]
fn outside_any_span_lines_carry_the_identity_but_no_ids() {
    let (tracer, buffer) = tracer_with_json(identity(), |f| f);
    tracer.in_scope(|| tracing::error!("no span"));
    let v = json(&buffer.lines()[0]);
    assert_eq!(v["status"], "error");
    assert!(v.get("dd.trace_id").is_none() && v.get("dd.span_id").is_none());
    assert_eq!(v["dd.service"], "shop");
    assert_eq!(v["dd.env"], "prod");
}

#[test]
fn trace_ids_are_decimal_for_64_bit_ids_or_when_128_bit_logging_is_off() {
    for configure in [
        (|b: dd_trace::DatadogLayerBuilder| b.with_128_bit_trace_ids(false))
            as fn(dd_trace::DatadogLayerBuilder) -> dd_trace::DatadogLayerBuilder,
        |b| b.with_128_bit_trace_id_logging(false),
    ] {
        let (tracer, buffer) = tracer_with_json(configure, |f| f);
        let ids = tracer.in_scope(|| {
            let span = tracing::info_span!("request");
            span.in_scope(|| tracing::info!("inside"));
            span.datadog_ids().unwrap()
        });
        let v = json(&buffer.lines()[0]);
        assert_eq!(v["dd.trace_id"], ids.trace_id.low().to_string());
    }
    // The logging switch alone, set by its variable: the id has its high bits, the line has
    // only the low ones.
    let (tracer, buffer) = tracer_with_json(
        |b| {
            b.with_variable_source(|k| {
                (k == "DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED").then(|| "false".into())
            })
        },
        |f| f,
    );
    let ids = tracer.in_scope(|| {
        let span = tracing::info_span!("request");
        span.in_scope(|| tracing::info!("inside"));
        span.datadog_ids().unwrap()
    });
    assert_ne!(ids.trace_id.high(), 0);
    assert_eq!(
        json(&buffer.lines()[0])["dd.trace_id"],
        ids.trace_id.low().to_string()
    );
}

#[test]
fn a_disabled_tracer_writes_no_dd_keys() {
    let (tracer, buffer) = tracer_with_json(|b| b.with_enabled(false), |f| f);
    tracer.in_scope(|| {
        tracing::info_span!("request").in_scope(|| tracing::info!("inside"));
    });
    let line = &buffer.lines()[0];
    assert!(!line.contains("dd."), "{line}");
    assert_eq!(json(line)["message"], "inside");
}

#[test]
fn a_text_line_in_braces_is_not_taken_for_json() {
    let buffer = Buffer::default();
    let out = buffer.clone();
    let tracer = TestTracer::with_subscriber(identity(), move |datadog| {
        let logs = tracing_subscriber::fmt::layer()
            .event_format(WithCorrelationIds::new(Braces, &datadog))
            .with_writer(out);
        tracing::Dispatch::new(tracing_subscriber::registry().with(datadog).with(logs))
    });
    tracer.in_scope(|| tracing::info!("x"));
    assert_eq!(
        buffer.lines(),
        ["{a} dd.service=shop dd.env=prod dd.version=2.0"]
    );
}

/// A format that writes `{a}` for every event.
struct Braces;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Braces
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        _event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        writeln!(writer, "{{a}}")
    }
}

#[test]
fn logs_injection_off_writes_no_dd_keys_anywhere() {
    // The variable on the JSON format, the builder method on the text one.
    let (tracer, buffer) = tracer_with_json(
        |b| {
            identity()(b)
                .with_variable_source(|k| (k == "DD_LOGS_INJECTION").then(|| "false".into()))
        },
        |f| f,
    );
    let text_buffer = Buffer::default();
    let out = text_buffer.clone();
    let text = TestTracer::with_subscriber(
        |b| b.with_logs_injection(false),
        move |datadog| {
            let logs = tracing_subscriber::fmt::layer()
                .event_format(WithCorrelationIds::new(
                    tracing_subscriber::fmt::format(),
                    &datadog,
                ))
                .with_ansi(false)
                .with_writer(out);
            tracing::Dispatch::new(tracing_subscriber::registry().with(datadog).with(logs))
        },
    );
    for t in [&tracer, &text] {
        t.in_scope(|| {
            tracing::info_span!("request").in_scope(|| {
                tracing::info!("inside");
                assert_eq!(LogCorrelation::current(), None);
            })
        });
    }
    assert!(!buffer.lines()[0].contains("dd."), "{}", buffer.lines()[0]);
    assert!(
        !text_buffer.lines()[0].contains("dd."),
        "{}",
        text_buffer.lines()[0]
    );
}

#[test]
fn text_lines_end_with_the_ids_as_datadogs_parser_reads_them() {
    let buffer = Buffer::default();
    let out = buffer.clone();
    let tracer = TestTracer::with_subscriber(identity(), move |datadog| {
        let logs = tracing_subscriber::fmt::layer()
            .event_format(WithCorrelationIds::new(
                tracing_subscriber::fmt::format().without_time(),
                &datadog,
            ))
            .with_ansi(false)
            .with_writer(out);
        tracing::Dispatch::new(tracing_subscriber::registry().with(datadog).with(logs))
    });
    let ids = tracer.in_scope(|| {
        let span = tracing::info_span!("request", user = 7);
        span.in_scope(|| tracing::info!(items = 3, "checked out"));
        tracing::info!("outside");
        span.datadog_ids().unwrap()
    });
    let lines = buffer.lines();
    assert_eq!(
        lines[0],
        format!(
            " INFO request{{user=7}}: dd_trace_log::tests: checked out items=3 dd.trace_id={:032x} dd.span_id={} dd.service=shop dd.env=prod dd.version=2.0",
            ids.trace_id.to_u128(),
            ids.span_id
        )
    );
    assert_eq!(
        lines[1],
        " INFO dd_trace_log::tests: outside dd.service=shop dd.env=prod dd.version=2.0"
    );
}

#[test]
fn text_lines_have_decimal_trace_ids_for_64_bit_ids() {
    let buffer = Buffer::default();
    let out = buffer.clone();
    let tracer = TestTracer::with_subscriber(
        |b| identity()(b).with_128_bit_trace_ids(false),
        move |datadog| {
            let logs = tracing_subscriber::fmt::layer()
                .event_format(WithCorrelationIds::new(
                    tracing_subscriber::fmt::format().without_time(),
                    &datadog,
                ))
                .with_ansi(false)
                .with_writer(out);
            tracing::Dispatch::new(tracing_subscriber::registry().with(datadog).with(logs))
        },
    );
    let ids = tracer.in_scope(|| {
        let span = tracing::info_span!("request");
        span.in_scope(|| tracing::info!("inside"));
        span.datadog_ids().unwrap()
    });
    assert_eq!(ids.trace_id.high(), 0);
    assert_eq!(
        buffer.lines()[0],
        format!(
            " INFO request: dd_trace_log::tests: inside dd.trace_id={} dd.span_id={} dd.service=shop dd.env=prod dd.version=2.0",
            ids.trace_id.low(),
            ids.span_id
        )
    );
}

#[test]
fn a_json_layout_of_ones_own_gets_the_ids_as_members_of_its_object() {
    let buffer = Buffer::default();
    let out = buffer.clone();
    let tracer = TestTracer::with_subscriber(
        |b| identity()(b).with_version("2.0 \"beta\""),
        move |datadog| {
            let logs = tracing_subscriber::fmt::layer()
                .event_format(WithCorrelationIds::new(
                    tracing_subscriber::fmt::format().json().without_time(),
                    &datadog,
                ))
                .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                .with_writer(out);
            tracing::Dispatch::new(tracing_subscriber::registry().with(datadog).with(logs))
        },
    );
    let ids = tracer.in_scope(|| {
        let span = tracing::info_span!("request");
        span.in_scope(|| tracing::info!(items = 3, "checked out"));
        tracing::info!("outside");
        span.datadog_ids().unwrap()
    });
    let lines = buffer.lines();
    let inside = json(&lines[0]);
    assert_eq!(inside["fields"]["message"], "checked out", "{inside}");
    assert_eq!(inside["fields"]["items"], 3);
    assert_eq!(inside["span"]["name"], "request");
    assert_eq!(
        inside["dd.trace_id"],
        format!("{:032x}", ids.trace_id.to_u128())
    );
    assert_eq!(inside["dd.span_id"], ids.span_id.to_string());
    assert_eq!(inside["dd.service"], "shop");
    assert_eq!(inside["dd.version"], "2.0 \"beta\"");
    let outside = json(&lines[1]);
    assert!(outside.get("dd.trace_id").is_none(), "{outside}");
    assert_eq!(outside["dd.env"], "prod");
}

#[test]
fn log_crate_records_carry_the_ids_of_the_span_they_are_written_in() {
    // The bridge is process-wide; it forwards to whichever dispatcher is current.
    let _ = tracing_log::LogTracer::init();
    let (tracer, buffer) = tracer_with_json(identity(), |f| f);
    let ids = tracer.in_scope(|| {
        let span = tracing::info_span!("request");
        span.in_scope(|| log::warn!(target: "legacy_crate", "from log"));
        span.datadog_ids().unwrap()
    });
    let v = json(&buffer.lines()[0]);
    assert_eq!(v["message"], "from log");
    assert_eq!(v["status"], "warn");
    assert_eq!(v["logger.name"], "legacy_crate");
    assert!(
        v.get("log.target").is_none(),
        "the bridge's fields are metadata: {v}"
    );
    assert_eq!(v["dd.span_id"], ids.span_id.to_string());
}

#[test]
fn lines_after_a_remote_parent_is_adopted_carry_the_remote_trace_id() {
    let (tracer, buffer) = tracer_with_json(identity(), |f| f);
    tracer.in_scope(|| {
        let span = tracing::info_span!("request");
        span.in_scope(|| tracing::info!("before"));
        let headers: Vec<(String, String)> = vec![
            ("x-datadog-trace-id".into(), "1234".into()),
            ("x-datadog-parent-id".into(), "5678".into()),
        ];
        span.set_parent(dd_trace::propagation::extract(&headers).unwrap());
        span.in_scope(|| tracing::info!("after"));
    });
    let lines = buffer.lines();
    assert_ne!(json(&lines[0])["dd.trace_id"], "1234");
    assert_eq!(
        json(&lines[0])["dd.span_id"],
        json(&lines[1])["dd.span_id"],
        "the same span, now in the remote trace"
    );
    assert_eq!(
        json(&lines[1])["dd.trace_id"],
        "1234",
        "a 64-bit remote id, in decimal"
    );
}

#[test]
fn log_correlation_reads_the_current_span_for_other_logging_stacks() {
    let tracer = TestTracer::with_builder(identity());
    tracer.in_scope(|| {
        let outside = LogCorrelation::current().unwrap();
        assert_eq!(outside.trace_id, None);
        assert_eq!(outside.service.as_deref(), Some("shop"));
        let span = tracing::info_span!("request");
        let ids = span.datadog_ids().unwrap();
        let c = span.in_scope(LogCorrelation::current).unwrap();
        assert_eq!(c.trace_id, Some(format!("{:032x}", ids.trace_id.to_u128())));
        assert_eq!(c.span_id, Some(ids.span_id.to_string()));
        assert_eq!(LogCorrelation::for_span(&span), Some(c.clone()));
        let keys: Vec<&str> = c.pairs().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "dd.trace_id",
                "dd.span_id",
                "dd.service",
                "dd.env",
                "dd.version"
            ]
        );
    });
    assert_eq!(LogCorrelation::current(), None, "no DatadogLayer");
}
