//! ENCODE: processed chunks → request bodies, on the worker thread.
//!
//! In: [`Chunk`]s with their frozen [`TraceLevelTags`], from the worker after the processing
//! stage. Out: [`Payload`]s (body, format, chunk and span counts) for the transport. What a span
//! carries on the wire beyond its own fields (the tracer's `env`, `version`, `DD_TAGS`,
//! `language`, `runtime-id`, `process_id`, `_dd.top_level`, the trace-level tags) is composed
//! here, once, by [`SpanView`], for every format: v0.4 ([`v04`]), v0.5 ([`v05`], with its
//! string table) and v1.0 ([`v1`], with its streamed string table); [`PayloadEncoder`] builds
//! the payloads in the format in use.
//!
//! [`Chunk`]: crate::model::trace::Chunk

mod payload;
pub(crate) mod v04;
mod v05;
mod v1;

pub(crate) use payload::PayloadEncoder;

use std::sync::Arc;

use bytes::Bytes;

use crate::identity::{Identity, LANGUAGE};
use crate::model::id::TraceId;
#[cfg(test)]
use crate::model::span::truncate_utf8;
use crate::model::span::{SpanData, TagList, TagRef};

/// A payload is cut once its body passes this size (spec §6 Decision: 1.5–5 MiB).
pub(crate) const DEFAULT_PAYLOAD_FLUSH_BYTES: usize = 2 * 1024 * 1024;

/// The agent truncates longer `meta` values; doing it here keeps payloads small.
const MAX_META_VALUE_BYTES: usize = 25_000;

/// A payload's wire format, which also decides the endpoint it is sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PayloadFormat {
    /// msgpack array of chunks of span maps, to `/v0.4/traces`.
    V04,
    /// `[strings, chunks of 12-element span arrays]`, to `/v0.5/traces`.
    V05,
    /// Integer-keyed maps with a streamed string table, to `/v1.0/traces`.
    V1,
}

impl PayloadFormat {
    /// The agent endpoint's path.
    pub(crate) fn path(self) -> &'static str {
        match self {
            PayloadFormat::V04 => "/v0.4/traces",
            PayloadFormat::V05 => "/v0.5/traces",
            PayloadFormat::V1 => "/v1.0/traces",
        }
    }

    /// `v0.4`, `v0.5`, `v1.0`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PayloadFormat::V04 => "v0.4",
            PayloadFormat::V05 => "v0.5",
            PayloadFormat::V1 => "v1.0",
        }
    }
}

/// An encoded request body.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    pub(crate) format: PayloadFormat,
    pub(crate) body: Bytes,
    pub(crate) chunks: u32,
    pub(crate) spans: u64,
    /// Stats for these spans are computed and sent by the tracer
    /// (`Datadog-Client-Computed-Stats`).
    pub(crate) client_stats: bool,
    /// Unsampled chunks and spans dropped since the previous payload
    /// (`Datadog-Client-Dropped-P0-Traces` / `-Spans`).
    pub(crate) dropped_p0: (u64, u64),
}

/// The trace-level tags of one chunk, frozen by the worker when it takes the chunk, so the
/// encoder never locks the trace. Strings go to `meta`, numbers to `metrics`.
#[derive(Debug)]
pub(crate) struct TraceLevelTags {
    /// The trace's id when the chunk was taken.
    pub(crate) trace_id: TraceId,
    /// On the first span of each chunk: `_dd.p.*`, `_sampling_priority_v1`.
    pub(crate) chunk: TagList,
    /// On the local root: `_sampling_priority_v1` and the rates that made the decision.
    pub(crate) root: TagList,
    /// On every span: `_dd.origin`.
    pub(crate) every_span: TagList,
    /// The trace's sampling priority.
    pub(crate) priority: i8,
}

impl Default for TraceLevelTags {
    fn default() -> Self {
        TraceLevelTags {
            trace_id: TraceId::from_u128(0),
            chunk: TagList::with_capacity(128, 8),
            root: TagList::with_capacity(0, 4),
            every_span: TagList::default(),
            priority: 0,
        }
    }
}

impl TraceLevelTags {
    /// Empties the lists for the next chunk, keeping their buffers.
    pub(crate) fn clear(&mut self) {
        for list in [&mut self.chunk, &mut self.root, &mut self.every_span] {
            list.clear_within(4096, 64);
        }
        self.priority = 0;
    }
}

/// Process-wide values written into spans.
#[derive(Debug, Clone)]
pub(crate) struct EncodeContext {
    /// The service identity and the process: `env`, `version`, `runtime-id`, `process_id`.
    pub(crate) identity: Arc<Identity>,
    /// `DD_TAGS` (they may change while the app runs: the worker hands in the latest).
    pub(crate) global_tags: Arc<Vec<(String, String)>>,
    /// `DD_TRACE_REPORT_HOSTNAME`: local roots carry the host's name as `_dd.hostname`.
    pub(crate) report_hostname: bool,
    /// The agent reads span events natively (`span_events` in its `/info`); else they go in
    /// the `events` meta tag as JSON.
    pub(crate) native_span_events: bool,
    /// Process-wide tags of the first span of each chunk (`_dd.tags.process`, `_dd.git.*`);
    /// v1.0 writes the process tags once per payload instead, as its attributes.
    pub(crate) chunk_tags: Arc<Vec<(&'static str, String)>>,
}

/// One span as every wire format sees it: its own fields plus the tags of its chunk, trace and
/// process, composed in one place.
pub(crate) struct SpanView<'a> {
    pub(crate) span: &'a SpanData,
    pub(crate) trace: &'a TraceLevelTags,
    pub(crate) ctx: &'a EncodeContext,
    /// The first span of its chunk (which carries the trace-level tags).
    pub(crate) chunk_first: bool,
    /// The trace's local root.
    pub(crate) local_root: bool,
}

impl<'a> SpanView<'a> {
    pub(crate) fn service(&self) -> &'a str {
        self.span.service().unwrap_or(&self.ctx.identity.service)
    }

    /// Whether the span's events go in the native `span_events` field.
    pub(crate) fn native_span_events(&self) -> bool {
        !self.span.fields.events.is_empty() && self.ctx.native_span_events
    }

    /// The `events` meta tag (JSON) for an agent that does not read native span events; the
    /// format adds it to [`meta`](Self::meta), which borrows and cannot own it.
    pub(crate) fn events_tag(&self, clock: &crate::model::clock::WallClock) -> Option<String> {
        let events = &self.span.fields.events;
        (!events.is_empty() && !self.ctx.native_span_events)
            .then(|| events_meta_json(events, clock))
    }

    /// The tracer's trace-level tags (`language`, `runtime-id`, `process_id`) go on the first
    /// span of each chunk and on the local root.
    fn carries_trace_tags(&self) -> bool {
        self.chunk_first || self.local_root
    }

    /// The `meta` map: the span's string tags first (they win over any other source of the
    /// same key), then the trace's (so `DD_TAGS` cannot override `_dd.p.*`), then the
    /// tracer's.
    pub(crate) fn meta(&self, meta: &mut Entries<'a, &'a str>) {
        let (span, trace, ctx) = (self.span, self.trace, self.ctx);
        let strings = |list: &'a crate::model::span::TagList| {
            list.iter().filter_map(|(k, v)| match v {
                TagRef::Str(v) => Some((k, v)),
                TagRef::Num(_) => None,
            })
        };
        for (k, v) in strings(&span.fields.tags) {
            meta.push(
                k,
                crate::model::span::truncate_utf8(v, MAX_META_VALUE_BYTES),
            );
        }
        for (k, v) in strings(&trace.every_span) {
            meta.push(k, v);
        }
        if self.chunk_first {
            for (k, v) in strings(&trace.chunk) {
                meta.push(k, v);
            }
            for (k, v) in ctx.chunk_tags.iter() {
                meta.push(k, v);
            }
        }
        if self.local_root {
            for (k, v) in strings(&trace.root) {
                meta.push(k, v);
            }
        }
        let identity = &*ctx.identity;
        if let Some(env) = &identity.env {
            meta.push("env", env);
        }
        let service = self.service();
        if service == identity.service {
            if let Some(version) = &identity.version {
                meta.push("version", version);
            }
        } else if !service.eq_ignore_ascii_case(&identity.service) {
            meta.push("_dd.base_service", &identity.service);
        }
        for (k, v) in ctx.global_tags.iter() {
            meta.push(k, v);
        }
        if self.carries_trace_tags() {
            meta.push("language", LANGUAGE);
            meta.push("runtime-id", &identity.runtime_id);
        }
        if self.local_root && ctx.report_hostname {
            meta.push("_dd.hostname", &identity.hostname);
        }
    }

    /// The `metrics` map, in the same order of precedence as [`meta`](Self::meta).
    pub(crate) fn metrics(&self, metrics: &mut Entries<'a, f64>) {
        let (span, trace) = (self.span, self.trace);
        let numbers = |list: &'a crate::model::span::TagList| {
            list.iter().filter_map(|(k, v)| match v {
                TagRef::Num(n) => Some((k, n)),
                TagRef::Str(_) => None,
            })
        };
        for (k, v) in numbers(&span.fields.tags) {
            metrics.push(k, v);
        }
        if span.is_top_level() {
            metrics.push("_dd.top_level", 1.0);
        } else if span.kind_is_measured() {
            metrics.push("_dd.measured", 1.0);
        }
        if self.chunk_first {
            for (k, v) in numbers(&trace.chunk) {
                metrics.push(k, v);
            }
        }
        if self.local_root {
            for (k, v) in numbers(&trace.root) {
                metrics.push(k, v);
            }
        }
        if self.carries_trace_tags() {
            metrics.push("process_id", f64::from(self.ctx.identity.process_id));
        }
    }
}

/// Map entries that skip keys already present: the first source of a key wins. A span's maps
/// are short: they are filled in place on the worker's stack (no allocation per span).
pub(crate) struct Entries<'a, V>(pub(crate) smallvec::SmallVec<[(&'a str, V); 16]>);

impl<V> Default for Entries<'_, V> {
    fn default() -> Self {
        Entries(smallvec::SmallVec::new())
    }
}

impl<'a, V> Entries<'a, V> {
    #[inline]
    pub(crate) fn push(&mut self, key: &'a str, value: V) {
        // Lengths and first bytes rule out nearly every pair before the bytes are compared.
        let first = key.as_bytes().first();
        if !self
            .0
            .iter()
            .any(|(k, _)| k.len() == key.len() && k.as_bytes().first() == first && *k == key)
        {
            self.0.push((key, value));
        }
    }
}

/// Span events as the `events` meta tag: a JSON array of `{name, time_unix_nano, attributes}`.
pub(crate) fn events_meta_json(
    events: &[crate::model::span::SpanEvent],
    clock: &crate::model::clock::WallClock,
) -> String {
    use crate::model::span::EventValue;
    let list: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            let attributes: serde_json::Map<String, serde_json::Value> = e
                .attributes
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        EventValue::Str(s) => serde_json::Value::from(s.as_str()),
                        EventValue::Bool(b) => serde_json::Value::from(*b),
                        EventValue::Int(i) => serde_json::Value::from(*i),
                        EventValue::Float(f) => serde_json::Value::from(*f),
                    };
                    (k.to_string(), v)
                })
                .collect();
            serde_json::json!({
                "name": e.name,
                "time_unix_nano": clock.unix_ns(e.time),
                "attributes": attributes,
            })
        })
        .collect();
    serde_json::Value::from(list).to_string()
}

/// A msgpack map entry with a string value (writing to a `Vec` cannot fail). The `write_key_*`
/// helpers are always inlined: their keys are constants, whose writes then fold into a few
/// stores (out of line, each is a call and a `memcpy`: +5 % worker instructions).
#[inline(always)]
pub(crate) fn write_key_str(buf: &mut Vec<u8>, key: &str, value: &str) {
    write_str(buf, key);
    write_str(buf, value);
}

/// A msgpack string: the bytes `rmp::encode::write_str` writes, written here because it is
/// called ~15 times per span and rmp's version is inlined or not depending on how the crate
/// happens to be split into codegen units (a 15 % swing in the worker's instructions); always
/// inlined for the same reason (left to the compiler, it stopped inlining it here once the
/// crate grew, +12 % worker instructions per chunk).
#[inline(always)]
pub(crate) fn write_str(buf: &mut Vec<u8>, s: &str) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len < 256 {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if let Ok(len) = u16::try_from(len) {
        buf.push(0xda);
        buf.extend_from_slice(&len.to_be_bytes());
    } else {
        // Strings past 4 GiB are not written whole by anyone; msgpack's limit is u32.
        buf.push(0xdb);
        buf.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
    buf.extend_from_slice(s.as_bytes());
}

/// A msgpack map entry with an unsigned value.
#[inline(always)]
pub(crate) fn write_key_uint(buf: &mut Vec<u8>, key: &str, value: u64) {
    write_str(buf, key);
    let _ = rmp::encode::write_uint(buf, value);
}

/// A msgpack map entry with a signed value.
#[inline(always)]
pub(crate) fn write_key_sint(buf: &mut Vec<u8>, key: &str, value: i64) {
    write_str(buf, key);
    let _ = rmp::encode::write_sint(buf, value);
}

#[cfg(test)]
mod tests;
