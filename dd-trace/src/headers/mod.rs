//! HEADERS: the propagation codec. Reads a trace's context from incoming headers and writes
//! it into outgoing ones, in the styles Datadog's tracers speak, one file per style
//! (`datadog.rs`, `tracecontext.rs`, `b3.rs`, `baggage.rs`); the carriers, the styles, the
//! extracted [`RemoteContext`] and the extraction algorithm are here.
//!
//! In: a carrier ([`Extractor`]) and the propagation settings ([`PropagationConfig`]), or a
//! span's [`OutgoingContext`] and a carrier ([`Injector`]), on the app's thread that calls; the
//! settings are handed in by the layer (`layer::extract`, `DatadogSpanExt::inject_context`),
//! which knows the current tracer: this module knows no subscriber. Out: a [`RemoteContext`],
//! or headers. Parsing is bounded: every header has a size limit past which it is ignored or
//! cut (`x-datadog-tags`, `tracestate`, `baggage`), and it never panics.

mod b3;
pub(crate) mod baggage;
mod datadog;
pub(crate) mod tracecontext;

use std::collections::HashMap;
use std::fmt;

use crate::model::decision::SamplingPriority;
use crate::model::id::{SpanId, TraceId};
use crate::model::span::{SpanLink, TagRef};
use crate::model::trace::TraceContext;

/// Reads headers from a carrier (lowercase names; carriers should match case-insensitively).
pub trait Extractor {
    /// The first value of header `name`.
    fn get(&self, name: &str) -> Option<&str>;

    /// Every value of header `name`, in order (a repeated `traceparent` makes the W3C context
    /// invalid).
    fn get_all(&self, name: &str) -> Vec<&str> {
        self.get(name).into_iter().collect()
    }
}

/// Writes headers into a carrier.
pub trait Injector {
    /// Sets header `name` (lowercase) to `value`, replacing an earlier value.
    fn set(&mut self, name: &str, value: String);
}

impl Extractor for http::HeaderMap {
    fn get(&self, name: &str) -> Option<&str> {
        http::HeaderMap::get(self, name).and_then(|v| v.to_str().ok())
    }

    fn get_all(&self, name: &str) -> Vec<&str> {
        http::HeaderMap::get_all(self, name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }
}

impl Injector for http::HeaderMap {
    fn set(&mut self, name: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.insert(name, value);
        }
    }
}

impl<S: std::hash::BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name)
            .or_else(|| {
                self.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, name: &str, value: String) {
        self.insert(name.to_string(), value);
    }
}

/// A list of `(name, value)` headers, repeats allowed.
impl Extractor for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn get_all(&self, name: &str) -> Vec<&str> {
        self.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl Injector for Vec<(String, String)> {
    fn set(&mut self, name: &str, value: String) {
        match self.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.push((name.to_string(), value)),
        }
    }
}

/// A propagation style.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropagationStyle {
    /// `x-datadog-trace-id`, `x-datadog-parent-id`, `x-datadog-sampling-priority`,
    /// `x-datadog-origin`, `x-datadog-tags`.
    Datadog,
    /// W3C `traceparent` and `tracestate`.
    TraceContext,
    /// `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags`.
    B3Multi,
    /// The single `b3` header.
    B3Single,
    /// W3C `baggage`.
    Baggage,
}

impl PropagationStyle {
    /// Parses a style name as the `DD_TRACE_PROPAGATION_STYLE*` variables spell it
    /// (case-insensitive; `b3` and `b3 single header` are the single header).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "datadog" => PropagationStyle::Datadog,
            "tracecontext" => PropagationStyle::TraceContext,
            "b3multi" => PropagationStyle::B3Multi,
            "b3" | "b3 single header" | "b3single" => PropagationStyle::B3Single,
            "baggage" => PropagationStyle::Baggage,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            PropagationStyle::Datadog => "datadog",
            PropagationStyle::TraceContext => "tracecontext",
            PropagationStyle::B3Multi => "b3multi",
            PropagationStyle::B3Single => "b3",
            PropagationStyle::Baggage => "baggage",
        }
    }
}

impl fmt::Display for PropagationStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to do with an extracted context (`DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExtractBehavior {
    /// Continue the incoming trace.
    Continue,
    /// Start a new trace linked to the incoming one; keep its baggage.
    Restart,
    /// Extract nothing.
    Ignore,
}

/// How the tracer propagates.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PropagationConfig {
    pub(crate) inject: Vec<PropagationStyle>,
    pub(crate) extract: Vec<PropagationStyle>,
    pub(crate) extract_first: bool,
    pub(crate) behavior: ExtractBehavior,
    pub(crate) x_datadog_tags_max_length: usize,
    pub(crate) baggage_max_items: usize,
    pub(crate) baggage_max_bytes: usize,
    /// Baggage items copied onto the span that adopts an extracted context, as
    /// `baggage.<key>` tags (`DD_TRACE_BAGGAGE_TAG_KEYS`).
    pub(crate) baggage_tag_keys: BaggageTagKeys,
}

/// Which baggage items become span tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BaggageTagKeys {
    /// Every item (`*`).
    All,
    /// These keys (none, when empty).
    Keys(Vec<String>),
}

impl BaggageTagKeys {
    /// Datadog's default: the user, session and account ids.
    pub(crate) fn default_keys() -> Self {
        BaggageTagKeys::Keys(vec![
            "user.id".into(),
            "session.id".into(),
            "account.id".into(),
        ])
    }

    /// Parses `DD_TRACE_BAGGAGE_TAG_KEYS`: `*`, or comma-separated keys (empty entries skipped).
    pub(crate) fn parse(raw: &str) -> Self {
        if raw.trim() == "*" {
            return BaggageTagKeys::All;
        }
        BaggageTagKeys::Keys(
            raw.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    /// Whether the item `key` becomes a tag.
    pub(crate) fn includes(&self, key: &str) -> bool {
        match self {
            BaggageTagKeys::All => true,
            BaggageTagKeys::Keys(keys) => keys.iter().any(|k| k == key),
        }
    }
}

/// The most bytes `x-datadog-tags` may take: Datadog's tracers cap the configured length here.
pub(crate) const MAX_TAGS_HEADER_LENGTH: usize = 512;
/// Baggage items propagated at most, by default.
pub(crate) const DEFAULT_BAGGAGE_MAX_ITEMS: usize = 64;
/// Bytes of baggage propagated at most, by default.
pub(crate) const DEFAULT_BAGGAGE_MAX_BYTES: usize = 8192;

/// The styles used when none is configured.
pub(crate) const DEFAULT_STYLES: [PropagationStyle; 3] = [
    PropagationStyle::Datadog,
    PropagationStyle::TraceContext,
    PropagationStyle::Baggage,
];

impl Default for PropagationConfig {
    fn default() -> Self {
        PropagationConfig {
            inject: DEFAULT_STYLES.to_vec(),
            extract: DEFAULT_STYLES.to_vec(),
            extract_first: false,
            behavior: ExtractBehavior::Continue,
            x_datadog_tags_max_length: MAX_TAGS_HEADER_LENGTH,
            baggage_max_items: DEFAULT_BAGGAGE_MAX_ITEMS,
            baggage_max_bytes: DEFAULT_BAGGAGE_MAX_BYTES,
            baggage_tag_keys: BaggageTagKeys::default_keys(),
        }
    }
}

/// Parses a comma-separated style list: the styles it names, and the names it does not know,
/// which are left out. `none` alone means no style; among other styles it is ignored, as in
/// Datadog's other tracers (`none,datadog` is `datadog`).
pub(crate) fn parse_styles(list: &str) -> (Vec<PropagationStyle>, Vec<String>) {
    let (mut styles, mut unknown) = (Vec::new(), Vec::new());
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item.eq_ignore_ascii_case("none") {
            continue;
        }
        match PropagationStyle::parse(item) {
            Some(style) if !styles.contains(&style) => styles.push(style),
            Some(_) => {}
            None => unknown.push(item.to_string()),
        }
    }
    (styles, unknown)
}

/// A trace context read from incoming headers, for
/// [`DatadogSpanExt::set_parent`](crate::layer::DatadogSpanExt::set_parent): the remote parent's ids,
/// its sampling decision, origin and propagated tags, other vendors' `tracestate`, and baggage.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteContext {
    /// `None` for baggage alone.
    pub(crate) trace_id: Option<TraceId>,
    pub(crate) parent_id: u64,
    pub(crate) sampling_priority: Option<i8>,
    pub(crate) origin: Option<String>,
    /// `_dd.p.*` tags, without `_dd.p.tid` (in the trace id).
    pub(crate) tags: Vec<(String, String)>,
    /// Other vendors' `tracestate` members.
    pub(crate) tracestate: Option<String>,
    /// `_dd.parent_id`: the last Datadog span before a W3C-only hop.
    pub(crate) dd_parent_id: Option<String>,
    pub(crate) baggage: Vec<(String, String)>,
    /// Contexts of other traces the headers also carried.
    pub(crate) links: Vec<SpanLink>,
    /// `_dd.propagation_error`.
    pub(crate) propagation_error: Option<String>,
}

impl RemoteContext {
    pub(crate) fn new(trace_id: TraceId, parent_id: u64) -> Self {
        RemoteContext {
            trace_id: Some(trace_id),
            parent_id,
            sampling_priority: None,
            origin: None,
            tags: Vec::new(),
            tracestate: None,
            dd_parent_id: None,
            baggage: Vec::new(),
            links: Vec::new(),
            propagation_error: None,
        }
    }

    /// A sampling decision without a trace (a `b3` header of `0`, `1` or `d` alone).
    fn decision_only(priority: Option<i8>) -> Self {
        RemoteContext {
            trace_id: None,
            sampling_priority: priority,
            ..RemoteContext::new(TraceId::from_u128(0), 0)
        }
    }

    fn baggage_only(baggage: Vec<(String, String)>) -> Self {
        RemoteContext {
            trace_id: None,
            baggage,
            ..RemoteContext::new(TraceId::from_u128(0), 0)
        }
    }

    /// The trace id; `None` for a context that carries no trace (baggage, or a sampling
    /// decision, alone).
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    /// The remote parent's span id; `None` when there is none (no trace, or a context that
    /// names no parent, as a synthetics test's may).
    pub fn parent_id(&self) -> Option<SpanId> {
        SpanId::new(self.parent_id)
    }

    /// The upstream sampling priority, if it sent one.
    pub fn sampling_priority(&self) -> Option<SamplingPriority> {
        self.sampling_priority.map(SamplingPriority::from)
    }

    /// The origin (`synthetics`, `rum`, …), if any.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// A propagated `_dd.p.*` tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The baggage items.
    pub fn baggage(&self) -> impl Iterator<Item = (&str, &str)> {
        self.baggage.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The W3C `tracestate` that came with the trace, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// Whether the headers carried a trace context (not only baggage).
    pub fn has_trace(&self) -> bool {
        self.trace_id.is_some()
    }

    pub(crate) fn set_tag(&mut self, key: &str, value: &str) {
        match self.tags.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.tags.push((key.to_string(), value.to_string())),
        }
    }
}

/// A span's context as injection writes it, taken under its trace's lock.
#[derive(Clone, Debug)]
pub(crate) struct OutgoingContext {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: u64,
    pub(crate) priority: i8,
    pub(crate) origin: Option<String>,
    /// `_dd.p.*` in injection order: `_dd.p.tid`, `_dd.p.dm`, then the others.
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) tracestate: Option<String>,
    pub(crate) baggage: Vec<(String, String)>,
}

impl OutgoingContext {
    /// The context of the span `span_id` in the trace whose context is `context` (taken under
    /// that trace's lock), as injection writes it.
    pub(crate) fn of(context: &TraceContext, span_id: u64) -> Self {
        let mut tags = Vec::new();
        if context.trace_id.high() != 0 {
            tags.push((
                "_dd.p.tid".into(),
                context.trace_id.high_hex(&mut [0; 16]).to_string(),
            ));
        }
        context
            .sampling
            .for_each_propagated_tag(|key, value| tags.push((key.into(), value.to_string())));
        let p = context.propagated.as_deref();
        if let Some(p) = p {
            for (key, value) in p.tags.iter() {
                if let TagRef::Str(v) = value {
                    tags.push((key.to_string(), v.to_string()));
                }
            }
        }
        OutgoingContext {
            trace_id: context.trace_id,
            span_id,
            priority: context.sampling.priority,
            origin: p.and_then(|p| p.origin.clone()),
            tags,
            tracestate: p.and_then(|p| p.tracestate.clone()),
            baggage: p.map(|p| p.baggage.clone()).unwrap_or_default(),
        }
    }

    fn propagated_tags(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Reads a trace context from `carrier` with `config`: the first style (in the configured
/// order) that finds a valid context wins; a later W3C context of the same trace adds its
/// `tracestate` (and becomes the parent if its span id differs); contexts of other traces
/// become span links. `None` when the headers carry neither a context nor baggage.
pub(crate) fn extract_with(
    carrier: &dyn Extractor,
    config: &PropagationConfig,
) -> Option<RemoteContext> {
    if config.behavior == ExtractBehavior::Ignore {
        return None;
    }
    let mut winner: Option<(PropagationStyle, RemoteContext)> = None;
    let mut baggage = None;
    // A decision without a trace, used only if no style brings a trace.
    let mut decision = None;
    for &style in &config.extract {
        if style == PropagationStyle::Baggage {
            baggage = baggage::extract(carrier, config.baggage_max_items, config.baggage_max_bytes);
            continue;
        }
        let Some(ctx) = extract_style(style, carrier, config) else {
            continue;
        };
        if ctx.trace_id.is_none() {
            decision = decision.or(ctx.sampling_priority);
            continue;
        }
        let Some((_, first)) = &mut winner else {
            winner = Some((style, ctx));
            continue;
        };
        if config.extract_first {
            continue;
        }
        if ctx.trace_id == first.trace_id {
            if style == PropagationStyle::TraceContext {
                first.tracestate = ctx.tracestate;
                if ctx.parent_id != first.parent_id {
                    first.dd_parent_id = ctx
                        .dd_parent_id
                        .or_else(|| Some(format!("{:016x}", first.parent_id)));
                    first.parent_id = ctx.parent_id;
                }
            }
        } else {
            let mut link = context_link(&ctx, style);
            link.attributes = vec![
                ("reason".into(), "terminated_context".into()),
                ("context_headers".into(), style.name().into()),
            ];
            first.links.push(link);
        }
    }
    let baggage = baggage.unwrap_or_default();
    match (winner, config.behavior) {
        (Some((style, ctx)), ExtractBehavior::Restart) => {
            // A new trace, linked to the incoming one; the baggage is kept.
            let mut restarted = RemoteContext::baggage_only(baggage);
            let mut link = context_link(&ctx, style);
            link.attributes = vec![("reason".into(), "propagation_behavior_extract".into())];
            restarted.links.push(link);
            Some(restarted)
        }
        (Some((_, mut ctx)), _) => {
            ctx.baggage = baggage;
            Some(ctx)
        }
        (None, _) if decision.is_some() || !baggage.is_empty() => Some(RemoteContext {
            sampling_priority: decision,
            ..RemoteContext::baggage_only(baggage)
        }),
        (None, _) => None,
    }
}

fn extract_style(
    style: PropagationStyle,
    carrier: &dyn Extractor,
    config: &PropagationConfig,
) -> Option<RemoteContext> {
    match style {
        PropagationStyle::Datadog => datadog::extract(carrier, config.x_datadog_tags_max_length),
        PropagationStyle::TraceContext => tracecontext::extract(carrier),
        PropagationStyle::B3Multi => b3::extract_multi(carrier),
        PropagationStyle::B3Single => b3::extract_single(carrier),
        PropagationStyle::Baggage => None,
    }
}

/// A link to the incoming context `ctx`, read in `style` (attributes left to the caller).
fn context_link(ctx: &RemoteContext, style: PropagationStyle) -> SpanLink {
    SpanLink {
        trace_id: ctx.trace_id.unwrap_or(TraceId::from_u128(0)),
        span_id: ctx.parent_id,
        flags: SpanLink::flags_for(ctx.sampling_priority.unwrap_or(1) > 0),
        tracestate: if style == PropagationStyle::TraceContext {
            ctx.tracestate.clone()
        } else {
            None
        },
        attributes: Vec::new(),
    }
}

/// Writes `ctx` in every configured style. Returns the propagation error to record on the
/// trace, if any.
pub(crate) fn inject_with(
    ctx: &OutgoingContext,
    carrier: &mut dyn Injector,
    config: &PropagationConfig,
) -> Option<&'static str> {
    let mut error = None;
    for &style in &config.inject {
        match style {
            PropagationStyle::Datadog => {
                error = datadog::inject(ctx, carrier, config.x_datadog_tags_max_length).or(error);
            }
            PropagationStyle::TraceContext => tracecontext::inject(ctx, carrier),
            PropagationStyle::B3Multi => b3::inject_multi(ctx, carrier),
            PropagationStyle::B3Single => b3::inject_single(ctx, carrier),
            PropagationStyle::Baggage => baggage::inject(
                &ctx.baggage,
                carrier,
                config.baggage_max_items,
                config.baggage_max_bytes,
            ),
        }
    }
    error
}

#[cfg(test)]
mod tests;
