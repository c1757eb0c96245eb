//! The extraction algorithm across styles, and round trips.

use super::*;

fn config(styles: &[PropagationStyle]) -> PropagationConfig {
    PropagationConfig {
        inject: styles.to_vec(),
        extract: styles.to_vec(),
        ..PropagationConfig::default()
    }
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const DD_SAME: &[(&str, &str)] = &[
    ("x-datadog-trace-id", "7277407061855694839"),
    ("x-datadog-parent-id", "1"),
    ("x-datadog-sampling-priority", "2"),
    ("x-datadog-tags", "_dd.p.tid=6638b0e800000000,_dd.p.dm=-4"),
];

// The same trace as DD_SAME: high 6638b0e800000000, low 0x64fe8b2a57d3eff7 = 7277407061855694839.
const TP_SAME: &str = "00-6638b0e80000000064fe8b2a57d3eff7-00f067aa0ba902b7-01";

#[test]
fn the_first_valid_style_wins_and_a_same_trace_w3c_context_adds_its_state() {
    let mut h = headers(DD_SAME);
    h.push(("traceparent".into(), TP_SAME.into()));
    h.push((
        "tracestate".into(),
        "dd=s:2;p:000000000000000a,foo=bar".into(),
    ));
    let c = extract_with(
        &h,
        &config(&[PropagationStyle::Datadog, PropagationStyle::TraceContext]),
    )
    .unwrap();
    assert_eq!(c.trace_id().unwrap().high(), 0x6638_b0e8_0000_0000);
    assert_eq!(c.sampling_priority, Some(2), "from the winner");
    assert_eq!(c.tracestate.as_deref(), Some("foo=bar"));
    assert_eq!(
        c.parent_id, 0x00f0_67aa_0ba9_02b7,
        "the W3C parent is preferred"
    );
    assert_eq!(c.dd_parent_id.as_deref(), Some("000000000000000a"));
    assert!(c.links.is_empty());

    // With extract-first, the later context is not looked at.
    let mut first = config(&[PropagationStyle::Datadog, PropagationStyle::TraceContext]);
    first.extract_first = true;
    let c = extract_with(&h, &first).unwrap();
    assert_eq!(c.parent_id, 1);
    assert_eq!(c.tracestate, None);
}

#[test]
fn same_parent_ids_keep_the_datadog_parent_as_dd_parent_id() {
    let mut h = headers(&[
        ("x-datadog-trace-id", "7277407061855694839"),
        ("x-datadog-parent-id", "67667974448284343"),
        ("x-datadog-tags", "_dd.p.tid=6638b0e800000000"),
    ]);
    h.push(("traceparent".into(), TP_SAME.into()));
    let c = extract_with(
        &h,
        &config(&[PropagationStyle::Datadog, PropagationStyle::TraceContext]),
    )
    .unwrap();
    assert_eq!(c.parent_id, 67_667_974_448_284_343);
    assert_eq!(c.dd_parent_id, None, "same span: nothing to reparent");
}

#[test]
fn a_context_of_another_trace_becomes_a_terminated_context_link() {
    let mut h = headers(DD_SAME);
    h.push((
        "traceparent".into(),
        "00-11111111111111111111111111111111-2222222222222222-00".into(),
    ));
    h.push(("tracestate".into(), "other=1".into()));
    let c = extract_with(
        &h,
        &config(&[PropagationStyle::Datadog, PropagationStyle::TraceContext]),
    )
    .unwrap();
    assert_eq!(c.links.len(), 1);
    let link = &c.links[0];
    assert_eq!(
        link.trace_id.to_u128(),
        0x1111_1111_1111_1111_1111_1111_1111_1111
    );
    assert_eq!(link.span_id, 0x2222_2222_2222_2222);
    assert_eq!(link.flags, 0x8000_0000, "not sampled");
    assert_eq!(link.tracestate.as_deref(), Some("other=1"));
    assert_eq!(
        link.attributes,
        [
            ("reason".into(), "terminated_context".into()),
            ("context_headers".into(), "tracecontext".into())
        ]
    );
}

#[test]
fn baggage_comes_with_the_context_or_alone_and_none_means_nothing() {
    let mut h = headers(DD_SAME);
    h.push(("baggage".into(), "user=alice".into()));
    let c = extract_with(&h, &PropagationConfig::default()).unwrap();
    assert!(c.has_trace());
    assert_eq!(c.baggage().collect::<Vec<_>>(), [("user", "alice")]);
    let only = extract_with(
        &headers(&[("baggage", "k=v")]),
        &PropagationConfig::default(),
    )
    .unwrap();
    assert!(!only.has_trace());
    assert_eq!(only.baggage().count(), 1);
    assert!(extract_with(&h, &config(&[])).is_none(), "style none");
    assert!(extract_with(&headers(&[]), &PropagationConfig::default()).is_none());
}

#[test]
fn restart_links_the_incoming_trace_and_keeps_baggage() {
    let mut h = headers(DD_SAME);
    h.push(("baggage".into(), "k=v".into()));
    let mut cfg = PropagationConfig {
        behavior: ExtractBehavior::Restart,
        ..PropagationConfig::default()
    };
    let c = extract_with(&h, &cfg).unwrap();
    assert!(!c.has_trace());
    assert_eq!(c.links.len(), 1);
    assert_eq!(c.links[0].attributes[0].1, "propagation_behavior_extract");
    assert_eq!(c.baggage().count(), 1);
    cfg.behavior = ExtractBehavior::Ignore;
    assert!(extract_with(&h, &cfg).is_none());
}

#[test]
fn style_lists_parse_case_insensitively_and_none_empties_them() {
    assert_eq!(
        parse_styles("Datadog, TRACECONTEXT,b3 single header,b3multi,baggage,datadog"),
        (
            vec![
                PropagationStyle::Datadog,
                PropagationStyle::TraceContext,
                PropagationStyle::B3Single,
                PropagationStyle::B3Multi,
                PropagationStyle::Baggage
            ],
            vec![]
        )
    );
    assert_eq!(
        parse_styles("b3"),
        (vec![PropagationStyle::B3Single], vec![])
    );
    // `none` among other styles is ignored, as in Datadog's other tracers; alone it is none.
    assert_eq!(
        parse_styles("none,Datadog"),
        (vec![PropagationStyle::Datadog], vec![])
    );
    assert_eq!(
        parse_styles("datadog,none"),
        (vec![PropagationStyle::Datadog], vec![])
    );
    assert_eq!(parse_styles("none"), (vec![], vec![]));
    assert_eq!(
        parse_styles("datadog,jaeger,w3c"),
        (
            vec![PropagationStyle::Datadog],
            vec!["jaeger".to_string(), "w3c".to_string()]
        )
    );
}

fn outgoing(priority: i8) -> OutgoingContext {
    OutgoingContext {
        trace_id: TraceId::from_parts(0x6638_b0e8_0000_0000, 0x64fe_8b2a_57d3_eff7),
        span_id: 0x00f0_67aa_0ba9_02b7,
        priority,
        origin: Some("synthetics".into()),
        tags: vec![
            ("_dd.p.tid".into(), "6638b0e800000000".into()),
            ("_dd.p.dm".into(), "-4".into()),
            ("_dd.p.usr.id".into(), "baz64==".into()),
        ],
        tracestate: Some("foo=1,dd=s:0,bar=2".into()),
        baggage: vec![("user".into(), "alice".into())],
    }
}

#[test]
fn every_style_writes_its_headers() {
    let all = [
        PropagationStyle::Datadog,
        PropagationStyle::TraceContext,
        PropagationStyle::B3Multi,
        PropagationStyle::B3Single,
        PropagationStyle::Baggage,
    ];
    let mut h: Vec<(String, String)> = Vec::new();
    assert_eq!(inject_with(&outgoing(2), &mut h, &config(&all)), None);
    let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("x-datadog-trace-id"), Some("7277407061855694839"));
    assert_eq!(get("x-datadog-parent-id"), Some("67667974448284343"));
    assert_eq!(get("x-datadog-sampling-priority"), Some("2"));
    assert_eq!(get("x-datadog-origin"), Some("synthetics"));
    assert_eq!(
        get("x-datadog-tags"),
        Some("_dd.p.tid=6638b0e800000000,_dd.p.dm=-4,_dd.p.usr.id=baz64==")
    );
    assert_eq!(get("traceparent"), Some(TP_SAME));
    assert_eq!(
        get("tracestate"),
        Some("dd=s:2;p:00f067aa0ba902b7;o:synthetics;t.dm:-4;t.usr.id:baz64~~,foo=1,bar=2")
    );
    assert_eq!(
        get("x-b3-traceid"),
        Some("6638b0e80000000064fe8b2a57d3eff7")
    );
    assert_eq!(get("x-b3-spanid"), Some("00f067aa0ba902b7"));
    assert_eq!(get("x-b3-flags"), Some("1"));
    assert_eq!(
        get("b3"),
        Some("6638b0e80000000064fe8b2a57d3eff7-00f067aa0ba902b7-d")
    );
    assert_eq!(get("baggage"), Some("user=alice"));
}

#[test]
fn too_many_datadog_tags_send_no_tags_header_and_report_it() {
    let mut ctx = outgoing(1);
    ctx.tags.push(("_dd.p.big".into(), "x".repeat(600)));
    let mut h: Vec<(String, String)> = Vec::new();
    let error = inject_with(&ctx, &mut h, &config(&[PropagationStyle::Datadog]));
    assert_eq!(error, Some("inject_max_size"));
    assert!(h.iter().all(|(k, _)| k != "x-datadog-tags"));
    assert!(h.iter().any(|(k, _)| k == "x-datadog-trace-id"));
}

#[test]
fn each_style_round_trips_a_context() {
    for style in [
        PropagationStyle::Datadog,
        PropagationStyle::TraceContext,
        PropagationStyle::B3Multi,
        PropagationStyle::B3Single,
    ] {
        for priority in [-1i8, 0, 1, 2] {
            let sent = outgoing(priority);
            let mut h: Vec<(String, String)> = Vec::new();
            inject_with(&sent, &mut h, &config(&[style]));
            let got = extract_with(&h, &config(&[style])).unwrap();
            assert_eq!(got.trace_id(), Some(sent.trace_id), "{style} {priority}");
            assert_eq!(got.parent_id, sent.span_id, "{style} {priority}");
            let want = match style {
                // B3 has no user decisions: drops are 0, and the debug flag is 2.
                PropagationStyle::B3Multi | PropagationStyle::B3Single => priority.clamp(0, 2),
                _ => priority,
            };
            assert_eq!(got.sampling_priority, Some(want), "{style} {priority}");
            if matches!(
                style,
                PropagationStyle::Datadog | PropagationStyle::TraceContext
            ) {
                assert_eq!(got.origin.as_deref(), Some("synthetics"), "{style}");
                assert_eq!(got.tag("_dd.p.usr.id"), Some("baz64=="), "{style}");
            }
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn hostile() -> impl Strategy<Value = Vec<(String, String)>> {
        let names = prop_oneof![
            Just("x-datadog-trace-id".to_string()),
            Just("x-datadog-parent-id".to_string()),
            Just("x-datadog-sampling-priority".to_string()),
            Just("x-datadog-origin".to_string()),
            Just("x-datadog-tags".to_string()),
            Just("traceparent".to_string()),
            Just("tracestate".to_string()),
            Just("x-b3-traceid".to_string()),
            Just("x-b3-spanid".to_string()),
            Just("x-b3-sampled".to_string()),
            Just("x-b3-flags".to_string()),
            Just("b3".to_string()),
            Just("baggage".to_string()),
        ];
        let values = prop_oneof![
            ".{0,80}",
            "[0-9a-f-]{0,70}",
            "(_dd\\.p\\.[a-z]{1,5}=[ -~]{0,10},?){0,6}",
            "(dd=[a-z.]{1,3}:[ -~]{0,8};?){0,4}(,[a-z]{1,4}=[a-z0-9]{0,4}){0,3}",
            "([a-zA-Z%0-9]{0,6}=[a-zA-Z%0-9 ;]{0,8},?){0,5}",
        ];
        proptest::collection::vec((names, values), 0..12)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("DD_TRACE_PROPTEST_CASES")
                .or_else(|_| std::env::var("PROPTEST_CASES"))
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2000)
        ))]

        /// Whatever the headers, extraction returns (never panics), and what it returns
        /// injects and extracts back to the same ids.
        #[test]
        fn hostile_headers_never_break_extraction(h in hostile()) {
            let all = [
                PropagationStyle::Datadog,
                PropagationStyle::TraceContext,
                PropagationStyle::B3Multi,
                PropagationStyle::B3Single,
                PropagationStyle::Baggage,
            ];
            if let Some(c) = extract_with(&h, &config(&all)) {
                if let (Some(trace_id), true) = (c.trace_id, c.parent_id != 0) {
                    let out = OutgoingContext {
                        trace_id,
                        span_id: c.parent_id,
                        priority: c.sampling_priority.unwrap_or(1),
                        origin: c.origin.clone(),
                        tags: c.tags.clone(),
                        tracestate: c.tracestate.clone(),
                        baggage: c.baggage.clone(),
                    };
                    let mut back: Vec<(String, String)> = Vec::new();
                    inject_with(&out, &mut back, &config(&[PropagationStyle::Datadog]));
                    let again = extract_with(&back, &config(&[PropagationStyle::Datadog])).unwrap();
                    prop_assert_eq!(again.trace_id().unwrap().low(), trace_id.low());
                }
            }
        }
    }
}

#[test]
fn huge_and_repeated_headers_are_bounded_and_ignored_safely() {
    let huge = "a=b,".repeat(256 * 1024); // 1 MiB
    let mut h = headers(&DD_SAME[..3]);
    h.push(("x-datadog-tags".into(), huge.clone()));
    h.push(("traceparent".into(), format!("00-{}", "f".repeat(1 << 20))));
    h.push(("tracestate".into(), huge.clone()));
    h.push(("baggage".into(), huge.clone()));
    for _ in 0..1000 {
        h.push(("baggage".into(), "k=v".into()));
    }
    let c = extract_with(&h, &PropagationConfig::default()).unwrap();
    assert_eq!(c.propagation_error.as_deref(), Some("extract_max_size"));
    assert!(c.tags.is_empty(), "nothing kept from the oversized tags");
    assert!(c.baggage.is_empty(), "oversized baggage is dropped whole");
    assert_eq!(
        c.trace_id().unwrap().low(),
        7_277_407_061_855_694_839,
        "the ids still come through"
    );
    // A W3C context alone, with a huge tracestate: at most 32 members are kept.
    let h = headers(&[("traceparent", TP_SAME), ("tracestate", &huge)]);
    let c = extract_with(&h, &config(&[PropagationStyle::TraceContext])).unwrap();
    let kept = c.tracestate.unwrap();
    assert!(kept.split(',').count() <= 31);
    assert!(kept.len() < 4096 - 256, "{}", kept.len());

    // One huge vendor member is dropped, the rest kept; a huge `dd=` member is read only within
    // its 256 characters.
    let huge_dd = (0..100_000)
        .map(|i| format!("t.k{i}:v"))
        .fold("dd=s:2".to_string(), |dd, field| dd + ";" + &field);
    let huge_member = format!("big={}", "x".repeat(1 << 20));
    let state = format!("{huge_dd},{huge_member},ok=1");
    let h = headers(&[("traceparent", TP_SAME), ("tracestate", &state)]);
    let c = extract_with(&h, &config(&[PropagationStyle::TraceContext])).unwrap();
    assert_eq!(c.tracestate.as_deref(), Some("ok=1"));
    assert_eq!(c.sampling_priority, Some(2));
    assert!(!c.tags.is_empty() && c.tags.len() < 40, "{}", c.tags.len());
}
