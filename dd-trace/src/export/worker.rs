//! The background worker: a named thread with its own single-threaded tokio runtime, which runs
//! every stage after the queue.
//!
//! In: chunks from the [`ChunkQueue`](super::queue::ChunkQueue), and [`Command`]s (flush,
//! shutdown) from the guard. Out: each chunk through the processing stage, the encoder and the
//! transport; counters and the agent's rates updated; the tracer's warnings. It drains the queue
//! every [`DRAIN_INTERVAL`] or when the queue is half full, sends every flush interval or
//! whenever a payload passes its size threshold, keeps at most [`MAX_IN_FLIGHT`] requests in
//! flight, and on shutdown drains and sends within a deadline. Its own runtime means it works in
//! apps with or without tokio and never nests runtimes; it runs with no `tracing` dispatcher so
//! nothing it (or hyper) does can create spans.

use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::encode::{Payload, PayloadEncoder};
use super::process::Processor;
use super::transport::{Delivery, SendError, SendErrorKind, Transport};
use crate::diagnostics::{log, Counters};
use crate::model::clock::WallClock;
use crate::tracer::Tracer;

/// How often the worker drains the hand-off queue when it is not woken earlier.
pub(crate) const DRAIN_INTERVAL: Duration = Duration::from_millis(50);
/// Requests to the agent in flight at once; past this the worker waits (and the queue fills).
pub(crate) const MAX_IN_FLIGHT: usize = 2;

/// Requests from the guard.
pub(crate) enum Command {
    /// Send everything finished so far, wait for deliveries until the deadline, then answer
    /// whether they all ended in time.
    Flush(Instant, SyncSender<bool>),
    /// Send everything finished so far, wait for deliveries until the deadline, then stop.
    Shutdown(Instant, SyncSender<()>),
}

/// Starts the worker thread.
pub(crate) fn spawn(
    tracer: Arc<Tracer>,
    processor: Processor,
    encoder: PayloadEncoder,
    make_transport: impl FnOnce() -> Result<Transport, String> + Send + 'static,
    flush_interval: Duration,
    commands: UnboundedReceiver<Command>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("dd-trace-worker".into())
        .spawn(move || {
            // Nothing on this thread may feed back into the tracer.
            let _no_tracing = tracing::dispatcher::set_default(&tracing::Dispatch::none());
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    log::warn(format_args!(
                        "could not start the trace worker's runtime ({e}); traces will not be sent"
                    ));
                    tracer.queue.close();
                    return;
                }
            };
            runtime.block_on(async move {
                let transport = match make_transport() {
                    Ok(t) => t,
                    Err(e) => {
                        log::warn(format_args!("{e}; traces will not be sent"));
                        tracer.queue.close();
                        return;
                    }
                };
                Worker {
                    tracer,
                    processor,
                    encoder,
                    transport: Arc::new(transport),
                    sends: JoinSet::new(),
                    in_flight: InFlight::default(),
                    commands,
                    recycler: crate::export::pool::Recycler::default(),
                    failing: None,
                    dropped_since_failure: 0,
                    reported_queue_full: false,
                }
                .run(flush_interval)
                .await;
            });
        })
}

#[derive(Default)]
struct InFlight {
    chunks: u64,
    spans: u64,
}

struct Sent {
    payload: Payload,
    delivery: Delivery,
}

struct Worker {
    tracer: Arc<Tracer>,
    processor: Processor,
    encoder: PayloadEncoder,
    transport: Arc<Transport>,
    sends: JoinSet<Sent>,
    in_flight: InFlight,
    commands: UnboundedReceiver<Command>,
    recycler: crate::export::pool::Recycler,
    /// The kind of failure already reported, until a send succeeds.
    failing: Option<SendErrorKind>,
    dropped_since_failure: u64,
    /// The first drop at the full queue has been reported.
    reported_queue_full: bool,
}

impl Worker {
    async fn run(mut self, flush_interval: Duration) {
        // Span events are written natively only if the agent says it reads them; ask once,
        // without holding up anything else.
        let mut info = if self.tracer.span_events_level.is_some() {
            let transport = Arc::clone(&self.transport);
            Some(tokio::spawn(async move { transport.agent_info().await }))
        } else {
            None
        };
        let mut flush = tokio::time::interval(flush_interval);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut drain = tokio::time::interval(DRAIN_INTERVAL);
        drain.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.tracer.queue.notify.notified() => self.drain(None, None).await,
                _ = drain.tick() => self.drain(None, None).await,
                _ = flush.tick() => {
                    self.drain(None, None).await;
                    self.submit_pending(None).await;
                }
                answer = async {
                    match info.as_mut() {
                        Some(task) => task.await.ok().flatten(),
                        None => std::future::pending().await,
                    }
                }, if info.is_some() => {
                    info = None;
                    if let Some(agent) = answer {
                        self.encoder.set_native_span_events(agent.span_events);
                    }
                }
                Some(done) = self.sends.join_next(), if !self.sends.is_empty() => {
                    if let Ok(sent) = done {
                        self.on_sent(sent);
                    }
                }
                command = self.commands.recv() => match command {
                    Some(Command::Flush(deadline, reply)) => {
                        // Deliveries keep their own timeout: a short flush must not cut them.
                        let done = self.send_all(deadline, None).await;
                        let _ = reply.send(done);
                    }
                    Some(Command::Shutdown(deadline, reply)) => {
                        self.shutdown(deadline).await;
                        let _ = reply.send(());
                        return;
                    }
                    // Every handle is gone: nothing can flush or shut down any more.
                    None => {
                        self.shutdown(Instant::now() + crate::config::DEFAULT_SHUTDOWN_TIMEOUT).await;
                        return;
                    }
                },
            }
        }
    }

    /// Sends every chunk waiting and waits for the deliveries, until `deadline`; deliveries
    /// give up at `deliveries_deadline` (else at their own timeout, going on in the background
    /// past `deadline`). Whether every delivery ended in time.
    async fn send_all(&mut self, deadline: Instant, deliveries_deadline: Option<Instant>) -> bool {
        self.drain(Some(deadline), deliveries_deadline).await;
        self.submit_pending(deliveries_deadline).await;
        self.wait_for_sends(Some(deadline)).await;
        self.sends.is_empty()
    }

    async fn shutdown(&mut self, deadline: Instant) {
        self.tracer.queue.close();
        self.send_all(deadline, Some(deadline)).await;
        // What the deadline left in the queue will not be sent.
        self.tracer.queue.drop_remaining(&self.tracer.counters);
        if !self.sends.is_empty() {
            self.sends.abort_all();
            let c = &self.tracer.counters;
            Counters::add(&c.chunks_dropped_shutdown, self.in_flight.chunks);
            Counters::add(&c.spans_dropped_shutdown, self.in_flight.spans);
            log::warn(format_args!(
                "shutdown timed out: {} spans in flight to the agent at {} were dropped",
                self.in_flight.spans,
                self.transport.destination()
            ));
        }
        self.report_totals();
    }

    /// At shutdown: one line with everything dropped over the tracer's life, if anything was.
    fn report_totals(&self) {
        let c = self.tracer.counters.snapshot();
        let dropped = c.spans_dropped();
        if dropped == 0 {
            log::debug(format_args!(
                "shut down: {} spans sent to {}, none dropped",
                c.spans_sent,
                self.transport.destination()
            ));
            return;
        }
        log::info(format_args!(
            "shut down: {} spans sent to {}, {dropped} dropped ({} at the full hand-off queue, {} after failed sends, {} at shutdown)",
            c.spans_sent,
            self.transport.destination(),
            c.spans_dropped_queue_full,
            c.spans_dropped_send_failed,
            c.spans_dropped_shutdown
        ));
    }

    /// The first time the hand-off queue overflows: one warning with the remedy.
    fn report_queue_full(&mut self) {
        if self.reported_queue_full {
            return;
        }
        let dropped = self
            .tracer
            .counters
            .spans_dropped_queue_full
            .load(std::sync::atomic::Ordering::Relaxed);
        if dropped == 0 {
            return;
        }
        self.reported_queue_full = true;
        log::warn(format_args!(
            "the hand-off queue of finished traces was full: {dropped} spans dropped so far. The app makes spans faster than they can be sent to {}; raise the queue capacity (DatadogLayerBuilder::with_queue_capacity, now {}), sample traces (DD_TRACE_SAMPLE_RATE), or make fewer spans. Later drops are counted (see TracerStatus) and reported at shutdown.",
            self.transport.destination(),
            self.tracer.queue.capacity()
        ));
    }

    /// Encodes every queued chunk (stopping at `stop_at`); full payloads go out at once, their
    /// deliveries giving up at `deliveries_deadline`.
    async fn drain(&mut self, stop_at: Option<Instant>, deliveries_deadline: Option<Instant>) {
        self.tracer.queue.rearm();
        self.report_queue_full();
        self.encoder.set_clock(WallClock::now());
        let mut ready = Vec::new();
        // At most a queue's worth per call, and not past the deadline: producers that keep the
        // queue full must not keep the worker from its other work (commands, deliveries).
        let mut budget = self.tracer.queue.capacity();
        while budget > 0 && stop_at.is_none_or(|d| Instant::now() < d) {
            budget -= 1;
            let Some(mut chunk) = self.tracer.queue.pop() else {
                break;
            };
            let trace_tags = self.processor.process(&mut chunk, &self.tracer.sampler);
            self.encoder
                .push_chunk(&chunk, trace_tags, &mut |p| ready.push(p));
            self.recycler.release(chunk);
            if self.encoder.is_full() {
                ready.extend(self.encoder.finish());
            }
            for payload in ready.drain(..) {
                self.submit(payload, deliveries_deadline).await;
            }
        }
    }

    async fn submit_pending(&mut self, deadline: Option<Instant>) {
        if let Some(payload) = self.encoder.finish() {
            self.submit(payload, deadline).await;
        }
    }

    /// Starts delivering `payload`, first waiting for a free slot.
    async fn submit(&mut self, payload: Payload, deadline: Option<Instant>) {
        while self.sends.len() >= MAX_IN_FLIGHT {
            match self.sends.join_next().await {
                Some(Ok(sent)) => self.on_sent(sent),
                Some(Err(_)) | None => break,
            }
        }
        log::debug(format_args!(
            "sending {} chunks, {} spans, {} bytes to {}",
            payload.chunks,
            payload.spans,
            payload.body.len(),
            payload.format.path()
        ));
        self.in_flight.chunks += u64::from(payload.chunks);
        self.in_flight.spans += payload.spans;
        let transport = Arc::clone(&self.transport);
        let rates_version = self.tracer.agent_rates.load().version.clone();
        self.sends.spawn(async move {
            let delivery = transport
                .deliver(&payload, rates_version.as_deref(), deadline)
                .await;
            Sent { payload, delivery }
        });
    }

    async fn wait_for_sends(&mut self, deadline: Option<Instant>) {
        let wait = async {
            while let Some(done) = self.sends.join_next().await {
                if let Ok(sent) = done {
                    self.on_sent(sent);
                }
            }
        };
        match deadline {
            Some(d) => {
                let _ = tokio::time::timeout_at(d, wait).await;
            }
            None => wait.await,
        }
    }

    fn on_sent(&mut self, sent: Sent) {
        let Sent { payload, delivery } = sent;
        let c: &Counters = &self.tracer.counters;
        self.in_flight.chunks -= u64::from(payload.chunks);
        self.in_flight.spans -= payload.spans;
        Counters::add(&c.failed_send_attempts, u64::from(delivery.failed_attempts));
        match delivery.result {
            Ok(rates) => {
                Counters::add(&c.payloads_sent, 1);
                Counters::add(&c.chunks_sent, u64::from(payload.chunks));
                Counters::add(&c.spans_sent, payload.spans);
                Counters::add(&c.bytes_sent, payload.body.len() as u64);
                let now = std::time::Instant::now();
                match rates {
                    Some(rates) => {
                        self.tracer
                            .sampler
                            .update_agent_rates(&rates.by_service, now);
                        self.tracer.agent_rates.store(Arc::new(rates));
                    }
                    None => self.tracer.sampler.agent_rates_unchanged(now),
                }
                if self.failing.take().is_some() {
                    log::info(format_args!(
                        "the Datadog agent at {} accepts traces again ({} spans were dropped meanwhile)",
                        self.transport.destination(),
                        self.dropped_since_failure
                    ));
                    self.dropped_since_failure = 0;
                }
            }
            Err(e) => {
                Counters::add(&c.payloads_dropped, 1);
                Counters::add(&c.chunks_dropped_send_failed, u64::from(payload.chunks));
                Counters::add(&c.spans_dropped_send_failed, payload.spans);
                self.dropped_since_failure += payload.spans;
                *self
                    .tracer
                    .last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
                self.report(&e, payload.spans);
            }
        }
    }

    /// Warns once per kind of failure until a send succeeds again.
    fn report(&mut self, e: &SendError, spans: u64) {
        let kind = e.kind();
        if self.failing == Some(kind) {
            return;
        }
        let destination = self.transport.destination();
        log::warn(format_args!(
            "could not send traces to the Datadog agent at {destination}: {e}. {} {spans} spans dropped; further failures of this kind are counted (see TracerStatus) and not logged until a send succeeds.",
            e.remedy(destination)
        ));
        self.failing = Some(kind);
    }
}
