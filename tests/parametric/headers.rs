//! Ported from the suite's `test_headers_datadog.py`, `test_headers_b3.py`,
//! `test_headers_b3multi.py`, `test_headers_tracecontext.py`, `test_headers_tracestate_dd.py`,
//! `test_headers_precedence.py` and `test_headers_baggage.py`.

use serde_json::json;

use crate::client::{id_of, member, meta, metric, tracecontext, Ctx, Outcome, Scenario};
use crate::{check, scenario};

const PRIORITY: &str = "_sampling_priority_v1";

pub fn scenarios() -> Vec<Scenario> {
    let mut all = datadog();
    all.extend(b3());
    all.extend(b3multi());
    all.extend(tracecontext_scenarios());
    all.extend(tracestate_dd());
    all.extend(precedence());
    all.extend(baggage());
    all.extend(none_with_others());
    all
}

// ---------------------------------------------------------------- test_headers_none.py

/// `none` among other styles is ignored: the others work.
fn none_with_others() -> Vec<Scenario> {
    const STYLES: &str = "none,Datadog";
    vec![
        scenario!("test_headers_none.py::Test_Headers_None::test_headers_none_extract_with_other_propagators", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => STYLES, "DD_TRACE_PROPAGATION_STYLE_INJECT" => STYLES], |c| {
            c.make_child_span_and_get_headers(DD_VALID);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") == 123456789);
            check!(id_of(&span, "parent_id") == 987654321);
            check!(meta(&span, "_dd.origin").as_deref() == Some("synthetics"));
            check!(meta(&span, "_dd.p.dm").as_deref() == Some("-4"));
            check!(metric(&span, PRIORITY) == Some(2.0));
            Ok(())
        }),
        scenario!("test_headers_none.py::Test_Headers_None::test_headers_none_inject_with_other_propagators", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => STYLES, "DD_TRACE_PROPAGATION_STYLE_INJECT" => STYLES], |c| {
            let h = c.make_child_span_and_get_headers(&[]);
            c.flush();
            let span = c.only_span()?;
            check!(h.get("x-datadog-trace-id").and_then(|v| v.parse::<u64>().ok()) == Some(id_of(&span, "trace_id")), "{h:?}");
            check!(h.get("x-datadog-parent-id").and_then(|v| v.parse::<u64>().ok()) == Some(id_of(&span, "span_id")), "{h:?}");
            check!(!h.contains_key("traceparent"), "{h:?}");
            Ok(())
        }),
        scenario!("test_headers_none.py::Test_Headers_None::test_headers_none_extract", ["DD_TRACE_PROPAGATION_STYLE" => "none"], |c| {
            let h = c.make_child_span_and_get_headers(DD_VALID);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") != 123456789);
            check!(h.is_empty(), "{h:?}");
            Ok(())
        }),
    ]
}

// ---------------------------------------------------------------- test_headers_datadog.py

const DD_VALID: &[(&str, &str)] = &[
    ("x-datadog-trace-id", "123456789"),
    ("x-datadog-parent-id", "987654321"),
    ("x-datadog-sampling-priority", "2"),
    ("x-datadog-origin", "synthetics"),
    ("x-datadog-tags", "_dd.p.dm=-4"),
];
const DD_INVALID: &[(&str, &str)] = &[
    ("x-datadog-trace-id", "0"),
    ("x-datadog-parent-id", "0"),
    ("x-datadog-sampling-priority", "2"),
    ("x-datadog-origin", "synthetics"),
    ("x-datadog-tags", "_dd.p.dm=-4"),
];

fn datadog() -> Vec<Scenario> {
    vec![
        scenario!("test_headers_datadog.py::Test_Headers_Datadog::test_distributed_headers_extract_datadog_D001", [], |c| {
            c.make_child_span_and_get_headers(&[
                ("x-datadog-trace-id", "123456789"),
                ("x-datadog-parent-id", "987654321"),
                ("x-datadog-sampling-priority", "2"),
                ("x-datadog-origin", "synthetics;=web,z"),
                ("x-datadog-tags", "_dd.p.dm=-4"),
            ]);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") == 123456789);
            check!(id_of(&span, "parent_id") == 987654321);
            let origin = meta(&span, "_dd.origin").unwrap_or_default();
            check!(origin == "synthetics;=web,z" || origin == "synthetics;=web", "{origin}");
            check!(meta(&span, "_dd.p.dm").as_deref() == Some("-4"));
            check!(metric(&span, PRIORITY) == Some(2.0));
            Ok(())
        }),
        scenario!("test_headers_datadog.py::Test_Headers_Datadog::test_distributed_headers_extract_datadog_invalid_D002", [], |c| {
            c.make_child_span_and_get_headers(DD_INVALID);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") != 0);
            check!(id_of(&span, "parent_id") == 0);
            check!(meta(&span, "_dd.p.dm").as_deref() != Some("-4"));
            check!(metric(&span, PRIORITY) != Some(2.0));
            Ok(())
        }),
        scenario!("test_headers_datadog.py::Test_Headers_Datadog::test_distributed_headers_inject_datadog_D003", [], |c| {
            let h = c.make_child_span_and_get_headers(&[]);
            c.flush();
            let span = c.only_span()?;
            check!(h["x-datadog-trace-id"].parse::<u64>().ok() == Some(id_of(&span, "trace_id")));
            check!(h["x-datadog-parent-id"].parse::<u64>().ok() == Some(id_of(&span, "span_id")));
            check!(h["x-datadog-sampling-priority"].parse::<f64>().ok() == metric(&span, PRIORITY));
            Ok(())
        }),
        scenario!("test_headers_datadog.py::Test_Headers_Datadog::test_distributed_headers_propagate_datadog_D004", [], |c| {
            let h = c.make_child_span_and_get_headers(DD_VALID);
            c.flush();
            c.only_span()?;
            check!(h["x-datadog-trace-id"] == "123456789");
            check!(h["x-datadog-parent-id"] != "987654321");
            check!(h["x-datadog-sampling-priority"] == "2");
            check!(h["x-datadog-origin"] == "synthetics");
            check!(h["x-datadog-tags"].contains("_dd.p.dm=-4"), "{h:?}");
            Ok(())
        }),
        scenario!("test_headers_datadog.py::Test_Headers_Datadog::test_distributed_headers_extractandinject_datadog_invalid_D005", [], |c| {
            let h = c.make_child_span_and_get_headers(DD_INVALID);
            check!(h["x-datadog-trace-id"] != "0");
            check!(h["x-datadog-parent-id"] != "0");
            check!(h["x-datadog-sampling-priority"] != "2");
            check!(!h.get("x-datadog-tags").ok_or("no x-datadog-tags")?.contains("_dd.p.dm=-4"), "{h:?}");
            Ok(())
        }),
    ]
}

// ---------------------------------------------------------------- test_headers_b3.py

const B3_VALID: &str = "000000000000000000000000075bcd15-000000003ade68b1-1";

/// The B3 tests' valid input (trace 123456789, span 987654321, sampled) continued, from
/// either B3 style.
fn b3_extract_valid(c: &mut Ctx<'_>, input: &[(&str, &str)]) -> Outcome {
    c.make_child_span_and_get_headers(input);
    c.flush();
    let span = c.only_span()?;
    check!(id_of(&span, "trace_id") == 123456789);
    check!(id_of(&span, "parent_id") == 987654321);
    check!(metric(&span, PRIORITY) == Some(1.0));
    check!(meta(&span, "_dd.origin").is_none());
    Ok(())
}

/// The B3 tests' all-zero input ignored: a new trace, from either B3 style.
fn b3_extract_invalid(c: &mut Ctx<'_>, input: &[(&str, &str)]) -> Outcome {
    c.make_child_span_and_get_headers(input);
    c.flush();
    let span = c.only_span()?;
    check!(id_of(&span, "trace_id") != 0);
    check!(id_of(&span, "parent_id") == 0);
    check!(meta(&span, "_dd.origin").is_none());
    Ok(())
}

/// The injected `b3` header of a fresh (or invalid-input) trace.
fn b3_inject(c: &mut Ctx<'_>, input: &[(&str, &str)]) -> Outcome {
    let h = c.make_child_span_and_get_headers(input);
    c.flush();
    let span = c.only_span()?;
    let parts: Vec<&str> = h.get("b3").ok_or("no b3 header")?.split('-').collect();
    check!(parts.len() >= 3, "{h:?}");
    check!(parts[0].len() == 16 || parts[0].len() == 32);
    let low = &parts[0][parts[0].len() - 16..];
    check!(u64::from_str_radix(low, 16).ok() == Some(id_of(&span, "trace_id")));
    check!(parts[1].len() == 16);
    check!(u64::from_str_radix(parts[1], 16).ok() == Some(id_of(&span, "span_id")));
    check!(parts[2] == "1");
    check!(meta(&span, "_dd.origin").is_none());
    Ok(())
}

fn b3_propagate_valid(c: &mut Ctx<'_>) -> Outcome {
    let h = c.make_child_span_and_get_headers(&[("b3", B3_VALID)]);
    c.flush();
    let span = c.only_span()?;
    let parts: Vec<&str> = h.get("b3").ok_or("no b3 header")?.split('-').collect();
    check!(parts.len() >= 3, "{h:?}");
    check!(u128::from_str_radix(parts[0], 16).ok() == Some(u128::from(id_of(&span, "trace_id"))));
    check!(u64::from_str_radix(parts[1], 16).ok() == Some(id_of(&span, "span_id")));
    check!(parts[2] == "1");
    Ok(())
}

fn b3() -> Vec<Scenario> {
    const SINGLE: &str = "B3 single header";
    vec![
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_extract_valid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => SINGLE, "DD_TRACE_PROPAGATION_STYLE_INJECT" => SINGLE], |c| b3_extract_valid(c, &[("b3", B3_VALID)])),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_extract_invalid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => SINGLE, "DD_TRACE_PROPAGATION_STYLE_INJECT" => SINGLE], |c| b3_extract_invalid(c, &[("b3", "0-0-1")])),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_inject_valid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => SINGLE, "DD_TRACE_PROPAGATION_STYLE_INJECT" => SINGLE], |c| b3_inject(c, &[])),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_propagate_valid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => SINGLE, "DD_TRACE_PROPAGATION_STYLE_INJECT" => SINGLE], b3_propagate_valid),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_propagate_invalid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => SINGLE, "DD_TRACE_PROPAGATION_STYLE_INJECT" => SINGLE], |c| b3_inject(c, &[("b3", "0-0-1")])),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_single_key_propagate_valid", ["DD_TRACE_PROPAGATION_STYLE" => SINGLE], b3_propagate_valid),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_migrated_extract_valid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "b3", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3"], |c| b3_extract_valid(c, &[("b3", B3_VALID)])),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_migrated_extract_invalid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "b3", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3"], |c| b3_extract_invalid(c, &[("b3", "0-0-1")])),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_migrated_inject_valid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "b3", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3"], |c| b3_inject(c, &[])),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_migrated_propagate_valid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "b3", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3"], b3_propagate_valid),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_migrated_propagate_invalid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "b3", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3"], |c| b3_inject(c, &[("b3", "0-0-1")])),
        scenario!("test_headers_b3.py::Test_Headers_B3::test_headers_b3_migrated_single_key_propagate_valid", ["DD_TRACE_PROPAGATION_STYLE" => "b3"], b3_propagate_valid),
    ]
}

// ---------------------------------------------------------------- test_headers_b3multi.py

const B3M_VALID: &[(&str, &str)] = &[
    ("x-b3-traceid", "000000000000000000000000075bcd15"),
    ("x-b3-spanid", "000000003ade68b1"),
    ("x-b3-sampled", "1"),
];
const B3M_INVALID: &[(&str, &str)] = &[
    ("x-b3-traceid", "0"),
    ("x-b3-spanid", "0"),
    ("x-b3-sampled", "1"),
];

fn b3multi_inject(c: &mut Ctx<'_>, input: &[(&str, &str)]) -> Outcome {
    let h = c.make_child_span_and_get_headers(input);
    c.flush();
    let span = c.only_span()?;
    let tid = h.get("x-b3-traceid").ok_or("no x-b3-traceid")?;
    check!(tid.len() == 16 || tid.len() == 32);
    check!(u64::from_str_radix(&tid[tid.len() - 16..], 16).ok() == Some(id_of(&span, "trace_id")));
    check!(h["x-b3-spanid"].len() == 16);
    check!(u64::from_str_radix(&h["x-b3-spanid"], 16).ok() == Some(id_of(&span, "span_id")));
    check!(h["x-b3-sampled"] == "1");
    check!(meta(&span, "_dd.origin").is_none());
    Ok(())
}

fn b3multi_propagate_valid(c: &mut Ctx<'_>) -> Outcome {
    let h = c.make_child_span_and_get_headers(B3M_VALID);
    c.flush();
    let span = c.only_span()?;
    let tid = h.get("x-b3-traceid").ok_or("no x-b3-traceid")?;
    check!(u128::from_str_radix(tid, 16).ok() == Some(u128::from(id_of(&span, "trace_id"))));
    check!(u64::from_str_radix(&h["x-b3-spanid"], 16).ok() == Some(id_of(&span, "span_id")));
    check!(h["x-b3-sampled"] == "1");
    Ok(())
}

fn b3multi() -> Vec<Scenario> {
    vec![
        scenario!("test_headers_b3multi.py::Test_Headers_B3multi::test_headers_b3multi_extract_valid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "b3multi", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3multi"], |c| b3_extract_valid(c, B3M_VALID)),
        scenario!("test_headers_b3multi.py::Test_Headers_B3multi::test_headers_b3multi_extract_invalid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "b3multi", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3multi"], |c| b3_extract_invalid(c, B3M_INVALID)),
        scenario!("test_headers_b3multi.py::Test_Headers_B3multi::test_headers_b3multi_inject_valid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "b3multi", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3multi"], |c| b3multi_inject(c, &[])),
        scenario!("test_headers_b3multi.py::Test_Headers_B3multi::test_headers_b3multi_propagate_valid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "b3multi", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3multi"], b3multi_propagate_valid),
        scenario!("test_headers_b3multi.py::Test_Headers_B3multi::test_headers_b3multi_propagate_invalid", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "b3multi", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3multi"], |c| b3multi_inject(c, B3M_INVALID)),
        scenario!("test_headers_b3multi.py::Test_Headers_B3multi::test_headers_b3multi_single_key_propagate_valid", ["DD_TRACE_PROPAGATION_STYLE" => "b3multi"], b3multi_propagate_valid),
        scenario!("test_headers_b3multi.py::Test_Headers_B3multi::test_headers_b3multi_case_insensitive_propagate_valid[B3MULTI]", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "B3MULTI", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "b3multi"], b3multi_propagate_valid),
        scenario!("test_headers_b3multi.py::Test_Headers_B3multi::test_headers_b3multi_case_insensitive_propagate_valid[B3multi]", ["DD_TRACE_PROPAGATION_STYLE" => "B3multi"], b3multi_propagate_valid),
    ]
}

// ---------------------------------------------------------------- test_headers_tracecontext.py

const TP: &str = "00-12345678901234567890123456789012-1234567890123456-01";
const TP0: &str = "00-12345678901234567890123456789012-1234567890123456-00";
const TID: &str = "12345678901234567890123456789012";

/// Each traceparent value makes (or does not make) a trace continued from TID.
fn traceparents(c: &mut Ctx<'_>, values: &[&str], continued: bool) -> Outcome {
    for value in values {
        let h = c.make_child_span_and_get_headers(&[("traceparent", value)]);
        let (tp, _) = tracecontext(&h)?;
        check!((tp.trace_id == TID) == continued, "{value:?} -> {tp:?}");
    }
    c.flush();
    Ok(())
}

/// Headers (with TP0) → the injected tracestate members.
fn tracestate_of(c: &mut Ctx<'_>, h: &[(&str, &str)]) -> Result<Vec<(String, String)>, String> {
    let injected = c.make_child_span_and_get_headers(h);
    let (tp, ts) = tracecontext(&injected)?;
    check!(tp.trace_id == TID, "{tp:?}");
    Ok(ts)
}

/// A span name, its incoming headers, the parent id and `_dd.parent_id` expected.
type W3cCase = (
    &'static str,
    [(&'static str, &'static str); 5],
    u64,
    Option<&'static str>,
);

fn tracecontext_scenarios() -> Vec<Scenario> {
    const T: [(&str, &str); 2] = [
        ("DD_TRACE_PROPAGATION_STYLE_EXTRACT", "tracecontext"),
        ("DD_TRACE_PROPAGATION_STYLE_INJECT", "tracecontext"),
    ];
    let t = |id: &'static str, run: fn(&mut Ctx<'_>) -> Outcome| Scenario { id, env: &T, run };
    vec![
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_both_traceparent_and_tracestate_missing", |c| {
            let h = c.make_child_span_and_get_headers(&[]);
            tracecontext(&h)?;
            Ok(())
        }),
        scenario!("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_single_key_traceparent_included_tracestate_missing", ["DD_TRACE_PROPAGATION_STYLE" => "tracecontext"], |c| {
            let (tp, _) = tracecontext(&c.make_child_span_and_get_headers(&[("traceparent", TP)]))?;
            check!(tp.trace_id == TID && tp.parent_id != "1234567890123456", "{tp:?}");
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_included_tracestate_missing", |c| {
            let (tp, _) = tracecontext(&c.make_child_span_and_get_headers(&[("traceparent", TP)]))?;
            check!(tp.trace_id == TID && tp.parent_id != "1234567890123456", "{tp:?}");
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_duplicated", |c| {
            let (tp, _) = tracecontext(&c.make_child_span_and_get_headers(&[
                ("traceparent", "00-12345678901234567890123456789011-1234567890123456-01"),
                ("traceparent", TP),
            ]))?;
            check!(tp.trace_id != "12345678901234567890123456789011" && tp.trace_id != TID, "{tp:?}");
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_header_name", |c| {
            for name in ["trace-parent", "trace.parent"] {
                let (tp, _) = tracecontext(&c.make_child_span_and_get_headers(&[(name, TP)]))?;
                check!(tp.trace_id != TID, "{name}");
            }
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_header_name_valid_casing", |c| {
            for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
                let (tp, _) = tracecontext(&c.make_child_span_and_get_headers(&[(name, TP)]))?;
                check!(tp.trace_id == TID, "{name}");
            }
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_version_0x00", |c| traceparents(c, &[
            "00-12345678901234567890123456789012-1234567890123456-01.",
            "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        ], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_version_0xcc", |c| {
            traceparents(c, &[
                "cc-12345678901234567890123456789012-1234567890123456-01",
                "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
            ], true)?;
            traceparents(c, &["cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like"], false)
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_version_0xff", |c| traceparents(c, &["ff-12345678901234567890123456789012-1234567890123456-01"], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_version_illegal_characters", |c| traceparents(c, &[
            ".0-12345678901234567890123456789012-1234567890123456-01",
            "0.-12345678901234567890123456789012-1234567890123456-01",
        ], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_version_too_long", |c| traceparents(c, &[
            "000-12345678901234567890123456789012-1234567890123456-01",
            "0000-12345678901234567890123456789012-1234567890123456-01",
        ], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_version_too_short", |c| traceparents(c, &["0-12345678901234567890123456789012-1234567890123456-01"], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_trace_id_all_zero", |c| {
            let (tp, _) = tracecontext(&c.make_child_span_and_get_headers(&[("traceparent", "00-00000000000000000000000000000000-1234567890123456-01")]))?;
            check!(tp.trace_id != "00000000000000000000000000000000");
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_trace_id_illegal_characters", |c| {
            for (value, bad) in [
                ("00-.2345678901234567890123456789012-1234567890123456-01", ".2345678901234567890123456789012"),
                ("00-1234567890123456789012345678901.-1234567890123456-01", "1234567890123456789012345678901."),
            ] {
                let (tp, _) = tracecontext(&c.make_child_span_and_get_headers(&[("traceparent", value)]))?;
                check!(tp.trace_id != bad);
            }
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_trace_id_too_long", |c| {
            let (tp, _) = tracecontext(&c.make_child_span_and_get_headers(&[("traceparent", "00-123456789012345678901234567890123-1234567890123456-01")]))?;
            check!(tp.trace_id != TID && tp.trace_id != "23456789012345678901234567890123", "{tp:?}");
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_trace_id_too_short", |c| {
            let (tp, _) = tracecontext(&c.make_child_span_and_get_headers(&[("traceparent", "00-1234567890123456789012345678901-1234567890123456-01")]))?;
            check!(tp.trace_id != "1234567890123456789012345678901");
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_parent_id_all_zero", |c| traceparents(c, &["00-12345678901234567890123456789012-0000000000000000-01"], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_parent_id_illegal_characters", |c| traceparents(c, &[
            "00-12345678901234567890123456789012-.234567890123456-01",
            "00-12345678901234567890123456789012-123456789012345.-01",
        ], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_parent_id_too_long", |c| traceparents(c, &["00-12345678901234567890123456789012-12345678901234567-01"], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_parent_id_too_short", |c| traceparents(c, &["00-12345678901234567890123456789012-123456789012345-01"], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_trace_flags_illegal_characters", |c| traceparents(c, &[
            "00-12345678901234567890123456789012-1234567890123456-.0",
            "00-12345678901234567890123456789012-1234567890123456-0.",
        ], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_trace_flags_too_long", |c| traceparents(c, &["00-12345678901234567890123456789012-1234567890123456-001"], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_trace_flags_too_short", |c| traceparents(c, &["00-12345678901234567890123456789012-1234567890123456-1"], false)),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_traceparent_ows_handling", |c| {
            let values = [format!(" {TP}"), format!("\t{TP}"), format!("{TP} "), format!("{TP}\t"), format!("\t {TP} \t")];
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            traceparents(c, &values, true)
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_included_traceparent_missing", |c| {
            let count = |c: &mut Ctx<'_>, ts: &str| -> Result<usize, String> {
                let h = c.make_child_span_and_get_headers(&[("tracestate", ts)]);
                Ok(tracecontext(&h)?.1.len())
            };
            let (one, two) = (count(c, "foo=1")?, count(c, "foo=1,bar=2")?);
            check!(one == two, "{one} vs {two}");
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_included_traceparent_included", |c| {
            let ts = tracestate_of(c, &[("traceparent", TP0), ("tracestate", "foo=1,bar=2")])?;
            check!(member(&ts, "foo") == Some("1") && member(&ts, "bar") == Some("2"), "{ts:?}");
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_header_name", |c| {
            for name in ["trace-state", "trace.state"] {
                let ts = tracestate_of(c, &[("traceparent", TP0), (name, "foo=1")])?;
                check!(member(&ts, "foo").is_none(), "{name}: {ts:?}");
            }
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_header_name_valid_casing", |c| {
            for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
                let ts = tracestate_of(c, &[("traceparent", TP0), (name, "foo=1")])?;
                check!(member(&ts, "foo") == Some("1"), "{name}: {ts:?}");
            }
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_empty_header", |c| {
            tracestate_of(c, &[("traceparent", TP0), ("tracestate", "")])?;
            for pairs in [
                [("traceparent", TP0), ("tracestate", "foo=1"), ("tracestate", "")],
                [("traceparent", TP0), ("tracestate", ""), ("tracestate", "foo=1")],
            ] {
                let ts = tracestate_of(c, &pairs)?;
                check!(member(&ts, "foo") == Some("1"), "{pairs:?}: {ts:?}");
            }
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_multiple_headers_different_keys", |c| {
            let ts = tracestate_of(c, &[("traceparent", TP0), ("tracestate", "foo=1,bar=2"), ("tracestate", "rojo=1,congo=2"), ("tracestate", "baz=3")])?;
            let keys: Vec<&str> = ts.iter().map(|(k, _)| k.as_str()).filter(|k| *k != "dd").collect();
            check!(keys == ["foo", "bar", "rojo", "congo", "baz"], "{ts:?}");
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_duplicated_keys", |c| {
            for (pairs, allowed) in [
                (vec![("traceparent", TP0), ("tracestate", "foo=1,foo=1")], &["1"][..]),
                (vec![("traceparent", TP0), ("tracestate", "foo=1,foo=2")], &["1", "2"][..]),
                (vec![("traceparent", TP0), ("tracestate", "foo=1"), ("tracestate", "foo=1")], &["1"][..]),
                (vec![("traceparent", TP0), ("tracestate", "foo=1"), ("tracestate", "foo=2")], &["1", "2"][..]),
            ] {
                let ts = tracestate_of(c, &pairs)?;
                check!(member(&ts, "foo").is_some_and(|v| allowed.contains(&v)), "{pairs:?}: {ts:?}");
            }
            Ok(())
        }),
        scenario!("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_w3c_p_extract", [], |c| {
            let s1 = c.extract_and_make_child_span("p_set", &[("traceparent", TP), ("tracestate", "key1=value1,dd=s:2;o:rum;p:0123456789abcdef;t.dm:-4;t.usr.id:12345~")]);
            c.finish(s1);
            let s2 = c.extract_and_make_child_span("p_invalid", &[("traceparent", "00-12345678901234567890123456789013-1234567890123457-01"), ("tracestate", "key1=value1,dd=s:2;t.dm:-4;p:XX!X")]);
            c.finish(s2);
            c.flush();
            let traces = c.wait_for_num_traces(2)?;
            let a = crate::client::find_span(&traces, s1.trace_id, s1.span_id)?;
            let b = crate::client::find_span(&traces, s2.trace_id, s2.span_id)?;
            check!(meta(&a, "_dd.parent_id").as_deref() == Some("0123456789abcdef"), "{a}");
            check!(meta(&b, "_dd.parent_id").as_deref() == Some("XX!X"), "{b}");
            Ok(())
        }),
        scenario!("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_w3c_p_inject", [], |c| {
            let span = c.root("new_span");
            let injected = c.inject(span);
            c.finish(span);
            let ts: Vec<&String> = injected.iter().filter(|(k, _)| k.eq_ignore_ascii_case("tracestate")).map(|(_, v)| v).collect();
            check!(ts.len() == 1, "{injected:?}");
            check!(ts[0].contains(&format!("p:{:016x}", span.span_id)), "{ts:?}");
            Ok(())
        }),
        scenario!("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_w3c_p_extract_datadog_w3c", ["DD_TRACE_PROPAGATION_STYLE" => "datadog,tracecontext"], |c| {
            let cases: [W3cCase; 3] = [
                ("identical_trace_info", [("traceparent", "00-11111111111111110000000000000001-000000003ade68b1-01"), ("tracestate", "dd=s:2;p:000000003ade68b1,foo=1"), ("x-datadog-trace-id", "1"), ("x-datadog-tags", "_dd.p.tid=1111111111111111"), ("x-datadog-parent-id", "987654321")], 987654321, None),
                ("trace_ids_do_not_match", [("traceparent", "00-11111111111111110000000000000002-000000003ade68b1-01"), ("tracestate", "dd=s:2;p:000000000000000a,foo=1"), ("x-datadog-parent-id", "10"), ("x-datadog-trace-id", "2"), ("x-datadog-tags", "_dd.p.tid=2222222222222222")], 10, None),
                ("same_trace_non_matching_parent_ids", [("traceparent", "00-11111111111111110000000000000003-000000003ade68b1-01"), ("tracestate", "dd=s:2;p:000000000000000a,foo=1"), ("x-datadog-trace-id", "3"), ("x-datadog-tags", "_dd.p.tid=1111111111111111"), ("x-datadog-parent-id", "10")], 987654321, Some("000000000000000a")),
            ];
            let mut spans = Vec::new();
            for (name, h, _, _) in &cases {
                let s = c.extract_and_make_child_span(name, h);
                c.finish(s);
                spans.push(s);
            }
            let more = [
                ("non_matching_span_missing_p_value", vec![("traceparent", "00-00000000000000000000000000000004-000000003ade68b1-01"), ("tracestate", "dd=s:2,foo=1"), ("x-datadog-trace-id", "4"), ("x-datadog-parent-id", "10")], "000000000000000a"),
                ("non_matching_span_non_matching_p_value", vec![("traceparent", "00-00000000000000000000000000000005-000000003ade68b1-01"), ("tracestate", "dd=s:2;p:8fffffffffffffff,foo=1"), ("x-datadog-parent-id", "10"), ("x-datadog-trace-id", "5")], "8fffffffffffffff"),
            ];
            let mut more_spans = Vec::new();
            for (name, h, _) in &more {
                let s = c.extract_and_make_child_span(name, h);
                c.finish(s);
                more_spans.push(s);
            }
            c.flush();
            let traces = c.wait_for_num_traces(5)?;
            for ((name, _, parent, dd_parent), s) in cases.iter().zip(&spans) {
                let span = crate::client::find_span(&traces, s.trace_id, s.span_id)?;
                check!(id_of(&span, "parent_id") == *parent, "{name}: {span}");
                check!(meta(&span, "_dd.parent_id").as_deref() == *dd_parent, "{name}: {span}");
            }
            for ((name, _, dd_parent), s) in more.iter().zip(&more_spans) {
                let span = crate::client::find_span(&traces, s.trace_id, s.span_id)?;
                check!(id_of(&span, "parent_id") == 987654321, "{name}: {span}");
                check!(meta(&span, "_dd.parent_id").as_deref() == Some(*dd_parent), "{name}: {span}");
            }
            Ok(())
        }),
        scenario!("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_w3c_p_phase_3_extract_first", ["DD_TRACE_PROPAGATION_EXTRACT_FIRST" => "true", "DD_TRACE_PROPAGATION_STYLE" => "datadog,tracecontext"], |c| {
            let s = c.extract_and_make_child_span("same_trace_different_parent_ids", &[("traceparent", "00-11111111111111110000000000000001-000000000000000f-01"), ("tracestate", "dd=s:2;p:0123456789abcdef,foo=1"), ("x-datadog-trace-id", "1"), ("x-datadog-parent-id", "987654320"), ("x-datadog-tags", "_dd.p.tid=1111111111111111")]);
            c.finish(s);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "parent_id") == 987654320);
            check!(meta(&span, "_dd.parent_id").is_none(), "{span}");
            Ok(())
        }),
        scenario!("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_w3c_context_leak", ["DD_TRACE_PROPAGATION_STYLE" => "datadog,tracecontext"], |c| {
            let s1 = c.extract_and_make_child_span("high_order_64_bits_set", &[("traceparent", "00-33333333333333330000000000000003-000000003ade68b1-01"), ("tracestate", "dd=s:2;p:000000000000000a,foo=1"), ("x-datadog-trace-id", "3"), ("x-datadog-tags", "_dd.p.tid=3333333333333333"), ("x-datadog-parent-id", "10")]);
            c.finish(s1);
            let s2 = c.extract_and_make_child_span("high_order_64_bits_unset", &[("traceparent", "00-00000000000000000000000000000004-000000003ade68b1-01"), ("tracestate", "dd=s:2,foo=1"), ("x-datadog-trace-id", "4"), ("x-datadog-parent-id", "10")]);
            c.finish(s2);
            c.flush();
            let traces = c.wait_for_num_traces(2)?;
            let a = crate::client::find_span(&traces, s1.trace_id, s1.span_id)?;
            let b = crate::client::find_span(&traces, s2.trace_id, s2.span_id)?;
            check!(meta(&a, "_dd.p.tid").as_deref() == Some("3333333333333333"), "{a}");
            check!(meta(&b, "_dd.p.tid").is_none(), "{b}");
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_all_allowed_characters", |c| {
            let value: String = (0x20u8..=0x7e).filter(|b| *b != b',' && *b != b'=').map(char::from).collect();
            for key in ["abcdefghijklmnopqrstuvwxyz0123456789_-*/", "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/"] {
                let member_text = format!("{key}={value}");
                let ts = tracestate_of(c, &[("traceparent", TP0), ("tracestate", &member_text)])?;
                check!(member(&ts, key) == Some(value.as_str()), "{key}: {ts:?}");
            }
            Ok(())
        }),
        t("test_headers_tracecontext.py::Test_Headers_Tracecontext::test_tracestate_ows_handling", |c| {
            for value in ["foo=1 \t , \t bar=2, \t baz=3", "foo=1\t \t,\t \tbar=2,\t \tbaz=3"] {
                let ts = tracestate_of(c, &[("traceparent", TP0), ("tracestate", value)])?;
                check!(member(&ts, "foo") == Some("1") && member(&ts, "bar") == Some("2") && member(&ts, "baz") == Some("3"), "{value:?}: {ts:?}");
            }
            for value in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
                let ts = tracestate_of(c, &[("traceparent", TP0), ("tracestate", value)])?;
                check!(member(&ts, "foo") == Some("1"), "{value:?}: {ts:?}");
            }
            Ok(())
        }),
    ]
}

// ---------------------------------------------------------------- test_headers_tracestate_dd.py

const TC_DD: [(&str, &str); 2] = [
    ("DD_TRACE_PROPAGATION_STYLE_EXTRACT", "tracecontext,Datadog"),
    ("DD_TRACE_PROPAGATION_STYLE_INJECT", "tracecontext,Datadog"),
];
const TP1: &str = "00-12345678901234567890123456789012-1234567890123456-01";

/// Injected headers by lowercase name.
type Headers = std::collections::HashMap<String, String>;

/// The injected headers, their `dd` tracestate items and the traceparent's sampled flag.
fn dd_state(c: &mut Ctx<'_>, h: &[(&str, &str)]) -> Result<(Headers, Vec<String>, String), String> {
    let injected = c.make_child_span_and_get_headers(h);
    let (tp, ts) = tracecontext(&injected)?;
    let dd: Vec<String> = member(&ts, "dd")
        .map(|v| v.split(';').map(str::to_string).collect())
        .unwrap_or_default();
    Ok((injected, dd, tp.flags))
}

/// A sampled traceparent with `sampled_state`, then an unsampled one with `unsampled_state`:
/// the W3C flag wins over the tracestate's `s`, the decision maker becomes `-0` (or goes with
/// the unsampled decision), and the other propagated tags stay.
fn new_decision_resets_dm(c: &mut Ctx<'_>, sampled_state: &str, unsampled_state: &str) -> Outcome {
    let (h, dd, _) = dd_state(c, &[("traceparent", TP1), ("tracestate", sampled_state)])?;
    check!(h["x-datadog-sampling-priority"] == "1");
    let tags: Vec<&str> = h["x-datadog-tags"].split(',').collect();
    check!(
        tags.contains(&"_dd.p.dm=-0") && tags.contains(&"_dd.p.usr.id=baz64=="),
        "{tags:?}"
    );
    check!(
        dd.iter().any(|i| i == "t.dm:-0") && dd.iter().any(|i| i == "t.usr.id:baz64~~"),
        "{dd:?}"
    );
    let (h, dd, _) = dd_state(c, &[("traceparent", TP0), ("tracestate", unsampled_state)])?;
    check!(h["x-datadog-sampling-priority"] == "0");
    let tags: Vec<&str> = h["x-datadog-tags"].split(',').collect();
    check!(
        tags.contains(&"_dd.p.usr.id=baz64==") && tags.contains(&"_dd.p.url=http://localhost"),
        "{tags:?}"
    );
    check!(dd.iter().all(|i| !i.starts_with("t.dm:")), "{dd:?}");
    check!(
        dd.iter().any(|i| i == "t.usr.id:baz64~~")
            && dd.iter().any(|i| i == "t.url:http://localhost"),
        "{dd:?}"
    );
    Ok(())
}

fn tracestate_dd() -> Vec<Scenario> {
    let t = |id: &'static str, run: fn(&mut Ctx<'_>) -> Outcome| Scenario {
        id,
        env: &TC_DD,
        run,
    };
    vec![
        t("test_headers_tracestate_dd.py::Test_Headers_Tracestate_DD::test_headers_tracestate_dd_propagate_samplingpriority", |c| {
            let ddh = |p: &'static str| vec![("x-datadog-trace-id", "7890123456789012"), ("x-datadog-parent-id", "1234567890123456"), ("x-datadog-sampling-priority", p)];
            for (input, priority, sampled, s_item) in [
                (ddh("2"), "2", "01", Some("s:2")),
                (ddh("-1"), "-1", "00", Some("s:-1")),
                (vec![("traceparent", TP1)], "1", "01", None),
                (vec![("traceparent", TP1), ("tracestate", "foo=1,dd=s:-1")], "1", "01", None),
                (vec![("traceparent", TP1), ("tracestate", "foo=1,dd=s:2")], "2", "01", Some("s:2")),
                (vec![("traceparent", TP0)], "0", "00", None),
                (vec![("traceparent", TP0), ("tracestate", "foo=1,dd=s:-1")], "-1", "00", Some("s:-1")),
                (vec![("traceparent", TP0), ("tracestate", "foo=1,dd=s:1")], "0", "00", None),
            ] {
                let (h, dd, flags) = dd_state(c, &input)?;
                check!(h["x-datadog-sampling-priority"] == priority, "{input:?}: {h:?}");
                check!(flags == sampled, "{input:?}: {flags}");
                match s_item {
                    Some(item) => check!(dd.iter().any(|i| i == item), "{input:?}: {dd:?}"),
                    None => {
                        let wanted = format!("s:{priority}");
                        check!(dd.iter().all(|i| !i.starts_with("s:") || *i == wanted), "{input:?}: {dd:?}");
                    }
                }
            }
            Ok(())
        }),
        t("test_headers_tracestate_dd.py::Test_Headers_Tracestate_DD::test_headers_tracestate_dd_propagate_origin", |c| {
            let ddh = |o: &'static str| vec![("x-datadog-trace-id", "7890123456789012"), ("x-datadog-parent-id", "1234567890123456"), ("x-datadog-origin", o)];
            for (input, origin, items) in [
                (ddh("synthetics-browser"), Some("synthetics-browser"), vec!["o:synthetics-browser"]),
                (ddh("tracing2.0"), Some("tracing2.0"), vec!["o:tracing2.0"]),
                (vec![("traceparent", TP1), ("tracestate", "foo=1,dd=s:-1;o:synthetics-browser")], Some("synthetics-browser"), vec!["o:synthetics-browser"]),
                (vec![("traceparent", TP1), ("tracestate", "foo=1,dd=s:-1;o:tracing2.0")], Some("tracing2.0"), vec!["o:tracing2.0"]),
                (vec![("traceparent", TP1), ("tracestate", "foo=1,dd=s:-1")], None, vec![]),
            ] {
                let (h, dd, _) = dd_state(c, &input)?;
                check!(h.get("x-datadog-origin").map(String::as_str) == origin, "{input:?}: {h:?}");
                if items.is_empty() {
                    check!(dd.iter().all(|i| !i.starts_with("o:")), "{dd:?}");
                }
                for item in items {
                    check!(dd.iter().any(|i| i == item), "{input:?}: {dd:?}");
                }
            }
            let (h, dd, _) = dd_state(c, &ddh("synthetics~;=web,z"))?;
            check!(["synthetics~;=web,z", "synthetics~;=web"].contains(&h["x-datadog-origin"].as_str()), "{h:?}");
            check!(dd.iter().any(|i| i == "o:synthetics__~web_z" || i == "o:synthetics__~web"), "{dd:?}");
            Ok(())
        }),
        t("test_headers_tracestate_dd.py::Test_Headers_Tracestate_DD::test_headers_tracestate_dd_propagate_propagatedtags", |c| {
            let ddh = |tags: &'static str| vec![("x-datadog-trace-id", "7890123456789012"), ("x-datadog-parent-id", "1234567890123456"), ("x-datadog-sampling-priority", "1"), ("x-datadog-tags", tags)];
            let (h, dd, _) = dd_state(c, &ddh("_dd.p.usr.id=MTIz"))?;
            check!(h["x-datadog-tags"].contains("_dd.p.usr.id=MTIz"), "{h:?}");
            check!(dd.iter().any(|i| i == "t.usr.id:MTIz"), "{dd:?}");
            for (tags, items) in [
                ("_dd.p.dm=-4,_dd.p.usr.id=baz64==", vec!["t.dm:-4", "t.usr.id:baz64~~"]),
                ("_dd.p.dm=-4,_dd.p.usr.id=baz64==,_dd.p.url=http://localhost", vec!["t.dm:-4", "t.usr.id:baz64~~", "t.url:http://localhost"]),
            ] {
                let (h, dd, _) = dd_state(c, &ddh(tags))?;
                check!(h["x-datadog-tags"] == tags, "{h:?}");
                for item in items {
                    check!(dd.iter().any(|i| i == item), "{tags}: {dd:?}");
                }
            }
            Ok(())
        }),
        t("test_headers_tracestate_dd.py::Test_Headers_Tracestate_DD::test_headers_tracestate_dd_propagate_propagatedtags_change_sampling_same_dm", |c| {
            new_decision_resets_dm(c, "foo=1,dd=s:0;t.dm:-0;t.usr.id:baz64~~", "foo=1,dd=s:1;t.dm:-0;t.usr.id:baz64~~;t.url:http://localhost")
        }),
        t("test_headers_tracestate_dd.py::Test_Headers_Tracestate_DD::test_headers_tracestate_dd_propagate_propagatedtags_change_sampling_reset_dm", |c| {
            new_decision_resets_dm(c, "foo=1,dd=s:-1;t.dm:-4;t.usr.id:baz64~~", "foo=1,dd=s:2;t.dm:-4;t.usr.id:baz64~~;t.url:http://localhost")
        }),
        t("test_headers_tracestate_dd.py::Test_Headers_Tracestate_DD::test_headers_tracestate_dd_keeps_32_or_fewer_list_members", |c| {
            let others: Vec<String> = (1..=31).map(|i| format!("key{i}=value{i}")).collect();
            let others = others.join(",");
            for state in [format!("{others},dd=s:-1"), format!("dd=s:-1,{others}"), others.clone()] {
                let injected = c.make_child_span_and_get_headers(&[("traceparent", TP1), ("tracestate", &state)]);
                let (_, ts) = tracecontext(&injected)?;
                check!(ts.len() == 32 && ts[0].0 == "dd" && member(&ts, "key31") == Some("value31"), "{ts:?}");
            }
            let (_, ts) = tracecontext(&c.make_child_span_and_get_headers(&[("traceparent", TP1)]))?;
            check!(ts.len() == 1 && ts[0].0 == "dd", "{ts:?}");
            Ok(())
        }),
        t("test_headers_tracestate_dd.py::Test_Headers_Tracestate_DD::test_headers_tracestate_dd_evicts_32_or_greater_list_members", |c| {
            let others: Vec<String> = (1..=32).map(|i| format!("key{i}=value{i}")).collect();
            let state = others.join(",");
            let (_, ts) = tracecontext(&c.make_child_span_and_get_headers(&[("traceparent", TP1), ("tracestate", &state)]))?;
            check!(ts.len() == 32 && ts[0].0 == "dd" && member(&ts, "key32").is_none(), "{ts:?}");
            Ok(())
        }),
    ]
}

// ---------------------------------------------------------------- test_headers_precedence.py

/// The six inputs of the precedence tests.
fn six() -> [Vec<(&'static str, &'static str)>; 6] {
    let dd = [
        ("x-datadog-trace-id", "123456789"),
        ("x-datadog-parent-id", "987654321"),
        ("x-datadog-sampling-priority", "-2"),
    ];
    let mut four = vec![("traceparent", TP1), ("tracestate", "foo=1")];
    four.extend(dd);
    let mut six = vec![
        (
            "traceparent",
            "00-12345678901234567890123456789012-0000000000000000-01",
        ),
        ("tracestate", "foo=1"),
    ];
    six.extend(dd);
    [
        vec![],
        vec![("traceparent", TP1)],
        vec![("traceparent", TP1), ("tracestate", "foo=1")],
        four,
        dd.to_vec(),
        six,
    ]
}

/// The injected Datadog headers continue the incoming Datadog context.
fn dd_ctx(h: &std::collections::HashMap<String, String>) -> Outcome {
    check!(
        h.get("x-datadog-trace-id").map(String::as_str) == Some("123456789"),
        "{h:?}"
    );
    check!(h["x-datadog-parent-id"] != "987654321");
    check!(h["x-datadog-sampling-priority"] == "-2", "{h:?}");
    Ok(())
}

/// The injected traceparent continues the incoming W3C context, with `n` tracestate members.
fn tc_ctx(h: &std::collections::HashMap<String, String>, n: usize) -> Outcome {
    let (tp, ts) = tracecontext(h)?;
    check!(
        tp.trace_id == TID && tp.parent_id != "1234567890123456",
        "{tp:?}"
    );
    check!(ts.len() == n && ts[0].0 == "dd", "{ts:?}");
    if n == 2 {
        check!(ts[1] == ("foo".to_string(), "1".to_string()), "{ts:?}");
    }
    Ok(())
}

/// Both styles name the same trace and span.
fn mirrored(h: &std::collections::HashMap<String, String>) -> Outcome {
    let (tp, _) = tracecontext(h)?;
    let dd_trace: u64 = h
        .get("x-datadog-trace-id")
        .ok_or("no x-datadog-trace-id")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    check!(
        u64::from_str_radix(&tp.trace_id[16..], 16).ok() == Some(dd_trace),
        "{h:?}"
    );
    check!(
        u64::from_str_radix(&tp.parent_id, 16).ok() == h["x-datadog-parent-id"].parse().ok(),
        "{h:?}"
    );
    Ok(())
}

/// The first three of the six inputs, with both styles on: a new trace in both, then the W3C
/// context continued (and mirrored in the Datadog headers) with its tracestate.
fn w3c_continued(out: &[Headers]) -> Outcome {
    mirrored(&out[0])?;
    tc_ctx(&out[1], 1)?;
    mirrored(&out[1])?;
    tc_ctx(&out[2], 2)?;
    mirrored(&out[2])
}

fn datadog_then_tracecontext(c: &mut Ctx<'_>) -> Outcome {
    let out: Vec<_> = six()
        .iter()
        .map(|input| c.make_child_span_and_get_headers(input))
        .collect();
    w3c_continued(&out)?;
    for h in &out[3..] {
        dd_ctx(h)?;
        mirrored(h)?;
        let (_, ts) = tracecontext(h)?;
        check!(ts.len() == 1 && ts[0].0 == "dd", "{ts:?}");
    }
    Ok(())
}

fn precedence() -> Vec<Scenario> {
    vec![
        scenario!("test_headers_precedence.py::Test_Headers_Precedence::test_headers_precedence_propagationstyle_datadog", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "Datadog", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "Datadog"], |c| {
            for (i, input) in six().iter().enumerate() {
                let h = c.make_child_span_and_get_headers(input);
                check!(!h.contains_key("traceparent") && !h.contains_key("tracestate"), "{h:?}");
                check!(h.contains_key("x-datadog-trace-id") && h.contains_key("x-datadog-sampling-priority"), "{h:?}");
                if i >= 3 {
                    dd_ctx(&h)?;
                }
            }
            Ok(())
        }),
        scenario!("test_headers_precedence.py::Test_Headers_Precedence::test_headers_precedence_propagationstyle_tracecontext_datadog", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "tracecontext,Datadog", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "tracecontext,Datadog"], |c| {
            let out: Vec<_> = six().iter().map(|input| c.make_child_span_and_get_headers(input)).collect();
            w3c_continued(&out)?;
            tc_ctx(&out[3], 2)?;
            mirrored(&out[3])?;
            for h in &out[4..] {
                dd_ctx(h)?;
                mirrored(h)?;
            }
            Ok(())
        }),
        scenario!("test_headers_precedence.py::Test_Headers_Precedence::test_headers_precedence_propagationstyle_tracecontext", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "tracecontext", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "tracecontext"], |c| {
            let out: Vec<_> = six().iter().map(|input| c.make_child_span_and_get_headers(input)).collect();
            for h in &out {
                check!(!h.contains_key("x-datadog-trace-id") && !h.contains_key("x-datadog-sampling-priority"), "{h:?}");
                let (_, ts) = tracecontext(h)?;
                check!(ts.iter().any(|(k, _)| k == "dd"), "{ts:?}");
            }
            tc_ctx(&out[2], 2)?;
            tc_ctx(&out[3], 2)?;
            let (tp, _) = tracecontext(&out[1])?;
            check!(tp.trace_id == TID);
            Ok(())
        }),
        scenario!("test_headers_precedence.py::Test_Headers_Precedence::test_headers_precedence_propagationstyle_default_datadog_tracecontext", [], datadog_then_tracecontext),
        scenario!("test_headers_precedence.py::Test_Headers_Precedence::test_headers_precedence_propagationstyle_datadog_tracecontext", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "Datadog,tracecontext", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "Datadog,tracecontext"], datadog_then_tracecontext),
        scenario!("test_headers_precedence.py::Test_Headers_Precedence::test_headers_precedence_propagationstyle_tracecontext_last_extract_first_false_correctly_propagates_tracestate", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "Datadog,b3multi,tracecontext", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "Datadog,b3multi,tracecontext"], |c| tracestate_precedence(c, false, false)),
        scenario!("test_headers_precedence.py::Test_Headers_Precedence::test_headers_precedence_propagationstyle_tracecontext_last_extract_first_false_correctly_propagates_tracestate[explicit]", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "Datadog,b3multi,tracecontext", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "Datadog,b3multi,tracecontext", "DD_TRACE_PROPAGATION_EXTRACT_FIRST" => "false"], |c| tracestate_precedence(c, false, false)),
        scenario!("test_headers_precedence.py::Test_Headers_Precedence::test_headers_precedence_propagationstyle_tracecontext_last_extract_first_true_correctly_propagates_tracestate", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "Datadog,b3multi,tracecontext", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "Datadog,b3multi,tracecontext", "DD_TRACE_PROPAGATION_EXTRACT_FIRST" => "true"], |c| tracestate_precedence(c, false, true)),
        scenario!("test_headers_precedence.py::Test_Headers_Precedence::test_headers_precedence_propagationstyle_tracecontext_first_extract_first_false_correctly_propagates_tracestate", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "tracecontext,Datadog,b3multi", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "tracecontext,Datadog,b3multi"], |c| tracestate_precedence(c, true, false)),
        scenario!("test_headers_precedence.py::Test_Headers_Precedence::test_headers_precedence_propagationstyle_tracecontext_first_extract_first_true_correctly_propagates_tracestate", ["DD_TRACE_PROPAGATION_STYLE_EXTRACT" => "tracecontext,Datadog,b3multi", "DD_TRACE_PROPAGATION_STYLE_INJECT" => "tracecontext,Datadog,b3multi", "DD_TRACE_PROPAGATION_EXTRACT_FIRST" => "true"], |c| tracestate_precedence(c, true, true)),
    ]
}

fn tracestate_precedence(
    c: &mut Ctx<'_>,
    prefer_tracecontext: bool,
    extract_first: bool,
) -> Outcome {
    let common = [
        ("x-datadog-sampling-priority", "2"),
        ("x-datadog-tags", "_dd.p.tid=1111111111111111"),
    ];
    let inputs: [Vec<(&str, &str)>; 5] = [
        vec![
            (
                "traceparent",
                "00-11111111111111110000000000000001-000000003ade68b1-01",
            ),
            ("tracestate", "dd=s:2;t.tid:1111111111111111,foo=1"),
            ("x-datadog-trace-id", "1"),
            ("x-datadog-parent-id", "987654321"),
        ],
        vec![
            (
                "traceparent",
                "00-11111111111111110000000000000002-000000003ade68b1-01",
            ),
            ("tracestate", "dd=s:1;t.tid:1111111111111111,foo=1"),
            ("x-datadog-trace-id", "2"),
            ("x-datadog-parent-id", "987654321"),
        ],
        vec![
            (
                "traceparent",
                "00-11111111111111110000000000000003-000000003ade68b1-01",
            ),
            ("tracestate", "foo=1"),
            ("x-datadog-trace-id", "3"),
            ("x-datadog-parent-id", "987654321"),
        ],
        vec![
            (
                "traceparent",
                "00-11111111111111110000000000000004-000000003ade68b1-01",
            ),
            ("tracestate", "dd=s:2;t.tid:1111111111111111,foo=1"),
            ("x-datadog-trace-id", "4"),
            ("x-datadog-parent-id", "3540"),
        ],
        vec![
            (
                "traceparent",
                "00-11111111111111110000000000000005-000000003ade68b1-01",
            ),
            ("tracestate", "foo=1"),
            ("x-datadog-trace-id", "3541"),
            ("x-datadog-parent-id", "987654321"),
        ],
    ];
    let drop_foreign = extract_first && !prefer_tracecontext;
    let mut out = Vec::new();
    for input in &inputs {
        let mut h = input.clone();
        h.extend(common);
        out.push(tracecontext(&c.make_child_span_and_get_headers(&h))?);
    }
    c.flush();
    c.wait_for_num_traces(5)?;
    for (i, (tp, ts)) in out.iter().enumerate().take(4) {
        check!(
            tp.trace_id == format!("1111111111111111000000000000000{}", i + 1),
            "{i}: {tp:?}"
        );
        check!(member(ts, "foo").is_none() == drop_foreign, "{i}: {ts:?}");
        if i == 1 || i == 2 {
            let dd = member(ts, "dd").unwrap_or_default();
            check!(dd.contains("s:2") != prefer_tracecontext, "{i}: {dd}");
        }
    }
    let (tp, ts) = &out[4];
    if prefer_tracecontext {
        check!(
            tp.trace_id == "11111111111111110000000000000005" && member(ts, "foo") == Some("1"),
            "{tp:?} {ts:?}"
        );
    } else {
        check!(
            tp.trace_id == "11111111111111110000000000000dd5" && member(ts, "foo").is_none(),
            "{tp:?} {ts:?}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- test_headers_baggage.py

fn baggage_header(h: &[(String, String)]) -> Option<&str> {
    h.iter()
        .find(|(k, _)| k == "baggage")
        .map(|(_, v)| v.as_str())
}

/// The suite's `Test_Headers_Baggage_Span_Tags`: Datadog headers plus `baggage`, then the
/// span's `baggage.*` tags (`Some`: that value, `None`: absent).
fn baggage_tags(c: &mut Ctx<'_>, baggage: &str, expect: &[(&str, Option<&str>)]) -> Outcome {
    c.make_child_span_and_get_headers(&[
        ("x-datadog-trace-id", "123456789"),
        ("x-datadog-parent-id", "987654321"),
        ("baggage", baggage),
    ]);
    c.flush();
    let span = c.only_span()?;
    for (key, value) in expect {
        check!(
            meta(&span, &format!("baggage.{key}")).as_deref() == *value,
            "{key}: {span}"
        );
    }
    Ok(())
}

fn baggage() -> Vec<Scenario> {
    vec![
        scenario!("test_headers_baggage.py::Test_Headers_Baggage_Span_Tags::test_baggage_span_tags_default", [], |c| {
            baggage_tags(c, "user.id=doggo,session.id=mysession,foo=bar", &[("user.id", Some("doggo")), ("session.id", Some("mysession")), ("foo", None)])
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage_Span_Tags::test_baggage_span_tags_specific_keys", ["DD_TRACE_BAGGAGE_TAG_KEYS" => "session.id,foo"], |c| {
            baggage_tags(c, "user.id=doggo,session.id=fakesession,account.id=123,foo=bar", &[("user.id", None), ("session.id", Some("fakesession")), ("foo", Some("bar")), ("account.id", None)])
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage_Span_Tags::test_baggage_span_tags_all", ["DD_TRACE_BAGGAGE_TAG_KEYS" => "*"], |c| {
            baggage_tags(c, "user.id=bits,session.id=mysession,account.id=9871,serverNode=DF 28,region=us-east-1", &[("user.id", Some("bits")), ("session.id", Some("mysession")), ("account.id", Some("9871")), ("serverNode", Some("DF 28")), ("region", Some("us-east-1"))])
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage_Span_Tags::test_baggage_span_tags_malformed_header", [], |c| {
            baggage_tags(c, "user.id=,session.id=mysession,account.id=abcd", &[("user.id", None), ("session.id", None), ("account.id", None)])
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage_Span_Tags::test_baggage_span_tags_disabled", ["DD_TRACE_BAGGAGE_TAG_KEYS" => ""], |c| {
            baggage_tags(c, "user.id=alice,session.id=xyz123,locale=en-US,account.id=12345", &[("user.id", None), ("session.id", None), ("account.id", None), ("locale", None)])
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage_Span_Tags::test_baggage_span_tags_key_with_asterisk", ["DD_TRACE_BAGGAGE_TAG_KEYS" => "account.id,feature*flag"], |c| {
            baggage_tags(c, "user.id=doggo,account.id=testaccount,foo=bar,feature*flag=xyz", &[("user.id", None), ("account.id", Some("testaccount")), ("foo", None), ("feature*flag", Some("xyz"))])
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage_Span_Tags::test_baggage_span_tags_config_with_empty_keys", ["DD_TRACE_BAGGAGE_TAG_KEYS" => "account.id,,"], |c| {
            baggage_tags(c, "account.id=12345,foo=bar,test=config", &[("account.id", Some("12345")), ("foo", None), ("test", None)])
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_headers_baggage_default_D001", [], |c| {
            let h = c.make_child_span_and_get_headers(&[("x-datadog-trace-id", "123456789"), ("x-datadog-parent-id", "987654321"), ("baggage", "foo=bar")]);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") == 123456789 && id_of(&span, "parent_id") == 987654321);
            check!(h.get("baggage").map(String::as_str) == Some("foo=bar"), "{h:?}");
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_headers_baggage_only_D002", ["DD_TRACE_PROPAGATION_STYLE" => "baggage"], |c| {
            let h = c.make_child_span_and_get_headers(&[("x-datadog-trace-id", "123456789"), ("baggage", "foo=bar")]);
            check!(!h.contains_key("x-datadog-trace-id") && !h.contains_key("x-datadog-parent-id"), "{h:?}");
            check!(h.get("baggage").map(String::as_str) == Some("foo=bar"), "{h:?}");
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggage_disable_settings_D003", ["DD_TRACE_PROPAGATION_STYLE" => "datadog,tracecontext"], |c| {
            let h = c.make_child_span_and_get_headers(&[("x-datadog-trace-id", "123456789"), ("x-datadog-parent-id", "987654321"), ("baggage", "foo=bar")]);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") == 123456789 && id_of(&span, "parent_id") == 987654321);
            check!(!h.contains_key("baggage"), "{h:?}");
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggage_inject_header_D004", [], |c| {
            let span = c.root("test_baggage_set_D004");
            for (k, v) in [("foo", "bar"), ("baz", "qux"), ("userId", "Amélie"), ("serverNode", "DF 28"), ("\",;\\()/:<=>?@[]{}", "\",;\\")] {
                c.span_call("/trace/span/set_baggage", span, json!({"key": k, "value": v}));
            }
            let h = c.inject(span);
            c.finish(span);
            let value = baggage_header(&h).ok_or("no baggage header")?;
            let mut items: Vec<&str> = value.split(',').collect();
            items.sort_unstable();
            let mut want = vec!["foo=bar", "baz=qux", "userId=Am%C3%A9lie", "serverNode=DF%2028", "%22%2C%3B%5C%28%29%2F%3A%3C%3D%3E%3F%40%5B%5D%7B%7D=%22%2C%3B%5C"];
            want.sort_unstable();
            check!(items == want, "{value}");
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggage_extract_header_D005", [], |c| {
            let span = c.extract_and_make_child_span("test_baggage_extract_header_D005", &[("baggage", "foo=bar,userId=Am%C3%A9lie,serverNode=DF%2028,%22%2C%3B%5C%28%29%2F%3A%3C%3D%3E%3F%40%5B%5D%7B%7D=%22%2C%3B%5C")]);
            for (k, v) in [("foo", "bar"), ("userId", "Amélie"), ("serverNode", "DF 28"), ("\",;\\()/:<=>?@[]{}", "\",;\\")] {
                let got = c.get_call("/trace/span/get_baggage", json!({"span_id": span.span_id, "key": k}));
                check!(got["baggage"] == v, "{k}: {got}");
            }
            let all = c.get_call("/trace/span/get_all_baggage", json!({"span_id": span.span_id}));
            check!(all["baggage"] == json!({"foo": "bar", "userId": "Amélie", "serverNode": "DF 28", "\",;\\()/:<=>?@[]{}": "\",;\\"}), "{all}");
            c.finish(span);
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggage_set_D006", [], |c| {
            let span = c.root("test_baggage_set_D006");
            let items = [("foo", "bar"), ("baz", "qux"), ("userId", "Amélie"), ("serverNode", "DF 28")];
            for (k, v) in items {
                c.span_call("/trace/span/set_baggage", span, json!({"key": k, "value": v}));
            }
            for (k, v) in items {
                let got = c.get_call("/trace/span/get_baggage", json!({"span_id": span.span_id, "key": k}));
                check!(got["baggage"] == v, "{k}: {got}");
            }
            c.finish(span);
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggage_set_disabled_D007", ["DD_TRACE_PROPAGATION_STYLE" => "datadog,tracecontext"], |c| {
            let span = c.root("test_baggage_set_disabled_D007");
            for (k, v) in [("foo", "bar"), ("baz", "qux")] {
                c.span_call("/trace/span/set_baggage", span, json!({"key": k, "value": v}));
            }
            let h = c.inject(span);
            c.finish(span);
            check!(h.iter().all(|(k, v)| k != "baggage" && v != "baggage"), "{h:?}");
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggage_get_all_D009", [], |c| {
            let span = c.extract_and_make_child_span("test_baggage_get_all_D009", &[("baggage", "foo=bar")]);
            for (k, v) in [("baz", "qux"), ("userId", "Amélie"), ("serverNode", "DF 28")] {
                c.span_call("/trace/span/set_baggage", span, json!({"key": k, "value": v}));
            }
            let all = c.get_call("/trace/span/get_all_baggage", json!({"span_id": span.span_id}));
            check!(all["baggage"] == json!({"foo": "bar", "baz": "qux", "userId": "Amélie", "serverNode": "DF 28"}), "{all}");
            c.finish(span);
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggage_remove_D010", [], |c| {
            let span = c.root("test_baggage_remove_D010");
            for (k, v) in [("baz", "qux"), ("userId", "Amélie"), ("serverNode", "DF 28")] {
                c.span_call("/trace/span/set_baggage", span, json!({"key": k, "value": v}));
            }
            for k in ["baz", "userId"] {
                c.span_call("/trace/span/remove_baggage", span, json!({"key": k}));
            }
            let all = c.get_call("/trace/span/get_all_baggage", json!({"span_id": span.span_id}));
            check!(all["baggage"] == json!({"serverNode": "DF 28"}), "{all}");
            c.span_call("/trace/span/remove_baggage", span, json!({"key": "serverNode"}));
            let all = c.get_call("/trace/span/get_all_baggage", json!({"span_id": span.span_id}));
            check!(all["baggage"] == json!({}), "{all}");
            c.finish(span);
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggage_remove_all_D011", [], |c| {
            let span = c.root("test_baggage_remove_all_D011");
            for (k, v) in [("foo", "bar"), ("baz", "qux")] {
                c.span_call("/trace/span/set_baggage", span, json!({"key": k, "value": v}));
            }
            c.span_call("/trace/span/remove_all_baggage", span, json!({}));
            let all = c.get_call("/trace/span/get_all_baggage", json!({"span_id": span.span_id}));
            check!(all["baggage"] == json!({}), "{all}");
            c.finish(span);
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggage_malformed_headers_D012-D015", [], |c| {
            let h = c.make_child_span_and_get_headers(&[("baggage", "foo=valid")]);
            check!(h.contains_key("baggage"), "{h:?}");
            for bad in ["no-equal-sign,foo=gets-dropped-because-previous-pair-is-malformed", "=no-key", "no-value=", "foo=gets-dropped-because-subsequent-pair-is-malformed,="] {
                let h = c.make_child_span_and_get_headers(&[("baggage", bad)]);
                check!(!h.contains_key("baggage"), "{bad}: {h:?}");
            }
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggageheader_maxitems_inject_D016", [], |c| {
            let span = c.root("test_baggageheader_maxitems_inject_D016");
            for i in 0..66 {
                c.span_call("/trace/span/set_baggage", span, json!({"key": format!("key{i}"), "value": format!("value{i}")}));
            }
            let h = c.inject(span);
            c.finish(span);
            let value = baggage_header(&h).ok_or("no baggage header")?;
            check!(value.split(',').count() == 64, "{}", value.split(',').count());
            Ok(())
        }),
        scenario!("test_headers_baggage.py::Test_Headers_Baggage::test_baggageheader_maxbytes_inject_D017", [], |c| {
            let span = c.root("test_baggageheader_maxbytes_inject_D017");
            for (k, v) in [("key1", "a".repeat(2730)), ("key2", "b".repeat(2730)), ("key3", "c".repeat(2730)), ("key4", "d".to_string())] {
                c.span_call("/trace/span/set_baggage", span, json!({"key": k, "value": v}));
            }
            let h = c.inject(span);
            c.finish(span);
            let value = baggage_header(&h).ok_or("no baggage header")?;
            check!(value.split(',').count() == 2 && value.len() <= 8192, "{} items, {} bytes", value.split(',').count(), value.len());
            Ok(())
        }),
    ]
}
