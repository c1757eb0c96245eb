//! The client against replies built as the agent builds them: configs applied over the
//! environment with their origin, merged by priority, restored when removed, refused when
//! they are another service's or fail their checks; the request's state.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Value};

use super::protocol::sha256_hex;
use super::*;
use crate::config::{Origin, Sources};
use crate::identity::Identity;

/// A reply carrying `files` (path → config JSON) at targets version `version`.
fn reply(version: u64, files: &[(&str, Value)]) -> Vec<u8> {
    let mut targets = serde_json::Map::new();
    let mut target_files = Vec::new();
    for (path, content) in files {
        let raw = serde_json::to_vec(content).unwrap();
        targets.insert(
            path.to_string(),
            json!({"length": raw.len(), "hashes": {"sha256": sha256_hex(&raw)}, "custom": {"v": version}}),
        );
        target_files.push(json!({"path": path, "raw": BASE64.encode(&raw)}));
    }
    let signed = json!({"signatures": [], "signed": {"_type": "targets", "version": version, "targets": targets, "custom": {"opaque_backend_state": "state-7"}}});
    let root = json!({"signatures": [], "signed": {"_type": "root", "version": 3}});
    serde_json::to_vec(&json!({
        "roots": [BASE64.encode(root.to_string())],
        "targets": BASE64.encode(signed.to_string()),
        "target_files": target_files,
        "client_configs": files.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
    }))
    .unwrap()
}

fn config_file(service: &str, env: &str, lib_config: Value) -> Value {
    json!({"action": "enable", "service_target": {"service": service, "env": env}, "lib_config": lib_config})
}

/// A configuration from `vars` (as the environment), and a client for service `shop` in `prod`.
fn setup(vars: &[(&str, &str)]) -> (Configuration, RemoteConfig) {
    let vars: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let source = move |k: &str| vars.get(k).cloned();
    let (settings, _) = Settings::read(&Sources {
        layers: vec![(Origin::EnvVar, &source)],
        path_exists: &|_| false,
    });
    let config = Configuration::new(settings);
    let identity = Arc::new(Identity::fixed("shop", Some("prod"), Some("1.2")));
    let remote = RemoteConfig::new(identity, &config);
    (config, remote)
}

fn request(remote: &RemoteConfig) -> Value {
    serde_json::from_slice(&remote.request_body()).unwrap()
}

#[test]
fn a_config_applies_over_the_environment_and_its_removal_restores_it() {
    let (config, mut remote) = setup(&[("DD_TRACE_SAMPLE_RATE", "1"), ("DD_TAGS", "team:a")]);
    let path = "datadog/2/APM_TRACING/cfg-1/config";
    let file = config_file(
        "shop",
        "prod",
        json!({
            "tracing_sampling_rate": 0.25,
            "tracing_tags": ["team:b", "tier:gold"],
            "log_injection_enabled": false,
            "tracing_header_tags": [{"header": "X-User", "tag_name": "user.id"}],
            "tracing_sampling_rules": [{"service": "shop", "resource": "GET /health", "tags": [{"key": "k", "value_glob": "v*"}], "sample_rate": 0.0, "provenance": "customer"}],
        }),
    );
    let changes = remote.on_reply(&reply(1, &[(path, file.clone())]), &config);
    let names: Vec<&str> = changes.iter().map(|c| c.after.name.as_str()).collect();
    for name in [
        "DD_TRACE_SAMPLE_RATE",
        "DD_TRACE_SAMPLING_RULES",
        "DD_TAGS",
        "DD_LOGS_INJECTION",
        "DD_TRACE_HEADER_TAGS",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let s = config.settings();
    assert_eq!(s.sample_rate.value, Some(0.25));
    assert_eq!(s.sample_rate.origin, Origin::RemoteConfig);
    assert_eq!(
        s.tags.value,
        [("team".into(), "b".into()), ("tier".into(), "gold".into())]
    );
    assert!(!s.logs_injection.value);
    assert!(!config.flags().logs_injection(), "the app's threads see it");
    assert_eq!(s.sampling_rules.value.len(), 1);
    assert_eq!(s.sampling_rules.value[0].provenance.mechanism(), 11);
    assert_eq!(
        config.live().http.header_tags(
            &[("x-user", "ada")]
                .into_iter()
                .map(|(k, v)| (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v)
                ))
                .collect(),
            true
        ),
        [("user.id".to_string(), "ada".to_string())]
    );
    // The request says it is applied, and holds the file.
    let r = request(&remote);
    let state = &r["client"]["state"];
    assert_eq!(state["targets_version"], 1);
    assert_eq!(state["root_version"], 3);
    assert_eq!(state["backend_client_state"], "state-7");
    assert_eq!(
        state["config_states"],
        json!([{"id": "cfg-1", "version": 1, "product": "APM_TRACING", "apply_state": 2}])
    );
    assert_eq!(r["cached_target_files"][0]["path"], path);
    assert_eq!(
        r["cached_target_files"][0]["hashes"][0]["algorithm"],
        "sha256"
    );
    // The same reply again changes nothing.
    assert!(remote
        .on_reply(&reply(1, &[(path, file)]), &config)
        .is_empty());
    assert!(remote.on_reply(b"{}", &config).is_empty());
    // Removed: back to the environment's values and origins.
    let changes = remote.on_reply(&reply(2, &[]), &config);
    assert_eq!(changes.len(), 5, "{changes:#?}");
    let s = config.settings();
    assert_eq!(s.sample_rate.value, Some(1.0));
    assert_eq!(s.sample_rate.origin, Origin::EnvVar);
    assert_eq!(s.tags.value, [("team".into(), "a".into())]);
    assert!(s.logs_injection.value);
    assert!(request(&remote)["client"]["state"]["config_states"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn configs_merge_by_priority_and_another_services_config_is_refused() {
    let (config, mut remote) = setup(&[]);
    let org = config_file(
        "*",
        "*",
        json!({"tracing_sampling_rate": 0.1, "tracing_tags": ["org:1"]}),
    );
    let service = config_file("shop", "*", json!({"tracing_sampling_rate": 0.5}));
    let exact = config_file("SHOP", "prod", json!({"log_injection_enabled": false}));
    let other = config_file("billing", "prod", json!({"tracing_sampling_rate": 0.9}));
    remote.on_reply(
        &reply(
            4,
            &[
                ("datadog/2/APM_TRACING/org/config", org),
                ("datadog/2/APM_TRACING/svc/config", service),
                ("employee/APM_TRACING/exact/config", exact),
                ("datadog/2/APM_TRACING/other/config", other),
            ],
        ),
        &config,
    );
    let s = config.settings();
    assert_eq!(s.sample_rate.value, Some(0.5), "the service's config wins");
    assert_eq!(
        s.tags.value,
        [("org".into(), "1".into())],
        "the org-wide fills in"
    );
    assert!(!s.logs_injection.value);
    let states = request(&remote)["client"]["state"]["config_states"].clone();
    let other = states
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "other")
        .unwrap()
        .clone();
    assert_eq!(other["apply_state"], 3);
    assert!(
        other["apply_error"].as_str().unwrap().contains("billing"),
        "{other}"
    );
    let entries = remote.entries();
    assert_eq!(entries.len(), 4);
    assert_eq!(
        entries.iter().filter(|e| e.apply_error.is_some()).count(),
        1
    );
}

#[test]
fn tracing_off_stays_off_and_a_tampered_file_is_not_applied() {
    let (config, mut remote) = setup(&[]);
    let path = "datadog/2/APM_TRACING/off/config";
    remote.on_reply(
        &reply(
            1,
            &[(
                path,
                config_file("shop", "prod", json!({"tracing_enabled": false})),
            )],
        ),
        &config,
    );
    assert!(!config.flags().enabled());
    remote.on_reply(&reply(2, &[]), &config);
    assert!(!config.flags().enabled(), "until the process restarts");

    let (config, mut remote) = setup(&[]);
    let mut body: Value = serde_json::from_slice(&reply(
        1,
        &[(
            path,
            config_file("shop", "prod", json!({"tracing_sampling_rate": 0.5})),
        )],
    ))
    .unwrap();
    let forged = serde_json::to_vec(&config_file(
        "shop",
        "prod",
        json!({"tracing_sampling_rate": 0.0}),
    ))
    .unwrap();
    body["target_files"][0]["raw"] = BASE64.encode(&forged).into();
    remote.on_reply(&serde_json::to_vec(&body).unwrap(), &config);
    assert_eq!(config.settings().sample_rate.value, None);
    let state = &request(&remote)["client"]["state"]["config_states"][0];
    assert_eq!(state["apply_state"], 3);
    // Not JSON at all: the client reports the error in its next request.
    remote.on_reply(b"not json", &config);
    let r = request(&remote);
    assert_eq!(r["client"]["state"]["has_error"], true);
    assert!(r["client"]["state"]["error"]
        .as_str()
        .unwrap()
        .contains("JSON"));
}

#[test]
fn the_request_says_who_is_asking_and_what_it_can_do() {
    let (_, remote) = setup(&[("DD_TAGS", "team:a")]);
    let r = request(&remote);
    let client = &r["client"];
    assert_eq!(client["is_tracer"], true);
    assert_eq!(client["products"], json!(["APM_TRACING"]));
    let tracer = &client["client_tracer"];
    assert_eq!(tracer["service"], "shop");
    assert_eq!(tracer["env"], "prod");
    assert_eq!(tracer["app_version"], "1.2");
    assert_eq!(tracer["language"], "rust");
    assert_eq!(tracer["runtime_id"], "rid");
    assert!(tracer["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("team:a")));
    assert_eq!(client["state"]["root_version"], 1);
    assert_eq!(client["state"]["targets_version"], 0);
    assert!(client["capabilities"].as_str().is_some());
    assert!(!client["id"].as_str().unwrap().is_empty());
}
