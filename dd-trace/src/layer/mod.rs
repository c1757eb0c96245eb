//! BUILD: the `tracing` layer that turns spans into Datadog spans.
//!
//! In: `tracing` callbacks on the app's threads. Out: [`Chunk`]s handed to the buffer. Per span
//! it allocates the extension value and the field text, reads the monotonic clock at start and
//! at each exit, and takes only its own trace's lock at close. No I/O, no encoding, no blocking,
//! no process-wide lock; tags common to every span are added later, by the worker.

use std::sync::Arc;
use std::time::Instant;

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use tracing_subscriber::Layer;

use crate::model::id::{SpanId, TraceId};
use crate::model::span::{
    ErrorEvent, FieldRecorder, Fields, ParentService, SpanData, SpanLink, TraceState,
};
use crate::Shared;

/// The span's data plus the trace it belongs to, stored in the span's extensions.
pub(crate) struct OpenSpan {
    pub trace: Arc<TraceState>,
    pub data: Box<SpanData>,
}

/// A [`Layer`] that sends spans to Datadog. Build it with [`DatadogLayer::builder`] or
/// [`crate::init`]; see the crate docs for how fields map to Datadog spans.
#[derive(Clone)]
pub struct DatadogLayer {
    pub(crate) shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for DatadogLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogLayer")
            .field("enabled", &self.shared.is_some())
            .finish()
    }
}

impl DatadogLayer {
    /// The configured service name (`DD_SERVICE`), or `None` if tracing is disabled.
    pub fn service(&self) -> Option<&str> {
        self.shared.as_deref().map(|s| s.identity.service.as_str())
    }

    /// The configured environment (`DD_ENV`).
    pub fn env(&self) -> Option<&str> {
        self.shared.as_deref()?.identity.env.as_deref()
    }

    /// The configured version (`DD_VERSION`).
    pub fn version(&self) -> Option<&str> {
        self.shared.as_deref()?.identity.version.as_deref()
    }

    /// Whether log correlation writes 128-bit trace ids as hex
    /// (`DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED`).
    pub fn log_128_bit_trace_ids(&self) -> bool {
        self.shared
            .as_deref()
            .is_none_or(|s| s.identity.log_trace_id_128_bit)
    }
}

/// The Datadog ids of a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatadogIds {
    /// The trace's id.
    pub trace_id: TraceId,
    /// The span's id.
    pub span_id: SpanId,
}

/// The Datadog ids of `span`, or of its nearest ancestor that dd-trace recorded (a span a
/// per-layer filter hid from the layer has none of its own). `None` when dd-trace is not in the
/// subscriber or is disabled.
pub fn ids_of<S>(span: &SpanRef<'_, S>) -> Option<DatadogIds>
where
    S: for<'a> LookupSpan<'a>,
{
    span.scope().find_map(|s| {
        let ext = s.extensions();
        let open = ext.get::<OpenSpan>()?;
        Some(DatadogIds {
            trace_id: open.trace.trace_id,
            span_id: SpanId::new(open.data.span_id)?,
        })
    })
}

/// Datadog ids of a [`tracing::Span`] handle, e.g. to return the trace id to a caller.
pub trait DatadogSpanExt {
    /// The span's Datadog ids; `None` for a disabled span, or when the span's subscriber is not
    /// built on `tracing_subscriber::Registry` with a [`DatadogLayer`].
    fn datadog_ids(&self) -> Option<DatadogIds>;
}

impl DatadogSpanExt for tracing::Span {
    fn datadog_ids(&self) -> Option<DatadogIds> {
        self.with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            ids_of(&registry.span(id)?)
        })?
    }
}

impl<S> Layer<S> for DatadogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(shared) = self.shared.as_deref() else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        let now = Instant::now();
        let span_id = SpanId::generate().to_u64();
        let parent = span.parent().and_then(|p| {
            let ext = p.extensions();
            let open = ext.get::<OpenSpan>()?;
            open.trace.span_started();
            Some((
                Arc::clone(&open.trace),
                open.data.span_id,
                open.data.service_for_children(),
            ))
        });
        let (trace, parent_id, parent_service) = match parent {
            Some(p) => p,
            None => {
                let unix_secs = shared.clock.unix_secs(now);
                let trace_id = TraceId::generate(unix_secs, shared.trace_id_128_bit);
                let sampling = shared.sampler.decide(trace_id.low());
                (
                    crate::export::pool::new_trace(trace_id, sampling, span_id),
                    0,
                    ParentService::None,
                )
            }
        };
        let mut data = crate::export::pool::take_span();
        data.span_id = span_id;
        data.parent_id = parent_id;
        data.name = attrs.metadata().name();
        data.start = now;
        data.last_exit = None;
        data.parent_service = parent_service;
        data.fields.reserve(attrs.metadata().fields().len());
        attrs.record(&mut FieldRecorder {
            fields: &mut data.fields,
            dedup: false,
        });
        let mut ext = span.extensions_mut();
        if ext.get_mut::<OpenSpan>().is_some() {
            // A second DatadogLayer in the same stack: the first one records this span.
            drop(ext);
            if parent_id != 0 {
                trace.span_abandoned();
            }
            return;
        }
        ext.insert(OpenSpan { trace, data });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if self.shared.is_none() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        // Record outside the span's lock: a field's Debug impl may itself emit events.
        let mut later = Fields::default();
        values.record(&mut FieldRecorder {
            fields: &mut later,
            dedup: true,
        });
        let mut ext = span.extensions_mut();
        if let Some(open) = ext.get_mut::<OpenSpan>() {
            open.data.fields.merge(&later);
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        if self.shared.is_none() {
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
            let sampled = open.trace.sampling.priority > 0;
            SpanLink {
                trace_id: open.trace.trace_id,
                span_id: open.data.span_id,
                flags: if sampled { 0x8000_0001 } else { 0x8000_0000 },
            }
        };
        let mut ext = span.extensions_mut();
        if let Some(open) = ext.get_mut::<OpenSpan>() {
            open.data.fields.links.push(link);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Only ERROR events matter to spans (e.g. `#[instrument(err)]`); filter before any work.
        if *event.metadata().level() != Level::ERROR || self.shared.is_none() {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut error = ErrorEvent::default();
        event.record(&mut error);
        let mut ext = span.extensions_mut();
        if let Some(open) = ext.get_mut::<OpenSpan>() {
            error.apply(&mut open.data.fields);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if self.shared.is_none() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(open) = ext.get_mut::<OpenSpan>() {
                open.data.last_exit = Some(Instant::now());
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(shared) = self.shared.as_deref() else {
            return;
        };
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(OpenSpan { trace, data }) = span.extensions_mut().remove::<OpenSpan>() else {
            return;
        };
        // A span ends when it was last exited: the registry keeps a parent open while its
        // children live, so its close can come much later than its end.
        let end = data.last_exit.unwrap_or_else(Instant::now);
        if let Some(chunk) = trace.span_finished(data, end, shared.flush_at) {
            if chunk.partial {
                crate::export::queue::add(&shared.counters.partial_flushes, 1);
            }
            shared.queue.push(chunk, &shared.counters);
        }
    }
}
