//! An OpenTelemetry propagator (feature `opentelemetry`) speaking dd-trace's styles, so crates
//! that propagate through `opentelemetry::propagation::TextMapPropagator` read and write the
//! headers Datadog's tracers use.
//!
//! In: an OpenTelemetry `Context` and a carrier, on whatever thread the caller propagates.
//! Out: the headers of the context's span in the configured styles (`datadog`,
//! `tracecontext`, `b3multi`, `b3`, `baggage`), or a `Context` whose remote span context is the
//! incoming one. OpenTelemetry's span context knows only ids, a sampled flag and `tracestate`:
//! a Datadog priority travels as sampled or not.
//!
//! ```
//! use opentelemetry::propagation::TextMapPropagator;
//!
//! let propagator = dd_trace::integrations::opentelemetry::DatadogPropagator::new();
//! let mut headers = std::collections::HashMap::new();
//! headers.insert("x-datadog-trace-id".to_string(), "1234".to_string());
//! headers.insert("x-datadog-parent-id".to_string(), "5678".to_string());
//! let cx = propagator.extract(&headers);
//! # use opentelemetry::trace::TraceContextExt;
//! assert_eq!(cx.span().span_context().span_id().to_string(), format!("{:016x}", 5678));
//! ```

use std::sync::Arc;

use opentelemetry::propagation::{text_map_propagator::FieldIter, Extractor, Injector};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId as OtelTraceId, TraceState,
};
use opentelemetry::Context;

use crate::model::id::TraceId;
use crate::propagation::{self, OutgoingContext, PropagationConfig};

const FIELD_NAMES: &[&str] = &[
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "x-datadog-origin",
    "x-datadog-tags",
    "traceparent",
    "tracestate",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    "baggage",
];

/// dd-trace's propagation as an OpenTelemetry `TextMapPropagator`, with the styles of the
/// tracer current when it is created (the defaults without one).
#[derive(Clone, Debug)]
pub struct DatadogPropagator {
    config: Arc<PropagationConfig>,
    fields: Vec<String>,
}

impl Default for DatadogPropagator {
    fn default() -> Self {
        Self::new()
    }
}

impl DatadogPropagator {
    /// A propagator with the current tracer's styles.
    pub fn new() -> Self {
        DatadogPropagator {
            config: crate::layer::current_propagation_config(),
            fields: FIELD_NAMES.iter().map(|f| f.to_string()).collect(),
        }
    }
}

/// An OpenTelemetry extractor seen as ours.
struct OtelExtractor<'a>(&'a dyn Extractor);

impl propagation::Extractor for OtelExtractor<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    fn get_all(&self, name: &str) -> Vec<&str> {
        match self.0.get_all(name) {
            Some(values) => values,
            None => self.0.get(name).into_iter().collect(),
        }
    }
}

/// An OpenTelemetry injector seen as ours.
struct OtelInjector<'a>(&'a mut dyn Injector);

impl propagation::Injector for OtelInjector<'_> {
    fn set(&mut self, name: &str, value: String) {
        self.0.set(name, value);
    }
}

impl opentelemetry::propagation::TextMapPropagator for DatadogPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        let trace_id = TraceId::from_u128(u128::from_be_bytes(sc.trace_id().to_bytes()));
        let outgoing = OutgoingContext {
            trace_id,
            span_id: u64::from_be_bytes(sc.span_id().to_bytes()),
            priority: i8::from(sc.is_sampled()),
            origin: None,
            tags: if trace_id.high() != 0 {
                vec![("_dd.p.tid".into(), format!("{:016x}", trace_id.high()))]
            } else {
                Vec::new()
            },
            tracestate: Some(sc.trace_state().header()).filter(|s| !s.is_empty()),
            baggage: Vec::new(),
        };
        propagation::inject_with(&outgoing, &mut OtelInjector(injector), &self.config);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(remote) = propagation::extract_with(&OtelExtractor(extractor), &self.config)
        else {
            return cx.clone();
        };
        let Some(trace_id) = remote.trace_id.filter(|_| remote.parent_id != 0) else {
            return cx.clone();
        };
        let sampled = remote.sampling_priority.is_none_or(|p| p > 0);
        let trace_state = remote
            .tracestate
            .as_deref()
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        let sc = SpanContext::new(
            OtelTraceId::from_bytes(trace_id.to_u128().to_be_bytes()),
            SpanId::from_bytes(remote.parent_id.to_be_bytes()),
            if sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            true,
            trace_state,
        );
        cx.with_remote_span_context(sc)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}
