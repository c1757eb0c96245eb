//! The v0.5 span (spec §1.4): an array of 12 values whose strings are indexes into the
//! payload's string table, written with rmp's encoders.
//!
//! In: one span as [`SpanView`] composes it, on the worker thread. Out: its bytes, appended to
//! the payload the [`PayloadEncoder`](super::PayloadEncoder) builds, and its strings added to
//! the payload's [`StringTable`]. v0.5 has no field for span links or span events: they travel
//! as the `_dd.span_links` and `events` meta tags, as JSON.

use rmp::encode;
use rustc_hash::FxHashMap;

use super::SpanView;
use crate::model::clock::WallClock;
use crate::model::span::SpanLink;

/// A payload's strings, each written once: index 0 is `""`. Each new string is encoded into
/// the table's bytes as it is added, so finishing the payload only copies them.
#[derive(Default)]
pub(crate) struct StringTable {
    index: FxHashMap<Box<str>, u32>,
    /// The strings, msgpack-encoded, in index order.
    encoded: Vec<u8>,
    count: u32,
}

impl StringTable {
    /// The index of `s`, adding it if it is new.
    fn intern(&mut self, s: &str) -> u32 {
        if self.count == 0 {
            self.count = 1;
            super::write_str(&mut self.encoded, "");
        }
        if s.is_empty() {
            return 0;
        }
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.count;
        self.count += 1;
        super::write_str(&mut self.encoded, s);
        self.index.insert(s.into(), i);
        i
    }

    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.encoded.clear();
        self.count = 0;
    }

    /// The bytes [`write`](Self::write) will write, but for the array header.
    pub(crate) fn bytes(&self) -> usize {
        self.encoded.len()
    }

    /// Writes the table as a msgpack array of strings.
    pub(crate) fn write(&mut self, out: &mut Vec<u8>) {
        if self.count == 0 {
            self.intern("");
        }
        let _ = encode::write_array_len(out, self.count);
        out.extend_from_slice(&self.encoded);
    }
}

fn write_index(buf: &mut Vec<u8>, strings: &mut StringTable, s: &str) {
    let _ = encode::write_uint(buf, u64::from(strings.intern(s)));
}

/// Writes one span as the v0.5 array of 12.
pub(super) fn write_span(
    buf: &mut Vec<u8>,
    strings: &mut StringTable,
    view: &SpanView<'_>,
    trace_id: u64,
    clock: &WallClock,
) {
    let span = view.span;
    let _ = encode::write_array_len(buf, 12);
    write_index(buf, strings, view.service());
    write_index(buf, strings, span.operation_name());
    write_index(buf, strings, span.resource());
    let _ = encode::write_uint(buf, trace_id);
    let _ = encode::write_uint(buf, span.span_id);
    let _ = encode::write_uint(buf, span.parent_id);
    let _ = encode::write_sint(buf, span.start_unix_ns(clock));
    let _ = encode::write_sint(buf, span.duration_ns());
    let _ = encode::write_sint(buf, i64::from(span.fields.error));
    let links_json = (!span.fields.links.is_empty()).then(|| links_json(&span.fields.links));
    // No native span events in v0.5: always the tag.
    let events_json = (!span.fields.events.is_empty())
        .then(|| super::events_meta_json(&span.fields.events, clock));
    let mut meta = super::Entries::default();
    view.meta(&mut meta);
    if let Some(json) = &links_json {
        meta.push("_dd.span_links", json);
    }
    if let Some(json) = &events_json {
        meta.push("events", json);
    }
    let _ = encode::write_map_len(buf, meta.0.len() as u32);
    for (k, v) in &meta.0 {
        write_index(buf, strings, k);
        write_index(buf, strings, v);
    }
    let mut metrics = super::Entries::default();
    view.metrics(&mut metrics);
    let _ = encode::write_map_len(buf, metrics.0.len() as u32);
    for (k, v) in &metrics.0 {
        write_index(buf, strings, k);
        let _ = encode::write_f64(buf, *v);
    }
    write_index(buf, strings, span.span_type().unwrap_or(""));
}

/// Span links as `_dd.span_links` JSON: the 128-bit trace id as 32 hex digits, the span id
/// as 16, as Datadog's Python tracer writes them (the form the suite and the agent read).
fn links_json(links: &[SpanLink]) -> String {
    let list: Vec<serde_json::Value> = links
        .iter()
        .map(|l| {
            let mut link = serde_json::json!({
                "trace_id": format!("{:016x}{:016x}", l.trace_id.high(), l.trace_id.low()),
                "span_id": format!("{:016x}", l.span_id),
            });
            if !l.attributes.is_empty() {
                let attributes: serde_json::Map<String, serde_json::Value> = l
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_str())))
                    .collect();
                link["attributes"] = attributes.into();
            }
            if let Some(ts) = &l.tracestate {
                link["tracestate"] = ts.as_str().into();
            }
            if l.flags != 0 {
                // The JSON form carries the W3C flags alone (readers add bit 31 back).
                link["flags"] = (l.flags & 0x7fff_ffff).into();
            }
            link
        })
        .collect();
    serde_json::Value::from(list).to_string()
}
