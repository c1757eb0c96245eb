//! The span write API: [`DatadogSpanExt`] on `tracing::Span` handles, and [`ids_of`] for other
//! layers.
//!
//! In: calls on the app's threads, with a span handle. Out: changes to that span's record in its
//! extensions (tags, resource, service, error), or its ids. A handle reaches the layer through
//! the subscriber's `downcast_raw`: the layer registers a [`SpanAccess`] for the subscriber it
//! is added to, so this works whatever the subscriber stack looks like, as long as it is built
//! on a `Registry`-like span store. Each call takes only that span's extensions lock (and, for
//! ids, its trace's context lock); a handle without a [`DatadogLayer`](crate::DatadogLayer)
//! behind it does nothing.

use std::borrow::Cow;

use tracing::span::Id;
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use std::sync::Arc;

use super::{after_change, OpenSpan};
use crate::headers::{
    extract_with, inject_with, Extractor, Injector, OutgoingContext, PropagationConfig,
    RemoteContext,
};
use crate::model::decision::SamplingDecision;
use crate::model::error_chain::{describe_chain, ChainStyle};
use crate::model::id::{SpanId, TraceId};
use crate::model::span::{EventValue, SpanEvent, SpanKind, SpanLink};
use crate::tracer::Tracer;

/// The Datadog ids of a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DatadogIds {
    /// The trace's id.
    pub trace_id: TraceId,
    /// The span's id.
    pub span_id: SpanId,
}

/// A link from one span to another span, of this trace or another one, for
/// [`DatadogSpanExt::add_link`]; it travels as the span's `span_links`.
///
/// ```
/// use dd_trace::{DatadogSpanExt, Link};
///
/// # let tracer = dd_trace::testing::TestTracer::new();
/// # tracer.in_scope(|| {
/// let batch = tracing::info_span!("batch");
/// let item = tracing::info_span!("item");
/// item.add_link(Link::to_span(batch.datadog_ids().unwrap()).with_attribute("reason", "batched"));
/// # drop(item);
/// # });
/// # let spans = tracer.spans();
/// # let item = spans.iter().find(|s| s.name == "item").unwrap();
/// # assert_eq!(item.span_links[0].attributes["reason"], "batched");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    inner: SpanLink,
}

impl Link {
    /// A link to the span whose ids these are.
    pub fn to_span(ids: DatadogIds) -> Self {
        Link {
            inner: SpanLink {
                trace_id: ids.trace_id,
                span_id: ids.span_id.to_u64(),
                flags: 0,
                tracestate: None,
                attributes: Vec::new(),
            },
        }
    }

    /// A link to the remote span an extracted context names (with its W3C `tracestate`, and
    /// its sampling decision as the link's flags when the context carries one); `None` when the
    /// context names no trace (baggage alone).
    pub fn to_context(context: &RemoteContext) -> Option<Self> {
        Some(Link {
            inner: SpanLink {
                trace_id: context.trace_id()?,
                span_id: context.parent_id().map_or(0, SpanId::to_u64),
                flags: context
                    .sampling_priority()
                    .map_or(0, |p| SpanLink::flags_for(p.is_keep())),
                tracestate: context.tracestate().map(str::to_string),
                attributes: Vec::new(),
            },
        })
    }

    /// Adds an attribute (a later value for the same key replaces the earlier one).
    pub fn with_attribute(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        let key = key.into();
        let value = value.into();
        match self.inner.attributes.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.inner.attributes.push((key, value)),
        }
        self
    }
}

/// A value for [`DatadogSpanExt::set_tag`]: strings and booleans become `meta` tags, numbers
/// `metrics`. Converted from `&str`, `String`, `&String`, `Cow<str>`, `bool` and the integer and
/// float types.
///
/// ```
/// use dd_trace::TagValue;
///
/// let tenant = String::from("acme");
/// assert_eq!(TagValue::from(tenant.clone()), TagValue::from(tenant.as_str()));
/// assert_eq!(TagValue::from(3u8), TagValue::U64(3));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TagValue<'a> {
    /// A string tag.
    Str(Cow<'a, str>),
    /// A boolean, sent as the string `true` or `false`.
    Bool(bool),
    /// A signed integer metric.
    I64(i64),
    /// An unsigned integer metric.
    U64(u64),
    /// A floating-point metric.
    F64(f64),
}

impl<'a> From<&'a str> for TagValue<'a> {
    fn from(v: &'a str) -> Self {
        TagValue::Str(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a String> for TagValue<'a> {
    fn from(v: &'a String) -> Self {
        TagValue::Str(Cow::Borrowed(v))
    }
}

impl From<String> for TagValue<'_> {
    fn from(v: String) -> Self {
        TagValue::Str(Cow::Owned(v))
    }
}

impl<'a> From<Cow<'a, str>> for TagValue<'a> {
    fn from(v: Cow<'a, str>) -> Self {
        TagValue::Str(v)
    }
}

impl<'a> From<&'a Cow<'_, str>> for TagValue<'a> {
    fn from(v: &'a Cow<'_, str>) -> Self {
        TagValue::Str(Cow::Borrowed(v))
    }
}

impl From<bool> for TagValue<'_> {
    fn from(v: bool) -> Self {
        TagValue::Bool(v)
    }
}

macro_rules! tag_value_from {
    ($variant:ident($wide:ty): $($t:ty),*) => {
        $(impl From<$t> for TagValue<'_> {
            fn from(v: $t) -> Self {
                TagValue::$variant(<$wide>::from(v))
            }
        })*
    };
}
tag_value_from!(I64(i64): i8, i16, i32, i64);
tag_value_from!(U64(u64): u8, u16, u32, u64);
tag_value_from!(F64(f64): f32, f64);

/// The Datadog ids of `span`, or of its nearest ancestor that dd-trace recorded (a span a
/// per-layer filter hid from the layer has none of its own). `None` when dd-trace is not in the
/// subscriber or is disabled. For use inside other layers, which hold a `SpanRef`; with a
/// `tracing::Span` handle, use [`DatadogSpanExt::datadog_ids`].
pub fn ids_of<S>(span: &SpanRef<'_, S>) -> Option<DatadogIds>
where
    S: for<'a> LookupSpan<'a>,
{
    span.scope().find_map(|s| {
        let ext = s.extensions();
        let open = ext.get::<OpenSpan>()?;
        Some(DatadogIds {
            trace_id: open.trace.trace_id(),
            span_id: SpanId::new(open.data.span_id)?,
        })
    })
}

/// Reads and writes the Datadog side of a [`tracing::Span`] handle: its ids, tags with keys
/// known only at run time, its resource, service and error.
///
/// Works for any subscriber that has a [`DatadogLayer`](crate::DatadogLayer) in its stack; on a
/// disabled span, or one whose subscriber has no `DatadogLayer`, every method does nothing (and
/// [`datadog_ids`](Self::datadog_ids) returns `None`).
///
/// ```
/// use dd_trace::DatadogSpanExt;
///
/// # let tracer = dd_trace::testing::TestTracer::new();
/// # tracer.in_scope(|| {
/// let span = tracing::info_span!("request", resource.name = "GET /users/{id}");
/// let tenant = "acme";
/// span.set_tag(format!("tenant.{tenant}.plan"), "gold"); // a key known only at run time
/// span.set_tag("retries", 2);
/// if let Some(ids) = span.datadog_ids() {
///     // e.g. an `x-trace-id` response header, in the form log correlation writes
///     let header_value = ids.trace_id.to_string();
///     # assert!(!header_value.is_empty());
/// }
/// # });
/// # let span = &tracer.spans()[0];
/// # assert_eq!(span.meta["tenant.acme.plan"], "gold");
/// # assert_eq!(span.metrics["retries"], 2.0);
/// ```
pub trait DatadogSpanExt {
    /// The span's Datadog ids (or its nearest recorded ancestor's, see [`ids_of`]).
    fn datadog_ids(&self) -> Option<DatadogIds>;

    /// Sets a tag: strings and booleans go to `meta`, numbers to `metrics`. A later value for
    /// the same key replaces the earlier one. Keys mean what the same `tracing` field names mean
    /// (`resource.name`, `span.kind`, `error.message`, `http.status_code`, … see the crate
    /// docs); a `&'static str` key costs no allocation.
    fn set_tag<'v>(&self, key: impl Into<Cow<'static, str>>, value: impl Into<TagValue<'v>>);

    /// Sets the span's resource, e.g. `GET /users/{id}`.
    fn set_resource(&self, resource: &str);

    /// Tags an HTTP span with its request's headers as `DD_TRACE_HEADER_TAGS` names them, and a
    /// server span (`span.kind = "server"`) with `http.client_ip` when
    /// `DD_TRACE_CLIENT_IP_ENABLED` is on. dd-trace's HTTP integrations call this; call it from a
    /// framework of your own. Headers not configured are never read.
    ///
    /// ```
    /// use dd_trace::DatadogSpanExt;
    ///
    /// # let tracer = dd_trace::testing::TestTracer::with_builder(|b| {
    /// #     b.with_variable_source(|k| (k == "DD_TRACE_HEADER_TAGS").then(|| "x-tenant:tenant".into()))
    /// # });
    /// # tracer.in_scope(|| {
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-tenant", "acme".parse().unwrap());
    /// let span = tracing::info_span!("request", span.kind = "server");
    /// span.set_request_headers(&headers);
    /// # });
    /// # assert_eq!(tracer.spans()[0].meta["tenant"], "acme");
    /// ```
    fn set_request_headers(&self, headers: &http::HeaderMap);

    /// Tags an HTTP span with its response's headers as `DD_TRACE_HEADER_TAGS` names them.
    fn set_response_headers(&self, headers: &http::HeaderMap);

    /// Sets the span's service (spans of another service than the tracer's get
    /// `_dd.base_service` and no `version`).
    fn set_service(&self, service: &str);

    /// Marks the span as failed with `error`: `error = 1`, `error.message` (its `Display`),
    /// `error.type` (its type's path, when `E` is a concrete type rather than `dyn Error`) and
    /// `error.stack` (the message and its chain of sources).
    fn set_error<E>(&self, error: &E)
    where
        E: std::error::Error + ?Sized + 'static;

    /// Keeps the span's whole trace (priority 2, decision maker `-4`), whatever the samplers
    /// decide: the same as a `manual.keep` field. Works from any span of the trace.
    fn keep_trace(&self);

    /// Drops the span's whole trace (priority −1, decision maker `-4`), whatever the samplers
    /// decide: the same as a `manual.drop` field. Works from any span of the trace.
    fn drop_trace(&self);

    /// Makes `context` (from [`extract`]) this span's
    /// remote parent: its trace id, parent id, sampling priority (kept, never resampled),
    /// origin, propagated tags, `tracestate` and baggage become the span's trace's, and log
    /// lines written afterwards carry the new ids. Call it right after creating the span,
    /// before it has children: a span that has a local parent leaves that parent's trace to
    /// start the remote one here. A context with only baggage adds the baggage to the span's
    /// trace.
    fn set_parent(&self, context: RemoteContext);

    /// Writes this span's context into `carrier` in the configured styles (for an outgoing
    /// request made inside the span), and locks the trace's sampling decision: what was sent
    /// downstream does not change.
    fn inject_context(&self, carrier: &mut impl Injector);

    /// The value of baggage item `key` of the span's trace.
    fn baggage_item(&self, key: &str) -> Option<String>;

    /// Sets baggage item `key` on the span's trace (propagated to the services it calls).
    fn set_baggage_item(&self, key: &str, value: &str);

    /// Removes baggage item `key` from the span's trace.
    fn remove_baggage_item(&self, key: &str);

    /// Every baggage item of the span's trace.
    fn baggage(&self) -> Vec<(String, String)>;

    /// Adds a link to another span (see [`Link`]).
    fn add_link(&self, link: Link);

    /// Adds a span event that happened at `time`, with typed attributes; it travels as the
    /// span's native `span_events` when the agent reads them, else in its `events` tag.
    fn add_event(
        &self,
        name: &str,
        time: std::time::SystemTime,
        attributes: &[(&str, TagValue<'_>)],
    );
}

impl DatadogSpanExt for tracing::Span {
    fn datadog_ids(&self) -> Option<DatadogIds> {
        self.with_subscriber(|(id, dispatch)| {
            let access = dispatch.downcast_ref::<SpanAccess>()?;
            (access.ids)(dispatch, id)
        })?
    }

    fn set_tag<'v>(&self, key: impl Into<Cow<'static, str>>, value: impl Into<TagValue<'v>>) {
        let key = key.into();
        let value = value.into();
        with_open_span(self, |open, tracer| {
            let fields = &mut open.data.fields;
            match value {
                TagValue::Str(v) => fields.record_str(key, &v, true),
                TagValue::Bool(v) => fields.record_bool(key, v, true),
                TagValue::I64(v) => fields.record_num(key, v as f64, format_args!("{v}"), true),
                TagValue::U64(v) => fields.record_num(key, v as f64, format_args!("{v}"), true),
                TagValue::F64(v) => fields.record_num(key, v, format_args!("{v}"), true),
            }
            after_change(tracer, open);
        });
    }

    fn set_request_headers(&self, headers: &http::HeaderMap) {
        with_open_span(self, |open, tracer| {
            let Some(tracer) = tracer else { return };
            let http = Arc::clone(&tracer.config.live().http);
            let fields = &mut open.data.fields;
            for (tag, value) in http.header_tags(headers, true) {
                fields.record_str(Cow::Owned(tag), &value, true);
            }
            if fields.kind == Some(SpanKind::Server) {
                if let Some(ip) = http.client_ip(headers) {
                    fields.record_str(Cow::Borrowed("http.client_ip"), &ip, true);
                }
            }
            after_change(Some(tracer), open);
        });
    }

    fn set_response_headers(&self, headers: &http::HeaderMap) {
        with_open_span(self, |open, tracer| {
            let Some(tracer) = tracer else { return };
            let http = Arc::clone(&tracer.config.live().http);
            for (tag, value) in http.header_tags(headers, false) {
                open.data.fields.record_str(Cow::Owned(tag), &value, true);
            }
            after_change(Some(tracer), open);
        });
    }

    fn set_resource(&self, resource: &str) {
        with_open_span(self, |open, tracer| {
            open.data
                .fields
                .record_str(Cow::Borrowed("resource.name"), resource, true);
            after_change(tracer, open);
        });
    }

    fn set_service(&self, service: &str) {
        with_open_span(self, |open, tracer| {
            open.data
                .fields
                .record_str(Cow::Borrowed("service.name"), service, true);
            after_change(tracer, open);
        });
    }

    fn keep_trace(&self) {
        with_open_span(self, |open, _| {
            open.trace.context().sampling = SamplingDecision::manual(true);
        });
    }

    fn drop_trace(&self) {
        with_open_span(self, |open, _| {
            open.trace.context().sampling = SamplingDecision::manual(false);
        });
    }

    fn set_parent(&self, context: RemoteContext) {
        with_open_span(self, |open, tracer| super::adopt(tracer, open, context));
    }

    fn inject_context(&self, carrier: &mut impl Injector) {
        let mut taken = None;
        with_open_span(self, |open, tracer| {
            let mut context = open.trace.context();
            context.locked = true;
            let outgoing = OutgoingContext::of(&context, open.data.span_id);
            drop(context);
            let config = tracer.map_or_else(Default::default, |t| Arc::clone(&t.propagation));
            taken = Some((outgoing, config, Arc::clone(&open.trace)));
        });
        // Written outside every lock: the carrier is the app's code.
        if let Some((outgoing, config, trace)) = taken {
            if let Some(error) = inject_with(&outgoing, carrier, &config) {
                trace.context().propagated_mut().propagation_error = Some(error.into());
            }
        }
    }

    fn baggage_item(&self, key: &str) -> Option<String> {
        let mut found = None;
        with_open_span(self, |open, _| {
            let context = open.trace.context();
            found = context.propagated.as_deref().and_then(|p| {
                p.baggage
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            });
        });
        found
    }

    fn set_baggage_item(&self, key: &str, value: &str) {
        with_open_span(self, |open, _| {
            let mut context = open.trace.context();
            let baggage = &mut context.propagated_mut().baggage;
            match baggage.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.to_string(),
                None => baggage.push((key.to_string(), value.to_string())),
            }
        });
    }

    fn remove_baggage_item(&self, key: &str) {
        with_open_span(self, |open, _| {
            if let Some(p) = open.trace.context().propagated.as_deref_mut() {
                p.baggage.retain(|(k, _)| k != key);
            }
        });
    }

    fn baggage(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        with_open_span(self, |open, _| {
            if let Some(p) = open.trace.context().propagated.as_deref() {
                all = p.baggage.clone();
            }
        });
        all
    }

    fn add_link(&self, link: Link) {
        with_open_span(self, |open, _| open.data.fields.links.push(link.inner));
    }

    fn add_event(
        &self,
        name: &str,
        time: std::time::SystemTime,
        attributes: &[(&str, TagValue<'_>)],
    ) {
        // Span times are monotonic instants: place the event as far back (or ahead) of now.
        let at = instant_of(time);
        let event = SpanEvent {
            name: name.to_string(),
            time: at,
            attributes: attributes
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        TagValue::Str(s) => EventValue::Str(s.to_string()),
                        TagValue::Bool(b) => EventValue::Bool(*b),
                        TagValue::I64(i) => EventValue::Int(*i),
                        TagValue::U64(u) => match i64::try_from(*u) {
                            Ok(i) => EventValue::Int(i),
                            Err(_) => EventValue::Float(*u as f64),
                        },
                        TagValue::F64(f) => EventValue::Float(*f),
                    };
                    (Cow::Owned(k.to_string()), v)
                })
                .collect(),
        };
        with_open_span(self, |open, _| open.data.fields.events.push(event));
    }

    fn set_error<E>(&self, error: &E)
    where
        E: std::error::Error + ?Sized + 'static,
    {
        // Format before taking the span's lock: `Display` may itself reach the tracer.
        let message = error.to_string();
        let stack = describe_chain(&message, error.source(), ChainStyle::Stack);
        let type_name = std::any::type_name::<E>();
        let kind = (!type_name.starts_with("dyn ")).then_some(type_name);
        with_open_span(self, |open, tracer| {
            open.data
                .fields
                .set_error(Some(&message), kind, Some(&stack));
            after_change(tracer, open);
        });
    }
}

/// Reads a trace context from `carrier` (an incoming request's headers) with the propagation
/// settings of the current subscriber's `DatadogLayer` (the defaults when it has none): the
/// first style, in the configured order, that finds a valid context wins; a later W3C context
/// of the same trace adds its `tracestate` (and becomes the parent if its span id differs);
/// contexts of other traces become span links. `None` when the headers carry neither a
/// context nor baggage. Make the result a span's remote parent with
/// [`DatadogSpanExt::set_parent`].
pub fn extract(carrier: &impl Extractor) -> Option<RemoteContext> {
    extract_with(carrier, &current_propagation_config())
}

/// The propagation settings of the current subscriber's `DatadogLayer`, else the defaults.
pub(crate) fn current_propagation_config() -> Arc<PropagationConfig> {
    tracing::dispatcher::get_default(|dispatch| {
        dispatch
            .downcast_ref::<SpanAccess>()
            .and_then(|access| access.tracer.as_ref())
            .map(|tracer| Arc::clone(&tracer.propagation))
    })
    .unwrap_or_default()
}

/// The W3C view of `span`'s context, without locking its sampling decision: its trace id, span
/// id, whether it is sampled, and the `tracestate` a Datadog tracer would send; `None` when no
/// `DatadogLayer` records the span.
#[cfg(feature = "opentelemetry")]
pub(crate) fn w3c_view(span: &tracing::Span) -> Option<(TraceId, u64, bool, String)> {
    let mut view = None;
    with_open_span(span, |open, _| {
        let context = open.trace.context();
        let outgoing = OutgoingContext::of(&context, open.data.span_id);
        view = Some((
            context.trace_id,
            open.data.span_id,
            context.sampling.priority > 0,
            crate::headers::tracecontext::tracestate(&outgoing),
        ));
    });
    view
}

/// Sets the string tag `key` on `span` as it is, without the meaning the field of that name has
/// (`error.message` set so does not make the span an error).
#[cfg(feature = "opentelemetry")]
pub(crate) fn set_plain_tag(span: &tracing::Span, key: &'static str, value: &str) {
    with_open_span(span, |open, _| open.data.fields.tags.set_str(key, value));
}

/// Sets when `span` started and ended, from wall-clock times (an OpenTelemetry span's
/// explicit times); spans keep monotonic instants, so the times are placed relative to now.
#[cfg(feature = "opentelemetry")]
pub(crate) fn set_times(
    span: &tracing::Span,
    start: Option<std::time::SystemTime>,
    end: Option<std::time::SystemTime>,
) {
    let unix_ns = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    };
    with_open_span(span, |open, _| {
        let data = &mut open.data;
        if let Some(start) = start {
            data.wall_start_ns = Some(unix_ns(start));
        }
        if let Some(end) = end {
            data.last_exit = Some(match data.wall_start_ns {
                // As long after the start as the two times say.
                Some(start_ns) => {
                    let lasted = u64::try_from(unix_ns(end).saturating_sub(start_ns)).unwrap_or(0);
                    data.start + std::time::Duration::from_nanos(lasted)
                }
                None => instant_of(end).max(data.start),
            });
        }
    });
}

/// The monotonic instant of the wall-clock `time`, as far back (or ahead) of now.
fn instant_of(time: std::time::SystemTime) -> std::time::Instant {
    let now = (std::time::SystemTime::now(), std::time::Instant::now());
    match now.0.duration_since(time) {
        Ok(ago) => now.1.checked_sub(ago).unwrap_or(now.1),
        // Never a panic, however far ahead the time given.
        Err(ahead) => now.1.checked_add(ahead.duration()).unwrap_or(now.1),
    }
}

/// Locks the sampling decision of `span`'s trace, as injecting its context does.
#[cfg(test)]
pub(crate) fn lock_decision(span: &tracing::Span) {
    with_open_span(span, |open, _| open.trace.context().locked = true);
}

/// Runs `f` on the record of `span`, if a `DatadogLayer` recorded it, with that layer's tracer.
fn with_open_span(span: &tracing::Span, f: impl FnOnce(&mut OpenSpan, Option<&Tracer>)) {
    with_record(span, |access| access.with_span, f);
}

/// As [`with_open_span`], on the span or its nearest ancestor dd-trace recorded (a span a
/// per-layer filter hid from the layer has no record of its own).
pub(crate) fn with_innermost_open_span(
    span: &tracing::Span,
    f: impl FnOnce(&mut OpenSpan, Option<&Tracer>),
) {
    with_record(span, |access| access.with_innermost, f);
}

/// Runs `f` on the record `pick` finds from `span`, with the layer's tracer.
fn with_record(
    span: &tracing::Span,
    pick: fn(&SpanAccess) -> WithSpan,
    f: impl FnOnce(&mut OpenSpan, Option<&Tracer>),
) {
    let mut f = Some(f);
    span.with_subscriber(|(id, dispatch)| {
        if let Some(access) = dispatch.downcast_ref::<SpanAccess>() {
            let tracer = access.tracer.as_deref();
            pick(access)(dispatch, id, &mut |open| {
                if let Some(f) = f.take() {
                    f(open, tracer);
                }
            });
        }
    });
}

/// How a span handle reaches the records of the layer, registered by the layer for the
/// subscriber type `S` it was added to (see `Layer::on_layer`) and found through the
/// subscriber's `downcast_raw`; with the layer's tracer, for the samplers.
#[derive(Clone)]
pub(crate) struct SpanAccess {
    with_span: WithSpan,
    /// As `with_span`, on the span or, if dd-trace did not record it, its nearest recorded
    /// ancestor.
    with_innermost: WithSpan,
    ids: fn(&Dispatch, &Id) -> Option<DatadogIds>,
    tracer: Option<Arc<Tracer>>,
}

/// Runs a closure on the record of a span, if dd-trace recorded it.
type WithSpan = fn(&Dispatch, &Id, &mut dyn FnMut(&mut OpenSpan));

impl std::fmt::Debug for SpanAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpanAccess")
    }
}

impl SpanAccess {
    /// The access for spans stored by the subscriber `S`, recorded by `tracer`'s layer.
    pub(crate) fn new<S>(tracer: Option<Arc<Tracer>>) -> Self
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        SpanAccess {
            with_span: with_span::<S>,
            with_innermost: with_innermost::<S>,
            ids: ids::<S>,
            tracer,
        }
    }
}

fn with_span<S>(dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut OpenSpan))
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = dispatch.downcast_ref::<S>().and_then(|s| s.span(id)) else {
        return;
    };
    let mut ext = span.extensions_mut();
    if let Some(open) = ext.get_mut::<OpenSpan>() {
        f(open);
    }
}

fn with_innermost<S>(dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut OpenSpan))
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = dispatch.downcast_ref::<S>().and_then(|s| s.span(id)) else {
        return;
    };
    for span in span.scope() {
        let mut ext = span.extensions_mut();
        if let Some(open) = ext.get_mut::<OpenSpan>() {
            return f(open);
        }
    }
}

fn ids<S>(dispatch: &Dispatch, id: &Id) -> Option<DatadogIds>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ids_of(&dispatch.downcast_ref::<S>()?.span(id)?)
}
