//! Ported from the suite's `test_128_bit_traceids.py`, `test_trace_sampling.py`,
//! `test_sampling_span_tags.py`, `test_span_sampling.py` and `test_span_links.py`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::client::{
    find_span, id_of, meta, metric, no_trace_arrives, tracecontext, Ctx, Outcome, Scenario,
    SpanRef, Start,
};
use crate::{check, scenario};

const PRIORITY: &str = "_sampling_priority_v1";

pub fn scenarios() -> Vec<Scenario> {
    let mut all = trace_ids_128_bit();
    all.extend(trace_sampling());
    all.extend(sampling_span_tags());
    all.extend(span_sampling());
    all.extend(span_links());
    all
}

// ---------------------------------------------------------------- test_128_bit_traceids.py

/// The suite's `validate_dd_p_tid`: the start second in the high half, zeros below.
fn valid_tid(tid: Option<&str>) -> Outcome {
    let tid = tid.ok_or("no _dd.p.tid")?;
    check!(tid.len() == 16 && &tid[8..] == "00000000", "{tid}");
    check!(
        u32::from_str_radix(&tid[..8], 16).is_ok_and(|s| s > 0x640C_FD8C),
        "{tid}"
    );
    Ok(())
}

fn check_64_bit(header: &str, span_trace_id: u64, tid: Option<String>) -> Outcome {
    check!(
        header.len() == 16 || (header.len() == 32 && &header[..16] == "0000000000000000"),
        "{header}"
    );
    check!(
        u128::from_str_radix(header, 16).ok() == Some(u128::from(span_trace_id)),
        "{header}"
    );
    check!(tid.is_none(), "{tid:?}");
    Ok(())
}

fn check_128_bit(header: &str, span_trace_id: u64, tid: Option<String>) -> Outcome {
    check!(header.len() == 32, "{header}");
    check!(
        u64::from_str_radix(&header[16..], 16).ok() == Some(span_trace_id),
        "{header}"
    );
    valid_tid(tid.as_deref())?;
    check!(
        header.starts_with(tid.as_deref().unwrap_or_default()),
        "{header}"
    );
    Ok(())
}

/// Datadog headers with `_dd.p.tid` of a wrong shape: the trace id stays, the tid goes.
fn dd_bad_tid(c: &mut Ctx<'_>, tid: &str) -> Outcome {
    let tags = format!("_dd.p.tid={tid}");
    let h = c.make_child_span_and_get_headers(&[
        ("x-datadog-trace-id", "1234567890123456789"),
        ("x-datadog-parent-id", "987654321"),
        ("x-datadog-tags", &tags),
    ]);
    c.flush();
    let span = c.only_span()?;
    check!(id_of(&span, "trace_id") == 1234567890123456789);
    check!(h["x-datadog-trace-id"] == "1234567890123456789");
    check!(meta(&span, "_dd.p.tid").is_none(), "{span}");
    check!(
        h.get("x-datadog-tags")
            .is_none_or(|t| !t.contains("_dd.p.tid=")),
        "{h:?}"
    );
    Ok(())
}

fn dd_generated(c: &mut Ctx<'_>) -> Outcome {
    let h = c.make_child_span_and_get_headers(&[]);
    c.flush();
    let span = c.only_span()?;
    check!(h["x-datadog-trace-id"].parse::<u64>().ok() == Some(id_of(&span, "trace_id")));
    let tid = meta(&span, "_dd.p.tid");
    valid_tid(tid.as_deref())?;
    check!(
        h["x-datadog-tags"].contains(&format!("_dd.p.tid={}", tid.unwrap_or_default())),
        "{h:?}"
    );
    Ok(())
}

fn w3c_field(c: &mut Ctx<'_>, h: &[(&str, &str)]) -> Result<(String, Value), String> {
    let out = c.make_child_span_and_get_headers(h);
    c.flush();
    let span = c.only_span()?;
    Ok((tracecontext(&out)?.0.trace_id, span))
}

fn trace_ids_128_bit() -> Vec<Scenario> {
    vec![
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_datadog_128_bit_propagation", ["DD_TRACE_PROPAGATION_STYLE" => "Datadog", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| {
            let h = c.make_child_span_and_get_headers(&[("x-datadog-trace-id", "1234567890123456789"), ("x-datadog-parent-id", "987654321"), ("x-datadog-tags", "_dd.p.tid=640cfd8d00000000")]);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") == 1234567890123456789);
            check!(h["x-datadog-trace-id"] == "1234567890123456789");
            check!(meta(&span, "_dd.p.tid").as_deref() == Some("640cfd8d00000000"));
            check!(h["x-datadog-tags"].contains("_dd.p.tid=640cfd8d00000000"), "{h:?}");
            Ok(())
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_datadog_128_bit_propagation_tid_long", ["DD_TRACE_PROPAGATION_STYLE" => "Datadog", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| dd_bad_tid(c, "1234567890abcdef1")),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_datadog_128_bit_propagation_tid_short", ["DD_TRACE_PROPAGATION_STYLE" => "Datadog", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| dd_bad_tid(c, "1234567890abcde")),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_datadog_128_bit_propagation_tid_chars", ["DD_TRACE_PROPAGATION_STYLE" => "Datadog", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| dd_bad_tid(c, "1234567890abcdeX")),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_datadog_128_bit_propagation_and_generation", ["DD_TRACE_PROPAGATION_STYLE" => "Datadog", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "true"], |c| {
            let h = c.make_child_span_and_get_headers(&[("x-datadog-trace-id", "1234567890123456789"), ("x-datadog-parent-id", "987654321")]);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") == 1234567890123456789);
            check!(meta(&span, "_dd.p.tid").is_none());
            check!(h.get("x-datadog-tags").is_none_or(|t| !t.contains("_dd.p.tid=")), "{h:?}");
            Ok(())
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_datadog_128_bit_generation_disabled", ["DD_TRACE_PROPAGATION_STYLE" => "Datadog", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| {
            let h = c.make_child_span_and_get_headers(&[]);
            c.flush();
            let span = c.only_span()?;
            check!(h["x-datadog-trace-id"].parse::<u64>().ok() == Some(id_of(&span, "trace_id")));
            check!(meta(&span, "_dd.p.tid").is_none());
            check!(h.get("x-datadog-tags").is_none_or(|t| !t.contains("_dd.p.tid=")), "{h:?}");
            Ok(())
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_datadog_128_bit_generation_enabled", ["DD_TRACE_PROPAGATION_STYLE" => "Datadog", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "true"], dd_generated),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_datadog_128_bit_generation_enabled_by_default", ["DD_TRACE_PROPAGATION_STYLE" => "Datadog"], dd_generated),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_b3single_128_bit_propagation", ["DD_TRACE_PROPAGATION_STYLE" => "B3 single header", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| {
            let out = c.make_child_span_and_get_headers(&[("b3", "640cfd8d00000000abcdefab12345678-000000003ade68b1-1")]);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") == 0xabcdefab12345678);
            check!(meta(&span, "_dd.p.tid").as_deref() == Some("640cfd8d00000000"));
            check_128_bit(out["b3"].split('-').next().unwrap_or_default(), id_of(&span, "trace_id"), meta(&span, "_dd.p.tid"))
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_b3single_128_bit_generation_enabled", ["DD_TRACE_PROPAGATION_STYLE" => "B3 single header", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "true"], |c| {
            let out = c.make_child_span_and_get_headers(&[]);
            c.flush();
            let span = c.only_span()?;
            check_128_bit(out["b3"].split('-').next().unwrap_or_default(), id_of(&span, "trace_id"), meta(&span, "_dd.p.tid"))
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_b3single_128_bit_generation_disabled", ["DD_TRACE_PROPAGATION_STYLE" => "B3 single header", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| {
            let out = c.make_child_span_and_get_headers(&[]);
            c.flush();
            let span = c.only_span()?;
            check_64_bit(out["b3"].split('-').next().unwrap_or_default(), id_of(&span, "trace_id"), meta(&span, "_dd.p.tid"))
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_b3multi_128_bit_propagation", ["DD_TRACE_PROPAGATION_STYLE" => "b3multi", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| {
            let out = c.make_child_span_and_get_headers(&[("x-b3-traceid", "640cfd8d00000000abcdefab12345678"), ("x-b3-spanid", "000000003ade68b1")]);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") == 0xabcdefab12345678);
            check_128_bit(&out["x-b3-traceid"], id_of(&span, "trace_id"), meta(&span, "_dd.p.tid"))
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_b3multi_128_bit_propagation_and_generation", ["DD_TRACE_PROPAGATION_STYLE" => "b3multi", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "true"], |c| {
            let out = c.make_child_span_and_get_headers(&[("x-b3-traceid", "abcdefab12345678"), ("x-b3-spanid", "000000003ade68b1")]);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") == 0xabcdefab12345678);
            check_64_bit(&out["x-b3-traceid"], id_of(&span, "trace_id"), meta(&span, "_dd.p.tid"))
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_b3multi_128_bit_generation_enabled", ["DD_TRACE_PROPAGATION_STYLE" => "b3multi", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "true"], |c| {
            let out = c.make_child_span_and_get_headers(&[]);
            c.flush();
            let span = c.only_span()?;
            check_128_bit(&out["x-b3-traceid"], id_of(&span, "trace_id"), meta(&span, "_dd.p.tid"))
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_w3c_128_bit_propagation", ["DD_TRACE_PROPAGATION_STYLE" => "tracecontext", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| {
            let (field, span) = w3c_field(c, &[("traceparent", "00-640cfd8d00000000abcdefab12345678-000000003ade68b1-01")])?;
            check!(id_of(&span, "trace_id") == 0xabcdefab12345678);
            check!(meta(&span, "_dd.p.tid").as_deref() == Some("640cfd8d00000000"));
            check_128_bit(&field, id_of(&span, "trace_id"), meta(&span, "_dd.p.tid"))
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_w3c_128_bit_propagation_tid_consistent", ["DD_TRACE_PROPAGATION_STYLE" => "tracecontext", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| {
            let (_, span) = w3c_field(c, &[("traceparent", "00-640cfd8d00000000abcdefab12345678-000000003ade68b1-01"), ("tracestate", "dd=t.tid:640cfd8d00000000")])?;
            check!(meta(&span, "_dd.p.tid").as_deref() == Some("640cfd8d00000000"));
            check!(meta(&span, "_dd.propagation_error").is_none(), "{span}");
            Ok(())
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_w3c_128_bit_propagation_tid_inconsistent", ["DD_TRACE_PROPAGATION_STYLE" => "tracecontext", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| {
            let (_, span) = w3c_field(c, &[("traceparent", "00-640cfd8d00000000abcdefab12345678-000000003ade68b1-01"), ("tracestate", "dd=t.tid:640cfd8d0000ffff")])?;
            check!(id_of(&span, "trace_id") == 0xabcdefab12345678);
            check!(meta(&span, "_dd.p.tid").as_deref() == Some("640cfd8d00000000"), "{span}");
            Ok(())
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_w3c_128_bit_propagation_tid_malformed", ["DD_TRACE_PROPAGATION_STYLE" => "tracecontext", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| {
            let (_, span) = w3c_field(c, &[("traceparent", "00-640cfd8d00000000abcdefab12345678-000000003ade68b1-01"), ("tracestate", "dd=t.tid:XXXX")])?;
            check!(meta(&span, "_dd.p.tid").as_deref() == Some("640cfd8d00000000"), "{span}");
            Ok(())
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_w3c_128_bit_propagation_and_generation", ["DD_TRACE_PROPAGATION_STYLE" => "tracecontext", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "true"], |c| {
            let (field, span) = w3c_field(c, &[("traceparent", "00-0000000000000000abcdefab12345678-000000003ade68b1-01")])?;
            check!(id_of(&span, "trace_id") == 0xabcdefab12345678);
            check_64_bit(&field, id_of(&span, "trace_id"), meta(&span, "_dd.p.tid"))
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_w3c_128_bit_generation_disabled", ["DD_TRACE_PROPAGATION_STYLE" => "tracecontext", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "false"], |c| {
            let (field, span) = w3c_field(c, &[])?;
            check_64_bit(&field, id_of(&span, "trace_id"), meta(&span, "_dd.p.tid"))
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_w3c_128_bit_generation_enabled", ["DD_TRACE_PROPAGATION_STYLE" => "tracecontext", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "true"], |c| {
            let (field, span) = w3c_field(c, &[])?;
            check_128_bit(&field, id_of(&span, "trace_id"), meta(&span, "_dd.p.tid"))
        }),
        scenario!("test_128_bit_traceids.py::Test_128_Bit_Traceids::test_w3c_128_bit_propagation_tid_in_chunk_root", ["DD_TRACE_PROPAGATION_STYLE" => "tracecontext", "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED" => "true"], |c| {
            let parent = c.start_span("parent", Start { service: Some("service"), resource: Some("resource"), ..Start::default() });
            let child = c.start_span("child", Start { service: Some("service"), parent_id: Some(parent.span_id), ..Start::default() });
            c.finish(child);
            c.finish(parent);
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            check!(traces[0].len() == 2);
            check!(traces[0].iter().any(|s| meta(s, "_dd.p.tid").is_some()), "{traces:?}");
            Ok(())
        }),
    ]
}

// ---------------------------------------------------------------- test_trace_sampling.py

/// One span `web.request` of `webserver` (and `resource`, start tags); kept (2, rule rate 1)
/// or dropped (-1, rule rate 0) by a rule.
fn by_rule(c: &mut Ctx<'_>, resource: Option<&str>, tags: &[(&str, &str)], kept: bool) -> Outcome {
    let span = c.start_span(
        "web.request",
        Start {
            service: Some("webserver"),
            resource,
            tags,
            ..Start::default()
        },
    );
    c.finish(span);
    c.flush();
    let got = c.only_span()?;
    let (priority, rate) = if kept { (2.0, 1.0) } else { (-1.0, 0.0) };
    check!(metric(&got, PRIORITY) == Some(priority), "{got}");
    check!(metric(&got, "_dd.rule_psr") == Some(rate), "{got}");
    Ok(())
}

fn keep(c: &mut Ctx<'_>) -> Outcome {
    by_rule(c, None, &[], true)
}

fn drop(c: &mut Ctx<'_>) -> Outcome {
    by_rule(c, None, &[], false)
}

fn keep_bar(c: &mut Ctx<'_>) -> Outcome {
    by_rule(c, Some("/bar"), &[], true)
}

fn keep_random(c: &mut Ctx<'_>) -> Outcome {
    by_rule(c, Some("/random"), &[("key", "value")], true)
}

/// The Feb 2024 tag revision: a span whose tag `tag` is set after its start.
fn tag_rule(c: &mut Ctx<'_>, name: &str, value: Value, matching: bool) -> Outcome {
    let span = c.start_span(
        name,
        Start {
            service: Some("test"),
            ..Start::default()
        },
    );
    match value {
        Value::String(_) => c.set_meta(span, "tag", value),
        Value::Number(n) => c.set_metric(span, "tag", n.as_f64().unwrap_or_default()),
        _ => {}
    }
    c.finish(span);
    c.flush();
    let traces = c.wait_for_num_traces(1)?;
    let got = find_span(&traces, span.trace_id, span.span_id)?;
    let (priority, rate) = if matching { (2.0, 1.0) } else { (-1.0, 0.0) };
    check!(metric(&got, PRIORITY) == Some(priority), "{got}");
    check!(metric(&got, "_dd.rule_psr") == Some(rate), "{got}");
    Ok(())
}

fn trace_sampling() -> Vec<Scenario> {
    vec![
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Basic::test_trace_sampled_by_trace_sampling_rule_exact_match[service]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "webserver.non-matching", "sample_rate": 0}, {"service": "webserver", "sample_rate": 1}]"#], keep),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Basic::test_trace_sampled_by_trace_sampling_rule_exact_match[name]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"name": "web.request.non-matching", "sample_rate": 0}, {"name": "web.request", "sample_rate": 1}]"#], keep),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Basic::test_trace_sampled_by_trace_sampling_rule_exact_match[service,name]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "webserver.non-matching", "name": "web.request", "sample_rate": 0}, {"service": "webserver", "name": "web.request.non-matching", "sample_rate": 0}, {"service": "webserver", "name": "web.request", "sample_rate": 1}]"#], keep),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Basic::test_trace_dropped_by_trace_sampling_rule", ["DD_TRACE_SAMPLE_RATE" => "1", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "webserver", "name": "web.request", "sample_rate": 0}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false"], drop),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Basic::test_trace_kept_in_spite_trace_sampling_rule", ["DD_TRACE_SAMPLE_RATE" => "1", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "webserver", "resource": "drop-me", "sample_rate": 0}, {"sample_rate": 1}]"#], |c| {
            let span = c.start_span("web.request", Start { service: Some("webserver"), ..Start::default() });
            c.set_meta(span, "manual.keep", json!("1"));
            c.set_meta(span, "resource.name", json!("drop-me"));
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(metric(&got, PRIORITY) == Some(2.0), "{got}");
            Ok(())
        }),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Globs::test_trace_sampled_by_trace_sampling_rule_glob_match[service]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "web.non-matching*", "sample_rate": 0}, {"service": "web*", "sample_rate": 1}]"#], keep),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Globs::test_trace_sampled_by_trace_sampling_rule_glob_match[name]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"name": "web.non-matching*", "sample_rate": 0}, {"name": "web.*", "sample_rate": 1}]"#], keep),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Globs::test_trace_sampled_by_trace_sampling_rule_glob_match[service,name]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "webserv?r.non-matching", "name": "web.req*", "sample_rate": 0}, {"service": "webserv?r", "name": "web.req*.non-matching", "sample_rate": 0}, {"service": "webserv?r", "name": "web.req*", "sample_rate": 1}]"#], keep),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Globs::test_field_case_insensitivity[name]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"name": "wEb.rEquEst", "sample_rate": 1}]"#], keep_random),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Globs::test_field_case_insensitivity[service]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "wEbSerVer", "sample_rate": 1}]"#], keep_random),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Globs::test_field_case_insensitivity[resource]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"resource": "/rAnDom", "sample_rate": 1}]"#], keep_random),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Globs::test_field_case_insensitivity[tags]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"tags": {"key": "vAlUe"}, "sample_rate": 1}]"#], keep_random),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Globs::test_trace_dropped_by_trace_sampling_rule", ["DD_TRACE_SAMPLE_RATE" => "1", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "w?bs?rv?r", "name": "web.*", "sample_rate": 0}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false"], drop),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Globs_Feb2024_Revision::test_trace_sampled_by_trace_sampling_rule_insensitive_glob_match[name]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"name": "web.non-matching*", "sample_rate": 0}, {"name": "wEb.*", "sample_rate": 1}]"#], keep),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Globs_Feb2024_Revision::test_trace_sampled_by_trace_sampling_rule_insensitive_glob_match[service,name]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "webserv?r.non-matching", "name": "wEb.req*", "sample_rate": 0}, {"service": "webserv?r", "name": "web.req*.non-matching", "sample_rate": 0}, {"service": "webserv?r", "name": "web.req*", "sample_rate": 1}]"#], keep),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Resource::test_trace_sampled_by_trace_sampling_rule_exact_match[resource]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"resource": "/bar.non-matching", "sample_rate": 0}, {"resource": "/?ar", "sample_rate": 1}]"#], keep_bar),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Resource::test_trace_sampled_by_trace_sampling_rule_exact_match[name,resource]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"name": "web.request.non-matching", "resource": "/bar", "sample_rate": 0}, {"name": "web.request", "resource": "/bar.non-matching", "sample_rate": 0}, {"name": "web.request", "resource": "/b*", "sample_rate": 1}]"#], keep_bar),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Resource::test_trace_sampled_by_trace_sampling_rule_exact_match[service,name,resource]", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "webserver.non-matching", "name": "web.request", "resource": "/bar", "sample_rate": 0}, {"service": "webserver", "name": "web.request.non-matching", "resource": "/bar", "sample_rate": 0}, {"service": "webserver", "name": "web.request", "resource": "/bar.non-matching", "sample_rate": 0}, {"service": "webserver", "name": "web.request", "resource": "/b?r", "sample_rate": 1}]"#], keep_bar),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Resource::test_trace_dropped_by_trace_sampling_rule", ["DD_TRACE_SAMPLE_RATE" => "1", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"service": "non-matching", "sample_rate": 1}, {"name": "non-matching", "sample_rate": 1}, {"resource": "non-matching", "sample_rate": 1}, {"service": "webserver", "name": "web.request", "resource": "/bar", "sample_rate": 0}]"#], |c| by_rule(c, Some("/bar"), &[], false)),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Tags::test_trace_sampled_by_trace_sampling_rule_tags", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"tags": {"tag1": "non-matching"}, "sample_rate": 0}, {"tags": {"tag2": "non-matching"}, "sample_rate": 0}, {"tags": {"tag1": "non-matching", "tag2": "val2"}, "sample_rate": 0}, {"tags": {"tag1": "val1", "tag2": "non-matching"}, "sample_rate": 0}, {"tags": {"tag1": "val1", "tag2": "val2"}, "sample_rate": 1}]"#], |c| {
            let span = c.start_span("web.request", Start { service: Some("webserver"), resource: Some("/bar"), ..Start::default() });
            c.set_meta(span, "tag1", json!("val1"));
            c.set_meta(span, "tag2", json!("val2"));
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(metric(&got, PRIORITY) == Some(2.0) && metric(&got, "_dd.rule_psr") == Some(1.0), "{got}");
            Ok(())
        }),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Tags_Feb2024_Revision::test_globs_same_casing", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"tags": {"tag": "f??"}, "sample_rate": 1.0}, {"sample_rate": 0}]"#], |c| tag_rule(c, "matching-span", json!("foo"), true)),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Tags_Feb2024_Revision::test_globs_different_casing", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"tags": {"tag": "?O*"}, "sample_rate": 1.0}, {"sample_rate": 0}]"#], |c| tag_rule(c, "matching-span", json!("foo"), true)),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Tags_Feb2024_Revision::test_no_set_support", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"tags": {"tag": "[abc]"}, "sample_rate": 1.0}, {"sample_rate": 0}]"#], |c| tag_rule(c, "matching-span", json!("[abc]"), true)),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Tags_Feb2024_Revision::test_metric_matching", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"tags": {"tag": "2?"}, "sample_rate": 1.0}, {"sample_rate": 0}]"#], |c| tag_rule(c, "matching-span", json!(20.0), true)),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Tags_Feb2024_Revision::test_metric_mismatch_non_integer", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"tags": {"tag": "2*"}, "sample_rate": 1.0}, {"sample_rate": 0}]"#], |c| tag_rule(c, "mismatching-span", json!(20.1), false)),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_Tags_Feb2024_Revision::test_metric_existence", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"tags": {"tag": "*"}, "sample_rate": 1.0}, {"sample_rate": 0}]"#], |c| tag_rule(c, "matching-span", json!(-0.5), true)),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_With_W3C::test_trace_sampled_by_trace_sampling_rule_tags", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"tags": {"tag2": "val2"}, "sample_rate": 0}, {"tags": {"tag1": "val1"}, "sample_rate": 1}, {"tags": {"tag0": "val*"}, "sample_rate": 0}]"#], |c| {
            let span = c.start_span("web.request", Start { service: Some("webserver"), resource: Some("/bar"), tags: &[("tag0", "val0")], ..Start::default() });
            c.set_meta(span, "tag1", json!("val1"));
            let h = c.inject(span);
            c.set_meta(span, "tag2", json!("val2"));
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            let priority = h.iter().find(|(k, _)| k == "x-datadog-sampling-priority").map(|(_, v)| v.as_str());
            check!(priority == Some("2"), "{h:?}");
            check!(metric(&got, PRIORITY) == Some(2.0) && metric(&got, "_dd.rule_psr") == Some(1.0), "{got}");
            Ok(())
        }),
        scenario!("test_trace_sampling.py::Test_Trace_Sampling_With_W3C::test_distributed_headers_synthetics_sampling_decision", ["DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#], |c| {
            c.make_child_span_and_get_headers(&[("x-datadog-trace-id", "123456789"), ("x-datadog-parent-id", "0"), ("x-datadog-sampling-priority", "1"), ("x-datadog-origin", "synthetics;=web,z")]);
            c.flush();
            let span = c.only_span()?;
            check!(id_of(&span, "trace_id") == 123456789 && id_of(&span, "parent_id") == 0, "{span}");
            check!(meta(&span, "_dd.origin").is_some_and(|o| o.contains("synthetics")), "{span}");
            check!(metric(&span, PRIORITY) == Some(1.0), "{span}");
            Ok(())
        }),
    ]
}

// ---------------------------------------------------------------- test_sampling_span_tags.py

/// A parent and a child of `webserver`; the child's magic tag, if any, set to null.
fn parent_and_child(
    c: &mut Ctx<'_>,
    child_tag: Option<&str>,
) -> Result<(Value, Value, Value), String> {
    let (parent, child) = send_parent_and_child(c, child_tag);
    let traces = c.wait_for_num_spans(2)?;
    let p = find_span(&traces, parent.trace_id, parent.span_id)?;
    let ch = find_span(&traces, child.trace_id, child.span_id)?;
    // The first span of the chunk as sent: the one that finished first.
    let first = ch.clone();
    Ok((p, ch, first))
}

/// Starts `parent` and its `child`, both of `webserver` (the child's magic tag, if any, set to
/// null), finishes the child then the parent, and flushes.
fn send_parent_and_child(c: &mut Ctx<'_>, child_tag: Option<&str>) -> (SpanRef, SpanRef) {
    let parent = c.start_span(
        "parent",
        Start {
            service: Some("webserver"),
            ..Start::default()
        },
    );
    let child = c.start_span(
        "child",
        Start {
            service: Some("webserver"),
            parent_id: Some(parent.span_id),
            ..Start::default()
        },
    );
    if let Some(tag) = child_tag {
        c.set_meta(child, tag, Value::Null);
    }
    c.finish(child);
    c.finish(parent);
    c.flush();
    (parent, child)
}

/// The suite's `_assert_sampling_tags`.
fn sampling_tags(
    spans: (Value, Value, Value),
    dm: &[&str],
    priority: f64,
    rule: Option<f64>,
    agent: Option<f64>,
) -> Outcome {
    let (parent, child, first) = spans;
    let got_dm = meta(&first, "_dd.p.dm")
        .or_else(|| meta(&parent, "_dd.p.dm"))
        .unwrap_or_default();
    check!(dm.contains(&got_dm.as_str()), "{got_dm}: {parent} {child}");
    check!(metric(&parent, PRIORITY) == Some(priority), "{parent}");
    check!(metric(&parent, "_dd.rule_psr") == rule, "{parent}");
    if let Some(rate) = agent {
        check!(
            metric(&parent, "_dd.agent_psr").is_none_or(|r| r == rate),
            "{parent}"
        );
    } else {
        check!(metric(&parent, "_dd.agent_psr").is_none(), "{parent}");
    }
    check!(metric(&parent, "_dd.limit_psr").is_none(), "{parent}");
    for key in ["_dd.rule_psr", "_dd.agent_psr", "_dd.limit_psr"] {
        check!(metric(&child, key).is_none(), "{key} on the child: {child}");
    }
    Ok(())
}

/// sst001 and sst003–sst006 expect `_dd.p.dm` on dropped traces and no `_dd.limit_psr` when
/// the limiter let a trace through; the spec's Decisions say otherwise (see not-passing.md).
fn sampling_span_tags() -> Vec<Scenario> {
    vec![
        scenario!("test_sampling_span_tags.py::Test_Sampling_Span_Tags::test_tags_child_kept_sst007", ["DD_TRACE_SAMPLE_RATE" => "1"], |c| {
            let spans = parent_and_child(c, Some("manual.keep"))?;
            sampling_tags(spans, &["-4"], 2.0, None, None)
        }),
        scenario!("test_sampling_span_tags.py::Test_Sampling_Span_Tags::test_tags_defaults_sst002", [], |c| {
            let spans = parent_and_child(c, None)?;
            sampling_tags(spans, &["-1", "-0"], 1.0, None, Some(1.0))
        }),
        scenario!("test_sampling_span_tags.py::Test_Knuth_Sample_Rate::test_sampling_knuth_sample_rate_trace_sampling_rule[rate_1_strips_trailing_zeros]", ["DD_TRACE_SAMPLE_RATE" => "<unset>", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 1.0}]"#], |c| ksr(c, "1")),
        scenario!("test_sampling_span_tags.py::Test_Knuth_Sample_Rate::test_sampling_knuth_sample_rate_trace_sampling_rule[six_decimal_precision_boundary]", ["DD_TRACE_SAMPLE_RATE" => "<unset>", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0.000001}]"#], |c| ksr(c, "0.000001")),
        scenario!("test_sampling_span_tags.py::Test_Knuth_Sample_Rate::test_sampling_knuth_sample_rate_trace_sampling_rule[below_precision_rounds_to_zero]", ["DD_TRACE_SAMPLE_RATE" => "<unset>", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0.0000001}]"#], |c| ksr(c, "0")),
        scenario!("test_sampling_span_tags.py::Test_Knuth_Sample_Rate::test_sampling_knuth_sample_rate_trace_sampling_rule[rounds_up_to_one_millionth]", ["DD_TRACE_SAMPLE_RATE" => "<unset>", "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0.00000051}]"#], |c| ksr(c, "0.000001")),
        scenario!("test_sampling_span_tags.py::Test_Knuth_Sample_Rate::test_sampling_extract_knuth_sample_rate_distributed_tracing_datadog", ["DD_TRACE_PROPAGATION_STYLE" => "Datadog"], |c| {
            let out = c.make_child_span_and_get_headers(&[("x-datadog-trace-id", "123456789"), ("x-datadog-parent-id", "987654321"), ("x-datadog-sampling-priority", "2"), ("x-datadog-origin", "synthetics"), ("x-datadog-tags", "_dd.p.dm=-8,_dd.p.ksr=1.000000")]);
            c.flush();
            let span = c.only_span()?;
            check!(out["x-datadog-tags"].contains("_dd.p.ksr=1.000000"), "{out:?}");
            check!(meta(&span, "_dd.p.dm").as_deref() == Some("-8") && meta(&span, "_dd.p.ksr").as_deref() == Some("1.000000"), "{span}");
            check!(metric(&span, PRIORITY) == Some(2.0));
            Ok(())
        }),
        scenario!("test_sampling_span_tags.py::Test_Knuth_Sample_Rate::test_sampling_extract_knuth_sample_rate_distributed_tracing_tracecontext", ["DD_TRACE_PROPAGATION_STYLE" => "tracecontext"], |c| {
            let out = c.make_child_span_and_get_headers(&[("traceparent", "00-00000000000000000000000000000007-0000000000000006-01"), ("tracestate", "dd=s:2;o:synthetics;t.dm:-1;t.ksr:0.1")]);
            c.flush();
            let span = c.only_span()?;
            check!(out["tracestate"].contains("t.ksr:0.1"), "{out:?}");
            check!(id_of(&span, "trace_id") == 7 && id_of(&span, "parent_id") == 6);
            check!(meta(&span, "_dd.p.dm").as_deref() == Some("-1") && meta(&span, "_dd.p.ksr").as_deref() == Some("0.1"), "{span}");
            check!(metric(&span, PRIORITY) == Some(2.0));
            Ok(())
        }),
        scenario!("test_sampling_span_tags.py::Test_Knuth_Sample_Rate::test_sampling_knuth_sample_rate_not_set_for_default", [], |c| {
            let span = c.root("span");
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(meta(&got, "_dd.p.ksr").is_none_or(|k| k == "1"), "{got}");
            Ok(())
        }),
    ]
}

fn ksr(c: &mut Ctx<'_>, expected: &str) -> Outcome {
    let span = c.root("span");
    c.finish(span);
    c.flush();
    let got = c.only_span()?;
    check!(
        meta(&got, "_dd.p.ksr").as_deref() == Some(expected),
        "{got}"
    );
    Ok(())
}

// ---------------------------------------------------------------- test_span_sampling.py

/// One `web.request` span of `webserver`: picked by a span rule (rate, max per second) or not.
fn span_rule(c: &mut Ctx<'_>, picked: Option<(f64, Option<f64>)>) -> Outcome {
    let span = c.start_span(
        "web.request",
        Start {
            service: Some("webserver"),
            ..Start::default()
        },
    );
    c.finish(span);
    c.flush();
    let traces = c.wait_for_num_traces(1)?;
    let got = find_span(&traces, span.trace_id, span.span_id)?;
    sss(&got, picked)
}

fn sss(got: &Value, picked: Option<(f64, Option<f64>)>) -> Outcome {
    match picked {
        Some((rate, mps)) => {
            check!(
                metric(got, "_dd.span_sampling.mechanism") == Some(8.0),
                "{got}"
            );
            check!(
                metric(got, "_dd.span_sampling.rule_rate") == Some(rate),
                "{got}"
            );
            check!(
                metric(got, "_dd.span_sampling.max_per_second") == mps,
                "{got}"
            );
        }
        None => {
            for key in [
                "_dd.span_sampling.mechanism",
                "_dd.span_sampling.rule_rate",
                "_dd.span_sampling.max_per_second",
            ] {
                check!(metric(got, key).is_none(), "{key}: {got}");
            }
        }
    }
    Ok(())
}

/// The suite's `_wait_for_client_side_stats_active`, for the scenarios of the dropping policy:
/// the agent offers `client_drop_p0s`, the app has the agent's `/info`, and the stats of a
/// warm-up span reach the agent. Then a new test session (the suite's `clear`), so that what
/// the warm-up sent is not counted.
fn client_side_stats_active(c: &mut Ctx<'_>) -> Outcome {
    let info = c.agent.get("/info");
    check!(info["client_drop_p0s"] == true, "{info}");
    let ready = c.get_call("/trace/agent/ensure_agent_info", json!({}));
    check!(ready["ready"] == true, "{ready}");
    for _ in 0..10 {
        let warmup = c.start_span(
            "css-warmup",
            Start {
                service: Some("webserver"),
                ..Start::default()
            },
        );
        c.finish(warmup);
        c.flush();
        for _ in 0..10 {
            if stats_hits(c, "css-warmup") > 0 {
                c.agent.start_session();
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Err(format!(
        "no /v0.6/stats for 10 warm-up spans: client-side stats are off: {:?}",
        c.agent.stats()
    ))
}

/// The hits that the `/v0.6/stats` payloads of this session count for `name` of `webserver`.
fn stats_hits(c: &Ctx<'_>, name: &str) -> u64 {
    dd_trace_test_support::TestAgent::stats_groups(&c.agent.stats())
        .iter()
        .filter(|group| group["Name"] == name && group["Service"] == "webserver")
        .filter_map(|group| group["Hits"].as_u64())
        .sum()
}

/// The suite's `find_trace`: the trace whose first span is of `trace_id`.
fn trace_of(traces: &[Vec<Value>], trace_id: u64) -> Result<&Vec<Value>, String> {
    traces
        .iter()
        .find(|t| t.first().is_some_and(|s| id_of(s, "trace_id") == trace_id))
        .ok_or_else(|| format!("no trace {trace_id}: {traces:?}"))
}

/// sss016 and sss017: under the dropping policy, a first trace (its span rule's span sent,
/// the session cleared), then a parent and a child of which only the span the rule picked
/// (`picked`, the parent or the child) reaches the agent, with the trace's USER_REJECT.
fn only_picked_span_sent(c: &mut Ctx<'_>, picked_parent: bool) -> Outcome {
    client_side_stats_active(c)?;
    if picked_parent {
        let first = c.start_span(
            "parent",
            Start {
                service: Some("webserver"),
                ..Start::default()
            },
        );
        c.finish(first);
        c.flush();
    } else {
        send_parent_and_child(c, None);
    }
    c.wait_for_num_traces(1)?;
    c.agent.start_session();
    let (parent, child) = send_parent_and_child(c, None);
    let traces = c.wait_for_num_traces(1)?;
    let trace = trace_of(&traces, parent.trace_id)?;
    check!(
        trace.len() == 1,
        "the other span is dropped here: {trace:?}"
    );
    let (name, kept) = if picked_parent {
        ("parent", parent)
    } else {
        ("child", child)
    };
    let got = find_span(&traces, kept.trace_id, kept.span_id)?;
    check!(got["name"] == name, "{got}");
    check!(metric(&got, PRIORITY) == Some(-1.0), "{got}");
    sss(&got, Some((1.0, Some(50.0))))
}

fn span_sampling() -> Vec<Scenario> {
    vec![
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_single_rule_match_span_sampling_sss001", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "webserver", "name": "web.request"}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#], |c| span_rule(c, Some((1.0, None)))),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_special_glob_characters_span_sampling_sss002", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "webse*", "name": "web.re?uest"}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#], |c| span_rule(c, Some((1.0, None)))),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_single_rule_no_match_span_sampling_sss003", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "notmatching", "name": "notmatching"}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false"], |c| span_rule(c, None)),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_single_rule_only_service_pattern_match_span_sampling_sss004", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "webserver"}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#], |c| span_rule(c, Some((1.0, None)))),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_single_rule_only_name_pattern_no_match_span_sampling_sss005", ["DD_SPAN_SAMPLING_RULES" => r#"[{"name": "no_match"}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false"], |c| span_rule(c, None)),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_multi_rule_keep_drop_span_sampling_sss006", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "webserver", "name": "web.request"}, {"service": "webserver", "name": "web.request", "sample_rate": 0}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#], |c| span_rule(c, Some((1.0, None)))),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_multi_rule_drop_keep_span_sampling_sss007", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "webserver", "name": "web.request", "sample_rate": 0}, {"service": "webserver", "name": "web.request"}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false"], |c| span_rule(c, None)),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_single_rule_tracer_always_keep_span_sampling_sss012", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "webserver", "name": "web.request", "sample_rate": 0}]"#, "DD_TRACE_SAMPLE_RATE" => "1.0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 1.0}]"#], |c| {
            let span = c.start_span("web.request", Start { service: Some("webserver"), ..Start::default() });
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(metric(&got, PRIORITY).is_some_and(|p| p > 0.0), "{got}");
            sss(&got, None)
        }),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_root_span_selected_by_sss014", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "webserver", "name": "parent", "sample_rate": 1.0, "max_per_second": 50}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false"], |c| {
            let (parent, child, _) = parent_and_child(c, None)?;
            check!(metric(&parent, PRIORITY) == Some(-1.0), "{parent}");
            sss(&parent, Some((1.0, Some(50.0))))?;
            sss(&child, None)
        }),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_child_span_selected_by_sss015", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "webserver", "name": "child", "sample_rate": 1.0, "max_per_second": 50}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false"], |c| {
            let (parent, child, _) = parent_and_child(c, None)?;
            check!(metric(&parent, PRIORITY) == Some(-1.0), "{parent}");
            sss(&parent, None)?;
            sss(&child, Some((1.0, Some(50.0))))
        }),
        // The suite also sets DD_TRACE_TRACER_METRICS_ENABLED and DD_TRACE_FEATURES=discovery
        // (Java's switches), and its test agent says 7.65.0: ours offers client_drop_p0s too.
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_root_span_selected_and_child_dropped_by_sss_when_dropping_policy_is_active016", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "webserver", "name": "parent", "sample_rate": 1.0, "max_per_second": 50}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "true"], |c| only_picked_span_sent(c, true)),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_child_span_selected_and_root_dropped_by_sss_when_dropping_policy_is_active017", ["DD_SPAN_SAMPLING_RULES" => r#"[{"service": "webserver", "name": "child", "sample_rate": 1.0, "max_per_second": 50}]"#, "DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "true"], |c| only_picked_span_sent(c, false)),
        scenario!("test_span_sampling.py::Test_Span_Sampling::test_entire_trace_dropped_when_dropping_policy_is_active018", ["DD_TRACE_SAMPLE_RATE" => "0", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate": 0}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "true"], |c| {
            client_side_stats_active(c)?;
            let first = c.start_span("parent", Start { service: Some("webserver"), ..Start::default() });
            c.finish(first);
            c.flush();
            no_trace_arrives(c)?;
            send_parent_and_child(c, None);
            no_trace_arrives(c)?;
            // Not lost: both traces were counted in the stats before they were dropped.
            let mut hits = 0;
            for _ in 0..30 {
                hits = stats_hits(c, "parent");
                if hits == 2 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            check!(hits == 2, "{:?}", c.agent.stats());
            Ok(())
        }),
    ]
}

// ---------------------------------------------------------------- test_span_links.py

/// The two traces of the `test_span_started_with_link_*` tests: `first`, and `second`
/// linked to it with attributes; the first's id and both spans as received.
fn linked_pair(c: &mut Ctx<'_>) -> Result<(SpanRef, Value, Value), String> {
    let first = c.root("first");
    c.finish(first);
    let second = c.root("second");
    c.span_call(
        "/trace/span/add_link",
        second,
        json!({"parent_id": first.span_id, "attributes": {"foo": "bar", "array": ["a", "b", "c"]}}),
    );
    c.finish(second);
    c.flush();
    let traces = c.wait_for_num_traces(2)?;
    let a = find_span(&traces, first.trace_id, first.span_id)?;
    let b = find_span(&traces, second.trace_id, second.span_id)?;
    Ok((first, a, b))
}

/// The suite's `retrieve_span_links`: the native `span_links` (v0.4), else the
/// `_dd.span_links` tag (v0.5) in the v0.4 shape.
fn link_of(span: &Value, i: usize) -> Result<Value, String> {
    if let Some(link) = span["span_links"].get(i) {
        return Ok(link.clone());
    }
    let json = meta(span, "_dd.span_links").ok_or_else(|| format!("no links: {span}"))?;
    let links: Vec<Value> = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let l = links.get(i).ok_or_else(|| format!("no link {i}: {json}"))?;
    let tid = l["trace_id"].as_str().unwrap_or_default();
    let (high, low) = tid.split_at(tid.len().saturating_sub(16));
    let hex = |h: &str| u64::from_str_radix(h, 16).unwrap_or_default();
    let mut link = json!({
        "trace_id": hex(low),
        "span_id": hex(l["span_id"].as_str().unwrap_or_default()),
        "attributes": l["attributes"].clone(),
        "tracestate": l["tracestate"].clone(),
        "flags": l["flags"].as_u64().map_or(0, |f| f | 0x8000_0000),
    });
    if !high.is_empty() {
        link["trace_id_high"] = json!(hex(high));
    }
    Ok(link)
}

fn span_links() -> Vec<Scenario> {
    vec![
        scenario!("test_span_links.py::Test_Span_Links::test_span_started_with_link_v04", ["DD_TRACE_API_VERSION" => "v0.4"], |c| {
            let (first, a, b) = linked_pair(c)?;
            let link = link_of(&b, 0)?;
            check!(id_of(&link, "span_id") == first.span_id && id_of(&link, "trace_id") == first.trace_id, "{link}");
            let tid = meta(&a, "_dd.p.tid").ok_or("no _dd.p.tid")?;
            check!(link["trace_id_high"].as_u64() == u64::from_str_radix(&tid, 16).ok(), "{link}");
            let attrs = &link["attributes"];
            check!(attrs["foo"] == "bar" && attrs["array.0"] == "a" && attrs["array.1"] == "b" && attrs["array.2"] == "c", "{link}");
            Ok(())
        }),
        scenario!("test_span_links.py::Test_Span_Links::test_span_started_with_link_v05", ["DD_TRACE_API_VERSION" => "v0.5"], |c| {
            let (first, a, b) = linked_pair(c)?;
            let json = meta(&b, "_dd.span_links").ok_or("no _dd.span_links")?;
            let links: Vec<Value> = serde_json::from_str(&json).map_err(|e| e.to_string())?;
            check!(links.len() == 1, "{json}");
            let tid = meta(&a, "_dd.p.tid").unwrap_or_else(|| "0000000000000000".into());
            check!(links[0]["trace_id"] == format!("{tid}{:016x}", first.trace_id), "{json}");
            check!(links[0]["span_id"] == format!("{:016x}", first.span_id), "{json}");
            let attrs = &links[0]["attributes"];
            check!(attrs["foo"] == "bar" && attrs["array.0"] == "a" && attrs["array.2"] == "c", "{json}");
            Ok(())
        }),
        scenario!(
            "test_span_links.py::Test_Span_Links::test_span_link_from_distributed_datadog_headers",
            [],
            |c| {
                let root = c.root("root");
                let pid = c.extract(&crate::client::headers(&[
                    ("x-datadog-trace-id", "1234567890"),
                    ("x-datadog-parent-id", "9876543210"),
                    ("x-datadog-sampling-priority", "2"),
                    ("x-datadog-origin", "synthetics"),
                    ("x-datadog-tags", "_dd.p.dm=-4,_dd.p.tid=0000000000000010"),
                ]));
                c.span_call(
                    "/trace/span/add_link",
                    root,
                    json!({"parent_id": pid, "attributes": {"foo": "bar"}}),
                );
                c.finish(root);
                c.flush();
                let span = c.only_span()?;
                check!(id_of(&span, "parent_id") == 0 && id_of(&span, "trace_id") != 1234567890);
                check!(meta(&span, "_dd.origin").is_none(), "{span}");
                let link = link_of(&span, 0)?;
                check!(
                    id_of(&link, "span_id") == 9876543210 && id_of(&link, "trace_id") == 1234567890,
                    "{link}"
                );
                check!(link["trace_id_high"].as_u64() == Some(16), "{link}");
                check!(link["flags"].as_u64().unwrap_or(1) == 0x8000_0001, "{link}");
                check!(link["attributes"] == json!({"foo": "bar"}), "{link}");
                Ok(())
            }
        ),
        scenario!(
            "test_span_links.py::Test_Span_Links::test_span_link_from_distributed_w3c_headers",
            [],
            |c| {
                let root = c.root("root");
                let pid = c.extract(&crate::client::headers(&[
                    (
                        "traceparent",
                        "00-12345678901234567890123456789012-1234567890123456-01",
                    ),
                    ("tracestate", "foo=1,dd=t.dm:-4;s:2,bar=baz"),
                ]));
                c.span_call(
                    "/trace/span/add_link",
                    root,
                    json!({"parent_id": pid, "attributes": {}}),
                );
                c.finish(root);
                c.flush();
                let span = c.only_span()?;
                check!(id_of(&span, "parent_id") == 0);
                let link = link_of(&span, 0)?;
                check!(
                    id_of(&link, "span_id") == 0x1234567890123456
                        && id_of(&link, "trace_id") == 0x7890123456789012,
                    "{link}"
                );
                check!(
                    link["trace_id_high"].as_u64() == Some(0x1234567890123456),
                    "{link}"
                );
                let ts = link["tracestate"].as_str().ok_or("no tracestate")?;
                check!(ts.contains("foo=1") && ts.contains("bar=baz"), "{ts}");
                check!(link["flags"].as_u64() == Some(0x8000_0001), "{link}");
                check!(
                    link["attributes"].as_object().is_none_or(|a| a.is_empty()),
                    "{link}"
                );
                Ok(())
            }
        ),
        scenario!(
            "test_span_links.py::Test_Span_Links::test_span_with_attached_links",
            [],
            |c| {
                let first = c.root("first");
                let second = c.start_span(
                    "second",
                    Start {
                        parent_id: Some(first.span_id),
                        ..Start::default()
                    },
                );
                c.finish(second);
                c.finish(first);
                let third = c.root("third");
                c.span_call(
                    "/trace/span/add_link",
                    third,
                    json!({"parent_id": first.span_id, "attributes": {}}),
                );
                c.span_call("/trace/span/add_link", third, json!({"parent_id": second.span_id, "attributes": {"bools": [true, false], "nested": [1, 2]}}));
                c.finish(third);
                c.flush();
                let traces = c.wait_for_num_traces(2)?;
                let root = find_span(&traces, first.trace_id, first.span_id)?;
                let t = find_span(&traces, third.trace_id, third.span_id)?;
                let tid = meta(&root, "_dd.p.tid").unwrap_or_else(|| "0".into());
                let high = u64::from_str_radix(&tid, 16).unwrap_or_default();
                let (l0, l1) = (link_of(&t, 0)?, link_of(&t, 1)?);
                check!(
                    id_of(&l0, "span_id") == first.span_id
                        && id_of(&l0, "trace_id") == first.trace_id,
                    "{l0}"
                );
                check!(l0["trace_id_high"].as_u64().unwrap_or(0) == high, "{l0}");
                check!(
                    id_of(&l1, "span_id") == second.span_id
                        && l1["trace_id_high"].as_u64().unwrap_or(0) == high,
                    "{l1}"
                );
                check!(
                    l1["attributes"]
                        == json!({"bools.0": "true", "bools.1": "false", "nested.0": "1", "nested.1": "2"}),
                    "{l1}"
                );
                Ok(())
            }
        ),
    ]
}
