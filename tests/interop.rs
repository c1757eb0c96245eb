//! Distributed traces across languages: Datadog's Python tracer (`ddtrace`, from PyPI) and
//! dd-trace hand a trace to each other in the datadog, tracecontext and b3multi styles, and
//! the test agent receives one connected trace.

use dd_trace::propagation::{self, PropagationStyle};
use dd_trace::DatadogSpanExt;
use dd_trace_test_support::{run_ddtrace_peer, tracer, TestAgent};
use serde_json::Value;
use tracing::info_span;

const STYLES: [(&str, PropagationStyle); 3] = [
    ("datadog", PropagationStyle::Datadog),
    ("tracecontext", PropagationStyle::TraceContext),
    ("b3multi", PropagationStyle::B3Multi),
];

fn u128_of(v: &Value) -> u128 {
    v.as_str().unwrap().parse().unwrap()
}

fn span_named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} arrived: {spans:#?}"))
}

#[test]
fn traces_started_by_python_ddtrace_continue_here_in_every_style() {
    for (name, style) in STYLES {
        let agent = TestAgent::start();
        let sent = run_ddtrace_peer(
            &agent.http_url(),
            &["inject"],
            &[
                ("DD_TRACE_PROPAGATION_STYLE", name),
                ("DD_TRACE_SAMPLING_RULES", r#"[{"sample_rate":1}]"#),
                ("PEER_ORIGIN", "rum"),
                ("PEER_TRACE_TAGS", r#"{"_dd.p.usr.id":"dXNlcg=="}"#),
            ],
        );
        let headers: Vec<(String, String)> = sent["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let (dispatch, guard) = tracer(
            &agent.unix_url(),
            &[
                ("DD_SERVICE", "rust-svc"),
                ("DD_TRACE_PROPAGATION_STYLE", name),
            ],
        );
        let ids = tracing::dispatcher::with_default(&dispatch, || {
            let server = info_span!("rust.server", span.kind = "server");
            server.set_parent(propagation::extract(&headers).expect("a context"));
            server.in_scope(|| info_span!("rust.work").in_scope(|| {}));
            server.datadog_ids().unwrap()
        });
        drop(guard);

        let py_trace = u128_of(&sent["trace_id"]);
        let spans = agent.spans();
        let server = span_named(&spans, "rust.server");
        assert_eq!(
            ids.trace_id.to_u128(),
            py_trace,
            "{name}: the same 128-bit trace"
        );
        assert_eq!(server["trace_id"].as_u64(), Some(py_trace as u64), "{name}");
        assert_eq!(
            server["parent_id"].as_u64().unwrap().to_string(),
            sent["span_id"].as_str().unwrap(),
            "{name}: the Python span is the parent"
        );
        assert_eq!(server["metrics"]["_sampling_priority_v1"], 2.0, "{name}");
        let client = span_named(&spans, "py.client");
        assert_eq!(
            client["trace_id"], server["trace_id"],
            "{name}: one trace at the agent"
        );
        if style != PropagationStyle::B3Multi {
            // B3 carries neither origin nor Datadog tags.
            assert_eq!(server["meta"]["_dd.origin"], "rum", "{name}");
            let work = span_named(&spans, "rust.work");
            let first = [server, work]
                .into_iter()
                .find(|s| s["meta"].get("_dd.p.usr.id").is_some())
                .unwrap_or_else(|| panic!("{name}: _dd.p.usr.id on the chunk: {spans:#?}"));
            assert_eq!(first["meta"]["_dd.p.usr.id"], "dXNlcg==", "{name}");
            assert_eq!(
                first["meta"]["_dd.p.dm"], "-3",
                "{name}: the upstream decision maker"
            );
        }
        agent.assert_checks_passed();
    }
}

/// The upstream trace the Rust side continues in the datadog and tracecontext styles: 128 bits,
/// `_dd.p.tid` 6638b0e800000000 above 1311768467463790320, from the upstream span 77.
const UPSTREAM_TRACE: u128 = 0x6638_b0e8_0000_0000_1234_5678_9abc_def0;
const UPSTREAM_PARENT: u64 = 77;

/// The headers of an upstream that sent an origin and a `_dd.p.usr.id` tag, in the form `style`
/// reads, with what must reach Python: the priority and the `_dd.p.dm` decision maker. B3
/// carries neither origin nor Datadog tags, so there the trace starts here (no headers).
fn upstream_in(style: &str) -> (Vec<(String, String)>, i64, Option<&'static str>) {
    match style {
        // No priority: our rule (rate 1) decides.
        "datadog" => (
            vec![
                (
                    "x-datadog-trace-id".into(),
                    (UPSTREAM_TRACE as u64).to_string(),
                ),
                ("x-datadog-parent-id".into(), UPSTREAM_PARENT.to_string()),
                ("x-datadog-origin".into(), "synthetics".into()),
                (
                    "x-datadog-tags".into(),
                    format!(
                        "_dd.p.usr.id=dXNlcg==,_dd.p.tid={:016x}",
                        (UPSTREAM_TRACE >> 64) as u64
                    ),
                ),
            ],
            2,
            Some("-3"),
        ),
        // W3C always carries a decision (the sampled flag): the upstream's USER_KEEP, made by
        // its mechanism 4, which must survive as such (our rule would say -3). `=` is `~` in
        // the `dd=` member.
        "tracecontext" => (
            vec![
                (
                    "traceparent".into(),
                    format!("00-{UPSTREAM_TRACE:032x}-{UPSTREAM_PARENT:016x}-01"),
                ),
                (
                    "tracestate".into(),
                    "dd=s:2;o:synthetics;t.dm:-4;t.usr.id:dXNlcg~~".into(),
                ),
            ],
            2,
            Some("-4"),
        ),
        _ => (Vec::new(), 2, None),
    }
}

#[test]
fn traces_started_here_continue_in_python_ddtrace_in_every_style() {
    for (name, _) in STYLES {
        let agent = TestAgent::start();
        let (dispatch, guard) = tracer(
            &agent.unix_url(),
            &[
                ("DD_SERVICE", "rust-svc"),
                ("DD_TRACE_PROPAGATION_STYLE", name),
                ("DD_TRACE_SAMPLING_RULES", r#"[{"sample_rate":1}]"#),
            ],
        );
        // With the datadog and tracecontext styles, an upstream that sent an origin and a tag
        // in that style: both must survive through us. With b3multi, the trace starts here.
        let (upstream, priority, dm) = upstream_in(name);
        let continued = !upstream.is_empty();
        let (headers, client_id, trace_id) = tracing::dispatcher::with_default(&dispatch, || {
            let root = info_span!("rust.root");
            if continued {
                root.set_parent(
                    propagation::extract(&upstream)
                        .unwrap_or_else(|| panic!("{name}: a context from {upstream:?}")),
                );
            }
            let _r = root.enter();
            let client = info_span!("rust.client", span.kind = "client");
            let mut out: Vec<(String, String)> = Vec::new();
            client.inject_context(&mut out);
            let ids = client.datadog_ids().unwrap();
            (out, ids.span_id.to_u64(), ids.trace_id)
        });
        drop(guard);
        if continued {
            assert_eq!(
                trace_id.to_u128(),
                UPSTREAM_TRACE,
                "{name}: the upstream's 128-bit trace"
            );
        }
        let headers_json = serde_json::to_string(
            &headers
                .iter()
                .cloned()
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .unwrap();
        let seen = run_ddtrace_peer(
            &agent.http_url(),
            &["extract", &headers_json],
            &[("DD_TRACE_PROPAGATION_STYLE", name)],
        );
        assert_eq!(
            u128_of(&seen["trace_id"]),
            trace_id.to_u128(),
            "{name}: {headers:?}"
        );
        assert_eq!(
            seen["parent_id"].as_str().unwrap(),
            client_id.to_string(),
            "{name}"
        );
        assert_eq!(seen["priority"], priority, "{name}: {headers:?}");
        if continued {
            assert_eq!(seen["origin"], "synthetics", "{name}: {headers:?}");
            assert_eq!(
                seen["trace_tags"]["_dd.p.usr.id"], "dXNlcg==",
                "{name}: {headers:?}"
            );
        }
        if let Some(dm) = dm {
            assert_eq!(
                seen["trace_tags"]["_dd.p.dm"], dm,
                "{name}: the decision maker, {headers:?}"
            );
        }
        let spans = agent.spans();
        let py = span_named(&spans, "py.server");
        let root = span_named(&spans, "rust.root");
        let client = span_named(&spans, "rust.client");
        assert_eq!(
            py["trace_id"], client["trace_id"],
            "{name}: one trace at the agent"
        );
        assert_eq!(py["parent_id"], client["span_id"], "{name}");
        // What each side sent the agent: its chunk's priority, origin and propagated tags.
        assert_eq!(
            root["metrics"]["_sampling_priority_v1"], priority as f64,
            "{name}"
        );
        assert_eq!(
            py["metrics"]["_sampling_priority_v1"], priority as f64,
            "{name}"
        );
        if continued {
            assert_eq!(
                root["trace_id"].as_u64(),
                Some(UPSTREAM_TRACE as u64),
                "{name}"
            );
            assert_eq!(root["parent_id"].as_u64(), Some(UPSTREAM_PARENT), "{name}");
            for span in [root, client, py] {
                assert_eq!(
                    span["meta"]["_dd.origin"], "synthetics",
                    "{name}: origin on {}",
                    span["name"]
                );
            }
            let first = [root, client]
                .into_iter()
                .find(|s| s["meta"].get("_dd.p.usr.id").is_some())
                .unwrap_or_else(|| panic!("{name}: _dd.p.usr.id on our chunk: {spans:#?}"));
            assert_eq!(first["meta"]["_dd.p.usr.id"], "dXNlcg==", "{name}");
            assert_eq!(first["meta"]["_dd.p.dm"], dm.unwrap(), "{name}");
            assert_eq!(py["meta"]["_dd.p.usr.id"], "dXNlcg==", "{name}: {py:#?}");
            assert_eq!(py["meta"]["_dd.p.dm"], dm.unwrap(), "{name}: {py:#?}");
        }
        agent.assert_checks_passed();
    }
}
