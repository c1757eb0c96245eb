//! The background worker: a named thread with its own single-threaded tokio runtime.
//!
//! In: chunks from the [`ChunkQueue`], and [`Command`]s (flush, shutdown) from the guard. Out:
//! payloads encoded and delivered to the agent; counters and the agent's rates updated. It
//! drains the queue every [`DRAIN_INTERVAL`] or when the queue is half full, sends every flush
//! interval or whenever a payload passes its size threshold, keeps at most
//! [`MAX_IN_FLIGHT`] requests in flight, and on shutdown drains and sends within a deadline.
//! Its own runtime means it works in apps with or without tokio and never nests runtimes; it
//! runs with no `tracing` dispatcher so nothing it (or hyper) does can create spans.

use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::export::encode::{Payload, PayloadEncoder};
use crate::export::queue::{add, Counters};
use crate::export::transport::{Delivery, SendError, Transport};
use crate::Shared;

/// How often the worker drains the hand-off queue when it is not woken earlier.
pub(crate) const DRAIN_INTERVAL: Duration = Duration::from_millis(50);
/// Requests to the agent in flight at once; past this the worker waits (and the queue fills).
pub(crate) const MAX_IN_FLIGHT: usize = 2;

/// Requests from the guard.
pub(crate) enum Command {
    /// Send everything finished so far, then answer.
    Flush(SyncSender<()>),
    /// Send everything finished so far, wait for deliveries until the deadline, then stop.
    Shutdown(Instant, SyncSender<()>),
}

/// Starts the worker thread.
pub(crate) fn spawn(
    shared: Arc<Shared>,
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
                    crate::diagnostics::log::warn(format_args!(
                        "could not start the trace worker's runtime ({e}); traces will not be sent"
                    ));
                    shared.queue.close();
                    return;
                }
            };
            runtime.block_on(async move {
                let transport = match make_transport() {
                    Ok(t) => t,
                    Err(e) => {
                        crate::diagnostics::log::warn(format_args!("{e}; traces will not be sent"));
                        shared.queue.close();
                        return;
                    }
                };
                Worker {
                    shared,
                    encoder,
                    transport: Arc::new(transport),
                    sends: JoinSet::new(),
                    in_flight: InFlight::default(),
                    commands,
                    recycler: crate::export::pool::Recycler::default(),
                    failing: None,
                    dropped_since_failure: 0,
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
    shared: Arc<Shared>,
    encoder: PayloadEncoder,
    transport: Arc<Transport>,
    sends: JoinSet<Sent>,
    in_flight: InFlight,
    commands: UnboundedReceiver<Command>,
    recycler: crate::export::pool::Recycler,
    /// The kind of failure already reported, until a send succeeds.
    failing: Option<String>,
    dropped_since_failure: u64,
}

impl Worker {
    async fn run(mut self, flush_interval: Duration) {
        let mut flush = tokio::time::interval(flush_interval);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut drain = tokio::time::interval(DRAIN_INTERVAL);
        drain.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shared.queue.notify.notified() => self.drain(None).await,
                _ = drain.tick() => self.drain(None).await,
                _ = flush.tick() => {
                    self.drain(None).await;
                    self.submit_pending(None).await;
                }
                Some(done) = self.sends.join_next(), if !self.sends.is_empty() => {
                    if let Ok(sent) = done {
                        self.on_sent(sent);
                    }
                }
                command = self.commands.recv() => match command {
                    Some(Command::Flush(reply)) => {
                        self.drain(None).await;
                        self.submit_pending(None).await;
                        self.wait_for_sends(None).await;
                        let _ = reply.send(());
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

    async fn shutdown(&mut self, deadline: Instant) {
        self.shared.queue.close();
        self.drain(Some(deadline)).await;
        self.submit_pending(Some(deadline)).await;
        self.wait_for_sends(Some(deadline)).await;
        if !self.sends.is_empty() {
            self.sends.abort_all();
            let c = &self.shared.counters;
            add(&c.chunks_dropped_shutdown, self.in_flight.chunks);
            add(&c.spans_dropped_shutdown, self.in_flight.spans);
            crate::diagnostics::log::warn(format_args!(
                "shutdown timed out: {} spans in flight to the agent at {} were dropped",
                self.in_flight.spans,
                self.transport.endpoint()
            ));
        }
    }

    /// Encodes every queued chunk; full payloads go out at once.
    async fn drain(&mut self, deadline: Option<Instant>) {
        self.shared.queue.rearm();
        self.encoder.set_clock(crate::model::span::WallClock::now());
        let mut ready = Vec::new();
        while let Some(chunk) = self.shared.queue.pop() {
            self.encoder.push_chunk(&chunk, &mut |p| ready.push(p));
            self.recycler.release(chunk);
            if self.encoder.is_full() {
                ready.extend(self.encoder.finish());
            }
            for payload in ready.drain(..) {
                self.submit(payload, deadline).await;
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
        crate::diagnostics::log::debug(format_args!(
            "sending {} chunks, {} spans, {} bytes",
            payload.chunks,
            payload.spans,
            payload.body.len()
        ));
        self.in_flight.chunks += u64::from(payload.chunks);
        self.in_flight.spans += payload.spans;
        let transport = Arc::clone(&self.transport);
        let rates_version = self.shared.agent_rates.load().version.clone();
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
        let c: &Counters = &self.shared.counters;
        self.in_flight.chunks -= u64::from(payload.chunks);
        self.in_flight.spans -= payload.spans;
        add(&c.send_attempts_failed, u64::from(delivery.failed_attempts));
        match delivery.result {
            Ok(rates) => {
                add(&c.payloads_sent, 1);
                add(&c.chunks_sent, u64::from(payload.chunks));
                add(&c.spans_sent, payload.spans);
                add(&c.bytes_sent, payload.body.len() as u64);
                if let Some(rates) = rates {
                    self.shared.agent_rates.store(Arc::new(rates));
                }
                if self.failing.take().is_some() {
                    crate::diagnostics::log::info(format_args!(
                        "the Datadog agent at {} accepts traces again ({} spans were dropped meanwhile)",
                        self.transport.endpoint(),
                        self.dropped_since_failure
                    ));
                    self.dropped_since_failure = 0;
                }
            }
            Err(e) => {
                add(&c.payloads_dropped, 1);
                add(&c.chunks_dropped_send_failed, u64::from(payload.chunks));
                add(&c.spans_dropped_send_failed, payload.spans);
                self.dropped_since_failure += payload.spans;
                *self
                    .shared
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                self.report(&e, payload.spans);
            }
        }
    }

    /// Warns once per kind of failure until a send succeeds again.
    fn report(&mut self, e: &SendError, spans: u64) {
        let kind = e.kind();
        if self.failing.as_deref() == Some(kind.as_str()) {
            return;
        }
        let endpoint = self.transport.endpoint();
        crate::diagnostics::log::warn(format_args!(
            "could not send traces to the Datadog agent at {endpoint}: {e}. {} {spans} spans dropped; further failures of this kind are counted (see DatadogGuard::status) and not logged until a send succeeds.",
            e.remedy(endpoint)
        ));
        self.failing = Some(kind);
    }
}
