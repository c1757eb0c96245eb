//! The background worker: a named thread with its own single-threaded tokio runtime, which runs
//! every stage after the hand-off.
//!
//! In: chunks from the hand-off queue, and [`Command`]s (flush, shutdown, flare) from the
//! guard. Out: each chunk through the processing stage ([`Processor`]) and the encoder into the
//! retry buffer ([`Deliveries`]), and from there to the sink, oldest first; what the agent
//! takes ([`AgentFeatures`]) applied; counters, the agent's health and rates published; the
//! tracer's lines said ([`Reporter`]). It drains the queue every [`DRAIN_INTERVAL`] or when
//! the queue is half full, and never waits for the agent while draining: a slow, stalled or
//! absent agent fills the retry buffer (bounded by bytes), never the hand-off queue. On
//! shutdown it drains and sends within a deadline. Its own runtime means it works in apps with
//! or without tokio and never nests runtimes; it runs with no `tracing` dispatcher so nothing
//! it (or hyper) does can create spans.

use std::sync::mpsc::SyncSender;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, MissedTickBehavior};

use super::agent::AgentFeatures;
use super::delivery::{Deliveries, Sent};
use super::platform::Platform;
use super::process::{Processor, TracerSubject};
use super::report::Reporter;
use super::send_error::SendError;
use super::sink::PayloadSink;
use super::transport::FLARE_PATH;
use crate::config::DEFAULT_SHUTDOWN_TIMEOUT;
use crate::encode::{Payload, PayloadEncoder, PayloadFormat, DEFAULT_PAYLOAD_FLUSH_BYTES};
use crate::handoff::pool::Recycler;
use crate::health::filters::{self, FilterWatch};
use crate::health::{log, AgentHealth, AgentInfo, AgentState, Counters};
use crate::model::clock::WallClock;
use crate::tracer::Tracer;

/// How often the worker drains the hand-off queue when it is not woken earlier.
pub(crate) const DRAIN_INTERVAL: Duration = Duration::from_millis(50);

/// How a flush ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FlushOutcome {
    /// Everything finished before the flush was delivered or given up on (and counted).
    Done,
    /// The deadline passed first.
    TimedOut,
    /// The agent cannot be reached: the payloads wait in the retry buffer.
    Unreachable(String),
}

/// Requests from the guard.
pub(crate) enum Command {
    /// Send everything finished so far, wait for deliveries until the deadline, then answer.
    Flush(Instant, SyncSender<FlushOutcome>),
    /// Send everything finished so far, wait for deliveries until the deadline, then stop.
    Shutdown(Instant, SyncSender<()>),
    /// Post a tracer flare (content type, body) to the agent and answer how it went.
    SendFlare(String, Bytes, SyncSender<Result<(), String>>),
}

/// What the worker is given to run.
pub(crate) struct WorkerSetup {
    pub(crate) tracer: Arc<Tracer>,
    pub(crate) processor: Processor,
    pub(crate) encoder: PayloadEncoder,
    pub(crate) flush_interval: Duration,
    pub(crate) agent_timeout: Duration,
    pub(crate) retry_buffer_bytes: u64,
    /// The payload format `DD_TRACE_AGENT_PROTOCOL_VERSION` forces; `None`: the newest the
    /// agent's `/info` offers.
    pub(crate) protocol: Option<PayloadFormat>,
    pub(crate) commands: UnboundedReceiver<Command>,
}

/// Makes the sink the worker delivers to, on the worker's runtime (hyper's pool spawns its
/// tasks there); an error says why nothing can be sent.
pub(crate) type MakeSink = Box<dyn FnOnce() -> Result<Arc<dyn PayloadSink>, String> + Send>;

/// Starts the worker thread.
pub(crate) fn spawn(setup: WorkerSetup, make_sink: MakeSink) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("dd-trace-worker".into())
        .spawn(move || {
            // Nothing on this thread may feed back into the tracer.
            let _no_tracing = tracing::dispatcher::set_default(&tracing::Dispatch::none());
            let tracer = Arc::clone(&setup.tracer);
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
                    tracer.queue.finish(&tracer.counters);
                    return;
                }
            };
            runtime.block_on(async move {
                let sink = match make_sink() {
                    Ok(sink) => sink,
                    Err(e) => {
                        log::warn(format_args!("{e}; traces will not be sent"));
                        tracer.queue.close();
                        tracer.queue.finish(&tracer.counters);
                        return;
                    }
                };
                Worker::new(setup, sink).run().await;
            });
        })
}

struct Worker {
    tracer: Arc<Tracer>,
    processor: Processor,
    encoder: PayloadEncoder,
    sink: Arc<dyn PayloadSink>,
    deliveries: Deliveries,
    agent: AgentFeatures,
    reporter: Reporter,
    commands: UnboundedReceiver<Command>,
    recycler: Recycler,
    flush_interval: Duration,
    /// Whether the app's subscriber lets the layer see its spans (said once).
    filters: FilterWatch,
    started: Instant,
    /// Remote configuration and telemetry.
    platform: Platform,
}

impl Worker {
    fn new(setup: WorkerSetup, sink: Arc<dyn PayloadSink>) -> Self {
        let records_span_events = setup.tracer.span_events_level.is_some();
        let quiet = setup.tracer.quiet;
        let platform = Platform::new(&setup.tracer);
        Worker {
            deliveries: Deliveries::new(
                setup.retry_buffer_bytes,
                setup.flush_interval,
                setup.agent_timeout,
            ),
            agent: AgentFeatures::new(setup.protocol, records_span_events),
            reporter: Reporter::new(quiet),
            tracer: setup.tracer,
            processor: setup.processor,
            encoder: setup.encoder,
            sink,
            commands: setup.commands,
            recycler: Recycler::default(),
            flush_interval: setup.flush_interval,
            filters: FilterWatch::default(),
            started: Instant::now(),
            platform,
        }
    }

    async fn run(mut self) {
        self.publish_buffer();
        if let Some(format) = self.agent.forced() {
            let _ = self.encoder.set_format(format);
        }
        // What the agent supports (the payload format, span events): asked at start without
        // holding up anything else, and again whenever the agent's state changes.
        self.agent.ask(&self.sink);
        let mut flush = tokio::time::interval(self.flush_interval);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut drain = tokio::time::interval(DRAIN_INTERVAL);
        drain.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Stats buckets are sent once they are over.
        #[cfg(feature = "client-stats")]
        let mut stats_tick = tokio::time::interval(super::stats::BUCKET / 4);
        loop {
            #[cfg(feature = "client-stats")]
            let stats_due = stats_tick.tick();
            #[cfg(not(feature = "client-stats"))]
            let stats_due = std::future::pending::<Instant>();
            let probe_at = self.deliveries.probe_at();
            let in_flight = self.deliveries.in_flight() > 0;
            let asking = self.agent.is_asking();
            let platform_at = self.platform.wake_at();
            let (polling, sending) = (self.platform.polling(), self.platform.sending());
            tokio::select! {
                _ = self.tracer.queue.notify.notified() => self.drain(None),
                _ = drain.tick() => {
                    self.drain(None);
                    self.check_stall();
                }
                _ = flush.tick() => {
                    self.drain(None);
                    self.submit_pending();
                    self.watch_filters();
                }
                _ = sleep_until_opt(probe_at), if probe_at.is_some() => self.pump(),
                _ = stats_due => {
                    #[cfg(feature = "client-stats")]
                    let _ = self.send_stats(false);
                }
                answer = self.agent.answer(), if asking => {
                    if let Some(agent) = answer {
                        self.on_info(agent);
                    }
                }
                sent = self.deliveries.next_sent(), if in_flight => self.on_sent(sent),
                _ = sleep_until_opt(platform_at), if platform_at.is_some() => {
                    self.platform.tick(&self.sink, &self.tracer);
                }
                answered = self.platform.answered(), if polling || sending => {
                    self.platform.on_answered(answered, &self.tracer);
                }
                command = self.commands.recv() => match command {
                    Some(Command::Flush(deadline, reply)) => {
                        // Deliveries keep their own timeout: a short flush must not cut them.
                        let outcome = self.send_all(deadline).await;
                        // And the stats so far, bucket over or not.
                        #[cfg(feature = "client-stats")]
                        if let Some(post) = self.send_stats(true) {
                            let _ = tokio::time::timeout_at(deadline, post).await;
                        }
                        let _ = reply.send(outcome);
                    }
                    Some(Command::SendFlare(content_type, body, reply)) => {
                        // Off the loop: a slow agent must not hold up the traces.
                        let sink = Arc::clone(&self.sink);
                        tokio::spawn(async move {
                            let sent = sink
                                .post(FLARE_PATH, &content_type, body)
                                .await
                                .map_err(|e| e.to_string());
                            let _ = reply.send(sent);
                        });
                    }
                    Some(Command::Shutdown(deadline, reply)) => {
                        self.shutdown(deadline).await;
                        let _ = reply.send(());
                        return;
                    }
                    // Every handle is gone: nothing can flush or shut down any more.
                    None => {
                        self.shutdown(Instant::now() + DEFAULT_SHUTDOWN_TIMEOUT).await;
                        return;
                    }
                },
            }
        }
    }

    /// Says once what the app's subscriber's filters keep from the layer.
    fn watch_filters(&mut self) {
        let t = &self.tracer;
        let found = self.filters.check(
            self.started.elapsed(),
            filters::global_max_level(),
            t.events_seen.any(),
            t.counters.spans.started_total(),
        );
        for finding in found {
            self.reporter.filter(&finding);
        }
    }

    /// The agent's health, for the status.
    fn health(&self) -> std::sync::MutexGuard<'_, AgentHealth> {
        self.tracer
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// What `/info` said: span events, the payload size, the payload format, client stats.
    fn on_info(&mut self, agent: AgentInfo) {
        log::debug(format_args!(
            "the agent at {} answered /info: version {}, endpoints {:?}, client_drop_p0s {}, span_events {}, max_request_bytes {:?}",
            self.sink.destination(),
            agent.version.as_deref().unwrap_or("unknown"),
            agent.endpoints,
            agent.client_drop_p0s,
            agent.span_events,
            agent.max_request_bytes
        ));
        self.encoder.set_native_span_events(agent.span_events);
        if let Some(max) = agent.max_request_bytes {
            // Well under the agent's cap, whatever the cut adds.
            let cap = usize::try_from(max / 2).unwrap_or(usize::MAX);
            self.encoder
                .set_flush_bytes(DEFAULT_PAYLOAD_FLUSH_BYTES.min(cap.max(1024)));
        }
        if let Some(format) = self.agent.format_for(&agent) {
            if format != self.encoder.format() {
                log::debug(format_args!(
                    "the agent's /info lists {:?}: sending {} payloads",
                    agent.endpoints,
                    format.name()
                ));
                if let Some(pending) = self.encoder.set_format(format) {
                    self.submit(pending);
                }
            }
        }
        self.processor.agent_says(&agent);
        self.platform.on_info(&agent, &self.tracer);
        self.health().info = Some(agent);
    }

    /// Sends the stats buckets that ended (all of them, if `all`).
    #[cfg(feature = "client-stats")]
    fn send_stats(&mut self, all: bool) -> Option<tokio::task::JoinHandle<()>> {
        let body = self.processor.take_stats(all)?;
        let sink = Arc::clone(&self.sink);
        let tracer = Arc::clone(&self.tracer);
        Some(tokio::spawn(async move {
            match sink
                .post(super::stats::STATS_PATH, "application/msgpack", body)
                .await
            {
                Ok(()) => Counters::add(&tracer.counters.stats_payloads_sent, 1),
                Err(e) => log::debug(format_args!("could not send stats: {e}")),
            }
        }))
    }

    /// Processes and encodes every queued chunk (stopping at `stop_at`) into the retry buffer,
    /// and starts deliveries as slots allow. Never waits for the agent.
    fn drain(&mut self, stop_at: Option<Instant>) {
        let tracer = Arc::clone(&self.tracer);
        tracer.queue.rearm();
        let dropped = tracer
            .counters
            .spans_dropped_queue_full
            .load(std::sync::atomic::Ordering::Relaxed);
        self.reporter.queue_full(dropped, tracer.queue.capacity());
        let clock = WallClock::now();
        self.encoder.set_clock(clock);
        // The settings that may change while the app runs, as they are now.
        let live = tracer.config.live();
        self.encoder.set_global_tags(&live.tags);
        let subject = TracerSubject {
            service: &tracer.identity.service,
            tags: live.trace_rules.tracer_tags(),
        };
        let mut ready = Vec::new();
        // At most a queue's worth per call, and not past the deadline: producers that keep the
        // queue full must not keep the worker from its other work (commands, deliveries).
        let mut budget = tracer.queue.capacity();
        let (mut chunks, mut spans) = (0u64, 0u64);
        while budget > 0 && stop_at.is_none_or(|d| Instant::now() < d) {
            budget -= 1;
            let Some(mut chunk) = tracer.queue.pop() else {
                break;
            };
            chunks += 1;
            spans += chunk.spans.len() as u64;
            let processed = self.processor.process(
                &mut chunk,
                subject,
                &clock,
                &tracer.counters,
                &mut self.recycler,
            );
            if let Some(trace_tags) = processed {
                self.encoder
                    .push_chunk(&chunk, trace_tags, &mut |p| ready.push(p));
            }
            self.recycler.release(chunk);
            if self.encoder.is_full() {
                ready.extend(self.encoder.finish());
            }
            for payload in ready.drain(..) {
                self.submit(payload);
            }
        }
        Counters::add(&tracer.counters.chunks_received, chunks);
        Counters::add(&tracer.counters.spans_received, spans);
        self.pump();
    }

    fn submit_pending(&mut self) {
        if let Some(payload) = self.encoder.finish() {
            self.submit(payload);
        }
        self.pump();
    }

    /// Puts `payload` in the retry buffer, or drops and counts it if the buffer is full.
    fn submit(&mut self, mut payload: Payload) {
        if let Some(dropped_p0) = self.processor.take_client_stats_headers() {
            payload.client_stats = true;
            payload.dropped_p0 = dropped_p0;
        }
        let Err(payload) = self.deliveries.offer(payload) else {
            return;
        };
        let c = &self.tracer.counters;
        Counters::add(&c.payloads_dropped_retry_buffer_full, 1);
        Counters::add(&c.spans_dropped_retry_buffer_full, payload.spans);
        self.reporter.lost(payload.spans);
        let deliveries = &self.deliveries;
        self.reporter.buffer_full(deliveries.capacity(), || {
            match deliveries.unreachable_for() {
                Some((since, error)) => {
                    format!("the agent has been unreachable for {since:.1?} ({error})")
                }
                None if deliveries.is_stalled() => "the agent does not answer".to_string(),
                None => "the agent is slower than the app makes spans".to_string(),
            }
        });
    }

    /// Starts the deliveries that may start, and shows the retry buffer in the status.
    fn pump(&mut self) {
        let rates_version = self.tracer.agent_rates.load().version.clone();
        self.deliveries.pump(&self.sink, rates_version.as_deref());
        self.publish_buffer();
    }

    /// Shows the retry buffer in the status.
    fn publish_buffer(&self) {
        let status = self.deliveries.status();
        self.health().retry_buffer = status;
    }

    /// Reports, once per stall, a request that has had no answer for a while.
    fn check_stall(&mut self) {
        if let Some(waited) = self.deliveries.new_stall() {
            self.health().set_state(AgentState::Stalled);
            self.reporter.stalled(
                self.sink.destination(),
                waited,
                self.deliveries.held_bytes(),
                self.deliveries.capacity(),
            );
        }
    }

    /// A request finished: count it, keep its payload for later if the agent could not be
    /// reached, learn the agent's rates, report.
    fn on_sent(&mut self, sent: Sent) {
        let Sent {
            queued, delivery, ..
        } = sent;
        let c = &self.tracer.counters;
        Counters::add(&c.failed_send_attempts, u64::from(delivery.failed_attempts));
        if let Some(e) = &delivery.retried {
            // Retried, so not reported; still shown in the status.
            let remedy = e.remedy(self.sink.socket());
            self.health()
                .record_error(e.kind().to_string(), e.to_string(), remedy);
        }
        match delivery.result {
            Ok(rates) => {
                let payload = &queued.payload;
                self.deliveries.release(payload);
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
                let recovered = self.deliveries.succeeded();
                self.reporter.recovered(self.sink.destination(), recovered);
                self.health().set_state(AgentState::Accepting);
            }
            Err(e) if e.is_unreachable() && self.deliveries.may_retry() => {
                // Nothing was sent: keep the payload for when the agent is back.
                self.deliveries.unreachable(queued, &e);
                self.health().set_state(AgentState::Unreachable);
                let fate = format!(
                    "Traces are kept in the retry buffer (up to {} bytes) and sent when it is back",
                    self.deliveries.capacity()
                );
                self.report(&e, &fate);
            }
            Err(e) => {
                let payload = &queued.payload;
                self.deliveries.release(payload);
                Counters::add(&c.payloads_dropped, 1);
                Counters::add(&c.chunks_dropped_send_failed, u64::from(payload.chunks));
                Counters::add(&c.spans_dropped_send_failed, payload.spans);
                let refused_format = payload.format != PayloadFormat::V04
                    && matches!(e, SendError::Status(404 | 415, _))
                    && payload.format == self.encoder.format();
                if refused_format {
                    // Not the agent failing: the format is, and an older one takes its place.
                    self.fall_back(payload.format, &e, payload.spans);
                } else {
                    self.reporter.lost(payload.spans);
                    let state = if e.is_unreachable() {
                        AgentState::Unreachable
                    } else {
                        AgentState::Failing
                    };
                    self.health().set_state(state);
                    self.report(&e, &format!("{} spans were dropped", payload.spans));
                }
            }
        }
        if self.sink.take_agent_state_change() {
            self.agent.ask(&self.sink);
        }
        self.pump();
    }

    /// Records the error for the status, and has the reporter say it (once per kind).
    fn report(&mut self, e: &SendError, fate: &str) {
        let remedy = e.remedy(self.sink.socket());
        self.health()
            .record_error(e.kind().to_string(), e.to_string(), remedy.clone());
        self.reporter
            .failure(e, self.sink.destination(), &remedy, fate);
    }

    /// The agent refused a payload's format as an unknown endpoint or format: an older one
    /// from now on.
    fn fall_back(&mut self, refused: PayloadFormat, e: &SendError, spans: u64) {
        let info = self.health().info.clone().unwrap_or_default();
        let next = self.agent.refused(refused, &info);
        if let Some(pending) = self.encoder.set_format(next) {
            self.submit(pending);
        }
        let forced = self.agent.forced() == Some(refused);
        self.reporter
            .format_refused(self.sink.destination(), refused, next, e, spans, forced);
    }

    /// Sends every chunk waiting and waits for the deliveries, until `deadline`.
    async fn send_all(&mut self, deadline: Instant) -> FlushOutcome {
        self.drain(Some(deadline));
        self.submit_pending();
        let started = Instant::now();
        // An agent found unreachable before is tried again at once.
        self.deliveries.probe_now();
        loop {
            self.pump();
            if self.deliveries.is_idle() {
                return FlushOutcome::Done;
            }
            // Found unreachable during this flush: waiting longer would not help.
            if let Some(error) = self.deliveries.unreachable_since(started) {
                return FlushOutcome::Unreachable(error);
            }
            let probe_at = self.deliveries.probe_at();
            let in_flight = self.deliveries.in_flight() > 0;
            tokio::select! {
                sent = self.deliveries.next_sent(), if in_flight => self.on_sent(sent),
                _ = sleep_until_opt(probe_at), if probe_at.is_some() => {}
                _ = tokio::time::sleep(DRAIN_INTERVAL) => self.check_stall(),
                _ = tokio::time::sleep_until(deadline) => {
                    self.check_stall();
                    return FlushOutcome::TimedOut;
                }
            }
        }
    }

    async fn shutdown(&mut self, deadline: Instant) {
        self.tracer.queue.close();
        self.deliveries.set_deadline(deadline);
        let outcome = self.send_all(deadline).await;
        // The last stats buckets, whether over or not.
        #[cfg(feature = "client-stats")]
        if let Some(post) = self.send_stats(true) {
            let _ = tokio::time::timeout_at(deadline, post).await;
        }
        // What the deadline left in the queue will not be sent.
        self.tracer.queue.finish(&self.tracer.counters);
        let (chunks, spans) = self.deliveries.abandon();
        let c = &self.tracer.counters;
        Counters::add(&c.chunks_dropped_shutdown, chunks);
        Counters::add(&c.spans_dropped_shutdown, spans);
        self.publish_buffer();
        let why = match outcome {
            FlushOutcome::Unreachable(cause) => format!("the agent was unreachable ({cause})"),
            _ => "the shutdown deadline passed".to_string(),
        };
        let destination = self.sink.destination();
        self.reporter.shutdown_drops(destination, spans, &why);
        self.reporter.totals(&c.snapshot(), destination);
        // Telemetry's last word, within what is left of the deadline.
        self.platform
            .close(&self.sink, &self.tracer, deadline)
            .await;
    }
}

/// Sleeps until `at`; never returns when there is no `at`.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
