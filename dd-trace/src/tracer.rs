//! The tracer: the state the layer, the worker and the guard share, and how it starts.
//!
//! In: a validated [`Config`], on the thread that calls `build()`. Out: the [`DatadogLayer`]
//! (which records spans on the app's threads) and the [`DatadogGuard`] (which owns the worker
//! thread). Everything in [`Tracer`] is either fixed at start, atomic, or behind a lock that
//! only the worker and status readers take: the layer never locks it.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::mpsc::unbounded_channel;

use crate::config::{Config, MAX_BUFFERED_SPANS_PER_TRACE};
use crate::diagnostics::startup;
use crate::encode::{EncodeContext, PayloadEncoder, DEFAULT_PAYLOAD_FLUSH_BYTES};
use crate::error::BuildError;
use crate::export::process::Processor;
use crate::export::sink::{AgentRatesReply, PayloadSink};
use crate::export::transport::container::ContainerInfo;
use crate::export::transport::AgentTransport;
use crate::export::worker::{self, WorkerSetup};
use crate::guard::{DatadogGuard, WorkerHandle};
use crate::handoff::queue::ChunkQueue;
use crate::health::{AgentHealth, Counters};
use crate::identity::Identity;
use crate::layer::DatadogLayer;
use crate::model::clock::WallClock;
use crate::model::trace::OpenTraces;
use crate::propagation::PropagationConfig;
use crate::sampling::{Sampler, SamplerConfig, SpanSampler};

/// What the layer, the worker and the guard share.
pub(crate) struct Tracer {
    pub(crate) queue: ChunkQueue,
    pub(crate) counters: Counters,
    pub(crate) sampler: Sampler,
    /// Read at start; gives trace ids their start second without a wall-clock read per trace.
    pub(crate) clock: WallClock,
    pub(crate) trace_id_128_bit: bool,
    /// Finished spans of an open trace that trigger a (partial) flush.
    pub(crate) flush_at: usize,
    /// The service identity and the process.
    pub(crate) identity: Arc<Identity>,
    /// Whether log correlation writes 128-bit trace ids as hex.
    pub(crate) log_trace_id_128_bit: bool,
    /// Whether log correlation writes the `dd.*` keys.
    pub(crate) logs_injection: bool,
    /// Where traces go, for status and messages.
    pub(crate) destination: String,
    /// The span sampling rules in effect (the worker owns them), for status.
    pub(crate) span_sampling_rules: Vec<String>,
    pub(crate) agent_rates: ArcSwap<AgentRatesReply>,
    /// What the worker knows about the agent (state, `/info`, errors, retry buffer).
    pub(crate) health: Mutex<AgentHealth>,
    /// Local traces with open spans, against `DD_TRACE_MAX_OPEN_TRACES`.
    pub(crate) open_traces: OpenTraces,
    /// Open spans one local trace may have.
    pub(crate) max_open_spans_per_trace: usize,
    /// The doctor's own tracer: the worker prints nothing (the doctor reports instead).
    pub(crate) quiet: bool,
    /// Events at or above this level become span events.
    pub(crate) span_events_level: Option<tracing::Level>,
    /// How traces are extracted from and injected into headers.
    pub(crate) propagation: Arc<PropagationConfig>,
}

/// Starts a tracer configured by `config`: prints the startup line, and unless tracing is
/// disabled, starts the worker, which delivers to `sink` (the agent when `None`).
pub(crate) fn start(
    config: Config,
    sink: Option<Arc<dyn PayloadSink>>,
) -> Result<(DatadogLayer, DatadogGuard), BuildError> {
    let identity = Arc::new(Identity::new(
        config.service.clone(),
        config.env.clone(),
        config.version.clone(),
    ));
    let container = ContainerInfo::detect(config.entity_id.as_deref());
    let destination = match &sink {
        Some(sink) => sink.destination().to_string(),
        None => config.agent.to_string(),
    };
    if config.startup_logs {
        startup::print(
            &config,
            &destination,
            &identity.runtime_id,
            container.entity_id.as_deref(),
        );
    }
    let configuration = Arc::new(config.effective());
    if !config.enabled {
        return Ok((
            DatadogLayer::new(None, Arc::clone(&configuration)),
            DatadogGuard::new(None, config.shutdown_timeout, configuration),
        ));
    }
    let flush_at = if config.partial_flush {
        config.partial_flush_min_spans
    } else {
        MAX_BUFFERED_SPANS_PER_TRACE
    };
    let tracer = Arc::new(Tracer {
        queue: ChunkQueue::new(config.queue_capacity),
        counters: Counters::default(),
        sampler: Sampler::new(SamplerConfig {
            rules: config.sampling_rules.clone(),
            sample_rate: config.sample_rate,
            rate_limit: config.rate_limit,
            service: config.service.clone(),
            env: config.env.clone(),
            version: config.version.clone(),
            tags: config.tags.clone(),
        }),
        clock: WallClock::now(),
        trace_id_128_bit: config.trace_id_128_bit,
        flush_at: flush_at.min(MAX_BUFFERED_SPANS_PER_TRACE),
        identity: Arc::clone(&identity),
        log_trace_id_128_bit: config.log_trace_id_128_bit,
        logs_injection: config.logs_injection,
        span_events_level: config.span_events_level,
        destination,
        span_sampling_rules: config
            .span_sampling_rules
            .iter()
            .map(ToString::to_string)
            .collect(),
        agent_rates: ArcSwap::default(),
        health: Mutex::new(AgentHealth::default()),
        open_traces: OpenTraces::new(config.max_open_traces),
        max_open_spans_per_trace: config.max_open_spans_per_trace,
        quiet: config.quiet,
        propagation: Arc::new(config.propagation.clone()),
    });
    let encoder = PayloadEncoder::new(
        EncodeContext {
            identity,
            global_tags: config.tags.clone(),
            native_span_events: false,
        },
        DEFAULT_PAYLOAD_FLUSH_BYTES,
    );
    let (commands, receiver) = unbounded_channel();
    let timeout = config.agent_timeout;
    let external_env = config.external_env.clone();
    let processor = Processor::new(SpanSampler::new(config.span_sampling_rules.clone()));
    let thread = worker::spawn(
        WorkerSetup {
            tracer: Arc::clone(&tracer),
            processor,
            encoder,
            flush_interval: config.flush_interval,
            agent_timeout: timeout,
            retry_buffer_bytes: config.retry_buffer_bytes,
            protocol: config.protocol,
            stats: config.stats_computation,
            commands: receiver,
        },
        match sink {
            Some(sink) => Box::new(move || Ok(sink)),
            None => {
                let endpoint = config.agent.clone();
                Box::new(move || {
                    let transport = AgentTransport::new(
                        &endpoint,
                        timeout,
                        &container,
                        external_env.as_deref(),
                    )?;
                    Ok(Arc::new(transport) as Arc<dyn PayloadSink>)
                })
            }
        },
    )?;
    Ok((
        DatadogLayer::new(Some(Arc::clone(&tracer)), Arc::clone(&configuration)),
        DatadogGuard::new(
            Some(WorkerHandle::new(tracer, commands, thread, timeout)),
            config.shutdown_timeout,
            configuration,
        ),
    ))
}
