//! The tracer's state as the app can read it, from any thread, at any time.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use super::CounterSnapshot;
use crate::tracer::Tracer;

/// Counters and state of a tracer, from [`TracerStatusHandle::status`] or
/// [`DatadogGuard::status`](crate::DatadogGuard::status).
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
    /// The agent's latest sampling rates by `service:<svc>,env:<env>`, as it sent them.
    pub agent_rates: HashMap<String, f64>,
    /// How traces and spans are sampled.
    pub sampling: SamplingStatus,
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
}

impl std::fmt::Debug for TracerStatusHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerStatusHandle")
            .field("enabled", &self.tracer.is_some())
            .finish()
    }
}

impl TracerStatusHandle {
    pub(crate) fn new(tracer: Option<Arc<Tracer>>) -> Self {
        TracerStatusHandle { tracer }
    }

    /// The tracer's counters and latest agent state; all zero when tracing is disabled.
    pub fn status(&self) -> TracerStatus {
        let Some(t) = &self.tracer else {
            return TracerStatus::default();
        };
        TracerStatus {
            enabled: true,
            agent_url: t.destination.clone(),
            queued_chunks: t.queue.len(),
            counters: t.counters.snapshot(),
            last_error: t
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            agent_rates: t.agent_rates.load().by_service.clone(),
            sampling: SamplingStatus {
                trace_rules: t.sampler.rules().iter().map(ToString::to_string).collect(),
                rate_limit: t.sampler.rate_limit(),
                span_rules: t.span_sampling_rules.clone(),
                applied_agent_rates: t.sampler.agent_rates().applied().to_keys(),
            },
        }
    }
}
