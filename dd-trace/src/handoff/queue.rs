//! HAND-OFF: the bounded, lock-free queue from the app's threads to the worker.
//!
//! In: finished [`Chunk`]s from the layer (any app thread). Out: the same chunks, drained by
//! the worker thread. A push never blocks: when the queue is full the chunk is dropped and
//! counted. The worker is woken once the queue is half full, so the app's threads do not pay
//! for a wake-up per trace. At shutdown every chunk is either drained by the worker or counted
//! as dropped, even one pushed while the queue closes.

use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;
use tokio::sync::Notify;

use crate::health::Counters;
use crate::model::trace::Chunk;

/// Counts a chunk that will not be sent and keeps its memory in this thread's pool.
fn drop_counted(chunk: Chunk, chunks: &AtomicU64, spans: &AtomicU64) {
    Counters::add(chunks, 1);
    Counters::add(spans, chunk.spans.len() as u64);
    crate::handoff::pool::keep_local(chunk);
}

/// The hand-off queue.
pub(crate) struct ChunkQueue {
    queue: ArrayQueue<Chunk>,
    wake_at: usize,
    wake_pending: AtomicBool,
    /// No new chunk is taken (shutdown began).
    closed: AtomicBool,
    /// The worker has drained for the last time: what is left is counted by whoever sees it.
    finished: AtomicBool,
    /// Wakes the worker.
    pub(crate) notify: Notify,
}

impl ChunkQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2);
        ChunkQueue {
            queue: ArrayQueue::new(capacity),
            wake_at: capacity / 2,
            wake_pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Hands a chunk to the worker without blocking; a full or closed queue drops and counts it.
    pub(crate) fn push(&self, chunk: Chunk, counters: &Counters) {
        if self.closed.load(Ordering::Relaxed) {
            return drop_counted(
                chunk,
                &counters.chunks_dropped_shutdown,
                &counters.spans_dropped_shutdown,
            );
        }
        self.hand_off(chunk, counters);
    }

    /// The part of [`push`](Self::push) after its check that the queue is open.
    fn hand_off(&self, chunk: Chunk, counters: &Counters) {
        match self.queue.push(chunk) {
            Ok(()) => {
                // The queue may have closed since the check above: the worker's last drain
                // then takes this chunk, or, if it is over, the worker's count of what is left
                // does. A push racing with that count could be missed by it: with a fence on
                // both sides, either the count sees the chunk or this load sees it finished,
                // and what is left is counted here.
                fence(Ordering::SeqCst);
                if self.finished.load(Ordering::Relaxed) {
                    return self.drop_remaining(counters);
                }
                if self.queue.len() >= self.wake_at
                    && !self.wake_pending.swap(true, Ordering::AcqRel)
                {
                    self.notify.notify_one();
                }
            }
            Err(chunk) => drop_counted(
                chunk,
                &counters.chunks_dropped_queue_full,
                &counters.spans_dropped_queue_full,
            ),
        }
    }

    /// After the worker's last drain: counts every chunk still queued as dropped at shutdown,
    /// and makes a push that races with this count its own.
    pub(crate) fn finish(&self, counters: &Counters) {
        self.finished.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.drop_remaining(counters);
    }

    /// Counts every chunk still queued as dropped at shutdown.
    fn drop_remaining(&self, counters: &Counters) {
        while let Some(chunk) = self.queue.pop() {
            drop_counted(
                chunk,
                &counters.chunks_dropped_shutdown,
                &counters.spans_dropped_shutdown,
            );
        }
    }

    /// Takes the next chunk (worker side).
    pub(crate) fn pop(&self) -> Option<Chunk> {
        self.queue.pop()
    }

    /// Re-arms the half-full wake-up; the worker calls this before draining.
    pub(crate) fn rearm(&self) {
        self.wake_pending.store(false, Ordering::Release);
    }

    /// Chunks it holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    /// Chunks waiting.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Refuses further chunks (after shutdown nothing would send them). The worker drains
    /// once more after this, then calls [`finish`](Self::finish).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::id::TraceId;

    fn chunk(spans: usize) -> Chunk {
        let mut chunk = Chunk {
            trace: crate::model::trace::tests::trace(TraceId::from_parts(0, 1), None),
            spans: Default::default(),
            partial: false,
        };
        for i in 0..spans {
            chunk
                .spans
                .push(crate::model::span::tests::span(i as u64 + 1, 0));
        }
        chunk
    }

    #[test]
    fn full_queue_drops_and_counts_instead_of_blocking() {
        let q = ChunkQueue::new(4);
        let c = Counters::default();
        for _ in 0..6 {
            q.push(chunk(3), &c);
        }
        assert_eq!(q.len(), 4);
        assert_eq!(c.chunks_dropped_queue_full.load(Ordering::Relaxed), 2);
        assert_eq!(c.spans_dropped_queue_full.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn closed_queue_counts_shutdown_drops() {
        let q = ChunkQueue::new(4);
        let c = Counters::default();
        q.close();
        q.push(chunk(2), &c);
        assert_eq!(q.len(), 0);
        assert_eq!(c.spans_dropped_shutdown.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_chunk_pushed_as_the_queue_closes_is_counted_not_stranded() {
        let q = ChunkQueue::new(4);
        let c = Counters::default();
        q.push(chunk(1), &c);
        // An app thread found the queue open; before its chunk lands, the worker closes the
        // queue, drains it for the last time and counts what is left.
        q.close();
        assert!(q.pop().is_some());
        assert!(q.pop().is_none());
        q.finish(&c);
        q.hand_off(chunk(3), &c);
        assert_eq!(q.len(), 0, "nothing is left that no one would drain");
        assert_eq!(c.chunks_dropped_shutdown.load(Ordering::Relaxed), 1);
        assert_eq!(c.spans_dropped_shutdown.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_chunk_landing_after_the_close_but_before_the_last_drain_is_drained() {
        let q = ChunkQueue::new(4);
        let c = Counters::default();
        q.push(chunk(1), &c);
        // An app thread found the queue open; its chunk lands after the close, while the
        // worker's last drain is still to come: neither chunk is dropped.
        q.close();
        q.hand_off(chunk(2), &c);
        assert_eq!(q.len(), 2);
        assert_eq!(c.chunks_dropped_shutdown.load(Ordering::Relaxed), 0);
        assert_eq!(q.pop().map(|c| c.spans.len()), Some(1));
        assert_eq!(q.pop().map(|c| c.spans.len()), Some(2));
    }

    #[tokio::test]
    async fn worker_is_woken_once_the_queue_is_half_full() {
        let q = ChunkQueue::new(4);
        let c = Counters::default();
        q.push(chunk(1), &c);
        let woken = tokio::time::timeout(std::time::Duration::from_millis(20), q.notify.notified());
        assert!(woken.await.is_err(), "woken before half full");
        q.push(chunk(1), &c);
        let woken = tokio::time::timeout(std::time::Duration::from_secs(5), q.notify.notified());
        assert!(woken.await.is_ok());
    }
}
