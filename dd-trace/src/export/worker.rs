//! The background worker: a named thread with its own single-threaded tokio runtime, which runs
//! every stage after the queue.
//!
//! In: chunks from the [`ChunkQueue`](super::queue::ChunkQueue), and [`Command`]s (flush,
//! shutdown) from the guard. Out: each chunk through the processing stage and the encoder into
//! the [`Outbox`] (the retry buffer), and from there to the transport, oldest first, at most
//! [`MAX_IN_FLIGHT`] requests at once; counters, the agent's health and rates; the tracer's
//! warnings. It drains the queue every [`DRAIN_INTERVAL`] or when the queue is half full, and
//! never waits for the agent while draining: a slow, stalled or absent agent fills the retry
//! buffer (bounded by bytes), never the hand-off queue. When no connection can be made, the
//! payload goes back to the buffer and one probe at a time retries, backing off up to a second
//! (or the flush interval, if shorter), so delivery resumes within a second of the agent's
//! return. On shutdown it drains and sends within a deadline. Its own runtime means it works in
//! apps with or without tokio and never nests runtimes; it runs with no `tracing` dispatcher so
//! nothing it (or hyper) does can create spans.

use std::sync::mpsc::SyncSender;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::outbox::{Outbox, Queued};
use super::process::Processor;
use super::send_error::{SendError, SendErrorKind};
use super::sink::{deliver, with_jitter, Delivery, PayloadSink};
use crate::encode::{Payload, PayloadEncoder, PayloadFormat, DEFAULT_PAYLOAD_FLUSH_BYTES};
use crate::health::{
    log, AgentHealth, AgentInfo, AgentState, Counters, DiagnosticLevel, RetryBufferStatus,
};
use crate::model::clock::WallClock;
use crate::model::trace::{Chunk, Spans};
use crate::tracer::Tracer;

/// How often the worker drains the hand-off queue when it is not woken earlier.
pub(crate) const DRAIN_INTERVAL: Duration = Duration::from_millis(50);
/// Requests to the agent in flight at once; past this payloads wait in the retry buffer.
pub(crate) const MAX_IN_FLIGHT: usize = 2;
/// A request unanswered this long is reported as stalled (or at half the agent timeout, if
/// that is sooner).
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(3);
/// The first wait before probing an unreachable agent again; doubled up to [`MAX_PROBE_WAIT`].
const FIRST_PROBE_WAIT: Duration = Duration::from_millis(100);
/// The longest wait between probes of an unreachable agent.
const MAX_PROBE_WAIT: Duration = Duration::from_secs(1);
/// The same kind of failure is reported at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(60);

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
    /// `DD_TRACE_STATS_COMPUTATION_ENABLED`.
    pub(crate) stats: bool,
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

/// A request in flight.
struct Flight {
    id: u64,
    started: Instant,
    chunks: u32,
    spans: u64,
}

struct Sent {
    id: u64,
    queued: Queued,
    delivery: Delivery,
}

/// The agent could not be reached: payloads wait, one probe at a time retries.
struct Down {
    since: Instant,
    probes: u32,
    next_probe: Instant,
    last_failure: Instant,
    error: SendError,
}

struct Worker {
    tracer: Arc<Tracer>,
    processor: Processor,
    encoder: PayloadEncoder,
    sink: Arc<dyn PayloadSink>,
    outbox: Outbox,
    sends: JoinSet<Sent>,
    flights: Vec<Flight>,
    next_flight: u64,
    commands: UnboundedReceiver<Command>,
    recycler: crate::handoff::pool::Recycler,
    flush_interval: Duration,
    stall_after: Duration,
    down: Option<Down>,
    /// A stall has been reported and has not ended.
    stalled: bool,
    /// The kind of failure last reported, until a send succeeds.
    failing: Option<SendErrorKind>,
    /// When each kind was last reported.
    reported: Vec<(SendErrorKind, Instant)>,
    dropped_since_failure: u64,
    /// Deliveries give up at this time (set at shutdown).
    deliveries_deadline: Option<Instant>,
    /// The first drop at the full queue has been reported.
    reported_queue_full: bool,
    /// The first drop at the full retry buffer has been reported.
    reported_buffer_full: bool,
    /// The `/info` request under way.
    info: Option<tokio::task::JoinHandle<Option<AgentInfo>>>,
    /// The forced payload format, if any.
    protocol: Option<PayloadFormat>,
    /// The agent refused v0.5 (404/415): not v0.5 again.
    v05_refused: bool,
    /// The agent refused v1.0 (404/415): not v1.0 again.
    v1_refused: bool,
    /// Client-side stats, when configured (they start once `/info` lists `/v0.6/stats` and
    /// says `client_drop_p0s`).
    #[cfg(feature = "client-stats")]
    stats: Option<super::stats::Concentrator>,
    /// Stats are computed here: payloads say so, and unsampled chunks are not sent.
    stats_active: bool,
    /// Unsampled chunks and spans dropped since the last payload.
    dropped_p0: (u64, u64),
}

impl Worker {
    fn new(setup: WorkerSetup, sink: Arc<dyn PayloadSink>) -> Self {
        #[cfg(feature = "client-stats")]
        let stats = setup.stats.then(|| {
            let t = &setup.tracer;
            super::stats::Concentrator::new(Arc::clone(&t.identity))
        });
        #[cfg(not(feature = "client-stats"))]
        let _ = setup.stats;
        Worker {
            tracer: setup.tracer,
            processor: setup.processor,
            encoder: setup.encoder,
            sink,
            outbox: Outbox::new(setup.retry_buffer_bytes),
            sends: JoinSet::new(),
            flights: Vec::new(),
            next_flight: 0,
            commands: setup.commands,
            recycler: crate::handoff::pool::Recycler::default(),
            flush_interval: setup.flush_interval,
            stall_after: STALL_AFTER.min(setup.agent_timeout / 2),
            down: None,
            stalled: false,
            failing: None,
            reported: Vec::new(),
            dropped_since_failure: 0,
            deliveries_deadline: None,
            reported_queue_full: false,
            reported_buffer_full: false,
            info: None,
            protocol: setup.protocol,
            v05_refused: false,
            v1_refused: false,
            #[cfg(feature = "client-stats")]
            stats,
            stats_active: false,
            dropped_p0: (0, 0),
        }
    }

    /// Asks the agent's `/info` in the background (at start, and when its state changes).
    fn ask_info(&mut self) {
        if self.info.is_none() {
            let sink = Arc::clone(&self.sink);
            self.info = Some(tokio::spawn(async move { sink.info().await }));
        }
    }

    /// What `/info` said: span events, the payload format, the payload size.
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
        if self.protocol.is_none() {
            let format = self.newest_offered(&agent);
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
        #[cfg(feature = "client-stats")]
        if let Some(stats) = &mut self.stats {
            // Only where the agent lets tracers drop what they computed stats for: elsewhere
            // it computes the stats itself from every chunk, which are all sent anyway.
            self.stats_active =
                agent.client_drop_p0s && agent.endpoints.iter().any(|e| e == "/v0.6/stats");
            stats.set_peer_tags(agent.peer_tags.clone());
        }
        self.health().info = Some(agent);
    }

    /// Sends the stats buckets that ended (all of them, if `all`).
    #[cfg(feature = "client-stats")]
    fn flush_stats(&mut self, all: bool) -> Option<tokio::task::JoinHandle<()>> {
        let body = self
            .stats
            .as_mut()?
            .flush(std::time::SystemTime::now(), all)?;
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

    /// The newest format the agent offers and the tracer writes (v1.0, v0.5, v0.4), short of
    /// one it refused; v0.5 has no field for span events, so not when the agent reads them
    /// natively and the app records them.
    fn newest_offered(&self, agent: &AgentInfo) -> PayloadFormat {
        let offers = |path: &str| agent.endpoints.iter().any(|e| e == path);
        let native_events = agent.span_events && self.tracer.span_events_level.is_some();
        if offers("/v1.0/traces") && !self.v1_refused {
            PayloadFormat::V1
        } else if offers("/v0.5/traces") && !self.v05_refused && !native_events {
            PayloadFormat::V05
        } else {
            PayloadFormat::V04
        }
    }

    /// The agent refused a payload's format as an unknown endpoint or format: an older one
    /// from now on.
    fn fall_back(&mut self, refused: PayloadFormat, e: &SendError, spans: u64) {
        match refused {
            PayloadFormat::V1 => self.v1_refused = true,
            _ => self.v05_refused = true,
        }
        let info = self.health().info.clone().unwrap_or_default();
        let next = match self.newest_offered(&info) {
            f if f == refused => PayloadFormat::V04,
            f => f,
        };
        if let Some(pending) = self.encoder.set_format(next) {
            self.submit(pending);
        }
        self.say(
            DiagnosticLevel::Warn,
            format_args!(
                "the Datadog agent at {} does not take {} payloads ({e}): sending {} from now on; the {spans} spans of that payload were dropped.{}",
                self.sink.destination(),
                refused.name(),
                next.name(),
                if self.protocol == Some(refused) {
                    " DD_TRACE_AGENT_PROTOCOL_VERSION asks for it: unset it to let the agent's /info decide."
                } else {
                    ""
                }
            ),
        );
    }

    async fn run(mut self) {
        self.publish_buffer();
        if let Some(format) = self.protocol {
            let _ = self.encoder.set_format(format);
        }
        // What the agent supports (the payload format, span events): asked at start without
        // holding up anything else, and again whenever the agent's state changes.
        self.ask_info();
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
            let probe_at = self.probe_at();
            tokio::select! {
                _ = self.tracer.queue.notify.notified() => self.drain(None),
                _ = drain.tick() => {
                    self.drain(None);
                    self.check_stall();
                }
                _ = flush.tick() => {
                    self.drain(None);
                    self.submit_pending();
                }
                _ = sleep_until_opt(probe_at), if probe_at.is_some() => self.pump(),
                _ = stats_due => {
                    #[cfg(feature = "client-stats")]
                    let _ = self.flush_stats(false);
                }
                answer = async {
                    match self.info.as_mut() {
                        Some(task) => task.await.ok().flatten(),
                        None => std::future::pending().await,
                    }
                }, if self.info.is_some() => {
                    self.info = None;
                    if let Some(agent) = answer {
                        self.on_info(agent);
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
                        let outcome = self.send_all(deadline).await;
                        // And the stats so far, bucket over or not.
                        #[cfg(feature = "client-stats")]
                        if let Some(post) = self.flush_stats(true) {
                            let _ = tokio::time::timeout_at(deadline, post).await;
                        }
                        let _ = reply.send(outcome);
                    }
                    Some(Command::SendFlare(content_type, body, reply)) => {
                        // Off the loop: a slow agent must not hold up the traces.
                        let sink = Arc::clone(&self.sink);
                        tokio::spawn(async move {
                            let sent = sink
                                .post(super::transport::FLARE_PATH, &content_type, body)
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
                        self.shutdown(Instant::now() + crate::config::DEFAULT_SHUTDOWN_TIMEOUT).await;
                        return;
                    }
                },
            }
        }
    }

    /// Writes one of the tracer's lines, unless this tracer is the doctor's own.
    fn say(&self, level: DiagnosticLevel, args: std::fmt::Arguments<'_>) {
        if self.tracer.quiet {
            return;
        }
        match level {
            DiagnosticLevel::Warn => log::warn(args),
            _ => log::info(args),
        }
    }

    /// The agent's health, for the status.
    fn health(&self) -> std::sync::MutexGuard<'_, AgentHealth> {
        self.tracer
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// When the next probe of an unreachable agent is due, if one is and none is in flight.
    fn probe_at(&self) -> Option<Instant> {
        let down = self.down.as_ref()?;
        (self.sends.is_empty() && !self.outbox.is_empty()).then_some(down.next_probe)
    }

    /// Sends every chunk waiting and waits for the deliveries, until `deadline`.
    async fn send_all(&mut self, deadline: Instant) -> FlushOutcome {
        self.drain(Some(deadline));
        self.submit_pending();
        let started = Instant::now();
        // An agent found unreachable before is tried again at once.
        if let Some(down) = &mut self.down {
            down.next_probe = started;
        }
        loop {
            self.pump();
            if self.outbox.is_empty() && self.sends.is_empty() {
                return FlushOutcome::Done;
            }
            if let Some(down) = &self.down {
                // Found unreachable during this flush: waiting longer would not help.
                if down.last_failure >= started && self.sends.is_empty() {
                    return FlushOutcome::Unreachable(down.error.to_string());
                }
            }
            let probe_at = self.probe_at();
            tokio::select! {
                Some(done) = self.sends.join_next(), if !self.sends.is_empty() => {
                    if let Ok(sent) = done {
                        self.on_sent(sent);
                    }
                }
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
        self.deliveries_deadline = Some(deadline);
        let outcome = self.send_all(deadline).await;
        // The last stats buckets, whether over or not.
        #[cfg(feature = "client-stats")]
        if let Some(post) = self.flush_stats(true) {
            let _ = tokio::time::timeout_at(deadline, post).await;
        }
        // What the deadline left in the queue will not be sent.
        self.tracer.queue.finish(&self.tracer.counters);
        let c = &self.tracer.counters;
        let left = self.outbox.take_all();
        let (mut chunks, mut spans) = (0u64, 0u64);
        for p in &left {
            chunks += u64::from(p.chunks);
            spans += p.spans;
        }
        if !self.sends.is_empty() {
            self.sends.abort_all();
            for f in self.flights.drain(..) {
                chunks += u64::from(f.chunks);
                spans += f.spans;
            }
        }
        Counters::add(&c.chunks_dropped_shutdown, chunks);
        Counters::add(&c.spans_dropped_shutdown, spans);
        self.publish_buffer();
        if spans > 0 {
            let why = match outcome {
                FlushOutcome::Unreachable(cause) => format!("the agent was unreachable ({cause})"),
                _ => "the shutdown deadline passed".to_string(),
            };
            self.say(
                DiagnosticLevel::Warn,
                format_args!(
                "shutdown: {spans} spans not yet delivered to the agent at {} were dropped: {why}",
                self.sink.destination()
            ),
            );
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
                self.sink.destination()
            ));
            return;
        }
        self.say(DiagnosticLevel::Info, format_args!(
            "shut down: {} spans sent to {}, {dropped} dropped ({} at the full hand-off queue, {} after failed sends, {} with the retry buffer full, {} at shutdown, {} over the open-trace limits)",
            c.spans_sent,
            self.sink.destination(),
            c.spans_dropped_queue_full,
            c.spans_dropped_send_failed,
            c.spans_dropped_retry_buffer_full,
            c.spans_dropped_shutdown,
            c.spans_dropped_trace_limits,
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
        self.say(DiagnosticLevel::Warn, format_args!(
            "the hand-off queue of finished traces was full: {dropped} spans dropped so far. The app makes spans faster than this tracer's worker can encode them; raise the queue capacity (DatadogLayerBuilder::with_queue_capacity, now {}), sample traces (DD_TRACE_SAMPLE_RATE), or make fewer spans. Later drops are counted (see TracerStatus) and reported at shutdown.",
            self.tracer.queue.capacity()
        ));
    }

    /// Encodes every queued chunk (stopping at `stop_at`) into the retry buffer, and starts
    /// deliveries as slots allow. Never waits for the agent.
    fn drain(&mut self, stop_at: Option<Instant>) {
        self.tracer.queue.rearm();
        self.report_queue_full();
        let clock = WallClock::now();
        self.encoder.set_clock(clock);
        // The settings that may change while the app runs, as they are now.
        let live = self.tracer.config.live();
        self.encoder.set_global_tags(&live.tags);
        let tracer_tags = live.trace_rules.tracer_tags();
        let mut ready = Vec::new();
        // At most a queue's worth per call, and not past the deadline: producers that keep the
        // queue full must not keep the worker from its other work (commands, deliveries).
        let mut budget = self.tracer.queue.capacity();
        let (mut chunks, mut spans) = (0u64, 0u64);
        while budget > 0 && stop_at.is_none_or(|d| Instant::now() < d) {
            budget -= 1;
            let Some(mut chunk) = self.tracer.queue.pop() else {
                break;
            };
            chunks += 1;
            spans += chunk.spans.len() as u64;
            let trace_tags =
                self.processor
                    .process(&mut chunk, &self.tracer.identity.service, tracer_tags);
            #[cfg(feature = "client-stats")]
            if self.stats_active {
                if let Some(stats) = &mut self.stats {
                    stats.add(&chunk, trace_tags, &clock, &self.tracer.identity.service);
                }
            }
            if self.stats_active
                && trace_tags.priority <= 0
                && !chunk.spans.iter().any(|s| s.fields.error)
            {
                // Its stats are counted; only spans a span rule kept are sent.
                let (kept, dropped): (Spans, Spans) = std::mem::take(&mut chunk.spans)
                    .into_iter()
                    .partition(|s| s.fields.tags.get("_dd.span_sampling.mechanism").is_some());
                let c = &self.tracer.counters;
                Counters::add(&c.spans_dropped_p0, dropped.len() as u64);
                self.dropped_p0.1 += dropped.len() as u64;
                if kept.is_empty() {
                    Counters::add(&c.chunks_dropped_p0, 1);
                    self.dropped_p0.0 += 1;
                }
                self.recycler.release(Chunk {
                    trace: Arc::clone(&chunk.trace),
                    spans: dropped,
                    partial: chunk.partial,
                });
                chunk.spans = kept;
                if chunk.spans.is_empty() {
                    self.recycler.release(chunk);
                    continue;
                }
            }
            self.encoder
                .push_chunk(&chunk, trace_tags, &mut |p| ready.push(p));
            self.recycler.release(chunk);
            if self.encoder.is_full() {
                ready.extend(self.encoder.finish());
            }
            for payload in ready.drain(..) {
                self.submit(payload);
            }
        }
        let c = &self.tracer.counters;
        Counters::add(&c.chunks_received, chunks);
        Counters::add(&c.spans_received, spans);
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
        payload.client_stats = self.stats_active;
        if self.stats_active {
            payload.dropped_p0 = std::mem::take(&mut self.dropped_p0);
        }
        if let Err(payload) = self.outbox.offer(payload) {
            let c = &self.tracer.counters;
            Counters::add(&c.payloads_dropped_retry_buffer_full, 1);
            Counters::add(&c.spans_dropped_retry_buffer_full, payload.spans);
            self.dropped_since_failure += payload.spans;
            if !self.reported_buffer_full {
                self.reported_buffer_full = true;
                let why = match &self.down {
                    Some(down) => format!(
                        "the agent has been unreachable for {:.1?} ({})",
                        down.since.elapsed(),
                        down.error
                    ),
                    None if self.stalled => "the agent does not answer".to_string(),
                    None => "the agent is slower than the app makes spans".to_string(),
                };
                self.say(DiagnosticLevel::Warn, format_args!(
                    "the retry buffer is full ({} bytes): {why}. New payloads are dropped and counted until it drains; raise DD_TRACE_RETRY_BUFFER_BYTES to ride out longer outages.",
                    self.outbox.capacity()
                ));
            }
        }
    }

    /// Starts deliveries from the retry buffer, oldest first, while slots are free; while the
    /// agent is unreachable, only one probe at a time, when it is due.
    fn pump(&mut self) {
        let now = Instant::now();
        while self.sends.len() < MAX_IN_FLIGHT {
            if let Some(down) = &self.down {
                if !self.sends.is_empty() || now < down.next_probe {
                    break;
                }
            }
            let Some(queued) = self.outbox.take() else {
                break;
            };
            self.start(queued);
            if self.down.is_some() {
                break;
            }
        }
        self.publish_buffer();
    }

    fn start(&mut self, queued: Queued) {
        let payload = &queued.payload;
        log::debug(format_args!(
            "sending {} chunks, {} spans, {} bytes to {}",
            payload.chunks,
            payload.spans,
            payload.body.len(),
            payload.format.path()
        ));
        let id = self.next_flight;
        self.next_flight += 1;
        self.flights.push(Flight {
            id,
            started: Instant::now(),
            chunks: payload.chunks,
            spans: payload.spans,
        });
        let sink = Arc::clone(&self.sink);
        let rates_version = self.tracer.agent_rates.load().version.clone();
        let deadline = self.deliveries_deadline;
        self.sends.spawn(async move {
            let delivery =
                deliver(&*sink, &queued.payload, rates_version.as_deref(), deadline).await;
            Sent {
                id,
                queued,
                delivery,
            }
        });
    }

    /// Shows the retry buffer in the status.
    fn publish_buffer(&self) {
        let status = RetryBufferStatus {
            payloads: self.outbox.waiting(),
            spans: self.outbox.waiting_spans(),
            bytes: self.outbox.held_bytes(),
            capacity_bytes: self.outbox.capacity(),
        };
        let mut health = self.health();
        health.retry_buffer = status;
    }

    /// Reports, once per stall, a request that has had no answer for a while.
    fn check_stall(&mut self) {
        if self.stalled {
            return;
        }
        let Some(oldest) = self.flights.iter().map(|f| f.started).min() else {
            return;
        };
        let waited = oldest.elapsed();
        if waited < self.stall_after {
            return;
        }
        self.stalled = true;
        self.health().set_state(AgentState::Stalled);
        self.say(DiagnosticLevel::Warn, format_args!(
            "the Datadog agent at {} accepted the connection but has not answered for {:.1?}: it is overloaded or stuck (check its logs). New traces wait in the retry buffer ({} of {} bytes held); the request is given up after DD_TRACE_AGENT_TIMEOUT and its spans counted as dropped.",
            self.sink.destination(),
            waited,
            self.outbox.held_bytes(),
            self.outbox.capacity()
        ));
    }

    fn on_sent(&mut self, sent: Sent) {
        let Sent {
            id,
            queued,
            delivery,
        } = sent;
        self.flights.retain(|f| f.id != id);
        let c: &Counters = &self.tracer.counters;
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
                self.outbox.release(payload);
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
                self.on_success();
            }
            Err(e)
                if e.is_unreachable()
                    && self.deliveries_deadline.is_none_or(|d| Instant::now() < d) =>
            {
                // Nothing was sent: keep the payload for when the agent is back.
                self.outbox.put_back(queued);
                let now = Instant::now();
                let down = self.down.get_or_insert_with(|| Down {
                    since: now,
                    probes: 0,
                    next_probe: now,
                    last_failure: now,
                    error: e.clone(),
                });
                // Jittered, and never longer than the cap: delivery resumes within a second
                // (or a flush interval) of the agent's return.
                let cap = MAX_PROBE_WAIT.min(self.flush_interval);
                let wait = with_jitter(FIRST_PROBE_WAIT.saturating_mul(1 << down.probes.min(10)));
                down.probes += 1;
                down.next_probe = now + wait.min(cap);
                down.last_failure = now;
                down.error = e.clone();
                self.health().set_state(AgentState::Unreachable);
                self.report(&e, None);
            }
            Err(e) => {
                let payload = &queued.payload;
                self.outbox.release(payload);
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
                    self.dropped_since_failure += payload.spans;
                    let state = if e.is_unreachable() {
                        AgentState::Unreachable
                    } else {
                        AgentState::Failing
                    };
                    self.health().set_state(state);
                    self.report(&e, Some(payload.spans));
                }
            }
        }
        if self.sink.take_agent_state_change() {
            self.ask_info();
        }
        self.pump();
    }

    /// A delivery succeeded: the agent is back, if it was gone.
    fn on_success(&mut self) {
        let destination = self.sink.destination();
        let down = self.down.take();
        let was_failing = self.failing.take().is_some();
        if let Some(down) = &down {
            self.say(DiagnosticLevel::Info, format_args!(
                "the Datadog agent at {destination} is reachable again after {:.1?}; {} payloads ({} spans) kept meanwhile are being delivered, {} spans were dropped",
                down.since.elapsed(),
                self.outbox.waiting(),
                self.outbox.waiting_spans(),
                self.dropped_since_failure
            ));
        } else if self.stalled {
            self.say(DiagnosticLevel::Info, format_args!(
                "the Datadog agent at {destination} answers again ({} spans were dropped meanwhile)",
                self.dropped_since_failure
            ));
        } else if was_failing {
            self.say(DiagnosticLevel::Info, format_args!(
                "the Datadog agent at {destination} accepts traces again ({} spans were dropped meanwhile)",
                self.dropped_since_failure
            ));
        }
        if down.is_some() || self.stalled || was_failing {
            self.dropped_since_failure = 0;
            self.reported_buffer_full = false;
        }
        self.stalled = false;
        self.health().set_state(AgentState::Accepting);
    }

    /// Records the error for the status, and warns once per kind of failure until a send
    /// succeeds again, and at most once a minute per kind.
    fn report(&mut self, e: &SendError, dropped: Option<u64>) {
        let kind = e.kind();
        let destination = self.sink.destination();
        let remedy = e.remedy(self.sink.socket());
        self.health()
            .record_error(kind.to_string(), e.to_string(), remedy.clone());
        if self.failing == Some(kind) {
            return;
        }
        self.failing = Some(kind);
        let now = Instant::now();
        if let Some((_, at)) = self.reported.iter_mut().find(|(k, _)| *k == kind) {
            if now.duration_since(*at) < REPORT_EVERY {
                return;
            }
            *at = now;
        } else {
            self.reported.push((kind, now));
        }
        let fate = match dropped {
            Some(spans) => format!("{spans} spans were dropped"),
            None => format!(
                "Traces are kept in the retry buffer (up to {} bytes) and sent when it is back",
                self.outbox.capacity()
            ),
        };
        self.say(DiagnosticLevel::Warn, format_args!(
            "could not send traces to the Datadog agent at {destination}: {e}. {remedy} {fate}; further failures of this kind are counted (see TracerStatus) and logged again only after a send has succeeded, at most once a minute."
        ));
    }
}

/// Sleeps until `at`; never returns when there is no `at`.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
