//! Stable configuration: the `application_monitoring.yaml` files Datadog's single-step
//! instrumentation and Fleet Automation write on a host, read by every Datadog tracer.
//!
//! In: the local file (written by the operator) and the managed file (written by Fleet
//! Automation), once, on the thread that builds the tracer; this process's language, arguments
//! and environment for the rules' selectors. Out: each file's settings (`DD_*` variable names
//! and their values) with its `config_id`, which the reader takes as sources of their own:
//! managed file > environment > local file > defaults (code wins over all, as for any
//! setting); and one warning per file that cannot be used (unreadable, over
//! [`MAX_FILE_BYTES`], not the schema) or per part of it that is ignored (an unknown key, a
//! variable dd-trace does not read, a malformed rule). A missing file is normal and silent.
//!
//! A file holds `config_id`, `apm_configuration_default` (variables and values for every
//! process) and `apm_configuration_rules` (also read as `rules`): each rule's `selectors` must
//! all match (a selector matches when any of its `matches` does), and the first matching rule's
//! `configuration` goes over the default. Selectors look at `language` (`rust`),
//! `process_arguments` (with a `key`: the value of a `key=value` argument; without: any
//! argument, the executable's path included), `environment_variables` (with a `key`: that
//! variable's value; without: any `NAME=VALUE`) or the file's own `tags`, with the operators
//! `exists`, `equals`, `prefix_matches` and `suffix_matches` (exact, case-sensitive).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use super::SETTINGS;
use crate::identity::LANGUAGE;

/// Files larger than this are not read (with a warning).
pub(crate) const MAX_FILE_BYTES: u64 = 256 * 1024;

/// The two files' paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StableConfigPaths {
    /// Written by the host's operator.
    pub(crate) local: PathBuf,
    /// Written by Fleet Automation.
    pub(crate) managed: PathBuf,
}

impl Default for StableConfigPaths {
    /// Where Datadog's tracers read them on this platform.
    fn default() -> Self {
        let (local, managed) = if cfg!(target_os = "windows") {
            (
                r"C:\ProgramData\Datadog\application_monitoring.yaml",
                r"C:\ProgramData\Datadog\managed\datadog-agent\stable\application_monitoring.yaml",
            )
        } else if cfg!(target_os = "macos") {
            (
                "/opt/datadog-agent/etc/application_monitoring.yaml",
                "/opt/datadog-agent/etc/stable/application_monitoring.yaml",
            )
        } else {
            (
                "/etc/datadog-agent/application_monitoring.yaml",
                "/etc/datadog-agent/managed/datadog-agent/stable/application_monitoring.yaml",
            )
        };
        StableConfigPaths {
            local: local.into(),
            managed: managed.into(),
        }
    }
}

/// One file's settings for this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StableConfig {
    /// Variable → value.
    pub(crate) values: HashMap<String, String>,
    /// The file's `config_id`.
    pub(crate) config_id: Option<String>,
}

impl StableConfig {
    /// The value this file gives `var`.
    pub(crate) fn get(&self, var: &str) -> Option<String> {
        self.values.get(var).cloned()
    }
}

/// What the rules' selectors look at.
pub(crate) struct Process<'a> {
    /// The process's arguments, the executable's path first.
    pub(crate) args: Vec<String>,
    /// One environment variable.
    pub(crate) var: &'a dyn Fn(&str) -> Option<String>,
    /// Every environment variable, when they can be listed.
    pub(crate) vars: Vec<(String, String)>,
}

/// Reads the file at `path` for `process`; a missing file gives nothing, silently.
pub(crate) fn read(path: &Path, process: &Process<'_>, warnings: &mut Vec<String>) -> StableConfig {
    let file = path.display();
    let size = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return StableConfig::default(),
        Err(e) => {
            warnings.push(format!(
                "stable configuration {file}: cannot read it ({e}); ignored"
            ));
            return StableConfig::default();
        }
        Ok(m) => m.len(),
    };
    if size > MAX_FILE_BYTES {
        warnings.push(format!(
            "stable configuration {file}: {size} bytes, over the {MAX_FILE_BYTES} read; ignored"
        ));
        return StableConfig::default();
    }
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &file.to_string(), process, warnings),
        Err(e) => {
            warnings.push(format!(
                "stable configuration {file}: cannot read it ({e}); ignored"
            ));
            StableConfig::default()
        }
    }
}

/// The settings the YAML `text` (from `file`) gives `process`.
pub(crate) fn parse(
    text: &str,
    file: &str,
    process: &Process<'_>,
    warnings: &mut Vec<String>,
) -> StableConfig {
    if text.trim().is_empty() {
        return StableConfig::default();
    }
    let root: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            warnings.push(format!(
                "stable configuration {file}: not valid YAML ({e}); ignored"
            ));
            return StableConfig::default();
        }
    };
    let Value::Mapping(root) = root else {
        warnings.push(format!(
            "stable configuration {file}: not a mapping of config_id, apm_configuration_default and apm_configuration_rules; ignored"
        ));
        return StableConfig::default();
    };
    let mut ignored = Vec::new();
    let mut config = StableConfig::default();
    let mut default = HashMap::new();
    let mut rules = Vec::new();
    let mut tags = HashMap::new();
    for (key, value) in &root {
        match key.as_str() {
            Some("config_id") => config.config_id = scalar(value),
            Some("apm_configuration_default") => default = settings_map(value, &mut ignored),
            Some("apm_configuration_rules" | "rules") => match value {
                Value::Sequence(list) => rules = list.clone(),
                Value::Null => {}
                _ => ignored.push("apm_configuration_rules (not a list)".to_string()),
            },
            Some("tags") => {
                if let Value::Mapping(m) = value {
                    for (k, v) in m {
                        if let (Some(k), Some(v)) = (k.as_str(), scalar(v)) {
                            tags.insert(k.to_string(), v);
                        }
                    }
                }
            }
            _ => ignored.push(format!("the key {}", describe(key))),
        }
    }
    config.values = default;
    for (i, rule) in rules.iter().enumerate() {
        match rule_matches(rule, process, &tags) {
            Ok(true) => {
                if let Some(c) = rule.get("configuration") {
                    config.values.extend(settings_map(c, &mut ignored));
                }
                break;
            }
            Ok(false) => {}
            Err(why) => ignored.push(format!("rule {} ({why})", i + 1)),
        }
    }
    if !ignored.is_empty() {
        warnings.push(format!(
            "stable configuration {file}: ignored {}",
            ignored.join(", ")
        ));
    }
    config
}

/// A scalar as text: strings as they are, numbers and booleans written out.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn describe(key: &Value) -> String {
    scalar(key).unwrap_or_else(|| format!("{key:?}"))
}

/// A `VARIABLE: value` mapping; variables dd-trace does not read, and values that are not
/// scalars, are ignored (and named in `ignored`).
fn settings_map(value: &Value, ignored: &mut Vec<String>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Value::Mapping(map) = value else {
        if !value.is_null() {
            ignored.push("a configuration that is not a mapping".into());
        }
        return out;
    };
    for (k, v) in map {
        let Some(name) = k.as_str() else {
            ignored.push(format!("the key {}", describe(k)));
            continue;
        };
        if !SETTINGS.iter().any(|s| s.variables.contains(&name)) {
            ignored.push(format!("{name} (not a setting dd-trace reads)"));
            continue;
        }
        match scalar(v) {
            Some(v) => {
                out.insert(name.to_string(), v);
            }
            None if v.is_null() => {}
            None => ignored.push(format!(
                "{name} (its value is not a string, number or boolean)"
            )),
        }
    }
    out
}

/// Whether every selector of `rule` matches `process`.
fn rule_matches(
    rule: &Value,
    process: &Process<'_>,
    tags: &HashMap<String, String>,
) -> Result<bool, String> {
    let selectors = match rule.get("selectors") {
        Some(Value::Sequence(s)) => s,
        _ => return Err("no list of selectors".into()),
    };
    for selector in selectors {
        if !selector_matches(selector, process, tags)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn selector_matches(
    selector: &Value,
    process: &Process<'_>,
    tags: &HashMap<String, String>,
) -> Result<bool, String> {
    let origin = selector
        .get("origin")
        .and_then(Value::as_str)
        .ok_or("a selector without an origin")?;
    let operator = selector
        .get("operator")
        .and_then(Value::as_str)
        .ok_or("a selector without an operator")?;
    let key = selector.get("key").and_then(scalar);
    let matches: Vec<String> = match selector.get("matches") {
        Some(Value::Sequence(list)) => list.iter().filter_map(scalar).collect(),
        Some(v) => scalar(v).into_iter().collect(),
        None => Vec::new(),
    };
    let test = |value: &str| -> Result<bool, String> {
        Ok(match operator {
            "exists" => true,
            "equals" => matches.iter().any(|m| m == value),
            "prefix_matches" => matches.iter().any(|m| value.starts_with(m.as_str())),
            "suffix_matches" => matches.iter().any(|m| value.ends_with(m.as_str())),
            other => return Err(format!("unknown operator {other:?}")),
        })
    };
    // The values the selector looks at: for a key, its value if present.
    let candidates: Vec<String> = match (origin, key.as_deref()) {
        ("language", _) => vec![LANGUAGE.to_string()],
        ("process_arguments", Some(k)) => process
            .args
            .iter()
            .filter_map(|a| {
                a.split_once('=')
                    .filter(|(ak, _)| *ak == k)
                    .map(|(_, v)| v.to_string())
            })
            .collect(),
        ("process_arguments", None) => process.args.clone(),
        ("environment_variables", Some(k)) => (process.var)(k).into_iter().collect(),
        ("environment_variables", None) => process
            .vars
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        ("tags", Some(k)) => tags.get(k).cloned().into_iter().collect(),
        ("tags", None) => Vec::new(),
        (other, _) => return Err(format!("unknown selector origin {other:?}")),
    };
    for c in &candidates {
        if test(c)? {
            return Ok(true);
        }
    }
    // `exists` with nothing to look at, and an unknown operator, still need checking.
    test("").map(|_| false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(args: &[&str], env: &'static [(&'static str, &'static str)]) -> Process<'static> {
        Process {
            args: args.iter().map(|a| a.to_string()).collect(),
            var: Box::leak(Box::new(move |k: &str| {
                env.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })),
            vars: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn parse_for(text: &str, p: &Process<'_>) -> (StableConfig, Vec<String>) {
        let mut warnings = Vec::new();
        let c = parse(text, "f.yaml", p, &mut warnings);
        (c, warnings)
    }

    const FILE: &str = r#"
config_id: fleet-123
apm_configuration_default:
  DD_SERVICE: default-svc
  DD_TRACE_SAMPLE_RATE: 0.5
  DD_LOGS_INJECTION: true
apm_configuration_rules:
  - selectors:
      - origin: language
        operator: equals
        matches: ["java"]
    configuration:
      DD_SERVICE: java-svc
  - selectors:
      - origin: environment_variables
        key: TEAM
        operator: equals
        matches: ["payments", "billing"]
      - origin: process_arguments
        key: --mode
        operator: prefix_matches
        matches: ["work"]
    configuration:
      DD_SERVICE: payments-worker
  - selectors:
      - origin: process_arguments
        operator: suffix_matches
        matches: ["/checkout"]
    configuration:
      DD_SERVICE: checkout
  - selectors:
      - origin: language
        operator: exists
    configuration:
      DD_ENV: from-language-rule
"#;

    #[test]
    fn the_default_applies_and_the_first_matching_rule_goes_over_it() {
        let p = process(&["/app/bin/api", "--mode=worker"], &[("TEAM", "billing")]);
        let (c, warnings) = parse_for(FILE, &p);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.config_id.as_deref(), Some("fleet-123"));
        assert_eq!(c.get("DD_SERVICE").as_deref(), Some("payments-worker"));
        assert_eq!(c.get("DD_TRACE_SAMPLE_RATE").as_deref(), Some("0.5"));
        assert_eq!(c.get("DD_LOGS_INJECTION").as_deref(), Some("true"));
        assert_eq!(c.get("DD_ENV"), None, "only the first matching rule");

        let p = process(&["/srv/checkout"], &[("TEAM", "billing")]);
        assert_eq!(
            parse_for(FILE, &p).0.get("DD_SERVICE").as_deref(),
            Some("checkout")
        );
        let p = process(&["/srv/api"], &[]);
        let (c, _) = parse_for(FILE, &p);
        assert_eq!(c.get("DD_SERVICE").as_deref(), Some("default-svc"));
        assert_eq!(c.get("DD_ENV").as_deref(), Some("from-language-rule"));
    }

    #[test]
    fn selectors_without_keys_and_the_files_tags() {
        let text = r#"
tags:
  cluster: east-1
apm_configuration_rules:
  - selectors:
      - origin: environment_variables
        operator: prefix_matches
        matches: ["POD_NAME=web-"]
      - origin: tags
        key: cluster
        operator: suffix_matches
        matches: ["-1"]
    configuration:
      DD_SERVICE: web
"#;
        let p = process(&["x"], &[("POD_NAME", "web-7f9")]);
        assert_eq!(
            parse_for(text, &p).0.get("DD_SERVICE").as_deref(),
            Some("web")
        );
        let p = process(&["x"], &[("POD_NAME", "api-1")]);
        assert_eq!(parse_for(text, &p).0.get("DD_SERVICE"), None);
    }

    #[test]
    fn what_cannot_be_used_is_named_and_the_rest_applies() {
        let p = process(&["x"], &[]);
        let text = r#"
config_id: 7
wtf: 1
apm_configuration_default:
  DD_SERVICE: svc
  DD_NOT_A_SETTING: x
  DD_ENV: [a, b]
apm_configuration_rules:
  - selectors:
      - origin: moon
        operator: equals
        matches: [x]
    configuration:
      DD_SERVICE: never
"#;
        let (c, warnings) = parse_for(text, &p);
        assert_eq!(c.get("DD_SERVICE").as_deref(), Some("svc"));
        assert_eq!(c.config_id.as_deref(), Some("7"));
        assert_eq!(warnings.len(), 1, "one warning per file: {warnings:?}");
        for part in ["wtf", "DD_NOT_A_SETTING", "DD_ENV", "rule 1", "moon"] {
            assert!(warnings[0].contains(part), "{part}: {warnings:?}");
        }
        let (c, warnings) = parse_for("apm_configuration_default: [", &p);
        assert_eq!(c, StableConfig::default());
        assert!(warnings[0].contains("not valid YAML"), "{warnings:?}");
        let (c, warnings) = parse_for("   \n", &p);
        assert_eq!((c, warnings.len()), (StableConfig::default(), 0));
    }

    #[test]
    fn a_missing_file_is_silent_and_an_oversized_one_is_refused() {
        let p = process(&["x"], &[]);
        let mut warnings = Vec::new();
        let dir = std::env::temp_dir().join(format!("dd-trace-stable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(
            read(&dir.join("absent.yaml"), &p, &mut warnings),
            StableConfig::default()
        );
        assert!(warnings.is_empty());
        let big = dir.join("big.yaml");
        std::fs::write(&big, "#".repeat(MAX_FILE_BYTES as usize + 1)).unwrap();
        assert_eq!(read(&big, &p, &mut warnings), StableConfig::default());
        assert!(warnings[0].contains("over the"), "{warnings:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
