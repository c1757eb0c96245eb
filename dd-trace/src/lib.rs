//! Datadog APM tracing for Rust services: a [`tracing_subscriber::Layer`] that turns `tracing`
//! spans into Datadog spans and sends them to the Datadog agent.
//!
//! The layer records spans on the app's threads without I/O, encoding or locks shared across
//! traces; a finished trace is handed to a bounded queue, and a background worker (its own
//! thread and tokio runtime) encodes it as msgpack and sends it to the agent over its Unix socket
//! or TCP. A full queue or a failing agent drops and counts traces; it never blocks the app.
//!
//! # Quick start
//!
//! The common case, configured by `DD_*` environment variables:
//!
//! ```no_run
//! let _guard = dd_trace::init(); // hold it until the app exits: dropping it flushes
//! let span = tracing::info_span!("request", resource.name = "GET /users/{id}");
//! span.in_scope(|| { /* handle the request */ });
//! ```
//!
//! Composed into your own subscriber, with other layers beside it (the `dd-trace-log` crate
//! provides a JSON log formatter that adds `dd.trace_id`/`dd.span_id` to every log line):
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! let (datadog, guard) = dd_trace::DatadogLayer::builder()
//!     .with_service("checkout") // overrides DD_SERVICE
//!     .build()?;
//! tracing_subscriber::registry()
//!     .with(datadog)
//!     .with(tracing_subscriber::fmt::layer())
//!     .init();
//! // ... run the app ...
//! guard.shutdown(std::time::Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How spans map to Datadog spans
//!
//! Every `tracing` span becomes a Datadog span with a random non-zero 64-bit span id, in the trace
//! of its parent (the contextual parent, or the explicit `parent:`), across threads and `.await`
//! points. A span without a parent starts a new trace with a 128-bit trace id (start time in the
//! high bits, spec §1.3). Fields map as follows:
//!
//! | `tracing` field | Datadog |
//! |---|---|
//! | the span's name | operation `name`, and `resource` unless set |
//! | `operation.name` | overrides the operation `name` |
//! | `resource.name` (or `resource`) | `resource`, e.g. `GET /users/{id}` |
//! | `service.name` (or `service`) | `service` (default `DD_SERVICE`); spans of another service get `_dd.base_service` and no `version` |
//! | `span.type` | `type`: `web`, `db`, `cache`, `http`, … |
//! | `span.kind` (or `otel.kind`) | `span.kind` meta; `server`/`client`/`producer`/`consumer`/`internal` |
//! | `error = true` | `error = 1` |
//! | `error = <value>` (e.g. `%e`, or an `&dyn Error`) | `error = 1`, `error.message`; an error's sources go to `error.stack` |
//! | `error.message`, `error.type`, `error.stack` | those tags, and `error = 1` |
//! | `http.status_code` | a string tag, as Datadog expects, even when recorded as a number |
//! | any other string, bool or `Debug`/`Display` field | a `meta` tag |
//! | any other number | a `metrics` entry |
//!
//! Fields recorded later with [`tracing::Span::record`] are applied (declare them with
//! `tracing::field::Empty`). An ERROR-level event inside a span, such as the one
//! `#[instrument(err)]` emits, marks the span as an error with its `error` (or message) field as
//! `error.message`. `span.follows_from(other)` adds a span link to `other`.
//!
//! Each span also carries `env`, `version` (only for spans of `DD_SERVICE`), the `DD_TAGS`, and
//! `_dd.top_level` or `_dd.measured` as the agent needs for its stats; the first span of each
//! chunk carries the trace-level tags (`_sampling_priority_v1`, `_dd.p.dm`, `_dd.p.tid`,
//! `language`, `runtime-id`, `process_id`). These are added by the worker, not on the app's
//! threads.
//!
//! [`DatadogSpanExt::datadog_ids`] reads a span handle's trace and span ids (for example to
//! return the trace id to a caller); [`ids_of`] does the same for a `SpanRef` inside another
//! layer, which is how the `dd-trace-log` formatter finds them.
//!
//! **Timing.** A span starts when it is created and ends when it is last exited (if it was ever
//! entered), else when it closes: the `Registry` keeps a parent open while any child lives, so a
//! request span that spawned a longer background task still ends when the request did.
//!
//! **Traces.** A trace's finished spans leave together when its last span closes. A trace that
//! buffers [`config::MAX_BUFFERED_SPANS_PER_TRACE`] finished spans (or
//! `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS` with partial flushing on) sends them early as a partial
//! chunk, so memory stays bounded however long a trace runs.
//!
//! # Sampling
//!
//! With `DD_TRACE_SAMPLE_RATE` set, each trace is kept or dropped at its root by Knuth's
//! multiplicative hash of the low 64 bits of its id (spec §3.2): kept traces get priority 2,
//! dropped ones −1, with `_dd.rule_psr`, `_dd.p.ksr` and `_dd.p.dm = -3`. Otherwise every trace
//! gets priority 1 (`_dd.p.dm = -0`). Every chunk is sent either way: the agent computes stats on
//! all of them and drops what the priority says.
//!
//! # Delivery
//!
//! The hand-off queue holds [`config::DEFAULT_QUEUE_CAPACITY`] finished chunks; when it is full
//! a new chunk is dropped and counted. The worker drains the queue at least every 50 ms (and as
//! soon as it is half full), sends every second (or as soon as a payload passes 2 MiB; no payload
//! grows much past that), and keeps two requests in flight at most. Span records go back to the
//! app's threads for reuse once encoded, so a steady stream of spans allocates almost nothing.
//! The agent's reply is kept as its sampling rates ([`TracerStatus::agent_rates`]). Statuses 400,
//! 413 and 415 are final; 408, 429, 5xx, timeouts and connection errors are retried three times
//! with exponential backoff (100 ms, 200 ms, 400 ms, with jitter), then the payload is dropped and
//! counted. The first failure of each kind prints one warning with the cause, the address and the
//! remedy; later ones are counted in [`DatadogGuard::status`] until a send succeeds.
//!
//! [`DatadogGuard::flush`] sends everything finished so far; dropping the guard (or
//! [`DatadogGuard::shutdown`]) sends everything and stops the worker, waiting at most
//! [`config::DEFAULT_SHUTDOWN_TIMEOUT`].
//!
//! # Configuration
//!
//! Each variable can be overridden with the matching [`DatadogLayerBuilder`] method. A malformed
//! value prints one warning naming the variable and the default used; it never fails or panics.
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `DD_SERVICE` | the executable's name | service of the spans this process creates |
//! | `DD_ENV` | none | `env` tag on every span |
//! | `DD_VERSION` | none | `version` tag on spans of `DD_SERVICE` |
//! | `DD_TAGS` | none | `k:v` tags on every span, separated by commas (or spaces when there is no comma) |
//! | `DD_TRACE_ENABLED` | `true` | `false`: no spans are built, no worker runs, nothing is sent |
//! | `DD_TRACE_SAMPLE_RATE` | unset (keep all) | rate in `[0, 1]` at which traces are kept |
//! | `DD_TRACE_AGENT_URL` | unset | `unix:///path/to/apm.socket` or `http://host:port`; wins over host and port |
//! | `DD_AGENT_HOST` | `localhost` | agent host |
//! | `DD_TRACE_AGENT_PORT` | `8126` | agent trace port |
//! | (none of the three) | | `/var/run/datadog/apm.socket` if it exists, else `http://localhost:8126` |
//! | `DD_TRACE_AGENT_TIMEOUT` | `10` | seconds one request to the agent may take |
//! | `DD_ENTITY_ID` | unset | sent as `Datadog-Entity-ID` when no container id or cgroup inode can be detected |
//! | `DD_EXTERNAL_ENV` | unset | sent as `Datadog-External-Env` |
//! | `DD_TRACE_STARTUP_LOGS` | `true` | print one `DATADOG TRACER CONFIGURATION {json}` line to stderr at start |
//! | `DD_TRACE_DEBUG` | `false` | print the tracer's debug diagnostics to stderr |
//! | `DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED` | `true` | `false`: 64-bit trace ids |
//! | `DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED` | `true` | log correlation writes 128-bit ids as 32 hex digits |
//! | `DD_TRACE_PARTIAL_FLUSH_ENABLED` | `false` | send a long trace's finished spans before it ends |
//! | `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS` | `1000` | finished spans that trigger a partial flush |
//!
//! The tracer's own diagnostics go to stderr, prefixed `dd-trace WARN:` / `INFO:` / `DEBUG:`,
//! never through `tracing` (so they cannot feed back into the tracer).
//!
//! # Not yet supported
//!
//! Sampling rules (`DD_TRACE_SAMPLING_RULES`), the rate limiter and applying the agent's rates;
//! single-span sampling; context propagation (Datadog, W3C, B3 headers); client-side stats;
//! the v0.5 payload; `/info` discovery; DogStatsD health metrics; TLS to the agent.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod config;
mod diagnostics;
mod export;
mod layer;
mod model;
mod sampling;

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use crate::config::AgentEndpoint;
pub use crate::export::transport::{AgentRates, TRACER_VERSION};
pub use crate::layer::{ids_of, DatadogIds, DatadogLayer, DatadogSpanExt};
pub use crate::model::id::{SpanId, TraceId};

use crate::config::{Config, MAX_BUFFERED_SPANS_PER_TRACE};
use crate::export::encode::{EncodeContext, PayloadEncoder, DEFAULT_PAYLOAD_FLUSH_BYTES};
use crate::export::queue::{ChunkQueue, Counters};
use crate::export::worker::Command;
use crate::sampling::Sampler;

/// What the layer, the worker and the guard share.
pub(crate) struct Shared {
    queue: ChunkQueue,
    counters: Counters,
    sampler: Sampler,
    /// Read at start; gives trace ids their start second without a wall-clock read per trace.
    clock: model::span::WallClock,
    trace_id_128_bit: bool,
    /// Finished spans of an open trace that trigger a (partial) flush.
    flush_at: usize,
    identity: Identity,
    agent: AgentEndpoint,
    agent_rates: ArcSwap<AgentRates>,
    last_error: Mutex<Option<String>>,
}

/// The service identity that log correlation writes.
pub(crate) struct Identity {
    service: String,
    env: Option<String>,
    version: Option<String>,
    log_trace_id_128_bit: bool,
}

/// Errors from [`DatadogLayerBuilder::build`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The agent URL given to [`DatadogLayerBuilder::with_agent_url`] is not usable.
    #[error("invalid agent URL {url:?}: {reason}")]
    InvalidAgentUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The sample rate given to [`DatadogLayerBuilder::with_sample_rate`] is not in `[0, 1]`.
    #[error("invalid sample rate {rate}: it must be between 0 and 1")]
    InvalidSampleRate {
        /// The rate given.
        rate: f64,
    },
    /// The worker thread could not be started.
    #[error("could not start the dd-trace worker thread: {0}")]
    Worker(#[from] std::io::Error),
}

/// Errors from [`try_init`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The tracer could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A global default subscriber was already set.
    #[error("a global tracing subscriber is already set: compose DatadogLayer into it instead")]
    AlreadySet,
}

/// Errors from [`DatadogGuard::flush`] and [`DatadogGuard::shutdown`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The deadline passed before everything was delivered (or given up on).
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The worker has stopped; nothing more can be sent.
    #[error("the dd-trace worker has stopped")]
    Stopped,
}

/// Reads one environment variable.
type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// Configures and builds a [`DatadogLayer`] and its [`DatadogGuard`].
///
/// Every setting starts from its `DD_*` environment variable (see the crate docs); a `with_*`
/// call overrides it.
#[derive(Default)]
#[must_use]
pub struct DatadogLayerBuilder {
    env_lookup: Option<EnvLookup>,
    service: Option<String>,
    env: Option<String>,
    version: Option<String>,
    tags: Vec<(String, String)>,
    enabled: Option<bool>,
    sample_rate: Option<f64>,
    agent_url: Option<String>,
    agent_timeout: Option<Duration>,
    flush_interval: Option<Duration>,
    queue_capacity: Option<usize>,
    shutdown_timeout: Option<Duration>,
    startup_logs: Option<bool>,
}

impl std::fmt::Debug for DatadogLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogLayerBuilder")
            .field("service", &self.service)
            .field("agent_url", &self.agent_url)
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
    /// Reads `DD_*` settings through `lookup` instead of the process environment (useful in
    /// tests, or when configuration lives elsewhere).
    pub fn with_env_lookup(mut self, lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        self.env_lookup = Some(Box::new(lookup));
        self
    }

    /// Sets the service name (overrides `DD_SERVICE`).
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Sets the environment (overrides `DD_ENV`).
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

    /// Turns tracing on or off (overrides `DD_TRACE_ENABLED`).
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Keeps traces at this rate in `[0, 1]` (overrides `DD_TRACE_SAMPLE_RATE`).
    pub fn with_sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = Some(rate);
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

    /// How often finished traces are sent (default [`config::DEFAULT_FLUSH_INTERVAL`]).
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = Some(interval);
        self
    }

    /// Finished trace chunks the hand-off queue holds before new ones are dropped (default
    /// [`config::DEFAULT_QUEUE_CAPACITY`]).
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = Some(capacity);
        self
    }

    /// How long dropping the [`DatadogGuard`] may wait for traces to be sent (default
    /// [`config::DEFAULT_SHUTDOWN_TIMEOUT`]).
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Prints the startup configuration line or not (overrides `DD_TRACE_STARTUP_LOGS`).
    pub fn with_startup_logs(mut self, on: bool) -> Self {
        self.startup_logs = Some(on);
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
    pub fn build(self) -> Result<(DatadogLayer, DatadogGuard), BuildError> {
        let lookup: EnvLookup = self
            .env_lookup
            .unwrap_or_else(|| Box::new(|name| std::env::var(name).ok()));
        let (mut config, warnings) = config::from_env(&*lookup, &|p: &Path| p.exists());
        for w in &warnings {
            diagnostics::log::warn(format_args!("{w}"));
        }
        if let Some(url) = self.agent_url {
            config.agent = AgentEndpoint::parse(&url)
                .map_err(|reason| BuildError::InvalidAgentUrl { url, reason })?;
        }
        if let Some(rate) = self.sample_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(BuildError::InvalidSampleRate { rate });
            }
            config.sample_rate = Some(rate);
        }
        config.service = self.service.unwrap_or(config.service);
        config.env = self.env.or(config.env);
        config.version = self.version.or(config.version);
        config.tags.extend(self.tags);
        config.enabled = self.enabled.unwrap_or(config.enabled);
        config.agent_timeout = self.agent_timeout.unwrap_or(config.agent_timeout);
        config.flush_interval = self
            .flush_interval
            .unwrap_or(config.flush_interval)
            .max(Duration::from_millis(1));
        config.queue_capacity = self.queue_capacity.unwrap_or(config.queue_capacity);
        config.shutdown_timeout = self.shutdown_timeout.unwrap_or(config.shutdown_timeout);
        config.startup_logs = self.startup_logs.unwrap_or(config.startup_logs);
        diagnostics::log::set_debug(config.debug);
        start(config)
    }
}

fn start(config: Config) -> Result<(DatadogLayer, DatadogGuard), BuildError> {
    let runtime_id = new_runtime_id();
    let container =
        export::transport::container::ContainerInfo::detect(config.entity_id.as_deref());
    if config.startup_logs {
        print_startup_line(&config, &runtime_id, &container);
    }
    if !config.enabled {
        return Ok((
            DatadogLayer { shared: None },
            DatadogGuard {
                worker: None,
                shutdown_timeout: config.shutdown_timeout,
            },
        ));
    }
    let shared = Arc::new(Shared {
        queue: ChunkQueue::new(config.queue_capacity),
        counters: Counters::default(),
        sampler: Sampler::new(config.sample_rate),
        clock: model::span::WallClock::now(),
        trace_id_128_bit: config.trace_id_128_bit,
        flush_at: config
            .partial_flush_min_spans
            .unwrap_or(MAX_BUFFERED_SPANS_PER_TRACE)
            .min(MAX_BUFFERED_SPANS_PER_TRACE),
        identity: Identity {
            service: config.service.clone(),
            env: config.env.clone(),
            version: config.version.clone(),
            log_trace_id_128_bit: config.log_trace_id_128_bit,
        },
        agent: config.agent.clone(),
        agent_rates: ArcSwap::default(),
        last_error: Mutex::new(None),
    });
    let encoder = PayloadEncoder::new(
        EncodeContext {
            service: config.service.clone(),
            env: config.env.clone(),
            version: config.version.clone(),
            global_tags: config.tags.clone(),
            runtime_id,
            process_id: f64::from(std::process::id()),
        },
        DEFAULT_PAYLOAD_FLUSH_BYTES,
    );
    let (commands, receiver) = unbounded_channel();
    let agent = config.agent.clone();
    let timeout = config.agent_timeout;
    let external_env = config.external_env.clone();
    let thread = export::worker::spawn(
        Arc::clone(&shared),
        encoder,
        move || {
            export::transport::Transport::new(agent, timeout, &container, external_env.as_deref())
        },
        config.flush_interval,
        receiver,
    )?;
    Ok((
        DatadogLayer {
            shared: Some(Arc::clone(&shared)),
        },
        DatadogGuard {
            worker: Some(WorkerHandle {
                shared,
                commands,
                thread: Some(thread),
            }),
            shutdown_timeout: config.shutdown_timeout,
        },
    ))
}

fn print_startup_line(
    config: &Config,
    runtime_id: &str,
    container: &export::transport::container::ContainerInfo,
) {
    let info = config::StartupInfo {
        date: rfc3339_now(),
        os_name: std::env::consts::OS,
        architecture: std::env::consts::ARCH,
        version: TRACER_VERSION,
        lang: "rust",
        lang_version: export::transport::RUSTC_VERSION,
        enabled: config.enabled,
        service: &config.service,
        env: config.env.as_deref(),
        dd_version: config.version.as_deref(),
        agent_url: config.agent.to_string(),
        debug: config.debug,
        sample_rate: config.sample_rate,
        tags: config
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        runtime_id,
        trace_id_128_bit_generation_enabled: config.trace_id_128_bit,
        partial_flush_enabled: config.partial_flush_min_spans.is_some(),
        partial_flush_min_spans: config.partial_flush_min_spans,
        entity_id: container.entity_id.as_deref(),
    };
    if let Ok(json) = serde_json::to_string(&info) {
        diagnostics::log::raw(&format!("DATADOG TRACER CONFIGURATION {json}"));
    }
}

/// The current time as RFC 3339 UTC, to the second.
fn rfc3339_now() -> String {
    let secs = model::span::unix_now_ns() / 1_000_000_000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A random UUIDv4 string: the `runtime-id` of this tracer instance.
fn new_runtime_id() -> String {
    let v: u128 = rand::random();
    let v = (v & !(0xF << 76)) | (0x4 << 76);
    let v = (v & !(0x3 << 62)) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

struct WorkerHandle {
    shared: Arc<Shared>,
    commands: UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
}

/// Keeps the tracer's worker running. Dropping it sends every finished trace, waiting at most
/// the shutdown timeout (default [`config::DEFAULT_SHUTDOWN_TIMEOUT`]); keep it alive for as
/// long as the app traces, typically in `main`.
#[must_use = "dropping the guard stops the tracer: hold it until the app exits"]
pub struct DatadogGuard {
    worker: Option<WorkerHandle>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for DatadogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogGuard")
            .field("running", &self.worker.is_some())
            .finish()
    }
}

/// Counters and state of a running tracer, from [`DatadogGuard::status`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TracerStatus {
    /// Whether tracing is enabled.
    pub enabled: bool,
    /// The agent address in use.
    pub agent_url: String,
    /// Chunks waiting in the hand-off queue.
    pub queued_chunks: usize,
    /// Payloads the agent accepted.
    pub payloads_sent: u64,
    /// Trace chunks the agent accepted.
    pub chunks_sent: u64,
    /// Spans the agent accepted.
    pub spans_sent: u64,
    /// Bytes the agent accepted.
    pub bytes_sent: u64,
    /// Chunks dropped because the hand-off queue was full.
    pub chunks_dropped_queue_full: u64,
    /// Spans dropped because the hand-off queue was full.
    pub spans_dropped_queue_full: u64,
    /// Payloads given up on after the agent failed (retries included).
    pub payloads_dropped: u64,
    /// Chunks in those payloads.
    pub chunks_dropped_send_failed: u64,
    /// Spans in those payloads.
    pub spans_dropped_send_failed: u64,
    /// Chunks dropped because the tracer had shut down or its shutdown timed out.
    pub chunks_dropped_shutdown: u64,
    /// Spans dropped for the same reason.
    pub spans_dropped_shutdown: u64,
    /// Failed attempts to send, retried or not.
    pub failed_send_attempts: u64,
    /// Chunks sent before their trace ended (partial flushes).
    pub partial_flushes: u64,
    /// The last delivery error, if any.
    pub last_error: Option<String>,
    /// The agent's latest sampling rates by `service:<svc>,env:<env>`.
    pub agent_rates: HashMap<String, f64>,
}

impl DatadogGuard {
    /// Sends every trace finished so far and waits until the agent has answered (or delivery
    /// was given up on), at most the shutdown timeout. Blocks the calling thread.
    ///
    /// # Errors
    /// [`FlushError::Timeout`] if the deadline passed, [`FlushError::Stopped`] if the worker is
    /// gone.
    pub fn flush(&self) -> Result<(), FlushError> {
        self.flush_timeout(self.shutdown_timeout)
    }

    /// [`flush`](Self::flush) with a deadline of `timeout`.
    ///
    /// # Errors
    /// As [`flush`](Self::flush).
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        let Some(worker) = &self.worker else {
            return Ok(());
        };
        let (reply, done) = sync_channel(1);
        worker
            .commands
            .send(Command::Flush(reply))
            .map_err(|_| FlushError::Stopped)?;
        match done.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(FlushError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(FlushError::Stopped),
        }
    }

    /// Sends every finished trace, waiting at most `timeout`, and stops the worker. Spans that
    /// finish afterwards are dropped and counted.
    ///
    /// # Errors
    /// [`FlushError::Timeout`] if the deadline passed first (what was still in flight is
    /// dropped and counted); [`FlushError::Stopped`] if the worker had already stopped.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), FlushError> {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> Result<(), FlushError> {
        let Some(mut worker) = self.worker.take() else {
            return Ok(());
        };
        let (reply, done) = sync_channel(1);
        // The worker gives up slightly before the caller stops waiting, so it can count drops.
        let worker_deadline = tokio::time::Instant::now() + timeout.mul_f64(0.9);
        if worker
            .commands
            .send(Command::Shutdown(worker_deadline, reply))
            .is_err()
        {
            worker.shared.queue.close();
            return Err(FlushError::Stopped);
        }
        match done.recv_timeout(timeout) {
            Ok(()) => {
                if let Some(thread) = worker.thread.take() {
                    let _ = thread.join();
                }
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Err(FlushError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(FlushError::Stopped),
        }
    }

    /// The tracer's counters and latest agent state.
    pub fn status(&self) -> TracerStatus {
        let Some(worker) = &self.worker else {
            return TracerStatus::default();
        };
        let s = &worker.shared;
        let c = &s.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        TracerStatus {
            enabled: true,
            agent_url: s.agent.to_string(),
            queued_chunks: s.queue.len(),
            payloads_sent: get(&c.payloads_sent),
            chunks_sent: get(&c.chunks_sent),
            spans_sent: get(&c.spans_sent),
            bytes_sent: get(&c.bytes_sent),
            chunks_dropped_queue_full: get(&c.chunks_dropped_queue_full),
            spans_dropped_queue_full: get(&c.spans_dropped_queue_full),
            payloads_dropped: get(&c.payloads_dropped),
            chunks_dropped_send_failed: get(&c.chunks_dropped_send_failed),
            spans_dropped_send_failed: get(&c.spans_dropped_send_failed),
            chunks_dropped_shutdown: get(&c.chunks_dropped_shutdown),
            spans_dropped_shutdown: get(&c.spans_dropped_shutdown),
            failed_send_attempts: get(&c.send_attempts_failed),
            partial_flushes: get(&c.partial_flushes),
            last_error: s
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            agent_rates: s.agent_rates.load().by_service.clone(),
        }
    }
}

impl Drop for DatadogGuard {
    fn drop(&mut self) {
        let _ = self.stop(self.shutdown_timeout);
    }
}

/// Installs a global subscriber of `Registry` + [`DatadogLayer`] configured from the `DD_*`
/// environment, and returns the guard to hold until the app exits. Never panics: on failure it
/// prints one warning and returns a guard that does nothing.
///
/// To keep other layers (formatting, filtering, log correlation), compose
/// [`DatadogLayer::builder`] into your own subscriber instead.
pub fn init() -> DatadogGuard {
    try_init().unwrap_or_else(|e| {
        diagnostics::log::warn(format_args!("tracing is not set up: {e}"));
        DatadogGuard {
            worker: None,
            shutdown_timeout: config::DEFAULT_SHUTDOWN_TIMEOUT,
        }
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

    #[test]
    fn runtime_ids_are_uuid_v4() {
        let id = new_runtime_id();
        assert_eq!(id.len(), 36);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
        assert_ne!(id, new_runtime_id());
    }

    #[test]
    fn startup_date_is_rfc3339() {
        let d = rfc3339_now();
        assert_eq!(d.len(), 20, "{d}");
        assert!(d.starts_with("20") && d.ends_with('Z'), "{d}");
    }
}
