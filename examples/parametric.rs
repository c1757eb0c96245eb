//! The parametric test app: Datadog's cross-language tracer test API (DataDog/system-tests,
//! `tests/parametric/`) served over HTTP on `APM_TEST_CLIENT_SERVER_PORT` (default 8080), so
//! dd-trace can be judged by the same contract as Datadog's Go, Java and Python tracers.
//!
//! ```text
//! DD_TRACE_AGENT_URL=http://127.0.0.1:8126 APM_TEST_CLIENT_SERVER_PORT=8080 cargo run --example parametric
//! ```
//!
//! It is configured only by the `DD_*` environment it is given, and drives spans only through
//! the public API a user would use: `tracing` spans with Datadog's field names, the
//! [`DatadogSpanExt`] write API, and `dd_trace::propagation`. So it doubles as a worked example
//! of that API. `tests/parametric/` runs ported scenarios of the suite against it and
//! Datadog's `ddapm-test-agent`; the README says how to point the real suite at it.
//!
//! The suite's client addresses spans by the ids this app returns: a span's Datadog span id,
//! or, for a context read by `/trace/span/extract_headers`, its upstream parent id. A span
//! finished through the API is closed at once (so its trace can be flushed); what the API may
//! still ask of it later (its headers, its baggage, children, links to it) is kept from the
//! moment it finished until the next flush. Keeping its headers means injecting its context as
//! it finishes, which locks its trace's sampling decision, as any injection does (a real
//! service's spans do not outlive their handles, so it has no need for this).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use dd_trace::diagnostics::TracerStatusHandle;
use dd_trace::integrations::otel_api::{DatadogOtelSpan, DatadogOtelTracer, DatadogTracerProvider};
use dd_trace::propagation::{extract, RemoteContext};
use dd_trace::{DatadogGuard, DatadogIds, DatadogSpanExt, Link, TagValue};
use opentelemetry::trace::{
    Span as _, SpanContext, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use serde_json::{json, Value};
use tracing_subscriber::prelude::*;

/// A span the API started.
struct Started {
    /// The open span; `None` once finished.
    span: Option<tracing::Span>,
    ids: DatadogIds,
    /// The API id of its local parent, for `/trace/span/current`.
    local_parent: Option<u64>,
    /// What the API may still ask of a finished span: its headers and baggage at its end.
    headers_at_finish: Vec<(String, String)>,
    baggage_at_finish: Vec<(String, String)>,
}

#[derive(Default)]
struct Registry {
    spans: HashMap<u64, Started>,
    /// Contexts read by `/trace/span/extract_headers`, by the id returned for them.
    extracted: HashMap<u64, RemoteContext>,
    /// The API's "current span": the last started one, back to its local parent on finish.
    current: Option<u64>,
    /// Spans started through OpenTelemetry's API (`/trace/otel/*`), ended ones until the next
    /// flush.
    otel: HashMap<u64, DatadogOtelSpan>,
}

struct App {
    registry: Mutex<Registry>,
    /// OpenTelemetry's tracer, on dd-trace.
    otel: DatadogOtelTracer,
    guard: DatadogGuard,
    status: TracerStatusHandle,
    /// Ids for extracted contexts without a parent span id (baggage alone, restarted traces),
    /// and for spans of a disabled tracer.
    next_synthetic_id: AtomicU64,
}

type Shared = Arc<App>;

fn main() {
    let (layer, guard) = match dd_trace::DatadogLayer::builder().build() {
        Ok(built) => built,
        Err(e) => {
            eprintln!("parametric: the tracer cannot be built: {e}");
            std::process::exit(1);
        }
    };
    let status = layer.status_handle();
    tracing_subscriber::registry().with(layer).init();
    let port: u16 = std::env::var("APM_TEST_CLIENT_SERVER_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let app = Arc::new(App {
        registry: Mutex::new(Registry::default()),
        otel: DatadogTracerProvider::new().tracer("parametric"),
        guard,
        status,
        next_synthetic_id: AtomicU64::new(1),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(serve(Arc::clone(&app), port));
    // Shut down: send what is left.
    drop(runtime);
    if let Ok(app) = Arc::try_unwrap(app) {
        let _ = app.guard.shutdown(Duration::from_secs(2));
    }
}

async fn serve(app: Shared, port: u16) {
    let router = Router::new()
        .route("/trace/span/start", post(start_span))
        .route("/trace/span/finish", post(finish_span))
        .route("/trace/span/set_meta", post(set_meta))
        .route("/trace/span/set_metric", post(set_metric))
        .route("/trace/span/set_resource", post(set_resource))
        .route("/trace/span/error", post(set_error))
        .route("/trace/span/manual_keep", post(manual_keep))
        .route("/trace/span/manual_drop", post(manual_drop))
        .route("/trace/span/inject_headers", post(inject_headers))
        .route("/trace/span/extract_headers", post(extract_headers))
        .route("/trace/span/add_link", post(add_link))
        .route("/trace/span/add_event", post(add_event))
        .route("/trace/span/set_baggage", post(set_baggage))
        .route("/trace/span/get_baggage", get(get_baggage))
        .route("/trace/span/get_all_baggage", get(get_all_baggage))
        .route("/trace/span/remove_baggage", post(remove_baggage))
        .route("/trace/span/remove_all_baggage", post(remove_all_baggage))
        .route("/trace/span/current", get(current_span))
        .route("/trace/span/flush", post(flush))
        .route("/trace/stats/flush", post(stats_flush))
        .route("/trace/otel/flush", post(otel_flush))
        .route("/trace/otel/start_span", post(otel_start_span))
        .route("/trace/otel/end_span", post(otel_end_span))
        .route("/trace/otel/set_attributes", post(otel_set_attributes))
        .route("/trace/otel/set_name", post(otel_set_name))
        .route("/trace/otel/set_status", post(otel_set_status))
        .route("/trace/otel/add_event", post(otel_add_event))
        .route("/trace/otel/record_exception", post(otel_record_exception))
        .route("/trace/otel/is_recording", post(otel_is_recording))
        .route("/trace/otel/span_context", post(otel_span_context))
        .route("/trace/config", get(config))
        .route("/trace/agent/ensure_agent_info", get(ensure_agent_info))
        .route("/trace/crash", get(crash))
        .with_state(app);
    let listener = match tokio::net::TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("parametric: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    let shutdown = async {
        // SIGTERM (the suite stops containers with it; as PID 1 nothing else would stop us).
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    let _ = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
}

type State = axum::extract::State<Shared>;

/// The request body as JSON (`{}` when empty: some calls are GETs with a body, some without).
fn body(bytes: &Bytes) -> Value {
    if bytes.is_empty() {
        return json!({});
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| json!({}))
}

fn reply(value: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// An id the client sent: a JSON number, a decimal string or `0x…` hex.
fn id(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        },
        _ => None,
    }
    .filter(|id| *id != 0)
}

/// A string field that counts only when present and not empty.
fn text<'a>(request: &'a Value, key: &str) -> Option<&'a str> {
    request[key].as_str().filter(|s| !s.is_empty())
}

impl App {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the open span the request's `span_id` names.
    fn with_span(&self, request: &Value, f: impl FnOnce(&tracing::Span)) {
        let span =
            id(&request["span_id"]).and_then(|id| self.registry().spans.get(&id)?.span.clone());
        if let Some(span) = span {
            f(&span);
        }
    }
}

async fn start_span(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let name = request["name"].as_str().unwrap_or("span").to_string();
    let parent = id(&request["parent_id"]);
    // What the parent is: an open local span, a finished one (continued from its headers),
    // an extracted context, or nothing (a new trace).
    enum Parent {
        Local(tracing::Span, u64),
        Remote(RemoteContext),
        Root,
    }
    let parent = {
        let registry = app.registry();
        match parent {
            None => Parent::Root,
            Some(pid) => match registry.spans.get(&pid) {
                // An OpenTelemetry span of this app.
                None if registry.otel.contains_key(&pid) => {
                    let span = registry.otel[&pid].tracing_span().clone();
                    if span.is_disabled() {
                        Parent::Root
                    } else {
                        Parent::Local(span, pid)
                    }
                }
                Some(started) => match &started.span {
                    Some(span) => Parent::Local(span.clone(), pid),
                    None => match extract(&started.headers_at_finish) {
                        Some(context) => Parent::Remote(context),
                        None => Parent::Root,
                    },
                },
                None => match registry.extracted.get(&pid) {
                    Some(context) => Parent::Remote(context.clone()),
                    None => Parent::Root,
                },
            },
        }
    };
    let parent_span = match &parent {
        Parent::Local(span, _) => span.id(),
        _ => None,
    };
    let span = tracing::info_span!(
        parent: parent_span,
        "parametric.span",
        operation.name = %name,
        service.name = tracing::field::Empty,
        resource.name = tracing::field::Empty,
        span.type = tracing::field::Empty,
    );
    if let Some(service) = text(&request, "service") {
        span.record("service.name", service);
    }
    if let Some(resource) = text(&request, "resource") {
        span.record("resource.name", resource);
    }
    if let Some(kind) = text(&request, "type") {
        span.record("span.type", kind);
    }
    if let Parent::Remote(context) = &parent {
        span.set_parent(context.clone());
    }
    if let Some(tags) = request["span_tags"].as_array() {
        for pair in tags {
            if let (Some(k), Some(v)) = (pair[0].as_str(), pair[1].as_str()) {
                span.set_tag(k.to_string(), v);
            }
        }
    }
    // With tracing disabled (DD_TRACE_ENABLED=false) the span has no Datadog ids: the app
    // still answers, with ids of its own for the suite to refer to the span by.
    let ids = span.datadog_ids().unwrap_or_else(|| {
        let id = (1 << 63) | app.next_synthetic_id.fetch_add(1, Ordering::Relaxed);
        DatadogIds {
            trace_id: dd_trace::TraceId::from_parts(0, id),
            span_id: dd_trace::SpanId::new(id).expect("non-zero"),
        }
    });
    let span_id = ids.span_id.to_u64();
    let mut registry = app.registry();
    registry.spans.insert(
        span_id,
        Started {
            span: Some(span),
            ids,
            local_parent: match parent {
                Parent::Local(_, pid) => Some(pid),
                _ => None,
            },
            headers_at_finish: Vec::new(),
            baggage_at_finish: Vec::new(),
        },
    );
    registry.current = Some(span_id);
    reply(json!({"span_id": span_id, "trace_id": ids.trace_id.low()}))
}

async fn finish_span(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let Some(span_id) = id(&request["span_id"]) else {
        return reply(json!({}));
    };
    let taken = {
        let mut registry = app.registry();
        let Some(started) = registry.spans.get_mut(&span_id) else {
            return reply(json!({}));
        };
        let parent = started.local_parent;
        let span = started.span.take();
        if registry.current == Some(span_id) {
            registry.current = parent;
        }
        span
    };
    if let Some(span) = taken {
        // What the API may ask of the span after its end.
        let mut headers = Vec::new();
        span.inject_context(&mut headers);
        let baggage = span.baggage();
        // Its end is now: entered and exited, then closed when the handle goes.
        drop(span.enter());
        drop(span);
        if let Some(started) = app.registry().spans.get_mut(&span_id) {
            started.headers_at_finish = headers;
            started.baggage_at_finish = baggage;
        }
    }
    reply(json!({}))
}

/// `value` as a tag: strings, booleans and numbers as themselves, `null` as an empty string
/// (`manual.keep` with no value keeps), anything else as its JSON.
fn set_json_tag(span: &tracing::Span, key: &str, value: &Value) {
    let key = key.to_string();
    match value {
        Value::String(s) => span.set_tag(key, s.as_str()),
        Value::Bool(b) => span.set_tag(key, *b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => span.set_tag(key, i),
            (None, Some(f)) => span.set_tag(key, f),
            _ => {}
        },
        Value::Null => span.set_tag(key, ""),
        other => span.set_tag(key, other.to_string().as_str()),
    }
}

async fn set_meta(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let key = request["key"].as_str().unwrap_or_default().to_string();
    app.with_span(&request, |span| set_json_tag(span, &key, &request["value"]));
    reply(json!({}))
}

async fn set_metric(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let key = request["key"].as_str().unwrap_or_default().to_string();
    app.with_span(&request, |span| {
        if let Some(v) = request["value"].as_f64() {
            span.set_tag(key, v);
        }
    });
    reply(json!({}))
}

async fn set_resource(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    app.with_span(&request, |span| {
        if let Some(resource) = request["resource"].as_str() {
            span.set_resource(resource);
        }
    });
    reply(json!({}))
}

async fn set_error(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    app.with_span(&request, |span| {
        span.set_tag("error", true);
        for (field, tag) in [
            ("type", "error.type"),
            ("message", "error.message"),
            ("stack", "error.stack"),
        ] {
            if let Some(v) = text(&request, field) {
                span.set_tag(tag, v);
            }
        }
    });
    reply(json!({}))
}

async fn manual_keep(axum::extract::State(app): State, bytes: Bytes) -> Response {
    app.with_span(&body(&bytes), |span| span.keep_trace());
    reply(json!({}))
}

async fn manual_drop(axum::extract::State(app): State, bytes: Bytes) -> Response {
    app.with_span(&body(&bytes), |span| span.drop_trace());
    reply(json!({}))
}

async fn inject_headers(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let mut headers: Vec<(String, String)> = Vec::new();
    let finished = {
        let registry = app.registry();
        id(&request["span_id"])
            .and_then(|id| registry.spans.get(&id))
            .map(|s| (s.span.clone(), s.headers_at_finish.clone()))
    };
    match finished {
        Some((Some(span), _)) => span.inject_context(&mut headers),
        Some((None, at_finish)) => headers = at_finish,
        None => {}
    }
    let pairs: Vec<Value> = headers
        .into_iter()
        .map(|(k, v)| json!([k.to_ascii_lowercase(), v]))
        .collect();
    reply(json!({"http_headers": pairs}))
}

async fn extract_headers(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let headers: Vec<(String, String)> = request["http_headers"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let Some(context) = extract(&headers) else {
        return reply(json!({"span_id": null}));
    };
    // The upstream parent's id when there is one (the suite reuses the header's value);
    // otherwise an id of our own for what the context carries (baggage, links).
    let parent = context.trace_id().and(context.parent_id());
    let key = if let Some(parent) = parent {
        parent.to_u64()
    } else {
        (1 << 63) | app.next_synthetic_id.fetch_add(1, Ordering::Relaxed)
    };
    app.registry().extracted.insert(key, context);
    reply(json!({"span_id": key}))
}

/// Link attributes as the suite sends them; arrays become `key.0`, `key.1`, …
fn link_attributes(link: Link, attributes: &Value) -> Link {
    let Some(map) = attributes.as_object() else {
        return link;
    };
    let mut link = link;
    let as_text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (k, v) in map {
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    link = link.with_attribute(format!("{k}.{i}"), as_text(item));
                }
            }
            other => link = link.with_attribute(k.clone(), as_text(other)),
        }
    }
    link
}

async fn add_link(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let target = {
        let registry = app.registry();
        id(&request["parent_id"]).and_then(|pid| match registry.spans.get(&pid) {
            Some(started) => match &started.span {
                Some(_) => Some(Link::to_span(started.ids)),
                None => extract(&started.headers_at_finish)
                    .and_then(|c| Link::to_context(&c))
                    .or(Some(Link::to_span(started.ids))),
            },
            None => registry.extracted.get(&pid).and_then(Link::to_context),
        })
    };
    if let Some(link) = target {
        let link = link_attributes(link, &request["attributes"]);
        app.with_span(&request, |span| span.add_link(link));
    }
    reply(json!({}))
}

async fn add_event(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let name = request["name"].as_str().unwrap_or("event").to_string();
    // Microseconds since the epoch, as the suite sends them.
    let time = request["timestamp"]
        .as_u64()
        .map_or_else(SystemTime::now, |us| UNIX_EPOCH + Duration::from_micros(us));
    let attributes: Vec<(String, Value)> = request["attributes"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let texts: Vec<String> = attributes
        .iter()
        .map(|(_, v)| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let typed: Vec<(&str, TagValue<'_>)> = attributes
        .iter()
        .zip(&texts)
        .map(|((k, v), text)| {
            let value = match v {
                Value::Bool(b) => TagValue::Bool(*b),
                Value::Number(n) if n.is_i64() => TagValue::I64(n.as_i64().unwrap_or_default()),
                Value::Number(n) => TagValue::F64(n.as_f64().unwrap_or_default()),
                _ => TagValue::from(text),
            };
            (k.as_str(), value)
        })
        .collect();
    app.with_span(&request, |span| span.add_event(&name, time, &typed));
    reply(json!({}))
}

async fn set_baggage(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    if let (Some(k), Some(v)) = (request["key"].as_str(), request["value"].as_str()) {
        app.with_span(&request, |span| span.set_baggage_item(k, v));
    }
    reply(json!({}))
}

/// The baggage of the span the request names, open or finished.
fn baggage_of(app: &App, request: &Value) -> Vec<(String, String)> {
    let started = {
        let registry = app.registry();
        id(&request["span_id"])
            .and_then(|id| registry.spans.get(&id))
            .map(|s| (s.span.clone(), s.baggage_at_finish.clone()))
    };
    match started {
        Some((Some(span), _)) => span.baggage(),
        Some((None, at_finish)) => at_finish,
        None => Vec::new(),
    }
}

async fn get_baggage(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let key = request["key"].as_str().unwrap_or_default();
    let value = baggage_of(&app, &request)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v);
    reply(json!({"baggage": value}))
}

async fn get_all_baggage(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let all: serde_json::Map<String, Value> = baggage_of(&app, &request)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    reply(json!({"baggage": all}))
}

async fn remove_baggage(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    if let Some(k) = request["key"].as_str() {
        app.with_span(&request, |span| span.remove_baggage_item(k));
    }
    reply(json!({}))
}

async fn remove_all_baggage(axum::extract::State(app): State, bytes: Bytes) -> Response {
    app.with_span(&body(&bytes), |span| {
        for (k, _) in span.baggage() {
            span.remove_baggage_item(&k);
        }
    });
    reply(json!({}))
}

async fn current_span(axum::extract::State(app): State) -> Response {
    let registry = app.registry();
    let current = registry
        .current
        .and_then(|id| registry.spans.get(&id))
        .map(|s| (s.ids.span_id.to_u64(), s.ids.trace_id.low()));
    let (span_id, trace_id) = current.unwrap_or((0, 0));
    reply(json!({"span_id": span_id, "trace_id": trace_id}))
}

async fn flush(axum::extract::State(app): State) -> Response {
    // Blocking until the agent has answered: off the async threads.
    let outcome = tokio::task::spawn_blocking({
        let app = Arc::clone(&app);
        move || app.guard.flush_timeout(Duration::from_secs(5))
    })
    .await;
    {
        let mut registry = app.registry();
        registry.spans.retain(|_, s| s.span.is_some());
        registry.extracted.clear();
    }
    match outcome {
        Ok(Ok(_)) => reply(json!({"success": true})),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn stats_flush(state: State) -> Response {
    // A flush sends the client-side stats so far too (when they are on).
    flush(state).await
}

async fn otel_flush(state: State) -> Response {
    let app = Arc::clone(&state.0);
    let response = flush(state).await;
    app.registry().otel.retain(|_, span| span.is_recording());
    response
}

/// A wall-clock time the suite gives in microseconds since the Unix epoch.
fn micros(value: &Value) -> Option<SystemTime> {
    value
        .as_u64()
        .map(|us| UNIX_EPOCH + Duration::from_micros(us))
}

/// The suite's attributes (a JSON object) as OpenTelemetry's.
fn key_values(value: &Value) -> Vec<opentelemetry::KeyValue> {
    let Some(object) = value.as_object() else {
        return Vec::new();
    };
    object
        .iter()
        .filter_map(|(k, v)| Some(opentelemetry::KeyValue::new(k.clone(), otel_value(v)?)))
        .collect()
}

fn otel_value(v: &Value) -> Option<opentelemetry::Value> {
    use opentelemetry::{Array, StringValue, Value as V};
    Some(match v {
        Value::Bool(b) => V::Bool(*b),
        Value::Number(n) if n.is_i64() || n.is_u64() => V::I64(n.as_i64().unwrap_or(i64::MAX)),
        Value::Number(n) => V::F64(n.as_f64()?),
        Value::String(s) => V::String(s.clone().into()),
        Value::Array(items) => match items.first()? {
            Value::Bool(_) => V::Array(Array::Bool(
                items.iter().filter_map(Value::as_bool).collect(),
            )),
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                V::Array(Array::I64(items.iter().filter_map(Value::as_i64).collect()))
            }
            Value::Number(_) => {
                V::Array(Array::F64(items.iter().filter_map(Value::as_f64).collect()))
            }
            _ => V::Array(Array::String(
                items
                    .iter()
                    .map(|i| {
                        StringValue::from(i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    })
                    .collect(),
            )),
        },
        _ => return None,
    })
}

impl App {
    /// The span context of the span (OpenTelemetry's or Datadog's) the API knows by `id`.
    fn span_context_of(&self, id: u64) -> Option<SpanContext> {
        let registry = self.registry();
        if let Some(span) = registry.otel.get(&id) {
            return Some(span.span_context().clone());
        }
        let started = registry.spans.get(&id)?;
        Some(SpanContext::new(
            opentelemetry::trace::TraceId::from(started.ids.trace_id.to_u128()),
            opentelemetry::trace::SpanId::from(started.ids.span_id.to_u64()),
            opentelemetry::trace::TraceFlags::SAMPLED,
            false,
            Default::default(),
        ))
    }

    /// Runs `f` on the OpenTelemetry span the request's `span_id` (or `id`) names.
    fn with_otel(&self, request: &Value, f: impl FnOnce(&mut DatadogOtelSpan)) {
        let key = id(&request["span_id"]).or_else(|| id(&request["id"]));
        if let Some(span) = key.and_then(|k| self.registry().otel.remove(&k).map(|s| (k, s))) {
            let (k, mut span) = span;
            f(&mut span);
            self.registry().otel.insert(k, span);
        }
    }
}

async fn otel_start_span(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let name = request["name"].as_str().unwrap_or("span").to_string();
    // OpenTelemetry Python's numbering, as the suite sends it.
    let kind = match request["span_kind"].as_u64() {
        Some(1) => opentelemetry::trace::SpanKind::Server,
        Some(2) => opentelemetry::trace::SpanKind::Client,
        Some(3) => opentelemetry::trace::SpanKind::Producer,
        Some(4) => opentelemetry::trace::SpanKind::Consumer,
        _ => opentelemetry::trace::SpanKind::Internal,
    };
    let mut builder = app
        .otel
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(key_values(&request["attributes"]));
    if let Some(start) = micros(&request["timestamp"]) {
        builder = builder.with_start_time(start);
    }
    let links: Vec<opentelemetry::trace::Link> = request["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let sc = app.span_context_of(id(&l["parent_id"])?)?;
            Some(opentelemetry::trace::Link::new(
                sc,
                key_values(&l["attributes"]),
                0,
            ))
        })
        .collect();
    builder = builder.with_links(links);
    // The parent: a span of this app (OpenTelemetry's or Datadog's), an extracted context,
    // or none.
    let parent = id(&request["parent_id"]);
    let dd_parent = parent.and_then(|p| app.registry().spans.get(&p)?.span.clone());
    let span = match (parent, dd_parent) {
        (_, Some(dd)) => dd.in_scope(|| {
            app.otel
                .build_with_context(builder, &opentelemetry::Context::new())
        }),
        (Some(p), None) => {
            let extracted = app.registry().extracted.get(&p).map(|c| {
                SpanContext::new(
                    opentelemetry::trace::TraceId::from(c.trace_id().map_or(0, |t| t.to_u128())),
                    opentelemetry::trace::SpanId::from(c.parent_id().map_or(0, |s| s.to_u64())),
                    if c.sampling_priority().is_some_and(|p| p.is_keep()) {
                        opentelemetry::trace::TraceFlags::SAMPLED
                    } else {
                        opentelemetry::trace::TraceFlags::default()
                    },
                    true,
                    c.tracestate()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or_default(),
                )
            });
            let sc = extracted.or_else(|| app.span_context_of(p));
            let cx = match sc {
                Some(sc) => opentelemetry::Context::new().with_remote_span_context(sc),
                None => opentelemetry::Context::new(),
            };
            app.otel.build_with_context(builder, &cx)
        }
        (None, None) => app
            .otel
            .build_with_context(builder, &opentelemetry::Context::new()),
    };
    let mut span = span;
    for event in request["events"].as_array().into_iter().flatten() {
        let time = micros(&event["timestamp"]).unwrap_or_else(SystemTime::now);
        span.add_event_with_timestamp(
            event["name"].as_str().unwrap_or("event").to_string(),
            time,
            key_values(&event["attributes"]),
        );
    }
    finish_start(&app, span)
}

fn finish_start(app: &App, span: DatadogOtelSpan) -> Response {
    let sc = span.span_context().clone();
    let (span_id, trace_id) = if sc.is_valid() {
        (
            u64::from_be_bytes(sc.span_id().to_bytes()),
            u128::from_be_bytes(sc.trace_id().to_bytes()) as u64,
        )
    } else {
        let id = (1 << 63) | app.next_synthetic_id.fetch_add(1, Ordering::Relaxed);
        (id, id)
    };
    app.registry().otel.insert(span_id, span);
    reply(json!({"span_id": span_id, "trace_id": trace_id}))
}

async fn otel_end_span(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    app.with_otel(&request, |span| match micros(&request["timestamp"]) {
        Some(at) => span.end_with_timestamp(at),
        None => span.end(),
    });
    reply(json!({}))
}

async fn otel_set_attributes(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    app.with_otel(&request, |span| {
        span.set_attributes(key_values(&request["attributes"]))
    });
    reply(json!({}))
}

async fn otel_set_name(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let name = request["name"].as_str().unwrap_or_default().to_string();
    app.with_otel(&request, |span| span.update_name(name));
    reply(json!({}))
}

async fn otel_set_status(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let description = request["description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let status = match request["code"].as_str().unwrap_or_default() {
        "OK" => opentelemetry::trace::Status::Ok,
        "ERROR" => opentelemetry::trace::Status::error(description),
        _ => opentelemetry::trace::Status::Unset,
    };
    app.with_otel(&request, |span| span.set_status(status));
    reply(json!({}))
}

async fn otel_add_event(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let name = request["name"].as_str().unwrap_or("event").to_string();
    let time = micros(&request["timestamp"]).unwrap_or_else(SystemTime::now);
    app.with_otel(&request, |span| {
        span.add_event_with_timestamp(name, time, key_values(&request["attributes"]))
    });
    reply(json!({}))
}

async fn otel_record_exception(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let message = request["message"].as_str().unwrap_or_default().to_string();
    app.with_otel(&request, |span| {
        let mut attributes = vec![
            opentelemetry::KeyValue::new("exception.message", message),
            opentelemetry::KeyValue::new("exception.type", "Exception"),
        ];
        attributes.extend(key_values(&request["attributes"]));
        span.add_event_with_timestamp("exception", SystemTime::now(), attributes);
    });
    reply(json!({}))
}

async fn otel_is_recording(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let mut recording = false;
    app.with_otel(&request, |span| recording = span.is_recording());
    reply(json!({"is_recording": recording}))
}

async fn otel_span_context(axum::extract::State(app): State, bytes: Bytes) -> Response {
    let request = body(&bytes);
    let Some(sc) = id(&request["span_id"]).and_then(|id| app.span_context_of(id)) else {
        return reply(json!({}));
    };
    reply(json!({
        "trace_id": format!("{:032x}", u128::from_be_bytes(sc.trace_id().to_bytes())),
        "span_id": format!("{:016x}", u64::from_be_bytes(sc.span_id().to_bytes())),
        "trace_flags": format!("{:02x}", sc.trace_flags().to_u8()),
        "trace_state": sc.trace_state().header(),
        "remote": sc.is_remote(),
    }))
}

async fn ensure_agent_info(axum::extract::State(app): State) -> Response {
    // The worker asks the agent's /info at start: wait (up to 5 s) for the answer, and say
    // whether it came. An agent without /info (404) never makes this ready.
    let mut ready = false;
    for _ in 0..200 {
        ready = app.status.status().agent.info.is_some();
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    reply(json!({"ready": ready}))
}

async fn crash() -> Response {
    std::process::abort();
}

async fn config(axum::extract::State(app): State) -> Response {
    let status = app.status.status();
    let var = |name: &str| {
        status
            .configuration
            .iter()
            .find(|setting| setting.name == name)
            .map(|setting| setting.value.clone())
            .filter(|v| !v.is_empty())
    };
    let sample_rate = var("DD_TRACE_SAMPLE_RATE").map(|r| {
        // As a float, the way the suite parses it.
        r.parse::<f64>().map_or(r, |f| format!("{f:?}"))
    });
    let env_var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // DogStatsD's address as the table shows it: `udp://host:port` or `unix:///path`.
    let dogstatsd = var("DD_DOGSTATSD_URL").unwrap_or_default();
    let (dsd_host, dsd_port) = match dogstatsd
        .strip_prefix("udp://")
        .and_then(|a| a.rsplit_once(':'))
    {
        Some((host, port)) => (Some(host.to_string()), Some(port.to_string())),
        None => (None, None),
    };
    let config = json!({
        "dd_service": var("DD_SERVICE"),
        "dd_env": var("DD_ENV"),
        "dd_version": var("DD_VERSION"),
        "dd_tags": var("DD_TAGS"),
        "dd_trace_enabled": var("DD_TRACE_ENABLED"),
        "dd_trace_debug": var("DD_TRACE_DEBUG"),
        "dd_trace_sample_rate": sample_rate,
        "dd_trace_rate_limit": var("DD_TRACE_RATE_LIMIT"),
        "dd_trace_propagation_style": var("DD_TRACE_PROPAGATION_STYLE_EXTRACT"),
        "dd_trace_agent_url": var("DD_TRACE_AGENT_URL"),
        "dd_logs_injection": var("DD_LOGS_INJECTION"),
        // Not part of dd-trace: reported as the variables give them, or the defaults.
        "dd_trace_otel_enabled": env_var("DD_TRACE_OTEL_ENABLED").unwrap_or_else(|| "false".into()),
        "dd_runtime_metrics_enabled": var("DD_RUNTIME_METRICS_ENABLED"),
        "dd_profiling_enabled": "false",
        "dd_data_streams_enabled": "false",
        "dd_log_level": Value::Null,
        "dd_dogstatsd_host": dsd_host,
        "dd_dogstatsd_port": dsd_port,
        "dd_trace_sample_ignore_parent": Value::Null,
    });
    reply(json!({"config": config}))
}
