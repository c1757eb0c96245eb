//! What the worker tells the operator about delivery: one warning per kind of failure (with the
//! cause, the address and the remedy) until a send succeeds and at most once a minute per
//! kind, one line when the agent is back, the first drop at the full hand-off queue and at the
//! full retry buffer, a stall, a refused payload format, and the totals at shutdown.
//!
//! In: the worker's findings, on the worker thread. Out: the tracer's own lines (stderr or the
//! app's handler, through `health::log`), never on the app's threads; none at all for the
//! doctor's quiet tracer.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::send_error::{SendError, SendErrorKind};
use crate::config::about;
use crate::encode::PayloadFormat;
use crate::health::filters::FilterFinding;
use crate::health::{log, CounterSnapshot, DiagnosticLevel};

/// The same kind of failure is reported at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// What the worker has said, so it says each thing once.
pub(crate) struct Reporter {
    /// The doctor's tracer: nothing is said.
    quiet: bool,
    /// The kind of failure last reported, until a send succeeds.
    failing: Option<SendErrorKind>,
    /// When each kind was last reported.
    reported: Vec<(SendErrorKind, Instant)>,
    /// Spans dropped since the agent began failing, for the recovery line.
    dropped_since_failure: u64,
    /// The first drop at the full hand-off queue has been reported.
    reported_queue_full: bool,
    /// The first drop at the full retry buffer has been reported (since the last recovery).
    reported_buffer_full: bool,
}

/// How the agent was doing before a send succeeded.
pub(crate) enum Recovered {
    /// It could not be reached, for this long; `waiting` payloads of `spans` spans were kept.
    Reachable {
        after: Duration,
        waiting: usize,
        spans: u64,
    },
    /// It accepted connections without answering.
    Answers,
}

impl Reporter {
    pub(crate) fn new(quiet: bool) -> Self {
        Reporter {
            quiet,
            failing: None,
            reported: Vec::new(),
            dropped_since_failure: 0,
            reported_queue_full: false,
            reported_buffer_full: false,
        }
    }

    /// Writes one of the tracer's lines, unless this tracer is the doctor's own.
    pub(crate) fn say(&self, level: DiagnosticLevel, args: fmt::Arguments<'_>) {
        if self.quiet {
            return;
        }
        match level {
            DiagnosticLevel::Warn => log::warn(args),
            _ => log::info(args),
        }
    }

    /// Counts spans lost while the agent fails, for the recovery line.
    pub(crate) fn lost(&mut self, spans: u64) {
        self.dropped_since_failure += spans;
    }

    /// A failed delivery to `destination`: warns once per kind of failure until a send
    /// succeeds again, and at most once a minute per kind. `fate` says what became of the
    /// payload.
    pub(crate) fn failure(&mut self, e: &SendError, destination: &str, remedy: &str, fate: &str) {
        let kind = e.kind();
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
        self.say(DiagnosticLevel::Warn, format_args!(
            "could not send traces to the Datadog agent at {destination}: {e}. {remedy} {fate}; further failures of this kind are counted (see TracerStatus) and logged again only after a send has succeeded, at most once a minute."
        ));
    }

    /// A send succeeded after `recovered` (or after answering with errors, or nothing wrong):
    /// one line if anything was wrong, and the failure reports start over.
    pub(crate) fn recovered(&mut self, destination: &str, recovered: Option<Recovered>) {
        let was_failing = self.failing.take().is_some();
        let dropped = self.dropped_since_failure;
        match recovered {
            Some(Recovered::Reachable {
                after,
                waiting,
                spans,
            }) => self.say(DiagnosticLevel::Info, format_args!(
                "the Datadog agent at {destination} is reachable again after {after:.1?}; {waiting} payloads ({spans} spans) kept meanwhile are being delivered, {dropped} spans were dropped"
            )),
            Some(Recovered::Answers) => self.say(DiagnosticLevel::Info, format_args!(
                "the Datadog agent at {destination} answers again ({dropped} spans were dropped meanwhile)"
            )),
            None if was_failing => self.say(DiagnosticLevel::Info, format_args!(
                "the Datadog agent at {destination} accepts traces again ({dropped} spans were dropped meanwhile)"
            )),
            _ => return,
        }
        self.dropped_since_failure = 0;
        self.reported_buffer_full = false;
    }

    /// The first time the hand-off queue overflows: one warning with the remedy.
    pub(crate) fn queue_full(&mut self, dropped: u64, capacity: usize) {
        if self.reported_queue_full || dropped == 0 {
            return;
        }
        self.reported_queue_full = true;
        self.say(DiagnosticLevel::Warn, format_args!(
            "the hand-off queue of finished traces was full: {dropped} spans dropped so far. The app makes spans faster than this tracer's worker can encode them; raise the queue capacity (DatadogLayerBuilder::with_queue_capacity, now {capacity}), sample traces ({}), or make fewer spans. Later drops are counted (see TracerStatus) and reported at shutdown.",
            about::sample_rate.name()
        ));
    }

    /// The first payload dropped at the full retry buffer (since the last recovery): one
    /// warning saying `why` the buffer filled.
    pub(crate) fn buffer_full(&mut self, capacity: u64, why: impl FnOnce() -> String) {
        if self.reported_buffer_full {
            return;
        }
        self.reported_buffer_full = true;
        self.say(DiagnosticLevel::Warn, format_args!(
            "the retry buffer is full ({capacity} bytes): {}. New payloads are dropped and counted until it drains; raise {} to ride out longer outages.",
            why(),
            about::retry_buffer_bytes.name()
        ));
    }

    /// A request has had no answer for `waited`.
    pub(crate) fn stalled(&self, destination: &str, waited: Duration, held: u64, capacity: u64) {
        self.say(DiagnosticLevel::Warn, format_args!(
            "the Datadog agent at {destination} accepted the connection but has not answered for {waited:.1?}: it is overloaded or stuck (check its logs). New traces wait in the retry buffer ({held} of {capacity} bytes held); the request is given up after {} and its spans counted as dropped.",
            about::agent_timeout.name()
        ));
    }

    /// The agent refused `refused` payloads: `next` from now on.
    pub(crate) fn format_refused(
        &self,
        destination: &str,
        refused: PayloadFormat,
        next: PayloadFormat,
        e: &SendError,
        spans: u64,
        forced: bool,
    ) {
        let hint = if forced {
            format!(
                " {} asks for it: unset it to let the agent's /info decide.",
                about::protocol.name()
            )
        } else {
            String::new()
        };
        self.say(DiagnosticLevel::Warn, format_args!(
            "the Datadog agent at {destination} does not take {} payloads ({e}): sending {} from now on; the {spans} spans of that payload were dropped.{hint}",
            refused.name(),
            next.name(),
        ));
    }

    /// At shutdown, the spans still undelivered that were dropped, and why.
    pub(crate) fn shutdown_drops(&self, destination: &str, spans: u64, why: &str) {
        if spans > 0 {
            self.say(DiagnosticLevel::Warn, format_args!(
                "shutdown: {spans} spans not yet delivered to the agent at {destination} were dropped: {why}"
            ));
        }
    }

    /// At shutdown: one line with everything dropped over the tracer's life, if anything was.
    /// What the app's subscriber's filters keep from the layer: a warning when they keep most
    /// spans out, a notice when they keep `DEBUG` spans out.
    pub(crate) fn filter(&self, finding: &FilterFinding) {
        let level = if finding.is_severe() {
            DiagnosticLevel::Warn
        } else {
            DiagnosticLevel::Info
        };
        self.say(
            level,
            format_args!("{}. {}", finding.detail(), finding.remedy()),
        );
    }

    /// The one line every shutdown prints, at info level.
    pub(crate) fn totals(&self, c: &CounterSnapshot, destination: &str) {
        self.say(
            DiagnosticLevel::Info,
            format_args!("shut down ({destination}): {}", c.delivery_line()),
        );
    }
}
