//! The `APM_TRACING` product: configs Datadog sends for this service (from the UI, or from
//! Datadog's own adaptive sampling), merged and applied over the settings the tracer started
//! with.
//!
//! In: verified config files (their JSON), on the worker thread. Out: the settings with the
//! remote values in place (origin `remote_config`), and the list of what changed. A config for
//! another service or environment is not applied (its apply error says why). Several configs
//! merge field by field, the most specific first: service and env, then service, then env,
//! then the whole organization. A field no config sets has the value the tracer started with
//! (code, environment, default), so removing a config restores it. `tracing_enabled: false`
//! turns tracing off until the process restarts, as in Datadog's other tracers.

use serde::Deserialize;

use crate::config::{parse_tags, Origin, Settings};
use crate::conventions::parse_header_tags;
use crate::sampling::parse_trace_rules;

/// One `APM_TRACING` config file.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ApmTracingFile {
    #[serde(default)]
    pub(crate) service_target: Option<ServiceTarget>,
    #[serde(default)]
    pub(crate) lib_config: LibConfig,
}

/// Which service and environment a config is for (`*` or absent: any).
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ServiceTarget {
    #[serde(default)]
    pub(crate) service: Option<String>,
    #[serde(default)]
    pub(crate) env: Option<String>,
}

/// What a config sets; `None` (or `null`) leaves a field to the other configs and the
/// tracer's own settings.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct LibConfig {
    #[serde(default)]
    pub(crate) tracing_sampling_rate: Option<f64>,
    #[serde(default)]
    pub(crate) tracing_sampling_rules: Option<Vec<RemoteRule>>,
    #[serde(default)]
    pub(crate) tracing_tags: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) log_injection_enabled: Option<bool>,
    #[serde(default)]
    pub(crate) tracing_header_tags: Option<Vec<RemoteHeaderTag>>,
    #[serde(default)]
    pub(crate) tracing_enabled: Option<bool>,
}

/// A trace sampling rule as remote configuration writes it (tags as a list).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RemoteRule {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    tags: Vec<RemoteRuleTag>,
    sample_rate: f64,
    #[serde(default)]
    provenance: Option<String>,
}

/// One tag a remote rule matches.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RemoteRuleTag {
    key: String,
    value_glob: String,
}

/// One header to tag, as remote configuration writes it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RemoteHeaderTag {
    header: String,
    #[serde(default)]
    tag_name: String,
}

impl ServiceTarget {
    /// Its merge priority: lower wins (service and env 0, service 1, env 2, everything 4).
    pub(crate) fn priority(&self) -> u8 {
        let specific = |v: &Option<String>| v.as_deref().is_some_and(|v| v != "*");
        match (specific(&self.service), specific(&self.env)) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 4,
        }
    }

    /// Why it is not for `service` in `env`, if it is not. Names compare without case; a
    /// tracer without an env takes a config for any env.
    pub(crate) fn mismatch(&self, service: &str, env: Option<&str>) -> Option<String> {
        let differs = |want: &Option<String>, have: Option<&str>| match (want.as_deref(), have) {
            (None | Some("*" | ""), _) | (_, None | Some("")) => false,
            (Some(want), Some(have)) => !want.eq_ignore_ascii_case(have),
        };
        (differs(&self.service, Some(service)) || differs(&self.env, env)).then(|| {
            format!(
                "the config targets service {:?} in env {:?}, this tracer is service {service:?} in env {:?}",
                self.service.as_deref().unwrap_or("*"),
                self.env.as_deref().unwrap_or("*"),
                env.unwrap_or("")
            )
        })
    }
}

/// The configs in effect merged: each field from the most specific config that sets it.
pub(crate) fn merge<'a>(configs: impl IntoIterator<Item = (u8, &'a LibConfig)>) -> LibConfig {
    let mut ordered: Vec<(u8, &LibConfig)> = configs.into_iter().collect();
    ordered.sort_by_key(|(priority, _)| *priority);
    let mut merged = LibConfig::default();
    for (_, c) in ordered {
        let m = &mut merged;
        m.tracing_sampling_rate = m.tracing_sampling_rate.or(c.tracing_sampling_rate);
        if m.tracing_sampling_rules.is_none() {
            m.tracing_sampling_rules = c.tracing_sampling_rules.clone();
        }
        if m.tracing_tags.is_none() {
            m.tracing_tags = c.tracing_tags.clone();
        }
        m.log_injection_enabled = m.log_injection_enabled.or(c.log_injection_enabled);
        if m.tracing_header_tags.is_none() {
            m.tracing_header_tags = c.tracing_header_tags.clone();
        }
        m.tracing_enabled = m.tracing_enabled.or(c.tracing_enabled);
    }
    merged
}

/// Remote rules as the tracer's own JSON rules (tags as an object), for its parser.
fn rules_json(rules: &[RemoteRule]) -> String {
    let rules: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| {
            let mut rule = serde_json::Map::new();
            for (key, value) in [
                ("service", &r.service),
                ("name", &r.name),
                ("resource", &r.resource),
                ("provenance", &r.provenance),
            ] {
                if let Some(v) = value {
                    rule.insert(key.into(), v.clone().into());
                }
            }
            if !r.tags.is_empty() {
                let tags: serde_json::Map<String, serde_json::Value> = r
                    .tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value_glob.clone().into()))
                    .collect();
                rule.insert("tags".into(), tags.into());
            }
            rule.insert("sample_rate".into(), r.sample_rate.into());
            rule.into()
        })
        .collect();
    serde_json::Value::from(rules).to_string()
}

/// `base` (the settings the tracer started with) with `merged` over it, as `settings`; and
/// the warnings about values that could not be used. `disabled` is whether a config has
/// turned tracing off before (it stays off).
pub(crate) fn apply(
    base: &Settings,
    merged: &LibConfig,
    disabled: bool,
    settings: &mut Settings,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let remote = Origin::RemoteConfig;
    settings.sample_rate = match merged.tracing_sampling_rate {
        Some(rate) if (0.0..=1.0).contains(&rate) => crate::config::Setting {
            value: Some(rate),
            origin: remote,
        },
        Some(rate) => {
            warnings.push(format!(
                "tracing_sampling_rate {rate} is not between 0 and 1: not applied"
            ));
            base.sample_rate.clone()
        }
        None => base.sample_rate.clone(),
    };
    settings.sampling_rules = match &merged.tracing_sampling_rules {
        Some(rules) => {
            let (rules, invalid) = parse_trace_rules("tracing_sampling_rules", &rules_json(rules));
            warnings.extend(invalid);
            crate::config::Setting {
                value: rules,
                origin: remote,
            }
        }
        None => base.sampling_rules.clone(),
    };
    settings.tags = match &merged.tracing_tags {
        Some(tags) => crate::config::Setting {
            value: parse_tags(&tags.join(",")),
            origin: remote,
        },
        None => base.tags.clone(),
    };
    settings.logs_injection = match merged.log_injection_enabled {
        Some(on) => crate::config::Setting {
            value: on,
            origin: remote,
        },
        None => base.logs_injection.clone(),
    };
    settings.header_tags = match &merged.tracing_header_tags {
        Some(items) => {
            let text: Vec<String> = items
                .iter()
                .map(|h| match h.tag_name.trim() {
                    "" => h.header.clone(),
                    tag => format!("{}:{tag}", h.header),
                })
                .collect();
            let (tags, invalid) = parse_header_tags(&text.join(","));
            warnings.extend(
                invalid
                    .into_iter()
                    .map(|i| format!("tracing_header_tags item {i:?} names no header: left out")),
            );
            crate::config::Setting {
                value: tags,
                origin: remote,
            }
        }
        None => base.header_tags.clone(),
    };
    settings.enabled = if disabled || merged.tracing_enabled == Some(false) {
        crate::config::Setting {
            value: false,
            origin: remote,
        }
    } else {
        base.enabled.clone()
    };
    warnings
}
