//! The tracer's counters: one struct of atomics shared by the app's threads and the worker,
//! read as a plain [`CounterSnapshot`]. App threads touch the shared ones only on rare paths
//! (drops, partial flushes); per span they count in [`SpanCounts`], whose cache lines are
//! per thread (shard), never one line for the process.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Declares the counters once: the atomic struct, its snapshot type and `snapshot()`.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// The live counters (see [`CounterSnapshot`] for what each one counts).
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            /// Spans started and finished, counted by the app's threads.
            pub(crate) spans: SpanCounts,
            $(pub(crate) $name: AtomicU64,)*
        }

        /// The tracer's counters at one moment, from [`TracerStatus::counters`](crate::diagnostics::TracerStatus::counters).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct CounterSnapshot {
            /// Spans the tracer started recording (spans over the open-trace limits are in
            /// `spans_dropped_trace_limits` instead).
            pub spans_started: u64,
            /// Recorded spans that have finished. `spans_started − spans_finished` spans are
            /// open now: in flight, or never closed (see [`spans_open`](Self::spans_open)).
            pub spans_finished: u64,
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Counters {
            /// Reads every counter.
            pub(crate) fn snapshot(&self) -> CounterSnapshot {
                let (spans_started, spans_finished) = self.spans.totals();
                CounterSnapshot {
                    spans_started,
                    spans_finished,
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

counters! {
    /// Payloads the agent accepted.
    payloads_sent,
    /// Trace chunks the agent accepted.
    chunks_sent,
    /// Spans the agent accepted.
    spans_sent,
    /// Bytes the agent accepted.
    bytes_sent,
    /// Chunks dropped because the hand-off queue was full.
    chunks_dropped_queue_full,
    /// Spans dropped because the hand-off queue was full.
    spans_dropped_queue_full,
    /// Payloads given up on after the agent failed (retries included).
    payloads_dropped,
    /// Chunks in those payloads.
    chunks_dropped_send_failed,
    /// Spans in those payloads.
    spans_dropped_send_failed,
    /// Payloads dropped because the retry buffer was full.
    payloads_dropped_retry_buffer_full,
    /// Spans in those payloads.
    spans_dropped_retry_buffer_full,
    /// Chunks drained from the hand-off queue by the worker.
    chunks_received,
    /// Spans in those chunks.
    spans_received,
    /// Spans not recorded because their trace, or the tracer, was over its open-trace limits
    /// (spans never closed, e.g. leaked futures, must not grow memory forever).
    spans_dropped_trace_limits,
    /// Unsampled chunks not sent because the tracer computed their stats and the agent lets
    /// tracers drop them (`client_drop_p0s`); not a loss, and not in `spans_dropped()`.
    chunks_dropped_p0,
    /// Spans of unsampled traces not sent for the same reason.
    spans_dropped_p0,
    /// `/v0.6/stats` payloads the agent accepted.
    stats_payloads_sent,
    /// Chunks dropped because the tracer had shut down or its shutdown timed out.
    chunks_dropped_shutdown,
    /// Spans dropped for the same reason.
    spans_dropped_shutdown,
    /// Failed attempts to send a payload, whether or not they were retried.
    failed_send_attempts,
    /// Chunks sent before their trace ended (partial flushes).
    partial_flushes,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Spans started and finished, in shards: each thread adds to the shard it was given at its
/// first span, so threads do not share a cache line (up to [`SHARDS`] threads; more share
/// shards round-robin). Relaxed atomics: a snapshot may miss a span being counted right then.
#[derive(Debug, Default)]
pub(crate) struct SpanCounts {
    shards: [Shard; SHARDS],
}

/// Shards of [`SpanCounts`].
const SHARDS: usize = 16;

/// One thread's (or a few threads') counts, alone on its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    started: AtomicU64,
    finished: AtomicU64,
}

/// The next shard to give a thread.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, `usize::MAX` until its first span.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

impl SpanCounts {
    fn shard(&self) -> &Shard {
        let index = SHARD.with(|s| {
            let mut index = s.get();
            if index == usize::MAX {
                index = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
                s.set(index);
            }
            index
        });
        &self.shards[index]
    }

    /// Counts a span started (recorded) on this thread.
    pub(crate) fn started(&self) {
        self.shard().started.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a recorded span finished on this thread.
    pub(crate) fn finished(&self) {
        self.shard().finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Spans started so far, over all shards.
    pub(crate) fn started_total(&self) -> u64 {
        self.totals().0
    }

    /// (started, finished) over all shards.
    fn totals(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(s, f), shard| {
            (
                s + shard.started.load(Ordering::Relaxed),
                f + shard.finished.load(Ordering::Relaxed),
            )
        })
    }
}

impl CounterSnapshot {
    /// Recorded spans not finished yet: in flight, or never closed (a leaked future, a span
    /// kept in a struct). A number that keeps growing while the app's load is steady is a leak.
    pub fn spans_open(&self) -> u64 {
        self.spans_started.saturating_sub(self.spans_finished)
    }

    /// Why spans were not sent, each with the reason's name in metrics, its words for people,
    /// and its count: the losses first, then the unsampled spans the agent lets the tracer
    /// drop once it computed their stats (`p0_drop`, not a loss). The shutdown line, the
    /// telemetry metrics and the health metrics all read this one list.
    pub(crate) fn drops(&self) -> [(&'static str, &'static str, u64); 6] {
        [
            (
                "queue_full",
                "at the full hand-off queue",
                self.spans_dropped_queue_full,
            ),
            (
                "send_failed",
                "after failed sends",
                self.spans_dropped_send_failed,
            ),
            (
                "retry_buffer_full",
                "with the retry buffer full",
                self.spans_dropped_retry_buffer_full,
            ),
            ("shutdown", "at shutdown", self.spans_dropped_shutdown),
            (
                "open_trace_limits",
                "over the open-trace limits",
                self.spans_dropped_trace_limits,
            ),
            (
                "p0_drop",
                "unsampled, after their stats",
                self.spans_dropped_p0,
            ),
        ]
    }

    /// The reasons of [`drops`](Self::drops) that are losses.
    const LOSSES: usize = 5;

    /// Spans dropped for any reason: at the full queue, after failed sends, with the retry
    /// buffer full, at shutdown, or over the open-trace limits.
    pub fn spans_dropped(&self) -> u64 {
        self.drops()[..Self::LOSSES].iter().map(|d| d.2).sum()
    }

    /// Finished spans neither sent nor dropped yet: in the hand-off queue, being encoded, in
    /// flight to the agent or waiting in the retry buffer. Right after a span closes it is
    /// here, not in `spans_sent`: [`flush`](crate::DatadogGuard::flush) first to see it
    /// delivered. (Spans over the open-trace limits were never recorded, so never finished.)
    pub fn spans_waiting(&self) -> u64 {
        let gone: u64 = self.drops().iter().map(|d| d.2).sum();
        self.spans_finished
            .saturating_sub(self.spans_sent + gone - self.spans_dropped_trace_limits)
    }

    /// `sent N spans, dropped M` and, when some were dropped, why: the line shutdown prints.
    pub fn delivery_line(&self) -> String {
        let dropped = self.spans_dropped();
        let mut line = format!("sent {} spans, dropped {dropped}", self.spans_sent);
        if dropped > 0 {
            let reasons: Vec<String> = self.drops()[..Self::LOSSES]
                .iter()
                .filter(|(_, _, n)| *n > 0)
                .map(|(_, why, n)| format!("{n} {why}"))
                .collect();
            line.push_str(&format!(" ({})", reasons.join(", ")));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_read_every_counter() {
        let c = Counters::default();
        Counters::add(&c.spans_sent, 3);
        Counters::add(&c.spans_dropped_queue_full, 2);
        Counters::add(&c.spans_dropped_shutdown, 1);
        c.spans.started();
        c.spans.started();
        c.spans.finished();
        std::thread::scope(|scope| {
            scope.spawn(|| c.spans.started());
        });
        let s = c.snapshot();
        assert_eq!(
            (s.spans_started, s.spans_finished, s.spans_open()),
            (3, 1, 2)
        );
        assert_eq!(
            s.delivery_line(),
            "sent 3 spans, dropped 3 (2 at the full hand-off queue, 1 at shutdown)"
        );
        let clean = CounterSnapshot {
            spans_finished: 5,
            spans_sent: 2,
            spans_dropped_p0: 1,
            ..CounterSnapshot::default()
        };
        assert_eq!(clean.delivery_line(), "sent 2 spans, dropped 0");
        assert_eq!(clean.spans_waiting(), 2);
        assert_eq!(s.spans_sent, 3);
        assert_eq!(s.spans_dropped(), 3);
        assert_eq!(s.payloads_sent, 0);
    }
}
