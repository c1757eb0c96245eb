//! Remote configuration and instrumentation telemetry against Datadog's real test agent: a
//! config set at the agent changes sampling, tags and log injection of the running tracer, is
//! acknowledged in the next poll, and is undone when the agent stops sending it; another
//! service's config is refused with its reason; telemetry tells the agent the configuration
//! with its origins, each remote change, the health metrics, and the end.

use std::time::Duration;

use dd_trace_test_support::{tracer_with, wait_until, TestAgent};
use serde_json::{json, Value};
use tracing::info_span;

const PATH: &str = "datadog/2/APM_TRACING/sampling-cfg/config";

fn apm_tracing(service: &str, env: &str, lib_config: Value) -> Value {
    json!({
        "action": "enable",
        "service_target": {"service": service, "env": env},
        "lib_config": lib_config,
    })
}

/// The apply state the tracer last reported for config `id`, and its error.
fn reported_state(agent: &TestAgent, id: &str) -> Option<(u64, String)> {
    agent.config_requests().into_iter().find_map(|r| {
        r["client"]["state"]["config_states"]
            .as_array()?
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| {
                (
                    c["apply_state"].as_u64().unwrap_or(0),
                    c["apply_error"].as_str().unwrap_or("").to_string(),
                )
            })
    })
}

#[test]
fn remote_configuration_steers_the_running_tracer_and_telemetry_reports_it() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer_with(
        &agent.unix_url(),
        &[
            ("DD_SERVICE", "shop"),
            ("DD_ENV", "prod"),
            ("DD_TAGS", "team:a"),
            ("DD_REMOTE_CONFIG_POLL_INTERVAL_SECONDS", "0.2"),
            ("DD_TELEMETRY_HEARTBEAT_INTERVAL", "0.5"),
        ],
        Duration::from_secs(3600),
    );
    let status = guard.status_handle();
    wait_until("the agent offering remote configuration", || {
        status.status().remote_config.offered == Some(true)
    });
    let trace = |name: &'static str| {
        tracing::dispatcher::with_default(&dispatch, || {
            info_span!("request", resource.name = name).in_scope(|| {});
        });
        guard.flush().expect("flushed");
        agent
            .spans()
            .into_iter()
            .find(|s| s["resource"] == name)
            .unwrap_or_else(|| panic!("{name} arrived"))
    };
    let before = trace("before");
    assert_eq!(before["meta"]["team"], "a");
    assert!(before["metrics"]["_sampling_priority_v1"].as_f64().unwrap() > 0.0);

    agent.set_remote_config(
        PATH,
        &apm_tracing(
            "shop",
            "prod",
            json!({
                "tracing_sampling_rate": 0.0,
                "tracing_tags": ["team:b", "from:remote"],
                "log_injection_enabled": false,
            }),
        ),
    );
    wait_until("the config applied", || {
        let s = status.status();
        s.remote_config.changes_applied >= 3
    });
    let during = trace("during");
    assert_eq!(during["meta"]["team"], "b");
    assert_eq!(during["meta"]["from"], "remote");
    assert!(during["metrics"]["_sampling_priority_v1"].as_f64().unwrap() < 0.0);
    assert_eq!(during["metrics"]["_dd.rule_psr"], 0.0);
    wait_until("the next poll acknowledging it", || {
        reported_state(&agent, "sampling-cfg").is_some_and(|(state, _)| state == 2)
    });
    let s = status.status();
    let sample_rate = s
        .configuration
        .iter()
        .find(|c| c.name == "DD_TRACE_SAMPLE_RATE")
        .unwrap();
    assert_eq!(sample_rate.origin.as_str(), "remote_config");
    let report = s.to_string();
    assert!(report.contains("APM_TRACING sampling-cfg"), "{report}");
    assert!(report.contains(": applied"), "{report}");

    // The agent now sends another service's config only (it replaces the first): refused,
    // and the first one's values are undone.
    agent.set_remote_config(
        "datadog/2/APM_TRACING/billing-cfg/config",
        &apm_tracing("billing", "prod", json!({"tracing_sampling_rate": 0.0})),
    );
    wait_until("the other service's config refused", || {
        reported_state(&agent, "billing-cfg").is_some_and(|(state, _)| state == 3)
    });
    let (_, why) = reported_state(&agent, "billing-cfg").unwrap();
    assert!(why.contains("billing"), "{why}");
    wait_until("the first config undone", || {
        status
            .status()
            .configuration
            .iter()
            .any(|c| c.name == "DD_TRACE_SAMPLE_RATE" && c.origin.as_str() == "default")
    });
    let after = trace("after");
    assert_eq!(after["meta"]["team"], "a");
    assert!(after["metrics"]["_sampling_priority_v1"].as_f64().unwrap() > 0.0);

    wait_until("a heartbeat with the health metrics", || {
        agent
            .telemetry_events()
            .iter()
            .any(|(kind, _, _)| kind == "generate-metrics")
    });
    drop(dispatch);
    drop(guard);

    // What telemetry told the agent.
    let requests = agent.telemetry();
    let first = requests
        .iter()
        .min_by_key(|r| r["seq_id"].as_u64())
        .expect("telemetry arrived");
    assert_eq!(first["request_type"], "app-started");
    assert_eq!(first["seq_id"], 1);
    assert_eq!(first["application"]["service_name"], "shop");
    assert_eq!(first["application"]["language_name"], "rust");
    let configuration = first["payload"]["configuration"].as_array().unwrap();
    let tags = configuration
        .iter()
        .find(|c| c["name"] == "DD_TAGS")
        .expect("DD_TAGS listed");
    assert_eq!(tags["origin"], "env_var");
    assert!(configuration
        .iter()
        .any(|c| c["name"] == "DD_TRACE_SAMPLE_RATE"));
    let events = agent.telemetry_events();
    let changes: Vec<&Value> = events
        .iter()
        .filter(|(kind, _, _)| kind == "app-client-configuration-change")
        .flat_map(|(_, payload, _)| payload["configuration"].as_array().unwrap().iter())
        .collect();
    assert!(
        changes
            .iter()
            .any(|c| c["name"] == "DD_TRACE_SAMPLE_RATE" && c["origin"] == "remote_config"),
        "{changes:#?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c["name"] == "DD_TRACE_SAMPLE_RATE" && c["origin"] == "default"),
        "the undo is reported too: {changes:#?}"
    );
    let created: u64 = events
        .iter()
        .filter(|(kind, _, _)| kind == "generate-metrics")
        .flat_map(|(_, payload, _)| payload["series"].as_array().unwrap().clone())
        .filter(|s| s["metric"] == "spans_created")
        .map(|s| s["points"][0][1].as_u64().unwrap())
        .sum();
    assert_eq!(created, 3, "the three traces' spans");
    assert!(events.iter().any(|(kind, _, _)| kind == "app-heartbeat"));
    assert_eq!(
        events.last().map(|(kind, _, _)| kind.as_str()),
        Some("app-closing"),
        "{events:#?}"
    );
    let mut seqs: Vec<u64> = requests
        .iter()
        .filter_map(|r| r["seq_id"].as_u64())
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        requests.len(),
        "every request has its own seq_id"
    );
}

#[test]
fn without_remote_configuration_or_telemetry_the_agent_hears_neither() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer_with(
        &agent.unix_url(),
        &[
            ("DD_REMOTE_CONFIGURATION_ENABLED", "false"),
            ("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false"),
            ("DD_REMOTE_CONFIG_POLL_INTERVAL_SECONDS", "0.2"),
        ],
        Duration::from_secs(3600),
    );
    let status = guard.status_handle();
    dd_trace_test_support::wait_for_agent_info(&status);
    tracing::dispatcher::with_default(&dispatch, || info_span!("one").in_scope(|| {}));
    std::thread::sleep(Duration::from_millis(600));
    drop(guard);
    assert!(agent.config_requests().is_empty());
    assert!(agent.telemetry().is_empty());
    let s = status.status();
    assert!(!s.remote_config.enabled && !s.telemetry.enabled);
    assert!(s.to_string().contains("remote configuration: off"));
}
