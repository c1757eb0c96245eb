//! Who the process is, against Datadog's real test agent: stable configuration files (through
//! the test-only path override) with their precedence and origins, the suite's rule selector
//! scenario, process tags and git metadata on the first span of each chunk in every payload
//! format.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use dd_trace_test_support::{builder, TestAgent};
use serde_json::Value;
use tracing::info_span;
use tracing_subscriber::layer::SubscriberExt;

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dd-trace-stable-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Sends one two-span trace through a tracer built by `b`, and returns what the agent got.
fn one_trace(
    agent: &TestAgent,
    b: dd_trace::DatadogLayerBuilder,
) -> (Vec<Value>, dd_trace::diagnostics::TracerStatus) {
    let (layer, guard) = b
        .with_flush_interval(Duration::from_secs(3600))
        .build()
        .expect("builds");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        info_span!("parent").in_scope(|| info_span!("child").in_scope(|| {}));
    });
    guard.flush().expect("flushed");
    let status = guard.status();
    drop(guard);
    let traces = agent.traces();
    assert_eq!(traces.len(), 1, "{traces:#?}");
    (traces[0].clone(), status)
}

fn origin_of(
    status: &dd_trace::diagnostics::TracerStatus,
    name: &str,
) -> (String, String, Option<String>) {
    let s = status
        .configuration
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} listed"));
    (
        s.value.clone(),
        s.origin.as_str().to_string(),
        s.config_id.clone(),
    )
}

#[test]
fn managed_file_beats_the_environment_which_beats_the_local_file_and_code_beats_all() {
    let agent = TestAgent::start();
    let d = dir("precedence");
    let (local, managed) = (d.join("local.yaml"), d.join("managed.yaml"));
    std::fs::write(
        &local,
        "config_id: local-7\napm_configuration_default:\n  DD_SERVICE: local-svc\n  DD_ENV: local-env\n  DD_VERSION: local-v\n  DD_TRACE_SAMPLE_RATE: 1\n",
    )
    .unwrap();
    std::fs::write(
        &managed,
        "config_id: fleet-1\napm_configuration_default:\n  DD_VERSION: fleet-v\n  DD_TAGS: team:fleet\n",
    )
    .unwrap();
    let url = agent.unix_url();
    let b = builder(&[
        ("DD_TRACE_AGENT_URL", &url),
        ("DD_TRACE_STARTUP_LOGS", "false"),
        ("DD_ENV", "env-env"),
        ("DD_VERSION", "env-v"),
        ("DD_TRACE_SAMPLE_RATE", "0.5"),
    ])
    .with_stable_config_files(&local, &managed)
    .with_tag("from", "code")
    .with_env("code-env");
    let (spans, status) = one_trace(&agent, b);
    assert_eq!(
        origin_of(&status, "DD_SERVICE"),
        (
            "local-svc".into(),
            "local_stable_config".into(),
            Some("local-7".into())
        )
    );
    assert_eq!(
        origin_of(&status, "DD_VERSION"),
        (
            "fleet-v".into(),
            "fleet_stable_config".into(),
            Some("fleet-1".into())
        )
    );
    assert_eq!(origin_of(&status, "DD_ENV").1, "code");
    assert_eq!(
        origin_of(&status, "DD_TRACE_SAMPLE_RATE"),
        ("0.5".into(), "env_var".into(), None)
    );
    let report = format!("{status:#}");
    assert!(
        report.contains("DD_VERSION=fleet-v (fleet_stable_config, config_id fleet-1)"),
        "{report}"
    );
    let root = &spans[0];
    assert_eq!(root["service"], "local-svc");
    assert_eq!(root["meta"]["version"], "fleet-v");
    assert_eq!(root["meta"]["env"], "code-env");
    assert_eq!(root["meta"]["team"], "fleet");
    assert_eq!(root["meta"]["from"], "code");
    // Telemetry says where each value came from, with the file's id.
    dd_trace_test_support::wait_until("app-started", || !agent.telemetry().is_empty());
    let started = agent
        .telemetry()
        .into_iter()
        .find(|r| r["request_type"] == "app-started")
        .expect("app-started");
    let item = |name: &str| {
        started["payload"]["configuration"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in app-started"))
    };
    assert_eq!(item("DD_VERSION")["origin"], "fleet_stable_config");
    assert_eq!(item("DD_VERSION")["config_id"], "fleet-1");
    assert_eq!(item("DD_SERVICE")["origin"], "local_stable_config");
    assert!(item("DD_TRACE_SAMPLE_RATE").get("config_id").is_none());
    let _ = std::fs::remove_dir_all(&d);
}

/// Ported from the suite's `Test_Stable_Config_Rules`: a rule on an environment variable sets
/// `DD_SERVICE` over the environment's.
#[test]
fn a_rule_selecting_on_an_environment_variable_sets_the_service() {
    let agent = TestAgent::start();
    let d = dir("rules");
    let managed = d.join("managed.yaml");
    std::fs::write(
        &managed,
        r#"
apm_configuration_rules:
  - selectors:
      - origin: environment_variables
        key: STABLE_CONFIG_SELECTOR
        operator: equals
        matches: ["true"]
    configuration:
      DD_SERVICE: my-service
"#,
    )
    .unwrap();
    let url = agent.unix_url();
    let vars = [
        ("DD_TRACE_AGENT_URL", url.as_str()),
        ("DD_TRACE_STARTUP_LOGS", "false"),
        ("DD_SERVICE", "not-my-service"),
        ("STABLE_CONFIG_SELECTOR", "true"),
    ];
    let b = builder(&vars).with_stable_config_files(d.join("absent.yaml"), &managed);
    let (spans, _) = one_trace(&agent, b);
    assert_eq!(spans[0]["service"], "my-service");
    // Not selected: the environment's value stands.
    let agent = TestAgent::start();
    let url = agent.unix_url();
    let b = builder(&[
        ("DD_TRACE_AGENT_URL", url.as_str()),
        ("DD_TRACE_STARTUP_LOGS", "false"),
        ("DD_SERVICE", "not-my-service"),
    ])
    .with_stable_config_files(d.join("absent.yaml"), &managed);
    let (spans, _) = one_trace(&agent, b);
    assert_eq!(spans[0]["service"], "not-my-service");
    let _ = std::fs::remove_dir_all(&d);
}

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn a_malformed_file_gives_one_warning_naming_it_and_changes_nothing_else() {
    dd_trace::diagnostics::set_handler(|_, line| LINES.lock().unwrap().push(line.to_string()));
    let d = dir("malformed");
    let (local, managed) = (d.join("local.yaml"), d.join("managed.yaml"));
    std::fs::write(&local, "apm_configuration_default: [unclosed").unwrap();
    std::fs::write(
        &managed,
        "apm_configuration_default:\n  DD_ENV: staging\n  DD_NOPE: 1\nsurprise: true\n",
    )
    .unwrap();
    let (_, guard) = builder(&[("DD_TRACE_STARTUP_LOGS", "false"), ("DD_SERVICE", "svc")])
        .with_enabled(false)
        .with_stable_config_files(&local, &managed)
        .build()
        .unwrap();
    let status = guard.status();
    assert_eq!(origin_of(&status, "DD_ENV").0, "staging");
    assert_eq!(origin_of(&status, "DD_SERVICE").1, "env_var");
    let lines = LINES.lock().unwrap().clone();
    let about = |path: &PathBuf| -> Vec<String> {
        let p = path.display().to_string();
        lines.iter().filter(|l| l.contains(&p)).cloned().collect()
    };
    let local_lines = about(&local);
    assert_eq!(local_lines.len(), 1, "{lines:#?}");
    assert!(local_lines[0].contains("not valid YAML"), "{local_lines:?}");
    let managed_lines = about(&managed);
    assert_eq!(managed_lines.len(), 1, "{lines:#?}");
    assert!(
        managed_lines[0].contains("DD_NOPE") && managed_lines[0].contains("surprise"),
        "{managed_lines:?}"
    );
    dd_trace::diagnostics::reset_handler();
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn process_tags_and_git_metadata_arrive_on_the_first_span_of_each_chunk_in_every_format() {
    for protocol in ["0.4", "0.5", "1.0"] {
        let agent = TestAgent::start();
        let url = agent.unix_url();
        let b = builder(&[
            ("DD_TRACE_AGENT_URL", url.as_str()),
            ("DD_TRACE_STARTUP_LOGS", "false"),
            ("DD_TRACE_AGENT_PROTOCOL_VERSION", protocol),
            (
                "DD_GIT_REPOSITORY_URL",
                "https://user:secret@github.com/acme/shop.git",
            ),
            (
                "DD_GIT_COMMIT_SHA",
                "0123456789abcdef0123456789abcdef01234567",
            ),
        ]);
        let (spans, _) = one_trace(&agent, b);
        let first = &spans[0];
        let process = first["meta"]["_dd.tags.process"]
            .as_str()
            .unwrap_or_else(|| panic!("{protocol}: no process tags in {first:#}"));
        for part in [
            "entrypoint.name:stable_config",
            "entrypoint.type:executable",
            "entrypoint.workdir:",
            "svc.auto:",
        ] {
            assert!(process.contains(part), "{protocol}: {part} in {process}");
        }
        assert_eq!(
            first["meta"]["_dd.git.repository_url"], "https://github.com/acme/shop.git",
            "{protocol}"
        );
        assert_eq!(
            first["meta"]["_dd.git.commit.sha"],
            "0123456789abcdef0123456789abcdef01234567"
        );
        let second = &spans[1];
        assert!(
            second["meta"].get("_dd.git.commit.sha").is_none(),
            "{protocol}"
        );
        if protocol != "1.0" {
            // v1.0 carries them once per payload (the agent puts them on every span).
            assert!(
                second["meta"].get("_dd.tags.process").is_none(),
                "{protocol}: {second:#}"
            );
        }
    }
}

#[test]
fn git_metadata_baked_in_at_build_time_is_used_when_the_variables_are_unset() {
    let agent = TestAgent::start();
    let url = agent.unix_url();
    let baked = dd_trace::GitMetadata {
        repository_url: Some("ssh://ci:token@git.example.com/shop.git".into()),
        commit_sha: Some("feedface".into()),
    };
    let b = builder(&[
        ("DD_TRACE_AGENT_URL", url.as_str()),
        ("DD_TRACE_STARTUP_LOGS", "false"),
    ])
    .with_build_git_metadata(baked.clone());
    let (spans, status) = one_trace(&agent, b);
    assert_eq!(
        spans[0]["meta"]["_dd.git.repository_url"],
        "ssh://git.example.com/shop.git"
    );
    assert_eq!(spans[0]["meta"]["_dd.git.commit.sha"], "feedface");
    assert_eq!(origin_of(&status, "DD_GIT_COMMIT_SHA").1, "code");
    // The run-time variable wins over the build's.
    let agent = TestAgent::start();
    let url = agent.unix_url();
    let b = builder(&[
        ("DD_TRACE_AGENT_URL", url.as_str()),
        ("DD_TRACE_STARTUP_LOGS", "false"),
        ("DD_GIT_COMMIT_SHA", "cafe"),
    ])
    .with_build_git_metadata(baked);
    let (spans, _) = one_trace(&agent, b);
    assert_eq!(spans[0]["meta"]["_dd.git.commit.sha"], "cafe");
}
