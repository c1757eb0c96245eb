//! The settings table's tests: reading each kind of setting and its warnings, origins, the
//! configuration in effect, the crate docs' table against the settings table, and a live
//! change swapped in whole.

use std::collections::HashMap;

use proptest::prelude::*;

use super::setting::Sources;
use super::values::parse_tags;
use super::*;
use crate::headers::{PropagationConfig, PropagationStyle};

fn load(vars: &[(&str, &str)], socket: bool) -> (Settings, Vec<String>) {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let get = move |k: &str| vars.get(k).cloned();
    let exists = move |_: &std::path::Path| socket;
    Settings::read(&Sources {
        layers: vec![(Origin::EnvVar, &get)],
        path_exists: &exists,
    })
}

#[test]
fn dd_tags_follow_the_spec_table() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("a:1,b:2", &[("a", "1"), ("b", "2")]),
        ("a:1 b:2", &[("a", "1"), ("b", "2")]),
        // A comma anywhere makes comma the only separator.
        ("a:1 b:2,c:3", &[("a", "1 b:2"), ("c", "3")]),
        ("  a : 1 ,, :x, b", &[("a", "1"), ("b", "")]),
        ("url:http://x:80", &[("url", "http://x:80")]),
        ("k:v git.commit.sha:abc git.repository_url:r", &[("k", "v")]),
        ("", &[]),
    ];
    for (raw, want) in cases {
        let got = parse_tags(raw);
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want, "DD_TAGS={raw:?}");
    }
}

#[test]
fn an_unknown_propagation_style_is_left_out_with_a_warning() {
    let (c, w) = load(&[("DD_TRACE_PROPAGATION_STYLE", "datadog,w3c")], false);
    assert_eq!(c.inject_styles.value, [PropagationStyle::Datadog]);
    assert_eq!(c.extract_styles.value, [PropagationStyle::Datadog]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("DD_TRACE_PROPAGATION_STYLE")
            && w[0].contains("\"w3c\"")
            && w[0].contains("using datadog"),
        "{w:?}"
    );
    // Nothing known: the default.
    let (c, w) = load(&[("DD_TRACE_PROPAGATION_STYLE_INJECT", "w3c")], false);
    assert_eq!(c.inject_styles.value, PropagationConfig::default().inject);
    assert!(w[0].contains("using the default"), "{w:?}");
}

#[test]
fn agent_url_wins_over_host_port_and_socket() {
    let (c, w) = load(
        &[
            ("DD_TRACE_AGENT_URL", "unix:///tmp/x.sock"),
            ("DD_AGENT_HOST", "h"),
        ],
        true,
    );
    assert_eq!(
        c.agent.value.endpoint,
        AgentEndpoint::Unix("/tmp/x.sock".into())
    );
    assert!(w.is_empty());
    let (c, _) = load(&[("DD_TRACE_AGENT_URL", "http://agent:9000/")], true);
    assert_eq!(c.agent.value.endpoint.to_string(), "http://agent:9000");
}

#[test]
fn host_and_port_are_used_when_no_url() {
    let (c, _) = load(&[("DD_AGENT_HOST", "dd-agent")], true);
    assert_eq!(c.agent.value.endpoint.to_string(), "http://dd-agent:8126");
    let (c, _) = load(&[("DD_TRACE_AGENT_PORT", "9126")], true);
    assert_eq!(c.agent.value.endpoint.to_string(), "http://localhost:9126");
    let (c, _) = load(&[("DD_AGENT_HOST", "::1")], false);
    assert_eq!(c.agent.value.endpoint.to_string(), "http://[::1]:8126");
}

#[test]
fn default_socket_is_used_only_when_it_exists() {
    let (c, _) = load(&[], true);
    assert_eq!(
        c.agent.value.endpoint,
        AgentEndpoint::Unix(DEFAULT_AGENT_SOCKET.into())
    );
    let (c, _) = load(&[], false);
    assert_eq!(c.agent.value.endpoint.to_string(), "http://localhost:8126");
}

#[test]
fn bad_agent_url_warns_and_falls_back() {
    for bad in [
        "ftp://x",
        "https://agent:8126",
        "unix://",
        "http://:80",
        "http://h:99999",
    ] {
        let (c, w) = load(
            &[("DD_TRACE_AGENT_URL", bad), ("DD_AGENT_HOST", "h")],
            false,
        );
        assert_eq!(c.agent.value.endpoint.to_string(), "http://h:8126", "{bad}");
        assert_eq!(w.len(), 1, "{bad}: {w:?}");
        assert!(w[0].contains("DD_TRACE_AGENT_URL"), "{w:?}");
    }
}

#[test]
fn each_malformed_variable_gives_one_warning_naming_it_and_the_default() {
    let (c, w) = load(
        &[
            ("DD_TRACE_SAMPLE_RATE", "1.5"),
            ("DD_TRACE_ENABLED", "maybe"),
            ("DD_TRACE_AGENT_PORT", "http"),
            ("DD_TRACE_PARTIAL_FLUSH_MIN_SPANS", "0"),
            ("DD_TRACE_AGENT_TIMEOUT", "-1"),
        ],
        false,
    );
    assert_eq!(c.sample_rate.value, None);
    assert!(c.enabled.value);
    assert_eq!(c.agent.value.endpoint.to_string(), "http://localhost:8126");
    assert_eq!(c.agent_timeout.value, DEFAULT_AGENT_TIMEOUT);
    assert_eq!(w.len(), 5, "{w:#?}");
    for (var, default) in [
        ("DD_TRACE_SAMPLE_RATE", "unset"),
        ("DD_TRACE_ENABLED", "true"),
        ("DD_TRACE_AGENT_PORT", "8126"),
        ("DD_TRACE_PARTIAL_FLUSH_MIN_SPANS", "1000"),
        ("DD_TRACE_AGENT_TIMEOUT", "10"),
    ] {
        let line = w.iter().find(|l| l.contains(var)).expect(var);
        assert!(line.contains(&format!("default ({default}")), "{line}");
    }
}

#[test]
fn sampling_variables_are_read_and_bad_rules_skipped_one_warning_each() {
    let (c, w) = load(
        &[
            (
                "DD_TRACE_SAMPLING_RULES",
                r#"[{"service":"a","sample_rate":0.5},{"service":"b","sample_rate":2}]"#,
            ),
            ("DD_TRACE_RATE_LIMIT", "25"),
            ("DD_SPAN_SAMPLING_RULES", r#"[{"name":"db.*"}]"#),
        ],
        false,
    );
    assert_eq!(c.sampling_rules.value.len(), 1);
    assert_eq!(c.rate_limit.value, 25.0);
    assert_eq!(c.span_sampling_rules.value.len(), 1);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("DD_TRACE_SAMPLING_RULES") && w[0].contains(r#""service":"b""#));

    let (c, w) = load(&[("DD_TRACE_RATE_LIMIT", "-5")], false);
    assert_eq!(c.rate_limit.value, DEFAULT_TRACE_RATE_LIMIT);
    assert!(w[0].contains("DD_TRACE_RATE_LIMIT") && w[0].contains("default (100)"));
}

#[test]
fn span_rules_come_from_the_variable_else_its_file() {
    let path =
        std::env::temp_dir().join(format!("dd-trace-span-rules-{}.json", std::process::id()));
    std::fs::write(&path, r#"[{"service":"from-file"}]"#).unwrap();
    let file = path.to_string_lossy().to_string();
    let (c, w) = load(&[("DD_SPAN_SAMPLING_RULES_FILE", &file)], false);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        c.span_sampling_rules.value[0].matcher.service.as_str(),
        "from-file"
    );
    let (c, w) = load(
        &[
            ("DD_SPAN_SAMPLING_RULES_FILE", &file),
            ("DD_SPAN_SAMPLING_RULES", r#"[{"service":"from-var"}]"#),
        ],
        false,
    );
    assert_eq!(
        c.span_sampling_rules.value[0].matcher.service.as_str(),
        "from-var"
    );
    assert_eq!(w.len(), 1, "both set: {w:?}");
    let _ = std::fs::remove_file(&path);
    let (c, w) = load(
        &[("DD_SPAN_SAMPLING_RULES_FILE", "/nonexistent/rules.json")],
        false,
    );
    assert!(c.span_sampling_rules.value.is_empty());
    assert!(w[0].contains("DD_SPAN_SAMPLING_RULES_FILE") && w[0].contains("cannot read"));
}

#[test]
fn service_env_version_and_rate_are_read() {
    let (c, w) = load(
        &[
            ("DD_SERVICE", " checkout "),
            ("DD_ENV", "prod"),
            ("DD_VERSION", "1.2.3"),
            ("DD_TRACE_SAMPLE_RATE", "0.25"),
            ("DD_TRACE_ENABLED", "FALSE"),
        ],
        false,
    );
    assert!(w.is_empty());
    assert_eq!(c.service.value, "checkout");
    assert_eq!(c.env.value.as_deref(), Some("prod"));
    assert_eq!(c.version.value.as_deref(), Some("1.2.3"));
    assert_eq!(c.sample_rate.value, Some(0.25));
    assert!(!c.enabled.value);
}

#[test]
fn every_setting_is_shown_with_its_origin_and_secrets_redacted() {
    let (mut s, w) = load(
        &[
            ("DD_SERVICE", "checkout"),
            ("DD_TAGS", "team:web,api_key:abc123"),
            ("DD_AGENT_HOST", "dd-agent"),
        ],
        false,
    );
    assert!(w.is_empty(), "{w:?}");
    s.apply(Overrides {
        env: Some(Some("prod".into())),
        ..Overrides::default()
    });
    let shown = s.effective();
    assert_eq!(shown.len(), SETTINGS.len());
    for (value, info) in shown.iter().zip(SETTINGS) {
        assert_eq!(value.name, info.name());
    }
    let get = |name: &str| shown.iter().find(|v| v.name == name).unwrap().clone();
    assert_eq!(get("DD_SERVICE").origin, Origin::EnvVar);
    assert_eq!(get("DD_ENV").value, "prod");
    assert_eq!(get("DD_ENV").origin, Origin::Code);
    assert_eq!(get("DD_VERSION").origin, Origin::Default);
    assert_eq!(get("DD_TAGS").value, "team:web,api_key:<redacted>");
    let agent = get("DD_TRACE_AGENT_URL");
    assert_eq!(agent.value, "http://dd-agent:8126");
    assert_eq!(agent.origin, Origin::EnvVar);
    let (s, _) = load(&[], true);
    assert_eq!(s.agent.origin, Origin::Calculated, "the socket was found");
}

#[test]
fn a_live_change_swaps_the_settings_and_their_snapshot_together() {
    let (s, _) = load(
        &[("DD_TRACE_SAMPLE_RATE", "0.5"), ("DD_TAGS", "a:1")],
        false,
    );
    let configuration = Configuration::new(s);
    let before = configuration.live();
    assert_eq!(before.trace_rules.rules().len(), 1);
    configuration.update(|s| {
        s.sample_rate.value = None;
        s.tags.value = vec![("b".into(), "2".into())];
        s.tags.origin = Origin::RemoteConfig;
    });
    // A reader holding the old snapshot keeps it whole; new readers see the new one.
    assert_eq!(before.tags.as_slice(), [("a".to_string(), "1".to_string())]);
    let after = configuration.live();
    assert!(after.trace_rules.rules().is_empty());
    assert_eq!(after.tags.as_slice(), [("b".to_string(), "2".to_string())]);
    let settings = configuration.settings();
    assert_eq!(settings.tags.origin, Origin::RemoteConfig);
    assert_eq!(settings.sample_rate.value, None);
}

/// The crate docs' configuration table, as the settings table says it should read.
fn docs_table() -> String {
    let mut out =
        String::from("| Variable | Default | Builder method | Meaning |\n|---|---|---|---|\n");
    for info in SETTINGS {
        let name = match info.variables() {
            [] => format!("(code only: `{}`)", info.key),
            vars => vars
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let builder = info.builder_method().map_or_else(
            || "—".to_string(),
            |m| format!("[`{m}`](DatadogLayerBuilder::{m})"),
        );
        let live = if info.is_live() {
            " (may change while the app runs)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| {name} | {} | {builder} | {}{live} |\n",
            info.default_value(),
            info.description()
        ));
    }
    out
}

#[test]
fn the_crate_docs_configuration_table_is_the_settings_table() {
    let lib = include_str!("../lib.rs");
    let docs: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//! "))
        .skip_while(|l| !l.starts_with("| Variable | Default | Builder method | Meaning |"))
        .take_while(|l| l.starts_with('|'))
        .map(|l| format!("{l}\n"))
        .collect();
    let want = docs_table();
    assert!(
        docs == want,
        "the configuration table in lib.rs differs from the settings table; it should read:\n{}",
        want.lines()
            .map(|l| format!("//! {l}\n"))
            .collect::<String>()
    );
}

#[test]
fn every_variable_is_named_by_one_setting_or_is_a_shared_fallback() {
    let mut seen: HashMap<&str, Vec<&str>> = HashMap::new();
    for info in SETTINGS {
        for var in info.variables() {
            seen.entry(var).or_default().push(info.key);
        }
    }
    for (var, keys) in seen {
        // The styles for both directions fall back on the same two variables; DogStatsD's
        // host falls back on the agent's.
        let shared = [
            "DD_TRACE_PROPAGATION_STYLE",
            "OTEL_PROPAGATORS",
            "DD_AGENT_HOST",
            // OpenTelemetry's resource attributes give the service, env, version and tags.
            "OTEL_RESOURCE_ATTRIBUTES",
        ]
        .contains(&var);
        assert!(keys.len() == 1 || shared, "{var} is read by {keys:?}");
    }
}

/// Every variable the settings read.
fn all_variables() -> Vec<&'static str> {
    SETTINGS
        .iter()
        .flat_map(|s| s.variables().iter().copied())
        .collect()
}

proptest! {
    #[test]
    fn parsers_never_panic(s in ".{0,200}") {
        let _ = AgentEndpoint::parse(&s);
        let _ = parse_tags(&s);
    }

    /// Any value of any variable, alone or together: the settings are always read, and each
    /// warning names a variable that was set.
    #[test]
    fn any_values_of_the_variables_never_panic(
        values in proptest::collection::vec((0..all_variables().len(), ".{0,80}"), 1..8),
        socket in any::<bool>(),
    ) {
        let all = all_variables();
        let vars: Vec<(&str, &str)> = values.iter().map(|(i, v)| (all[*i], v.as_str())).collect();
        let (settings, warnings) = load(&vars, socket);
        let _ = settings.effective();
        for w in &warnings {
            prop_assert!(vars.iter().any(|(k, _)| w.contains(k)), "{w}");
        }
    }

    /// Well-formed `DD_TAGS` read back as written.
    #[test]
    fn well_formed_tags_round_trip(
        tags in proptest::collection::vec(("[a-z][a-z0-9_.]{0,15}", "[a-zA-Z0-9_./-]{0,20}"), 0..10),
        comma in any::<bool>(),
    ) {
        let sep = if comma { "," } else { " " };
        let raw: Vec<String> = tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        let parsed = parse_tags(&raw.join(sep));
        let want: Vec<(String, String)> = tags
            .into_iter()
            .filter(|(k, _)| k != "git.commit.sha" && k != "git.repository_url")
            .collect();
        prop_assert_eq!(parsed, want);
    }
}

#[test]
fn the_query_obfuscation_pattern_is_the_default_off_when_empty_and_the_default_when_bad() {
    use crate::conventions::DEFAULT_QUERY_OBFUSCATION_PATTERN;
    let var = "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP";
    let (s, w) = load(&[], false);
    assert_eq!(
        s.query_obfuscation.value.as_deref(),
        Some(DEFAULT_QUERY_OBFUSCATION_PATTERN)
    );
    assert!(w.is_empty(), "{w:?}");
    let (s, _) = load(&[(var, "")], false);
    assert_eq!(s.query_obfuscation.value, None, "set empty: off");
    let (s, _) = load(&[(var, "card=[0-9]+")], false);
    assert_eq!(s.query_obfuscation.value.as_deref(), Some("card=[0-9]+"));
    let (s, w) = load(&[(var, "token=(")], false);
    assert_eq!(
        s.query_obfuscation.value.as_deref(),
        Some(DEFAULT_QUERY_OBFUSCATION_PATTERN)
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(var) && w[0].contains("default pattern"),
        "{w:?}"
    );
}

#[test]
fn http_error_statuses_are_read_and_a_bad_list_keeps_the_default() {
    use crate::conventions::StatusSet;
    let (s, w) = load(
        &[
            ("DD_TRACE_HTTP_SERVER_ERROR_STATUSES", "500-599,404"),
            ("DD_TRACE_HTTP_CLIENT_ERROR_STATUSES", "4xx"),
        ],
        false,
    );
    assert!(s.http_server_error_statuses.value.contains(404));
    assert_eq!(
        s.http_client_error_statuses.value,
        StatusSet::DEFAULT_CLIENT_ERRORS
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("DD_TRACE_HTTP_CLIENT_ERROR_STATUSES"),
        "{w:?}"
    );
}

#[test]
fn variables_no_setting_reads_are_listed_as_unsupported() {
    let names = [
        "DD_SERVICE",
        "DD_TRACE_HEADER_TAGZ",
        "OTEL_PROPAGATORS",
        "OTEL_METRICS_EXPORTER",
        "DD_API_KEY",
        "PATH",
        "DD_TRACE_AGENT_PORT",
        "DD_API_KEY",
    ]
    .map(String::from);
    assert_eq!(
        super::table::unsupported_variables(names),
        [
            "DD_API_KEY",
            "DD_TRACE_HEADER_TAGZ",
            "OTEL_METRICS_EXPORTER"
        ]
    );
}

#[test]
fn opentelemetry_variables_fill_in_for_unset_datadog_ones_and_lose_to_set_ones() {
    let (s, warnings) = load(&[
        ("OTEL_SERVICE_NAME", "otel-svc"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=ignored,deployment.environment.name=staging,service.version=9.1,team=core,region=eu",
        ),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_LOG_LEVEL", "debug"),
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ], false);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(s.service.value, "otel-svc");
    assert_eq!(s.service.origin, Origin::EnvVar);
    assert_eq!(s.env.value.as_deref(), Some("staging"));
    assert_eq!(s.version.value.as_deref(), Some("9.1"));
    assert_eq!(
        s.tags.value,
        [
            ("team".into(), "core".into()),
            ("region".into(), "eu".into())
        ]
    );
    assert_eq!(s.sample_rate.value, Some(0.25));
    assert!(s.debug.value);
    assert!(!s.otel_api_enabled.value);
    assert!(!s.enabled.value);

    let (s, warnings) = load(
        &[
            ("DD_SERVICE", "dd-svc"),
            ("OTEL_SERVICE_NAME", "otel-svc"),
            ("DD_TRACE_SAMPLE_RATE", "0.5"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
        ],
        false,
    );
    assert_eq!(s.service.value, "dd-svc");
    assert_eq!(s.sample_rate.value, Some(0.5));
    assert!(s.enabled.value);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings
        .iter()
        .any(|w| w.contains("both DD_SERVICE and OTEL_SERVICE_NAME")));
    assert!(warnings
        .iter()
        .any(|w| w.contains("both DD_TRACE_SAMPLE_RATE and OTEL_TRACES_SAMPLER")));
    assert!(warnings
        .iter()
        .any(|w| w.contains("OTEL_TRACES_EXPORTER=\"zipkin\"")));
}
