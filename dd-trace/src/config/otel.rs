//! OpenTelemetry's variables, as Datadog's tracers honour them: each is read when its `DD_*`
//! equivalent is unset, and when both are set the `DD_*` one wins, with one warning naming both.
//!
//! | OpenTelemetry variable | Datadog setting |
//! |---|---|
//! | `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES` | `DD_SERVICE` |
//! | `deployment.environment.name` (or `deployment.environment`) in `OTEL_RESOURCE_ATTRIBUTES` | `DD_ENV` |
//! | `service.version` in `OTEL_RESOURCE_ATTRIBUTES` | `DD_VERSION` |
//! | the other `OTEL_RESOURCE_ATTRIBUTES` (at most 10) | `DD_TAGS` |
//! | `OTEL_TRACES_SAMPLER` (`always_on`, `always_off`, `traceidratio`, `parentbased_*`) with `OTEL_TRACES_SAMPLER_ARG` | `DD_TRACE_SAMPLE_RATE` |
//! | `OTEL_TRACES_EXPORTER=none` | `DD_TRACE_ENABLED=false` |
//! | `OTEL_LOG_LEVEL=debug` | `DD_TRACE_DEBUG=true` |
//! | `OTEL_SDK_DISABLED=true` | `DD_TRACE_OTEL_ENABLED=false` |
//! | `OTEL_PROPAGATORS` | `DD_TRACE_PROPAGATION_STYLE` (read with the styles) |
//!
//! In: the variables, on the thread that builds the tracer. Out: values with the origin
//! `env_var`, and warnings.

use super::setting::{Parser, Reader, SettingInfo};
use super::values::{parse_tags, BOOL, OPTIONAL_TEXT, SAMPLE_RATE, TAGS, TEXT};
use super::Origin;

const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// Most resource attributes taken as tags, as Datadog's tracers take them.
const MAX_RESOURCE_TAGS: usize = 10;

/// The setting's own (first) variable, parsed; the OpenTelemetry variables after it in its
/// list are read by the functions below.
fn own<T>(r: &mut Reader<'_>, info: &SettingInfo, parser: &Parser<T>) -> Option<(T, Origin)> {
    let var = info.name();
    let (raw, origin) = r.raw(var)?;
    let value = r.parse(var, &raw, parser, info.default)?;
    Some((value, origin))
}

/// The Datadog variable's value, else the OpenTelemetry one's; when both are set, one warning.
fn dd_first<T>(
    r: &mut Reader<'_>,
    dd: Option<(T, Origin)>,
    dd_var: &str,
    otel: impl FnOnce(&mut Reader<'_>) -> Option<(T, Origin)>,
    otel_vars: &[&str],
) -> Option<(T, Origin)> {
    if dd.is_some() {
        if let Some(var) = otel_vars.iter().find(|v| r.raw(v).is_some()) {
            r.warn(format!(
                "both {dd_var} and {var} are set: {dd_var} is used, {var} is ignored"
            ));
        }
        return dd;
    }
    otel(r)
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs, comma-separated.
fn resource_attributes(r: &Reader<'_>) -> Option<(Vec<(String, String)>, Origin)> {
    let (raw, origin) = r.raw(RESOURCE_ATTRIBUTES)?;
    let pairs = raw
        .split(',')
        .filter_map(|item| {
            let (k, v) = item.split_once('=')?;
            let (k, v) = (k.trim(), v.trim());
            (!k.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect();
    Some((pairs, origin))
}

fn resource(r: &Reader<'_>, keys: &[&str]) -> Option<(String, Origin)> {
    let (pairs, origin) = resource_attributes(r)?;
    keys.iter()
        .find_map(|key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
        .filter(|v| !v.is_empty())
        .map(|v| (v, origin))
}

/// `DD_SERVICE`, else `OTEL_SERVICE_NAME`, else `service.name` of the resource attributes.
pub(crate) fn read_service(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(String, Origin)> {
    let dd = own(r, info, &TEXT);
    let otel = |r: &mut Reader<'_>| {
        r.raw("OTEL_SERVICE_NAME")
            .or_else(|| resource(r, &["service.name"]))
    };
    dd_first(r, dd, info.name(), otel, &["OTEL_SERVICE_NAME"])
}

/// `DD_ENV`, else `deployment.environment.name` (or `deployment.environment`).
pub(crate) fn read_env(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(Option<String>, Origin)> {
    let dd = own(r, info, &OPTIONAL_TEXT);
    let otel = |r: &mut Reader<'_>| {
        resource(
            r,
            &["deployment.environment.name", "deployment.environment"],
        )
        .map(|(v, o)| (Some(v), o))
    };
    dd_first(r, dd, info.name(), otel, &[])
}

/// `DD_VERSION`, else `service.version`.
pub(crate) fn read_version(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(Option<String>, Origin)> {
    let dd = own(r, info, &OPTIONAL_TEXT);
    let otel = |r: &mut Reader<'_>| resource(r, &["service.version"]).map(|(v, o)| (Some(v), o));
    dd_first(r, dd, info.name(), otel, &[])
}

/// `DD_TAGS`, else the resource attributes that are not the service, env or version.
pub(crate) fn read_tags(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(Vec<(String, String)>, Origin)> {
    let dd = own(r, info, &TAGS);
    let otel = |r: &mut Reader<'_>| {
        let (pairs, origin) = resource_attributes(r)?;
        let mut tags: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "service.name"
                        | "service.version"
                        | "deployment.environment"
                        | "deployment.environment.name"
                )
            })
            .collect();
        if tags.len() > MAX_RESOURCE_TAGS {
            r.warn(format!(
                "{RESOURCE_ATTRIBUTES} has {} attributes besides the service's: the first {MAX_RESOURCE_TAGS} become tags",
                tags.len()
            ));
            tags.truncate(MAX_RESOURCE_TAGS);
        }
        // As `DD_TAGS` would give them.
        let text: Vec<String> = tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        (!tags.is_empty()).then(|| (parse_tags(&text.join(",")), origin))
    };
    dd_first(r, dd, info.name(), otel, &[RESOURCE_ATTRIBUTES])
}

/// `DD_TRACE_ENABLED`, else `OTEL_TRACES_EXPORTER=none` (off).
pub(crate) fn read_enabled(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(bool, Origin)> {
    let dd = own(r, info, &BOOL);
    let otel = |r: &mut Reader<'_>| {
        let (raw, origin) = r.raw("OTEL_TRACES_EXPORTER")?;
        if raw.eq_ignore_ascii_case("none") {
            return Some((false, origin));
        }
        r.warn(format!(
            "OTEL_TRACES_EXPORTER={raw:?}: only `none` is supported (traces go to the Datadog agent); ignored"
        ));
        None
    };
    dd_first(r, dd, info.name(), otel, &["OTEL_TRACES_EXPORTER"])
}

/// `DD_TRACE_SAMPLE_RATE`, else `OTEL_TRACES_SAMPLER` (with `OTEL_TRACES_SAMPLER_ARG`).
pub(crate) fn read_sample_rate(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(Option<f64>, Origin)> {
    let dd = own(r, info, &SAMPLE_RATE);
    let otel = |r: &mut Reader<'_>| {
        let (sampler, origin) = r.raw("OTEL_TRACES_SAMPLER")?;
        let arg = || {
            r.raw("OTEL_TRACES_SAMPLER_ARG")
                .and_then(|(a, _)| a.parse::<f64>().ok())
                .filter(|a| (0.0..=1.0).contains(a))
        };
        let rate = match sampler.to_ascii_lowercase().as_str() {
            "always_on" | "parentbased_always_on" => Some(1.0),
            "always_off" | "parentbased_always_off" => Some(0.0),
            "traceidratio" | "parentbased_traceidratio" => Some(arg().unwrap_or(1.0)),
            _ => None,
        };
        match rate {
            Some(rate) => Some((Some(rate), origin)),
            None => {
                r.warn(format!(
                    "OTEL_TRACES_SAMPLER={sampler:?}: expected always_on, always_off, traceidratio or parentbased_*; ignored"
                ));
                None
            }
        }
    };
    dd_first(r, dd, info.name(), otel, &["OTEL_TRACES_SAMPLER"])
}

/// `DD_TRACE_DEBUG`, else `OTEL_LOG_LEVEL=debug`.
pub(crate) fn read_debug(r: &mut Reader<'_>, info: &'static SettingInfo) -> Option<(bool, Origin)> {
    let dd = own(r, info, &BOOL);
    let otel = |r: &mut Reader<'_>| {
        let (level, origin) = r.raw("OTEL_LOG_LEVEL")?;
        level
            .eq_ignore_ascii_case("debug")
            .then_some((true, origin))
    };
    dd_first(r, dd, info.name(), otel, &["OTEL_LOG_LEVEL"])
}

/// `DD_TRACE_OTEL_ENABLED`, else the opposite of `OTEL_SDK_DISABLED`.
pub(crate) fn read_otel_enabled(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(bool, Origin)> {
    let dd = own(r, info, &BOOL);
    let otel = |r: &mut Reader<'_>| {
        let (raw, origin) = r.raw("OTEL_SDK_DISABLED")?;
        let disabled = r.parse("OTEL_SDK_DISABLED", &raw, &BOOL, "false")?;
        Some((!disabled, origin))
    };
    dd_first(r, dd, info.name(), otel, &["OTEL_SDK_DISABLED"])
}
