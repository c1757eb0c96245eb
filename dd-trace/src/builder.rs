//! The roof: the one place that builds and starts everything. [`DatadogLayerBuilder`] reads
//! the settings (the settings table's sources, then its own `with_*` values), prints the
//! warnings and the startup line, makes the tracer's shared state, starts the worker and hands
//! back the [`DatadogLayer`] and its [`DatadogGuard`]; [`init`] does the same into a global
//! subscriber, and [`diagnose`] runs the doctor with a tracer of its own.
//!
//! In: the app's `with_*` calls and the `DD_*` environment, on the thread that calls
//! [`DatadogLayerBuilder::build`] (once; it spawns the worker thread). Out: the layer and the
//! guard, or a [`BuildError`] for an invalid builder value. Nothing below this file starts
//! anything.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::unbounded_channel;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{
    read_stable_config, unsupported_in_environment, Process, StableConfigIds, StableConfigPaths,
};
use crate::config::{
    valid_partial_flush_min_spans, AgentAddress, AgentEndpoint, AgentSource, Configuration, Origin,
    Overrides, Setting, Settings, Sources, VariableSource, DEFAULT_SHUTDOWN_TIMEOUT,
};
use crate::conventions::{Conventions, QueryObfuscator};
use crate::diagnostics::doctor::{self, Diagnosis, TestTrace};
use crate::diagnostics::startup;
use crate::encode::{EncodeContext, PayloadEncoder, DEFAULT_PAYLOAD_FLUSH_BYTES};
use crate::error::{BuildError, InitError};
use crate::export::process::Processor;
use crate::export::sink::PayloadSink;
use crate::export::transport::container::ContainerInfo;
use crate::export::transport::AgentTransport;
use crate::export::worker::{self, MakeSink, WorkerSetup};
use crate::guard::{DatadogGuard, WorkerHandle};
use crate::headers::PropagationStyle;
use crate::health::log;
use crate::identity::{process_tags, strip_credentials, GitMetadata, Identity};
use crate::layer::DatadogLayer;
use crate::sampling::{SpanSampler, SpanSamplingRule, TraceSamplingRule};
use crate::tracer::Tracer;

/// The variable source given to [`DatadogLayerBuilder::with_variable_source`].
type OwnedVariableSource = Box<dyn Fn(&str) -> Option<String>>;

/// Configures and builds a [`DatadogLayer`] and its [`DatadogGuard`].
///
/// Every setting starts from its `DD_*` environment variable (see the crate docs' table, and
/// [`config::SETTINGS`](crate::config::SETTINGS)); a `with_*` call overrides it.
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
    variables: Option<OwnedVariableSource>,
    /// The values the `with_*` methods set.
    code: Overrides,
    /// Tags added after those of `DD_TAGS`.
    tags: Vec<(String, String)>,
    /// The agent URL, checked at `build()`.
    agent_url: Option<String>,
    /// Git metadata of the app's build, used when the variables give none.
    build_git: GitMetadata,
    /// Where the stable configuration files are (`None`: where Datadog's tracers read them).
    stable_config_paths: Option<StableConfigPaths>,
    /// The app's tokio runtime, for runtime metrics (else the one `build()` runs in, if any).
    tokio_runtime: Option<tokio::runtime::Handle>,
    /// Where payloads go instead of the agent (the testing feature's exporter sets it): the
    /// layer, the queue, the worker and the encoder run as in production.
    pub(crate) sink: Option<Arc<dyn PayloadSink>>,
}

impl std::fmt::Debug for DatadogLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogLayerBuilder")
            .field("service", &self.code.service)
            .field("env", &self.code.env)
            .field("agent_url", &self.agent_url)
            .field("enabled", &self.code.enabled)
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
        self.code.service = Some(service.into());
        self
    }

    /// Sets the deployment environment, the `env` tag (overrides `DD_ENV`).
    pub fn with_env(mut self, env: impl Into<String>) -> Self {
        self.code.env = Some(Some(env.into()));
        self
    }

    /// Sets the version (overrides `DD_VERSION`).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.code.version = Some(Some(version.into()));
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
        self.code.enabled = Some(enabled);
        self
    }

    /// Keeps traces at this rate in `[0, 1]` (overrides `DD_TRACE_SAMPLE_RATE`).
    pub fn with_sample_rate(mut self, rate: f64) -> Self {
        self.code.sample_rate = Some(Some(rate));
        self
    }

    /// Adds a trace sampling rule, after those added before. Rules given here replace those of
    /// `DD_TRACE_SAMPLING_RULES`; the sample rate still comes after all of them.
    pub fn with_trace_sampling_rule(mut self, rule: TraceSamplingRule) -> Self {
        let rules = self.code.sampling_rules.get_or_insert_with(Vec::new);
        rules.push(rule.into_rule());
        self
    }

    /// Traces per second that sampling rules may keep, at least 0 (overrides
    /// `DD_TRACE_RATE_LIMIT`).
    pub fn with_rate_limit(mut self, traces_per_second: f64) -> Self {
        self.code.rate_limit = Some(traces_per_second);
        self
    }

    /// Adds a span sampling rule, after those added before. Rules given here replace those of
    /// `DD_SPAN_SAMPLING_RULES` and its file.
    pub fn with_span_sampling_rule(mut self, rule: SpanSamplingRule) -> Self {
        let rules = self.code.span_sampling_rules.get_or_insert_with(Vec::new);
        rules.push(rule.into_rule());
        self
    }

    /// Propagation styles for both directions (overrides `DD_TRACE_PROPAGATION_STYLE`); an
    /// empty list propagates nothing.
    pub fn with_propagation_styles(self, styles: &[PropagationStyle]) -> Self {
        self.with_inject_styles(styles).with_extract_styles(styles)
    }

    /// Styles written into outgoing requests (overrides `DD_TRACE_PROPAGATION_STYLE_INJECT`).
    pub fn with_inject_styles(mut self, styles: &[PropagationStyle]) -> Self {
        self.code.inject_styles = Some(styles.to_vec());
        self
    }

    /// Styles read from incoming requests, in order (overrides
    /// `DD_TRACE_PROPAGATION_STYLE_EXTRACT`).
    pub fn with_extract_styles(mut self, styles: &[PropagationStyle]) -> Self {
        self.code.extract_styles = Some(styles.to_vec());
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
        self.code.agent_timeout = Some(timeout);
        self
    }

    /// The entity id sent as `Datadog-Entity-ID` when no container can be detected, e.g. the
    /// pod UID (overrides `DD_ENTITY_ID`).
    pub fn with_entity_id(mut self, entity_id: impl Into<String>) -> Self {
        self.code.entity_id = Some(Some(entity_id.into()));
        self
    }

    /// The value sent as `Datadog-External-Env` (overrides `DD_EXTERNAL_ENV`).
    pub fn with_external_env(mut self, external_env: impl Into<String>) -> Self {
        self.code.external_env = Some(Some(external_env.into()));
        self
    }

    /// Prints the startup configuration line or not (overrides `DD_TRACE_STARTUP_LOGS`).
    pub fn with_startup_logs(mut self, on: bool) -> Self {
        self.code.startup_logs = Some(on);
        self
    }

    /// Prints the tracer's debug diagnostics to stderr or not (overrides `DD_TRACE_DEBUG`).
    pub fn with_debug(mut self, on: bool) -> Self {
        self.code.debug = Some(on);
        self
    }

    /// Generates 128-bit trace ids, or 64-bit ones when `false` (overrides
    /// `DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED`).
    pub fn with_128_bit_trace_ids(mut self, on: bool) -> Self {
        self.code.trace_id_128_bit = Some(on);
        self
    }

    /// Makes log correlation write 128-bit trace ids as 32 hex digits, or always the decimal
    /// low 64 bits when `false` (overrides `DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED`).
    pub fn with_128_bit_trace_id_logging(mut self, on: bool) -> Self {
        self.code.log_trace_id_128_bit = Some(on);
        self
    }

    /// Whether log correlation (`dd-trace-log`) writes the `dd.*` keys (overrides
    /// `DD_LOGS_INJECTION`).
    pub fn with_logs_injection(mut self, on: bool) -> Self {
        self.code.logs_injection = Some(on);
        self
    }

    /// Whether a panic inside a span marks the innermost span dd-trace records an error
    /// (overrides `DD_TRACE_PANIC_ERRORS_ENABLED`; on by default). The panic hook that does it
    /// calls the hook that was in place before it.
    pub fn with_panic_errors(mut self, on: bool) -> Self {
        self.code.panic_errors = Some(on);
        self
    }

    /// The source code the app was built from, usually
    /// [`git_metadata_from_build!()`](crate::git_metadata_from_build): used when
    /// `DD_GIT_REPOSITORY_URL` / `DD_GIT_COMMIT_SHA` (or their `DD_TAGS` keys) are unset at
    /// run time, which in a pod they usually are. Sent as `_dd.git.repository_url` (without
    /// credentials) and `_dd.git.commit.sha` for Datadog's source code integration.
    pub fn with_build_git_metadata(mut self, git: GitMetadata) -> Self {
        self.build_git = git;
        self
    }

    /// Reads the stable configuration from these files instead of the system's
    /// (`/etc/datadog-agent/application_monitoring.yaml` and
    /// `/etc/datadog-agent/managed/datadog-agent/stable/application_monitoring.yaml` on
    /// Linux): for tests of configuration (feature `testing`).
    #[cfg(feature = "testing")]
    pub fn with_stable_config_files(
        mut self,
        local: impl Into<std::path::PathBuf>,
        managed: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.stable_config_paths = Some(StableConfigPaths {
            local: local.into(),
            managed: managed.into(),
        });
        self
    }

    /// Whether runtime metrics (`runtime.rust.*`: CPU, memory, threads, file descriptors, the
    /// tokio runtime) go to the agent's DogStatsD every 10 s (overrides
    /// `DD_RUNTIME_METRICS_ENABLED`; off by default). See the crate docs, "Runtime metrics".
    pub fn with_runtime_metrics(mut self, on: bool) -> Self {
        self.code.runtime_metrics = Some(on);
        self
    }

    /// Whether the tracer's own health (`datadog.tracer.*`) goes to DogStatsD every 10 s
    /// (overrides `DD_TRACE_HEALTH_METRICS_ENABLED`; off by default).
    pub fn with_health_metrics(mut self, on: bool) -> Self {
        self.code.health_metrics = Some(on);
        self
    }

    /// How often runtime and health metrics are read and sent (default
    /// [`DEFAULT_METRICS_INTERVAL`](crate::config::DEFAULT_METRICS_INTERVAL), at least 1 ms).
    pub fn with_metrics_interval(mut self, interval: Duration) -> Self {
        self.code.metrics_interval = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// The tokio runtime whose metrics the runtime metrics report. By default, the runtime
    /// `build()` is called in, if any: give the app's runtime here when the tracer is built
    /// before it (e.g. in `main` before `#[tokio::main]`'s runtime starts).
    pub fn with_tokio_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.tokio_runtime = Some(runtime);
        self
    }

    /// Whether the tracer takes configuration from Datadog through the agent (overrides
    /// `DD_REMOTE_CONFIGURATION_ENABLED`; on by default, used when the agent offers it). See
    /// the crate docs, "Remote configuration".
    pub fn with_remote_config(mut self, on: bool) -> Self {
        self.code.remote_config_enabled = Some(on);
        self
    }

    /// Whether the tracer sends instrumentation telemetry through the agent (overrides
    /// `DD_INSTRUMENTATION_TELEMETRY_ENABLED`; on by default, used when the agent offers it).
    pub fn with_telemetry(mut self, on: bool) -> Self {
        self.code.telemetry_enabled = Some(on);
        self
    }

    /// Makes `tracing` events at or above `level` inside a span into span events on that span
    /// (name, time, fields), or none with `None` (overrides `DD_TRACE_SPAN_EVENTS_LEVEL`).
    pub fn with_span_events(mut self, level: Option<tracing::Level>) -> Self {
        self.code.span_events_level = Some(level);
        self
    }

    /// Sends a long trace's finished spans before the trace ends, whenever
    /// [`with_partial_flush_min_spans`](Self::with_partial_flush_min_spans) of them are waiting
    /// (overrides `DD_TRACE_PARTIAL_FLUSH_ENABLED`).
    pub fn with_partial_flush(mut self, on: bool) -> Self {
        self.code.partial_flush = Some(on);
        self
    }

    /// Finished spans, from 1 to 99 999, that trigger a partial flush (overrides
    /// `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS`). A trace never buffers more than
    /// [`MAX_BUFFERED_SPANS_PER_TRACE`](crate::config::MAX_BUFFERED_SPANS_PER_TRACE) finished
    /// spans, so values above that act as that.
    pub fn with_partial_flush_min_spans(mut self, min_spans: usize) -> Self {
        self.code.partial_flush_min_spans = Some(min_spans);
        self
    }

    /// How often finished traces are sent (default
    /// [`DEFAULT_FLUSH_INTERVAL`](crate::config::DEFAULT_FLUSH_INTERVAL); at least 1 ms).
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.code.flush_interval = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// Finished trace chunks the hand-off queue holds before new ones are dropped (default
    /// [`DEFAULT_QUEUE_CAPACITY`](crate::config::DEFAULT_QUEUE_CAPACITY)).
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.code.queue_capacity = Some(capacity);
        self
    }

    /// Bytes of encoded payloads kept while the agent is unreachable, stalled or slow (default
    /// [`DEFAULT_RETRY_BUFFER_BYTES`](crate::config::DEFAULT_RETRY_BUFFER_BYTES), about 9 s of
    /// 10 000 spans per second); past this new payloads are dropped and counted. One payload
    /// is always kept, whatever the value.
    pub fn with_retry_buffer_bytes(mut self, bytes: u64) -> Self {
        self.code.retry_buffer_bytes = Some(bytes);
        self
    }

    /// Local traces with open spans the tracer records at once (default
    /// [`DEFAULT_MAX_OPEN_TRACES`](crate::config::DEFAULT_MAX_OPEN_TRACES), at least 1); spans
    /// of traces started past it are not recorded, and counted in
    /// [`CounterSnapshot::spans_dropped_trace_limits`](crate::diagnostics::CounterSnapshot::spans_dropped_trace_limits).
    pub fn with_max_open_traces(mut self, traces: usize) -> Self {
        self.code.max_open_traces = Some(traces.max(1));
        self
    }

    /// Open spans one local trace may have (default
    /// [`DEFAULT_MAX_OPEN_SPANS_PER_TRACE`](crate::config::DEFAULT_MAX_OPEN_SPANS_PER_TRACE), at
    /// least 1); its spans started past it are not recorded, and counted.
    pub fn with_max_open_spans_per_trace(mut self, spans: usize) -> Self {
        self.code.max_open_spans_per_trace = Some(spans.max(1));
        self
    }

    /// How long dropping the [`DatadogGuard`] may wait for traces to be sent (default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::config::DEFAULT_SHUTDOWN_TIMEOUT)).
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.code.shutdown_timeout = Some(timeout);
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
        let tokio_runtime = self
            .tokio_runtime
            .take()
            .or_else(|| tokio::runtime::Handle::try_current().ok());
        let unsupported = self.unsupported();
        let (settings, warnings, ids) = self.resolve()?;
        for w in &warnings {
            log::warn(format_args!("{w}"));
        }
        let doctor = settings.doctor.value.then(|| settings.clone());
        let built = start(
            settings,
            ids,
            unsupported.clone(),
            sink,
            Output::Normal(tokio_runtime),
        )?;
        if let Some(settings) = doctor {
            doctor::run_later(settings, warnings, unsupported, send_test_trace);
        }
        Ok(built)
    }

    /// The `DD_*` and `OTEL_*` variables of the environment no setting reads (none for a
    /// variable source, which cannot be listed).
    fn unsupported(&self) -> Vec<String> {
        match self.variables {
            Some(_) => Vec::new(),
            None => unsupported_in_environment(),
        }
    }

    /// Diagnoses the configuration this builder would build (see [`diagnose`]): checks the
    /// agent's address, reachability and `/info`, sends one test trace (operation
    /// `dd_trace.doctor`) with a tracer of its own, and reports. Blocks for at most about the
    /// agent timeout plus a few seconds.
    pub fn diagnose(self) -> Diagnosis {
        let unsupported = self.unsupported();
        let process = doctor::process_check();
        match self.settings() {
            Ok((settings, warnings)) => doctor::diagnose(
                settings,
                doctor::Findings {
                    warnings: &warnings,
                    unsupported: &unsupported,
                    process,
                },
                send_test_trace,
            ),
            Err(e) => doctor::unbuildable(&e),
        }
    }

    /// The settings: the sources (the environment, or the variable source), then this
    /// builder's values; and the warnings about malformed variables (not printed).
    pub(crate) fn settings(self) -> Result<(Settings, Vec<String>), BuildError> {
        self.resolve()
            .map(|(settings, warnings, _)| (settings, warnings))
    }

    /// [`settings`](Self::settings), and the `config_id`s of the stable configuration files
    /// read: the managed file, the environment (or the variable source), the local file, in
    /// that order of precedence, then this builder's values.
    pub(crate) fn resolve(self) -> Result<(Settings, Vec<String>, StableConfigIds), BuildError> {
        let env = |name: &str| std::env::var(name).ok();
        let variables: VariableSource<'_> = match &self.variables {
            Some(source) => &**source,
            None => &env,
        };
        let mut file_warnings = Vec::new();
        let process = Process {
            args: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            var: variables,
            vars: match self.variables {
                Some(_) => Vec::new(),
                None => std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                    .collect(),
            },
        };
        let paths = self.stable_config_paths.clone().unwrap_or_default();
        let local = read_stable_config(&paths.local, &process, &mut file_warnings);
        let managed = read_stable_config(&paths.managed, &process, &mut file_warnings);
        let (local_get, managed_get) = (|k: &str| local.get(k), |k: &str| managed.get(k));
        let sources = Sources {
            layers: vec![
                (Origin::FleetStableConfig, &managed_get),
                (Origin::EnvVar, variables),
                (Origin::LocalStableConfig, &local_get),
            ],
            path_exists: &|p: &Path| p.exists(),
        };
        let (mut settings, mut warnings) = Settings::read(&sources);
        warnings.splice(0..0, file_warnings);
        let ids = StableConfigIds {
            local: local.config_id.clone(),
            managed: managed.config_id.clone(),
        };
        let build_git = self.build_git;
        let mut code = self.code;
        if let Some(url) = self.agent_url {
            let endpoint = AgentEndpoint::parse(&url)
                .map_err(|reason| BuildError::InvalidAgentUrl { url, reason })?;
            code.agent = Some(AgentAddress::new(endpoint, AgentSource::Builder));
        }
        if let Some(Some(rate)) = code.sample_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(BuildError::InvalidSampleRate { rate });
            }
        }
        if let Some(limit) = code.rate_limit {
            if limit.is_nan() || limit < 0.0 {
                return Err(BuildError::InvalidRateLimit { limit });
            }
        }
        if let Some(min_spans) = code.partial_flush_min_spans {
            if !valid_partial_flush_min_spans(&min_spans) {
                return Err(BuildError::InvalidPartialFlushMinSpans { min_spans });
            }
        }
        if !self.tags.is_empty() {
            let mut tags = settings.tags.value.clone();
            tags.extend(self.tags);
            code.tags = Some(tags);
        }
        settings.apply(code);
        if settings.git_repository_url.value.is_none() {
            if let Some(url) = build_git.repository_url.filter(|u| !u.trim().is_empty()) {
                settings.git_repository_url = Setting {
                    value: Some(strip_credentials(&url)),
                    origin: Origin::Code,
                };
            }
        }
        if settings.git_commit_sha.value.is_none() {
            if let Some(sha) = build_git.commit_sha.filter(|s| !s.trim().is_empty()) {
                settings.git_commit_sha = Setting {
                    value: Some(sha.trim().to_string()),
                    origin: Origin::Code,
                };
            }
        }
        Ok((settings, warnings, ids))
    }
}

/// Whether a tracer prints its own lines (and sends metrics).
enum Output {
    /// The startup line, warnings and notices; runtime metrics of this tokio runtime.
    Normal(Option<tokio::runtime::Handle>),
    /// Nothing: the doctor's tracer (the doctor reports instead).
    Quiet,
}

/// Starts a tracer with `settings`: prints the startup line, and unless tracing is disabled,
/// starts the worker, which delivers to `sink` (the agent when `None`).
fn start(
    settings: Settings,
    stable_config_ids: StableConfigIds,
    unsupported: Vec<String>,
    sink: Option<Arc<dyn PayloadSink>>,
    output: Output,
) -> Result<(DatadogLayer, DatadogGuard), BuildError> {
    let (quiet, tokio_runtime) = match output {
        Output::Normal(runtime) => (false, runtime),
        Output::Quiet => (true, None),
    };
    if !quiet {
        log::set_debug(settings.debug.value);
        if !unsupported.is_empty() {
            log::debug(format_args!(
                "set but not supported: {} (dd-trace does not read them; its variables are in the crate docs' configuration table)",
                unsupported.join(", ")
            ));
        }
    }
    let process_tags = if settings.process_tags_enabled.value {
        let user_set = settings.service.origin != Origin::Default;
        process_tags(&settings.service.value, user_set)
    } else {
        String::new()
    };
    let identity = Arc::new(
        Identity::new(
            settings.service.value.clone(),
            settings.env.value.clone(),
            settings.version.value.clone(),
        )
        .with_process_tags(process_tags),
    );
    let container = ContainerInfo::detect(settings.entity_id.value.as_deref());
    let endpoint = settings.agent.value.endpoint.clone();
    let destination = match &sink {
        Some(sink) => sink.destination().to_string(),
        None => endpoint.to_string(),
    };
    if settings.startup_logs.value && !quiet {
        startup::print(
            &settings,
            &destination,
            &identity,
            container.entity_id.as_deref(),
        );
    }
    let enabled = settings.enabled.value;
    let shutdown_timeout = settings.shutdown_timeout.value;
    let config = Arc::new(
        Configuration::new(settings)
            .with_unsupported(unsupported)
            .with_stable_config_ids(stable_config_ids),
    );
    if !enabled {
        return Ok((
            DatadogLayer::new(None, Arc::clone(&config)),
            DatadogGuard::new(None, shutdown_timeout, config),
        ));
    }
    let s = config.settings();
    if s.panic_errors.value {
        crate::layer::panics::install_hook();
    }
    let tracer = Arc::new(Tracer::new(
        Arc::clone(&config),
        Arc::clone(&identity),
        destination,
        quiet,
    ));
    let encoder = PayloadEncoder::new(
        EncodeContext {
            identity,
            global_tags: Arc::clone(&config.live().tags),
            report_hostname: s.report_hostname.value,
            native_span_events: false,
            chunk_tags: Arc::new(chunk_tags(&s, &tracer.identity)),
        },
        DEFAULT_PAYLOAD_FLUSH_BYTES,
    );
    let (commands, receiver) = unbounded_channel();
    let timeout = s.agent_timeout.value;
    let make_sink: MakeSink = match sink {
        Some(sink) => Box::new(move || Ok(sink)),
        None => {
            let external_env = s.external_env.value.clone();
            Box::new(move || {
                let transport =
                    AgentTransport::new(&endpoint, timeout, &container, external_env.as_deref())?;
                Ok(Arc::new(transport) as Arc<dyn PayloadSink>)
            })
        }
    };
    let thread = worker::spawn(
        WorkerSetup {
            tracer: Arc::clone(&tracer),
            processor: Processor::configured(
                Conventions {
                    query: s
                        .query_obfuscation
                        .value
                        .as_deref()
                        .and_then(|p| QueryObfuscator::new(p).ok()),
                    server_errors: s.http_server_error_statuses.value,
                    client_errors: s.http_client_error_statuses.value,
                    grpc_server_errors: s.grpc_server_error_statuses.value,
                    grpc_client_errors: s.grpc_client_error_statuses.value,
                },
                SpanSampler::new(s.span_sampling_rules.value.clone()),
                s.stats_computation.value,
                &tracer.identity,
            ),
            encoder,
            flush_interval: s.flush_interval.value,
            agent_timeout: timeout,
            retry_buffer_bytes: s.retry_buffer_bytes.value,
            protocol: s.protocol.value,
            commands: receiver,
        },
        make_sink,
    )?;
    let metrics = if quiet {
        None
    } else {
        crate::metrics::start(&tracer, &config.settings(), tokio_runtime)
    };
    Ok((
        DatadogLayer::new(Some(Arc::clone(&tracer)), Arc::clone(&config)),
        DatadogGuard::new(
            Some(WorkerHandle::new(
                tracer, commands, thread, timeout, metrics,
            )),
            shutdown_timeout,
            config,
        ),
    ))
}

/// The process-wide tags of the first span of each chunk (v1.0: of each payload): the process
/// tags and the git metadata.
fn chunk_tags(s: &Settings, identity: &Identity) -> Vec<(&'static str, String)> {
    let mut tags = Vec::new();
    if !identity.process_tags.is_empty() {
        tags.push(("_dd.tags.process", identity.process_tags.clone()));
    }
    if let Some(url) = &s.git_repository_url.value {
        tags.push(("_dd.git.repository_url", url.clone()));
    }
    if let Some(sha) = &s.git_commit_sha.value {
        tags.push(("_dd.git.commit.sha", sha.clone()));
    }
    tags
}

/// The doctor's test trace: a quiet tracer with `settings` sends one span; what it counted is
/// the answer.
fn send_test_trace(settings: Settings) -> Result<TestTrace, BuildError> {
    let timeout = settings.agent_timeout.value + Duration::from_secs(2);
    let (layer, guard) = start(
        settings,
        StableConfigIds::default(),
        Vec::new(),
        None,
        Output::Quiet,
    )?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("dd_trace.doctor", resource.name = "diagnose").in_scope(|| {});
    });
    let flushed = guard.flush_timeout(timeout).map(drop);
    let status = guard.status();
    drop(dispatch);
    let _ = guard.shutdown(Duration::from_millis(500));
    Ok(TestTrace { flushed, status })
}

/// Diagnoses the configuration the `DD_*` environment gives: the same as
/// `DatadogLayer::builder().diagnose()` (see [`DatadogLayerBuilder::diagnose`]).
///
/// ```no_run
/// let diagnosis = dd_trace::diagnose();
/// println!("{diagnosis}");
/// if !diagnosis.traces_arrive() {
///     std::process::exit(1);
/// }
/// ```
pub fn diagnose() -> Diagnosis {
    DatadogLayerBuilder::default().diagnose()
}

/// Installs a global subscriber of `Registry` + [`DatadogLayer`] configured from the `DD_*`
/// environment, and returns the guard to hold until the app exits. Never panics: on failure it
/// prints one warning and returns a guard that does nothing.
///
/// To keep other layers (formatting, filtering, log correlation), compose
/// [`DatadogLayer::builder`] into your own subscriber instead.
pub fn init() -> DatadogGuard {
    try_init().unwrap_or_else(|e| {
        log::warn(format_args!("tracing is not set up: {e}"));
        let (settings, _) = Settings::read(&Sources {
            layers: Vec::new(),
            path_exists: &|_| false,
        });
        DatadogGuard::new(
            None,
            DEFAULT_SHUTDOWN_TIMEOUT,
            Arc::new(Configuration::new(settings)),
        )
    })
}

/// Like [`init`], but returns the error.
///
/// # Errors
/// [`InitError::Build`] if the tracer cannot be built, [`InitError::AlreadySet`] if a global
/// subscriber exists already.
pub fn try_init() -> Result<DatadogGuard, InitError> {
    let (layer, guard) = DatadogLayer::builder().build()?;
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .map_err(|_| InitError::AlreadySet)?;
    Ok(guard)
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
        let (s, _) = builder(&[
            ("DD_SERVICE", "from-env"),
            ("DD_ENV", "staging"),
            ("DD_TRACE_DEBUG", "true"),
            ("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED", "true"),
            ("DD_ENTITY_ID", "pod-env"),
            ("DD_TAGS", "a:1"),
        ])
        .with_service("from-builder")
        .with_debug(false)
        .with_128_bit_trace_ids(false)
        .with_128_bit_trace_id_logging(false)
        .with_entity_id("pod-builder")
        .with_external_env("it-false,cn-app")
        .with_tag("b", "2")
        .settings()
        .unwrap();
        assert_eq!(s.service.value, "from-builder");
        assert_eq!(s.service.origin, Origin::Code);
        assert_eq!(s.env.value.as_deref(), Some("staging"));
        assert_eq!(s.env.origin, Origin::EnvVar);
        assert!(!s.debug.value);
        assert!(!s.trace_id_128_bit.value);
        assert!(!s.log_trace_id_128_bit.value);
        assert_eq!(s.entity_id.value.as_deref(), Some("pod-builder"));
        assert_eq!(s.external_env.value.as_deref(), Some("it-false,cn-app"));
        assert_eq!(
            s.tags.value,
            [("a".into(), "1".into()), ("b".into(), "2".into())],
            "the builder's tags come after DD_TAGS"
        );
    }

    #[test]
    fn partial_flush_combines_switch_and_threshold_from_either_side() {
        let min = |b: DatadogLayerBuilder| {
            let (s, _) = b.settings().unwrap();
            s.partial_flush
                .value
                .then_some(s.partial_flush_min_spans.value)
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
            builder(&[]).with_partial_flush_min_spans(0).settings(),
            Err(BuildError::InvalidPartialFlushMinSpans { min_spans: 0 })
        ));
    }

    #[test]
    fn invalid_builder_values_fail_the_build_with_the_reason() {
        let err = builder(&[])
            .with_agent_url("https://agent")
            .settings()
            .unwrap_err();
        assert!(matches!(
            err,
            BuildError::InvalidAgentUrl {
                reason: crate::error::AgentUrlError::HttpsUnsupported,
                ..
            }
        ));
        assert!(matches!(
            builder(&[]).with_sample_rate(1.5).settings(),
            Err(BuildError::InvalidSampleRate { .. })
        ));
    }
}
