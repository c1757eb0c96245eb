//! The doctor and tracer flares, against Datadog's real `ddapm-test-agent` and against an
//! agent that is not there.

use std::io::Read;
use std::time::Duration;

use dd_trace::diagnostics::{CheckOutcome, Diagnosis};
use dd_trace_test_support::{tracer, TestAgent};

fn diagnose(vars: &[(&str, &str)]) -> Diagnosis {
    dd_trace_test_support::builder(vars).diagnose()
}

fn outcome(d: &Diagnosis, name: &str) -> CheckOutcome {
    d.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check in\n{d}"))
        .outcome
}

#[test]
fn the_doctor_confirms_a_working_agent_with_a_test_trace_it_accepted() {
    let agent = TestAgent::start();
    let d = diagnose(&[
        ("DD_TRACE_AGENT_URL", &agent.unix_url()),
        ("DD_SERVICE", "doctor-test"),
        ("DD_ENV", "ci"),
    ]);
    let report = d.to_string();
    assert!(d.traces_arrive(), "{report}");
    assert!(
        report.starts_with("dd-trace doctor: traces ARRIVE"),
        "{report}"
    );
    for name in [
        "configuration",
        "agent address",
        "socket",
        "connection",
        "/info",
    ] {
        assert_eq!(outcome(&d, name), CheckOutcome::Pass, "{name}: {report}");
    }
    assert!(
        report.contains("/v0.4/traces"),
        "/info's endpoints: {report}"
    );
    assert!(report.contains("from DD_TRACE_AGENT_URL"), "{report}");
    // The one screen it promises.
    assert!(report.lines().count() < 30, "{report}");
    let spans = agent.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["name"], "dd_trace.doctor");
    assert_eq!(spans[0]["service"], "doctor-test");
}

#[test]
fn the_doctor_names_the_missing_hostpath_mount_and_a_wrong_host() {
    let d = diagnose(&[(
        "DD_TRACE_AGENT_URL",
        "unix:///nonexistent-dd-trace/datadog/apm.socket",
    )]);
    let report = d.to_string();
    assert!(!d.traces_arrive());
    let first = d.first_failure().expect("a failure");
    assert_eq!(first.name, "socket", "{report}");
    assert!(
        first.remedy.as_deref().unwrap().contains("hostPath"),
        "{report}"
    );
    assert!(
        report.starts_with(
            "dd-trace doctor: traces do NOT arrive: /nonexistent-dd-trace/datadog does not exist"
        ),
        "{report}"
    );
    assert_eq!(outcome(&d, "/info"), CheckOutcome::Skipped);
    assert_eq!(outcome(&d, "test trace"), CheckOutcome::Fail);

    let d = diagnose(&[
        ("DD_AGENT_HOST", "no-such-agent.invalid"),
        ("DD_TRACE_SAMPLE_RATE", "often"),
    ]);
    let report = d.to_string();
    assert_eq!(d.first_failure().unwrap().name, "host name", "{report}");
    assert_eq!(outcome(&d, "configuration"), CheckOutcome::Warn);
    assert!(report.contains("DD_TRACE_SAMPLE_RATE"), "{report}");
    assert!(report.contains("from DD_AGENT_HOST"), "{report}");
}

#[test]
fn the_doctor_says_when_tracing_is_disabled() {
    let d = diagnose(&[("DD_TRACE_ENABLED", "false")]);
    assert_eq!(d.first_failure().unwrap().name, "tracing enabled");
    assert!(d.status.is_none());
}

#[test]
fn a_tracer_flare_reaches_the_agent_with_the_configuration_and_recent_warnings() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[
            ("DD_SERVICE", "flare-test"),
            ("DD_TAGS", "team:payments,api_key:hunter2"),
            ("DD_TRACE_RATE_LIMIT", "plenty"),
        ],
    );
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("before.flare").in_scope(|| {});
    });
    guard.flush().unwrap();
    guard.send_flare("12345", "ops@example.com").unwrap();
    let flares = agent.tracer_flares();
    assert_eq!(flares.len(), 1, "{flares:?}");
    let (fields, file) = &flares[0];
    assert_eq!(fields["source"], "tracer_rust");
    assert_eq!(fields["case_id"], "12345");
    assert_eq!(fields["email"], "ops@example.com");
    assert!(!fields["hostname"].as_str().unwrap().is_empty());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(file.clone())).expect("a zip");
    let mut read = |name: &str| {
        let mut text = String::new();
        zip.by_name(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    let config = read("configuration.txt");
    assert!(config.contains("DD_SERVICE=flare-test"), "{config}");
    assert!(
        config.contains("api_key:<redacted>") && !config.contains("hunter2"),
        "{config}"
    );
    let status = read("status.txt");
    assert!(status.contains("1 sent"), "{status}");
    let info: serde_json::Value = serde_json::from_str(&read("tracer_info.json")).unwrap();
    assert_eq!(info["lang"], "rust");
    assert_eq!(info["agent_url"], agent.unix_url());
    let log = read("tracer.log");
    assert!(
        log.contains("WARN invalid DD_TRACE_RATE_LIMIT=\"plenty\""),
        "{log}"
    );

    // Written to a file instead.
    let dir = std::env::temp_dir().join(format!("dd-trace-flare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = guard.flare().write_to_dir(&dir).unwrap();
    assert!(path.metadata().unwrap().len() > 100);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(guard.shutdown(Duration::from_secs(5)).is_ok());
}

#[test]
fn the_doctor_explains_the_other_common_mistakes_of_the_kubernetes_guide() {
    // The volume is mounted but the agent's socket is not there.
    let dir = std::env::temp_dir().join(format!("dd-trace-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("unix://{}/apm.socket", dir.display());
    let d = diagnose(&[("DD_TRACE_AGENT_URL", &url)]);
    let report = d.to_string();
    assert!(
        report.starts_with(&format!(
            "dd-trace doctor: traces do NOT arrive: {} exists but holds no apm.socket",
            dir.display()
        )),
        "{report}"
    );
    assert!(report.contains("DD_APM_RECEIVER_SOCKET"), "{report}");

    // Nothing listens at the configured host and port.
    let [port] = dd_trace_test_support::free_ports::<1>();
    let d = diagnose(&[
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("DD_TRACE_AGENT_PORT", &port.to_string()),
    ]);
    let report = d.to_string();
    assert_eq!(d.first_failure().unwrap().name, "connection", "{report}");
    assert!(
        report.starts_with(&format!(
            "dd-trace doctor: traces do NOT arrive: http://127.0.0.1:{port}: cannot connect"
        )),
        "{report}"
    );
    assert!(
        report.contains("Nothing listens at this address") && report.contains("status.hostIP"),
        "{report}"
    );
    assert!(report.lines().count() < 30, "one screen: {report}");
}

/// The usual first-hour mistake, in a real process: a global `EnvFilter` at `warn` ahead of the
/// Datadog layer. The worker warns about it, and the doctor run inside the app
/// (`DD_TRACE_DOCTOR=true`) finds it, with a variable set that dd-trace does not read.
#[test]
fn a_global_filter_at_warn_is_said_at_once_and_found_by_the_doctor_inside_the_app() {
    let agent = TestAgent::start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dd-trace-probe"))
        .env("DD_TRACE_AGENT_URL", agent.unix_url())
        .env("DD_SERVICE", "filtered")
        .env("DD_TRACE_STARTUP_LOGS", "false")
        .env("DD_TRACE_DOCTOR", "true")
        .env("DD_TRACE_HEADER_TAGZ", "x-user:user")
        .env("PROBE_GLOBAL_FILTER", "warn")
        .env("PROBE_QUIET", "1")
        .env("PROBE_LINGER_MS", "9000")
        .output()
        .expect("probe runs");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let warning = stderr
        .lines()
        .filter(|l| l.starts_with("dd-trace WARN: the subscriber's maximum level is WARN"))
        .count();
    assert_eq!(warning, 1, "said once: {stderr}");
    assert!(stderr.contains("fmt::layer().with_filter("), "{stderr}");
    assert!(
        stderr.contains("traces ARRIVE at the agent at unix://")
            && stderr.contains("but this process's spans do not reach the tracer"),
        "{stderr}"
    );
    assert!(stderr.contains("[FAIL] this process:"), "{stderr}");
    assert!(
        stderr.contains("set but not supported: DD_TRACE_HEADER_TAGZ"),
        "{stderr}"
    );
    // Nothing of the app's was traced: the agent has the doctor's test trace only.
    let spans = agent.spans();
    assert!(
        spans.iter().all(|s| s["name"] == "dd_trace.doctor"),
        "{spans:#?}"
    );
    // And shutdown said so.
    assert!(stderr.contains("): sent 0 spans, dropped 0"), "{stderr}");
}
