//! Recycling of span records between the worker and the app's threads.
//!
//! Span records are allocated on the app's threads and released by the worker after encoding.
//! Freeing them there would make every span cost a cross-thread `free` (which contends on the
//! allocator's locks with the app's own allocations); instead the worker clears them, keeping
//! their buffers, and hands them back in batches. An app thread takes a whole batch at once into
//! a thread-local cache, so the shared queue is touched once per [`BATCH`] spans. Memory stays
//! bounded: the shared queue holds at most [`MAX_BATCHES`] batches, oversized buffers are not
//! kept, and anything beyond is simply freed.

use std::cell::RefCell;
use std::sync::OnceLock;

use crossbeam_queue::ArrayQueue;

use crate::span::SpanData;

/// Span records per batch handed back by the worker.
pub(crate) const BATCH: usize = 64;
/// Text bytes a new record reserves: enough for typical spans, so recycled records never grow.
const TEXT_CAPACITY: usize = 256;
/// Tags a new record reserves.
const TAGS_CAPACITY: usize = 8;
/// Batches the shared queue keeps.
const MAX_BATCHES: usize = 32;

type Batch = Vec<Box<SpanData>>;

fn shared() -> &'static ArrayQueue<Batch> {
    static QUEUE: OnceLock<ArrayQueue<Batch>> = OnceLock::new();
    QUEUE.get_or_init(|| ArrayQueue::new(MAX_BATCHES))
}

thread_local! {
    static LOCAL: RefCell<Batch> = const { RefCell::new(Vec::new()) };
}

/// A cleared span record: recycled when one is at hand, else new.
pub(crate) fn take() -> Box<SpanData> {
    LOCAL
        .try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            if local.is_empty() {
                *local = shared().pop()?;
            }
            local.pop()
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Box::new(SpanData::blank(TEXT_CAPACITY, TAGS_CAPACITY)))
}

/// Keeps records the app's thread could not hand off (a full queue) in its own cache instead of
/// freeing them.
pub(crate) fn keep_local(spans: impl IntoIterator<Item = Box<SpanData>>) {
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut() {
            for mut span in spans {
                if local.len() < 2 * BATCH && span.fields.reset() {
                    local.push(span);
                }
            }
        }
    });
}

/// Collects released span records on the worker and hands them back in batches.
#[derive(Default)]
pub(crate) struct Recycler {
    batch: Batch,
}

impl Recycler {
    /// Clears `spans` and keeps them for reuse (or frees them when enough are kept).
    pub(crate) fn release(&mut self, spans: impl IntoIterator<Item = Box<SpanData>>) {
        for mut span in spans {
            if !span.fields.reset() {
                continue; // too big to keep
            }
            if self.batch.capacity() == 0 {
                self.batch.reserve_exact(BATCH);
            }
            self.batch.push(span);
            if self.batch.len() == BATCH {
                // A full queue means enough are kept already: drop the batch.
                let _ = shared().push(std::mem::take(&mut self.batch));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_records_come_back_cleared() {
        let mut recycler = Recycler::default();
        let spans: Vec<Box<SpanData>> = (0..BATCH)
            .map(|_| {
                let mut s = take();
                s.fields.set_str("k", "some text");
                s.fields.error = true;
                s
            })
            .collect();
        recycler.release(spans);
        // Another thread takes the batch and gets cleared records with their buffers.
        let reused = std::thread::spawn(|| {
            let s = take();
            (
                s.fields.tags().count(),
                s.fields.error,
                s.fields.text_capacity(),
            )
        })
        .join()
        .unwrap();
        assert_eq!(reused.0, 0);
        assert!(!reused.1);
        assert!(reused.2 >= "some text".len());
    }
}
