//! One span, independent of the wire format.
//!
//! In: field values from the layer's field recorder and tags from the span write API
//! ([`crate::DatadogSpanExt`]), on the app's threads. Out: [`SpanData`], kept in the span's
//! extensions while the span is open and moved into its [`LocalTrace`](super::trace::LocalTrace)
//! when it closes. The field mapping documented in the crate docs lives here, in
//! [`Fields`], so that `tracing` fields and `set_tag` mean the same thing.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::time::Instant;

use super::error_chain::{error_chain, ChainStyle};
use super::id::TraceId;

/// `span.kind` values.
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

/// A range of a [`TagList`]'s text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Text {
    start: u32,
    end: u32,
}

/// A tag key: a `'static` name (every `tracing` field, and static keys given to `set_tag`), or
/// text in the list's own buffer (keys known only at run time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    Static(&'static str),
    Text(Text),
}

/// A stored tag value: a string (→ `meta`) or a number (→ `metrics`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    Str(Text),
    Num(f64),
}

/// A tag value resolved against its list's text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum TagRef<'a> {
    Str(&'a str),
    Num(f64),
}

/// Tags whose strings (keys known at run time and values) share one buffer, so a list costs
/// one allocation for its text and one for its entries however many tags it holds, and keeps
/// both when it is cleared for reuse.
#[derive(Clone, Debug, Default)]
pub(crate) struct TagList {
    text: String,
    tags: Vec<(Key, Value)>,
}

impl TagList {
    pub(crate) fn with_capacity(text: usize, tags: usize) -> Self {
        TagList {
            text: String::with_capacity(text),
            tags: Vec::with_capacity(tags),
        }
    }

    /// Makes room for `n` more tags, so recording a span's declared fields rarely regrows.
    #[inline]
    fn reserve(&mut self, n: usize) {
        if n > self.tags.capacity() - self.tags.len() {
            self.text.reserve(32 + n * 32);
            self.tags.reserve(n);
        }
    }

    /// Empties the list, keeping its buffers unless they grew past `max_text` bytes or
    /// `max_tags` entries. Returns whether the buffers were kept.
    pub(crate) fn clear_within(&mut self, max_text: usize, max_tags: usize) -> bool {
        if self.text.capacity() > max_text || self.tags.capacity() > max_tags {
            *self = TagList::default();
            return false;
        }
        self.text.clear();
        self.tags.clear();
        true
    }

    #[cfg(test)]
    pub(crate) fn text_capacity(&self) -> usize {
        self.text.capacity()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tags.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    pub(crate) fn text(&self, t: Text) -> &str {
        self.text
            .get(t.start as usize..t.end as usize)
            .unwrap_or("")
    }

    fn key(&self, k: Key) -> &str {
        match k {
            Key::Static(s) => s,
            Key::Text(t) => self.text(t),
        }
    }

    fn resolve(&self, v: Value) -> TagRef<'_> {
        match v {
            Value::Str(t) => TagRef::Str(self.text(t)),
            Value::Num(n) => TagRef::Num(n),
        }
    }

    /// Every tag in the order first set, string values resolved.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, TagRef<'_>)> + Clone {
        self.tags
            .iter()
            .map(|&(k, v)| (self.key(k), self.resolve(v)))
    }

    /// The value of `key`, if set.
    pub(crate) fn get(&self, key: &str) -> Option<TagRef<'_>> {
        self.tags
            .iter()
            .find(|&&(k, _)| self.key(k) == key)
            .map(|&(_, v)| self.resolve(v))
    }

    #[inline]
    pub(crate) fn push_str(&mut self, s: &str) -> Text {
        let start = self.text.len();
        self.text.push_str(s);
        self.text_range(start)
    }

    /// Appends formatted text; plain strings skip the formatting machinery.
    pub(crate) fn push_fmt(&mut self, args: fmt::Arguments<'_>) -> Text {
        if let Some(s) = args.as_str() {
            return self.push_str(s);
        }
        let start = self.text.len();
        // Writing to a String cannot fail.
        let _ = self.text.write_fmt(args);
        self.text_range(start)
    }

    #[inline]
    fn text_range(&mut self, start: usize) -> Text {
        // Over 4 GiB of text in one list: keep what fits in the index.
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

    /// Sets `key`. With `dedup`, an existing value of the same key is replaced; without it the
    /// caller knows the key is new (a span's declared fields have distinct names).
    #[inline(always)]
    pub(crate) fn set(&mut self, key: Cow<'static, str>, value: Value, dedup: bool) {
        if dedup && self.replace(&key, value) {
            return;
        }
        let key = match key {
            Cow::Borrowed(s) => Key::Static(s),
            Cow::Owned(s) => self.runtime_key(&s),
        };
        self.tags.push((key, value));
    }

    /// A key known only at run time, kept in the text buffer (off the path `tracing` fields
    /// take).
    #[cold]
    #[inline(never)]
    fn runtime_key(&mut self, key: &str) -> Key {
        Key::Text(self.push_str(key))
    }

    /// Replaces the value of `key` if it is set; returns whether it was.
    fn replace(&mut self, key: &str, value: Value) -> bool {
        match self.tags.iter().position(|&(k, _)| self.key(k) == key) {
            Some(slot) => {
                self.tags[slot].1 = value;
                true
            }
            None => false,
        }
    }

    /// Sets `key` to the string `value`, replacing an earlier value.
    pub(crate) fn set_str(&mut self, key: impl Into<Cow<'static, str>>, value: &str) {
        let t = self.push_str(value);
        self.set(key.into(), Value::Str(t), true);
    }

    /// Sets `key` to the number `value`, replacing an earlier value.
    pub(crate) fn set_num(&mut self, key: impl Into<Cow<'static, str>>, value: f64) {
        self.set(key.into(), Value::Num(value), true);
    }

    /// Removes `key` if set (its text stays in the buffer until the list is cleared).
    pub(crate) fn remove(&mut self, key: &str) {
        let text = &self.text;
        self.tags.retain(|&(k, _)| match k {
            Key::Static(s) => s != key,
            Key::Text(t) => text.get(t.start as usize..t.end as usize) != Some(key),
        });
    }
}

/// A span link: from `follows_from`, and later from extracted contexts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SpanLink {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: u64,
    /// W3C flags with bit 31 set, as the agent's proto requires: `0x8000_0001` sampled.
    pub(crate) flags: u32,
    pub(crate) tracestate: Option<String>,
    pub(crate) attributes: Vec<(Cow<'static, str>, String)>,
}

impl SpanLink {
    /// The `flags` of a link to a trace that is (or is not) sampled.
    pub(crate) fn flags_for(sampled: bool) -> u32 {
        if sampled {
            0x8000_0001
        } else {
            0x8000_0000
        }
    }
}

/// A `tracing` event recorded on its span as a Datadog span event.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SpanEvent {
    pub(crate) name: String,
    pub(crate) time: Instant,
    pub(crate) attributes: Vec<(Cow<'static, str>, EventValue)>,
}

/// A span event attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum EventValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

/// The recorded fields of one span: its tags plus the fields with a place of their own in a
/// Datadog span.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    pub(crate) tags: TagList,
    pub(crate) operation_name: Option<Text>,
    pub(crate) resource: Option<Text>,
    pub(crate) service: Option<Text>,
    pub(crate) span_type: Option<Text>,
    pub(crate) kind: Option<SpanKind>,
    /// The kind was given as `otel.kind`: the span is written with OpenTelemetry's conventions.
    pub(crate) otel_kind: bool,
    pub(crate) error: bool,
    pub(crate) links: Vec<SpanLink>,
    /// Events recorded on the span (when span events are on).
    pub(crate) events: Vec<SpanEvent>,
    /// `manual.keep` (`true`) or `manual.drop` (`false`) was recorded and not yet applied to
    /// the trace's decision.
    pub(crate) manual: Option<bool>,
}

impl Fields {
    /// Makes room for `n` fields.
    #[inline]
    pub(crate) fn reserve(&mut self, n: usize) {
        self.tags.reserve(n);
    }

    /// Clears everything for reuse. Returns `false` if the buffers grew too large to be worth
    /// keeping.
    pub(crate) fn reset(&mut self) -> bool {
        const MAX_TEXT: usize = 4096;
        const MAX_TAGS: usize = 64;
        let kept = self.tags.clear_within(MAX_TEXT, MAX_TAGS);
        self.links = Vec::new();
        self.events = Vec::new();
        self.operation_name = None;
        self.resource = None;
        self.service = None;
        self.span_type = None;
        self.kind = None;
        self.otel_kind = false;
        self.error = false;
        self.manual = None;
        kept
    }

    pub(crate) fn text(&self, t: Text) -> &str {
        self.tags.text(t)
    }

    /// Records a string value named `key`.
    #[inline(always)]
    pub(crate) fn record_str(&mut self, key: Cow<'static, str>, value: &str, dedup: bool) {
        let t = self.tags.push_str(value);
        self.apply_text(key, t, dedup);
    }

    /// Records a formatted value (`Debug`, `Display`) named `key`.
    pub(crate) fn record_fmt(
        &mut self,
        key: Cow<'static, str>,
        value: fmt::Arguments<'_>,
        dedup: bool,
    ) {
        let t = self.tags.push_fmt(value);
        self.apply_text(key, t, dedup);
    }

    /// Records a number named `key`; `display` is its text, for the keys Datadog reads as
    /// strings.
    pub(crate) fn record_num(
        &mut self,
        key: Cow<'static, str>,
        value: f64,
        display: fmt::Arguments<'_>,
        dedup: bool,
    ) {
        match &*key {
            // Datadog reads the status code as a string tag.
            "http.status_code" => self.record_fmt(key, display, dedup),
            "error" => self.error = value != 0.0,
            "manual.keep" | "manual.drop" => {
                if value != 0.0 {
                    self.manual = Some(key == "manual.keep");
                }
            }
            _ => self.tags.set(key, Value::Num(value), dedup),
        }
    }

    /// Records a boolean named `key`: `error` sets the error flag, anything else a string tag.
    pub(crate) fn record_bool(&mut self, key: Cow<'static, str>, value: bool, dedup: bool) {
        match &*key {
            "error" => {
                self.error = value;
                return;
            }
            // `manual.keep = false` asks for nothing.
            "manual.keep" | "manual.drop" => {
                if value {
                    self.manual = Some(key == "manual.keep");
                }
                return;
            }
            _ => {}
        }
        let t = self.tags.push_str(if value { "true" } else { "false" });
        self.tags.set(key, Value::Str(t), dedup);
    }

    /// Records an error value named `key`: its message as the value, and its sources (if any)
    /// as `error.stack`.
    pub(crate) fn record_error(
        &mut self,
        key: Cow<'static, str>,
        error: &(dyn std::error::Error + 'static),
        dedup: bool,
    ) {
        self.record_fmt(key, format_args!("{error}"), dedup);
        if error.source().is_some() {
            let stack = error_chain(error, ChainStyle::Stack);
            let t = self.tags.push_str(&stack);
            self.tags
                .set(Cow::Borrowed("error.stack"), Value::Str(t), dedup);
        }
    }

    /// Marks the span as failed with these error tags (those given replace earlier ones).
    pub(crate) fn set_error(
        &mut self,
        message: Option<&str>,
        kind: Option<&str>,
        stack: Option<&str>,
    ) {
        self.error = true;
        for (key, value) in [
            ("error.message", message),
            ("error.type", kind),
            ("error.stack", stack),
        ] {
            if let Some(v) = value {
                self.tags.set_str(key, v);
            }
        }
    }

    /// Applies a string value (already in the text buffer as `t`) named `key`: the mapping of
    /// the crate docs' table. Inlined into each recorder: it runs for every string field of every
    /// span.
    #[inline(always)]
    fn apply_text(&mut self, key: Cow<'static, str>, t: Text, dedup: bool) {
        match &*key {
            "resource.name" | "resource" => self.resource = Some(t),
            "service.name" => self.service = Some(t),
            "operation.name" => self.operation_name = Some(t),
            "span.type" => self.span_type = Some(t),
            "span.kind" | "otel.kind" => {
                self.otel_kind |= key == "otel.kind";
                self.kind = SpanKind::parse(self.tags.text(t));
                match self.kind {
                    Some(kind) => {
                        let t = self.tags.push_str(kind.as_str());
                        self.tags
                            .set(Cow::Borrowed("span.kind"), Value::Str(t), dedup);
                    }
                    None => self.tags.remove("span.kind"),
                }
            }
            "error" => {
                self.error = true;
                self.tags
                    .set(Cow::Borrowed("error.message"), Value::Str(t), dedup);
            }
            "error.message" | "error.type" | "error.stack" => {
                self.error = true;
                self.tags.set(key, Value::Str(t), dedup);
            }
            // Any value but `false` asks for it; the mark is not a tag.
            "manual.keep" | "manual.drop" => {
                if !self.tags.text(t).eq_ignore_ascii_case("false") {
                    self.manual = Some(key == "manual.keep");
                }
            }
            _ => self.tags.set(key, Value::Str(t), dedup),
        }
    }

    /// Applies fields recorded later (`Span::record`) on top of these: later values win.
    pub(crate) fn merge(&mut self, later: &Fields) {
        for &(key, value) in &later.tags.tags {
            let key = match key {
                Key::Static(s) => Cow::Borrowed(s),
                Key::Text(t) => Cow::Owned(later.text(t).to_string()),
            };
            let value = match value {
                Value::Str(t) => Value::Str(self.tags.push_str(later.text(t))),
                Value::Num(n) => Value::Num(n),
            };
            self.tags.set(key, value, true);
        }
        let mut copy = |slot: Option<Text>| slot.map(|t| self.tags.push_str(later.text(t)));
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
        if later.kind.is_some() {
            self.kind = later.kind;
        }
        self.otel_kind |= later.otel_kind;
        self.error |= later.error;
        self.links.extend(later.links.iter().cloned());
        self.events.extend(later.events.iter().cloned());
        self.manual = later.manual.or(self.manual);
    }
}

/// The service of a span's parent, kept to decide `_dd.top_level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParentService {
    /// No parent in this process: the span is its trace's local root.
    LocalRoot,
    /// The parent uses the tracer's configured service.
    DefaultService,
    /// The parent set a service of its own.
    Service(Box<str>),
}

/// One span, open or finished.
#[derive(Debug)]
pub(crate) struct SpanData {
    pub(crate) span_id: u64,
    /// 0 for a trace's first span; for a local root, the remote parent's id if it has one.
    pub(crate) parent_id: u64,
    pub(crate) name: &'static str,
    pub(crate) start: Instant,
    /// When the span was last exited: its end, if it was ever entered (see the crate docs).
    pub(crate) last_exit: Option<Instant>,
    /// When the span ended; set when it finishes.
    pub(crate) end: Instant,
    /// A start given as a wall-clock time (an OpenTelemetry span's explicit start), in Unix
    /// nanoseconds: written instead of `start`'s; `end` is then as long after `start` as the
    /// span lasted.
    pub(crate) wall_start_ns: Option<i64>,
    pub(crate) parent_service: ParentService,
    pub(crate) fields: Fields,
}

impl SpanData {
    /// An empty record with room for `text` bytes and `tags` tags, filled in by the layer
    /// when a span starts.
    pub(crate) fn blank(text: usize, tags: usize) -> Self {
        let now = Instant::now();
        SpanData {
            span_id: 0,
            parent_id: 0,
            name: "",
            start: now,
            last_exit: None,
            end: now,
            wall_start_ns: None,
            parent_service: ParentService::LocalRoot,
            fields: Fields {
                tags: TagList::with_capacity(text, tags),
                ..Fields::default()
            },
        }
    }

    /// Nanoseconds from start to end, never negative.
    /// When the span started, in Unix nanoseconds.
    pub(crate) fn start_unix_ns(&self, clock: &crate::model::clock::WallClock) -> i64 {
        self.wall_start_ns
            .unwrap_or_else(|| clock.unix_ns(self.start))
    }

    pub(crate) fn duration_ns(&self) -> i64 {
        self.end
            .checked_duration_since(self.start)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// The operation name: `operation.name` if recorded, else the `tracing` span's name.
    pub(crate) fn operation_name(&self) -> &str {
        let f = &self.fields;
        f.operation_name.map_or(self.name, |t| f.text(t))
    }

    /// The resource: `resource.name` if recorded, else the operation name.
    pub(crate) fn resource(&self) -> &str {
        let f = &self.fields;
        f.resource
            .map_or_else(|| self.operation_name(), |t| f.text(t))
    }

    /// The span's own service, if it set one.
    pub(crate) fn service(&self) -> Option<&str> {
        self.fields.service.map(|t| self.fields.text(t))
    }

    /// The span type (`span.type`), if recorded.
    pub(crate) fn span_type(&self) -> Option<&str> {
        self.fields.span_type.map(|t| self.fields.text(t))
    }

    /// Whether this span starts a new service's part of the trace (`_dd.top_level`).
    pub(crate) fn is_top_level(&self) -> bool {
        match (&self.parent_service, self.service()) {
            (ParentService::LocalRoot, _) => true,
            (ParentService::DefaultService, own) => own.is_some(),
            (ParentService::Service(parent), own) => own != Some(&**parent),
        }
    }

    /// Whether the span's kind makes it measured (`_dd.measured`; the agent's stats count
    /// it): server, client, producer and consumer spans.
    pub(crate) fn kind_is_measured(&self) -> bool {
        matches!(
            self.fields.kind,
            Some(SpanKind::Server | SpanKind::Client | SpanKind::Producer | SpanKind::Consumer)
        )
    }

    /// This span's service as its children see it.
    pub(crate) fn service_for_children(&self) -> ParentService {
        match self.service() {
            Some(s) => ParentService::Service(s.into()),
            None => ParentService::DefaultService,
        }
    }
}

/// `s` cut to at most `max` bytes, on a character boundary (span texts the agent caps).
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn span(span_id: u64, parent_id: u64) -> Box<SpanData> {
        let mut s = Box::new(SpanData::blank(0, 0));
        s.span_id = span_id;
        s.parent_id = parent_id;
        s.name = "op";
        s
    }

    fn tags(f: &Fields) -> Vec<(&str, TagRef<'_>)> {
        f.tags.iter().collect()
    }

    #[test]
    fn fields_map_to_meta_metrics_and_special_slots() {
        let mut f = Fields::default();
        f.record_num("http.status_code".into(), 503.0, format_args!("503"), true);
        f.record_num("n".into(), -3.0, format_args!("-3"), true);
        f.record_str("span.kind".into(), "Client", true);
        f.record_bool("s".into(), true, true);
        f.record_str("s".into(), "second", true); // a later record replaces the value
        f.record_str("resource.name".into(), "GET /x", true);
        assert_eq!(
            tags(&f),
            [
                ("http.status_code", TagRef::Str("503")),
                ("n", TagRef::Num(-3.0)),
                ("span.kind", TagRef::Str("client")),
                ("s", TagRef::Str("second")),
            ]
        );
        assert_eq!(f.kind, Some(SpanKind::Client));
        assert_eq!(f.resource.map(|t| f.text(t)), Some("GET /x"));
    }

    #[test]
    fn runtime_keys_live_in_the_text_buffer_and_replace_like_static_ones() {
        let mut f = Fields::default();
        f.record_str(Cow::Owned(format!("tenant.{}", 7)), "acme", true);
        f.record_str(Cow::Borrowed("tenant.7"), "globex", true);
        f.record_num(
            Cow::Owned("quota".to_string()),
            3.0,
            format_args!("3"),
            true,
        );
        assert_eq!(
            tags(&f),
            [
                ("tenant.7", TagRef::Str("globex")),
                ("quota", TagRef::Num(3.0))
            ]
        );
        assert_eq!(f.tags.get("quota"), Some(TagRef::Num(3.0)));
        assert_eq!(f.tags.get("missing"), None);
    }

    #[test]
    fn manual_keep_and_drop_are_marks_not_tags() {
        for (key, value, want) in [
            ("manual.keep", "", Some(true)),
            ("manual.keep", "true", Some(true)),
            ("manual.drop", "yes", Some(false)),
            ("manual.keep", "FALSE", None),
        ] {
            let mut f = Fields::default();
            f.record_str(key.into(), value, true);
            assert_eq!(f.manual, want, "{key}={value:?}");
            assert!(f.tags.is_empty());
        }
        let mut f = Fields::default();
        f.record_bool("manual.keep".into(), false, true);
        assert_eq!(f.manual, None);
        f.record_bool("manual.drop".into(), true, true);
        assert_eq!(f.manual, Some(false));
        f.record_num("manual.keep".into(), 1.0, format_args!("1"), true);
        assert_eq!(f.manual, Some(true));
        assert!(f.tags.is_empty());
    }

    #[test]
    fn an_invalid_kind_clears_the_kind() {
        let mut f = Fields::default();
        f.record_str("span.kind".into(), "server", true);
        f.record_str("span.kind".into(), "sideways", true);
        assert_eq!(f.kind, None);
        assert!(f.tags.is_empty(), "{:?}", tags(&f));
    }

    #[test]
    fn later_records_merge_over_earlier_fields() {
        let mut f = Fields::default();
        f.record_str("s".into(), "first", false);
        f.record_num("n".into(), 1.0, format_args!("1"), false);
        let mut later = Fields::default();
        later.record_str("s".into(), "second", true);
        later.record_str(Cow::Owned("dyn.key".into()), "v", true);
        later.record_str("service.name".into(), "db", true);
        later.record_bool("error".into(), true, true);
        f.merge(&later);
        assert_eq!(
            tags(&f),
            [
                ("s", TagRef::Str("second")),
                ("n", TagRef::Num(1.0)),
                ("dyn.key", TagRef::Str("v"))
            ]
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
        f.record_error("error".into(), &err, true);
        assert!(f.error);
        let tags = tags(&f);
        assert_eq!(tags[0], ("error.message", TagRef::Str("request failed")));
        assert_eq!(
            tags[1],
            (
                "error.stack",
                TagRef::Str("request failed\nCaused by:\n    0: connection reset")
            )
        );
    }

    #[test]
    fn top_level_follows_service_changes() {
        let mut s = span(2, 1);
        s.parent_service = ParentService::DefaultService;
        assert!(!s.is_top_level());
        s.fields.record_str("service.name".into(), "db", true);
        assert!(s.is_top_level());
        s.parent_service = ParentService::Service("db".into());
        assert!(!s.is_top_level());
        assert!(span(1, 0).is_top_level());
    }

    #[test]
    fn durations_never_go_negative() {
        let mut s = span(1, 0);
        s.end = s.start + std::time::Duration::from_micros(1500);
        assert_eq!(s.duration_ns(), 1_500_000);
        s.start = s.end + std::time::Duration::from_secs(1);
        assert_eq!(s.duration_ns(), 0);
    }

    #[test]
    fn keys_are_no_bigger_than_a_str_reference() {
        assert_eq!(std::mem::size_of::<Key>(), std::mem::size_of::<&str>());
    }
}
