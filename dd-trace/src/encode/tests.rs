//! The encoder's tests, through the processing stage as the worker runs it: v0.4 payloads
//! decoded back (span fields, the tracer's and the trace's tags, links, splitting, buffer
//! reuse), and any field values round-tripping.

use super::*;
use crate::export::process::{Processor, TracerSubject};
use crate::model::clock::WallClock;
use crate::model::id::TraceId;
use crate::model::span::tests::span;
use crate::model::span::ParentService;
use crate::model::span::SpanLink;
use crate::model::trace::Chunk;
use rmpv::Value;
use std::time::Instant;

/// The tracer span rules would see (none apply here).
const SUBJECT: TracerSubject<'static> = TracerSubject {
    service: "svc",
    tags: &[],
};

fn ctx() -> EncodeContext {
    EncodeContext {
        identity: std::sync::Arc::new(crate::identity::Identity::fixed(
            "svc",
            Some("test"),
            Some("1.0"),
        )),
        global_tags: std::sync::Arc::new(vec![
            ("team".into(), "core".into()),
            ("env".into(), "ignored".into()),
        ]),
        report_hostname: false,
        native_span_events: false,
        chunk_tags: Arc::default(),
    }
}

fn chunk(n: u64, rate: Option<f64>) -> Chunk {
    let trace =
        crate::model::trace::tests::trace(TraceId::from_parts(0x6638_b0e8_0000_0000, 77), rate);
    let spans = (1..=n)
        .map(|i| {
            let mut s = span(i, i - 1);
            s.start = base() + std::time::Duration::from_nanos(i);
            s.end = s.start + std::time::Duration::from_nanos(1000);
            if i > 1 {
                s.parent_service = ParentService::DefaultService;
            }
            s
        })
        .collect();
    Chunk {
        trace,
        spans,
        partial: false,
    }
}

/// The instant that encodes as Unix time 1.7e18 (see `encoder`).
fn base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn encoder(flush_bytes: usize) -> PayloadEncoder {
    let mut enc = PayloadEncoder::new(ctx(), flush_bytes);
    enc.set_clock(WallClock::at(base(), 1_700_000_000_000_000_000));
    enc
}

/// Encodes `chunk` as the worker does: through the processing stage.
fn push(enc: &mut PayloadEncoder, chunk: &mut Chunk, emit: &mut dyn FnMut(Payload)) {
    let mut processor = Processor::default();
    let tags = processor.tag(chunk, SUBJECT);
    enc.push_chunk(chunk, tags, emit);
}

fn decode(p: &Payload) -> Vec<Vec<Value>> {
    let v: Value = rmp_serde::from_slice(&p.body).expect("valid msgpack");
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_array().unwrap().clone())
        .collect()
}

fn get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn meta<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    get(get(span, "meta")?, key)?.as_str()
}

fn metric(span: &Value, key: &str) -> Option<f64> {
    get(get(span, "metrics")?, key)?.as_f64()
}

#[test]
fn payload_decodes_back_to_the_spans_with_spec_tags() {
    let mut enc = encoder(DEFAULT_PAYLOAD_FLUSH_BYTES);
    let mut c = chunk(2, None);
    c.spans[1].fields.tags.set_str("http.method", "GET");
    push(&mut enc, &mut c, &mut |_| panic!("no early payload"));
    let p = enc.finish().unwrap();
    assert_eq!((p.chunks, p.spans), (1, 2));
    let chunks = decode(&p);
    assert_eq!(chunks.len(), 1);
    let (root, child) = (&chunks[0][0], &chunks[0][1]);

    assert_eq!(get(root, "trace_id").unwrap().as_u64(), Some(77));
    assert_eq!(get(root, "span_id").unwrap().as_u64(), Some(1));
    assert_eq!(get(root, "parent_id").unwrap().as_u64(), Some(0));
    assert_eq!(get(child, "parent_id").unwrap().as_u64(), Some(1));
    assert_eq!(get(root, "name").unwrap().as_str(), Some("op"));
    assert_eq!(get(root, "resource").unwrap().as_str(), Some("op"));
    assert_eq!(get(root, "service").unwrap().as_str(), Some("svc"));
    assert_eq!(
        get(root, "start").unwrap().as_i64(),
        Some(1_700_000_000_000_000_001)
    );
    assert_eq!(get(root, "duration").unwrap().as_i64(), Some(1000));
    assert_eq!(get(root, "error").unwrap().as_i64(), Some(0));

    // Every span: env (DD_ENV wins over DD_TAGS), version, DD_TAGS.
    for s in [root, child] {
        assert_eq!(meta(s, "env"), Some("test"));
        assert_eq!(meta(s, "version"), Some("1.0"));
        assert_eq!(meta(s, "team"), Some("core"));
    }
    assert_eq!(meta(child, "http.method"), Some("GET"));
    // Trace-level tags on the first span of the chunk only.
    assert_eq!(meta(root, "_dd.p.tid"), Some("6638b0e800000000"));
    assert_eq!(meta(root, "_dd.p.dm"), Some("-0"));
    assert_eq!(meta(root, "language"), Some("rust"));
    assert_eq!(meta(root, "runtime-id"), Some("rid"));
    assert_eq!(metric(root, "_sampling_priority_v1"), Some(1.0));
    assert_eq!(metric(root, "process_id"), Some(42.0));
    assert_eq!(metric(root, "_dd.top_level"), Some(1.0));
    assert_eq!(meta(child, "_dd.p.tid"), None);
    assert_eq!(metric(child, "_sampling_priority_v1"), None);
    assert_eq!(metric(child, "_dd.top_level"), None);
}

#[test]
fn sample_rate_decisions_carry_rule_tags() {
    let mut enc = encoder(DEFAULT_PAYLOAD_FLUSH_BYTES);
    push(&mut enc, &mut chunk(1, Some(1.0)), &mut |_| {});
    push(&mut enc, &mut chunk(1, Some(0.0)), &mut |_| {});
    let chunks = decode(&enc.finish().unwrap());
    let (kept, dropped) = (&chunks[0][0], &chunks[1][0]);
    assert_eq!(metric(kept, "_sampling_priority_v1"), Some(2.0));
    assert_eq!(meta(kept, "_dd.p.dm"), Some("-3"));
    assert_eq!(metric(kept, "_dd.rule_psr"), Some(1.0));
    assert_eq!(meta(kept, "_dd.p.ksr"), Some("1"));
    assert_eq!(metric(dropped, "_sampling_priority_v1"), Some(-1.0));
    assert_eq!(
        meta(dropped, "_dd.p.dm"),
        None,
        "dm only while priority > 0"
    );
    assert_eq!(metric(dropped, "_dd.rule_psr"), Some(0.0));
}

#[test]
fn the_host_is_reported_on_local_roots_only_when_asked() {
    let mut enc = encoder(DEFAULT_PAYLOAD_FLUSH_BYTES);
    push(&mut enc, &mut chunk(2, None), &mut |_| {});
    let chunks = decode(&enc.finish().unwrap());
    assert_eq!(meta(&chunks[0][0], "_dd.hostname"), None, "off by default");
    let mut enc = PayloadEncoder::new(
        EncodeContext {
            report_hostname: true,
            ..ctx()
        },
        DEFAULT_PAYLOAD_FLUSH_BYTES,
    );
    push(&mut enc, &mut chunk(2, None), &mut |_| {});
    let chunks = decode(&enc.finish().unwrap());
    let (root, child) = (&chunks[0][0], &chunks[0][1]);
    assert_eq!(meta(root, "_dd.hostname"), Some("host"));
    assert_eq!(meta(child, "_dd.hostname"), None);
}

#[test]
fn other_services_get_base_service_and_no_version() {
    let mut enc = encoder(DEFAULT_PAYLOAD_FLUSH_BYTES);
    let mut c2 = chunk(2, None);
    set_service(&mut c2.spans[1], "postgres");
    push(&mut enc, &mut c2, &mut |_| {});
    let chunks = decode(&enc.finish().unwrap());
    let db = &chunks[0][1];
    assert_eq!(get(db, "service").unwrap().as_str(), Some("postgres"));
    assert_eq!(meta(db, "version"), None);
    assert_eq!(meta(db, "_dd.base_service"), Some("svc"));
    assert_eq!(metric(db, "_dd.top_level"), Some(1.0));
}

fn set_service(span: &mut crate::model::span::SpanData, service: &str) {
    span.fields.record_str("service.name".into(), service, true);
}

#[test]
fn big_chunks_are_split_and_payloads_stay_near_the_threshold() {
    let mut enc = encoder(4096);
    let mut payloads = Vec::new();
    push(&mut enc, &mut chunk(200, None), &mut |p| payloads.push(p));
    payloads.extend(enc.finish());
    assert!(payloads.len() > 3, "{} payloads", payloads.len());
    let mut ids = Vec::new();
    for p in &payloads {
        assert!(p.body.len() < 4096 + 1024, "{} bytes", p.body.len());
        for c in decode(p) {
            // Each piece is a chunk of its own: trace tags on its first span.
            assert_eq!(metric(&c[0], "_sampling_priority_v1"), Some(1.0));
            assert_eq!(meta(&c[0], "_dd.p.tid"), Some("6638b0e800000000"));
            ids.extend(
                c.iter()
                    .map(|s| get(s, "span_id").unwrap().as_u64().unwrap()),
            );
        }
    }
    assert_eq!(ids, (1..=200).collect::<Vec<_>>());
}

#[test]
fn links_are_encoded_with_high_bits_and_flags() {
    let mut enc = encoder(DEFAULT_PAYLOAD_FLUSH_BYTES);
    let mut c = chunk(1, None);
    c.spans[0].fields.links.push(SpanLink {
        trace_id: TraceId::from_parts(5, 6),
        span_id: 7,
        flags: 0x8000_0001,
        tracestate: Some("dd=s:1,other=x".into()),
        attributes: vec![("reason".into(), "terminated_context".into())],
    });
    push(&mut enc, &mut c, &mut |_| {});
    let chunks = decode(&enc.finish().unwrap());
    let link = &get(&chunks[0][0], "span_links")
        .unwrap()
        .as_array()
        .unwrap()[0];
    assert_eq!(get(link, "trace_id").unwrap().as_u64(), Some(6));
    assert_eq!(get(link, "trace_id_high").unwrap().as_u64(), Some(5));
    assert_eq!(get(link, "span_id").unwrap().as_u64(), Some(7));
    assert_eq!(get(link, "flags").unwrap().as_u64(), Some(0x8000_0001));
    assert_eq!(
        get(link, "tracestate").unwrap().as_str(),
        Some("dd=s:1,other=x")
    );
    let attributes = get(link, "attributes").unwrap();
    assert_eq!(
        get(attributes, "reason").unwrap().as_str(),
        Some("terminated_context")
    );
}

#[test]
fn encoder_buffer_is_reused_across_payloads() {
    let mut enc = encoder(DEFAULT_PAYLOAD_FLUSH_BYTES);
    push(&mut enc, &mut chunk(3, None), &mut |_| {});
    let first = enc.finish().unwrap();
    let ptr = enc.buf.as_ptr();
    push(&mut enc, &mut chunk(3, None), &mut |_| {});
    let second = enc.finish().unwrap();
    assert_eq!(enc.buf.as_ptr(), ptr);
    assert_eq!(first.body.len(), second.body.len());
    assert!(enc.finish().is_none());
}

#[test]
fn long_values_are_cut_on_a_char_boundary() {
    // One ASCII byte, then two-byte characters: byte `max` falls inside one of them.
    let s = format!("a{}", "é".repeat(MAX_META_VALUE_BYTES));
    let t = truncate_utf8(&s, MAX_META_VALUE_BYTES);
    assert_eq!(t.len(), MAX_META_VALUE_BYTES - 1);
    assert!(t.ends_with('é'));
    assert_eq!(truncate_utf8("short", MAX_META_VALUE_BYTES), "short");
    assert_eq!(truncate_utf8("ab", 2), "ab");
}

#[test]
fn formats_name_their_endpoint() {
    assert_eq!(PayloadFormat::V04.path(), "/v0.4/traces");
}

mod proptests {
    use super::SUBJECT;
    use super::{EncodeContext, PayloadEncoder};
    use crate::export::process::Processor;
    use crate::model::id::TraceId;
    use crate::model::span::tests::span;
    use crate::model::trace::Chunk;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the field values, the payload decodes back to them.
        #[test]
        fn any_field_values_round_trip(
            text in ".{0,300}",
            number in any::<i64>(),
            flag in any::<bool>(),
            spans in 1usize..40,
            flush_bytes in 256usize..20_000,
        ) {
            let trace = crate::model::trace::tests::trace(TraceId::from_parts(7, 9), None);
            let mut chunk = Chunk { trace, spans: Default::default(), partial: false };
            for i in 1..=spans as u64 {
                let mut s = span(i, i - 1);
                s.fields.record_str("s".into(), &text, true);
                s.fields.record_num("n".into(), number as f64, format_args!("{number}"), true);
                s.fields.record_bool("error".into(), flag, true);
                chunk.spans.push(s);
            }
            let ctx = EncodeContext {
                identity: std::sync::Arc::new(crate::identity::Identity::fixed("svc", None, None)),
                global_tags: Default::default(),
                report_hostname: false,
                native_span_events: false,
        chunk_tags: std::sync::Arc::default(),
            };
            let mut enc = PayloadEncoder::new(ctx, flush_bytes);
            let mut payloads = Vec::new();
            let mut processor = Processor::default();
            let mut chunk = chunk;
            let tags = processor.tag(&mut chunk, SUBJECT);
            enc.push_chunk(&chunk, tags, &mut |p| payloads.push(p));
            payloads.extend(enc.finish());
            let mut seen = 0u64;
            for p in &payloads {
                let v: rmpv::Value = rmp_serde::from_slice(&p.body).unwrap();
                let chunks = v.as_array().unwrap();
                prop_assert_eq!(chunks.len() as u32, p.chunks);
                for c in chunks {
                    for s in c.as_array().unwrap() {
                        seen += 1;
                        let map = s.as_map().unwrap();
                        let get = |k: &str| map.iter().find(|(key, _)| key.as_str() == Some(k)).map(|(_, v)| v.clone());
                        prop_assert_eq!(get("span_id").unwrap().as_u64(), Some(seen));
                        prop_assert_eq!(get("error").unwrap().as_i64(), Some(i64::from(flag)));
                        let meta = get("meta").unwrap();
                        let s_val = meta.as_map().unwrap().iter().find(|(k, _)| k.as_str() == Some("s")).map(|(_, v)| v.as_str().unwrap().to_string());
                        prop_assert_eq!(s_val.as_deref(), Some(text.as_str()));
                        let metrics = get("metrics").unwrap();
                        let n = metrics.as_map().unwrap().iter().find(|(k, _)| k.as_str() == Some("n")).and_then(|(_, v)| v.as_f64());
                        prop_assert_eq!(n, Some(number as f64));
                    }
                }
            }
            prop_assert_eq!(seen, spans as u64);
        }
    }
}

#[test]
fn map_entries_keep_the_first_value_of_each_key() {
    let mut entries = super::Entries::default();
    // Keys of the same length and first byte, and keys that repeat.
    for (k, v) in [
        ("env", "span"),
        ("eav", "other"),
        ("version", "1"),
        ("env", "tracer"),
        ("eav", "again"),
        ("", "empty"),
        ("", "empty again"),
    ] {
        entries.push(k, v);
    }
    let list: Vec<_> = entries.0.iter().copied().collect();
    assert_eq!(
        list,
        [
            ("env", "span"),
            ("eav", "other"),
            ("version", "1"),
            ("", "empty")
        ]
    );
    // Many distinct keys: every bit set, every one kept once.
    let keys: Vec<String> = (0..100).map(|i| format!("key.{i}")).collect();
    let mut entries = super::Entries::default();
    for k in keys.iter().chain(keys.iter()) {
        entries.push(k, 0);
    }
    assert_eq!(entries.0.len(), 100);
}

#[test]
fn strings_are_written_as_rmp_writes_them() {
    for len in [0, 1, 31, 32, 255, 256, 65_535, 65_536, 70_000] {
        let s = "x".repeat(len);
        let mut ours = Vec::new();
        super::write_str(&mut ours, &s);
        let mut theirs = Vec::new();
        rmp::encode::write_str(&mut theirs, &s).unwrap();
        assert_eq!(ours, theirs, "length {len}");
    }
}
