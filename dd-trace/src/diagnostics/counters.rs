//! The tracer's counters: one struct of atomics shared by the app's threads and the worker,
//! read as a plain [`CounterSnapshot`]. App threads touch them only on rare paths (drops,
//! partial flushes), never per span.

use std::sync::atomic::{AtomicU64, Ordering};

/// Declares the counters once: the atomic struct, its snapshot type and `snapshot()`.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// The live counters (see [`CounterSnapshot`] for what each one counts).
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// The tracer's counters at one moment, from [`TracerStatus::counters`](crate::TracerStatus::counters).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct CounterSnapshot {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Counters {
            /// Reads every counter.
            pub(crate) fn snapshot(&self) -> CounterSnapshot {
                CounterSnapshot {
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

impl CounterSnapshot {
    /// Spans dropped for any reason: at the full queue, after failed sends, with the retry
    /// buffer full, at shutdown, or over the open-trace limits.
    pub fn spans_dropped(&self) -> u64 {
        self.spans_dropped_queue_full
            + self.spans_dropped_send_failed
            + self.spans_dropped_retry_buffer_full
            + self.spans_dropped_shutdown
            + self.spans_dropped_trace_limits
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
        let s = c.snapshot();
        assert_eq!(s.spans_sent, 3);
        assert_eq!(s.spans_dropped(), 3);
        assert_eq!(s.payloads_sent, 0);
    }
}
