//! The builder: `with_*` overrides merged over the `DD_*` environment, then the tracer starts.
//!
//! In: the app's `with_*` calls and the variables. Out: a validated configuration handed to
//! `tracer::start`, or a [`BuildError`] for an invalid builder value. Runs on the thread that
//! calls [`DatadogLayerBuilder::build`], once.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{from_env, valid_partial_flush_min_spans, AgentEndpoint, Config};
use crate::error::BuildError;
use crate::export::sink::PayloadSink;
use crate::guard::DatadogGuard;
use crate::layer::DatadogLayer;

/// Reads one variable.
type VariableSource = Box<dyn Fn(&str) -> Option<String>>;

/// Configures and builds a [`DatadogLayer`] and its [`DatadogGuard`].
///
/// Every setting starts from its `DD_*` environment variable (see the crate docs' table); a
/// `with_*` call overrides it.
///
/// ```
/// let (layer, guard) = dd_trace::DatadogLayer::builder()
///     .with_service("checkout")
///     .with_env("prod")
///     .with_tag("team", "payments")
///     .with_agent_url("unix:///var/run/datadog/apm.socket")
///     # .with_enabled(false)
///     .build()?;
/// // compose `layer` into the subscriber; keep `guard` until the app exits
/// # drop((layer, guard));
/// # Ok::<(), dd_trace::BuildError>(())
/// ```
#[derive(Default)]
#[must_use]
pub struct DatadogLayerBuilder {
    variables: Option<VariableSource>,
    service: Option<String>,
    env: Option<String>,
    version: Option<String>,
    tags: Vec<(String, String)>,
    enabled: Option<bool>,
    sample_rate: Option<f64>,
    trace_sampling_rules: Vec<crate::sampling::TraceRule>,
    rate_limit: Option<f64>,
    span_sampling_rules: Vec<crate::sampling::SpanRule>,
    inject_styles: Option<Vec<crate::propagation::PropagationStyle>>,
    extract_styles: Option<Vec<crate::propagation::PropagationStyle>>,
    agent_url: Option<String>,
    agent_timeout: Option<Duration>,
    entity_id: Option<String>,
    external_env: Option<String>,
    startup_logs: Option<bool>,
    debug: Option<bool>,
    trace_id_128_bit: Option<bool>,
    log_trace_id_128_bit: Option<bool>,
    logs_injection: Option<bool>,
    span_events_level: Option<Option<tracing::Level>>,
    partial_flush: Option<bool>,
    partial_flush_min_spans: Option<usize>,
    flush_interval: Option<Duration>,
    queue_capacity: Option<usize>,
    shutdown_timeout: Option<Duration>,
    retry_buffer_bytes: Option<u64>,
    max_open_traces: Option<usize>,
    max_open_spans_per_trace: Option<usize>,
    /// Where payloads go instead of the agent (the testing exporter).
    sink: Option<Arc<dyn PayloadSink>>,
}

impl std::fmt::Debug for DatadogLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogLayerBuilder")
            .field("service", &self.service)
            .field("env", &self.env)
            .field("agent_url", &self.agent_url)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl DatadogLayer {
    /// A builder that starts from the `DD_*` environment.
    pub fn builder() -> DatadogLayerBuilder {
        DatadogLayerBuilder::default()
    }
}

impl DatadogLayerBuilder {
    /// Reads the `DD_*` variables through `source` instead of the process environment: for
    /// tests, or when configuration lives elsewhere. `source` returns a variable's value, or
    /// `None` when it is unset.
    pub fn with_variable_source(
        mut self,
        source: impl Fn(&str) -> Option<String> + 'static,
    ) -> Self {
        self.variables = Some(Box::new(source));
        self
    }

    /// Sets the service name (overrides `DD_SERVICE`).
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Sets the deployment environment, the `env` tag (overrides `DD_ENV`).
    pub fn with_env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    /// Sets the version (overrides `DD_VERSION`).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Adds a tag to every span, after those of `DD_TAGS` (a span's own fields win).
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// Turns tracing on or off (overrides `DD_TRACE_ENABLED`). Off, no spans are recorded, no
    /// worker runs and nothing is sent.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Keeps traces at this rate in `[0, 1]` (overrides `DD_TRACE_SAMPLE_RATE`).
    pub fn with_sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = Some(rate);
        self
    }

    /// Adds a trace sampling rule, after those added before. Rules given here replace those of
    /// `DD_TRACE_SAMPLING_RULES`; the sample rate still comes after all of them.
    pub fn with_trace_sampling_rule(mut self, rule: crate::sampling::TraceSamplingRule) -> Self {
        self.trace_sampling_rules.push(rule.into_rule());
        self
    }

    /// Traces per second that sampling rules may keep, at least 0 (overrides
    /// `DD_TRACE_RATE_LIMIT`).
    pub fn with_rate_limit(mut self, traces_per_second: f64) -> Self {
        self.rate_limit = Some(traces_per_second);
        self
    }

    /// Adds a span sampling rule, after those added before. Rules given here replace those of
    /// `DD_SPAN_SAMPLING_RULES` and its file.
    pub fn with_span_sampling_rule(mut self, rule: crate::sampling::SpanSamplingRule) -> Self {
        self.span_sampling_rules.push(rule.into_rule());
        self
    }

    /// Propagation styles for both directions (overrides `DD_TRACE_PROPAGATION_STYLE`); an
    /// empty list propagates nothing.
    pub fn with_propagation_styles(self, styles: &[crate::propagation::PropagationStyle]) -> Self {
        self.with_inject_styles(styles).with_extract_styles(styles)
    }

    /// Styles written into outgoing requests (overrides `DD_TRACE_PROPAGATION_STYLE_INJECT`).
    pub fn with_inject_styles(mut self, styles: &[crate::propagation::PropagationStyle]) -> Self {
        self.inject_styles = Some(styles.to_vec());
        self
    }

    /// Styles read from incoming requests, in order (overrides
    /// `DD_TRACE_PROPAGATION_STYLE_EXTRACT`).
    pub fn with_extract_styles(mut self, styles: &[crate::propagation::PropagationStyle]) -> Self {
        self.extract_styles = Some(styles.to_vec());
        self
    }

    /// Sends to this agent: `unix:///path/to/apm.socket` or `http://host:port` (overrides
    /// `DD_TRACE_AGENT_URL`, `DD_AGENT_HOST` and `DD_TRACE_AGENT_PORT`).
    pub fn with_agent_url(mut self, url: impl Into<String>) -> Self {
        self.agent_url = Some(url.into());
        self
    }

    /// Timeout of one request to the agent (overrides `DD_TRACE_AGENT_TIMEOUT`).
    pub fn with_agent_timeout(mut self, timeout: Duration) -> Self {
        self.agent_timeout = Some(timeout);
        self
    }

    /// The entity id sent as `Datadog-Entity-ID` when no container can be detected, e.g. the
    /// pod UID (overrides `DD_ENTITY_ID`).
    pub fn with_entity_id(mut self, entity_id: impl Into<String>) -> Self {
        self.entity_id = Some(entity_id.into());
        self
    }

    /// The value sent as `Datadog-External-Env` (overrides `DD_EXTERNAL_ENV`).
    pub fn with_external_env(mut self, external_env: impl Into<String>) -> Self {
        self.external_env = Some(external_env.into());
        self
    }

    /// Prints the startup configuration line or not (overrides `DD_TRACE_STARTUP_LOGS`).
    pub fn with_startup_logs(mut self, on: bool) -> Self {
        self.startup_logs = Some(on);
        self
    }

    /// Prints the tracer's debug diagnostics to stderr or not (overrides `DD_TRACE_DEBUG`).
    pub fn with_debug(mut self, on: bool) -> Self {
        self.debug = Some(on);
        self
    }

    /// Generates 128-bit trace ids, or 64-bit ones when `false` (overrides
    /// `DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED`).
    pub fn with_128_bit_trace_ids(mut self, on: bool) -> Self {
        self.trace_id_128_bit = Some(on);
        self
    }

    /// Makes log correlation write 128-bit trace ids as 32 hex digits, or always the decimal
    /// low 64 bits when `false` (overrides `DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED`).
    pub fn with_128_bit_trace_id_logging(mut self, on: bool) -> Self {
        self.log_trace_id_128_bit = Some(on);
        self
    }

    /// Whether log correlation (`dd-trace-log`) writes the `dd.*` keys (overrides
    /// `DD_LOGS_INJECTION`).
    pub fn with_logs_injection(mut self, on: bool) -> Self {
        self.logs_injection = Some(on);
        self
    }

    /// Makes `tracing` events at or above `level` inside a span into span events on that span
    /// (name, time, fields), or none with `None` (overrides `DD_TRACE_SPAN_EVENTS_LEVEL`).
    pub fn with_span_events(mut self, level: Option<tracing::Level>) -> Self {
        self.span_events_level = Some(level);
        self
    }

    /// Sends a long trace's finished spans before the trace ends, whenever
    /// [`with_partial_flush_min_spans`](Self::with_partial_flush_min_spans) of them are waiting
    /// (overrides `DD_TRACE_PARTIAL_FLUSH_ENABLED`).
    pub fn with_partial_flush(mut self, on: bool) -> Self {
        self.partial_flush = Some(on);
        self
    }

    /// Finished spans, from 1 to 99 999, that trigger a partial flush (overrides
    /// `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS`). A trace never buffers more than
    /// [`MAX_BUFFERED_SPANS_PER_TRACE`](crate::config::MAX_BUFFERED_SPANS_PER_TRACE) finished
    /// spans, so values above that act as that.
    pub fn with_partial_flush_min_spans(mut self, min_spans: usize) -> Self {
        self.partial_flush_min_spans = Some(min_spans);
        self
    }

    /// How often finished traces are sent (default
    /// [`DEFAULT_FLUSH_INTERVAL`](super::DEFAULT_FLUSH_INTERVAL); at least 1 ms).
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = Some(interval);
        self
    }

    /// Finished trace chunks the hand-off queue holds before new ones are dropped (default
    /// [`DEFAULT_QUEUE_CAPACITY`](super::DEFAULT_QUEUE_CAPACITY)).
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = Some(capacity);
        self
    }

    /// Bytes of encoded payloads kept while the agent is unreachable, stalled or slow (default
    /// [`DEFAULT_RETRY_BUFFER_BYTES`](super::DEFAULT_RETRY_BUFFER_BYTES), about 9 s of
    /// 10 000 spans per second); past this new payloads are dropped and counted. One payload
    /// is always kept, whatever the value.
    pub fn with_retry_buffer_bytes(mut self, bytes: u64) -> Self {
        self.retry_buffer_bytes = Some(bytes);
        self
    }

    /// Local traces with open spans the tracer records at once (default
    /// [`DEFAULT_MAX_OPEN_TRACES`](super::DEFAULT_MAX_OPEN_TRACES), at least 1); spans of
    /// traces started past it are not recorded, and counted in
    /// [`CounterSnapshot::spans_dropped_trace_limits`](crate::diagnostics::CounterSnapshot::spans_dropped_trace_limits).
    pub fn with_max_open_traces(mut self, traces: usize) -> Self {
        self.max_open_traces = Some(traces.max(1));
        self
    }

    /// Open spans one local trace may have (default
    /// [`DEFAULT_MAX_OPEN_SPANS_PER_TRACE`](super::DEFAULT_MAX_OPEN_SPANS_PER_TRACE), at
    /// least 1); its spans started past it are not recorded, and counted.
    pub fn with_max_open_spans_per_trace(mut self, spans: usize) -> Self {
        self.max_open_spans_per_trace = Some(spans.max(1));
        self
    }

    /// How long dropping the [`DatadogGuard`] may wait for traces to be sent (default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`](super::DEFAULT_SHUTDOWN_TIMEOUT)).
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Delivers payloads to `sink` instead of the agent: everything else (the layer, the
    /// queue, the worker, the encoder) runs as in production.
    pub(crate) fn with_sink(mut self, sink: Arc<dyn PayloadSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Builds the layer and starts the worker thread (unless tracing is disabled).
    ///
    /// Malformed `DD_*` variables do not fail the build: each prints one warning naming the
    /// variable and the default used.
    ///
    /// # Errors
    /// [`BuildError`] when a value given to this builder is invalid or the worker thread
    /// cannot start.
    pub fn build(mut self) -> Result<(DatadogLayer, DatadogGuard), BuildError> {
        let sink = self.sink.take();
        let config = self.into_config()?;
        crate::health::log::set_debug(config.debug);
        crate::tracer::start(config, sink)
    }

    /// The environment with this builder's overrides applied, warnings printed.
    fn into_config(self) -> Result<Config, BuildError> {
        let (config, warnings) = self.into_config_and_warnings()?;
        for w in &warnings {
            crate::health::log::warn(format_args!("{w}"));
        }
        Ok(config)
    }

    /// The environment with this builder's overrides applied, and the warnings about
    /// malformed variables (not printed).
    pub(crate) fn into_config_and_warnings(self) -> Result<(Config, Vec<String>), BuildError> {
        let variables: VariableSource = self
            .variables
            .unwrap_or_else(|| Box::new(|name| std::env::var(name).ok()));
        let (mut config, warnings) = from_env(&*variables, &|p: &Path| p.exists());
        if let Some(url) = self.agent_url {
            config.agent = AgentEndpoint::parse(&url)
                .map_err(|reason| BuildError::InvalidAgentUrl { url, reason })?;
            config.agent_source = super::AgentSource::Builder;
        }
        if let Some(rate) = self.sample_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(BuildError::InvalidSampleRate { rate });
            }
            config.sample_rate = Some(rate);
        }
        if let Some(limit) = self.rate_limit {
            if limit.is_nan() || limit < 0.0 {
                return Err(BuildError::InvalidRateLimit { limit });
            }
            config.rate_limit = limit;
        }
        if !self.trace_sampling_rules.is_empty() {
            config.sampling_rules = self.trace_sampling_rules;
        }
        if !self.span_sampling_rules.is_empty() {
            config.span_sampling_rules = self.span_sampling_rules;
        }
        if let Some(styles) = self.inject_styles {
            config.propagation.inject = styles;
        }
        if let Some(styles) = self.extract_styles {
            config.propagation.extract = styles;
        }
        if let Some(min_spans) = self.partial_flush_min_spans {
            if !valid_partial_flush_min_spans(&min_spans) {
                return Err(BuildError::InvalidPartialFlushMinSpans { min_spans });
            }
        }
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *slot = v;
            }
        }
        set(&mut config.service, self.service);
        config.env = self.env.or(config.env);
        config.version = self.version.or(config.version);
        config.tags.extend(self.tags);
        set(&mut config.enabled, self.enabled);
        set(&mut config.agent_timeout, self.agent_timeout);
        config.entity_id = self.entity_id.or(config.entity_id);
        config.external_env = self.external_env.or(config.external_env);
        set(&mut config.startup_logs, self.startup_logs);
        set(&mut config.debug, self.debug);
        set(&mut config.trace_id_128_bit, self.trace_id_128_bit);
        set(&mut config.log_trace_id_128_bit, self.log_trace_id_128_bit);
        set(&mut config.logs_injection, self.logs_injection);
        set(&mut config.span_events_level, self.span_events_level);
        set(&mut config.partial_flush, self.partial_flush);
        set(
            &mut config.partial_flush_min_spans,
            self.partial_flush_min_spans,
        );
        set(&mut config.flush_interval, self.flush_interval);
        config.flush_interval = config.flush_interval.max(Duration::from_millis(1));
        set(&mut config.queue_capacity, self.queue_capacity);
        set(&mut config.shutdown_timeout, self.shutdown_timeout);
        set(&mut config.retry_buffer_bytes, self.retry_buffer_bytes);
        set(&mut config.max_open_traces, self.max_open_traces);
        set(
            &mut config.max_open_spans_per_trace,
            self.max_open_spans_per_trace,
        );
        Ok((config, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(vars: &[(&str, &str)]) -> DatadogLayerBuilder {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DatadogLayer::builder().with_variable_source(move |k| vars.get(k).cloned())
    }

    #[test]
    fn builder_values_win_over_variables() {
        let config = builder(&[
            ("DD_SERVICE", "from-env"),
            ("DD_ENV", "staging"),
            ("DD_TRACE_DEBUG", "true"),
            ("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED", "true"),
            ("DD_ENTITY_ID", "pod-env"),
        ])
        .with_service("from-builder")
        .with_debug(false)
        .with_128_bit_trace_ids(false)
        .with_128_bit_trace_id_logging(false)
        .with_entity_id("pod-builder")
        .with_external_env("it-false,cn-app")
        .into_config()
        .unwrap();
        assert_eq!(config.service, "from-builder");
        assert_eq!(config.env.as_deref(), Some("staging"));
        assert!(!config.debug);
        assert!(!config.trace_id_128_bit);
        assert!(!config.log_trace_id_128_bit);
        assert_eq!(config.entity_id.as_deref(), Some("pod-builder"));
        assert_eq!(config.external_env.as_deref(), Some("it-false,cn-app"));
    }

    #[test]
    fn partial_flush_combines_switch_and_threshold_from_either_side() {
        let min = |b: DatadogLayerBuilder| {
            let c = b.into_config().unwrap();
            c.partial_flush.then_some(c.partial_flush_min_spans)
        };
        assert_eq!(min(builder(&[])), None);
        assert_eq!(min(builder(&[]).with_partial_flush(true)), Some(1000));
        assert_eq!(
            min(builder(&[("DD_TRACE_PARTIAL_FLUSH_MIN_SPANS", "50")]).with_partial_flush(true)),
            Some(50)
        );
        assert_eq!(
            min(builder(&[("DD_TRACE_PARTIAL_FLUSH_ENABLED", "true")])
                .with_partial_flush_min_spans(7)),
            Some(7)
        );
        assert_eq!(
            min(builder(&[("DD_TRACE_PARTIAL_FLUSH_ENABLED", "true")]).with_partial_flush(false)),
            None
        );
        assert!(matches!(
            builder(&[]).with_partial_flush_min_spans(0).into_config(),
            Err(BuildError::InvalidPartialFlushMinSpans { min_spans: 0 })
        ));
    }

    #[test]
    fn invalid_builder_values_fail_the_build_with_the_reason() {
        let err = builder(&[])
            .with_agent_url("https://agent")
            .into_config()
            .unwrap_err();
        assert!(matches!(
            err,
            BuildError::InvalidAgentUrl {
                reason: crate::error::AgentUrlError::HttpsUnsupported,
                ..
            }
        ));
        assert!(matches!(
            builder(&[]).with_sample_rate(1.5).into_config(),
            Err(BuildError::InvalidSampleRate { .. })
        ));
    }
}
