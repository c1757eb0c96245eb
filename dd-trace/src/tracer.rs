//! The tracer's shared state: what the layer (app threads), the worker and the reports share.
//!
//! In: the settings, once, from the builder (`crate::builder`), which also starts the worker.
//! Out: [`Tracer`], behind an `Arc`. Everything in it is fixed at start, atomic, swapped
//! atomically (the live settings, the agent's rates), or behind a lock that only the worker and
//! status readers take: the layer never locks it.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::config::{Configuration, Settings};
use crate::handoff::queue::ChunkQueue;
use crate::headers::PropagationConfig;
use crate::health::filters::EventsSeen;
use crate::health::{AgentHealth, AgentRatesReply, Counters};
use crate::identity::Identity;
use crate::model::clock::WallClock;
use crate::model::trace::OpenTraces;
use crate::sampling::Sampler;

/// What the layer, the worker and the reports share.
pub(crate) struct Tracer {
    /// The settings in effect; the app's threads read the live ones from its snapshot.
    pub(crate) config: Arc<Configuration>,
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
    /// Where traces go, for status and messages.
    pub(crate) destination: String,
    /// The agent's rates as its last reply carried them, for the status.
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
    /// A panic marks the innermost recorded span an error (`DD_TRACE_PANIC_ERRORS_ENABLED`).
    pub(crate) panic_errors: bool,
    /// How traces are extracted from and injected into headers.
    pub(crate) propagation: Arc<PropagationConfig>,
    /// What the HTTP integrations tag from headers.
    /// Whether the layer has seen an event (for the filter check: events but no spans).
    pub(crate) events_seen: EventsSeen,
}

impl Tracer {
    /// The state of a tracer with `config`'s settings, sending to `destination`.
    pub(crate) fn new(
        config: Arc<Configuration>,
        identity: Arc<Identity>,
        destination: String,
        quiet: bool,
    ) -> Self {
        let s: Arc<Settings> = config.settings();
        Tracer {
            queue: ChunkQueue::new(s.queue_capacity.value),
            counters: Counters::default(),
            sampler: Sampler::new(
                &identity.service,
                identity.env.as_deref(),
                s.rate_limit.value,
            ),
            clock: WallClock::now(),
            trace_id_128_bit: s.trace_id_128_bit.value,
            flush_at: s.flush_at(),
            log_trace_id_128_bit: s.log_trace_id_128_bit.value,
            panic_errors: s.panic_errors.value,
            destination,
            agent_rates: ArcSwap::default(),
            health: Mutex::new(AgentHealth::default()),
            open_traces: OpenTraces::new(s.max_open_traces.value),
            max_open_spans_per_trace: s.max_open_spans_per_trace.value,
            quiet,
            span_events_level: s.span_events_level.value,
            propagation: Arc::new(s.propagation()),
            events_seen: EventsSeen::default(),
            identity,
            config,
        }
    }
}
