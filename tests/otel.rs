//! OpenTelemetry's API on dd-trace, against Datadog's test agent: spans started through
//! `DatadogTracerProvider` and `tracing` spans form one trace both ways, with the mapping of
//! attributes, status, events, exceptions and links, a span context that says what the trace's
//! decision is, and a remote parent from the propagator.

use std::time::Duration;

use dd_trace::integrations::opentelemetry::DatadogPropagator;
use dd_trace::integrations::otel_api::DatadogTracerProvider;
use dd_trace::DatadogSpanExt;
use dd_trace_test_support::{tracer, TestAgent};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use serde_json::Value;

fn span<'a>(spans: &'a [Value], resource: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["resource"] == resource)
        .unwrap_or_else(|| panic!("{resource} in {spans:#?}"))
}

#[test]
fn tracing_and_opentelemetry_spans_form_one_trace_both_ways() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[("DD_SERVICE", "mixed")]);
    let otel = DatadogTracerProvider::new().tracer("payments-lib");
    let (ids, context) = tracing::dispatcher::with_default(&dispatch, || {
        let handle = tracing::info_span!("handle", resource.name = "POST /pay");
        let _entered = handle.enter();
        // An OpenTelemetry span inside a `tracing` span.
        let mut charge = otel.start("charge");
        charge.set_attribute(KeyValue::new("amount", 42));
        charge.set_attribute(KeyValue::new("card.kind", "visa"));
        charge.set_attribute(KeyValue::new(
            "tries",
            opentelemetry::Value::Array(vec![1i64, 2].into()),
        ));
        charge.add_event("authorized", vec![KeyValue::new("code", "A1")]);
        let context = charge.span_context().clone();
        let charge_cx = Context::current_with_span(charge);
        // An OpenTelemetry child of an OpenTelemetry span, through its context.
        let mut fraud = otel.start_with_context("fraud check", &charge_cx);
        fraud.set_status(Status::error("score too high"));
        fraud.record_error(&std::io::Error::other("model timeout"));
        fraud.end();
        // `tracing` spans inside an OpenTelemetry span's `in_span`.
        let _attached = charge_cx.clone().attach();
        otel.in_span("ledger", |_cx| {
            tracing::info_span!("ledger.write", resource.name = "INSERT ledger").in_scope(|| {});
        });
        drop(_attached);
        drop(charge_cx);
        (handle.datadog_ids().unwrap(), context)
    });
    guard.flush().unwrap();
    dd_trace_test_support::wait_until("the five spans at the agent", || agent.spans().len() >= 5);
    let traces = agent.traces();
    assert_eq!(traces.len(), 1, "one trace: {traces:#?}");
    let spans = &traces[0];
    let names: Vec<&Value> = spans.iter().map(|s| &s["resource"]).collect();
    assert_eq!(spans.len(), 5, "{names:?} {traces:#?}");
    let handle = span(spans, "POST /pay");
    let charge = span(spans, "charge");
    let fraud = span(spans, "fraud check");
    let ledger = span(spans, "ledger");
    let write = span(spans, "INSERT ledger");
    assert_eq!(charge["parent_id"], handle["span_id"]);
    assert_eq!(fraud["parent_id"], charge["span_id"]);
    assert_eq!(ledger["parent_id"], charge["span_id"]);
    assert_eq!(
        write["parent_id"], ledger["span_id"],
        "a tracing span inside in_span"
    );
    // The mapping.
    assert_eq!(
        charge["name"], "internal",
        "named by its kind, as the agent names OTLP spans"
    );
    assert_eq!(charge["metrics"]["amount"], 42.0);
    assert_eq!(charge["meta"]["card.kind"], "visa");
    assert_eq!(charge["metrics"]["tries.0"], 1.0);
    assert_eq!(charge["metrics"]["tries.1"], 2.0);
    assert_eq!(charge["meta"]["otel.scope.name"], "payments-lib");
    // Native span events once the agent's /info says it reads them, else the `events` tag.
    let native = charge["span_events"]
        .as_array()
        .is_some_and(|e| e[0]["name"] == "authorized");
    let tagged = charge["meta"]["events"]
        .as_str()
        .is_some_and(|e| e.contains("\"authorized\""));
    assert!(native || tagged, "{charge:#}");
    assert_eq!(fraud["error"], 1);
    assert_eq!(
        fraud["meta"]["error.message"], "model timeout",
        "the exception's message"
    );
    assert!(
        fraud["meta"]["error.stack"]
            .as_str()
            .is_some_and(|s| s.contains("model timeout")),
        "{fraud:#}"
    );
    // The span context says what the trace is.
    assert_eq!(
        u128::from_be_bytes(context.trace_id().to_bytes()),
        ids.trace_id.to_u128()
    );
    assert_eq!(
        u64::from_be_bytes(context.span_id().to_bytes()),
        charge["span_id"].as_u64().unwrap()
    );
    assert!(context.is_sampled());
    assert!(
        context
            .trace_state()
            .get("dd")
            .is_some_and(|dd| dd.contains("s:1")),
        "{:?}",
        context.trace_state()
    );
    drop(guard);
}

#[test]
fn an_opentelemetry_span_continues_a_remote_trace_and_propagates_it() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[]);
    let otel = DatadogTracerProvider::new().tracer("client");
    let propagator = DatadogPropagator::new();
    let incoming: std::collections::HashMap<String, String> = [
        ("x-datadog-trace-id", "1234"),
        ("x-datadog-parent-id", "5678"),
        ("x-datadog-sampling-priority", "2"),
        ("x-datadog-origin", "synthetics"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let outgoing = tracing::dispatcher::with_default(&dispatch, || {
        let cx = propagator.extract(&incoming);
        let server = otel
            .span_builder("GET /items")
            .with_kind(opentelemetry::trace::SpanKind::Server)
            .start_with_context(&otel, &cx);
        let cx = cx.with_span(server);
        let mut out = std::collections::HashMap::new();
        propagator.inject_context(&cx, &mut out);
        cx.span().end();
        out
    });
    guard.flush().unwrap();
    let spans = agent.spans();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let server = &spans[0];
    assert_eq!(server["trace_id"], 1234);
    assert_eq!(server["parent_id"], 5678);
    assert_eq!(server["meta"]["_dd.origin"], "synthetics");
    assert_eq!(server["metrics"]["_sampling_priority_v1"], 2.0);
    assert_eq!(server["meta"]["span.kind"], "server");
    assert_eq!(outgoing["x-datadog-trace-id"], "1234");
    assert_eq!(
        outgoing["x-datadog-parent-id"],
        server["span_id"].as_u64().unwrap().to_string()
    );
    assert_eq!(outgoing["x-datadog-origin"], "synthetics");
    drop(guard);
}

#[test]
fn without_a_datadog_layer_opentelemetry_spans_do_not_record() {
    let otel = DatadogTracerProvider::new().tracer("nowhere");
    tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
        let mut span = otel.start("lost");
        assert!(!span.is_recording());
        assert!(!span.span_context().is_valid());
        span.end_with_timestamp(std::time::SystemTime::now() - Duration::from_millis(5));
    });
}
