//! Names of the environment variables dd-trace reads, one constant each.

/// Service name of the spans this process creates.
pub const DD_SERVICE: &str = "DD_SERVICE";
/// Deployment environment (`env` tag).
pub const DD_ENV: &str = "DD_ENV";
/// Application version (`version` tag).
pub const DD_VERSION: &str = "DD_VERSION";
/// Tags added to every span: `k:v` pairs separated by commas or spaces.
pub const DD_TAGS: &str = "DD_TAGS";
/// `false` turns tracing off: no spans are built and nothing is sent.
pub const DD_TRACE_ENABLED: &str = "DD_TRACE_ENABLED";
/// Rate in `[0, 1]` at which traces are kept.
pub const DD_TRACE_SAMPLE_RATE: &str = "DD_TRACE_SAMPLE_RATE";
/// Trace sampling rules: a JSON array of `{service, name, resource, tags, sample_rate}`.
pub const DD_TRACE_SAMPLING_RULES: &str = "DD_TRACE_SAMPLING_RULES";
/// Traces per second that sampling rules may keep.
pub const DD_TRACE_RATE_LIMIT: &str = "DD_TRACE_RATE_LIMIT";
/// Span sampling rules: a JSON array of `{service, name, resource, tags, sample_rate,
/// max_per_second}`.
pub const DD_SPAN_SAMPLING_RULES: &str = "DD_SPAN_SAMPLING_RULES";
/// A file holding the span sampling rules (`DD_SPAN_SAMPLING_RULES` wins when both are set).
pub const DD_SPAN_SAMPLING_RULES_FILE: &str = "DD_SPAN_SAMPLING_RULES_FILE";
/// Agent URL: `unix:///path/to/apm.socket` or `http://host:port`.
pub const DD_TRACE_AGENT_URL: &str = "DD_TRACE_AGENT_URL";
/// Agent host, used when `DD_TRACE_AGENT_URL` is unset.
pub const DD_AGENT_HOST: &str = "DD_AGENT_HOST";
/// Agent trace port, used when `DD_TRACE_AGENT_URL` is unset.
pub const DD_TRACE_AGENT_PORT: &str = "DD_TRACE_AGENT_PORT";
/// Timeout of one request to the agent, in seconds.
pub const DD_TRACE_AGENT_TIMEOUT: &str = "DD_TRACE_AGENT_TIMEOUT";
/// Entity id (in Kubernetes, the pod UID), used when no container id can be detected.
pub const DD_ENTITY_ID: &str = "DD_ENTITY_ID";
/// Sent to the agent as `Datadog-External-Env`.
pub const DD_EXTERNAL_ENV: &str = "DD_EXTERNAL_ENV";
/// `true` prints one `DATADOG TRACER CONFIGURATION {json}` line at start.
pub const DD_TRACE_STARTUP_LOGS: &str = "DD_TRACE_STARTUP_LOGS";
/// `true` prints the tracer's debug diagnostics.
pub const DD_TRACE_DEBUG: &str = "DD_TRACE_DEBUG";
/// `false` generates 64-bit trace ids instead of 128-bit ones.
pub const DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED: &str =
    "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED";
/// `false` makes log correlation write the decimal low 64 bits of trace ids.
pub const DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED: &str =
    "DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED";
/// `true` sends a long trace's finished spans before the trace ends.
pub const DD_TRACE_PARTIAL_FLUSH_ENABLED: &str = "DD_TRACE_PARTIAL_FLUSH_ENABLED";
/// Finished spans that trigger a partial flush.
pub const DD_TRACE_PARTIAL_FLUSH_MIN_SPANS: &str = "DD_TRACE_PARTIAL_FLUSH_MIN_SPANS";
/// Propagation styles for both directions: `datadog`, `tracecontext`, `b3multi`, `b3`,
/// `baggage`, `none`, comma-separated.
pub const DD_TRACE_PROPAGATION_STYLE: &str = "DD_TRACE_PROPAGATION_STYLE";
/// Propagation styles written into outgoing requests (wins over `DD_TRACE_PROPAGATION_STYLE`).
pub const DD_TRACE_PROPAGATION_STYLE_INJECT: &str = "DD_TRACE_PROPAGATION_STYLE_INJECT";
/// Propagation styles read from incoming requests (wins over `DD_TRACE_PROPAGATION_STYLE`).
pub const DD_TRACE_PROPAGATION_STYLE_EXTRACT: &str = "DD_TRACE_PROPAGATION_STYLE_EXTRACT";
/// OpenTelemetry's name for the propagators, used when `DD_TRACE_PROPAGATION_STYLE` is unset
/// for each direction without its own `_INJECT` / `_EXTRACT`.
pub const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";
/// `true`: stop at the first style that finds a context.
pub const DD_TRACE_PROPAGATION_EXTRACT_FIRST: &str = "DD_TRACE_PROPAGATION_EXTRACT_FIRST";
/// What to do with an extracted context: `continue`, `restart` or `ignore`.
pub const DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT: &str = "DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT";
/// Bytes `x-datadog-tags` may take (0 disables the header).
pub const DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH: &str = "DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH";
/// Baggage items propagated at most.
pub const DD_TRACE_BAGGAGE_MAX_ITEMS: &str = "DD_TRACE_BAGGAGE_MAX_ITEMS";
/// Bytes the `baggage` header may take.
pub const DD_TRACE_BAGGAGE_MAX_BYTES: &str = "DD_TRACE_BAGGAGE_MAX_BYTES";
/// Baggage items that become `baggage.<key>` tags on the span adopting an extracted context:
/// comma-separated keys, `*` for all, empty for none; unset: `user.id,session.id,account.id`.
pub const DD_TRACE_BAGGAGE_TAG_KEYS: &str = "DD_TRACE_BAGGAGE_TAG_KEYS";
/// `false`: log correlation writes no `dd.*` keys.
pub const DD_LOGS_INJECTION: &str = "DD_LOGS_INJECTION";
/// `tracing` events at or above this level inside a span become span events on it (`trace`,
/// `debug`, `info`, `warn`, `error`); unset or `off`: none.
pub const DD_TRACE_SPAN_EVENTS_LEVEL: &str = "DD_TRACE_SPAN_EVENTS_LEVEL";
/// dd-trace's own: bytes of encoded payloads kept while the agent is unreachable or slow (the
/// retry buffer); past this new payloads are dropped and counted.
pub const DD_TRACE_RETRY_BUFFER_BYTES: &str = "DD_TRACE_RETRY_BUFFER_BYTES";
/// dd-trace's own: local traces with open spans recorded at once.
pub const DD_TRACE_MAX_OPEN_TRACES: &str = "DD_TRACE_MAX_OPEN_TRACES";
/// dd-trace's own: open spans one local trace may have.
pub const DD_TRACE_MAX_OPEN_SPANS_PER_TRACE: &str = "DD_TRACE_MAX_OPEN_SPANS_PER_TRACE";
/// The trace payload format: `0.4`, `0.5` or `1.0`; unset, the newest the agent's `/info`
/// offers.
pub const DD_TRACE_AGENT_PROTOCOL_VERSION: &str = "DD_TRACE_AGENT_PROTOCOL_VERSION";
/// Python's name for the same choice: `v0.4`, `v0.5` or `v1.0` (the variable above wins).
pub const DD_TRACE_API_VERSION: &str = "DD_TRACE_API_VERSION";
/// `true`: compute trace stats here (`/v0.6/stats`) and, where the agent allows it, do not
/// send unsampled traces (feature `client-stats`).
pub const DD_TRACE_STATS_COMPUTATION_ENABLED: &str = "DD_TRACE_STATS_COMPUTATION_ENABLED";
