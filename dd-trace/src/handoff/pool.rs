//! Recycling of span records and local traces between the worker and the app's threads.
//!
//! In: records and traces the worker is done with (after encoding), and ones an app thread
//! could not hand off. Out: cleared records and traces for the layer to fill, on the app's
//! threads. Span records and local traces are allocated on the app's threads and released by the worker
//! after encoding. Freeing them there would make every span cost a cross-thread `free` (which
//! contends on the allocator's locks with the app's own allocations); instead the worker clears
//! them, keeping their buffers, and hands them back in batches. An app thread takes a whole
//! batch at once into a thread-local cache, so the shared queues are touched once per [`BATCH`]
//! objects. Memory stays bounded: each shared queue holds at most [`MAX_BATCHES`] batches, a
//! thread keeps at most two batches, oversized buffers are not kept, and anything beyond is
//! simply freed.

// Records stay boxed in these vectors on purpose: each one moves into a span's extensions and
// back as a pointer, never as a copy of the record.
#![allow(clippy::vec_box)]

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::thread::LocalKey;

use crossbeam_queue::ArrayQueue;

use crate::model::decision::SamplingDecision;
use crate::model::id::TraceId;
use crate::model::span::SpanData;
use crate::model::trace::{Chunk, LocalTrace, TraceContext};

/// Objects per batch handed back by the worker.
const BATCH: usize = 64;
/// Text bytes a new record reserves: enough for typical spans, so recycled records never grow.
const TEXT_CAPACITY: usize = 256;
/// Tags a new record reserves.
const TAGS_CAPACITY: usize = 8;
/// Batches each shared queue keeps.
const MAX_BATCHES: usize = 64;

/// A process-wide pool of `T`, fed in batches by the worker.
struct Pool<T: 'static> {
    shared: OnceLock<ArrayQueue<Vec<T>>>,
    local: &'static LocalKey<RefCell<Vec<T>>>,
}

impl<T> Pool<T> {
    fn shared(&self) -> &ArrayQueue<Vec<T>> {
        self.shared.get_or_init(|| ArrayQueue::new(MAX_BATCHES))
    }

    /// A recycled object from this thread's cache, refilled from the shared queue when empty.
    fn take(&'static self) -> Option<T> {
        self.local
            .try_with(|local| {
                let mut local = local.try_borrow_mut().ok()?;
                if local.is_empty() {
                    *local = self.shared().pop()?;
                }
                local.pop()
            })
            .ok()
            .flatten()
    }

    /// Keeps `item` in this thread's cache if there is room.
    fn keep_local(&'static self, item: T) {
        let _ = self.local.try_with(|local| {
            if let Ok(mut local) = local.try_borrow_mut() {
                if local.len() < 2 * BATCH {
                    local.push(item);
                }
            }
        });
    }

    /// Adds `item` to the worker's `batch`, handing the batch over once full (a full shared
    /// queue means enough are kept already: the batch is freed).
    fn give(&'static self, batch: &mut Vec<T>, item: T) {
        if batch.capacity() == 0 {
            batch.reserve_exact(BATCH);
        }
        batch.push(item);
        if batch.len() == BATCH {
            let _ = self.shared().push(std::mem::take(batch));
        }
    }
}

/// A pool of span records and one of local traces.
struct Pools {
    spans: Pool<Box<SpanData>>,
    traces: Pool<Arc<LocalTrace>>,
}

thread_local! {
    static LOCAL_SPANS: RefCell<Vec<Box<SpanData>>> = const { RefCell::new(Vec::new()) };
    static LOCAL_TRACES: RefCell<Vec<Arc<LocalTrace>>> = const { RefCell::new(Vec::new()) };
}

/// The process-wide pools every tracer shares.
static GLOBAL: Pools = Pools {
    spans: Pool {
        shared: OnceLock::new(),
        local: &LOCAL_SPANS,
    },
    traces: Pool {
        shared: OnceLock::new(),
        local: &LOCAL_TRACES,
    },
};

impl Pools {
    fn take_span(&'static self) -> Box<SpanData> {
        self.spans
            .take()
            .unwrap_or_else(|| Box::new(SpanData::blank(TEXT_CAPACITY, TAGS_CAPACITY)))
    }

    fn new_trace(
        &'static self,
        root_span_id: u64,
        trace_id: TraceId,
        sampling: SamplingDecision,
    ) -> Arc<LocalTrace> {
        if let Some(mut trace) = self.traces.take() {
            // Only uniquely held traces are pooled, so this always succeeds.
            if let Some(state) = Arc::get_mut(&mut trace) {
                state.reset(root_span_id, trace_id, sampling);
                return trace;
            }
        }
        Arc::new(LocalTrace::new(
            root_span_id,
            TraceContext::new(trace_id, sampling),
        ))
    }
}

/// A cleared span record: recycled when one is at hand, else new.
pub(crate) fn take_span() -> Box<SpanData> {
    GLOBAL.take_span()
}

/// A new trace whose local root is `root_span_id`.
pub(crate) fn new_trace(
    root_span_id: u64,
    trace_id: TraceId,
    sampling: SamplingDecision,
) -> Arc<LocalTrace> {
    GLOBAL.new_trace(root_span_id, trace_id, sampling)
}

/// Keeps a record the layer took but did not use in this thread's cache.
pub(crate) fn keep_span(mut span: Box<SpanData>) {
    if span.fields.reset() {
        GLOBAL.spans.keep_local(span);
    }
}

/// Keeps the parts of a chunk the app's thread could not hand off (a full queue) in its own
/// cache instead of freeing them.
pub(crate) fn keep_local(chunk: Chunk) {
    let Chunk {
        mut trace, spans, ..
    } = chunk;
    for span in spans {
        keep_span(span);
    }
    if Arc::get_mut(&mut trace).is_some() {
        GLOBAL.traces.keep_local(trace);
    }
}

/// Collects what the worker is done with and hands it back in batches.
pub(crate) struct Recycler {
    spans: Vec<Box<SpanData>>,
    traces: Vec<Arc<LocalTrace>>,
    pools: &'static Pools,
}

impl Default for Recycler {
    fn default() -> Self {
        Recycler {
            spans: Vec::new(),
            traces: Vec::new(),
            pools: &GLOBAL,
        }
    }
}

impl Recycler {
    /// Clears an encoded chunk's span records (and its local trace, once no span of the trace
    /// is left) and keeps them for reuse.
    pub(crate) fn release(&mut self, chunk: Chunk) {
        let Chunk {
            mut trace, spans, ..
        } = chunk;
        for mut span in spans {
            if span.fields.reset() {
                self.pools.spans.give(&mut self.spans, span);
            }
        }
        if Arc::get_mut(&mut trace).is_some() {
            self.pools.traces.give(&mut self.traces, trace);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static TEST_SPANS: RefCell<Vec<Box<SpanData>>> = const { RefCell::new(Vec::new()) };
        static TEST_TRACES: RefCell<Vec<Arc<LocalTrace>>> = const { RefCell::new(Vec::new()) };
    }

    /// Pools of this test's own: other tests' tracers share the global ones and could take
    /// its batches.
    static TEST_POOLS: Pools = Pools {
        spans: Pool {
            shared: OnceLock::new(),
            local: &TEST_SPANS,
        },
        traces: Pool {
            shared: OnceLock::new(),
            local: &TEST_TRACES,
        },
    };

    #[test]
    fn released_records_and_traces_come_back_cleared() {
        let mut recycler = Recycler {
            pools: &TEST_POOLS,
            ..Recycler::default()
        };
        let sampling = crate::model::decision::SamplingDecision::DEFAULT_KEEP;
        let mut released_spans = Vec::new();
        let mut released_traces = Vec::new();
        for i in 0..BATCH as u64 {
            let trace = TEST_POOLS.new_trace(1, TraceId::from_parts(0, i + 1), sampling);
            let mut s = TEST_POOLS.take_span();
            s.span_id = 1;
            s.fields.tags.set_str("k", "some text");
            s.fields.error = true;
            released_spans.push(&*s as *const SpanData as usize);
            released_traces.push(Arc::as_ptr(&trace) as usize);
            let chunk = trace.span_finished(s, std::time::Instant::now(), usize::MAX);
            recycler.release(chunk.expect("the only span closed"));
        }
        // Another thread takes the batches and gets cleared objects, buffers kept.
        let reused = std::thread::spawn(move || {
            let s = TEST_POOLS.take_span();
            let t = TEST_POOLS.new_trace(5, TraceId::from_parts(0, 999), sampling);
            (
                s.fields.tags.len(),
                s.fields.error,
                s.fields.tags.text_capacity(),
                t.trace_id(),
                t.local_root_span_id(),
                Arc::strong_count(&t),
                &*s as *const SpanData as usize,
                Arc::as_ptr(&t) as usize,
            )
        })
        .join()
        .unwrap();
        assert!(
            released_spans.contains(&reused.6),
            "the record was recycled"
        );
        assert!(
            released_traces.contains(&reused.7),
            "the trace state was recycled"
        );
        assert_eq!(reused.0, 0);
        assert!(!reused.1);
        assert!(reused.2 >= "some text".len());
        assert_eq!(reused.3, TraceId::from_parts(0, 999));
        assert_eq!(reused.4, 5);
        assert_eq!(reused.5, 1);
    }

    #[test]
    fn a_trace_still_referenced_is_not_recycled() {
        let sampling = crate::model::decision::SamplingDecision::DEFAULT_KEEP;
        let trace = Arc::new(LocalTrace::new(
            1,
            TraceContext::new(TraceId::from_parts(0, 1), sampling),
        ));
        trace.span_started();
        let mut record = Box::new(SpanData::blank(0, 0));
        record.span_id = 2;
        let partial = Arc::clone(&trace)
            .span_finished(record, std::time::Instant::now(), 1)
            .expect("a partial chunk at the threshold");
        assert!(partial.partial);
        let mut recycler = Recycler::default();
        recycler.release(partial);
        assert!(recycler.traces.is_empty(), "open spans still use it");
        assert_eq!(recycler.spans.len(), 1);
    }
}
