//! STATS: client-side trace stats (spec §3.7), on the worker thread; feature `client-stats`.
//!
//! In: every processed chunk, kept or dropped, with its trace-level tags. Out: `/v0.6/stats`
//! payloads, one per 10-second bucket once the bucket is over (and every bucket at shutdown).
//! It groups the spans the agent would count — local roots and service entry spans
//! (`_dd.top_level`), spans marked `_dd.measured`, and spans of kind server, client, producer
//! or consumer — by service, operation name, resource, type, HTTP status, span kind, whether
//! the span is the trace's root, synthetics origin and, for client and producer spans, the peer
//! tags the agent's `/info` names. Each group counts hits, errors, top-level hits and total
//! duration, and keeps the durations of OK and error spans as DDSketches in the agent's
//! protobuf encoding (Datadog's own `libdd-ddsketch`).
//!
//! Resources are sent as they are: no `Datadog-Obfuscation-Version` header is sent, so the
//! agent obfuscates the groups' resources (SQL, Redis commands) as it does spans' before they
//! leave it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use libdd_ddsketch::DDSketch;
use rmp::encode;

use crate::encode::{write_key_str, write_key_uint, TraceLevelTags};
use crate::identity::{Identity, LANGUAGE, TRACER_VERSION};
use crate::model::clock::WallClock;
use crate::model::span::{SpanData, SpanKind, TagRef};
use crate::model::trace::Chunk;

/// The agent's stats endpoint.
pub(crate) const STATS_PATH: &str = "/v0.6/stats";

/// The agent's bucket width.
pub(crate) const BUCKET: Duration = Duration::from_secs(10);

/// What groups spans (the agent's aggregation key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AggregationKey {
    service: String,
    name: String,
    resource: String,
    span_type: String,
    http_status: u32,
    span_kind: &'static str,
    synthetics: bool,
    /// Trilean: 1 the trace's root, 2 not.
    is_trace_root: u8,
    peer_tags: Vec<String>,
}

/// The counts of one group in one bucket.
#[derive(Default)]
struct Group {
    hits: u64,
    errors: u64,
    top_level_hits: u64,
    duration: u64,
    ok: DDSketch,
    error: DDSketch,
}

/// The buckets under way.
pub(crate) struct Concentrator {
    /// What every payload says of the process.
    identity: Arc<Identity>,
    /// Bucket start (ns since the epoch) → groups.
    buckets: BTreeMap<u64, HashMap<AggregationKey, Group>>,
    /// Meta keys whose values group client and producer spans (`peer_tags` in `/info`).
    peer_tag_keys: Vec<String>,
    sequence: u64,
}

impl Concentrator {
    pub(crate) fn new(identity: Arc<Identity>) -> Self {
        Concentrator {
            identity,
            buckets: BTreeMap::new(),
            peer_tag_keys: Vec::new(),
            sequence: 0,
        }
    }

    /// The peer tags the agent aggregates by.
    pub(crate) fn set_peer_tags(&mut self, keys: Vec<String>) {
        self.peer_tag_keys = keys;
    }

    /// Counts the spans of `chunk` (before any is dropped).
    pub(crate) fn add(
        &mut self,
        chunk: &Chunk,
        tags: &TraceLevelTags,
        clock: &WallClock,
        default_service: &str,
    ) {
        let synthetics = tags
            .every_span
            .get("_dd.origin")
            .is_some_and(|o| matches!(o, TagRef::Str(s) if s.starts_with("synthetics")));
        for span in &chunk.spans {
            let top_level = span.is_top_level();
            let measured =
                matches!(span.fields.tags.get("_dd.measured"), Some(TagRef::Num(n)) if n != 0.0);
            if !(top_level || measured || span.kind_is_measured()) {
                continue;
            }
            let end_ns = u64::try_from(clock.unix_ns(span.end)).unwrap_or(0);
            let start = end_ns - end_ns % (BUCKET.as_nanos() as u64);
            let key = self.key(span, default_service, synthetics);
            let group = self
                .buckets
                .entry(start)
                .or_default()
                .entry(key)
                .or_default();
            let duration = u64::try_from(span.duration_ns()).unwrap_or(0);
            group.hits += 1;
            group.top_level_hits += u64::from(top_level);
            group.duration += duration;
            let sketch = if span.fields.error {
                group.errors += 1;
                &mut group.error
            } else {
                &mut group.ok
            };
            // A duration is never negative or NaN: adding cannot fail.
            let _ = sketch.add(duration as f64);
        }
    }

    fn key(&self, span: &SpanData, default_service: &str, synthetics: bool) -> AggregationKey {
        let text = |key: &str| match span.fields.tags.get(key) {
            Some(TagRef::Str(s)) => Some(s.to_string()),
            Some(TagRef::Num(n)) => Some(format!("{n}")),
            None => None,
        };
        let kind = span.fields.kind;
        let peer_tags = if matches!(kind, Some(SpanKind::Client | SpanKind::Producer)) {
            self.peer_tag_keys
                .iter()
                .filter_map(|k| text(k).map(|v| format!("{k}:{v}")))
                .collect()
        } else {
            Vec::new()
        };
        AggregationKey {
            service: span.service().unwrap_or(default_service).to_string(),
            name: span.operation_name().to_string(),
            resource: span.resource().to_string(),
            span_type: span.span_type().unwrap_or_default().to_string(),
            http_status: text("http.status_code")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            span_kind: kind.map_or("", SpanKind::as_str),
            synthetics,
            is_trace_root: if span.parent_id == 0 { 1 } else { 2 },
            peer_tags,
        }
    }

    /// A payload of every bucket that ended before `now` (every bucket, if `all`), removed.
    pub(crate) fn flush(&mut self, now: SystemTime, all: bool) -> Option<Bytes> {
        let now_ns = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let width = BUCKET.as_nanos() as u64;
        let done: Vec<u64> = self
            .buckets
            .keys()
            .copied()
            .filter(|start| all || start + width <= now_ns)
            .collect();
        if done.is_empty() {
            return None;
        }
        let buckets: Vec<(u64, HashMap<AggregationKey, Group>)> = done
            .into_iter()
            .filter_map(|start| Some((start, self.buckets.remove(&start)?)))
            .collect();
        self.sequence += 1;
        Some(self.encode(buckets, width))
    }

    /// The `ClientStatsPayload` the agent decodes from msgpack (field names as its own).
    fn encode(&self, buckets: Vec<(u64, HashMap<AggregationKey, Group>)>, width: u64) -> Bytes {
        let mut out = Vec::with_capacity(1024);
        let id = &self.identity;
        let _ = encode::write_map_len(&mut out, 9);
        write_key_str(&mut out, "Hostname", &id.hostname);
        write_key_str(&mut out, "Env", id.env.as_deref().unwrap_or_default());
        write_key_str(
            &mut out,
            "Version",
            id.version.as_deref().unwrap_or_default(),
        );
        write_key_str(&mut out, "Lang", LANGUAGE);
        write_key_str(&mut out, "TracerVersion", TRACER_VERSION);
        write_key_str(&mut out, "RuntimeID", &id.runtime_id);
        write_key_uint(&mut out, "Sequence", self.sequence);
        write_key_str(&mut out, "Service", &id.service);
        let _ = encode::write_str(&mut out, "Stats");
        let _ = encode::write_array_len(&mut out, buckets.len() as u32);
        for (start, groups) in buckets {
            let _ = encode::write_map_len(&mut out, 3);
            write_key_uint(&mut out, "Start", start);
            write_key_uint(&mut out, "Duration", width);
            let _ = encode::write_str(&mut out, "Stats");
            let _ = encode::write_array_len(&mut out, groups.len() as u32);
            for (key, group) in groups {
                write_group(&mut out, key, group);
            }
        }
        out.into()
    }
}

fn write_group(out: &mut Vec<u8>, key: AggregationKey, group: Group) {
    let _ = encode::write_map_len(out, 15);
    write_key_str(out, "Service", &key.service);
    write_key_str(out, "Name", &key.name);
    write_key_str(out, "Resource", &key.resource);
    write_key_uint(out, "HTTPStatusCode", u64::from(key.http_status));
    write_key_str(out, "Type", &key.span_type);
    let _ = encode::write_str(out, "Synthetics");
    let _ = encode::write_bool(out, key.synthetics);
    write_key_uint(out, "Hits", group.hits);
    write_key_uint(out, "Errors", group.errors);
    write_key_uint(out, "Duration", group.duration);
    write_key_uint(out, "TopLevelHits", group.top_level_hits);
    write_key_str(out, "SpanKind", key.span_kind);
    write_key_uint(out, "IsTraceRoot", u64::from(key.is_trace_root));
    let _ = encode::write_str(out, "PeerTags");
    let _ = encode::write_array_len(out, key.peer_tags.len() as u32);
    for tag in &key.peer_tags {
        let _ = encode::write_str(out, tag);
    }
    for (name, sketch) in [("OkSummary", group.ok), ("ErrorSummary", group.error)] {
        let _ = encode::write_str(out, name);
        let _ = encode::write_bin(out, &sketch.encode_to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::id::TraceId;
    use crate::model::span::tests::span;
    use crate::model::span::ParentService;
    use std::time::Instant;

    fn identity() -> Arc<Identity> {
        Arc::new(Identity::fixed("svc", Some("prod"), Some("1")))
    }

    #[test]
    fn groups_count_what_their_spans_imply_and_the_sketches_hold_the_durations() {
        let base = Instant::now();
        let clock = WallClock::at(base, 1_700_000_000_000_000_000);
        let trace = crate::model::trace::tests::trace(TraceId::from_parts(0, 9), None);
        let mut spans = crate::model::trace::Spans::new();
        // A root of 2 ms and an error root of 5 ms (two traces of one group), a child of the
        // default service (not counted) and a client child (counted by its kind).
        for (id, parent, ms, error, kind) in [
            (1, 0, 2, false, None),
            (2, 0, 5, true, None),
            (3, 1, 1, false, None),
            (4, 1, 3, false, Some("client")),
        ] {
            let mut s = span(id, parent);
            s.start = base;
            s.end = base + Duration::from_millis(ms);
            s.fields.error = error;
            if parent != 0 {
                s.parent_service = ParentService::DefaultService;
            }
            if let Some(kind) = kind {
                s.fields.record_str("span.kind".into(), kind, true);
                s.fields.record_str("db.hostname".into(), "pg-1", true);
            }
            spans.push(s);
        }
        let chunk = Chunk {
            trace,
            spans,
            partial: false,
        };
        let mut c = Concentrator::new(identity());
        c.set_peer_tags(vec!["db.hostname".into()]);
        c.add(&chunk, &TraceLevelTags::default(), &clock, "svc");
        // The bucket is not over until 10 s after its start.
        assert!(c
            .flush(
                UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_000),
                false
            )
            .is_none());
        let body = c.flush(SystemTime::now(), true).expect("a payload");
        let payload: rmpv::Value = rmp_serde::from_slice(&body).unwrap();
        let field = |v: &rmpv::Value, k: &str| {
            v.as_map()
                .unwrap()
                .iter()
                .find(|(key, _)| key.as_str() == Some(k))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {k}"))
        };
        assert_eq!(field(&payload, "Env").as_str(), Some("prod"));
        let buckets = field(&payload, "Stats");
        let bucket = &buckets.as_array().unwrap()[0];
        assert_eq!(
            field(bucket, "Start").as_u64(),
            Some(1_700_000_000_000_000_000)
        );
        let groups = field(bucket, "Stats");
        let groups = groups.as_array().unwrap();
        assert_eq!(groups.len(), 2, "{groups:?}");
        let by_kind = |kind: &str| {
            groups
                .iter()
                .find(|g| field(g, "SpanKind").as_str() == Some(kind))
                .unwrap()
                .clone()
        };
        let roots = by_kind("");
        assert_eq!(field(&roots, "Hits").as_u64(), Some(2));
        assert_eq!(field(&roots, "Errors").as_u64(), Some(1));
        assert_eq!(field(&roots, "TopLevelHits").as_u64(), Some(2));
        assert_eq!(field(&roots, "Duration").as_u64(), Some(7_000_000));
        assert_eq!(field(&roots, "IsTraceRoot").as_u64(), Some(1));
        let ok = DDSketch::from_encoded(field(&roots, "OkSummary").as_slice().unwrap()).unwrap();
        let err =
            DDSketch::from_encoded(field(&roots, "ErrorSummary").as_slice().unwrap()).unwrap();
        assert_eq!((ok.count(), err.count()), (1.0, 1.0));
        let value = |s: &DDSketch| {
            s.ordered_bins()
                .into_iter()
                .find(|(_, w)| *w > 0.0)
                .unwrap()
                .0
        };
        assert!((value(&ok) / 2e6 - 1.0).abs() < 0.01, "{}", value(&ok));
        assert!((value(&err) / 5e6 - 1.0).abs() < 0.01, "{}", value(&err));
        let client = by_kind("client");
        assert_eq!(field(&client, "Hits").as_u64(), Some(1));
        assert_eq!(field(&client, "TopLevelHits").as_u64(), Some(0));
        assert_eq!(field(&client, "IsTraceRoot").as_u64(), Some(2));
        let peer = field(&client, "PeerTags");
        assert_eq!(
            peer.as_array().unwrap()[0].as_str(),
            Some("db.hostname:pg-1")
        );
        assert!(
            c.flush(SystemTime::now(), true).is_none(),
            "flushed buckets are gone"
        );
    }
}
