//! The kinds of values settings hold: how each is parsed from a variable's text (the
//! [`Parser`]s and the readers of settings made of several variables or a file) and how it is
//! shown in the configuration in effect ([`Show`]).
//!
//! In: variable text, on the thread that builds the tracer. Out: typed values, or a warning
//! through the [`Reader`] saying what a valid value looks like. Parsing never panics.

use std::time::Duration;

use super::endpoint::{
    AgentAddress, AgentSource, DogStatsdAddress, DEFAULT_AGENT_HOST, DEFAULT_AGENT_PORT,
    DEFAULT_DOGSTATSD_PORT, DEFAULT_DOGSTATSD_SOCKET,
};
use super::setting::{Parser, Reader, SettingInfo, Show};
use super::{AgentEndpoint, Origin, DEFAULT_AGENT_SOCKET, DEFAULT_SERVICE};
use crate::conventions::{parse_header_tags, HeaderTag, QueryObfuscator, StatusSet};
use crate::encode::PayloadFormat;
use crate::headers::{parse_styles, BaggageTagKeys, ExtractBehavior, PropagationStyle};
use crate::sampling::{parse_span_rules, parse_trace_rules, SpanRule, TraceRule};

/// Any text.
pub(crate) const TEXT: Parser<String> = Parser {
    expected: "text",
    parse: |s| Some(s.to_string()),
};

/// Any text, for a setting that is unset by default.
pub(crate) const OPTIONAL_TEXT: Parser<Option<String>> = Parser {
    expected: "text",
    parse: |s| Some(Some(s.to_string())),
};

/// What Go's `strconv.ParseBool` accepts, case-insensitively.
pub(crate) const BOOL: Parser<bool> = Parser {
    expected: "true or false",
    parse: |s| match s.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "on" => Some(true),
        "0" | "f" | "false" | "no" | "off" => Some(false),
        _ => None,
    },
};

/// A sampling rate.
pub(crate) const SAMPLE_RATE: Parser<Option<f64>> = Parser {
    expected: "a number between 0 and 1",
    parse: |s| {
        s.parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .map(Some)
    },
};

/// A rate limit.
pub(crate) const TRACES_PER_SECOND: Parser<f64> = Parser {
    expected: "a number of traces per second, at least 0",
    parse: |s| s.parse::<f64>().ok().filter(|l| *l >= 0.0 && !l.is_nan()),
};

/// A timeout of less than an hour.
pub(crate) const SECONDS: Parser<Duration> = Parser {
    expected: "a positive number of seconds",
    parse: |s| {
        s.parse::<f64>()
            .ok()
            .filter(|t| t.is_finite() && *t > 0.0 && *t < 3600.0)
            .map(Duration::from_secs_f64)
    },
};

/// A `tracing` level, or none.
pub(crate) const LEVEL: Parser<Option<tracing::Level>> = Parser {
    expected: "off, trace, debug, info, warn or error",
    parse: |s| match s.to_ascii_lowercase().as_str() {
        "off" | "none" => Some(None),
        level => level.parse::<tracing::Level>().ok().map(Some),
    },
};

/// A partial flush threshold.
pub(crate) const PARTIAL_FLUSH_MIN_SPANS: Parser<usize> = Parser {
    expected: "a whole number from 1 to 99999",
    parse: |s| {
        s.parse::<usize>()
            .ok()
            .filter(valid_partial_flush_min_spans)
    },
};

/// A positive count of bytes.
pub(crate) const BYTES: Parser<u64> = Parser {
    expected: "a whole number, at least 1",
    parse: |s| s.parse::<u64>().ok().filter(|n| *n >= 1),
};

/// A positive count.
pub(crate) const AT_LEAST_ONE: Parser<usize> = Parser {
    expected: "a whole number, at least 1",
    parse: |s| {
        let n = s.parse::<u64>().ok().filter(|n| *n >= 1)?;
        Some(usize::try_from(n).unwrap_or(usize::MAX))
    },
};

/// A count.
pub(crate) const COUNT: Parser<usize> = Parser {
    expected: "a whole number",
    parse: |s| s.parse::<usize>().ok(),
};

/// The length `x-datadog-tags` may take: Datadog's tracers cap it at 512.
pub(crate) const TAGS_HEADER_LENGTH: Parser<usize> = Parser {
    expected: "a whole number",
    parse: |s| s.parse::<usize>().ok().map(|n| n.min(512)),
};

/// What to do with an extracted context.
pub(crate) const EXTRACT_BEHAVIOR: Parser<ExtractBehavior> = Parser {
    expected: "continue, restart or ignore",
    parse: |s| match s.to_ascii_lowercase().as_str() {
        "continue" => Some(ExtractBehavior::Continue),
        "restart" => Some(ExtractBehavior::Restart),
        "ignore" => Some(ExtractBehavior::Ignore),
        _ => None,
    },
};

/// A payload format: `0.4`, `v0.4`, `0.5`, `v0.5`, `1.0`, `v1.0`.
pub(crate) const PROTOCOL: Parser<Option<PayloadFormat>> = Parser {
    expected: "0.4, 0.5 or 1.0 (or v0.4, v0.5, v1.0)",
    parse: |s| match s.trim_start_matches(['v', 'V']) {
        "0.4" => Some(Some(PayloadFormat::V04)),
        "0.5" => Some(Some(PayloadFormat::V05)),
        "1" | "1.0" => Some(Some(PayloadFormat::V1)),
        _ => None,
    },
};

/// A TCP port.
pub(crate) const PORT: Parser<u16> = Parser {
    expected: "a port number from 1 to 65535",
    parse: |s| s.parse::<u16>().ok().filter(|&p| p != 0),
};

/// `k:v` tags.
pub(crate) const TAGS: Parser<Vec<(String, String)>> = Parser {
    expected: "k:v tags",
    parse: |s| Some(parse_tags(s)),
};

/// Whether `n` is a usable `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS`.
pub(crate) fn valid_partial_flush_min_spans(n: &usize) -> bool {
    (1..100_000).contains(n)
}

/// Parses `DD_TAGS`: comma-separated when any comma is present, else space-separated; each
/// item split on its first `:`; trimmed; empty keys skipped; a key with no `:` gets the value
/// `""`; git metadata keys dropped.
pub(crate) fn parse_tags(raw: &str) -> Vec<(String, String)> {
    let separator = if raw.contains(',') { ',' } else { ' ' };
    raw.split(separator)
        .filter_map(|item| {
            let (key, value) = item.split_once(':').unwrap_or((item, ""));
            let (key, value) = (key.trim(), value.trim());
            let skip = key.is_empty() || key == "git.commit.sha" || key == "git.repository_url";
            (!skip).then(|| (key.to_string(), value.to_string()))
        })
        .collect()
}

/// Git metadata (`DD_GIT_REPOSITORY_URL`, `DD_GIT_COMMIT_SHA`): the variable, else the key of
/// `DD_TAGS` named after it (`git.repository_url`, `git.commit.sha`). A repository URL loses
/// its credentials.
pub(crate) fn read_git(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(Option<String>, Origin)> {
    let tags_key = match info.name() {
        "DD_GIT_REPOSITORY_URL" => "git.repository_url",
        _ => "git.commit.sha",
    };
    let (value, origin) = r.raw(info.name()).or_else(|| {
        let (tags, origin) = r.raw("DD_TAGS")?;
        let separator = if tags.contains(',') { ',' } else { ' ' };
        tags.split(separator).find_map(|item| {
            let (k, v) = item.split_once(':')?;
            (k.trim() == tags_key && !v.trim().is_empty()).then(|| (v.trim().to_string(), origin))
        })
    })?;
    let value = if tags_key == "git.repository_url" {
        crate::identity::strip_credentials(&value)
    } else {
        value
    };
    Some((Some(value), origin))
}

/// `value`, or `<redacted>` when `key` names something secret.
pub(crate) fn redact<'a>(key: &str, value: &'a str) -> &'a str {
    let key = key.to_ascii_lowercase();
    let secret = [
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "auth",
        "credential",
    ]
    .iter()
    .any(|s| key.contains(s));
    if secret {
        "<redacted>"
    } else {
        value
    }
}

/// The executable's file name, as Datadog's Go tracer does, else [`DEFAULT_SERVICE`].
pub(crate) fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE.to_string())
}

/// Trace rules from JSON; a rule that cannot be used is skipped with a warning.
pub(crate) fn read_trace_rules(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(Vec<TraceRule>, Origin)> {
    let var = info.name();
    let (json, origin) = r.raw(var)?;
    let (rules, warnings) = parse_trace_rules(var, &json);
    warnings.into_iter().for_each(|w| r.warn(w));
    Some((rules, origin))
}

/// Span rules from their variable, else from the file the second variable names.
pub(crate) fn read_span_rules(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(Vec<SpanRule>, Origin)> {
    let (var, file_var) = (info.variables[0], info.variables[1]);
    let (var, json, origin) = if let Some((json, origin)) = r.raw(var) {
        if r.raw(file_var).is_some() {
            r.warn(format!("both {var} and {file_var} are set: using {var}"));
        }
        (var, json, origin)
    } else {
        let (path, origin) = r.raw(file_var)?;
        match std::fs::read_to_string(&path) {
            Ok(json) => (file_var, json, origin),
            Err(e) => {
                r.warn(format!(
                    "invalid {file_var}={path:?}: cannot read it ({e}); no span sampling rule applies"
                ));
                return None;
            }
        }
    };
    let (rules, warnings) = parse_span_rules(var, &json);
    warnings.into_iter().for_each(|w| r.warn(w));
    Some((rules, origin))
}

/// `DD_TRACE_HEADER_TAGS`: `header[:tag]` items; an item naming no header is left out with a
/// warning.
pub(crate) fn read_header_tags(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(Vec<HeaderTag>, Origin)> {
    let var = info.variables[0];
    let (text, origin) = r.raw(var)?;
    let (tags, invalid) = parse_header_tags(&text);
    for item in invalid {
        r.warn(format!(
            "invalid {var} item {item:?}: expected header or header:tag; it is left out"
        ));
    }
    Some((tags, origin))
}

/// HTTP status codes and inclusive ranges: `400-403,405,410-499`.
pub(crate) const STATUS_SET: Parser<StatusSet> = Parser {
    expected: "HTTP status codes and ranges, as 500-599,404",
    parse: StatusSet::parse,
};

/// The query-string obfuscation pattern: the default when unset, none when set empty; a pattern
/// that does not compile is reported, and the default is used.
pub(crate) fn read_query_obfuscation(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(Option<String>, Origin)> {
    let var = info.variables[0];
    let (pattern, origin) = r.raw_or_empty(var)?;
    if pattern.trim().is_empty() {
        return Some((None, origin));
    }
    match QueryObfuscator::new(&pattern) {
        Ok(_) => Some((Some(pattern), origin)),
        Err(e) => {
            let reason = e.to_string();
            let reason = reason.lines().last().unwrap_or_default().trim();
            r.warn(format!(
                "invalid {var}: not a regular expression ({reason}); using the default pattern"
            ));
            None
        }
    }
}

/// Propagation styles from the first of the setting's variables that names a known one (an
/// unknown style is left out with a warning; OpenTelemetry's own propagators are ignored).
pub(crate) fn read_styles(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(Vec<PropagationStyle>, Origin)> {
    let otel = *info.variables.last()?;
    for var in info.variables {
        let Some((raw, origin)) = r.raw(var) else {
            continue;
        };
        let list = if *var == otel {
            // OpenTelemetry's names: `b3` is the single header, `b3multi` the multi one; its
            // other propagators have no Datadog style.
            raw.replace("xray", "")
                .replace("jaeger", "")
                .replace("ottrace", "")
        } else {
            raw.clone()
        };
        let (styles, unknown) = parse_styles(&list);
        if unknown.is_empty() {
            return Some((styles, origin));
        }
        let expected = "expected datadog, tracecontext, b3multi, b3, baggage or none";
        if styles.is_empty() {
            r.warn(format!(
                "invalid {var}={raw:?}: unknown style {unknown:?} ({expected}); using the default"
            ));
            continue;
        }
        let kept: Vec<String> = styles.iter().map(ToString::to_string).collect();
        r.warn(format!(
            "invalid {var}={raw:?}: unknown style {unknown:?} ({expected}) left out; using {}",
            kept.join(",")
        ));
        return Some((styles, origin));
    }
    None
}

/// Baggage tag keys: set but empty means no item (unlike other variables, where empty is
/// unset).
pub(crate) fn read_baggage_tag_keys(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(BaggageTagKeys, Origin)> {
    let (raw, origin) = r.raw_or_empty(info.name())?;
    Some((BaggageTagKeys::parse(&raw), origin))
}

/// Client-side stats: only with the `client-stats` feature.
pub(crate) fn read_stats_computation(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(bool, Origin)> {
    let (on, origin) = r.parsed(info, &BOOL)?;
    if on && !cfg!(feature = "client-stats") {
        r.warn(format!(
            "{}=true, but this build of dd-trace has no `client-stats` feature: the agent computes the stats (enable the feature to compute them here)",
            info.name()
        ));
        return Some((false, origin));
    }
    Some((on, origin))
}

/// DogStatsD's address: the URL (first variable), else the host (second, else the agent's
/// host, the fourth) and port (third), else the node agent's DogStatsD socket if it exists,
/// else UDP `localhost:8125`.
pub(crate) fn read_dogstatsd(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(DogStatsdAddress, Origin)> {
    let [url_var, host_var, port_var, agent_host_var] = info.variables else {
        return None;
    };
    if let Some((url, origin)) = r.raw(url_var) {
        match DogStatsdAddress::parse(&url) {
            Some(address) => return Some((address, origin)),
            None => r.warn(format!(
                "invalid {url_var}={url:?}: expected udp://host:port or unix:///path; using {host_var}/{port_var} or the default"
            )),
        }
    }
    let host = r.raw(host_var).or_else(|| r.raw(agent_host_var));
    let port_raw = r.raw(port_var);
    let port = port_raw
        .as_ref()
        .and_then(|(raw, _)| r.parse(port_var, raw, &PORT, &DEFAULT_DOGSTATSD_PORT.to_string()));
    if host.is_none() && port_raw.is_none() {
        let socket = std::path::Path::new(DEFAULT_DOGSTATSD_SOCKET);
        return r.path_exists(socket).then(|| {
            (
                DogStatsdAddress::Unix(socket.to_path_buf()),
                Origin::Calculated,
            )
        });
    }
    let origin = host
        .as_ref()
        .or(port_raw.as_ref())
        .map_or(Origin::EnvVar, |(_, o)| *o);
    let address = DogStatsdAddress::Udp {
        host: host.map_or_else(|| DEFAULT_AGENT_HOST.to_string(), |(h, _)| h),
        port: port.unwrap_or(DEFAULT_DOGSTATSD_PORT),
    };
    Some((address, origin))
}

/// The agent's address: the URL (first variable), else the host and port (second and third),
/// else the node agent's socket if it exists, else `http://localhost:8126`.
pub(crate) fn read_agent(
    r: &mut Reader<'_>,
    info: &'static SettingInfo,
) -> Option<(AgentAddress, Origin)> {
    let [url_var, host_var, port_var] = info.variables else {
        return None;
    };
    if let Some((url, origin)) = r.raw(url_var) {
        match AgentEndpoint::parse(&url) {
            Ok(endpoint) => return Some((AgentAddress::new(endpoint, AgentSource::Url), origin)),
            Err(reason) => r.warn(format!(
                "invalid {url_var}={url:?}: {reason}; using {host_var}/{port_var} or the default agent address"
            )),
        }
    }
    let host = r.raw(host_var);
    let port_raw = r.raw(port_var);
    let port = port_raw
        .as_ref()
        .and_then(|(raw, _)| r.parse(port_var, raw, &PORT, &DEFAULT_AGENT_PORT.to_string()));
    if host.is_none() && port_raw.is_none() {
        let socket = std::path::Path::new(DEFAULT_AGENT_SOCKET);
        return r.path_exists(socket).then(|| {
            let endpoint = AgentEndpoint::Unix(socket.to_path_buf());
            (
                AgentAddress::new(endpoint, AgentSource::DefaultSocket),
                Origin::Calculated,
            )
        });
    }
    let origin = host
        .as_ref()
        .or(port_raw.as_ref())
        .map_or(Origin::EnvVar, |(_, o)| *o);
    let endpoint = AgentEndpoint::http(
        host.as_ref()
            .map_or(DEFAULT_AGENT_HOST, |(h, _)| h.as_str()),
        port.unwrap_or(DEFAULT_AGENT_PORT),
    );
    Some((AgentAddress::new(endpoint, AgentSource::HostPort), origin))
}

impl Show for String {
    fn show(&self) -> String {
        self.clone()
    }
}

impl Show for Option<String> {
    fn show(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

impl Show for bool {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for f64 {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for Option<f64> {
    fn show(&self) -> String {
        self.map(|v| v.to_string()).unwrap_or_default()
    }
}

impl Show for usize {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for u64 {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for Duration {
    fn show(&self) -> String {
        self.as_secs_f64().to_string()
    }
}

impl Show for Option<tracing::Level> {
    fn show(&self) -> String {
        self.map_or_else(|| "off".into(), |l| l.to_string().to_lowercase())
    }
}

impl Show for Option<PayloadFormat> {
    fn show(&self) -> String {
        self.map_or("auto", |p| p.name().trim_start_matches('v'))
            .to_string()
    }
}

impl Show for Vec<(String, String)> {
    fn show(&self) -> String {
        let tags: Vec<String> = self.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        tags.join(",")
    }

    fn show_redacting_secret_tags(&self) -> String {
        let tags: Vec<String> = self
            .iter()
            .map(|(k, v)| format!("{k}:{}", redact(k, v)))
            .collect();
        tags.join(",")
    }
}

impl Show for Vec<TraceRule> {
    fn show(&self) -> String {
        let rules: Vec<String> = self.iter().map(ToString::to_string).collect();
        format!("[{}]", rules.join(","))
    }
}

impl Show for Vec<SpanRule> {
    fn show(&self) -> String {
        let rules: Vec<String> = self.iter().map(ToString::to_string).collect();
        format!("[{}]", rules.join(","))
    }
}

impl Show for Vec<PropagationStyle> {
    fn show(&self) -> String {
        let styles: Vec<String> = self.iter().map(ToString::to_string).collect();
        styles.join(",")
    }
}

impl Show for ExtractBehavior {
    fn show(&self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

impl Show for BaggageTagKeys {
    fn show(&self) -> String {
        match self {
            BaggageTagKeys::All => "*".to_string(),
            BaggageTagKeys::Keys(keys) => keys.join(","),
        }
    }
}

impl Show for Vec<HeaderTag> {
    fn show(&self) -> String {
        self.iter()
            .map(|t| format!("{}:{}", t.header, t.request_tag))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Show for StatusSet {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for AgentAddress {
    fn show(&self) -> String {
        self.endpoint.to_string()
    }
}

impl Show for DogStatsdAddress {
    fn show(&self) -> String {
        self.to_string()
    }
}
