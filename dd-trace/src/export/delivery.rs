//! DELIVERY: the retry buffer and the requests in flight. Payloads wait in the [`Outbox`] and
//! go to the sink oldest first, at most [`MAX_IN_FLIGHT`] at once; a payload whose connection
//! could not be made goes back in its place and the agent is probed, one request at a time,
//! backing off from [`FIRST_PROBE_WAIT`] to a second (or the flush interval, if shorter), so
//! delivery resumes within a second of the agent's return; a request unanswered for
//! [`STALL_AFTER`] is a stall.
//!
//! In: encoded payloads and the answers of the requests it started, on the worker thread. Out:
//! requests to the sink (tasks on the worker's runtime), and each finished request back to the
//! worker, which counts and reports it. Nothing here waits for the agent.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::outbox::{Outbox, Queued};
use super::report::Recovered;
use super::send_error::SendError;
use super::sink::{deliver, with_jitter, Delivery, PayloadSink};
use crate::encode::Payload;
use crate::health::RetryBufferStatus;

/// Requests to the agent in flight at once; past this payloads wait in the retry buffer.
pub(crate) const MAX_IN_FLIGHT: usize = 2;
/// A request unanswered this long is reported as stalled (or at half the agent timeout, if
/// that is sooner).
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(3);
/// The first wait before probing an unreachable agent again; doubled up to a second.
const FIRST_PROBE_WAIT: Duration = Duration::from_millis(100);
/// The longest wait between probes of an unreachable agent.
const MAX_PROBE_WAIT: Duration = Duration::from_secs(1);

/// A request in flight.
struct Flight {
    id: u64,
    started: Instant,
    chunks: u32,
    spans: u64,
}

/// A finished request: its payload and how its delivery went.
pub(crate) struct Sent {
    id: u64,
    pub(crate) queued: Queued,
    pub(crate) delivery: Delivery,
}

/// The agent could not be reached: payloads wait, one probe at a time retries.
struct Down {
    since: Instant,
    probes: u32,
    next_probe: Instant,
    last_failure: Instant,
    error: SendError,
}

/// The retry buffer and the requests in flight.
pub(crate) struct Deliveries {
    outbox: Outbox,
    sends: JoinSet<Sent>,
    flights: Vec<Flight>,
    next_flight: u64,
    down: Option<Down>,
    /// A stall has been reported and has not ended.
    stalled: bool,
    /// Deliveries give up at this time (set at shutdown).
    deadline: Option<Instant>,
    /// The longest wait between probes.
    max_probe_wait: Duration,
    stall_after: Duration,
}

impl Deliveries {
    /// A retry buffer of `capacity` bytes; probes never wait longer than `flush_interval`, and
    /// a request is stalled after [`STALL_AFTER`] or half of `agent_timeout`.
    pub(crate) fn new(capacity: u64, flush_interval: Duration, agent_timeout: Duration) -> Self {
        Deliveries {
            outbox: Outbox::new(capacity),
            sends: JoinSet::new(),
            flights: Vec::new(),
            next_flight: 0,
            down: None,
            stalled: false,
            deadline: None,
            max_probe_wait: MAX_PROBE_WAIT.min(flush_interval),
            stall_after: STALL_AFTER.min(agent_timeout / 2),
        }
    }

    /// Puts a new payload at the back of the retry buffer; gives it back when the buffer is
    /// full.
    pub(crate) fn offer(&mut self, payload: Payload) -> Result<(), Payload> {
        self.outbox.offer(payload)
    }

    /// The retry buffer's capacity, in bytes.
    pub(crate) fn capacity(&self) -> u64 {
        self.outbox.capacity()
    }

    /// Starts deliveries to `sink` from the retry buffer, oldest first, while slots are free;
    /// while the agent is unreachable, only one probe at a time, when it is due.
    pub(crate) fn pump(&mut self, sink: &Arc<dyn PayloadSink>, rates_version: Option<&str>) {
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
            self.start(sink, queued, rates_version.map(str::to_string));
            if self.down.is_some() {
                break;
            }
        }
    }

    fn start(&mut self, sink: &Arc<dyn PayloadSink>, queued: Queued, rates: Option<String>) {
        let payload = &queued.payload;
        crate::health::log::debug(format_args!(
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
        let sink = Arc::clone(sink);
        let deadline = self.deadline;
        self.sends.spawn(async move {
            let delivery = deliver(&*sink, &queued.payload, rates.as_deref(), deadline).await;
            Sent {
                id,
                queued,
                delivery,
            }
        });
    }

    /// Requests in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.sends.len()
    }

    /// The next request to finish; pending forever while none is in flight.
    pub(crate) async fn next_sent(&mut self) -> Sent {
        loop {
            match self.sends.join_next().await {
                Some(Ok(sent)) => {
                    self.flights.retain(|f| f.id != sent.id);
                    return sent;
                }
                // A task that panicked or was aborted: nothing to account for here.
                Some(Err(_)) => {}
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// A payload taken from the buffer was delivered or given up on: its bytes are free.
    pub(crate) fn release(&mut self, payload: &Payload) {
        self.outbox.release(payload);
    }

    /// The agent could not be reached for `queued`: it goes back in its place, and the next
    /// probe waits, jittered and backing off.
    pub(crate) fn unreachable(&mut self, queued: Queued, e: &SendError) {
        self.outbox.put_back(queued);
        let now = Instant::now();
        let down = self.down.get_or_insert_with(|| Down {
            since: now,
            probes: 0,
            next_probe: now,
            last_failure: now,
            error: e.clone(),
        });
        let wait = with_jitter(FIRST_PROBE_WAIT.saturating_mul(1 << down.probes.min(10)));
        down.probes += 1;
        down.next_probe = now + wait.min(self.max_probe_wait);
        down.last_failure = now;
        down.error = e.clone();
    }

    /// Whether a delivery failing now may still be retried later (not past the shutdown
    /// deadline).
    pub(crate) fn may_retry(&self) -> bool {
        self.deadline.is_none_or(|d| Instant::now() < d)
    }

    /// A delivery succeeded: what was wrong before, if anything (and nothing is any more).
    pub(crate) fn succeeded(&mut self) -> Option<Recovered> {
        let stalled = std::mem::take(&mut self.stalled);
        match self.down.take() {
            Some(down) => Some(Recovered::Reachable {
                after: down.since.elapsed(),
                waiting: self.outbox.waiting(),
                spans: self.outbox.waiting_spans(),
            }),
            None if stalled => Some(Recovered::Answers),
            None => None,
        }
    }

    /// When the next probe of an unreachable agent is due, if one is and none is in flight.
    pub(crate) fn probe_at(&self) -> Option<Instant> {
        let down = self.down.as_ref()?;
        (self.sends.is_empty() && !self.outbox.is_empty()).then_some(down.next_probe)
    }

    /// Probes the agent at once (a flush asks).
    pub(crate) fn probe_now(&mut self) {
        if let Some(down) = &mut self.down {
            down.next_probe = Instant::now();
        }
    }

    /// How long the oldest request has waited, the first time it waits past the stall
    /// threshold (once per stall).
    pub(crate) fn new_stall(&mut self) -> Option<Duration> {
        if self.stalled {
            return None;
        }
        let oldest = self.flights.iter().map(|f| f.started).min()?;
        let waited = oldest.elapsed();
        if waited < self.stall_after {
            return None;
        }
        self.stalled = true;
        Some(waited)
    }

    /// Whether a stall is under way.
    pub(crate) fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// Since when, and why, the agent cannot be reached, if it cannot.
    pub(crate) fn unreachable_for(&self) -> Option<(Duration, &SendError)> {
        self.down.as_ref().map(|d| (d.since.elapsed(), &d.error))
    }

    /// Why a flush started at `started` should stop waiting: the agent was found unreachable
    /// since, and no request is in flight.
    pub(crate) fn unreachable_since(&self, started: Instant) -> Option<String> {
        let down = self.down.as_ref()?;
        (down.last_failure >= started && self.sends.is_empty()).then(|| down.error.to_string())
    }

    /// Whether nothing waits and nothing is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.outbox.is_empty() && self.sends.is_empty()
    }

    /// Deliveries give up at `deadline` (shutdown).
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// At shutdown: abandons every payload waiting or in flight; returns their chunks and
    /// spans.
    pub(crate) fn abandon(&mut self) -> (u64, u64) {
        let (mut chunks, mut spans) = (0u64, 0u64);
        for p in self.outbox.take_all() {
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
        (chunks, spans)
    }

    /// The retry buffer, for the status.
    pub(crate) fn status(&self) -> RetryBufferStatus {
        RetryBufferStatus {
            payloads: self.outbox.waiting(),
            spans: self.outbox.waiting_spans(),
            bytes: self.outbox.held_bytes(),
            capacity_bytes: self.outbox.capacity(),
        }
    }

    /// Bytes held by payloads waiting or in flight.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.outbox.held_bytes()
    }
}
