//! METRICS: runtime metrics and the tracer's health, over DogStatsD. With
//! `DD_RUNTIME_METRICS_ENABLED=true` (or `DD_TRACE_HEALTH_METRICS_ENABLED=true`), a thread of
//! its own ("dd-trace-metrics") wakes every 10 s
//! ([`DEFAULT_METRICS_INTERVAL`](crate::config::DEFAULT_METRICS_INTERVAL)), reads the
//! process (`/proc/self`), the app's tokio runtime (the one `build()` ran in, or the one given
//! to [`with_tokio_runtime`](crate::DatadogLayerBuilder::with_tokio_runtime)) and the tracer's
//! counters, and sends them to the agent's DogStatsD ([`dogstatsd`]), tagged `service`, `env`,
//! `version`, `runtime-id`, `language:rust` and `DD_TAGS`. The app's threads never take part.
//!
//! The metric table is in the crate docs ("Runtime metrics").
//!
//! In: the settings at `build()`; then readings on the metrics thread. Out: DogStatsD
//! datagrams; the counts, failures and the last reading's cost in the status.

pub(crate) mod dogstatsd;
mod runtime;

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::config::Settings;
use crate::health::log;
use crate::identity::LANGUAGE;
use crate::tracer::Tracer;
use dogstatsd::DogStatsd;

/// The running metrics thread; dropping it sends a last reading and stops the thread.
pub(crate) struct MetricsThread {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MetricsThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsThread").finish_non_exhaustive()
    }
}

impl Drop for MetricsThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the metrics thread when `settings` ask for runtime or health metrics.
pub(crate) fn start(
    tracer: &Arc<Tracer>,
    settings: &Settings,
    tokio: Option<tokio::runtime::Handle>,
) -> Option<MetricsThread> {
    let (runtime_on, health_on) = (
        settings.runtime_metrics.value,
        settings.health_metrics.value,
    );
    if !runtime_on && !health_on {
        return None;
    }
    let id = &tracer.identity;
    let mut tags = vec![
        format!("service:{}", id.service),
        format!("runtime-id:{}", id.runtime_id),
        format!("language:{LANGUAGE}"),
    ];
    if let Some(env) = &id.env {
        tags.push(format!("env:{env}"));
    }
    if let Some(version) = &id.version {
        tags.push(format!("version:{version}"));
    }
    tags.extend(settings.tags.value.iter().map(|(k, v)| format!("{k}:{v}")));
    let address = settings.dogstatsd.value.clone();
    let interval = settings.metrics_interval.value;
    let tracer = Arc::clone(tracer);
    let (stop, stopped) = channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("dd-trace-metrics".into())
        .spawn(move || {
            // Nothing on this thread may feed back into the tracer.
            let _no_tracing = tracing::dispatcher::set_default(&tracing::Dispatch::none());
            let mut client = DogStatsd::new(address, &tags);
            client.status.enabled = true;
            let tokio_metrics = tokio.map(|h| h.metrics());
            let mut previous = runtime::Previous::default();
            let mut last = Instant::now();
            loop {
                let stopping = match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => false,
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
                };
                let started = Instant::now();
                let mut metrics = Vec::new();
                if runtime_on {
                    metrics.extend(runtime::process(&mut previous, started));
                    if let Some(m) = &tokio_metrics {
                        metrics.extend(runtime::tokio(m, &mut previous, Some(started - last)));
                    }
                }
                if health_on {
                    let (spans, bytes) = {
                        let h = tracer.health.lock().unwrap_or_else(PoisonError::into_inner);
                        (h.retry_buffer.spans, h.retry_buffer.bytes)
                    };
                    metrics.extend(runtime::health(
                        &tracer.counters.snapshot(),
                        &mut previous,
                        tracer.queue.len(),
                        spans,
                        bytes,
                    ));
                }
                client.send(&metrics);
                client.status.last_collection = started.elapsed();
                last = started;
                tracer
                    .health
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .dogstatsd = client.status.clone();
                if stopping {
                    return;
                }
            }
        });
    match spawned {
        Ok(thread) => Some(MetricsThread {
            stop: Some(stop),
            thread: Some(thread),
        }),
        Err(e) => {
            log::warn(format_args!(
                "could not start the metrics thread ({e}); runtime and health metrics will not be sent"
            ));
            None
        }
    }
}
