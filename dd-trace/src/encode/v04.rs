//! The v0.4 span (spec §1.1–1.2): a msgpack map per span, written with rmp's encoders.
//!
//! In: one span as [`SpanView`] composes it, on the worker thread. Out: its bytes, appended to
//! the payload the [`PayloadEncoder`](super::PayloadEncoder) builds.

use rmp::encode;

use super::{write_key_sint, write_key_str, write_key_uint, SpanView};
use crate::model::clock::WallClock;
use crate::model::span::SpanLink;

/// Writes one span as a v0.4 map with rmp's encoders (the bytes rmp-serde would write, without
/// serde's indirection on this per-span path). Writing to a `Vec` cannot fail, and every map
/// length is computed before its entries are written.
pub(super) fn write_span(buf: &mut Vec<u8>, view: &SpanView<'_>, trace_id: u64, clock: &WallClock) {
    let span = view.span;
    let span_type = span.span_type();
    let links = &span.fields.links;
    let events = &span.fields.events;
    let native_events = view.native_span_events();
    let events_json = view.events_tag(clock);
    let len = 11
        + u32::from(span_type.is_some())
        + u32::from(!links.is_empty())
        + u32::from(native_events);
    let _ = encode::write_map_len(buf, len);
    write_key_uint(buf, "trace_id", trace_id);
    write_key_uint(buf, "span_id", span.span_id);
    write_key_uint(buf, "parent_id", span.parent_id);
    write_key_str(buf, "name", span.operation_name());
    write_key_str(buf, "resource", span.resource());
    write_key_str(buf, "service", view.service());
    if let Some(t) = span_type {
        write_key_str(buf, "type", t);
    }
    write_key_sint(buf, "start", span.start_unix_ns(clock));
    write_key_sint(buf, "duration", span.duration_ns());
    write_key_sint(buf, "error", i64::from(span.fields.error));
    let mut meta = super::Entries::default();
    view.meta(&mut meta);
    if let Some(json) = &events_json {
        meta.push("events", json);
    }
    super::write_str(buf, "meta");
    let _ = encode::write_map_len(buf, meta.0.len() as u32);
    for (k, v) in &meta.0 {
        write_key_str(buf, k, v);
    }
    let mut metrics = super::Entries::default();
    view.metrics(&mut metrics);
    super::write_str(buf, "metrics");
    let _ = encode::write_map_len(buf, metrics.0.len() as u32);
    for (k, v) in &metrics.0 {
        super::write_str(buf, k);
        let _ = encode::write_f64(buf, *v);
    }
    if !links.is_empty() {
        super::write_str(buf, "span_links");
        let _ = encode::write_array_len(buf, links.len() as u32);
        for link in links {
            write_link(buf, link);
        }
    }
    if native_events {
        super::write_str(buf, "span_events");
        let _ = encode::write_array_len(buf, events.len() as u32);
        for event in events {
            write_event(buf, event, clock);
        }
    }
}

/// A span event as the agent's v0.4 decoder reads it: attributes typed as its
/// `AttributeAnyValue` (0 string, 1 bool, 2 int, 3 double).
fn write_event(buf: &mut Vec<u8>, event: &crate::model::span::SpanEvent, clock: &WallClock) {
    use crate::model::span::EventValue;
    let _ = encode::write_map_len(buf, 3);
    write_key_uint(
        buf,
        "time_unix_nano",
        u64::try_from(clock.unix_ns(event.time)).unwrap_or(0),
    );
    write_key_str(buf, "name", &event.name);
    super::write_str(buf, "attributes");
    let _ = encode::write_map_len(buf, event.attributes.len() as u32);
    for (key, value) in &event.attributes {
        super::write_str(buf, key.as_ref());
        let _ = encode::write_map_len(buf, 2);
        match value {
            EventValue::Str(s) => {
                write_key_uint(buf, "type", 0);
                write_key_str(buf, "string_value", s);
            }
            EventValue::Bool(b) => {
                write_key_uint(buf, "type", 1);
                super::write_str(buf, "bool_value");
                let _ = encode::write_bool(buf, *b);
            }
            EventValue::Int(i) => {
                write_key_uint(buf, "type", 2);
                write_key_sint(buf, "int_value", *i);
            }
            EventValue::Float(f) => {
                write_key_uint(buf, "type", 3);
                super::write_str(buf, "double_value");
                let _ = encode::write_f64(buf, *f);
            }
        }
    }
}

fn write_link(buf: &mut Vec<u8>, link: &SpanLink) {
    let high = link.trace_id.high();
    let len = 2
        + u32::from(high != 0)
        + u32::from(link.flags != 0)
        + u32::from(link.tracestate.is_some())
        + u32::from(!link.attributes.is_empty());
    let _ = encode::write_map_len(buf, len);
    write_key_uint(buf, "trace_id", link.trace_id.low());
    if high != 0 {
        write_key_uint(buf, "trace_id_high", high);
    }
    write_key_uint(buf, "span_id", link.span_id);
    if let Some(tracestate) = &link.tracestate {
        write_key_str(buf, "tracestate", tracestate);
    }
    if !link.attributes.is_empty() {
        super::write_str(buf, "attributes");
        let _ = encode::write_map_len(buf, link.attributes.len() as u32);
        for (k, v) in &link.attributes {
            write_key_str(buf, k, v);
        }
    }
    if link.flags != 0 {
        write_key_uint(buf, "flags", u64::from(link.flags));
    }
}
