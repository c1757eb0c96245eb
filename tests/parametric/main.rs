//! The parametric runner: scenarios ported from DataDog/system-tests' `tests/parametric/`
//! (in our own code), run against `examples/parametric.rs` and Datadog's `ddapm-test-agent`,
//! both as local processes, the way the suite runs them in containers: each scenario gets a
//! fresh app with its library environment and a fresh test-agent session, drives the app's
//! HTTP API, and checks what the agent received and what the app injected.
//!
//! `PARAMETRIC_FILTER=<substring>` runs only the scenarios whose id contains it.
//! `not-passing.md` lists the suite's tests in these files that dd-trace does not pass yet, and
//! why.

mod client;
mod headers;
mod otel;
mod sampling;
mod tracer;

use client::{App, Ctx, Scenario};
use dd_trace_test_support::TestAgent;

#[test]
fn the_ported_parametric_scenarios_pass_against_the_test_agent() {
    let scenarios: Vec<Scenario> = [
        headers::scenarios(),
        sampling::scenarios(),
        tracer::scenarios(),
        otel::scenarios(),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(scenarios.len() >= 80, "{} scenarios", scenarios.len());
    let filter = std::env::var("PARAMETRIC_FILTER").unwrap_or_default();
    let agent = TestAgent::start();
    let mut failures = Vec::new();
    let mut ran = 0;
    for scenario in scenarios.iter().filter(|s| s.id.contains(&filter)) {
        agent.start_session();
        let mut env = vec![
            ("DD_AGENT_HOST", "127.0.0.1".to_string()),
            ("DD_TRACE_AGENT_PORT", agent.port.to_string()),
            ("DD_TRACE_DEBUG", "true".to_string()),
        ];
        env.extend(scenario.env.iter().map(|(k, v)| (*k, v.to_string())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut ctx = Ctx {
            app: App::start(&agent, &env),
            agent: &agent,
        };
        ran += 1;
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (scenario.run)(&mut ctx)))
                .unwrap_or_else(|p| {
                    Err(p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panicked".into()))
                });
        if let Err(why) = outcome {
            failures.push(format!("{}: {why}", scenario.id));
        }
    }
    eprintln!("parametric: {ran} scenarios run, {} failed", failures.len());
    assert!(ran > 0, "PARAMETRIC_FILTER={filter:?} matched no scenario");
    assert!(
        failures.is_empty(),
        "failed scenarios:\n{}",
        failures.join("\n")
    );
}
