//! An OpenTelemetry propagator (feature `opentelemetry`) speaking dd-trace's styles, so crates
//! that propagate through `opentelemetry::propagation::TextMapPropagator` read and write the
//! headers Datadog's tracers use, and a hop through them loses nothing.
//!
//! In: an OpenTelemetry `Context` and a carrier, on whatever thread the caller propagates.
//! Out: the headers of the context's span in the configured styles (`datadog`,
//! `tracecontext`, `b3multi`, `b3`, `baggage`), or a `Context` whose remote span context is the
//! incoming one. OpenTelemetry's span context knows only ids, a sampled flag and `tracestate`,
//! so the extracted `Context` also keeps the whole Datadog context (sampling priority, origin,
//! `_dd.p.*` tags, other vendors' `tracestate`, baggage), and its span context gets the
//! `tracestate` a Datadog tracer would send, `dd=` member included. Injection writes that
//! Datadog context back for any span of its trace (the remote parent itself, or a span an
//! OpenTelemetry tracer started under it); for another span context, priority, origin and tags
//! come from the `dd=` member of its `tracestate`, or, without one, the sampled flag becomes
//! priority 1 or 0. A `Context` with extracted baggage but no span writes only `baggage`.
//!
//! ```
//! use opentelemetry::propagation::TextMapPropagator;
//!
//! let propagator = dd_trace::integrations::opentelemetry::DatadogPropagator::new();
//! let mut headers = std::collections::HashMap::new();
//! headers.insert("x-datadog-trace-id".to_string(), "1234".to_string());
//! headers.insert("x-datadog-parent-id".to_string(), "5678".to_string());
//! headers.insert("x-datadog-sampling-priority".to_string(), "2".to_string());
//! let cx = propagator.extract(&headers);
//! # use opentelemetry::trace::TraceContextExt;
//! assert_eq!(cx.span().span_context().span_id().to_string(), format!("{:016x}", 5678));
//!
//! let mut outgoing = std::collections::HashMap::new();
//! propagator.inject_context(&cx, &mut outgoing);
//! assert_eq!(outgoing["x-datadog-sampling-priority"], "2", "a manual keep stays one");
//! ```

use std::sync::Arc;

use opentelemetry::propagation::{text_map_propagator::FieldIter, Extractor, Injector};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId as OtelTraceId, TraceState,
};
use opentelemetry::Context;

use crate::headers::{
    self, baggage, tracecontext, PropagationConfig, PropagationStyle, RemoteContext,
};
use crate::model::id::TraceId;

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

/// The tag naming the sampling mechanism.
const DECISION_MAKER: &str = "_dd.p.dm";

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
        Self::with_config(crate::layer::ext::current_propagation_config())
    }

    /// A propagator with the settings `config`.
    fn with_config(config: Arc<PropagationConfig>) -> Self {
        DatadogPropagator {
            config,
            fields: FIELD_NAMES.iter().map(|f| f.to_string()).collect(),
        }
    }

    /// The OpenTelemetry span context of `remote`'s parent span (`None` without one: baggage
    /// alone, a restarted trace, a synthetics test), with the `tracestate` a Datadog tracer
    /// would send for it: the `dd=` member, then other vendors' members.
    fn span_context(&self, remote: &RemoteContext) -> Option<SpanContext> {
        let trace_id = remote.trace_id.filter(|_| remote.parent_id != 0)?;
        let sampled = remote.sampling_priority.is_none_or(|p| p > 0);
        let outgoing = to_outgoing(remote, remote.parent_id, sampled);
        let trace_state = parse_trace_state(&tracecontext::tracestate(&outgoing));
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
        Some(sc)
    }

    /// The Datadog context of a span context no extraction here brought: its ids and sampled
    /// flag, with what the `dd=` member of its `tracestate` holds (read as the `tracecontext`
    /// style reads it), if it has one.
    pub(crate) fn read_span_context(
        sc: &SpanContext,
        trace_id: TraceId,
        span_id: u64,
    ) -> RemoteContext {
        let header = sc.trace_state().header();
        if sc.trace_state().get("dd").is_some() {
            return tracecontext::context(trace_id, span_id, sc.is_sampled(), &[&header]);
        }
        let mut remote = RemoteContext::new(trace_id, span_id);
        remote.sampling_priority = Some(i8::from(sc.is_sampled()));
        remote.tracestate = Some(header).filter(|s| !s.is_empty());
        remote
    }
}

/// The whole Datadog context an extraction read, kept in the OpenTelemetry `Context` next to
/// the span context made from it.
struct Extracted(RemoteContext);

/// The Datadog context of `cx`'s remote parent: what an extraction here read when it is that
/// context, else what the span context says (ids, sampled flag, its `dd=` member).
pub(crate) fn remote_parent(cx: &Context) -> Option<RemoteContext> {
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let trace_id = TraceId::from_u128(u128::from_be_bytes(sc.trace_id().to_bytes()));
    let span_id = u64::from_be_bytes(sc.span_id().to_bytes());
    match cx.get::<Extracted>() {
        Some(Extracted(remote))
            if remote.trace_id == Some(trace_id) && remote.parent_id == span_id =>
        {
            Some(remote.clone())
        }
        _ => Some(DatadogPropagator::read_span_context(sc, trace_id, span_id)),
    }
}

/// `remote` as injection writes it for the span `span_id`, whose sampled flag is `sampled`.
/// The upstream priority stays while the flag agrees with it; otherwise (an OpenTelemetry
/// sampler decided) the flag wins, as the `tracecontext` style reconciles `traceparent`'s flag
/// with the `dd=` member's priority. Tags in injection order: `_dd.p.tid`, `_dd.p.dm`, the
/// others.
fn to_outgoing(remote: &RemoteContext, span_id: u64, sampled: bool) -> headers::OutgoingContext {
    let upstream = remote.sampling_priority;
    let (priority, decision_maker) = if upstream.is_none_or(|p| p > 0) == sampled {
        (upstream.unwrap_or(1), remote.tag(DECISION_MAKER))
    } else if sampled {
        (1, Some("-0"))
    } else {
        (0, None)
    };
    let trace_id = remote.trace_id().unwrap_or(TraceId::from_u128(0));
    let mut tags: Vec<(String, String)> = Vec::with_capacity(remote.tags.len() + 2);
    if trace_id.high() != 0 {
        tags.push(("_dd.p.tid".into(), format!("{:016x}", trace_id.high())));
    }
    if let Some(dm) = decision_maker {
        tags.push((DECISION_MAKER.into(), dm.into()));
    }
    let others = remote.tags.iter().filter(|(k, _)| k != DECISION_MAKER);
    tags.extend(others.cloned());
    headers::OutgoingContext {
        trace_id,
        span_id,
        priority,
        origin: remote.origin.clone(),
        tags,
        tracestate: remote.tracestate.clone(),
        baggage: remote.baggage.clone(),
    }
}

/// `header` as an OpenTelemetry `TraceState`. OpenTelemetry's parser refuses a whole header
/// for one member its stricter rules reject: then the other members are kept.
fn parse_trace_state(header: &str) -> TraceState {
    header.parse::<TraceState>().unwrap_or_else(|_| {
        let valid = header
            .split(',')
            .filter_map(|member| member.trim().split_once('='))
            .filter(|&member| TraceState::from_key_value([member]).is_ok());
        TraceState::from_key_value(valid).unwrap_or_default()
    })
}

/// An OpenTelemetry extractor seen as ours.
struct OtelExtractor<'a>(&'a dyn Extractor);

impl headers::Extractor for OtelExtractor<'_> {
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

impl headers::Injector for OtelInjector<'_> {
    fn set(&mut self, name: &str, value: String) {
        self.0.set(name, value);
    }
}

impl opentelemetry::propagation::TextMapPropagator for DatadogPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let extracted = cx.get::<Extracted>().map(|e| &e.0);
        let mut injector = OtelInjector(injector);
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            // No span to hand on: only the baggage an extraction brought, if any.
            let baggage = self.config.inject.contains(&PropagationStyle::Baggage);
            if let Some(remote) = extracted.filter(|r| baggage && !r.baggage.is_empty()) {
                baggage::inject(
                    &remote.baggage,
                    &mut injector,
                    self.config.baggage_max_items,
                    self.config.baggage_max_bytes,
                );
            }
            return;
        }
        let trace_id = TraceId::from_u128(u128::from_be_bytes(sc.trace_id().to_bytes()));
        let span_id = u64::from_be_bytes(sc.span_id().to_bytes());
        // A span of dd-trace's own tracer provider: its whole Datadog context goes out.
        if let Some(span) = crate::layer::otel::lookup(span_id) {
            use crate::layer::DatadogSpanExt;
            span.inject_context(&mut injector);
            return;
        }
        let outgoing = match extracted {
            // The extracted parent, or a span an OpenTelemetry tracer started in its trace.
            Some(remote) if remote.trace_id == Some(trace_id) => {
                to_outgoing(remote, span_id, sc.is_sampled())
            }
            _ => {
                let remote = Self::read_span_context(sc, trace_id, span_id);
                let mut outgoing = to_outgoing(&remote, span_id, sc.is_sampled());
                // Baggage belongs to the context, not to one trace.
                if let Some(extracted) = extracted {
                    outgoing.baggage.clone_from(&extracted.baggage);
                }
                outgoing
            }
        };
        headers::inject_with(&outgoing, &mut injector, &self.config);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(remote) = headers::extract_with(&OtelExtractor(extractor), &self.config) else {
            return cx.clone();
        };
        let cx = match self.span_context(&remote) {
            Some(sc) => cx.with_remote_span_context(sc),
            None => cx.clone(),
        };
        cx.with_value(Extracted(remote))
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::propagation::TextMapPropagator;

    use super::*;

    /// A propagator with the default styles (`datadog`, `tracecontext`, `baggage`).
    fn propagator() -> DatadogPropagator {
        DatadogPropagator::with_config(Arc::new(PropagationConfig::default()))
    }

    fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn extract(incoming: &HashMap<String, String>) -> Context {
        let propagator = propagator();
        propagator.extract_with_context(&Context::new(), incoming)
    }

    /// The headers `cx` injects into a fresh carrier.
    fn inject(cx: &Context) -> HashMap<String, String> {
        let mut carrier: HashMap<String, String> = HashMap::new();
        propagator().inject_context(cx, &mut carrier);
        carrier
    }

    /// A span context in `parent`'s trace with the span id 42 and `flags`, as an OpenTelemetry
    /// tracer starts one under it.
    fn child_of(parent: &SpanContext, flags: TraceFlags) -> SpanContext {
        SpanContext::new(
            parent.trace_id(),
            SpanId::from_bytes(42_u64.to_be_bytes()),
            flags,
            false,
            parent.trace_state().clone(),
        )
    }

    /// A remote span context of the W3C example's trace and span with `trace_state`.
    fn w3c_span_context(trace_state: &str) -> SpanContext {
        SpanContext::new(
            OtelTraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            trace_state.parse().unwrap(),
        )
    }

    fn datadog_headers() -> HashMap<String, String> {
        headers(&[
            ("x-datadog-trace-id", "1234"),
            ("x-datadog-parent-id", "5678"),
            ("x-datadog-sampling-priority", "2"),
            ("x-datadog-origin", "rum"),
            ("x-datadog-tags", "_dd.p.dm=-4,_dd.p.usr.id=abc"),
            ("baggage", "user.id=alice,team=payments"),
        ])
    }

    #[test]
    fn datadog_headers_come_back_out_whole() {
        let incoming = datadog_headers();
        let cx = extract(&incoming);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(
            sc.trace_state().header(),
            "dd=s:2;p:000000000000162e;o:rum;t.dm:-4;t.usr.id:abc"
        );
        let out = inject(&cx);
        for (name, value) in &incoming {
            assert_eq!(out.get(name), Some(value), "{name}");
        }
        assert_eq!(
            out["traceparent"],
            "00-000000000000000000000000000004d2-000000000000162e-01"
        );
        assert_eq!(out["tracestate"], sc.trace_state().header());
    }

    #[test]
    fn a_w3c_context_comes_back_out_whole() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let incoming = headers(&[
            ("traceparent", traceparent),
            ("tracestate", "dd=s:2;o:rum;t.dm:-4"),
            ("baggage", "user.id=alice"),
        ]);
        let cx = extract(&incoming);
        let tracestate = "dd=s:2;p:00f067aa0ba902b7;o:rum;t.dm:-4";
        assert_eq!(cx.span().span_context().trace_state().header(), tracestate);
        let out = inject(&cx);
        assert_eq!(out["traceparent"], traceparent);
        assert_eq!(out["tracestate"], tracestate);
        assert_eq!(out["x-datadog-sampling-priority"], "2");
        assert_eq!(out["x-datadog-origin"], "rum");
        assert_eq!(
            out["x-datadog-tags"],
            "_dd.p.tid=4bf92f3577b34da6,_dd.p.dm=-4"
        );
        assert_eq!(
            out["x-datadog-trace-id"],
            0xa3ce_929d_0e0e_4736_u64.to_string()
        );
        assert_eq!(
            out["x-datadog-parent-id"],
            0x00f0_67aa_0ba9_02b7_u64.to_string()
        );
        assert_eq!(out["baggage"], "user.id=alice");
    }

    #[test]
    fn a_span_started_in_the_extracted_trace_keeps_its_datadog_context() {
        let cx = extract(&datadog_headers());
        let parent = cx.span().span_context().clone();
        let child = child_of(&parent, TraceFlags::SAMPLED);
        let out = inject(&cx.with_remote_span_context(child));
        assert_eq!(out["x-datadog-trace-id"], "1234");
        assert_eq!(out["x-datadog-parent-id"], "42");
        assert_eq!(out["x-datadog-sampling-priority"], "2");
        assert_eq!(out["x-datadog-origin"], "rum");
        assert_eq!(out["x-datadog-tags"], "_dd.p.dm=-4,_dd.p.usr.id=abc");
        assert_eq!(out["baggage"], "user.id=alice,team=payments");
        // An OpenTelemetry sampler dropped the child: its flag wins, as in `tracecontext`.
        let child = child_of(&parent, TraceFlags::NOT_SAMPLED);
        let out = inject(&cx.with_remote_span_context(child));
        assert_eq!(out["x-datadog-sampling-priority"], "0");
        assert_eq!(out["x-datadog-tags"], "_dd.p.usr.id=abc");
        assert_eq!(out["x-datadog-origin"], "rum");
    }

    #[test]
    fn a_span_context_from_elsewhere_is_read_from_its_dd_member() {
        let sc = w3c_span_context("dd=s:2;o:rum;t.dm:-4,congo=t61rcWkgMzE");
        let out = inject(&Context::new().with_remote_span_context(sc));
        assert_eq!(out["x-datadog-sampling-priority"], "2");
        assert_eq!(out["x-datadog-origin"], "rum");
        assert_eq!(
            out["x-datadog-tags"],
            "_dd.p.tid=4bf92f3577b34da6,_dd.p.dm=-4"
        );
        assert_eq!(
            out["tracestate"],
            "dd=s:2;p:00f067aa0ba902b7;o:rum;t.dm:-4,congo=t61rcWkgMzE"
        );
        assert!(!out.contains_key("baggage"));
        // Without a `dd=` member: the sampled flag, as priority 1.
        let sc = w3c_span_context("congo=t61rcWkgMzE");
        let out = inject(&Context::new().with_remote_span_context(sc));
        assert_eq!(out["x-datadog-sampling-priority"], "1");
        assert!(!out.contains_key("x-datadog-origin"));
        assert_eq!(out["x-datadog-tags"], "_dd.p.tid=4bf92f3577b34da6");
        assert_eq!(
            out["tracestate"],
            "dd=s:1;p:00f067aa0ba902b7,congo=t61rcWkgMzE"
        );
    }

    #[test]
    fn baggage_alone_goes_out_alone() {
        let incoming = headers(&[("baggage", "user.id=alice")]);
        let cx = extract(&incoming);
        assert!(!cx.span().span_context().is_valid());
        assert_eq!(inject(&cx), incoming);
    }

    #[test]
    fn a_member_opentelemetry_refuses_leaves_the_others() {
        let trace_state = parse_trace_state("dd=s:1;o:rum,Vendor=x,congo=t61");
        assert_eq!(trace_state.header(), "dd=s:1;o:rum,congo=t61");
    }
}
