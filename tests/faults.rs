//! What the tracer does when the agent misbehaves or is missing, against a fault-injecting
//! agent of our own, and what an operator sees from a real process.

use std::process::Command;
use std::time::Duration;

use dd_trace::{DatadogGuard, DatadogLayer};
use dd_trace_test_support::FaultAgent;
use tracing::{info_span, Dispatch};
use tracing_subscriber::prelude::*;

fn tracer(agent_url: &str) -> (Dispatch, DatadogGuard) {
    dd_trace_test_support::tracer(agent_url, &[("DD_SERVICE", "faults")])
}

fn make_traces(dispatch: &Dispatch, n: usize) {
    tracing::dispatcher::with_default(dispatch, || {
        for _ in 0..n {
            info_span!("root").in_scope(|| info_span!("child").in_scope(|| {}));
        }
    });
}

#[test]
fn transient_failures_are_retried_until_the_agent_accepts() {
    let agent = FaultAgent::start(vec![503, 429]);
    let (dispatch, guard) = tracer(&agent.url());
    make_traces(&dispatch, 10);
    guard.flush().unwrap();
    let status = guard.status();
    assert_eq!(agent.count(), 3, "two failures, then success");
    assert_eq!(status.counters.failed_send_attempts, 2);
    assert_eq!(status.counters.spans_sent, 20);
    assert_eq!(status.counters.payloads_dropped, 0);
    assert_eq!(status.agent_rates.get("service:,env:"), Some(&1.0));
    // Every attempt carried the same payload.
    let received = agent.received.lock().unwrap();
    assert!(received.iter().all(|r| r.body == received[0].body));
}

#[test]
fn client_errors_are_not_retried_and_are_counted() {
    for code in [400, 413, 415] {
        let agent = FaultAgent::start(vec![code]);
        let (dispatch, guard) = tracer(&agent.url());
        make_traces(&dispatch, 5);
        guard.flush().unwrap();
        let status = guard.status();
        assert_eq!(agent.count(), 1, "status {code} must not be retried");
        assert_eq!(status.counters.payloads_dropped, 1, "{code}");
        assert_eq!(status.counters.spans_dropped_send_failed, 10, "{code}");
        assert!(
            status
                .last_error
                .as_deref()
                .unwrap()
                .contains(&code.to_string()),
            "{status:?}"
        );
        // The tracer keeps working: the next payload goes through.
        make_traces(&dispatch, 1);
        guard.flush().unwrap();
        assert_eq!(guard.status().counters.spans_sent, 2);
    }
}

#[test]
fn retries_are_bounded_then_the_payload_is_dropped() {
    let agent = FaultAgent::start(vec![500; 10]);
    let (dispatch, guard) = tracer(&agent.url());
    make_traces(&dispatch, 4);
    guard.flush().unwrap();
    let status = guard.status();
    assert_eq!(agent.count(), 4, "one attempt and three retries");
    assert_eq!(status.counters.failed_send_attempts, 4);
    assert_eq!(status.counters.spans_dropped_send_failed, 8);
    assert_eq!(status.counters.spans_sent, 0);
}

#[test]
fn a_missing_agent_is_counted_and_spans_keep_being_accepted() {
    let dir = std::env::temp_dir().join(format!("dd-trace-missing-{}", std::process::id()));
    let (dispatch, guard) = tracer(&format!("unix://{}/apm.socket", dir.display()));
    make_traces(&dispatch, 100);
    // Spans keep being accepted on the app's side while deliveries fail.
    guard.flush().unwrap();
    make_traces(&dispatch, 100);
    guard.flush().unwrap();
    let status = guard.status();
    assert_eq!(status.counters.spans_sent, 0);
    assert_eq!(status.counters.spans_dropped_send_failed, 400);
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap()
            .contains("cannot connect"),
        "{status:?}"
    );
    assert_eq!(guard.shutdown(Duration::from_secs(5)), Ok(()));
}

#[test]
fn a_flush_that_times_out_does_not_hold_up_the_shutdown_after_it() {
    let agent = FaultAgent::start(vec![FaultAgent::HANG]);
    let (dispatch, guard) = tracer(&agent.url());
    make_traces(&dispatch, 3);
    let handle = guard.status_handle();
    let started = std::time::Instant::now();
    assert!(guard.flush_timeout(Duration::from_millis(300)).is_err());
    // The worker stopped waiting with the flush: the shutdown is answered within its own
    // timeout and counts the delivery it had to abandon as dropped at shutdown.
    assert_eq!(guard.shutdown(Duration::from_secs(2)), Ok(()));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let c = handle.status().counters;
    assert_eq!(c.spans_dropped_shutdown, 6, "{c:?}");
    assert_eq!(c.spans_dropped_send_failed, 0, "{c:?}");
}

#[test]
fn shutdown_sends_what_finished_before_it() {
    let agent = FaultAgent::start(vec![]);
    let (dispatch, guard) = tracer(&agent.url());
    make_traces(&dispatch, 1);
    let status_before = guard.status();
    assert!(status_before.enabled);
    drop(dispatch);
    assert_eq!(guard.shutdown(Duration::from_secs(5)), Ok(()));
    assert_eq!(agent.count(), 1);
}

#[test]
fn an_unreachable_agent_and_a_bad_variable_each_give_one_warning() {
    let socket = "/nonexistent/dd-trace-test/apm.socket";
    let out = Command::new(env!("CARGO_BIN_EXE_dd-trace-probe"))
        .env("DD_TRACE_AGENT_URL", format!("unix://{socket}"))
        .env("DD_TRACE_SAMPLE_RATE", "lots")
        .env("DD_TRACE_STARTUP_LOGS", "false")
        .env("PROBE_TRACES", "20")
        .env("PROBE_ROUNDS", "3")
        .output()
        .expect("example runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    let variable = warnings
        .iter()
        .find(|l| l.contains("DD_TRACE_SAMPLE_RATE"))
        .expect("a warning naming the variable");
    assert!(
        variable.contains("\"lots\"") && variable.contains("default"),
        "{variable}"
    );
    let agent = warnings
        .iter()
        .find(|l| l.contains(socket))
        .expect("a warning naming the address");
    assert!(agent.contains("cannot connect"), "{agent}");
    // At exit, one line sums up what was lost.
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("INFO: shut down"))
        .collect();
    assert_eq!(summary.len(), 1, "{stderr}");
    assert!(
        summary[0].contains("120 dropped") && summary[0].contains("120 after failed sends"),
        "{}",
        summary[0]
    );
    // The app's JSON logs still went out with their correlation ids.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 60);
    assert!(
        stdout.lines().all(|l| l.contains("\"dd.trace_id\"")),
        "{stdout}"
    );
}

#[test]
fn a_full_queue_warns_once_with_the_remedy_and_shutdown_sums_up_the_drops() {
    let agent = FaultAgent::start(vec![]);
    let out = Command::new(env!("CARGO_BIN_EXE_dd-trace-probe"))
        .env("DD_TRACE_AGENT_URL", agent.url())
        .env("DD_TRACE_STARTUP_LOGS", "false")
        .env("PROBE_QUEUE_CAPACITY", "2")
        .env("PROBE_QUIET", "1")
        .env("PROBE_TRACES", "20000")
        .env("PROBE_ROUNDS", "2")
        .output()
        .expect("probe runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning, however many drops: {stderr}"
    );
    assert!(
        warnings[0].contains("hand-off queue")
            && warnings[0].contains("with_queue_capacity, now 2"),
        "{}",
        warnings[0]
    );
    let summary = stderr
        .lines()
        .find(|l| l.contains("INFO: shut down"))
        .unwrap_or_else(|| panic!("a shutdown summary: {stderr}"));
    // "... spans sent to http://…, N dropped (M at the full hand-off queue, …)"
    let dropped: u64 = summary
        .split(" dropped (")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of dropped spans: {summary}"));
    assert!(dropped > 0, "{summary}");
    assert!(summary.contains("at the full hand-off queue"), "{summary}");
}

/// A field whose `Debug` calls back into the tracer through a span handle, as a value that
/// holds its own span might.
struct Reentrant(tracing::Span);

impl std::fmt::Debug for Reentrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Span handles carry their own dispatcher, so these reach the layer while it records.
        self.0.record("nested", "inner");
        drop(self.0.enter());
        f.write_str("reentrant")
    }
}

#[test]
fn a_field_that_calls_back_into_its_span_while_recorded_does_not_deadlock() {
    let agent = FaultAgent::start(vec![]);
    let (dispatch, guard) = tracer(&agent.url());
    tracing::dispatcher::with_default(&dispatch, || {
        let span = info_span!(
            "reentrant",
            later = tracing::field::Empty,
            nested = tracing::field::Empty
        );
        span.record("later", tracing::field::debug(Reentrant(span.clone())));
    });
    guard.flush().unwrap();
    assert_eq!(guard.status().counters.spans_sent, 1);
    let body = agent.received.lock().unwrap()[0].body.clone();
    let payload: rmpv::Value = rmp_serde::from_slice(&body).unwrap();
    let meta = |key: &str| {
        payload[0][0]["meta"]
            .as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .and_then(|(_, v)| v.as_str().map(str::to_string))
    };
    assert_eq!(meta("later").as_deref(), Some("reentrant"));
    assert_eq!(meta("nested").as_deref(), Some("inner"));
}

#[test]
fn two_datadog_layers_in_one_stack_neither_panic_nor_lose_the_trace() {
    let agent = FaultAgent::start(vec![]);
    let build = || {
        let env: std::collections::HashMap<String, String> = [
            ("DD_TRACE_AGENT_URL", agent.url()),
            ("DD_TRACE_STARTUP_LOGS", "false".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        DatadogLayer::builder()
            .with_variable_source(move |k| env.get(k).cloned())
            .build()
            .unwrap()
    };
    let ((first, first_guard), (second, second_guard)) = (build(), build());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(first).with(second));
    make_traces(&dispatch, 3);
    first_guard.flush().unwrap();
    second_guard.flush().unwrap();
    let sent = first_guard.status().counters.spans_sent + second_guard.status().counters.spans_sent;
    assert_eq!(sent, 6, "each span is sent once, by one of the layers");
}

#[test]
fn one_line_init_sends_and_prints_its_configuration_once() {
    let agent = FaultAgent::start(vec![]);
    let out = Command::new(env!("CARGO_BIN_EXE_dd-trace-probe"))
        .env("PROBE_INIT", "1")
        .env("PROBE_TRACES", "5")
        .env("DD_TRACE_AGENT_URL", agent.url())
        .env("DD_SERVICE", "probe-svc")
        .env("DD_ENV", "ci")
        .env("DD_TRACE_STARTUP_LOGS", "true")
        .env_remove("DD_TRACE_ENABLED")
        .output()
        .expect("probe runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("DATADOG TRACER CONFIGURATION "))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(lines[0].trim_start_matches("DATADOG TRACER CONFIGURATION "))
            .expect("the configuration is JSON");
    assert_eq!(json["service"], "probe-svc");
    assert_eq!(json["env"], "ci");
    assert_eq!(json["lang"], "rust");
    assert_eq!(json["agent_url"], agent.url());
    assert_eq!(json["enabled"], true);
    // The guard returned by init() sent every span when the probe exited.
    let received = agent.received.lock().unwrap();
    let spans: usize = received
        .iter()
        .map(|r| {
            let v: rmpv::Value = rmp_serde::from_slice(&r.body).unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_array().unwrap().len())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(spans, 10);
}
