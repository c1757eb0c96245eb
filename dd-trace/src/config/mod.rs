//! Configuration: `DD_*` environment variables plus builder overrides, merged and validated
//! once at start.
//!
//! In: the process environment (or the variable source given to the builder) and the
//! [`DatadogLayerBuilder`]'s overrides. Out: the tracer's validated configuration and one
//! warning per malformed variable, naming it and the default used. Runs on the thread that calls
//! [`DatadogLayerBuilder::build`], before any span exists.
//!
//! The constants here are the defaults the crate docs' configuration table lists; [`mod@env`]
//! names every variable read.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod builder;
mod endpoint;
pub mod env;

pub use builder::DatadogLayerBuilder;
pub use endpoint::AgentEndpoint;

use crate::propagation::{
    parse_styles, BaggageTagKeys, ExtractBehavior, PropagationConfig, PropagationStyle,
};
use crate::sampling::{parse_span_rules, parse_trace_rules, SpanRule, TraceRule};
use endpoint::bracket_ipv6;

/// Agent host used when neither `DD_TRACE_AGENT_URL` nor the socket is available.
pub const DEFAULT_AGENT_HOST: &str = "localhost";
/// Agent trace port used when `DD_TRACE_AGENT_PORT` is unset.
pub const DEFAULT_AGENT_PORT: u16 = 8126;
/// The node agent's Unix socket, used when present and no address is configured.
pub const DEFAULT_AGENT_SOCKET: &str = "/var/run/datadog/apm.socket";
/// Service name when `DD_SERVICE` is unset and the executable name is unknown.
pub const DEFAULT_SERVICE: &str = "unnamed-rust-service";
/// How often finished traces are sent.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Timeout of one request to the agent.
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished trace chunks the hand-off queue holds before it drops new ones.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;
/// Finished spans that trigger a partial flush when partial flushing is on.
pub const DEFAULT_PARTIAL_FLUSH_MIN_SPANS: usize = 1000;
/// Finished spans one open trace may buffer: past this they are sent as a partial chunk
/// even when partial flushing is off, so a trace that never ends cannot grow without bound.
pub const MAX_BUFFERED_SPANS_PER_TRACE: usize = 10_000;
/// Traces per second sampling rules may keep when `DD_TRACE_RATE_LIMIT` is unset.
pub const DEFAULT_TRACE_RATE_LIMIT: f64 = 100.0;
/// Local traces with open spans the tracer records at once; spans of new traces past this are
/// not recorded (and counted), so spans never closed (leaked futures) cannot grow memory
/// forever.
pub const DEFAULT_MAX_OPEN_TRACES: usize = 100_000;
/// Open spans one local trace may have; past this its new spans are not recorded (and counted).
pub const DEFAULT_MAX_OPEN_SPANS_PER_TRACE: usize = 100_000;
pub use crate::export::outbox::DEFAULT_RETRY_BUFFER_BYTES;
/// How long dropping the guard waits for finished traces to be sent.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The tracer's validated configuration.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) service: String,
    pub(crate) env: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) enabled: bool,
    pub(crate) sample_rate: Option<f64>,
    pub(crate) sampling_rules: Vec<TraceRule>,
    pub(crate) rate_limit: f64,
    pub(crate) span_sampling_rules: Vec<SpanRule>,
    pub(crate) propagation: PropagationConfig,
    pub(crate) agent: AgentEndpoint,
    /// Where the agent address came from, for the doctor.
    pub(crate) agent_source: AgentSource,
    pub(crate) agent_timeout: Duration,
    pub(crate) entity_id: Option<String>,
    pub(crate) external_env: Option<String>,
    pub(crate) startup_logs: bool,
    pub(crate) debug: bool,
    pub(crate) trace_id_128_bit: bool,
    pub(crate) log_trace_id_128_bit: bool,
    pub(crate) logs_injection: bool,
    /// Events at or above this level become span events; `None`: none do.
    pub(crate) span_events_level: Option<tracing::Level>,
    pub(crate) partial_flush: bool,
    pub(crate) partial_flush_min_spans: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) retry_buffer_bytes: u64,
    pub(crate) max_open_traces: usize,
    pub(crate) max_open_spans_per_trace: usize,
    /// The payload format forced by `DD_TRACE_AGENT_PROTOCOL_VERSION` / `DD_TRACE_API_VERSION`;
    /// `None`: the newest the agent's `/info` offers.
    pub(crate) protocol: Option<crate::encode::PayloadFormat>,
    /// Compute trace stats and drop unsampled traces when the agent allows it
    /// (`DD_TRACE_STATS_COMPUTATION_ENABLED`, feature `client-stats`).
    pub(crate) stats_computation: bool,
    /// The worker prints nothing (the doctor's tracer).
    pub(crate) quiet: bool,
}

/// Reads and validates the environment. Returns the configuration and one warning per
/// malformed variable.
pub(crate) fn from_env(
    get: &dyn Fn(&str) -> Option<String>,
    socket_exists: &dyn Fn(&Path) -> bool,
) -> (Config, Vec<String>) {
    let mut r = Reader {
        get,
        warnings: Vec::new(),
    };
    let service = r
        .string(env::DD_SERVICE)
        .unwrap_or_else(default_service_name);
    let env_name = r.string(env::DD_ENV);
    let version = r.string(env::DD_VERSION);
    let tags = r
        .string(env::DD_TAGS)
        .map(|s| parse_tags(&s))
        .unwrap_or_default();
    let enabled = r.bool(env::DD_TRACE_ENABLED, true);
    let sample_rate = r.parse(
        env::DD_TRACE_SAMPLE_RATE,
        "a number between 0 and 1",
        "unset: the sampling rules, else the agent's rates decide",
        |s| s.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)),
    );
    let sampling_rules = r
        .string(env::DD_TRACE_SAMPLING_RULES)
        .map(|json| {
            let (rules, warnings) = parse_trace_rules(env::DD_TRACE_SAMPLING_RULES, &json);
            r.warnings.extend(warnings);
            rules
        })
        .unwrap_or_default();
    let rate_limit = r
        .parse(
            env::DD_TRACE_RATE_LIMIT,
            "a number of traces per second, at least 0",
            "100",
            |s| s.parse::<f64>().ok().filter(|l| *l >= 0.0 && !l.is_nan()),
        )
        .unwrap_or(DEFAULT_TRACE_RATE_LIMIT);
    let span_sampling_rules = span_rules(&mut r);
    let propagation = propagation(&mut r);
    let (agent, agent_source) = resolve_agent(&mut r, socket_exists);
    let agent_timeout = r
        .parse(
            env::DD_TRACE_AGENT_TIMEOUT,
            "a positive number of seconds",
            "10",
            |s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite() && *t > 0.0 && *t < 3600.0)
                    .map(Duration::from_secs_f64)
            },
        )
        .unwrap_or(DEFAULT_AGENT_TIMEOUT);
    let entity_id = r.string(env::DD_ENTITY_ID);
    let external_env = r.string(env::DD_EXTERNAL_ENV);
    let startup_logs = r.bool(env::DD_TRACE_STARTUP_LOGS, true);
    let debug = r.bool(env::DD_TRACE_DEBUG, false);
    let trace_id_128_bit = r.bool(env::DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED, true);
    let log_trace_id_128_bit = r.bool(env::DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED, true);
    let logs_injection = r.bool(env::DD_LOGS_INJECTION, true);
    let span_events_level = r
        .parse(
            env::DD_TRACE_SPAN_EVENTS_LEVEL,
            "off, trace, debug, info, warn or error",
            "off",
            |s| match s.to_ascii_lowercase().as_str() {
                "off" | "none" => Some(None),
                level => level.parse::<tracing::Level>().ok().map(Some),
            },
        )
        .flatten();
    let partial = r.bool(env::DD_TRACE_PARTIAL_FLUSH_ENABLED, false);
    let min_spans = r
        .parse(
            env::DD_TRACE_PARTIAL_FLUSH_MIN_SPANS,
            "a whole number from 1 to 99999",
            "1000",
            |s| {
                s.parse::<usize>()
                    .ok()
                    .filter(valid_partial_flush_min_spans)
            },
        )
        .unwrap_or(DEFAULT_PARTIAL_FLUSH_MIN_SPANS);
    let mut limit = |var: &str, default: u64| {
        r.parse(
            var,
            "a whole number, at least 1",
            &default.to_string(),
            |s| s.parse::<u64>().ok().filter(|n| *n >= 1),
        )
        .unwrap_or(default)
    };
    let retry_buffer_bytes = limit(env::DD_TRACE_RETRY_BUFFER_BYTES, DEFAULT_RETRY_BUFFER_BYTES);
    let max_open_traces = limit(
        env::DD_TRACE_MAX_OPEN_TRACES,
        DEFAULT_MAX_OPEN_TRACES as u64,
    );
    let max_open_spans_per_trace = limit(
        env::DD_TRACE_MAX_OPEN_SPANS_PER_TRACE,
        DEFAULT_MAX_OPEN_SPANS_PER_TRACE as u64,
    );
    let protocol = r
        .parse(
            env::DD_TRACE_AGENT_PROTOCOL_VERSION,
            "0.4, 0.5 or 1.0",
            "the newest the agent's /info offers",
            parse_protocol,
        )
        .or_else(|| {
            r.parse(
                env::DD_TRACE_API_VERSION,
                "v0.4, v0.5 or v1.0",
                "the newest the agent's /info offers",
                parse_protocol,
            )
        });
    let mut stats_computation = r.bool(env::DD_TRACE_STATS_COMPUTATION_ENABLED, false);
    if stats_computation && !cfg!(feature = "client-stats") {
        r.warnings.push(format!(
            "{}=true, but this build of dd-trace has no `client-stats` feature: the agent computes the stats (enable the feature to compute them here)",
            env::DD_TRACE_STATS_COMPUTATION_ENABLED
        ));
        stats_computation = false;
    }
    let config = Config {
        service,
        env: env_name,
        version,
        tags,
        enabled,
        sample_rate,
        sampling_rules,
        rate_limit,
        span_sampling_rules,
        propagation,
        agent,
        agent_source,
        agent_timeout,
        entity_id,
        external_env,
        startup_logs,
        debug,
        trace_id_128_bit,
        log_trace_id_128_bit,
        logs_injection,
        span_events_level,
        partial_flush: partial,
        partial_flush_min_spans: min_spans,
        flush_interval: DEFAULT_FLUSH_INTERVAL,
        queue_capacity: DEFAULT_QUEUE_CAPACITY,
        shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        retry_buffer_bytes,
        max_open_traces: usize::try_from(max_open_traces).unwrap_or(usize::MAX),
        max_open_spans_per_trace: usize::try_from(max_open_spans_per_trace).unwrap_or(usize::MAX),
        protocol,
        stats_computation,
        quiet: false,
    };
    (config, r.warnings)
}

/// The propagation variables.
fn propagation(r: &mut Reader<'_>) -> PropagationConfig {
    let defaults = PropagationConfig::default();
    let mut styles = |var: &str| -> Option<Vec<PropagationStyle>> {
        let raw = r.string(var)?;
        let list = if var == env::OTEL_PROPAGATORS {
            // OpenTelemetry's names: `b3` is the single header, `b3multi` the multi one.
            raw.replace("xray", "")
                .replace("jaeger", "")
                .replace("ottrace", "")
        } else {
            raw.clone()
        };
        let (styles, unknown) = parse_styles(&list);
        if unknown.is_empty() {
            return Some(styles);
        }
        let expected = "expected datadog, tracecontext, b3multi, b3, baggage or none";
        if styles.is_empty() {
            r.warnings.push(format!(
                "invalid {var}={raw:?}: unknown style {unknown:?} ({expected}); using the default"
            ));
            return None;
        }
        let kept: Vec<String> = styles.iter().map(ToString::to_string).collect();
        r.warnings.push(format!(
            "invalid {var}={raw:?}: unknown style {unknown:?} ({expected}) left out; using {}",
            kept.join(",")
        ));
        Some(styles)
    };
    let both = styles(env::DD_TRACE_PROPAGATION_STYLE).or_else(|| styles(env::OTEL_PROPAGATORS));
    let inject = styles(env::DD_TRACE_PROPAGATION_STYLE_INJECT)
        .or_else(|| both.clone())
        .unwrap_or_else(|| defaults.inject.clone());
    let extract = styles(env::DD_TRACE_PROPAGATION_STYLE_EXTRACT)
        .or(both)
        .unwrap_or_else(|| defaults.extract.clone());
    let behavior = r
        .parse(
            env::DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT,
            "continue, restart or ignore",
            "continue",
            |s| match s.to_ascii_lowercase().as_str() {
                "continue" => Some(ExtractBehavior::Continue),
                "restart" => Some(ExtractBehavior::Restart),
                "ignore" => Some(ExtractBehavior::Ignore),
                _ => None,
            },
        )
        .unwrap_or(ExtractBehavior::Continue);
    let count = |r: &mut Reader<'_>, var: &str, default: usize| {
        r.parse(var, "a whole number", &default.to_string(), |s| {
            s.parse::<usize>().ok()
        })
        .unwrap_or(default)
    };
    PropagationConfig {
        inject,
        extract,
        extract_first: r.bool(env::DD_TRACE_PROPAGATION_EXTRACT_FIRST, false),
        behavior,
        // Longer than 512 is not allowed: Datadog's tracers clamp it.
        x_datadog_tags_max_length: count(r, env::DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH, 512).min(512),
        baggage_max_items: count(r, env::DD_TRACE_BAGGAGE_MAX_ITEMS, 64),
        baggage_max_bytes: count(r, env::DD_TRACE_BAGGAGE_MAX_BYTES, 8192),
        // Set but empty means no item (unlike the other variables, where empty is unset).
        baggage_tag_keys: (r.get)(env::DD_TRACE_BAGGAGE_TAG_KEYS)
            .map_or_else(BaggageTagKeys::default_keys, |raw| {
                BaggageTagKeys::parse(&raw)
            }),
    }
}

/// `DD_SPAN_SAMPLING_RULES`, else the file `DD_SPAN_SAMPLING_RULES_FILE` names.
fn span_rules(r: &mut Reader<'_>) -> Vec<SpanRule> {
    let (var, json) = if let Some(json) = r.string(env::DD_SPAN_SAMPLING_RULES) {
        if r.string(env::DD_SPAN_SAMPLING_RULES_FILE).is_some() {
            r.warnings.push(format!(
                "both {} and {} are set: using {0}",
                env::DD_SPAN_SAMPLING_RULES,
                env::DD_SPAN_SAMPLING_RULES_FILE
            ));
        }
        (env::DD_SPAN_SAMPLING_RULES, json)
    } else if let Some(path) = r.string(env::DD_SPAN_SAMPLING_RULES_FILE) {
        match std::fs::read_to_string(&path) {
            Ok(json) => (env::DD_SPAN_SAMPLING_RULES_FILE, json),
            Err(e) => {
                r.warnings.push(format!(
                    "invalid {}={path:?}: cannot read it ({e}); no span sampling rule applies",
                    env::DD_SPAN_SAMPLING_RULES_FILE
                ));
                return Vec::new();
            }
        }
    } else {
        return Vec::new();
    };
    let (rules, warnings) = parse_span_rules(var, &json);
    r.warnings.extend(warnings);
    rules
}

/// `0.4`, `v0.4`, `0.5`, `v0.5`, `1.0`, `v1.0`.
fn parse_protocol(s: &str) -> Option<crate::encode::PayloadFormat> {
    use crate::encode::PayloadFormat;
    match s.trim().trim_start_matches(['v', 'V']) {
        "0.4" => Some(PayloadFormat::V04),
        "0.5" => Some(PayloadFormat::V05),
        "1" | "1.0" => Some(PayloadFormat::V1),
        _ => None,
    }
}

/// Whether `n` is a usable `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS`.
pub(crate) fn valid_partial_flush_min_spans(n: &usize) -> bool {
    (1..100_000).contains(n)
}

/// The executable's file name, as Datadog's Go tracer does, else [`DEFAULT_SERVICE`].
fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE.to_string())
}

struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    warnings: Vec<String>,
}

impl Reader<'_> {
    /// A non-empty, trimmed value.
    fn string(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn parse<T>(
        &mut self,
        name: &str,
        expected: &str,
        default: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let raw = self.string(name)?;
        let parsed = parse(&raw);
        if parsed.is_none() {
            self.warnings.push(format!(
                "invalid {name}={raw:?}: expected {expected}; using the default ({default})"
            ));
        }
        parsed
    }

    fn bool(&mut self, name: &str, default: bool) -> bool {
        self.parse(name, "true or false", &default.to_string(), parse_bool)
            .unwrap_or(default)
    }
}

/// Accepts what Go's `strconv.ParseBool` accepts, case-insensitively.
fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "on" => Some(true),
        "0" | "f" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Where the agent's address came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AgentSource {
    /// `DatadogLayerBuilder::with_agent_url`.
    Builder,
    /// `DD_TRACE_AGENT_URL`.
    Url,
    /// `DD_AGENT_HOST` and/or `DD_TRACE_AGENT_PORT`.
    HostPort,
    /// Nothing was configured and the node agent's socket exists.
    DefaultSocket,
    /// Nothing was configured and the default socket does not exist.
    Default,
}

impl AgentSource {
    /// Why this address is used, for people.
    pub(crate) fn explain(&self) -> &'static str {
        match self {
            AgentSource::Builder => "set in code with DatadogLayerBuilder::with_agent_url",
            AgentSource::Url => "from DD_TRACE_AGENT_URL",
            AgentSource::HostPort => "from DD_AGENT_HOST / DD_TRACE_AGENT_PORT",
            AgentSource::DefaultSocket => {
                "nothing configured, and the node agent's socket /var/run/datadog/apm.socket exists"
            }
            AgentSource::Default => {
                "nothing configured (no DD_TRACE_AGENT_URL, DD_AGENT_HOST or DD_TRACE_AGENT_PORT) and /var/run/datadog/apm.socket does not exist: the default"
            }
        }
    }
}

/// `DD_TRACE_AGENT_URL`, else `DD_AGENT_HOST`/`DD_TRACE_AGENT_PORT`, else the default
/// socket if it exists, else `http://localhost:8126`.
fn resolve_agent(
    r: &mut Reader<'_>,
    socket_exists: &dyn Fn(&Path) -> bool,
) -> (AgentEndpoint, AgentSource) {
    if let Some(url) = r.string(env::DD_TRACE_AGENT_URL) {
        match AgentEndpoint::parse(&url) {
            Ok(endpoint) => return (endpoint, AgentSource::Url),
            Err(reason) => r.warnings.push(format!(
                "invalid {}={url:?}: {reason}; using DD_AGENT_HOST/DD_TRACE_AGENT_PORT or the default agent address",
                env::DD_TRACE_AGENT_URL
            )),
        }
    }
    let host = r.string(env::DD_AGENT_HOST);
    let port = r.parse(
        env::DD_TRACE_AGENT_PORT,
        "a port number from 1 to 65535",
        "8126",
        |s| s.parse::<u16>().ok().filter(|&p| p != 0),
    );
    let port_set = r.string(env::DD_TRACE_AGENT_PORT).is_some();
    let configured = host.is_some() || port_set;
    if !configured && socket_exists(Path::new(DEFAULT_AGENT_SOCKET)) {
        return (
            AgentEndpoint::Unix(PathBuf::from(DEFAULT_AGENT_SOCKET)),
            AgentSource::DefaultSocket,
        );
    }
    let endpoint = AgentEndpoint::Http {
        host: bracket_ipv6(host.as_deref().unwrap_or(DEFAULT_AGENT_HOST)),
        port: port.unwrap_or(DEFAULT_AGENT_PORT),
    };
    let source = if configured {
        AgentSource::HostPort
    } else {
        AgentSource::Default
    };
    (endpoint, source)
}

impl Config {
    /// The configuration in effect as `(variable, value)` pairs, for the status, the doctor
    /// and flares. Tag values whose key suggests a secret are redacted.
    pub(crate) fn effective(&self) -> Vec<(String, String)> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let secs = |d: Duration| format!("{}", d.as_secs_f64());
        let styles = |s: &[PropagationStyle]| {
            s.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let tags = self
            .tags
            .iter()
            .map(|(k, v)| format!("{k}:{}", redact(k, v)))
            .collect::<Vec<_>>()
            .join(",");
        let rules = |rules: Vec<String>| format!("[{}]", rules.join(","));
        [
            (env::DD_SERVICE, self.service.clone()),
            (env::DD_ENV, opt(&self.env)),
            (env::DD_VERSION, opt(&self.version)),
            (env::DD_TAGS, tags),
            (env::DD_TRACE_ENABLED, self.enabled.to_string()),
            (
                env::DD_TRACE_SAMPLE_RATE,
                self.sample_rate.map(|r| r.to_string()).unwrap_or_default(),
            ),
            (
                env::DD_TRACE_SAMPLING_RULES,
                rules(
                    self.sampling_rules
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                ),
            ),
            (env::DD_TRACE_RATE_LIMIT, self.rate_limit.to_string()),
            (
                env::DD_SPAN_SAMPLING_RULES,
                rules(
                    self.span_sampling_rules
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                ),
            ),
            (env::DD_TRACE_AGENT_URL, self.agent.to_string()),
            (env::DD_TRACE_AGENT_TIMEOUT, secs(self.agent_timeout)),
            (
                env::DD_TRACE_PROPAGATION_STYLE_INJECT,
                styles(&self.propagation.inject),
            ),
            (
                env::DD_TRACE_PROPAGATION_STYLE_EXTRACT,
                styles(&self.propagation.extract),
            ),
            (
                env::DD_TRACE_PROPAGATION_EXTRACT_FIRST,
                self.propagation.extract_first.to_string(),
            ),
            (
                env::DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT,
                format!("{:?}", self.propagation.behavior).to_lowercase(),
            ),
            (
                env::DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH,
                self.propagation.x_datadog_tags_max_length.to_string(),
            ),
            (
                env::DD_TRACE_BAGGAGE_MAX_ITEMS,
                self.propagation.baggage_max_items.to_string(),
            ),
            (
                env::DD_TRACE_BAGGAGE_MAX_BYTES,
                self.propagation.baggage_max_bytes.to_string(),
            ),
            (
                env::DD_TRACE_BAGGAGE_TAG_KEYS,
                match &self.propagation.baggage_tag_keys {
                    crate::propagation::BaggageTagKeys::All => "*".to_string(),
                    crate::propagation::BaggageTagKeys::Keys(keys) => keys.join(","),
                },
            ),
            (env::DD_ENTITY_ID, opt(&self.entity_id)),
            (env::DD_EXTERNAL_ENV, opt(&self.external_env)),
            (env::DD_TRACE_STARTUP_LOGS, self.startup_logs.to_string()),
            (env::DD_TRACE_DEBUG, self.debug.to_string()),
            (
                env::DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED,
                self.trace_id_128_bit.to_string(),
            ),
            (
                env::DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED,
                self.log_trace_id_128_bit.to_string(),
            ),
            (env::DD_LOGS_INJECTION, self.logs_injection.to_string()),
            (
                env::DD_TRACE_SPAN_EVENTS_LEVEL,
                self.span_events_level
                    .map_or_else(|| "off".to_string(), |l| l.to_string().to_lowercase()),
            ),
            (
                env::DD_TRACE_PARTIAL_FLUSH_ENABLED,
                self.partial_flush.to_string(),
            ),
            (
                env::DD_TRACE_PARTIAL_FLUSH_MIN_SPANS,
                self.partial_flush_min_spans.to_string(),
            ),
            (
                env::DD_TRACE_RETRY_BUFFER_BYTES,
                self.retry_buffer_bytes.to_string(),
            ),
            (
                env::DD_TRACE_MAX_OPEN_TRACES,
                self.max_open_traces.to_string(),
            ),
            (
                env::DD_TRACE_MAX_OPEN_SPANS_PER_TRACE,
                self.max_open_spans_per_trace.to_string(),
            ),
            (
                env::DD_TRACE_STATS_COMPUTATION_ENABLED,
                self.stats_computation.to_string(),
            ),
            (
                env::DD_TRACE_AGENT_PROTOCOL_VERSION,
                self.protocol
                    .map_or("auto", |p| p.name().trim_start_matches('v'))
                    .to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
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

/// Parses `DD_TAGS`: comma-separated when any comma is present, else
/// space-separated; each item split on its first `:`; trimmed; empty keys skipped; a key with
/// no `:` gets the value `""`; git metadata keys dropped.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)], socket: bool) -> (Config, Vec<String>) {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_env(&move |k| vars.get(k).cloned(), &move |_| socket)
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
        assert_eq!(c.propagation.inject, [PropagationStyle::Datadog]);
        assert_eq!(c.propagation.extract, [PropagationStyle::Datadog]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("DD_TRACE_PROPAGATION_STYLE")
                && w[0].contains("\"w3c\"")
                && w[0].contains("using datadog"),
            "{w:?}"
        );
        // Nothing known: the default.
        let (c, w) = load(&[("DD_TRACE_PROPAGATION_STYLE_INJECT", "w3c")], false);
        assert_eq!(c.propagation.inject, PropagationConfig::default().inject);
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
        assert_eq!(c.agent, AgentEndpoint::Unix("/tmp/x.sock".into()));
        assert!(w.is_empty());
        let (c, _) = load(&[("DD_TRACE_AGENT_URL", "http://agent:9000/")], true);
        assert_eq!(c.agent.to_string(), "http://agent:9000");
    }

    #[test]
    fn host_and_port_are_used_when_no_url() {
        let (c, _) = load(&[("DD_AGENT_HOST", "dd-agent")], true);
        assert_eq!(c.agent.to_string(), "http://dd-agent:8126");
        let (c, _) = load(&[("DD_TRACE_AGENT_PORT", "9126")], true);
        assert_eq!(c.agent.to_string(), "http://localhost:9126");
        let (c, _) = load(&[("DD_AGENT_HOST", "::1")], false);
        assert_eq!(c.agent.to_string(), "http://[::1]:8126");
    }

    #[test]
    fn default_socket_is_used_only_when_it_exists() {
        let (c, _) = load(&[], true);
        assert_eq!(c.agent, AgentEndpoint::Unix(DEFAULT_AGENT_SOCKET.into()));
        let (c, _) = load(&[], false);
        assert_eq!(c.agent.to_string(), "http://localhost:8126");
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
            assert_eq!(c.agent.to_string(), "http://h:8126", "{bad}");
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
        assert_eq!(c.sample_rate, None);
        assert!(c.enabled);
        assert_eq!(c.agent.to_string(), "http://localhost:8126");
        assert_eq!(c.agent_timeout, DEFAULT_AGENT_TIMEOUT);
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
        assert_eq!(c.sampling_rules.len(), 1);
        assert_eq!(c.rate_limit, 25.0);
        assert_eq!(c.span_sampling_rules.len(), 1);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("DD_TRACE_SAMPLING_RULES") && w[0].contains(r#""service":"b""#));

        let (c, w) = load(&[("DD_TRACE_RATE_LIMIT", "-5")], false);
        assert_eq!(c.rate_limit, DEFAULT_TRACE_RATE_LIMIT);
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
            c.span_sampling_rules[0].matcher.service.as_str(),
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
            c.span_sampling_rules[0].matcher.service.as_str(),
            "from-var"
        );
        assert_eq!(w.len(), 1, "both set: {w:?}");
        let _ = std::fs::remove_file(&path);
        let (c, w) = load(
            &[("DD_SPAN_SAMPLING_RULES_FILE", "/nonexistent/rules.json")],
            false,
        );
        assert!(c.span_sampling_rules.is_empty());
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
        assert_eq!(c.service, "checkout");
        assert_eq!(c.env.as_deref(), Some("prod"));
        assert_eq!(c.version.as_deref(), Some("1.2.3"));
        assert_eq!(c.sample_rate, Some(0.25));
        assert!(!c.enabled);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Every variable `from_env` reads.
    #[test]
    fn the_configuration_in_effect_names_every_variable_but_the_folded_ones() {
        let (config, _) = from_env(&|_| None, &|_| false);
        let shown: Vec<String> = config.effective().into_iter().map(|(k, _)| k).collect();
        // Read into another variable's value: the file into the rules, host and port into the
        // URL, the styles into inject/extract, the API version into the protocol version.
        let folded = [
            env::DD_SPAN_SAMPLING_RULES_FILE,
            env::DD_AGENT_HOST,
            env::DD_TRACE_AGENT_PORT,
            env::DD_TRACE_PROPAGATION_STYLE,
            env::OTEL_PROPAGATORS,
            env::DD_TRACE_API_VERSION,
        ];
        for var in ALL_VARIABLES.iter().filter(|v| !folded.contains(v)) {
            assert!(shown.iter().any(|k| k == var), "{var} is not shown");
        }
    }

    const ALL_VARIABLES: &[&str] = &[
        env::DD_SERVICE,
        env::DD_ENV,
        env::DD_VERSION,
        env::DD_TAGS,
        env::DD_TRACE_ENABLED,
        env::DD_TRACE_SAMPLE_RATE,
        env::DD_TRACE_SAMPLING_RULES,
        env::DD_TRACE_RATE_LIMIT,
        env::DD_SPAN_SAMPLING_RULES,
        env::DD_SPAN_SAMPLING_RULES_FILE,
        env::DD_TRACE_AGENT_URL,
        env::DD_AGENT_HOST,
        env::DD_TRACE_AGENT_PORT,
        env::DD_TRACE_AGENT_TIMEOUT,
        env::DD_ENTITY_ID,
        env::DD_EXTERNAL_ENV,
        env::DD_TRACE_STARTUP_LOGS,
        env::DD_TRACE_DEBUG,
        env::DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED,
        env::DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED,
        env::DD_TRACE_PARTIAL_FLUSH_ENABLED,
        env::DD_TRACE_PARTIAL_FLUSH_MIN_SPANS,
        env::DD_TRACE_PROPAGATION_STYLE,
        env::DD_TRACE_PROPAGATION_STYLE_INJECT,
        env::DD_TRACE_PROPAGATION_STYLE_EXTRACT,
        env::OTEL_PROPAGATORS,
        env::DD_TRACE_PROPAGATION_EXTRACT_FIRST,
        env::DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT,
        env::DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH,
        env::DD_TRACE_BAGGAGE_MAX_ITEMS,
        env::DD_TRACE_BAGGAGE_MAX_BYTES,
        env::DD_LOGS_INJECTION,
        env::DD_TRACE_SPAN_EVENTS_LEVEL,
        env::DD_TRACE_RETRY_BUFFER_BYTES,
        env::DD_TRACE_MAX_OPEN_TRACES,
        env::DD_TRACE_MAX_OPEN_SPANS_PER_TRACE,
        env::DD_TRACE_AGENT_PROTOCOL_VERSION,
        env::DD_TRACE_API_VERSION,
        env::DD_TRACE_STATS_COMPUTATION_ENABLED,
        env::DD_TRACE_BAGGAGE_TAG_KEYS,
    ];

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,200}") {
            let _ = AgentEndpoint::parse(&s);
            let _ = parse_tags(&s);
            let _ = crate::export::transport::container::parse_container_id(&s);
        }

        /// Any value of any variable, alone or together: the configuration is always built,
        /// and each warning names a variable that was set.
        #[test]
        fn any_values_of_the_variables_never_panic(
            values in proptest::collection::vec((0..ALL_VARIABLES.len(), ".{0,80}"), 1..8),
            socket in any::<bool>(),
        ) {
            let vars: std::collections::HashMap<String, String> = values
                .iter()
                .map(|(i, v)| (ALL_VARIABLES[*i].to_string(), v.clone()))
                .collect();
            let (config, warnings) =
                from_env(&|k| vars.get(k).cloned(), &move |_| socket);
            let _ = config.effective();
            for w in &warnings {
                prop_assert!(vars.keys().any(|k| w.contains(k.as_str())), "{w}");
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
}
