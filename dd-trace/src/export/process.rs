//! PROCESS: the stage between the queue and the encoder, on the worker thread.
//!
//! In: each chunk the worker drains from the queue. Out: the chunk (its local root first, when
//! it holds it), its spans tagged by the span sampling rules when its trace was dropped, and
//! the trace-level tags its spans carry, frozen
//! from the trace's context (one lock of that trace per chunk) so the encoder never locks
//! anything. The worker's drain then counts the chunk in the client-side stats, when they are
//! on, and keeps only the span-sampled spans of an unsampled chunk without an error.

use crate::model::trace::{Chunk, TraceLevelTags};
use crate::sampling::{Sampler, SpanSampler};

/// The processing stage's state, owned by the worker.
#[derive(Debug)]
pub(crate) struct Processor {
    span_sampler: SpanSampler,
    /// Reused for every chunk.
    trace_tags: TraceLevelTags,
}

impl Default for Processor {
    fn default() -> Self {
        Processor::new(SpanSampler::new(Vec::new()))
    }
}

impl Processor {
    pub(crate) fn new(span_sampler: SpanSampler) -> Self {
        Processor {
            span_sampler,
            trace_tags: TraceLevelTags::default(),
        }
    }

    /// Processes `chunk`: applies the span rules if its trace is dropped, and returns the
    /// trace-level tags to encode it with. `sampler` provides what span rules match besides
    /// the span (the tracer's service and tags).
    pub(crate) fn process(&mut self, chunk: &mut Chunk, sampler: &Sampler) -> &TraceLevelTags {
        // The chunk's root goes first: it carries the trace-level tags, as in Datadog's other
        // tracers (the first span of a payload's chunk is where readers look for them).
        let root = chunk.trace.local_root_span_id();
        if let Some(i) = chunk.spans.iter().position(|s| s.span_id == root) {
            chunk.spans.swap(0, i);
        }
        chunk
            .trace
            .context()
            .write_trace_level_tags(&mut self.trace_tags);
        if self.trace_tags.priority <= 0 && !self.span_sampler.is_empty() {
            for span in chunk.spans.iter_mut() {
                self.span_sampler
                    .sample(span, sampler.default_service(), sampler.tracer_tags());
            }
        }
        &self.trace_tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::id::TraceId;
    use crate::model::span::TagRef;

    #[test]
    fn each_chunk_gets_the_tags_of_its_own_trace() {
        let mut p = Processor::default();
        let sampler = Sampler::with_rate(None);
        let chunk = |rate| Chunk {
            trace: crate::model::trace::tests::trace(TraceId::from_parts(0, 5), rate),
            spans: Default::default(),
            partial: false,
        };
        let (mut kept, mut default) = (chunk(Some(1.0)), chunk(None));
        assert_eq!(p.process(&mut kept, &sampler).priority, 2);
        let tags = p.process(&mut default, &sampler);
        assert_eq!(tags.priority, 1);
        assert_eq!(tags.chunk.get("_dd.p.ksr"), None);
        assert_eq!(tags.chunk.get("_dd.p.dm"), Some(TagRef::Str("-0")));
    }
}
