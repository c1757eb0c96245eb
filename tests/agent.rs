//! End-to-end tests against Datadog's real `ddapm-test-agent`, over its Unix socket and TCP,
//! with the agent's header checks enabled.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use dd_trace_test_support::{runtime_with, tracer, TestAgent};
use serde_json::Value;
use tracing::instrument::WithSubscriber;
use tracing::{info_span, Instrument};

const KNUTH: u64 = 1_111_111_111_111_111_111;

fn by_name(spans: &[Value]) -> HashMap<String, Value> {
    spans
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

fn parent_of<'a>(spans: &'a HashMap<String, Value>, child: &str) -> &'a str {
    let parent_id = &spans[child]["parent_id"];
    spans
        .iter()
        .find(|(_, s)| &s["span_id"] == parent_id)
        .map(|(n, _)| n.as_str())
        .unwrap_or_else(|| panic!("{child}'s parent {parent_id} did not arrive"))
}

#[test]
fn nested_spans_across_threads_and_async_tasks_arrive_over_the_unix_socket() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[
            ("DD_SERVICE", "checkout"),
            ("DD_ENV", "test"),
            ("DD_VERSION", "1.2.3"),
            ("DD_TAGS", "team:payments,tier:1"),
        ],
    );
    let runtime = runtime_with(&dispatch);
    tracing::dispatcher::with_default(&dispatch, || {
        let root = info_span!("request", http.method = "GET");
        let _entered = root.enter();
        info_span!("step").in_scope(|| {});
        let d = dispatch.clone();
        let parent = root.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&d, || {
                let work = info_span!(parent: &parent, "thread.work");
                let _e = work.enter();
                info_span!("thread.inner").in_scope(|| {});
            })
        })
        .join()
        .unwrap();
        let task = async {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
            info_span!("task.inner").in_scope(|| {});
        }
        .instrument(info_span!("task.work"))
        .with_subscriber(dispatch.clone());
        runtime.block_on(async { tokio::spawn(task).await.unwrap() });
    });
    drop(guard);

    let traces = agent.traces();
    assert_eq!(traces.len(), 1, "{traces:#?}");
    let spans = by_name(&traces[0]);
    assert_eq!(spans.len(), 6, "{:?}", spans.keys());
    for (child, parent) in [
        ("step", "request"),
        ("thread.work", "request"),
        ("thread.inner", "thread.work"),
        ("task.work", "request"),
        ("task.inner", "task.work"),
    ] {
        assert_eq!(parent_of(&spans, child), parent, "parent of {child}");
    }
    assert_eq!(spans["request"]["parent_id"], 0);
    let trace_ids: HashSet<&Value> = spans.values().map(|s| &s["trace_id"]).collect();
    assert_eq!(trace_ids.len(), 1);
    let span_ids: HashSet<u64> = spans
        .values()
        .map(|s| s["span_id"].as_u64().unwrap())
        .collect();
    assert_eq!(span_ids.len(), 6);
    assert!(!span_ids.contains(&0));
    for s in spans.values() {
        assert_eq!(s["service"], "checkout");
        assert_eq!(s["meta"]["env"], "test");
        assert_eq!(s["meta"]["version"], "1.2.3");
        assert_eq!(s["meta"]["team"], "payments");
        assert_eq!(s["meta"]["tier"], "1");
        assert!(s["start"].as_i64().unwrap() > 1_600_000_000_000_000_000);
    }
    // The trace's high 64 bits: start seconds in the top 32 bits, on the first span.
    let first = &traces[0][0];
    let tid = first["meta"]["_dd.p.tid"]
        .as_str()
        .expect("_dd.p.tid on the first span");
    assert_eq!(tid.len(), 16);
    assert!(tid.ends_with("00000000"), "{tid}");
    assert_eq!(first["metrics"]["_sampling_priority_v1"], 1.0);
    assert_eq!(spans["request"]["metrics"]["_dd.top_level"], 1.0);
    assert_eq!(spans["request"]["meta"]["language"], "rust");
    // Children end before their parents here, and nest inside them in time.
    let end = |s: &Value| s["start"].as_i64().unwrap() + s["duration"].as_i64().unwrap();
    assert!(end(&spans["task.inner"]) <= end(&spans["task.work"]));
    assert!(spans["task.work"]["start"].as_i64() >= spans["request"]["start"].as_i64());
    agent.assert_checks_passed();
}

#[derive(Debug)]
struct Declined;
impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}
impl std::error::Error for Declined {}

#[tracing::instrument(err)]
fn charge() -> Result<(), Declined> {
    Err(Declined)
}

#[test]
fn errors_services_links_and_recorded_fields_arrive_over_tcp() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.http_url(),
        &[("DD_SERVICE", "web"), ("DD_VERSION", "7")],
    );
    tracing::dispatcher::with_default(&dispatch, || {
        let first = info_span!("first");
        first.in_scope(|| {});
        let root = info_span!(
            "request",
            resource.name = "GET /users/{id}",
            span.type = "web",
            span.kind = "server",
            http.status_code = tracing::field::Empty,
            user.id = 42u64,
        );
        root.follows_from(&first);
        root.in_scope(|| {
            let _ = charge();
            info_span!("db", service.name = "web-db", span.kind = "client").in_scope(|| {});
            info_span!("flagged", error = true).in_scope(|| {});
        });
        root.record("http.status_code", 503);
    });
    drop(guard);

    let spans: Vec<Value> = agent.spans();
    let spans = by_name(&spans);
    let request = &spans["request"];
    assert_eq!(request["resource"], "GET /users/{id}");
    assert_eq!(request["type"], "web");
    assert_eq!(request["meta"]["span.kind"], "server");
    assert_eq!(request["meta"]["http.status_code"], "503");
    assert_eq!(request["metrics"]["user.id"], 42.0);

    let charge = &spans["charge"];
    assert_eq!(charge["error"], 1);
    assert_eq!(charge["meta"]["error.message"], "card declined");
    assert_eq!(charge["resource"], "charge");
    assert_eq!(spans["flagged"]["error"], 1);
    assert_eq!(request["error"], 0);

    let db = &spans["db"];
    assert_eq!(db["service"], "web-db");
    assert_eq!(db["meta"]["_dd.base_service"], "web");
    assert!(db["meta"].get("version").is_none());
    assert_eq!(db["metrics"]["_dd.top_level"], 1.0);
    assert_eq!(spans["charge"]["meta"]["version"], "7");
    assert!(spans["charge"]["metrics"].get("_dd.top_level").is_none());

    let first = &spans["first"];
    assert_ne!(first["trace_id"], request["trace_id"]);
    let links = request["span_links"].as_array().expect("span_links");
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["trace_id"], first["trace_id"]);
    assert_eq!(links[0]["span_id"], first["span_id"]);
    assert_eq!(links[0]["flags"], 0x8000_0001u64);
    agent.assert_checks_passed();
}

#[test]
fn nothing_is_lost_when_the_guard_drops_right_after_the_last_span() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[("DD_SERVICE", "burst")]);
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..500u64 {
            info_span!("root", i).in_scope(|| {
                info_span!("a").in_scope(|| info_span!("b").in_scope(|| {}));
            });
        }
    });
    let status = guard.status();
    drop(guard);
    assert_eq!(status.counters.spans_dropped_queue_full, 0);
    let traces = agent.traces();
    assert_eq!(traces.len(), 500);
    assert_eq!(traces.iter().map(Vec::len).sum::<usize>(), 1500);
    agent.assert_checks_passed();
}

#[test]
fn the_host_reaches_the_agent_on_each_local_root_when_asked() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[
            ("DD_SERVICE", "hosted"),
            ("DD_TRACE_REPORT_HOSTNAME", "true"),
        ],
    );
    tracing::dispatcher::with_default(&dispatch, || {
        info_span!("root").in_scope(|| info_span!("child").in_scope(|| {}));
    });
    guard.flush().unwrap();
    let spans = by_name(&agent.traces().concat());
    let host = spans["root"]["meta"]["_dd.hostname"]
        .as_str()
        .expect("_dd.hostname");
    assert!(!host.is_empty() && host != "unknown", "{host}");
    assert!(spans["child"]["meta"].get("_dd.hostname").is_none());
    let shown = guard.status().configuration;
    let setting = shown
        .iter()
        .find(|s| s.name == "DD_TRACE_REPORT_HOSTNAME")
        .unwrap();
    assert_eq!(
        (setting.value.as_str(), setting.origin.as_str()),
        ("true", "env_var")
    );
    agent.assert_checks_passed();
}

#[test]
fn disabled_tracing_sends_nothing() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[("DD_TRACE_ENABLED", "false")]);
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..50 {
            info_span!("root").in_scope(|| info_span!("child").in_scope(|| {}));
        }
    });
    assert_eq!(guard.flush().map(|s| s.spans_sent()), Ok(0));
    assert!(!guard.status().enabled);
    drop(guard);
    // The agent saw no request at all.
    assert!(agent.requests().is_empty());
    assert!(agent.traces().is_empty());
}

#[test]
fn sample_rate_decisions_follow_knuth_and_every_chunk_is_still_sent() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.http_url(),
        &[
            ("DD_TRACE_SAMPLE_RATE", "0.5"),
            ("DD_TRACE_RATE_LIMIT", "100000"),
        ],
    );
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..300 {
            info_span!("root").in_scope(|| info_span!("child").in_scope(|| {}));
        }
    });
    drop(guard);
    let traces = agent.traces();
    assert_eq!(traces.len(), 300);
    let threshold = (0.5 * u64::MAX as f64) as u64;
    let (mut kept, mut dropped) = (0, 0);
    for t in &traces {
        let root = t.iter().find(|s| s["parent_id"] == 0).expect("root");
        let id = root["trace_id"].as_u64().unwrap();
        let priority = root["metrics"]["_sampling_priority_v1"].as_f64().unwrap();
        assert_eq!(root["metrics"]["_dd.rule_psr"], 0.5);
        if id.wrapping_mul(KNUTH) <= threshold {
            assert_eq!(priority, 2.0, "trace {id}");
            // The limiter saw only the kept traces, and allowed them all.
            assert_eq!(root["metrics"]["_dd.limit_psr"], 1.0);
            kept += 1;
        } else {
            assert_eq!(priority, -1.0, "trace {id}");
            assert!(root["metrics"].get("_dd.limit_psr").is_none());
            dropped += 1;
        }
        let first = &t[0];
        let dm = first["meta"].get("_dd.p.dm").and_then(Value::as_str);
        assert_eq!(dm, (priority > 0.0).then_some("-3"));
        assert_eq!(first["meta"]["_dd.p.ksr"], "0.5");
    }
    // Both outcomes occur (each has probability 2^-300 of not occurring).
    assert!(kept > 0 && dropped > 0);
    agent.assert_checks_passed();
}

#[test]
fn requests_carry_the_spec_headers() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[]);
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..3 {
            info_span!("root").in_scope(|| {});
        }
    });
    drop(guard);
    let requests = agent.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let headers: HashMap<String, String> = r["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(headers["content-type"], "application/msgpack");
        assert_eq!(headers["datadog-meta-lang"], "rust");
        assert_eq!(
            headers["datadog-meta-tracer-version"],
            dd_trace::TRACER_VERSION
        );
        assert!(headers["datadog-meta-lang-version"].starts_with("1."));
        assert_eq!(headers["datadog-client-computed-top-level"], "yes");
        assert_eq!(headers["x-datadog-trace-count"], "3");
    }
    agent.assert_checks_passed();
}

#[test]
fn partial_flush_sends_finished_spans_of_a_trace_still_open() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[
            ("DD_TRACE_PARTIAL_FLUSH_ENABLED", "true"),
            ("DD_TRACE_PARTIAL_FLUSH_MIN_SPANS", "5"),
        ],
    );
    let root = tracing::dispatcher::with_default(&dispatch, || {
        let root = info_span!("long.job");
        root.in_scope(|| {
            for i in 0..12 {
                info_span!("item", i).in_scope(|| {});
            }
        });
        root
    });
    guard.flush().unwrap();
    assert_eq!(
        agent.spans().len(),
        10,
        "two chunks of five while the root is open"
    );
    drop(root);
    guard.flush().unwrap();
    let spans = agent.spans();
    assert_eq!(spans.len(), 13);
    assert_eq!(guard.status().counters.partial_flushes, 2);
    let root = spans.iter().find(|s| s["name"] == "long.job").unwrap();
    assert_eq!(root["metrics"]["_sampling_priority_v1"], 1.0);
    drop(guard);
    agent.assert_checks_passed();
}

#[derive(Debug)]
struct QuotaExceeded;
impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("quota exceeded")
    }
}
impl std::error::Error for QuotaExceeded {}

/// A request handler as a service writes one: tags whose keys come from the request, the
/// resource once the route is known, an error, and the trace id for the response.
#[tracing::instrument(name = "http.request", skip_all, fields(span.kind = "server"))]
async fn handle(tenant: &str, flags: &[(&str, bool)]) -> String {
    use dd_trace::DatadogSpanExt;
    tokio::task::yield_now().await;
    let span = tracing::Span::current();
    span.set_tag(format!("tenant.{tenant}.plan"), "gold");
    for (flag, on) in flags {
        span.set_tag(format!("feature_flag.{flag}"), *on);
    }
    span.set_tag("quota.remaining", 0);
    span.set_resource("POST /tenants/{tenant}/orders");
    span.set_error(&QuotaExceeded);
    let ids = span
        .datadog_ids()
        .expect("the handler's span has Datadog ids");
    ids.trace_id.to_string() // e.g. an `x-trace-id` response header
}

#[test]
fn tags_with_runtime_keys_set_in_a_request_handler_arrive_at_the_agent() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[("DD_SERVICE", "tenants")]);
    let runtime = runtime_with(&dispatch);
    let header = runtime.block_on(async {
        tokio::spawn(
            handle("acme", &[("checkout_v2", true), ("dark_mode", false)])
                .with_subscriber(dispatch.clone()),
        )
        .await
        .unwrap()
    });
    drop(runtime);
    drop(guard);

    let spans = agent.spans();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let s = &spans[0];
    assert_eq!(s["meta"]["tenant.acme.plan"], "gold");
    assert_eq!(s["meta"]["feature_flag.checkout_v2"], "true");
    assert_eq!(s["meta"]["feature_flag.dark_mode"], "false");
    assert_eq!(s["metrics"]["quota.remaining"], 0.0);
    assert_eq!(s["resource"], "POST /tenants/{tenant}/orders");
    assert_eq!(s["error"], 1);
    assert_eq!(s["meta"]["error.message"], "quota exceeded");
    assert_eq!(s["meta"]["error.type"], "agent::QuotaExceeded");
    assert_eq!(s["meta"]["span.kind"], "server");
    // The id the handler returned is the trace's full 128-bit id.
    let high = s["meta"]["_dd.p.tid"].as_str().unwrap();
    let low = s["trace_id"].as_u64().unwrap();
    assert_eq!(header, format!("{high}{low:016x}"));
    agent.assert_checks_passed();
}

/// Makes `n` one-span traces named `name` and flushes them.
fn send_traces(dispatch: &tracing::Dispatch, guard: &dd_trace::DatadogGuard, name: &str, n: usize) {
    tracing::dispatcher::with_default(dispatch, || {
        for _ in 0..n {
            info_span!("t", operation.name = name).in_scope(|| {});
        }
    });
    guard.flush().unwrap();
}

#[test]
fn the_agents_rates_decide_the_traces_sent_after_its_first_reply() {
    let agent = TestAgent::start();
    agent.reply_with_rates(r#"{"service:rated,env:test":0.5}"#);
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[("DD_SERVICE", "rated"), ("DD_ENV", "test")],
    );
    send_traces(&dispatch, &guard, "before", 5);
    assert_eq!(
        guard
            .status()
            .sampling
            .applied_agent_rates
            .get("service:rated,env:test"),
        Some(&0.5)
    );
    send_traces(&dispatch, &guard, "after", 200);
    drop(guard);

    let spans = agent.spans();
    assert_eq!(
        spans.len(),
        205,
        "the 5 traces before the reply and the 200 after"
    );
    let threshold = (0.5 * u64::MAX as f64) as u64;
    let (mut kept, mut dropped) = (0, 0);
    for s in &spans {
        let priority = s["metrics"]["_sampling_priority_v1"].as_f64().unwrap();
        if s["name"] == "before" {
            assert_eq!(priority, 1.0, "kept by default before the agent answered");
            assert_eq!(s["meta"]["_dd.p.dm"], "-0");
            assert!(s["metrics"].get("_dd.agent_psr").is_none());
            continue;
        }
        let id = s["trace_id"].as_u64().unwrap();
        let expected = if id.wrapping_mul(KNUTH) <= threshold {
            kept += 1;
            1.0
        } else {
            dropped += 1;
            0.0
        };
        assert_eq!(priority, expected, "trace {id}");
        assert_eq!(s["metrics"]["_dd.agent_psr"], 0.5);
        assert_eq!(s["meta"]["_dd.p.ksr"], "0.5");
        let dm = s["meta"].get("_dd.p.dm").and_then(Value::as_str);
        assert_eq!(dm, (expected > 0.0).then_some("-1"));
    }
    assert_eq!(kept + dropped, 200);
    assert!(kept > 0 && dropped > 0);
    agent.assert_checks_passed();
}

#[test]
fn manual_decisions_and_span_rules_arrive_at_the_agent_as_the_spec_tags_them() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[
            ("DD_TRACE_SAMPLE_RATE", "0"),
            (
                "DD_SPAN_SAMPLING_RULES",
                r#"[{"name":"db.*","sample_rate":1.0,"max_per_second":100}]"#,
            ),
            (
                "DD_TRACE_SAMPLING_RULES",
                r#"[{"resource":"GET /health","sample_rate":1},{"sample_rate":"bad"}]"#,
            ),
        ],
    );
    tracing::dispatcher::with_default(&dispatch, || {
        info_span!("kept").in_scope(|| {
            info_span!("db.query").in_scope(|| {});
            dd_trace::DatadogSpanExt::keep_trace(&tracing::Span::current());
        });
        info_span!("dropped", manual.drop = true).in_scope(|| {});
        info_span!("sampled.out").in_scope(|| info_span!("db.query").in_scope(|| {}));
        info_span!("health", resource.name = "GET /health").in_scope(|| {});
    });
    drop(guard);
    let traces = agent.traces();
    let root = |name: &str| -> Value {
        traces
            .iter()
            .flatten()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} arrived"))
            .clone()
    };
    assert_eq!(root("kept")["metrics"]["_sampling_priority_v1"], 2.0);
    assert_eq!(root("dropped")["metrics"]["_sampling_priority_v1"], -1.0);
    assert!(root("dropped")["meta"].get("manual.drop").is_none());
    let sampled_out = root("sampled.out");
    assert_eq!(sampled_out["metrics"]["_sampling_priority_v1"], -1.0);
    assert_eq!(sampled_out["metrics"]["_dd.rule_psr"], 0.0);
    // The second rule was invalid and skipped; the first still applies.
    let health = root("health");
    assert_eq!(health["metrics"]["_sampling_priority_v1"], 2.0);
    assert_eq!(health["metrics"]["_dd.rule_psr"], 1.0);
    assert_eq!(health["metrics"]["_dd.limit_psr"], 1.0);
    // Span rules only act on dropped traces.
    let db: Vec<&Value> = traces
        .iter()
        .flatten()
        .filter(|s| s["name"] == "db.query")
        .collect();
    assert_eq!(db.len(), 2);
    let by_trace = |root: &Value| {
        db.iter()
            .find(|s| s["trace_id"] == root["trace_id"])
            .copied()
            .unwrap()
            .clone()
    };
    let in_dropped = by_trace(&sampled_out);
    assert_eq!(in_dropped["metrics"]["_dd.span_sampling.mechanism"], 8.0);
    assert_eq!(in_dropped["metrics"]["_dd.span_sampling.rule_rate"], 1.0);
    assert_eq!(
        in_dropped["metrics"]["_dd.span_sampling.max_per_second"],
        100.0
    );
    let in_kept = by_trace(&root("kept"));
    assert!(in_kept["metrics"]
        .get("_dd.span_sampling.mechanism")
        .is_none());
    agent.assert_checks_passed();
}

#[test]
fn the_rate_limiter_caps_rule_kept_traces_and_reports_its_effective_rate() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[("DD_TRACE_SAMPLE_RATE", "1"), ("DD_TRACE_RATE_LIMIT", "10")],
    );
    send_traces(&dispatch, &guard, "burst", 40);
    drop(guard);
    let spans = agent.spans();
    assert_eq!(spans.len(), 40);
    let kept: Vec<&Value> = spans
        .iter()
        .filter(|s| s["metrics"]["_sampling_priority_v1"] == 2.0)
        .collect();
    // A full bucket of 10, and a token more for each 0.1 s the burst took.
    assert!((10..=14).contains(&kept.len()), "{} kept", kept.len());
    for s in &spans {
        // `_dd.p.dm` only while the priority is positive (kept), and then it is the rule's.
        let kept = s["metrics"]["_sampling_priority_v1"].as_f64().unwrap() > 0.0;
        assert_eq!(s["meta"]["_dd.p.dm"].as_str(), kept.then_some("-3"), "{s}");
        let psr = s["metrics"]["_dd.limit_psr"].as_f64().unwrap();
        assert!(psr > 0.0 && psr <= 1.0, "{psr}");
        assert_eq!(s["metrics"]["_dd.rule_psr"], 1.0);
    }
    let last = spans
        .iter()
        .map(|s| s["metrics"]["_dd.limit_psr"].as_f64().unwrap());
    let lowest = last.fold(1.0, f64::min);
    assert!(
        lowest <= 14.0 / 40.0 + 1e-9,
        "the effective rate fell to kept/seen: {lowest}"
    );
    agent.assert_checks_passed();
}

#[test]
fn span_events_arrive_natively_on_their_span_when_the_agent_reads_them() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[("DD_TRACE_SPAN_EVENTS_LEVEL", "info")]);
    // The agent's /info (which lists span_events) is asked when the worker starts.
    dd_trace_test_support::wait_for_agent_info(&guard.status_handle());
    tracing::dispatcher::with_default(&dispatch, || {
        info_span!("request").in_scope(|| {
            info_span!("inner").in_scope(|| tracing::info!(attempt = 2, ok = true, "retried"));
            tracing::warn!(code = "E42", "degraded");
        });
    });
    drop(guard);
    let spans = agent.spans();
    let events_of = |name: &str| -> Vec<Value> {
        let span = spans.iter().find(|s| s["name"] == name).unwrap();
        assert!(
            span["meta"].get("events").is_none(),
            "native, not the meta fallback"
        );
        span["span_events"].as_array().cloned().unwrap_or_default()
    };
    let inner = events_of("inner");
    assert_eq!(inner.len(), 1, "{spans:#?}");
    assert_eq!(inner[0]["name"], "retried");
    let attributes = &inner[0]["attributes"];
    assert!(
        attributes.to_string().contains("attempt") && attributes.to_string().contains("ok"),
        "{inner:#?}"
    );
    // Typed values, as the agent decodes them.
    assert_eq!(attributes["attempt"]["int_value"], 2, "{attributes}");
    assert_eq!(attributes["ok"]["bool_value"], true, "{attributes}");
    assert!(inner[0]["time_unix_nano"].as_u64().unwrap() > 1_600_000_000_000_000_000);
    let request = events_of("request");
    assert_eq!(request.len(), 1);
    assert_eq!(request[0]["name"], "degraded");
    agent.assert_checks_passed();
}

#[test]
fn events_added_from_code_travel_natively_without_the_events_level() {
    use dd_trace::DatadogSpanExt;
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[]);
    dd_trace_test_support::wait_for_agent_info(&guard.status_handle());
    tracing::dispatcher::with_default(&dispatch, || {
        let span = info_span!("checkout");
        span.add_event(
            "cache.miss",
            std::time::SystemTime::now(),
            &[("key", dd_trace::TagValue::from("cart:7"))],
        );
        // Without DD_TRACE_SPAN_EVENTS_LEVEL, `tracing` events do not become span events.
        span.in_scope(|| tracing::warn!("not an event of the span"));
    });
    drop(guard);
    let spans = agent.spans();
    assert!(spans[0]["meta"].get("events").is_none(), "{spans:#?}");
    let events = spans[0]["span_events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["name"], "cache.miss");
    assert_eq!(events[0]["attributes"]["key"]["string_value"], "cart:7");
    agent.assert_checks_passed();
}

/// Collects what a `fmt` layer writes.
#[derive(Clone, Default)]
struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn json_text_and_log_crate_lines_name_spans_the_agent_received() {
    use dd_trace::DatadogSpanExt;
    use tracing_subscriber::prelude::*;
    let agent = TestAgent::start();
    let url = agent.unix_url();
    let (datadog, guard) =
        dd_trace_test_support::builder(&[("DD_TRACE_AGENT_URL", &url), ("DD_SERVICE", "logs-svc")])
            .with_startup_logs(false)
            .build()
            .unwrap();
    let (json, text) = (Lines::default(), Lines::default());
    let (json_out, text_out) = (json.clone(), text.clone());
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(dd_trace_log::JsonFormat::new(&datadog))
                .with_writer(move || json_out.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(dd_trace_log::WithCorrelationIds::new(
                    tracing_subscriber::fmt::format(),
                    &datadog,
                ))
                .with_ansi(false)
                .with_writer(move || text_out.clone()),
        )
        .with(datadog);
    let _ = tracing_log::LogTracer::init();
    let mut own_stack = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
        info_span!("local").in_scope(|| {
            tracing::info!("tracing event");
            info_span!("child").in_scope(|| {
                log::info!(target: "a_log_crate", "log record");
                // A logging stack of the user's own reads the same values.
                own_stack.push(dd_trace_log::LogCorrelation::current().unwrap());
            });
        });
        let remote = info_span!("continued");
        let headers: Vec<(String, String)> = vec![
            ("x-datadog-trace-id".into(), "987654321".into()),
            ("x-datadog-parent-id".into(), "123".into()),
        ];
        remote.set_parent(dd_trace::propagation::extract(&headers).unwrap());
        remote.in_scope(|| {
            log::warn!(target: "a_log_crate", "after adoption");
            own_stack.push(dd_trace_log::LogCorrelation::current().unwrap());
        });
    });
    drop(guard);

    let spans = agent.spans();
    let received = |trace_id: &str, span_id: &str| -> &Value {
        dd_trace_test_support::span_named_by_log_ids(&spans, trace_id, span_id, "")
    };
    let json_lines: Vec<Value> = json
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json_lines.len(), 3);
    let mut names = Vec::new();
    for line in &json_lines {
        let span = received(
            line["dd.trace_id"].as_str().unwrap(),
            line["dd.span_id"].as_str().unwrap(),
        );
        names.push(span["name"].as_str().unwrap().to_string());
    }
    assert_eq!(names, ["local", "child", "continued"]);
    assert_eq!(
        json_lines[0]["dd.trace_id"].as_str().unwrap().len(),
        32,
        "a trace started here is 128-bit"
    );
    for (correlation, name) in own_stack.iter().zip(["child", "continued"]) {
        let span = received(
            correlation.trace_id.as_deref().unwrap(),
            correlation.span_id.as_deref().unwrap(),
        );
        assert_eq!(span["name"], name);
        assert_eq!(correlation.service.as_deref(), Some("logs-svc"));
    }
    assert_eq!(json_lines[1]["logger.name"], "a_log_crate");
    assert_eq!(
        json_lines[2]["dd.trace_id"], "987654321",
        "the remote trace, 64-bit"
    );
    let text_lines: Vec<String> = text.text().lines().map(str::to_string).collect();
    assert_eq!(text_lines.len(), 3);
    for (line, name) in text_lines.iter().zip(["local", "child", "continued"]) {
        let value = |key: &str| {
            line.split(' ')
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("{key} in {line}"))
        };
        let span = received(value("dd.trace_id="), value("dd.span_id="));
        assert_eq!(span["name"], name, "{line}");
        assert!(line.ends_with("dd.service=logs-svc"), "{line}");
    }
    agent.assert_checks_passed();
}

#[test]
fn client_side_stats_count_every_trace_and_unsampled_ones_stay_home() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[
            ("DD_SERVICE", "checkout"),
            ("DD_ENV", "test"),
            ("DD_TRACE_SAMPLE_RATE", "0"),
            ("DD_TRACE_STATS_COMPUTATION_ENABLED", "true"),
        ],
    );
    // The agent's /info (which lists /v0.6/stats and client_drop_p0s) turns stats on.
    let status = guard.status_handle();
    dd_trace_test_support::wait_for_agent_info(&status);
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..10 {
            info_span!("web.request", resource.name = "GET /cart")
                .in_scope(|| info_span!("helper").in_scope(|| {}));
        }
        info_span!("web.request", resource.name = "GET /cart", error = true)
            .in_scope(|| info_span!("helper").in_scope(|| {}));
    });
    guard.flush().unwrap();
    // Only the error trace was sent, saying what stayed home.
    let traces = agent.traces();
    assert_eq!(traces.len(), 1, "{traces:?}");
    assert_eq!(traces[0].len(), 2);
    let requests = agent.requests();
    let headers = &requests.last().expect("a trace request")["headers"];
    let header = |name: &str| {
        headers
            .as_object()
            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| v.as_str().map(str::to_string))
    };
    assert_eq!(
        header("Datadog-Client-Computed-Stats").as_deref(),
        Some("yes")
    );
    assert_eq!(
        header("Datadog-Client-Dropped-P0-Traces").as_deref(),
        Some("10")
    );
    assert_eq!(
        header("Datadog-Client-Dropped-P0-Spans").as_deref(),
        Some("20")
    );
    let c = status.status().counters;
    assert_eq!(
        (c.chunks_dropped_p0, c.spans_dropped_p0, c.spans_dropped()),
        (10, 20, 0)
    );
    // The stats count all eleven requests; helpers are neither top-level nor measured.
    let stats = agent.stats();
    assert_eq!(c.stats_payloads_sent, 1, "{stats:?}");
    let groups = TestAgent::stats_groups(&stats);
    assert_eq!(groups.len(), 1, "{groups:?}");
    let g = &groups[0];
    assert_eq!(
        (
            g["Service"].as_str(),
            g["Name"].as_str(),
            g["Resource"].as_str()
        ),
        (Some("checkout"), Some("web.request"), Some("GET /cart"))
    );
    assert_eq!(
        (
            g["Hits"].as_u64(),
            g["Errors"].as_u64(),
            g["TopLevelHits"].as_u64()
        ),
        (Some(11), Some(1), Some(11))
    );
    assert!(g["Duration"].as_u64().unwrap() > 0);
    assert_eq!(stats[0]["Env"], "test");
    agent.assert_checks_passed();
}

#[test]
fn client_side_stats_agree_with_the_spans_and_the_last_bucket_goes_out_at_shutdown() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[
            ("DD_SERVICE", "checkout"),
            ("DD_ENV", "test"),
            ("DD_TRACE_STATS_COMPUTATION_ENABLED", "true"),
        ],
    );
    dd_trace_test_support::wait_for_agent_info(&guard.status_handle());
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..12u64 {
            let failed = i % 4 == 0;
            info_span!(
                "web.request",
                resource.name = "GET /cart",
                span.kind = "server",
                http.status_code = if failed { 500 } else { 200 },
                error = failed
            )
            .in_scope(|| std::thread::sleep(Duration::from_millis(1 + i % 3)));
        }
        info_span!("web.request", resource.name = "GET /home").in_scope(|| {});
    });
    // No flush: the shutdown sends the bucket still open.
    drop(guard);
    let spans = agent.spans();
    assert_eq!(spans.len(), 13, "sampled traces are all sent");
    let stats = agent.stats();
    assert_eq!(stats.len(), 1, "one payload, at shutdown: {stats:?}");
    let groups = TestAgent::stats_groups(&stats);
    // What the spans the agent received imply, per (resource, HTTP status).
    for (resource, code) in [
        ("GET /cart", "200"),
        ("GET /cart", "500"),
        ("GET /home", ""),
    ] {
        let of: Vec<&Value> = spans
            .iter()
            .filter(|s| {
                s["resource"] == resource
                    && s["meta"]["http.status_code"].as_str().unwrap_or("") == code
            })
            .collect();
        let group = groups
            .iter()
            .find(|g| {
                g["Resource"] == resource
                    && g["HTTPStatusCode"].as_u64().unwrap() == code.parse::<u64>().unwrap_or(0)
            })
            .unwrap_or_else(|| panic!("no group for {resource} {code}: {groups:#?}"));
        let duration: u64 = of.iter().map(|s| s["duration"].as_u64().unwrap()).sum();
        let errors = of.iter().filter(|s| s["error"] == 1).count() as u64;
        assert_eq!(group["Hits"].as_u64(), Some(of.len() as u64), "{group}");
        assert_eq!(
            group["TopLevelHits"].as_u64(),
            Some(of.len() as u64),
            "{group}"
        );
        assert_eq!(group["Errors"].as_u64(), Some(errors), "{group}");
        assert_eq!(
            group["Duration"].as_u64(),
            Some(duration),
            "the spans' total: {group}"
        );
        // The agent decodes the latency sketches only to their size in bytes (their contents
        // are checked against the durations in the stats unit tests): an empty sketch takes
        // 24 bytes, one holding durations more.
        const EMPTY_SKETCH: u64 = 24;
        let size = |key: &str| group[key].as_u64().unwrap();
        assert_eq!(
            size("OkSummary") > EMPTY_SKETCH,
            errors < of.len() as u64,
            "{group}"
        );
        assert_eq!(size("ErrorSummary") > EMPTY_SKETCH, errors > 0, "{group}");
    }
    assert_eq!(groups.len(), 3, "{groups:#?}");
    agent.assert_checks_passed();
}

#[test]
fn the_newest_format_the_agent_offers_is_sent_and_reads_back_whole() {
    // Negotiated from /info: v1.0, the newest the test agent offers.
    every_field_reads_back_at_the_agent(None, "/v1.0/traces");
}

#[test]
fn a_forced_v0_5_payload_reads_back_whole_with_no_check_failing() {
    every_field_reads_back_at_the_agent(Some("0.5"), "/v0.5/traces");
}

#[test]
fn a_forced_v0_4_payload_reads_back_whole_with_no_check_failing() {
    every_field_reads_back_at_the_agent(Some("0.4"), "/v0.4/traces");
}

/// Sends a two-span trace in the format `forced` (or the negotiated one) and checks the agent
/// decoded every field, from `path`, with none of its checks failing.
fn every_field_reads_back_at_the_agent(forced: Option<&str>, path: &str) {
    let agent = TestAgent::start();
    let mut vars = vec![
        ("DD_SERVICE", "checkout"),
        ("DD_ENV", "test"),
        ("DD_VERSION", "1.2"),
    ];
    if let Some(version) = forced {
        vars.push(("DD_TRACE_AGENT_PROTOCOL_VERSION", version));
    }
    let (dispatch, guard) = tracer(&agent.unix_url(), &vars);
    let status = guard.status_handle();
    dd_trace_test_support::wait_for_agent_info(&status);
    let info = status.status().agent.info.expect("the test agent's /info");
    assert!(info.endpoints.iter().any(|e| e == path), "{info:?}");
    tracing::dispatcher::with_default(&dispatch, || {
        let root = info_span!(
            "web.request",
            resource.name = "GET /cart",
            span.kind = "server",
            http.status_code = 200
        );
        let _r = root.enter();
        info_span!("db.query", service.name = "postgres", span.type = "sql", error = true, rows = 3)
            .in_scope(|| {});
    });
    guard.flush().unwrap();
    let requests = agent.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r["url"].as_str().unwrap().ends_with(path)),
        "{requests:?}"
    );
    let spans = by_name(&agent.spans());
    let root = &spans["web.request"];
    assert_eq!(root["resource"], "GET /cart");
    assert_eq!(root["service"], "checkout");
    assert_eq!(root["meta"]["env"], "test");
    assert_eq!(root["meta"]["version"], "1.2");
    assert_eq!(root["meta"]["span.kind"], "server");
    assert_eq!(root["meta"]["http.status_code"], "200");
    assert_eq!(root["meta"]["language"], "rust");
    assert_eq!(root["metrics"]["_sampling_priority_v1"].as_f64(), Some(1.0));
    assert_eq!(root["meta"]["_dd.p.tid"].as_str().unwrap().len(), 16);
    let db = &spans["db.query"];
    assert_eq!(db["service"], "postgres");
    assert_eq!(db["type"], "sql");
    assert_eq!(db["error"], 1);
    assert_eq!(db["metrics"]["rows"], 3.0);
    assert_eq!(db["parent_id"], root["span_id"]);
    assert_eq!(db["trace_id"], root["trace_id"]);
    agent.assert_checks_passed();
}

#[test]
fn spans_written_with_opentelemetry_conventions_arrive_named_typed_and_without_secrets() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[("DD_SERVICE", "checkout")]);
    tracing::dispatcher::with_default(&dispatch, || {
        let root = info_span!(
            "handler",
            otel.kind = "server",
            http.request.method = "POST",
            http.route = "/charge",
            http.response.status_code = 503,
        );
        let _entered = root.enter();
        info_span!(
            "query",
            otel.kind = "client",
            db.system = "postgresql",
            db.query.text = "SELECT balance FROM accounts WHERE id = $1",
        )
        .in_scope(|| {});
        info_span!(
            "charge",
            otel.kind = "client",
            http.request.method = "POST",
            url.full = "https://api.example.com/v1/charge?token=SECRET123&amount=5",
            http.response.status_code = 402,
            otel.status_code = "ERROR",
        )
        .in_scope(|| {});
    });
    drop(guard);
    let traces = agent.traces();
    assert_eq!(traces.len(), 1, "{traces:#?}");
    let spans = by_name(&traces[0]);
    let server = &spans["http.server.request"];
    assert_eq!(server["resource"], "POST /charge");
    assert_eq!(server["type"], "web");
    assert_eq!(server["error"], 1);
    assert_eq!(server["meta"]["http.status_code"], "503");
    let db = &spans["postgresql.query"];
    assert_eq!(db["resource"], "SELECT balance FROM accounts WHERE id = $1");
    assert_eq!(db["type"], "sql");
    let client = &spans["http.client.request"];
    assert_eq!(client["type"], "http");
    assert_eq!(client["error"], 1);
    assert_eq!(
        client["meta"]["http.url"],
        "https://api.example.com/v1/charge?<redacted>&amount=5"
    );
    let raw = serde_json::to_string(&traces).unwrap();
    assert!(
        !raw.contains("SECRET123"),
        "the token never reaches the agent"
    );
}
