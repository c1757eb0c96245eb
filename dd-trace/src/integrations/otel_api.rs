//! OpenTelemetry's tracing API on dd-trace (feature `opentelemetry`, `opentelemetry` 0.33): a
//! [`DatadogTracerProvider`] whose spans are dd-trace spans, in the same local traces, sampling,
//! propagation and worker as `tracing` spans.
//!
//! In: calls of OpenTelemetry's `Tracer` and `Span` API, on the app's threads. Out: a `tracing`
//! span per OpenTelemetry span, made through the app's subscriber (so the `DatadogLayer`
//! records it), named and typed by the semantic-convention mapping (its OpenTelemetry name as
//! `otel.name`, its kind as `otel.kind`), with:
//! - attributes as tags (strings and booleans in `meta`, numbers in `metrics`, arrays
//!   flattened as `key.0`, `key.1`, …);
//! - the status as the error (`Error` sets `error`, its description as `error.message`; `Ok`
//!   clears it and wins over a later `Error`, as OpenTelemetry says);
//! - events as span events; an `exception` event (`record_error`) also as `error.message`,
//!   `error.type` and `error.stack`;
//! - links as span links; `update_name` as the operation's name;
//! - explicit start and end times kept.
//!
//! Parents, both ways: an OpenTelemetry span started while a `tracing` span is current is its
//! child; one started in a context whose span is another OpenTelemetry span of this provider is
//! that span's child; in a context holding a remote span context (from a propagator), it
//! continues that trace. A `tracing` span started inside an OpenTelemetry span's context
//! (`Tracer::in_span`, or an attached context with no `tracing` span current) is that span's
//! child. The span context (`span_context()`) has the trace's 128-bit id, the span's Datadog id,
//! the sampled flag of the trace's decision, and the `tracestate` with the `dd=` member a
//! Datadog tracer sends; `is_recording()` says whether dd-trace records the span.
//!
//! ```
//! use opentelemetry::trace::{Span, Tracer, TracerProvider};
//!
//! # let test = dd_trace::testing::TestTracer::new();
//! # test.in_scope(|| {
//! let tracer = dd_trace::integrations::otel_api::DatadogTracerProvider::new().tracer("checkout");
//! let parent = tracing::info_span!("handle");
//! let _entered = parent.enter();
//! let mut span = tracer.start("charge card"); // a child of `handle`
//! span.set_attribute(opentelemetry::KeyValue::new("amount", 42));
//! span.end();
//! # });
//! # let spans = test.spans();
//! # let charge = spans.iter().find(|s| s.resource == "charge card").unwrap();
//! # let handle = spans.iter().find(|s| s.name == "handle").unwrap();
//! # assert_eq!(charge.parent_id, handle.span_id);
//! # assert_eq!(charge.metrics["amount"], 42.0);
//! ```

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{
    SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceState,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue, Value};

use super::opentelemetry::remote_parent;
use crate::layer::ext::{set_plain_tag, set_times, w3c_view};
use crate::layer::otel;
use crate::layer::{DatadogLayer, DatadogSpanExt, Link, TagValue};

/// An OpenTelemetry `TracerProvider` backed by dd-trace: install it with
/// `opentelemetry::global::set_tracer_provider(DatadogTracerProvider::new())`, or hand it to
/// the libraries that take one. It needs the app's `tracing` subscriber to hold a
/// `DatadogLayer` (without one, its spans do not record).
#[derive(Clone, Debug, Default)]
pub struct DatadogTracerProvider {
    _private: (),
}

impl DatadogTracerProvider {
    /// The provider.
    pub fn new() -> Self {
        Self::default()
    }
}

impl opentelemetry::trace::TracerProvider for DatadogTracerProvider {
    type Tracer = DatadogOtelTracer;

    fn tracer_with_scope(&self, scope: InstrumentationScope) -> Self::Tracer {
        DatadogOtelTracer { scope }
    }
}

/// The OpenTelemetry `Tracer` of a [`DatadogTracerProvider`].
#[derive(Clone, Debug)]
pub struct DatadogOtelTracer {
    scope: InstrumentationScope,
}

/// Whether the current subscriber's `DatadogLayer` takes OpenTelemetry API spans
/// (`DD_TRACE_OTEL_ENABLED`, or `OTEL_SDK_DISABLED`).
fn api_enabled() -> bool {
    tracing::dispatcher::get_default(|d| {
        d.downcast_ref::<DatadogLayer>()
            .map(|layer| layer.config().settings().otel_api_enabled.value)
    })
    .unwrap_or(true)
}

/// A `tracing` span for an OpenTelemetry span, with the context chosen as the module docs say
/// (a disabled one when the OpenTelemetry API is off).
fn make_span(kind: &str, name: &str, parent_cx: &Context) -> tracing::Span {
    if !api_enabled() {
        return tracing::Span::none();
    }
    if parent_cx.has_active_span() {
        let id = u64::from_be_bytes(parent_cx.span().span_context().span_id().to_bytes());
        if let Some(parent) = otel::lookup(id) {
            return tracing::info_span!(parent: &parent, "otel.span", otel.name = %name, otel.kind = kind);
        }
        if let Some(remote) = remote_parent(parent_cx) {
            let span =
                tracing::info_span!(parent: None, "otel.span", otel.name = %name, otel.kind = kind);
            span.set_parent(remote);
            return span;
        }
    }
    tracing::info_span!("otel.span", otel.name = %name, otel.kind = kind)
}

fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

impl opentelemetry::trace::Tracer for DatadogOtelTracer {
    type Span = DatadogOtelSpan;

    fn build_with_context(
        &self,
        builder: opentelemetry::trace::SpanBuilder,
        parent_cx: &Context,
    ) -> DatadogOtelSpan {
        let kind = kind_name(builder.span_kind.as_ref().unwrap_or(&SpanKind::Internal));
        let span = make_span(kind, &builder.name, parent_cx);
        let mut otel_span = DatadogOtelSpan::new(span);
        if !self.scope.name().is_empty() {
            otel_span
                .tracing
                .set_tag("otel.scope.name", self.scope.name().to_string());
        }
        for kv in builder.attributes.into_iter().flatten() {
            opentelemetry::trace::Span::set_attribute(&mut otel_span, kv);
        }
        for link in builder.links.into_iter().flatten() {
            opentelemetry::trace::Span::add_link(
                &mut otel_span,
                link.span_context,
                link.attributes,
            );
        }
        for event in builder.events.into_iter().flatten() {
            opentelemetry::trace::Span::add_event_with_timestamp(
                &mut otel_span,
                event.name,
                event.timestamp,
                event.attributes,
            );
        }
        if builder.start_time.is_some() {
            set_times(&otel_span.tracing, builder.start_time, None);
        }
        otel_span
    }

    fn in_span_with_builder<T, F>(&self, builder: opentelemetry::trace::SpanBuilder, f: F) -> T
    where
        F: FnOnce(Context) -> T,
        Self::Span: Send + Sync + 'static,
    {
        let span = Context::map_current(|cx| self.build_with_context(builder, cx));
        let tracing_span = span.tracing.clone();
        let cx = Context::current_with_span(span);
        let _attached = cx.clone().attach();
        // `tracing` spans made inside are this span's children too.
        tracing_span.in_scope(|| f(cx))
    }
}

/// An OpenTelemetry span recorded by dd-trace (see the [module docs](self)); dropping it ends
/// it.
#[derive(Debug)]
pub struct DatadogOtelSpan {
    tracing: tracing::Span,
    context: SpanContext,
    /// `Ok` was set: a later `Error` does not change it.
    status_ok: bool,
    ended: bool,
}

impl DatadogOtelSpan {
    fn new(tracing: tracing::Span) -> Self {
        let context = match w3c_view(&tracing) {
            Some((trace_id, span_id, sampled, tracestate)) => {
                otel::register(span_id, tracing.clone());
                SpanContext::new(
                    opentelemetry::trace::TraceId::from(trace_id.to_u128()),
                    opentelemetry::trace::SpanId::from(span_id),
                    if sampled {
                        TraceFlags::SAMPLED
                    } else {
                        TraceFlags::default()
                    },
                    false,
                    tracestate.parse::<TraceState>().unwrap_or_default(),
                )
            }
            None => SpanContext::empty_context(),
        };
        DatadogOtelSpan {
            tracing,
            context,
            status_ok: false,
            ended: false,
        }
    }

    /// The `tracing` span that stands for this span (enter it to make `tracing` spans its
    /// children).
    pub fn tracing_span(&self) -> &tracing::Span {
        &self.tracing
    }

    fn set_value(&self, key: Cow<'static, str>, value: Value) {
        match value {
            Value::Bool(b) => self.tracing.set_tag(key, b),
            Value::I64(i) => self.tracing.set_tag(key, i),
            Value::F64(f) => self.tracing.set_tag(key, f),
            Value::String(s) => self.tracing.set_tag(key, s.to_string()),
            Value::Array(array) => {
                use opentelemetry::Array;
                let items: Vec<Value> = match array {
                    Array::Bool(v) => v.into_iter().map(Value::Bool).collect(),
                    Array::I64(v) => v.into_iter().map(Value::I64).collect(),
                    Array::F64(v) => v.into_iter().map(Value::F64).collect(),
                    Array::String(v) => v.into_iter().map(Value::String).collect(),
                    _ => Vec::new(),
                };
                for (i, item) in items.into_iter().enumerate() {
                    self.set_value(Cow::Owned(format!("{key}.{i}")), item);
                }
            }
            other => self.tracing.set_tag(key, other.to_string()),
        }
    }
}

/// An attribute's value as a span event's.
fn event_value(value: &Value) -> TagValue<'static> {
    match value {
        Value::Bool(b) => TagValue::Bool(*b),
        Value::I64(i) => TagValue::I64(*i),
        Value::F64(f) => TagValue::F64(*f),
        other => TagValue::Str(Cow::Owned(other.to_string())),
    }
}

impl opentelemetry::trace::Span for DatadogOtelSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        let name = name.into();
        if name == "exception" {
            for (attribute, tag) in [
                ("exception.message", "error.message"),
                ("exception.type", "error.type"),
                ("exception.stacktrace", "error.stack"),
            ] {
                if let Some(kv) = attributes.iter().find(|kv| kv.key.as_str() == attribute) {
                    // The tags, not the error: recording an exception leaves the status alone.
                    set_plain_tag(&self.tracing, tag, &kv.value.to_string());
                }
            }
        }
        let values: Vec<(String, TagValue<'static>)> = attributes
            .iter()
            .map(|kv| (kv.key.to_string(), event_value(&kv.value)))
            .collect();
        let borrowed: Vec<(&str, TagValue<'_>)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        self.tracing.add_event(&name, timestamp, &borrowed);
    }

    /// As OpenTelemetry does (an `exception` event with its message), with the error's chain of
    /// sources as `exception.stacktrace`; the span's tags take both (`error.message`,
    /// `error.stack`), and its status is left as it is.
    fn record_error(&mut self, err: &dyn std::error::Error) {
        if !self.is_recording() {
            return;
        }
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str("\ncaused by: ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        let attributes = vec![
            KeyValue::new("exception.message", err.to_string()),
            KeyValue::new("exception.stacktrace", chain),
        ];
        self.add_event_with_timestamp("exception", SystemTime::now(), attributes);
    }

    fn span_context(&self) -> &SpanContext {
        &self.context
    }

    fn is_recording(&self) -> bool {
        !self.ended && self.context.is_valid()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        self.set_value(Cow::Owned(attribute.key.to_string()), attribute.value);
    }

    fn set_status(&mut self, status: Status) {
        match status {
            Status::Unset => {}
            Status::Ok => {
                self.status_ok = true;
                self.tracing.set_tag("error", false);
            }
            Status::Error { description } if !self.status_ok => {
                self.tracing.set_tag("error", true);
                if !description.is_empty() {
                    self.tracing
                        .set_tag("error.message", description.to_string());
                }
            }
            Status::Error { .. } => {}
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        self.tracing
            .set_tag("otel.name", new_name.into().to_string());
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        let cx = Context::new().with_remote_span_context(span_context);
        let Some(link) = remote_parent(&cx).and_then(|remote| Link::to_context(&remote)) else {
            return;
        };
        let link = attributes.into_iter().fold(link, |link, kv| {
            link.with_attribute(kv.key.to_string(), kv.value.to_string())
        });
        self.tracing.add_link(link);
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if self.ended {
            return;
        }
        self.ended = true;
        set_times(&self.tracing, None, Some(timestamp));
        if self.context.is_valid() {
            otel::unregister(u64::from_be_bytes(self.context.span_id().to_bytes()));
        }
        // The span closes when its last handle goes: replace ours with a disabled one.
        self.tracing = tracing::Span::none();
    }
}

impl Drop for DatadogOtelSpan {
    fn drop(&mut self) {
        if !self.ended {
            opentelemetry::trace::Span::end(self);
        }
    }
}
