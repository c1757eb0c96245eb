//! The example service's own log lines against what Datadog's test agent received: run
//! `examples/service.rs` as a process (configured only by `DD_*` variables, as in a pod), once
//! with JSON lines and once with text lines, and check that every line written inside a span
//! names a span the agent received — including the `log`-crate lines of its database driver
//! and the lines of the request that continued an upstream service's trace.

use std::process::Command;

use dd_trace_test_support::{example_binary, span_named_by_log_ids, TestAgent};
use serde_json::Value;

/// Runs the example service against `agent` with `vars`; its stdout lines.
fn run_service(agent: &TestAgent, vars: &[(&str, &str)]) -> Vec<String> {
    let out = Command::new(example_binary("service"))
        .env("DD_TRACE_AGENT_URL", agent.unix_url())
        .env("DD_SERVICE", "checkout")
        .env("DD_ENV", "e2e")
        .env("DD_VERSION", "1.4.2")
        .env("DD_TRACE_STARTUP_LOGS", "false")
        .envs(vars.iter().copied())
        .output()
        .expect("the example runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// What one log line says: its `dd.*` values and what the line is about.
struct Line {
    trace_id: String,
    span_id: u64,
    /// The logger (target): `orders_db_driver` for the `log`-crate lines.
    target: String,
    text: String,
}

/// The span the agent received that `line` names.
fn span_named_by<'a>(spans: &'a [Value], line: &Line) -> &'a Value {
    span_named_by_log_ids(spans, &line.trace_id, &line.span_id.to_string(), &line.text)
}

/// The checks both formats share, over the lines that carry ids.
fn check_lines_against_the_agent(agent: &TestAgent, lines: &[Line]) {
    let spans = agent.spans();
    assert!(lines.len() >= 16, "{} lines", lines.len());
    let mut upstream_lines = 0;
    for line in lines {
        let span = span_named_by(&spans, line);
        if line.target == "orders_db_driver" {
            assert_eq!(span["name"], "db.query", "{}", line.text);
        }
        if span["meta"]["_dd.origin"] == "rum" {
            // The request from upstream: the trace is the upstream's, a 64-bit id written in
            // decimal, and its server span's parent is the upstream's span.
            upstream_lines += 1;
            assert!(!line
                .trace_id
                .contains(|c: char| c.is_ascii_hexdigit() && !c.is_ascii_digit()));
            let server = spans
                .iter()
                .find(|s| s["trace_id"] == span["trace_id"] && s["name"] == "http.request")
                .unwrap();
            assert_eq!(server["parent_id"], 1001, "{server}");
        }
    }
    assert!(
        upstream_lines >= 3,
        "lines of the continued request: {upstream_lines}"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l.target == "orders_db_driver")
            .count()
            >= 4,
        "the log-crate lines"
    );
    agent.assert_checks_passed();
}

#[test]
fn the_example_services_json_lines_name_spans_the_agent_received() {
    let agent = TestAgent::start();
    let out = run_service(&agent, &[]);
    let lines: Vec<Line> = out
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v.get("dd.span_id").is_some())
        .map(|v| {
            assert_eq!(v["dd.service"], "checkout");
            assert_eq!(v["dd.env"], "e2e");
            assert_eq!(v["dd.version"], "1.4.2");
            Line {
                trace_id: v["dd.trace_id"].as_str().unwrap().to_string(),
                span_id: v["dd.span_id"].as_str().unwrap().parse().unwrap(),
                target: v["logger.name"].as_str().unwrap().to_string(),
                text: v.to_string(),
            }
        })
        .collect();
    check_lines_against_the_agent(&agent, &lines);
}

#[test]
fn the_example_services_text_lines_name_spans_the_agent_received() {
    let agent = TestAgent::start();
    let out = run_service(&agent, &[("EXAMPLE_LOG_FORMAT", "text")]);
    let lines: Vec<Line> = out
        .iter()
        .filter(|l| l.contains(" dd.span_id="))
        .map(|l| {
            let value = |key: &str| {
                l.split(' ')
                    .find_map(|w| w.strip_prefix(key))
                    .unwrap_or_else(|| panic!("{key} in {l}"))
                    .to_string()
            };
            assert!(
                l.ends_with(" dd.service=checkout dd.env=e2e dd.version=1.4.2"),
                "{l}"
            );
            Line {
                trace_id: value("dd.trace_id="),
                span_id: value("dd.span_id=").parse().unwrap(),
                target: if l.contains(" orders_db_driver: ") {
                    "orders_db_driver".into()
                } else {
                    String::new()
                },
                text: l.clone(),
            }
        })
        .collect();
    check_lines_against_the_agent(&agent, &lines);
}
