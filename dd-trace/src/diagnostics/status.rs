//! The tracer's state as the app can read it, from any thread, at any time.
//!
//! In: the counters, the worker's published agent state, `/info`, retry buffer and errors,
//! the configuration. Out: a [`TracerStatus`] snapshot and its report for people. Read by
//! whichever thread asks (the worker only publishes, it is never waited on).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError};
use std::time::SystemTime;

use crate::config::{Configuration, SettingValue};
use crate::health::{
    AgentInfo, AgentState, CounterSnapshot, DeliveryError, DogStatsdStatus, RemoteConfigStatus,
    RetryBufferStatus, TelemetryStatus,
};
use crate::layer::DatadogLayer;
use crate::tracer::Tracer;

/// Counters and state of a tracer, from [`TracerStatusHandle::status`] or
/// [`DatadogGuard::status`](crate::DatadogGuard::status). The counts are current when read: a
/// span just closed counts as finished and [waiting](CounterSnapshot::spans_waiting) until the
/// worker delivers it (within the flush interval), then as sent.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TracerStatus {
    /// Whether tracing is enabled (`DD_TRACE_ENABLED`).
    pub enabled: bool,
    /// Where traces are sent: the agent address, or `in-memory` for the testing exporter.
    pub agent_url: String,
    /// Chunks waiting in the hand-off queue.
    pub queued_chunks: usize,
    /// Every counter.
    pub counters: CounterSnapshot,
    /// The last delivery error, if any.
    pub last_error: Option<String>,
    /// The agent as the worker last found it.
    pub agent: AgentStatus,
    /// The last delivery error of each kind, most recent first.
    pub errors: Vec<DeliveryError>,
    /// Payloads waiting to be sent (for a slot, or for the agent to come back).
    pub retry_buffer: RetryBufferStatus,
    /// Local traces with spans still open (bounded by
    /// [`with_max_open_traces`](crate::DatadogLayerBuilder::with_max_open_traces)).
    pub open_traces: u64,
    /// The configuration in effect: each setting's name, value and origin, in the order of the
    /// crate docs' table; values that could hold secrets are redacted.
    pub configuration: Vec<SettingValue>,
    /// The agent's latest sampling rates by `service:<svc>,env:<env>`, as it sent them.
    pub agent_rates: HashMap<String, f64>,
    /// How traces and spans are sampled.
    pub sampling: SamplingStatus,
    /// `DD_*` and `OTEL_*` variables set in the environment that this tracer does not read
    /// (empty when the builder was given a variable source).
    pub unsupported_variables: Vec<String>,
    /// Remote configuration: offered by the agent or not, polls, the configs received and how
    /// each was applied.
    pub remote_config: RemoteConfigStatus,
    /// Instrumentation telemetry: requests and events sent, failed, dropped.
    pub telemetry: TelemetryStatus,
    /// DogStatsD: where runtime and health metrics go, how many were sent, failures.
    pub dogstatsd: DogStatsdStatus,
}

/// What a tracer has delivered over its life, as [`flush`](crate::DatadogGuard::flush) and
/// [`shutdown`](crate::DatadogGuard::shutdown) return it: its counters when the worker answered.
/// Its `Display` is the line shutdown prints: `sent N spans, dropped M (…by reason)`.
///
/// ```
/// let (layer, guard) = dd_trace::DatadogLayer::builder()
///     # .with_variable_source(|_| None).with_startup_logs(false).with_enabled(false)
///     .build()?;
/// let summary = guard.shutdown(std::time::Duration::from_secs(5))?;
/// if !summary.is_lossless() {
///     eprintln!("tracing: {summary}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DeliverySummary {
    /// Every counter, as it was when the flush or shutdown ended.
    pub counters: CounterSnapshot,
}

impl DeliverySummary {
    pub(crate) fn new(counters: CounterSnapshot) -> Self {
        DeliverySummary { counters }
    }

    /// Spans the agent accepted.
    pub fn spans_sent(&self) -> u64 {
        self.counters.spans_sent
    }

    /// Spans dropped, for any reason (see [`CounterSnapshot::spans_dropped`]).
    pub fn spans_dropped(&self) -> u64 {
        self.counters.spans_dropped()
    }

    /// Whether nothing was dropped.
    pub fn is_lossless(&self) -> bool {
        self.spans_dropped() == 0
    }
}

impl fmt::Display for DeliverySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.counters.delivery_line())
    }
}

/// The sampling configuration in effect, in [`TracerStatus::sampling`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SamplingStatus {
    /// The trace sampling rules, in the order they apply, as JSON; a `DD_TRACE_SAMPLE_RATE`
    /// shows as the last rule, which matches everything.
    pub trace_rules: Vec<String>,
    /// Traces per second the rules may keep.
    pub rate_limit: f64,
    /// The span sampling rules, as JSON.
    pub span_rules: Vec<String>,
    /// The agent's rates as the sampler applies them (increases are capped at twice the
    /// previous rate per second), by `service:<svc>,env:<env>`.
    pub applied_agent_rates: HashMap<String, f64>,
}

/// The agent, in [`TracerStatus::agent`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AgentStatus {
    /// Its address, or `in-memory` for the testing exporter.
    pub url: String,
    /// How it last behaved.
    pub state: AgentState,
    /// Since when it has been in that state.
    pub since: Option<SystemTime>,
    /// Its `/info`, when it answered one; `None` before the first answer and for agents
    /// without `/info`.
    pub info: Option<AgentInfo>,
}

/// A cheap, cloneable handle that reads a tracer's [`TracerStatus`]: hand it to a health
/// endpoint or a metrics exporter. Get one from
/// [`DatadogLayer::status_handle`](crate::DatadogLayer::status_handle) or
/// [`DatadogGuard::status_handle`](crate::DatadogGuard::status_handle). It keeps working
/// after the guard is gone (the status then shows what was counted until shutdown).
///
/// ```
/// let (layer, guard) = dd_trace::DatadogLayer::builder()
///     # .with_variable_source(|_| None).with_startup_logs(false).with_enabled(false)
///     .build()?;
/// let status = layer.status_handle();
/// std::thread::spawn(move || {
///     let s = status.status();
///     println!("sent {} spans, dropped {}", s.counters.spans_sent, s.counters.spans_dropped());
/// })
/// .join()
/// .unwrap();
/// # drop(guard);
/// # Ok::<(), dd_trace::BuildError>(())
/// ```
#[derive(Clone)]
pub struct TracerStatusHandle {
    tracer: Option<Arc<Tracer>>,
    /// The settings in effect (also for a disabled tracer, which has no `Tracer`).
    config: Arc<Configuration>,
}

impl std::fmt::Debug for TracerStatusHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerStatusHandle")
            .field("enabled", &self.tracer.is_some())
            .finish()
    }
}

impl DatadogLayer {
    /// A handle that reads the tracer's status from anywhere (see [`TracerStatusHandle`]).
    pub fn status_handle(&self) -> TracerStatusHandle {
        TracerStatusHandle::new(self.tracer().cloned(), std::sync::Arc::clone(self.config()))
    }
}

impl TracerStatusHandle {
    pub(crate) fn new(tracer: Option<Arc<Tracer>>, config: Arc<Configuration>) -> Self {
        TracerStatusHandle { tracer, config }
    }

    /// The tracer's counters and latest agent state; all zero when tracing is disabled (but
    /// the configuration is there).
    pub fn status(&self) -> TracerStatus {
        let settings = self.config.settings();
        let Some(t) = &self.tracer else {
            return TracerStatus {
                configuration: self.config.effective(),
                unsupported_variables: self.config.unsupported().to_vec(),
                ..TracerStatus::default()
            };
        };
        let live = self.config.live();
        let health = t.health.lock().unwrap_or_else(PoisonError::into_inner);
        TracerStatus {
            enabled: true,
            agent_url: t.destination.clone(),
            queued_chunks: t.queue.len(),
            counters: t.counters.snapshot(),
            last_error: health.errors.first().map(|e| e.message.clone()),
            agent: AgentStatus {
                url: t.destination.clone(),
                state: health.state,
                since: health.since,
                info: health.info.clone(),
            },
            errors: health.errors.clone(),
            retry_buffer: health.retry_buffer,
            open_traces: t.open_traces.count(),
            configuration: self.config.effective(),
            agent_rates: t.agent_rates.load().by_service.clone(),
            sampling: SamplingStatus {
                trace_rules: live
                    .trace_rules
                    .rules()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                rate_limit: t.sampler.rate_limit(),
                span_rules: settings
                    .span_sampling_rules
                    .value
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                applied_agent_rates: t.sampler.agent_rates().applied().to_keys(),
            },
            unsupported_variables: self.config.unsupported().to_vec(),
            remote_config: health.remote.clone(),
            telemetry: health.telemetry.clone(),
            dogstatsd: health.dogstatsd.clone(),
        }
    }
}

impl fmt::Display for TracerStatus {
    /// A report for people: agent, counters, errors with their remedies; with `{:#}`, the
    /// configuration too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.enabled {
            return writeln!(
                f,
                "tracing is disabled (DD_TRACE_ENABLED=false): nothing is sent"
            );
        }
        let a = &self.agent;
        write!(f, "agent: {} is {}", a.url, a.state)?;
        if let Some(since) = a.since {
            write!(f, " since {}", humantime::format_rfc3339_seconds(since))?;
        }
        writeln!(f)?;
        match &a.info {
            Some(info) => writeln!(
                f,
                "  /info: version {}, endpoints {}",
                info.version.as_deref().unwrap_or("unknown"),
                info.endpoints.join(" ")
            )?,
            None => writeln!(f, "  /info: no answer yet (or an agent without /info)")?,
        }
        let c = &self.counters;
        writeln!(
            f,
            "spans: {} started, {} finished, {} open now, {} finished but not delivered yet",
            c.spans_started,
            c.spans_finished,
            c.spans_open(),
            c.spans_waiting()
        )?;
        writeln!(
            f,
            "  {} sent in {} payloads ({} bytes), {} dropped ({} at the full queue, {} after failed sends, {} with the retry buffer full, {} at shutdown, {} over the open-trace limits)",
            c.spans_sent,
            c.payloads_sent,
            c.bytes_sent,
            c.spans_dropped(),
            c.spans_dropped_queue_full,
            c.spans_dropped_send_failed,
            c.spans_dropped_retry_buffer_full,
            c.spans_dropped_shutdown,
            c.spans_dropped_trace_limits,
        )?;
        let r = &self.retry_buffer;
        writeln!(
            f,
            "waiting: {} chunks in the hand-off queue, {} payloads ({} spans) in the retry buffer, {} of {} bytes held; {} open traces",
            self.queued_chunks, r.payloads, r.spans, r.bytes, r.capacity_bytes, self.open_traces
        )?;
        if c.spans_dropped_p0 > 0 || c.stats_payloads_sent > 0 {
            writeln!(
                f,
                "client stats: {} payloads sent; {} unsampled spans ({} whole traces) not sent, as the agent allows",
                c.stats_payloads_sent, c.spans_dropped_p0, c.chunks_dropped_p0
            )?;
        }
        for e in &self.errors {
            writeln!(
                f,
                "error: {} ({}×, last at {}): {}\n  remedy: {}",
                e.kind,
                e.count,
                humantime::format_rfc3339_seconds(e.at),
                e.message,
                e.remedy
            )?;
        }
        writeln!(f, "remote configuration: {}", self.remote_config)?;
        writeln!(f, "telemetry: {}", self.telemetry)?;
        writeln!(f, "DogStatsD: {}", self.dogstatsd)?;
        if !self.unsupported_variables.is_empty() {
            writeln!(
                f,
                "set but not supported (not read by dd-trace): {}",
                self.unsupported_variables.join(", ")
            )?;
        }
        if f.alternate() && !self.configuration.is_empty() {
            writeln!(f, "configuration:")?;
            for setting in &self.configuration {
                writeln!(f, "  {setting}")?;
            }
        }
        Ok(())
    }
}
