//! PROCESS: the stage between the queue and the encoder, on the worker thread.
//!
//! In: each chunk the worker drains from the queue. Out: what to do with it, and the
//! trace-level tags its spans carry, frozen from the trace's context (one lock of that trace per
//! chunk) so the encoder never locks anything. Client-side stats, dropping P0 chunks and
//! single-span sampling belong here; today every chunk is sent.

use crate::model::trace::{Chunk, TraceLevelTags};

/// The processing stage's state, owned by the worker.
#[derive(Debug, Default)]
pub(crate) struct Processor {
    /// Reused for every chunk.
    trace_tags: TraceLevelTags,
}

impl Processor {
    /// Processes `chunk`: returns the trace-level tags to encode it with.
    pub(crate) fn process(&mut self, chunk: &Chunk) -> &TraceLevelTags {
        chunk
            .trace
            .context()
            .write_trace_level_tags(&mut self.trace_tags);
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
        let chunk = |rate| Chunk {
            trace: crate::model::trace::tests::trace(TraceId::from_parts(0, 5), rate),
            spans: Default::default(),
            partial: false,
        };
        let (kept, default) = (chunk(Some(1.0)), chunk(None));
        assert_eq!(p.process(&kept).priority, 2);
        let tags = p.process(&default);
        assert_eq!(tags.priority, 1);
        assert_eq!(tags.chunk.get("_dd.p.ksr"), None);
        assert_eq!(tags.chunk.get("_dd.p.dm"), Some(TagRef::Str("-0")));
    }
}
