//! The requests telemetry makes: `app-started` alone and first, then batches; the envelope and
//! headers; the health metrics as deltas; a bounded queue.

use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::config::{Origin, SettingValue};
use crate::health::CounterSnapshot;
use crate::identity::Identity;

fn telemetry() -> Telemetry {
    Telemetry::new(
        Arc::new(Identity::fixed("shop", Some("prod"), Some("1.2"))),
        false,
    )
}

fn body(request: &events::TelemetryRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn header<'a>(request: &'a events::TelemetryRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn app_started_goes_first_and_alone_then_the_rest_in_one_batch() {
    let mut t = telemetry();
    t.app_started(&[SettingValue {
        name: "DD_TRACE_SAMPLE_RATE".into(),
        value: "0.5".into(),
        origin: Origin::EnvVar,
        config_id: None,
    }]);
    t.heartbeat(&CounterSnapshot {
        spans_started: 10,
        spans_finished: 9,
        spans_dropped_queue_full: 2,
        ..CounterSnapshot::default()
    });
    let first = t.next_request().unwrap();
    let b = body(&first);
    assert_eq!(b["request_type"], "app-started");
    assert_eq!(b["api_version"], "v2");
    assert_eq!(b["seq_id"], 1);
    assert_eq!(b["runtime_id"], "rid");
    assert!(b.get("debug").is_none());
    assert_eq!(b["application"]["service_name"], "shop");
    assert_eq!(b["application"]["env"], "prod");
    assert_eq!(b["application"]["service_version"], "1.2");
    assert_eq!(b["application"]["language_name"], "rust");
    assert_eq!(b["host"]["hostname"], "host");
    let config = &b["payload"]["configuration"][0];
    assert_eq!(config["name"], "DD_TRACE_SAMPLE_RATE");
    assert_eq!(config["value"], "0.5");
    assert_eq!(config["origin"], "env_var");
    assert_eq!(
        header(&first, "dd-telemetry-request-type"),
        Some("app-started")
    );
    assert_eq!(header(&first, "dd-telemetry-api-version"), Some("v2"));
    assert_eq!(header(&first, "dd-client-library-language"), Some("rust"));
    assert_eq!(header(&first, "dd-agent-env"), Some("prod"));
    assert_eq!(first.events, 1);

    let batch = t.next_request().unwrap();
    let b = body(&batch);
    assert_eq!(b["request_type"], "message-batch");
    assert_eq!(b["seq_id"], 2);
    let types: Vec<&str> = b["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request_type"].as_str().unwrap())
        .collect();
    assert!(
        types.ends_with(&["generate-metrics", "app-heartbeat"]),
        "{types:?}"
    );
    let metrics = b["payload"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request_type"] == "generate-metrics")
        .unwrap();
    let series = metrics["payload"]["series"].as_array().unwrap();
    let point = |name: &str, tag: Option<&str>| {
        series
            .iter()
            .find(|s| {
                s["metric"] == name
                    && tag.is_none_or(|t| s["tags"].as_array().unwrap().contains(&t.into()))
            })
            .map(|s| s["points"][0][1].as_u64().unwrap())
    };
    assert_eq!(point("spans_created", None), Some(10));
    assert_eq!(point("spans_finished", None), Some(9));
    assert_eq!(point("spans_dropped", Some("reason:queue_full")), Some(2));
    assert_eq!(point("spans_sent", None), None, "zero deltas are left out");
    assert!(t.next_request().is_none());

    // The next heartbeat carries what changed since.
    t.heartbeat(&CounterSnapshot {
        spans_started: 15,
        spans_finished: 9,
        spans_dropped_queue_full: 2,
        ..CounterSnapshot::default()
    });
    t.closing(&CounterSnapshot {
        spans_started: 15,
        spans_finished: 15,
        spans_dropped_queue_full: 2,
        ..CounterSnapshot::default()
    });
    let b = body(&t.next_request().unwrap());
    let events = b["payload"].as_array().unwrap();
    let created: Vec<u64> = events
        .iter()
        .filter(|e| e["request_type"] == "generate-metrics")
        .flat_map(|e| e["payload"]["series"].as_array().unwrap().clone())
        .filter(|s| s["metric"] == "spans_created" || s["metric"] == "spans_finished")
        .map(|s| s["points"][0][1].as_u64().unwrap())
        .collect();
    assert_eq!(created, [5, 6]);
    assert_eq!(events.last().unwrap()["request_type"], "app-closing");
}

#[test]
fn the_queue_is_bounded_and_keeps_app_started() {
    let mut t = telemetry();
    t.app_started(&[]);
    for _ in 0..MAX_QUEUED_EVENTS * 2 {
        t.heartbeat(&CounterSnapshot::default());
    }
    // app-started, the integrations when a feature is compiled in, and the heartbeats.
    assert!(t.dropped > MAX_QUEUED_EVENTS as u64, "{}", t.dropped);
    let first = t.next_request().unwrap();
    assert_eq!(body(&first)["request_type"], "app-started");
    let batch = t.next_request().unwrap();
    assert_eq!(batch.events, MAX_QUEUED_EVENTS as u64 - 1);
}

#[test]
fn events_never_wait_for_an_app_started_that_is_not_there() {
    let mut t = telemetry();
    t.heartbeat(&CounterSnapshot::default());
    let first = t.next_request().expect("the heartbeat goes out");
    assert_eq!(body(&first)["request_type"], "app-heartbeat");
    assert!(!t.has_events());
}
