//! The span model, independent of the wire format.
//!
//! In: `tracing` field values (through [`FieldRecorder`]) and clock readings from the layer.
//! Out: [`SpanData`] kept in the span's extensions while it is open, then moved into its
//! [`TraceState`] when it closes; a [`Chunk`] of finished spans when the trace ends (or grows
//! past its flush threshold), handed to the buffer. Called by the layer only.

use std::fmt::{self, Write as _};
use std::mem;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};

use crate::model::id::TraceId;
use crate::sampling::SamplingDecision;

/// `span.kind` values (spec §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpanKind {
    Server,
    Client,
    Producer,
    Consumer,
    Internal,
}

impl SpanKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            "internal" => SpanKind::Internal,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
            SpanKind::Internal => "internal",
        }
    }
}

/// A range of [`Fields::text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Text {
    start: u32,
    end: u32,
}

/// A tag value: a string (→ `meta`) or a number (→ `metrics`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    Str(Text),
    Num(f64),
}

/// A span link (from `follows_from`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SpanLink {
    pub trace_id: TraceId,
    pub span_id: u64,
    /// W3C flags with bit 31 set (spec §1.2 Decision): `0x8000_0001` sampled.
    pub flags: u32,
}

/// The recorded fields of one span. All strings share one buffer so that a span costs one
/// allocation for its text and one for its tag list, however many fields it has.
#[derive(Default, Debug)]
pub(crate) struct Fields {
    text: String,
    tags: Vec<(&'static str, Value)>,
    pub operation_name: Option<Text>,
    pub resource: Option<Text>,
    pub service: Option<Text>,
    pub span_type: Option<Text>,
    pub kind: Option<SpanKind>,
    pub error: bool,
    pub links: Vec<SpanLink>,
}

impl Fields {
    /// Makes room for `n` fields, so recording a span's declared fields rarely regrows.
    pub(crate) fn reserve(&mut self, n: usize) {
        if n > self.tags.capacity() {
            self.text.reserve(32 + n * 32);
            self.tags.reserve(n);
        }
    }

    /// Clears everything, keeping the buffers unless they grew large. Returns `false` if the
    /// buffers are too large to be worth keeping.
    pub(crate) fn reset(&mut self) -> bool {
        const MAX_TEXT: usize = 4096;
        const MAX_TAGS: usize = 64;
        if self.text.capacity() > MAX_TEXT || self.tags.capacity() > MAX_TAGS {
            return false;
        }
        self.text.clear();
        self.tags.clear();
        self.links = Vec::new();
        self.operation_name = None;
        self.resource = None;
        self.service = None;
        self.span_type = None;
        self.kind = None;
        self.error = false;
        true
    }

    #[cfg(test)]
    pub(crate) fn text_capacity(&self) -> usize {
        self.text.capacity()
    }

    pub(crate) fn text(&self, t: Text) -> &str {
        self.text
            .get(t.start as usize..t.end as usize)
            .unwrap_or("")
    }

    /// The recorded tags, string values resolved.
    pub(crate) fn tags(&self) -> impl Iterator<Item = (&'static str, TagValue<'_>)> + Clone {
        self.tags.iter().map(move |&(k, v)| {
            (
                k,
                match v {
                    Value::Str(t) => TagValue::Str(self.text(t)),
                    Value::Num(n) => TagValue::Num(n),
                },
            )
        })
    }

    /// Appends formatted text; the write cannot fail for a `String`.
    fn push_text(&mut self, args: fmt::Arguments<'_>) -> Text {
        let start = self.text.len();
        let _ = self.text.write_fmt(args);
        self.text_range(start)
    }

    fn push_str(&mut self, s: &str) -> Text {
        let start = self.text.len();
        self.text.push_str(s);
        self.text_range(start)
    }

    fn text_range(&mut self, start: usize) -> Text {
        // Over 4 GiB of text in one span: keep what fits in the index.
        if self.text.len() > u32::MAX as usize {
            self.text.truncate(start);
            return Text {
                start: start as u32,
                end: start as u32,
            };
        }
        Text {
            start: start as u32,
            end: self.text.len() as u32,
        }
    }

    fn set(&mut self, key: &'static str, value: Value, dedup: bool) {
        if dedup {
            if let Some(slot) = self.tags.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
                return;
            }
        }
        self.tags.push((key, value));
    }

    /// Applies fields recorded later (`Span::record`) on top of these: later values win.
    pub(crate) fn merge(&mut self, later: &Fields) {
        for (key, value) in later.tags() {
            let value = match value {
                TagValue::Str(s) => Value::Str(self.push_str(s)),
                TagValue::Num(n) => Value::Num(n),
            };
            self.set(key, value, true);
        }
        let mut copy = |slot: Option<Text>| slot.map(|t| self.push_str(later.text(t)));
        let (operation_name, resource, service, span_type) = (
            copy(later.operation_name),
            copy(later.resource),
            copy(later.service),
            copy(later.span_type),
        );
        self.operation_name = operation_name.or(self.operation_name);
        self.resource = resource.or(self.resource);
        self.service = service.or(self.service);
        self.span_type = span_type.or(self.span_type);
        self.kind = later.kind.or(self.kind);
        self.error |= later.error;
    }

    pub(crate) fn set_str(&mut self, key: &'static str, value: &str) {
        let t = self.push_str(value);
        self.set(key, Value::Str(t), true);
    }
}

/// A resolved tag value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum TagValue<'a> {
    Str(&'a str),
    Num(f64),
}

/// Records `tracing` field values into [`Fields`], applying the field mapping documented in
/// the crate docs.
pub(crate) struct FieldRecorder<'a> {
    pub fields: &'a mut Fields,
    /// False while recording a new span's attributes, whose field names are distinct.
    pub dedup: bool,
}

impl FieldRecorder<'_> {
    fn record_text(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        // Plain strings skip the formatting machinery.
        let t = match value.as_str() {
            Some(s) => self.fields.push_str(s),
            None => self.fields.push_text(value),
        };
        self.record_text_range(field, t);
    }

    fn record_text_range(&mut self, field: &Field, t: Text) {
        let name = field.name();
        match name {
            "resource.name" | "resource" => self.fields.resource = Some(t),
            "service.name" | "service" => self.fields.service = Some(t),
            "operation.name" => self.fields.operation_name = Some(t),
            "span.type" => self.fields.span_type = Some(t),
            "span.kind" | "otel.kind" => {
                self.fields.kind = SpanKind::parse(self.fields.text(t));
                if let Some(kind) = self.fields.kind {
                    let t = self.fields.push_str(kind.as_str());
                    self.fields.set("span.kind", Value::Str(t), self.dedup);
                }
            }
            "error" => {
                self.fields.error = true;
                self.fields.set("error.message", Value::Str(t), self.dedup);
            }
            "error.message" | "error.type" | "error.stack" => {
                self.fields.error = true;
                self.fields.set(name, Value::Str(t), self.dedup);
            }
            _ => self.fields.set(name, Value::Str(t), self.dedup),
        }
    }

    fn record_number(&mut self, field: &Field, value: f64, display: fmt::Arguments<'_>) {
        match field.name() {
            // Datadog reads the status code as a string tag (spec §2).
            "http.status_code" => self.record_text(field, display),
            name => self.fields.set(name, Value::Num(value), self.dedup),
        }
    }
}

impl Visit for FieldRecorder<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record_number(field, value, format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_number(field, value as f64, format_args!("{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_number(field, value as f64, format_args!("{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.record_number(field, value as f64, format_args!("{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.record_number(field, value as f64, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "error" {
            self.fields.error = value;
            return;
        }
        let t = self.fields.push_str(if value { "true" } else { "false" });
        self.fields.set(field.name(), Value::Str(t), self.dedup);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let t = self.fields.push_str(value);
        self.record_text_range(field, t);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_text(field, format_args!("{value}"));
        if value.source().is_some() {
            let chain = error_chain(value);
            let t = self.fields.push_str(&chain);
            self.fields.set("error.stack", Value::Str(t), self.dedup);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_text(field, format_args!("{value:?}"));
    }
}

/// `error` followed by its sources, one per line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    let mut n = 0;
    while let Some(cause) = source {
        if n == 0 {
            out.push_str("\nCaused by:");
        }
        let _ = write!(out, "\n    {n}: {cause}");
        n += 1;
        source = cause.source();
    }
    out
}

/// Collects the error fields of an ERROR event (such as the one `#[instrument(err)]` emits) and
/// applies them to the span the event happened in.
#[derive(Default)]
pub(crate) struct ErrorEvent {
    message: Option<String>,
    error: Option<String>,
    error_message: Option<String>,
    error_type: Option<String>,
    error_stack: Option<String>,
}

impl ErrorEvent {
    pub(crate) fn apply(self, fields: &mut Fields) {
        fields.error = true;
        if let Some(msg) = self.error_message.or(self.error).or(self.message) {
            fields.set_str("error.message", &msg);
        }
        if let Some(t) = self.error_type {
            fields.set_str("error.type", &t);
        }
        if let Some(s) = self.error_stack {
            fields.set_str("error.stack", &s);
        }
    }

    fn slot(&mut self, field: &Field) -> Option<&mut Option<String>> {
        match field.name() {
            "message" => Some(&mut self.message),
            "error" => Some(&mut self.error),
            "error.message" => Some(&mut self.error_message),
            "error.type" => Some(&mut self.error_type),
            "error.stack" => Some(&mut self.error_stack),
            _ => None,
        }
    }
}

impl Visit for ErrorEvent {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(value.to_string());
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(value.to_string());
            if value.source().is_some() && self.error_stack.is_none() {
                self.error_stack = Some(error_chain(value));
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(format!("{value:?}"));
        }
    }
}

/// The service of a span's parent, kept to decide `_dd.top_level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParentService {
    /// No local parent: the span is a local root.
    None,
    /// The parent uses the configured service.
    Default,
    /// The parent set its own service.
    Named(Box<str>),
}

/// One span, open or finished.
#[derive(Debug)]
pub(crate) struct SpanData {
    pub span_id: u64,
    pub parent_id: u64,
    pub name: &'static str,
    pub start: Instant,
    /// When the span was last exited: its end, if it was ever entered (see the crate docs).
    pub last_exit: Option<Instant>,
    /// When the span ended; set when it finishes.
    pub end: Instant,
    pub parent_service: ParentService,
    pub fields: Fields,
}

impl SpanData {
    /// An empty record with room for `text` bytes and `tags` tags, filled in by the layer
    /// when a span starts.
    pub(crate) fn blank(text: usize, tags: usize) -> Self {
        SpanData {
            span_id: 0,
            parent_id: 0,
            name: "",
            start: Instant::now(),
            last_exit: None,
            end: Instant::now(),
            parent_service: ParentService::None,
            fields: Fields {
                text: String::with_capacity(text),
                tags: Vec::with_capacity(tags),
                ..Fields::default()
            },
        }
    }

    /// Nanoseconds from start to end, never negative.
    pub(crate) fn duration_ns(&self) -> i64 {
        self.end
            .checked_duration_since(self.start)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// The span's own service, if it set one.
    pub(crate) fn service(&self) -> Option<&str> {
        self.fields.service.map(|t| self.fields.text(t))
    }

    /// Whether this span starts a new service's part of the trace (`_dd.top_level`).
    pub(crate) fn is_top_level(&self) -> bool {
        match (&self.parent_service, self.service()) {
            (ParentService::None, _) => true,
            (ParentService::Default, own) => own.is_some(),
            (ParentService::Named(parent), own) => own != Some(&**parent),
        }
    }

    /// This span's service as its children see it.
    pub(crate) fn service_for_children(&self) -> ParentService {
        match self.service() {
            Some(s) => ParentService::Named(s.into()),
            None => ParentService::Default,
        }
    }
}

/// What all spans of one trace in this process share.
#[derive(Debug)]
pub(crate) struct TraceState {
    pub trace_id: TraceId,
    pub sampling: SamplingDecision,
    /// The span id of this process's root span of the trace.
    pub local_root_span_id: u64,
    open: AtomicUsize,
    finished: Mutex<Spans>,
}

impl TraceState {
    /// A new trace whose local root is `root_span_id`; the root counts as open.
    pub(crate) fn new(trace_id: TraceId, sampling: SamplingDecision, root_span_id: u64) -> Self {
        TraceState {
            trace_id,
            sampling,
            local_root_span_id: root_span_id,
            open: AtomicUsize::new(1),
            finished: Mutex::new(Spans::new()),
        }
    }

    /// Makes a recycled state new (see `pool`); `finished` is already empty.
    pub(crate) fn reset(
        &mut self,
        trace_id: TraceId,
        sampling: SamplingDecision,
        root_span_id: u64,
    ) {
        self.trace_id = trace_id;
        self.sampling = sampling;
        self.local_root_span_id = root_span_id;
        *self.open.get_mut() = 1;
        self.finished
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Counts a new child span as open.
    pub(crate) fn span_started(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets a child counted by [`span_started`](Self::span_started) that will not be
    /// recorded after all.
    pub(crate) fn span_abandoned(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// Records a finished span. Returns the chunk to send when this was the trace's last open
    /// span, or when `flush_at` finished spans are waiting (a partial flush).
    pub(crate) fn span_finished(
        self: Arc<Self>,
        mut span: Box<SpanData>,
        end: Instant,
        flush_at: usize,
    ) -> Option<Chunk> {
        span.end = end;
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        finished.push(span);
        // Decrement under the lock so that the last span sees every other span's push.
        let last = self.open.fetch_sub(1, Ordering::AcqRel) == 1;
        if !last && finished.len() < flush_at {
            return None;
        }
        let spans = mem::take(&mut *finished);
        drop(finished);
        Some(Chunk {
            trace: self,
            spans,
            partial: !last,
        })
    }
}

/// Converts monotonic instants to Unix time. The app's threads only read the monotonic clock;
/// the worker takes a fresh reading of both clocks before it encodes, so wall-clock steps
/// (NTP) never stretch a span and its start is right to within the drift of a few seconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WallClock {
    instant: Instant,
    unix_ns: i64,
}

impl WallClock {
    pub(crate) fn now() -> Self {
        WallClock {
            instant: Instant::now(),
            unix_ns: unix_now_ns(),
        }
    }

    #[cfg(test)]
    pub(crate) fn at(instant: Instant, unix_ns: i64) -> Self {
        WallClock { instant, unix_ns }
    }

    /// The Unix time, in whole seconds, of `t` (at or after this reading).
    pub(crate) fn unix_secs(&self, t: Instant) -> u64 {
        let secs = u64::try_from(self.unix_ns / 1_000_000_000).unwrap_or(0);
        secs + t.saturating_duration_since(self.instant).as_secs()
    }

    /// The Unix time, in nanoseconds, of `t`.
    pub(crate) fn unix_ns(&self, t: Instant) -> i64 {
        let ns = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        match self.instant.checked_duration_since(t) {
            Some(before) => self.unix_ns.saturating_sub(ns(before)),
            None => self.unix_ns.saturating_add(ns(t - self.instant)),
        }
    }
}

/// The current wall-clock time in Unix nanoseconds (0 if the clock is before 1970).
pub(crate) fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Finished spans of a trace; small traces need no allocation of their own.
pub(crate) type Spans = smallvec::SmallVec<[Box<SpanData>; 4]>;

/// Finished spans of one trace, sent together.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub trace: Arc<TraceState>,
    pub spans: Spans,
    /// More spans of this trace are still open.
    pub partial: bool,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sampling::Sampler;

    pub(crate) fn span(span_id: u64, parent_id: u64) -> Box<SpanData> {
        Box::new(SpanData {
            span_id,
            parent_id,
            name: "op",
            start: Instant::now(),
            last_exit: None,
            end: Instant::now(),
            parent_service: ParentService::None,
            fields: Fields::default(),
        })
    }

    fn trace() -> Arc<TraceState> {
        Arc::new(TraceState::new(
            TraceId::from_parts(1, 2),
            Sampler::new(None).decide(2),
            1,
        ))
    }

    #[test]
    fn chunk_leaves_when_the_last_open_span_closes_in_any_order() {
        let t = trace();
        t.span_started(); // child 2
        t.span_started(); // child 3
        let now = Instant::now();
        // The root closes first: children may outlive it.
        assert!(t
            .clone()
            .span_finished(span(1, 0), now, usize::MAX)
            .is_none());
        assert!(t
            .clone()
            .span_finished(span(2, 1), now, usize::MAX)
            .is_none());
        let chunk = t
            .clone()
            .span_finished(span(3, 1), now, usize::MAX)
            .unwrap();
        assert!(!chunk.partial);
        let ids: Vec<u64> = chunk.spans.iter().map(|s| s.span_id).collect();
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn partial_chunks_leave_at_the_threshold() {
        let t = trace();
        for _ in 0..4 {
            t.span_started();
        }
        let now = Instant::now();
        assert!(t.clone().span_finished(span(2, 1), now, 2).is_none());
        let c = t.clone().span_finished(span(3, 1), now, 2).unwrap();
        assert!(c.partial);
        assert_eq!(c.spans.len(), 2);
        assert!(t.clone().span_finished(span(4, 1), now, 2).is_none());
        let c = t.clone().span_finished(span(5, 1), now, 2).unwrap();
        assert!(c.partial);
        let c = t.clone().span_finished(span(1, 0), now, 2).unwrap();
        assert!(!c.partial);
        assert_eq!(c.spans.len(), 1);
    }

    #[test]
    fn durations_come_from_the_monotonic_clock_and_never_go_negative() {
        let t = trace();
        let mut s = span(1, 0);
        s.start = Instant::now();
        let end = s.start + std::time::Duration::from_micros(1500);
        let c = t.clone().span_finished(s, end, usize::MAX).unwrap();
        assert_eq!(c.spans[0].duration_ns(), 1_500_000);

        let t = trace();
        let mut s = span(1, 0);
        s.start = Instant::now() + std::time::Duration::from_secs(1);
        let c = t.span_finished(s, Instant::now(), usize::MAX).unwrap();
        assert_eq!(c.spans[0].duration_ns(), 0);
    }

    #[test]
    fn wall_clock_converts_instants_on_both_sides_of_its_reading() {
        let base = Instant::now();
        let clock = WallClock::at(base + std::time::Duration::from_secs(2), 10_000_000_000);
        assert_eq!(clock.unix_ns(base), 8_000_000_000);
        assert_eq!(
            clock.unix_ns(base + std::time::Duration::from_millis(2500)),
            10_500_000_000
        );
    }

    #[test]
    fn top_level_follows_service_changes() {
        let mut s = span(2, 1);
        s.parent_service = ParentService::Default;
        assert!(!s.is_top_level());
        FieldRecorder {
            fields: &mut s.fields,
            dedup: true,
        }
        .record_str(&field("service.name"), "db");
        assert!(s.is_top_level());
        s.parent_service = ParentService::Named("db".into());
        assert!(!s.is_top_level());
        assert!(span(1, 0).is_top_level());
    }

    /// A `Field` with the given name, from a throwaway callsite.
    pub(crate) fn field(name: &'static str) -> Field {
        struct Cs;
        impl tracing::Callsite for Cs {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &tracing::Metadata<'_> {
                &META
            }
        }
        static CS: Cs = Cs;
        static META: tracing::Metadata<'static> = tracing::Metadata::new(
            "test",
            "test",
            tracing::Level::INFO,
            None,
            None,
            None,
            tracing::field::FieldSet::new(
                &[
                    "service.name",
                    "error",
                    "http.status_code",
                    "n",
                    "span.kind",
                    "s",
                ],
                tracing::callsite::Identifier(&CS),
            ),
            tracing::metadata::Kind::SPAN,
        );
        META.fields().field(name).expect("declared above")
    }

    #[test]
    fn fields_map_to_meta_metrics_and_special_slots() {
        let mut f = Fields::default();
        let mut r = FieldRecorder {
            fields: &mut f,
            dedup: true,
        };
        r.record_u64(&field("http.status_code"), 503);
        r.record_i64(&field("n"), -3);
        r.record_str(&field("span.kind"), "Client");
        r.record_bool(&field("s"), true);
        r.record_str(&field("s"), "second"); // a later record replaces the value
        let tags: Vec<_> = f.tags().collect();
        assert_eq!(
            tags,
            [
                ("http.status_code", TagValue::Str("503")),
                ("n", TagValue::Num(-3.0)),
                ("span.kind", TagValue::Str("client")),
                ("s", TagValue::Str("second")),
            ]
        );
        assert_eq!(f.kind, Some(SpanKind::Client));
    }

    #[test]
    fn later_records_merge_over_earlier_fields() {
        let mut f = Fields::default();
        let mut r = FieldRecorder {
            fields: &mut f,
            dedup: false,
        };
        r.record_str(&field("s"), "first");
        r.record_i64(&field("n"), 1);
        let mut later = Fields::default();
        let mut r = FieldRecorder {
            fields: &mut later,
            dedup: true,
        };
        r.record_str(&field("s"), "second");
        r.record_str(&field("service.name"), "db");
        r.record_bool(&field("error"), true);
        f.merge(&later);
        let tags: Vec<_> = f.tags().collect();
        assert_eq!(
            tags,
            [("s", TagValue::Str("second")), ("n", TagValue::Num(1.0))]
        );
        assert_eq!(f.service.map(|t| f.text(t)), Some("db"));
        assert!(f.error);
    }

    #[test]
    fn error_values_set_the_flag_message_and_cause_chain() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("request failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Outer(std::io::Error::other("connection reset"));
        let mut f = Fields::default();
        FieldRecorder {
            fields: &mut f,
            dedup: true,
        }
        .record_error(&field("error"), &err);
        assert!(f.error);
        let tags: Vec<_> = f.tags().collect();
        assert_eq!(tags[0], ("error.message", TagValue::Str("request failed")));
        assert_eq!(
            tags[1],
            (
                "error.stack",
                TagValue::Str("request failed\nCaused by:\n    0: connection reset")
            )
        );
    }
}
