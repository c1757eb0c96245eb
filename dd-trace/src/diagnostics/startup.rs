//! The `DATADOG TRACER CONFIGURATION {json}` line printed once at start (unless
//! `DD_TRACE_STARTUP_LOGS=false`), on the thread that builds the tracer.
//!
//! In: the settings, the identity and where traces go. Out: one line, to stderr or the app's
//! diagnostics handler.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::config::{redact, Settings};
use crate::identity::{Identity, LANGUAGE, RUSTC_VERSION, TRACER_VERSION};

/// The startup line's JSON.
#[derive(Serialize)]
struct StartupInfo<'a> {
    date: String,
    os_name: &'static str,
    architecture: &'static str,
    version: &'static str,
    lang: &'static str,
    lang_version: &'static str,
    enabled: bool,
    service: &'a str,
    env: Option<&'a str>,
    dd_version: Option<&'a str>,
    agent_url: &'a str,
    debug: bool,
    sample_rate: Option<f64>,
    sampling_rules: Vec<serde_json::Value>,
    sample_rate_limit: f64,
    span_sampling_rules: Vec<serde_json::Value>,
    tags: BTreeMap<&'a str, &'a str>,
    runtime_id: &'a str,
    trace_id_128_bit_generation_enabled: bool,
    partial_flush_enabled: bool,
    partial_flush_min_spans: usize,
    entity_id: Option<&'a str>,
}

/// Prints the startup line for `settings`; `destination` is where traces go.
pub(crate) fn print(
    settings: &Settings,
    destination: &str,
    identity: &Identity,
    entity_id: Option<&str>,
) {
    if let Some(line) = line(settings, destination, &identity.runtime_id, entity_id) {
        crate::health::log::raw(&line);
    }
}

/// The startup line, `DATADOG TRACER CONFIGURATION {json}`.
fn line(
    s: &Settings,
    destination: &str,
    runtime_id: &str,
    entity_id: Option<&str>,
) -> Option<String> {
    let info = StartupInfo {
        date: rfc3339_seconds(SystemTime::now()),
        os_name: std::env::consts::OS,
        architecture: std::env::consts::ARCH,
        version: TRACER_VERSION,
        lang: LANGUAGE,
        lang_version: RUSTC_VERSION,
        enabled: s.enabled.value,
        service: &s.service.value,
        env: s.env.value.as_deref(),
        dd_version: s.version.value.as_deref(),
        agent_url: destination,
        debug: s.debug.value,
        sample_rate: s.sample_rate.value,
        sampling_rules: as_json(&s.sampling_rules.value),
        sample_rate_limit: s.rate_limit.value,
        span_sampling_rules: as_json(&s.span_sampling_rules.value),
        tags: s
            .tags
            .value
            .iter()
            // As the status and flares show them: a tag named like a secret is not printed.
            .map(|(k, v)| (k.as_str(), redact(k, v)))
            .collect(),
        runtime_id,
        trace_id_128_bit_generation_enabled: s.trace_id_128_bit.value,
        partial_flush_enabled: s.partial_flush.value,
        partial_flush_min_spans: s.partial_flush_min_spans.value,
        entity_id,
    };
    let json = serde_json::to_string(&info).ok()?;
    Some(format!("DATADOG TRACER CONFIGURATION {json}"))
}

/// Rules as JSON values (they display as JSON).
fn as_json<R: std::fmt::Display>(rules: &[R]) -> Vec<serde_json::Value> {
    rules
        .iter()
        .filter_map(|r| serde_json::from_str(&r.to_string()).ok())
        .collect()
}

/// `t` as RFC 3339 UTC, to the second.
fn rfc3339_seconds(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_startup_line_does_not_print_secrets_in_dd_tags() {
        let vars = |k: &str| (k == "DD_TAGS").then(|| "team:web,api_key:abc123".to_string());
        let (settings, _) = Settings::read(&crate::config::Sources {
            layers: vec![(crate::config::Origin::EnvVar, &vars)],
            path_exists: &|_| false,
        });
        let line = line(&settings, "http://localhost:8126", "rid", None).unwrap();
        assert!(line.contains(r#""team":"web""#), "{line}");
        assert!(!line.contains("abc123"), "{line}");
        assert!(line.contains(r#""api_key":"<redacted>""#), "{line}");
    }

    #[test]
    fn startup_dates_are_rfc3339_utc_seconds() {
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400) + Duration::from_millis(999);
        assert_eq!(rfc3339_seconds(leap_day), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(1_764_547_199)),
            "2025-11-30T23:59:59Z"
        );
    }
}
