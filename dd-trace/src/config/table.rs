//! THE settings table: every setting dd-trace has, declared once. An entry gives what the
//! setting means (its doc comment, which is also the crate docs' "Meaning"), its field and
//! type, its variables (its own first, then the aliases and fallbacks read when it is unset),
//! its default (the value, and the text the docs show), how it is read, the builder method that
//! sets it from code, whether it may change while the app runs (`live`: read on the app's
//! threads from the swapped snapshot, see `live.rs`), and how the configuration in effect shows
//! it. Everything else comes from here: `Settings` and the reader, the builder's overrides, the
//! configuration in effect (status, doctor, flares, startup line) and the check of the crate
//! docs' table.
//!
//! Adding a setting is one entry here, plus the code that uses `settings.<field>.value`.

use std::time::Duration;

use super::endpoint::{AgentAddress, DogStatsdAddress};
use super::otel::*;
use super::setting::{
    settings, Origin, Read::*, Reader, Redaction, Setting, SettingInfo, SettingValue, Sources,
};
use super::values::*;
use super::{
    DEFAULT_AGENT_TIMEOUT, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_OPEN_SPANS_PER_TRACE,
    DEFAULT_MAX_OPEN_TRACES, DEFAULT_METRICS_INTERVAL, DEFAULT_PARTIAL_FLUSH_MIN_SPANS,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_REMOTE_CONFIG_POLL_INTERVAL, DEFAULT_RETRY_BUFFER_BYTES,
    DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_TELEMETRY_HEARTBEAT_INTERVAL, DEFAULT_TRACE_RATE_LIMIT,
};
use crate::conventions::{HeaderTag, StatusSet, DEFAULT_QUERY_OBFUSCATION_PATTERN};
use crate::encode::PayloadFormat;
use crate::headers::{
    BaggageTagKeys, ExtractBehavior, PropagationStyle, DEFAULT_BAGGAGE_MAX_BYTES,
    DEFAULT_BAGGAGE_MAX_ITEMS, DEFAULT_STYLES, MAX_TAGS_HEADER_LENGTH,
};
use crate::sampling::{SpanRule, TraceRule};

settings! {
    /// service of the spans this process creates
    service: String {
        vars: ["DD_SERVICE", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"],
        default: default_service_name() => "the executable's name",
        read: Custom(read_service),
        builder: "with_service",
        live: false,
        redact: None,
    }
    /// `env` tag on every span
    env: Option<String> {
        vars: ["DD_ENV", "OTEL_RESOURCE_ATTRIBUTES"],
        default: None => "none",
        read: Custom(read_env),
        builder: "with_env",
        live: false,
        redact: None,
    }
    /// `version` tag on spans of `DD_SERVICE`
    version: Option<String> {
        vars: ["DD_VERSION", "OTEL_RESOURCE_ATTRIBUTES"],
        default: None => "none",
        read: Custom(read_version),
        builder: "with_version",
        live: false,
        redact: None,
    }
    /// `k:v` tags on every span, separated by commas (or spaces when there is no comma); the builder method adds to them
    tags: Vec<(String, String)> {
        vars: ["DD_TAGS", "OTEL_RESOURCE_ATTRIBUTES"],
        default: Vec::new() => "none",
        read: Custom(read_tags),
        builder: "with_tag",
        live: true,
        redact: SecretTagValues,
    }
    /// `false`: no spans are recorded, no worker runs, nothing is sent
    enabled: bool {
        vars: ["DD_TRACE_ENABLED", "OTEL_TRACES_EXPORTER"],
        default: true => "true",
        read: Custom(read_enabled),
        builder: "with_enabled",
        live: true,
        redact: None,
    }
    /// rate in `[0, 1]` of the rule that comes after all others and matches every trace
    sample_rate: Option<f64> {
        vars: ["DD_TRACE_SAMPLE_RATE", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"],
        default: None => "unset",
        read: Custom(read_sample_rate),
        builder: "with_sample_rate",
        live: true,
        redact: None,
    }
    /// trace sampling rules, a JSON array (see Sampling)
    sampling_rules: Vec<TraceRule> {
        vars: ["DD_TRACE_SAMPLING_RULES"],
        default: Vec::new() => "none",
        read: Custom(read_trace_rules),
        builder: "with_trace_sampling_rule",
        live: true,
        redact: None,
    }
    /// traces per second the rules may keep; 0 keeps none
    rate_limit: f64 {
        vars: ["DD_TRACE_RATE_LIMIT"],
        default: DEFAULT_TRACE_RATE_LIMIT => "100",
        read: Parsed(TRACES_PER_SECOND),
        builder: "with_rate_limit",
        live: false,
        redact: None,
    }
    /// span sampling rules, a JSON array (see Sampling), or a file of them; the variable wins over the file
    span_sampling_rules: Vec<SpanRule> {
        vars: ["DD_SPAN_SAMPLING_RULES", "DD_SPAN_SAMPLING_RULES_FILE"],
        default: Vec::new() => "none",
        read: Custom(read_span_rules),
        builder: "with_span_sampling_rule",
        live: false,
        redact: None,
    }
    /// the agent: `unix:///path/to/apm.socket` or `http://host:port`, else `http://` the host (default `localhost`) and port (default `8126`)
    agent: AgentAddress {
        vars: ["DD_TRACE_AGENT_URL", "DD_AGENT_HOST", "DD_TRACE_AGENT_PORT"],
        default: AgentAddress::default() => "`/var/run/datadog/apm.socket` if it exists, else `http://localhost:8126`",
        read: Custom(read_agent),
        builder: "with_agent_url",
        live: false,
        redact: None,
    }
    /// seconds one request to the agent may take
    agent_timeout: Duration {
        vars: ["DD_TRACE_AGENT_TIMEOUT"],
        default: DEFAULT_AGENT_TIMEOUT => "10",
        read: Parsed(SECONDS),
        builder: "with_agent_timeout",
        live: false,
        redact: None,
    }
    /// styles written into outgoing requests: `datadog`, `tracecontext`, `b3multi`, `b3` (single header), `baggage`, `none`; the second variable sets both directions, and OpenTelemetry's, the third, is read when neither is set
    inject_styles: Vec<PropagationStyle> {
        vars: ["DD_TRACE_PROPAGATION_STYLE_INJECT", "DD_TRACE_PROPAGATION_STYLE", "OTEL_PROPAGATORS"],
        default: DEFAULT_STYLES.to_vec() => "`datadog,tracecontext,baggage`",
        read: Custom(read_styles),
        builder: "with_inject_styles",
        live: false,
        redact: None,
    }
    /// styles read from incoming requests, in order; the first valid context wins
    extract_styles: Vec<PropagationStyle> {
        vars: ["DD_TRACE_PROPAGATION_STYLE_EXTRACT", "DD_TRACE_PROPAGATION_STYLE", "OTEL_PROPAGATORS"],
        default: DEFAULT_STYLES.to_vec() => "`datadog,tracecontext,baggage`",
        read: Custom(read_styles),
        builder: "with_extract_styles",
        live: false,
        redact: None,
    }
    /// `true`: look no further than the first valid context (by default later styles still add the same trace's `tracestate` and link other traces)
    extract_first: bool {
        vars: ["DD_TRACE_PROPAGATION_EXTRACT_FIRST"],
        default: false => "false",
        read: Parsed(BOOL),
        builder: "",
        live: false,
        redact: None,
    }
    /// `restart`: start a new trace linked to the incoming one; `ignore`: extract nothing
    extract_behavior: ExtractBehavior {
        vars: ["DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT"],
        default: ExtractBehavior::Continue => "continue",
        read: Parsed(EXTRACT_BEHAVIOR),
        builder: "",
        live: false,
        redact: None,
    }
    /// bytes `x-datadog-tags` may take (at most 512; 0: the header is neither sent nor read)
    x_datadog_tags_max_length: usize {
        vars: ["DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH"],
        default: MAX_TAGS_HEADER_LENGTH => "512",
        read: Parsed(TAGS_HEADER_LENGTH),
        builder: "",
        live: false,
        redact: None,
    }
    /// baggage items propagated at most
    baggage_max_items: usize {
        vars: ["DD_TRACE_BAGGAGE_MAX_ITEMS"],
        default: DEFAULT_BAGGAGE_MAX_ITEMS => "64",
        read: Parsed(COUNT),
        builder: "",
        live: false,
        redact: None,
    }
    /// bytes of baggage propagated at most
    baggage_max_bytes: usize {
        vars: ["DD_TRACE_BAGGAGE_MAX_BYTES"],
        default: DEFAULT_BAGGAGE_MAX_BYTES => "8192",
        read: Parsed(COUNT),
        builder: "",
        live: false,
        redact: None,
    }
    /// baggage items that become `baggage.<key>` tags on the span adopting an extracted context; `*` all, empty none
    baggage_tag_keys: BaggageTagKeys {
        vars: ["DD_TRACE_BAGGAGE_TAG_KEYS"],
        default: BaggageTagKeys::default_keys() => "`user.id,session.id,account.id`",
        read: Custom(read_baggage_tag_keys),
        builder: "",
        live: false,
        redact: None,
    }
    /// sent as `Datadog-Entity-ID` when no container id or cgroup inode can be detected
    entity_id: Option<String> {
        vars: ["DD_ENTITY_ID"],
        default: None => "unset",
        read: Parsed(OPTIONAL_TEXT),
        builder: "with_entity_id",
        live: false,
        redact: None,
    }
    /// sent as `Datadog-External-Env`
    external_env: Option<String> {
        vars: ["DD_EXTERNAL_ENV"],
        default: None => "unset",
        read: Parsed(OPTIONAL_TEXT),
        builder: "with_external_env",
        live: false,
        redact: None,
    }
    /// print one `DATADOG TRACER CONFIGURATION {json}` line to stderr at start
    startup_logs: bool {
        vars: ["DD_TRACE_STARTUP_LOGS"],
        default: true => "true",
        read: Parsed(BOOL),
        builder: "with_startup_logs",
        live: false,
        redact: None,
    }
    /// print the tracer's debug diagnostics to stderr
    debug: bool {
        vars: ["DD_TRACE_DEBUG", "OTEL_LOG_LEVEL"],
        default: false => "false",
        read: Custom(read_debug),
        builder: "with_debug",
        live: false,
        redact: None,
    }
    /// `false`: 64-bit trace ids
    trace_id_128_bit: bool {
        vars: ["DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED"],
        default: true => "true",
        read: Parsed(BOOL),
        builder: "with_128_bit_trace_ids",
        live: false,
        redact: None,
    }
    /// log correlation writes 128-bit ids as 32 hex digits
    log_trace_id_128_bit: bool {
        vars: ["DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED"],
        default: true => "true",
        read: Parsed(BOOL),
        builder: "with_128_bit_trace_id_logging",
        live: false,
        redact: None,
    }
    /// `false`: `dd-trace-log` writes no `dd.*` keys
    logs_injection: bool {
        vars: ["DD_LOGS_INJECTION"],
        default: true => "true",
        read: Parsed(BOOL),
        builder: "with_logs_injection",
        live: true,
        redact: None,
    }
    /// `tracing` events at or above this level inside a span become span events
    span_events_level: Option<tracing::Level> {
        vars: ["DD_TRACE_SPAN_EVENTS_LEVEL"],
        default: None => "off",
        read: Parsed(LEVEL),
        builder: "with_span_events",
        live: false,
        redact: None,
    }
    /// send a long trace's finished spans before it ends
    partial_flush: bool {
        vars: ["DD_TRACE_PARTIAL_FLUSH_ENABLED"],
        default: false => "false",
        read: Parsed(BOOL),
        builder: "with_partial_flush",
        live: false,
        redact: None,
    }
    /// finished spans that trigger a partial flush
    partial_flush_min_spans: usize {
        vars: ["DD_TRACE_PARTIAL_FLUSH_MIN_SPANS"],
        default: DEFAULT_PARTIAL_FLUSH_MIN_SPANS => "1000",
        read: Parsed(PARTIAL_FLUSH_MIN_SPANS),
        builder: "with_partial_flush_min_spans",
        live: false,
        redact: None,
    }
    /// `true` (feature `client-stats`): compute trace stats here, and where the agent allows it (`client_drop_p0s`), do not send unsampled traces
    stats_computation: bool {
        vars: ["DD_TRACE_STATS_COMPUTATION_ENABLED"],
        default: false => "false",
        read: Custom(read_stats_computation),
        builder: "",
        live: false,
        redact: None,
    }
    /// `0.4`, `0.5` or `1.0`: the trace payload format to send (the second variable is Python's name, with `v0.4`, `v0.5`, `v1.0`)
    protocol: Option<PayloadFormat> {
        vars: ["DD_TRACE_AGENT_PROTOCOL_VERSION", "DD_TRACE_API_VERSION"],
        default: None => "unset: the newest the agent's `/info` offers",
        read: Parsed(PROTOCOL),
        builder: "",
        live: false,
        redact: None,
    }
    /// `true`: the local root of each trace carries this host's name as `_dd.hostname` (by default the agent's host is used)
    report_hostname: bool {
        vars: ["DD_TRACE_REPORT_HOSTNAME"],
        default: false => "false",
        read: Parsed(BOOL),
        builder: "",
        live: false,
        redact: None,
    }
    /// the pattern whose matches in a URL's query string (`http.url`) are replaced by `<redacted>`; empty: query strings are kept as they are
    query_obfuscation: Option<String> {
        vars: ["DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP"],
        default: Some(DEFAULT_QUERY_OBFUSCATION_PATTERN.to_string()) => "Datadog's default pattern (passwords, tokens, API keys, signatures, bearer tokens, JWTs, private keys)",
        read: Custom(read_query_obfuscation),
        builder: "",
        live: false,
        redact: None,
    }
    /// HTTP statuses that make a server span written with OpenTelemetry's conventions an error: codes and inclusive ranges, `500-599,404`
    http_server_error_statuses: StatusSet {
        vars: ["DD_TRACE_HTTP_SERVER_ERROR_STATUSES"],
        default: StatusSet::DEFAULT_SERVER_ERRORS => "500-599",
        read: Parsed(STATUS_SET),
        builder: "",
        live: false,
        redact: None,
    }
    /// HTTP statuses that make a client span written with OpenTelemetry's conventions an error: codes and inclusive ranges
    http_client_error_statuses: StatusSet {
        vars: ["DD_TRACE_HTTP_CLIENT_ERROR_STATUSES"],
        default: StatusSet::DEFAULT_CLIENT_ERRORS => "400-599",
        read: Parsed(STATUS_SET),
        builder: "",
        live: false,
        redact: None,
    }
    /// gRPC statuses that make a server span an error (OpenTelemetry-style spans and the `tonic` integration): codes and inclusive ranges
    grpc_server_error_statuses: StatusSet {
        vars: ["DD_TRACE_GRPC_SERVER_ERROR_STATUSES"],
        default: StatusSet::DEFAULT_GRPC_SERVER_ERRORS => "2,4,12-15 (the server's own faults)",
        read: Parsed(STATUS_SET),
        builder: "",
        live: false,
        redact: None,
    }
    /// gRPC statuses that make a client span an error: codes and inclusive ranges
    grpc_client_error_statuses: StatusSet {
        vars: ["DD_TRACE_GRPC_CLIENT_ERROR_STATUSES"],
        default: StatusSet::DEFAULT_GRPC_CLIENT_ERRORS => "1-16 (all but OK)",
        read: Parsed(STATUS_SET),
        builder: "",
        live: false,
        redact: None,
    }
    /// headers whose values become tags of HTTP server and client spans: `header:tag` pairs, or a header alone (→ `http.request.headers.<header>` / `http.response.headers.<header>`), comma-separated
    header_tags: Vec<HeaderTag> {
        vars: ["DD_TRACE_HEADER_TAGS"],
        default: Vec::new() => "none",
        read: Custom(read_header_tags),
        builder: "",
        live: true,
        redact: None,
    }
    /// `http.client_ip` on HTTP server spans: the first public IP of the forwarding headers (`x-forwarded-for`, `x-real-ip`, `forwarded`, …)
    client_ip_enabled: bool {
        vars: ["DD_TRACE_CLIENT_IP_ENABLED"],
        default: false => "false",
        read: Parsed(BOOL),
        builder: "",
        live: false,
        redact: None,
    }
    /// the one header the client's IP is read from, instead of the usual forwarding headers
    client_ip_header: Option<String> {
        vars: ["DD_TRACE_CLIENT_IP_HEADER"],
        default: None => "unset",
        read: Parsed(OPTIONAL_TEXT),
        builder: "",
        live: false,
        redact: None,
    }
    /// dd-trace's own: a panic inside a span marks the innermost span dd-trace records an error (`error.type` `panic`, the message, where; the backtrace when `RUST_BACKTRACE` asks for one), through a panic hook that then calls the app's own
    panic_errors: bool {
        vars: ["DD_TRACE_PANIC_ERRORS_ENABLED"],
        default: true => "true",
        read: Parsed(BOOL),
        builder: "with_panic_errors",
        live: false,
        redact: None,
    }
    /// remote configuration: the tracer polls the agent for `APM_TRACING` configs (sampling, tags, header tags, log injection, tracing off) set in Datadog, when the agent offers it
    remote_config_enabled: bool {
        vars: ["DD_REMOTE_CONFIGURATION_ENABLED"],
        default: true => "true",
        read: Parsed(BOOL),
        builder: "with_remote_config",
        live: false,
        redact: None,
    }
    /// seconds between two remote-configuration polls
    remote_config_poll_interval: Duration {
        vars: ["DD_REMOTE_CONFIG_POLL_INTERVAL_SECONDS"],
        default: DEFAULT_REMOTE_CONFIG_POLL_INTERVAL => "5",
        read: Parsed(SECONDS),
        builder: "",
        live: false,
        redact: None,
    }
    /// instrumentation telemetry: the tracer tells Datadog (through the agent) its version, configuration, integrations and health
    telemetry_enabled: bool {
        vars: ["DD_INSTRUMENTATION_TELEMETRY_ENABLED"],
        default: true => "true",
        read: Parsed(BOOL),
        builder: "with_telemetry",
        live: false,
        redact: None,
    }
    /// seconds between two telemetry heartbeats (which also carry the tracer's health metrics)
    telemetry_heartbeat_interval: Duration {
        vars: ["DD_TELEMETRY_HEARTBEAT_INTERVAL"],
        default: DEFAULT_TELEMETRY_HEARTBEAT_INTERVAL => "60",
        read: Parsed(SECONDS),
        builder: "",
        live: false,
        redact: None,
    }
    /// the URL of the repository the service was built from, `_dd.git.repository_url` on the first span of each chunk (credentials removed); else `git.repository_url` in `DD_TAGS`, else the build's (`with_build_git_metadata`)
    git_repository_url: Option<String> {
        vars: ["DD_GIT_REPOSITORY_URL"],
        default: None => "unset",
        read: Custom(read_git),
        builder: "with_build_git_metadata",
        live: false,
        redact: None,
    }
    /// the commit the service was built from, `_dd.git.commit.sha` on the first span of each chunk; else `git.commit.sha` in `DD_TAGS`, else the build's
    git_commit_sha: Option<String> {
        vars: ["DD_GIT_COMMIT_SHA"],
        default: None => "unset",
        read: Custom(read_git),
        builder: "with_build_git_metadata",
        live: false,
        redact: None,
    }
    /// `_dd.tags.process` (the entrypoint and how the service was named) on the first span of each chunk, in remote configuration and telemetry
    process_tags_enabled: bool {
        vars: ["DD_EXPERIMENTAL_PROPAGATE_PROCESS_TAGS_ENABLED"],
        default: true => "true",
        read: Parsed(BOOL),
        builder: "",
        live: false,
        redact: None,
    }
    /// the agent's DogStatsD, for runtime and health metrics: `udp://host:port` or `unix:///path`, else the host (or `DD_AGENT_HOST`) and port
    dogstatsd: DogStatsdAddress {
        vars: ["DD_DOGSTATSD_URL", "DD_DOGSTATSD_HOST", "DD_DOGSTATSD_PORT", "DD_AGENT_HOST"],
        default: DogStatsdAddress::default() => "`/var/run/datadog/dsd.socket` if it exists, else `udp://localhost:8125`",
        read: Custom(read_dogstatsd),
        builder: "",
        live: false,
        redact: None,
    }
    /// runtime metrics (`runtime.rust.*`: CPU, memory, threads, file descriptors, the tokio runtime) sent to DogStatsD every 10 s
    runtime_metrics: bool {
        vars: ["DD_RUNTIME_METRICS_ENABLED"],
        default: false => "false",
        read: Parsed(BOOL),
        builder: "with_runtime_metrics",
        live: false,
        redact: None,
    }
    /// the tracer's own health (`datadog.tracer.*`: spans, drops by reason, queue, retry buffer, payloads, send errors) sent to DogStatsD every 10 s
    health_metrics: bool {
        vars: ["DD_TRACE_HEALTH_METRICS_ENABLED"],
        default: false => "false",
        read: Parsed(BOOL),
        builder: "with_health_metrics",
        live: false,
        redact: None,
    }
    /// how often runtime and health metrics are sent
    metrics_interval: Duration {
        vars: [],
        default: DEFAULT_METRICS_INTERVAL => "10 s",
        read: CodeOnly,
        builder: "with_metrics_interval",
        live: false,
        redact: None,
    }
    /// OpenTelemetry's API (`DatadogTracerProvider`, feature `opentelemetry`): `false` makes its spans non-recording; `OTEL_SDK_DISABLED=true` is read when it is unset
    otel_api_enabled: bool {
        vars: ["DD_TRACE_OTEL_ENABLED", "OTEL_SDK_DISABLED"],
        default: true => "true",
        read: Custom(read_otel_enabled),
        builder: "",
        live: false,
        redact: None,
    }
    /// dd-trace's own: the doctor's diagnosis of this running process (its subscriber's filters, the agent, a test trace), printed once on stderr (or the diagnostics handler) a few seconds after start
    doctor: bool {
        vars: ["DD_TRACE_DOCTOR"],
        default: false => "false",
        read: Parsed(BOOL),
        builder: "",
        live: false,
        redact: None,
    }
    /// dd-trace's own: bytes of payloads kept while the agent is unreachable, stalled or slow
    retry_buffer_bytes: u64 {
        vars: ["DD_TRACE_RETRY_BUFFER_BYTES"],
        default: DEFAULT_RETRY_BUFFER_BYTES => "33554432 (32 MiB)",
        read: Parsed(BYTES),
        builder: "with_retry_buffer_bytes",
        live: false,
        redact: None,
    }
    /// dd-trace's own: traces with open spans recorded at once
    max_open_traces: usize {
        vars: ["DD_TRACE_MAX_OPEN_TRACES"],
        default: DEFAULT_MAX_OPEN_TRACES => "100000",
        read: Parsed(AT_LEAST_ONE),
        builder: "with_max_open_traces",
        live: false,
        redact: None,
    }
    /// dd-trace's own: open spans one trace may have
    max_open_spans_per_trace: usize {
        vars: ["DD_TRACE_MAX_OPEN_SPANS_PER_TRACE"],
        default: DEFAULT_MAX_OPEN_SPANS_PER_TRACE => "100000",
        read: Parsed(AT_LEAST_ONE),
        builder: "with_max_open_spans_per_trace",
        live: false,
        redact: None,
    }
    /// how often finished traces are sent (at least 1 ms)
    flush_interval: Duration {
        vars: [],
        default: DEFAULT_FLUSH_INTERVAL => "1 s",
        read: CodeOnly,
        builder: "with_flush_interval",
        live: false,
        redact: None,
    }
    /// finished trace chunks the hand-off queue holds before new ones are dropped
    queue_capacity: usize {
        vars: [],
        default: DEFAULT_QUEUE_CAPACITY => "4096",
        read: CodeOnly,
        builder: "with_queue_capacity",
        live: false,
        redact: None,
    }
    /// how long dropping the guard waits for finished traces to be sent
    shutdown_timeout: Duration {
        vars: [],
        default: DEFAULT_SHUTDOWN_TIMEOUT => "5 s",
        read: CodeOnly,
        builder: "with_shutdown_timeout",
        live: false,
        redact: None,
    }
}

/// The `DD_*` and `OTEL_*` variables among `names` that no setting reads, sorted: set, but not
/// supported by this tracer (a typo, another tracer's setting, or one for the agent).
pub(crate) fn unsupported_variables(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut found: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with("DD_") || n.starts_with("OTEL_"))
        .filter(|n| !SETTINGS.iter().any(|s| s.variables.contains(&n.as_str())))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// [`unsupported_variables`] of the process's environment.
pub(crate) fn unsupported_in_environment() -> Vec<String> {
    unsupported_variables(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))
}
