//! The v1.0 payload (the agent's `pkg/proto/pbgo/trace/idx`): maps with small integer keys, a
//! string table streamed in the body (a string is written once, then referenced by its index,
//! `""` being 0), typed attributes, the trace id as 16 bytes per chunk.
//!
//! In: the payload's header and each chunk and span as [`SpanView`] composes them, on the
//! worker thread, in the order their bytes are written (the table's indexes follow that
//! order). Out: bytes appended to the payload the [`PayloadEncoder`](super::PayloadEncoder)
//! builds. Span events travel natively; `env`, `version` and `span.kind` have fields of their
//! own; `_dd.p.tid` lives in the chunk's trace id.

use rmp::encode;
use rustc_hash::FxHashMap;

use super::{EncodeContext, SpanView, TraceLevelTags};
use crate::identity::{LANGUAGE, TRACER_VERSION};
use crate::model::clock::WallClock;
use crate::model::id::TraceId;
use crate::model::span::{EventValue, SpanLink};

/// The payload's streamed strings and their indexes.
#[derive(Default)]
pub(crate) struct StreamedStrings {
    seen: FxHashMap<Box<str>, u32>,
}

impl StreamedStrings {
    pub(crate) fn clear(&mut self) {
        self.seen.clear();
    }

    /// Writes `s`: the string itself the first time, its index afterwards.
    fn put(&mut self, buf: &mut Vec<u8>, s: &str) {
        if s.is_empty() {
            let _ = encode::write_uint(buf, 0);
            return;
        }
        if let Some(&i) = self.seen.get(s) {
            let _ = encode::write_uint(buf, u64::from(i));
            return;
        }
        // Index 0 is the empty string.
        let i = self.seen.len() as u32 + 1;
        self.seen.insert(s.into(), i);
        super::write_str(buf, s);
    }
}

fn key(buf: &mut Vec<u8>, k: u8) {
    let _ = encode::write_uint(buf, u64::from(k));
}

fn trace_id_bytes(id: TraceId) -> [u8; 16] {
    id.to_u128().to_be_bytes()
}

/// Writes the payload's fields, up to the chunks array's header (which the caller writes).
pub(super) fn write_header(buf: &mut Vec<u8>, strings: &mut StreamedStrings, ctx: &EncodeContext) {
    let identity = &*ctx.identity;
    let attributes: Vec<&(&str, String)> = ctx
        .chunk_tags
        .iter()
        .filter(|(k, _)| in_payload(k))
        .collect();
    let len = 4
        + u32::from(identity.env.is_some())
        + u32::from(identity.version.is_some())
        + u32::from(!attributes.is_empty());
    let _ = encode::write_map_len(buf, len);
    key(buf, 3);
    strings.put(buf, LANGUAGE);
    key(buf, 5);
    strings.put(buf, TRACER_VERSION);
    key(buf, 6);
    strings.put(buf, &identity.runtime_id);
    if let Some(env) = &identity.env {
        key(buf, 7);
        strings.put(buf, env);
    }
    if let Some(version) = &identity.version {
        key(buf, 9);
        strings.put(buf, version);
    }
    // The process tags: once per payload, as its attributes.
    if !attributes.is_empty() {
        key(buf, 10);
        let _ = encode::write_array_len(buf, 3 * attributes.len() as u32);
        for (k, v) in attributes {
            strings.put(buf, k);
            let _ = encode::write_uint(buf, 1);
            strings.put(buf, v);
        }
    }
    key(buf, 11);
}

/// Writes a chunk's fields, up to its spans array's header (which the caller writes).
pub(super) fn write_chunk_header(
    buf: &mut Vec<u8>,
    strings: &mut StreamedStrings,
    tags: &TraceLevelTags,
) {
    let origin = match tags.every_span.get("_dd.origin") {
        Some(crate::model::span::TagRef::Str(o)) if !o.is_empty() => Some(o),
        _ => None,
    };
    let mechanism = match tags.chunk.get("_dd.p.dm") {
        Some(crate::model::span::TagRef::Str(dm)) => dm
            .strip_prefix('-')
            .and_then(|m| m.parse::<u64>().ok())
            .filter(|m| *m != 0),
        _ => None,
    };
    let len = 3 + u32::from(origin.is_some()) + u32::from(mechanism.is_some());
    let _ = encode::write_map_len(buf, len);
    key(buf, 1);
    let _ = encode::write_sint(buf, i64::from(tags.priority));
    if let Some(origin) = origin {
        key(buf, 2);
        strings.put(buf, origin);
    }
    key(buf, 6);
    let _ = encode::write_bin(buf, &trace_id_bytes(tags.trace_id));
    if let Some(m) = mechanism {
        key(buf, 7);
        let _ = encode::write_uint(buf, m);
    }
    key(buf, 4);
}

/// Meta keys with fields of their own in a v1.0 span (or in its chunk), or written once in the
/// payload's attributes.
fn promoted(key: &str) -> bool {
    matches!(key, "env" | "version" | "span.kind" | "_dd.p.tid") || in_payload(key)
}

/// The chunk tags v1.0 writes once per payload, as its attributes (the process tags; git
/// metadata stays on the first span of each chunk, as in Datadog's Go tracer).
fn in_payload(key: &str) -> bool {
    key == "_dd.tags.process"
}

/// The v1.0 `kind`: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
fn kind_number(kind: &str) -> Option<u64> {
    Some(match kind {
        "internal" => 1,
        "server" => 2,
        "client" => 3,
        "producer" => 4,
        "consumer" => 5,
        _ => return None,
    })
}

/// Writes one span as a v1.0 map.
pub(super) fn write_span(
    buf: &mut Vec<u8>,
    strings: &mut StreamedStrings,
    view: &SpanView<'_>,
    clock: &WallClock,
) {
    let span = view.span;
    let mut meta = super::Entries::default();
    view.meta(&mut meta);
    let mut metrics = super::Entries::default();
    view.metrics(&mut metrics);
    let find = |k: &str| meta.0.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let (env, version) = (find("env"), find("version"));
    let kind = find("span.kind").and_then(kind_number);
    let span_type = span.span_type();
    let links = &span.fields.links;
    let events = &span.fields.events;
    let len = 9
        + u32::from(span_type.is_some())
        + u32::from(!links.is_empty())
        + u32::from(!events.is_empty())
        + u32::from(env.is_some())
        + u32::from(version.is_some())
        + u32::from(kind.is_some());
    let _ = encode::write_map_len(buf, len);
    key(buf, 1);
    strings.put(buf, view.service());
    key(buf, 2);
    strings.put(buf, span.operation_name());
    key(buf, 3);
    strings.put(buf, span.resource());
    key(buf, 4);
    let _ = encode::write_uint(buf, span.span_id);
    key(buf, 5);
    let _ = encode::write_uint(buf, span.parent_id);
    key(buf, 6);
    let _ = encode::write_uint(buf, u64::try_from(span.start_unix_ns(clock)).unwrap_or(0));
    key(buf, 7);
    let _ = encode::write_uint(buf, u64::try_from(span.duration_ns()).unwrap_or(0));
    key(buf, 8);
    let _ = encode::write_bool(buf, span.fields.error);
    key(buf, 9);
    let attributes = meta.0.iter().filter(|(k, _)| !promoted(k)).count() + metrics.0.len();
    let _ = encode::write_array_len(buf, 3 * attributes as u32);
    for (k, v) in meta.0.iter().filter(|(k, _)| !promoted(k)) {
        strings.put(buf, k);
        let _ = encode::write_uint(buf, 1);
        strings.put(buf, v);
    }
    for (k, v) in &metrics.0 {
        strings.put(buf, k);
        let _ = encode::write_uint(buf, 3);
        let _ = encode::write_f64(buf, *v);
    }
    if let Some(t) = span_type {
        key(buf, 10);
        strings.put(buf, t);
    }
    if !links.is_empty() {
        key(buf, 11);
        let _ = encode::write_array_len(buf, links.len() as u32);
        for link in links {
            write_link(buf, strings, link);
        }
    }
    if !events.is_empty() {
        key(buf, 12);
        let _ = encode::write_array_len(buf, events.len() as u32);
        for event in events {
            write_event(buf, strings, event, clock);
        }
    }
    if let Some(env) = env {
        key(buf, 13);
        strings.put(buf, env);
    }
    if let Some(version) = version {
        key(buf, 14);
        strings.put(buf, version);
    }
    if let Some(kind) = kind {
        key(buf, 16);
        let _ = encode::write_uint(buf, kind);
    }
}

fn write_link(buf: &mut Vec<u8>, strings: &mut StreamedStrings, link: &SpanLink) {
    let len = 2
        + u32::from(!link.attributes.is_empty())
        + u32::from(link.tracestate.is_some())
        + u32::from(link.flags != 0);
    let _ = encode::write_map_len(buf, len);
    key(buf, 1);
    let _ = encode::write_bin(buf, &trace_id_bytes(link.trace_id));
    key(buf, 2);
    let _ = encode::write_uint(buf, link.span_id);
    if !link.attributes.is_empty() {
        key(buf, 3);
        let _ = encode::write_array_len(buf, 3 * link.attributes.len() as u32);
        for (k, v) in &link.attributes {
            strings.put(buf, k);
            let _ = encode::write_uint(buf, 1);
            strings.put(buf, v);
        }
    }
    if let Some(tracestate) = &link.tracestate {
        key(buf, 4);
        strings.put(buf, tracestate);
    }
    if link.flags != 0 {
        key(buf, 5);
        let _ = encode::write_uint(buf, u64::from(link.flags));
    }
}

fn write_event(
    buf: &mut Vec<u8>,
    strings: &mut StreamedStrings,
    event: &crate::model::span::SpanEvent,
    clock: &WallClock,
) {
    let _ = encode::write_map_len(buf, 3);
    key(buf, 1);
    let _ = encode::write_uint(buf, u64::try_from(clock.unix_ns(event.time)).unwrap_or(0));
    key(buf, 2);
    strings.put(buf, &event.name);
    key(buf, 3);
    let _ = encode::write_array_len(buf, 3 * event.attributes.len() as u32);
    for (k, v) in &event.attributes {
        strings.put(buf, k);
        match v {
            EventValue::Str(s) => {
                let _ = encode::write_uint(buf, 1);
                strings.put(buf, s);
            }
            EventValue::Bool(b) => {
                let _ = encode::write_uint(buf, 2);
                let _ = encode::write_bool(buf, *b);
            }
            EventValue::Float(f) => {
                let _ = encode::write_uint(buf, 3);
                let _ = encode::write_f64(buf, *f);
            }
            EventValue::Int(i) => {
                let _ = encode::write_uint(buf, 4);
                let _ = encode::write_sint(buf, *i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_written_once_then_referenced_and_the_empty_one_is_zero() {
        let mut strings = StreamedStrings::default();
        let mut buf = Vec::new();
        for s in ["svc", "", "op", "svc", "op", ""] {
            strings.put(&mut buf, s);
        }
        let mut expected = Vec::new();
        let _ = encode::write_str(&mut expected, "svc");
        let _ = encode::write_uint(&mut expected, 0);
        let _ = encode::write_str(&mut expected, "op");
        let _ = encode::write_uint(&mut expected, 1);
        let _ = encode::write_uint(&mut expected, 2);
        let _ = encode::write_uint(&mut expected, 0);
        assert_eq!(buf, expected);
        strings.clear();
        buf.clear();
        strings.put(&mut buf, "svc");
        assert_eq!(
            buf[0] & 0xe0,
            0xa0,
            "a new payload writes its strings again"
        );
    }
}
