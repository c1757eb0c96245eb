//! BUILD: the `tracing` layer that turns spans into Datadog spans.
//!
//! In: `tracing` callbacks on the app's threads. Out: finished [`Chunk`]s handed to the export
//! queue. Per span it takes a (recycled) record, reads the monotonic clock at start and at each
//! exit (kept in the thread's exit slot, [`exits`], not in the record), records fields into the
//! record, and at close takes only its own trace's `finished` lock. A new local root gets its trace id and its sampling decision once its initial fields
//! are recorded, so the sampler sees the resource, service and tags it was created with. No
//! I/O, no encoding, no blocking, no process-wide lock; tags common to every span are added
//! later, by the worker.
//!
//! [`Chunk`]: crate::model::trace::Chunk

mod exits;
pub(crate) mod ext;
mod fields;
#[cfg(feature = "opentelemetry")]
pub(crate) mod otel;
pub(crate) mod panics;
#[cfg(test)]
mod tests;

pub use ext::{extract, ids_of, DatadogIds, DatadogSpanExt, Link, TagValue};

use std::any::TypeId;
use std::sync::Arc;
use std::time::Instant;

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::config::Configuration;
use crate::handoff::pool;
use crate::headers::RemoteContext;
use crate::health::Counters;
use crate::model::decision::{DecisionSource, SamplingDecision};
use crate::model::id::{SpanId, TraceId};
use crate::model::span::{Fields, ParentService, SpanData, SpanLink};
use crate::model::trace::{LocalTrace, TraceContext};
use crate::sampling::NO_TRACE_RULES;
use crate::tracer::Tracer;
use exits::Recorded;
use ext::SpanAccess;
use fields::{
    ErrorEvent, FieldRecorder, ResponseStatus, SpanEventRecorder, TOWER_HTTP_RESPONSE_TARGET,
};

/// The span's record plus the trace it belongs to: the one value dd-trace keeps in each span's
/// extensions.
#[derive(Debug)]
pub(crate) struct OpenSpan {
    pub(crate) trace: Arc<LocalTrace>,
    pub(crate) data: Box<SpanData>,
}

/// Marks a span not recorded because its trace, or the tracer, was over its open-trace
/// limits; its children are not recorded either.
#[derive(Debug)]
pub(crate) struct Unrecorded;

/// A [`Layer`] that sends spans to Datadog. Build it with [`DatadogLayer::builder`] or
/// [`crate::init`]; see the crate docs for how fields map to Datadog spans.
#[derive(Clone)]
pub struct DatadogLayer {
    tracer: Option<Arc<Tracer>>,
    /// The settings in effect (also for a disabled tracer, which has no `Tracer`).
    config: Arc<Configuration>,
    /// Set when the layer is added to a subscriber: how span handles reach the records.
    access: Option<SpanAccess>,
}

impl std::fmt::Debug for DatadogLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogLayer")
            .field("enabled", &self.tracer.is_some())
            .field("service", &self.service())
            .finish()
    }
}

impl DatadogLayer {
    pub(crate) fn new(tracer: Option<Arc<Tracer>>, config: Arc<Configuration>) -> Self {
        DatadogLayer {
            tracer,
            config,
            access: None,
        }
    }

    /// The tracer's shared state; `None` when tracing is disabled.
    pub(crate) fn tracer(&self) -> Option<&Arc<Tracer>> {
        self.tracer.as_ref()
    }

    /// The settings in effect.
    pub(crate) fn config(&self) -> &Arc<Configuration> {
        &self.config
    }

    /// The configured service name (`DD_SERVICE`), or `None` if tracing is disabled.
    pub fn service(&self) -> Option<&str> {
        self.tracer.as_deref().map(|t| t.identity.service.as_str())
    }

    /// The configured environment (`DD_ENV`).
    pub fn env(&self) -> Option<&str> {
        self.tracer.as_deref()?.identity.env.as_deref()
    }

    /// The configured version (`DD_VERSION`).
    pub fn version(&self) -> Option<&str> {
        self.tracer.as_deref()?.identity.version.as_deref()
    }

    /// Whether log correlation writes 128-bit trace ids as hex
    /// (`DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED`).
    pub fn log_128_bit_trace_ids(&self) -> bool {
        self.tracer
            .as_deref()
            .is_none_or(|t| t.log_trace_id_128_bit)
    }

    /// Whether log correlation writes the `dd.*` keys now (`DD_LOGS_INJECTION`, default on; it
    /// may change while the app runs); off when tracing is disabled.
    pub fn logs_injection(&self) -> bool {
        self.tracer.is_some() && self.config.flags().logs_injection()
    }
}

/// After a span's fields changed: a `manual.keep`/`manual.drop` among them decides its trace
/// (always: a manual decision wins over every sampler); a change to the trace's local root runs
/// the trace rules again, unless the decision is locked. Takes the trace's context lock, with
/// the span's extensions lock held (the documented lock order).
pub(crate) fn after_change(tracer: Option<&Tracer>, open: &mut OpenSpan) {
    if let Some(keep) = open.data.fields.manual.take() {
        open.trace.context().sampling = SamplingDecision::manual(keep);
        return;
    }
    let Some(tracer) = tracer else {
        return;
    };
    if open.data.span_id != open.trace.local_root_span_id() {
        return;
    }
    if !tracer.config.flags().may_redecide() {
        return;
    }
    let live = tracer.config.live();
    let mut context = open.trace.context();
    if open.trace.decision_locked(&context) {
        return;
    }
    if let Some(next) = tracer.sampler.redecide(
        &live.trace_rules,
        &open.data,
        context.trace_id,
        &context.sampling,
    ) {
        context.sampling = next;
    }
}

/// Makes `remote` the remote parent of the span `open` (see `DatadogSpanExt::set_parent`).
pub(crate) fn adopt(tracer: Option<&Tracer>, open: &mut OpenSpan, remote: RemoteContext) {
    let RemoteContext {
        trace_id,
        parent_id,
        sampling_priority,
        origin,
        mut tags,
        tracestate,
        dd_parent_id,
        baggage,
        links,
        propagation_error,
    } = remote;
    open.data.fields.links.extend(links);
    // The baggage items the configuration names become tags of the adopting span.
    let keys = tracer.map(|t| &t.propagation.baggage_tag_keys);
    for (k, v) in baggage
        .iter()
        .filter(|(k, _)| keys.is_some_and(|keys| keys.includes(k)))
    {
        open.data
            .fields
            .record_str(std::borrow::Cow::Owned(format!("baggage.{k}")), v, true);
    }
    let Some(trace_id) = trace_id else {
        // Baggage or a decision alone (or a restarted trace): the span's trace stays its own,
        // and a local root takes the upstream's decision unless a manual one was made.
        let mut context = open.trace.context();
        if !baggage.is_empty() {
            context.propagated_mut().baggage = baggage;
        }
        let own = open.data.span_id == open.trace.local_root_span_id()
            && !open.trace.decision_locked(&context)
            && context.sampling.source != DecisionSource::Manual;
        if let (Some(priority), true) = (sampling_priority, own) {
            if let Some(tracer) = tracer {
                tracer.sampler.withdraw(&context.sampling);
            }
            context.sampling = SamplingDecision::upstream(priority, None);
        }
        return;
    };
    // A manual keep or drop made before the adoption stays: it is never overridden, not even
    // by the upstream's decision.
    let manual = {
        let sampling = open.trace.context().sampling;
        (sampling.source == DecisionSource::Manual).then_some(sampling)
    };
    if open.data.span_id != open.trace.local_root_span_id() {
        // The span leaves its local parent's trace: it is the local root of the remote one.
        let old = std::mem::replace(
            &mut open.trace,
            Arc::new(LocalTrace::new(
                open.data.span_id,
                TraceContext::new(trace_id, SamplingDecision::DEFAULT_KEEP),
            )),
        );
        old.span_abandoned();
        if let Some(tracer) = tracer {
            // Counted like any trace (even past the limit: the span is recorded already).
            tracer.open_traces.open();
        }
        open.data.parent_service = ParentService::LocalRoot;
    }
    open.data.parent_id = parent_id;
    let dm = tags
        .iter()
        .position(|(k, _)| k == "_dd.p.dm")
        .map(|i| tags.remove(i).1);
    let mechanism = dm
        .as_deref()
        .and_then(|dm| dm.strip_prefix('-')?.parse::<u8>().ok());
    // A decision maker that is not `-0` to `-255` is dropped, and said.
    let propagation_error = match (&dm, mechanism) {
        (Some(_), None) => propagation_error.or_else(|| Some("decoding_error".into())),
        _ => propagation_error,
    };
    let mut context = open.trace.context();
    context.trace_id = trace_id;
    if let (Some(tracer), None) = (tracer, manual) {
        // The span's own decision, made at its start, is replaced.
        tracer.sampler.withdraw(&context.sampling);
    }
    context.sampling = match (manual, sampling_priority) {
        (Some(manual), _) => manual,
        // An upstream decision is kept as it is.
        (None, Some(priority)) => SamplingDecision::upstream(priority, mechanism),
        (None, None) => {
            tags.retain(|(k, _)| k != "_dd.p.ksr");
            tracer.map_or(SamplingDecision::DEFAULT_KEEP, |t| {
                t.sampler
                    .decide(&t.config.live().trace_rules, &open.data, trace_id)
            })
        }
    };
    let p = context.propagated_mut();
    p.origin = origin;
    p.tags.clear_within(1024, 16);
    for (key, value) in tags {
        p.tags.set_str(key, &value);
    }
    p.tracestate = tracestate;
    p.baggage = baggage;
    p.dd_parent_id = dd_parent_id;
    p.propagation_error = propagation_error;
}

impl DatadogLayer {
    /// Tells this layer's span ids from other layers' in the per-thread exit slots: its
    /// address, fixed while it is in a subscriber.
    fn key(&self) -> usize {
        self as *const Self as usize
    }
}

/// Writes an exit into its span's record (if the span is still open and the exit is its).
fn write_exit<S>(ctx: &Context<'_, S>, id: &Id, at: Instant)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if let Some(span) = ctx.span(id) {
        let mut ext = span.extensions_mut();
        if let Some(open) = ext.get_mut::<OpenSpan>() {
            if at >= open.data.start {
                open.data.last_exit = Some(open.data.last_exit.map_or(at, |t| t.max(at)));
            }
        }
    }
}

impl<S> Layer<S> for DatadogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_layer(&mut self, _subscriber: &mut S) {
        self.access = Some(SpanAccess::new::<S>(self.tracer.clone()));
    }

    // `tracing-subscriber` finds layers by type through this method, which its trait declares
    // `unsafe`; nothing here is unsafe: it returns the addresses of `self` and of a field of
    // `self`, valid for as long as the caller's borrow of the subscriber.
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else if id == TypeId::of::<SpanAccess>() {
            self.access
                .as_ref()
                .map(|access| access as *const SpanAccess as *const ())
        } else {
            None
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(tracer) = self.tracer.as_deref() else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        let now = Instant::now();
        let span_id = SpanId::generate().to_u64();
        let mut data = pool::take_span();
        data.span_id = span_id;
        data.name = attrs.metadata().name();
        data.start = now;
        data.last_exit = None;
        data.wall_start_ns = None;
        data.fields.reserve(attrs.metadata().fields().len());
        attrs.record(&mut FieldRecorder {
            fields: &mut data.fields,
            dedup: false,
        });
        let manual = data.fields.manual.take();
        let mut over_limit = false;
        let parent = span.parent();
        // A contextual span started while an OpenTelemetry span of ours is the current
        // OpenTelemetry context is that span's child, when it has no `tracing` parent or when
        // its `tracing` parent is among that span's ancestors (the OpenTelemetry span started
        // inside it, and is the innermost).
        #[cfg(feature = "opentelemetry")]
        let parent = {
            let otel = attrs
                .is_contextual()
                .then(otel::current)
                .flatten()
                .and_then(|s| s.id())
                .and_then(|id| ctx.span(&id));
            match (parent, otel) {
                (None, otel) => otel,
                (Some(p), Some(o)) if o.scope().any(|a| a.id() == p.id()) => Some(o),
                (p, _) => p,
            }
        };
        let parent = parent.and_then(|p| {
            let ext = p.extensions();
            let Some(open) = ext.get::<OpenSpan>() else {
                // The children of a span not recorded are not recorded either.
                over_limit = ext.get::<Unrecorded>().is_some();
                return None;
            };
            if !open.trace.try_span_started(tracer.max_open_spans_per_trace) {
                over_limit = true;
                return None;
            }
            Some((
                Arc::clone(&open.trace),
                open.data.span_id,
                open.data.service_for_children(),
            ))
        });
        // A new trace reads the live switches once: tracing may have been turned off, and the
        // trace rules may have changed. A child reads nothing.
        let flags = parent.is_none().then(|| tracer.config.flags());
        if !over_limit && flags.is_some_and(|f| !f.enabled()) {
            pool::keep_span(data);
            return;
        }
        if !over_limit && parent.is_none() && !tracer.open_traces.try_open() {
            over_limit = true;
        }
        if over_limit {
            pool::keep_span(data);
            Counters::add(&tracer.counters.spans_dropped_trace_limits, 1);
            span.extensions_mut().replace(Unrecorded);
            return;
        }
        let (trace, has_parent) = match parent {
            Some((trace, parent_id, parent_service)) => {
                data.parent_id = parent_id;
                data.parent_service = parent_service;
                (trace, true)
            }
            None => {
                data.parent_id = 0;
                data.parent_service = ParentService::LocalRoot;
                let trace_id =
                    TraceId::generate(tracer.clock.unix_secs(now), tracer.trace_id_128_bit);
                // Decided now that the root's initial fields are recorded.
                let sampling = match manual {
                    Some(keep) => SamplingDecision::manual(keep),
                    None if flags.is_some_and(|f| f.has_trace_rules()) => {
                        let live = tracer.config.live();
                        tracer.sampler.decide(&live.trace_rules, &data, trace_id)
                    }
                    None => tracer.sampler.decide(&NO_TRACE_RULES, &data, trace_id),
                };
                (pool::new_trace(span_id, trace_id, sampling), false)
            }
        };
        let mut ext = span.extensions_mut();
        if ext.get_mut::<OpenSpan>().is_some() {
            // A second DatadogLayer in the same stack: the first one records this span.
            drop(ext);
            if has_parent {
                trace.span_abandoned();
            } else {
                tracer.open_traces.close();
            }
            pool::keep_span(data);
            return;
        }
        // A child's manual keep/drop decides the trace it joins (a root's decided it above).
        if let Some(keep) = manual.filter(|_| has_parent) {
            trace.context().sampling = SamplingDecision::manual(keep);
        }
        ext.insert(OpenSpan { trace, data });
        tracer.counters.spans.started();
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if self.tracer.is_none() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        // Record outside the span's lock: a field's Debug impl may itself reach the tracer.
        let mut later = Fields::default();
        values.record(&mut FieldRecorder {
            fields: &mut later,
            dedup: true,
        });
        let mut ext = span.extensions_mut();
        if let Some(open) = ext.get_mut::<OpenSpan>() {
            open.data.fields.merge(&later);
            after_change(self.tracer.as_deref(), open);
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        if self.tracer.is_none() {
            return;
        }
        let (Some(span), Some(cause)) = (ctx.span(id), ctx.span(follows)) else {
            return;
        };
        let link = {
            let ext = cause.extensions();
            let Some(open) = ext.get::<OpenSpan>() else {
                return;
            };
            let context = open.trace.context();
            SpanLink {
                trace_id: context.trace_id,
                span_id: open.data.span_id,
                flags: SpanLink::flags_for(context.sampling.priority > 0),
                tracestate: None,
                attributes: Vec::new(),
            }
        };
        let mut ext = span.extensions_mut();
        if let Some(open) = ext.get_mut::<OpenSpan>() {
            open.data.fields.links.push(link);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // ERROR events mark their span (e.g. `#[instrument(err)]`); with span events on,
        // events at or above their level are kept on it. Filter before any work.
        let Some(tracer) = self.tracer.as_deref() else {
            return;
        };
        tracer.events_seen.note();
        let level = *event.metadata().level();
        let as_span_event = tracer.span_events_level.is_some_and(|min| level <= min);
        if event.metadata().target() == TOWER_HTTP_RESPONSE_TARGET {
            // tower-http's `TraceLayer` gives its span's response status only in this event.
            let mut status = ResponseStatus::default();
            event.record(&mut status);
            if let (Some(code), Some(span)) = (status.0, ctx.event_span(event)) {
                if let Some(open) = span.extensions_mut().get_mut::<OpenSpan>() {
                    open.data.fields.record_num(
                        "http.status_code".into(),
                        code as f64,
                        format_args!("{code}"),
                        true,
                    );
                }
            }
        }
        if level != Level::ERROR && !as_span_event {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut error = (level == Level::ERROR).then(ErrorEvent::default);
        if let Some(error) = &mut error {
            event.record(error);
        }
        let mut recorded = as_span_event.then(|| SpanEventRecorder::new(event.metadata().name()));
        if let Some(recorded) = &mut recorded {
            event.record(recorded);
        }
        let mut ext = span.extensions_mut();
        if let Some(open) = ext.get_mut::<OpenSpan>() {
            if let Some(error) = error {
                error.apply(&mut open.data.fields);
            }
            if let Some(recorded) = recorded {
                open.data.fields.events.push(recorded.event);
            }
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if self.tracer.is_none() {
            return;
        }
        // Kept in this thread's slot: no lookup, no lock (see `exits`).
        let now = Instant::now();
        match exits::record(self.key(), id.into_u64(), now) {
            Recorded::Kept => {}
            Recorded::Displaced { span, at } => write_exit(&ctx, &Id::from_u64(span), at),
            Recorded::NotKept => write_exit(&ctx, id, now),
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(tracer) = self.tracer.as_deref() else {
            return;
        };
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(OpenSpan { trace, data }) = span.extensions_mut().remove::<OpenSpan>() else {
            return;
        };
        tracer.counters.spans.finished();
        // A span ends when it was last exited: the registry keeps a parent open while its
        // children live, so its close can come much later than its end. (A time from before
        // the span's start is another span's, left by a layer that was at this address.)
        let pending = exits::take(self.key(), id.into_u64()).filter(|at| *at >= data.start);
        let end = match (data.last_exit, pending) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b).unwrap_or_else(Instant::now),
        };
        if let Some(chunk) = trace.span_finished(data, end, tracer.flush_at) {
            if chunk.partial {
                Counters::add(&tracer.counters.partial_flushes, 1);
            } else {
                tracer.open_traces.close();
            }
            tracer.queue.push(chunk, &tracer.counters);
        }
    }
}
