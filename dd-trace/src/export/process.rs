//! PROCESS: the stage between the queue and the encoder, on the worker thread.
//!
//! In: each chunk the worker drains from the queue. Out: the chunk (its local root first, when
//! it holds it), its spans tagged by the span sampling rules when its trace was dropped, and
//! the trace-level tags its spans carry, frozen
//! from the trace's context (one lock of that trace per chunk) so the encoder never locks
//! anything. The worker's drain then counts the chunk in the client-side stats, when they are
//! on, and keeps only the span-sampled spans of an unsampled chunk without an error.

use crate::encode::TraceLevelTags;
use crate::model::decision::SamplingDecision;
use crate::model::span::{TagList, TagRef};
use crate::model::trace::{Chunk, TraceContext};
use crate::sampling::SpanSampler;

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
    /// trace-level tags to encode it with. Span rules match the span, else the tracer's
    /// `service` and `tracer_tags` (`env`, `version`, `DD_TAGS`).
    pub(crate) fn process(
        &mut self,
        chunk: &mut Chunk,
        service: &str,
        tracer_tags: &[(String, String)],
    ) -> &TraceLevelTags {
        // The chunk's root goes first: it carries the trace-level tags, as in Datadog's other
        // tracers (the first span of a payload's chunk is where readers look for them).
        let root = chunk.trace.local_root_span_id();
        if let Some(i) = chunk.spans.iter().position(|s| s.span_id == root) {
            chunk.spans.swap(0, i);
        }
        freeze_trace_tags(&chunk.trace.context(), &mut self.trace_tags);
        if self.trace_tags.priority <= 0 && !self.span_sampler.is_empty() {
            for span in chunk.spans.iter_mut() {
                self.span_sampler.sample(span, service, tracer_tags);
            }
        }
        &self.trace_tags
    }
}

/// Writes the trace-level tags a chunk of the trace whose context is `context` carries into
/// `out` (cleared first): the propagated `_dd.p.*` tags, `_dd.p.tid`, the origin, what the
/// local root records of the upstream (`_dd.parent_id`, `_dd.propagation_error`), and the
/// sampling decision's tags.
pub(crate) fn freeze_trace_tags(context: &TraceContext, out: &mut TraceLevelTags) {
    out.clear();
    out.trace_id = context.trace_id;
    out.priority = context.sampling.priority;
    if let Some(p) = &context.propagated {
        for (key, value) in p.tags.iter() {
            if let TagRef::Str(v) = value {
                out.chunk.set_str(key.to_string(), v);
            }
        }
        if let Some(origin) = &p.origin {
            out.every_span.set_str("_dd.origin", origin);
        }
        if let Some(id) = &p.dd_parent_id {
            out.root.set_str("_dd.parent_id", id);
        }
        if let Some(error) = &p.propagation_error {
            out.root.set_str("_dd.propagation_error", error);
        }
    }
    if context.trace_id.high() != 0 {
        out.chunk.set_fmt(
            "_dd.p.tid",
            format_args!("{:016x}", context.trace_id.high()),
        );
    }
    write_decision_tags(&context.sampling, &mut out.chunk, &mut out.root);
}

/// Writes a decision's tags: `_sampling_priority_v1`, `_dd.p.dm` (while the priority is
/// positive) and `_dd.p.ksr` for the first span of every chunk; `_sampling_priority_v1` and the
/// deciding rates (`_dd.rule_psr`, `_dd.limit_psr`, `_dd.agent_psr`) for the local root.
pub(crate) fn write_decision_tags(
    decision: &SamplingDecision,
    chunk: &mut TagList,
    root: &mut TagList,
) {
    let priority = f64::from(decision.priority);
    chunk.set_num("_sampling_priority_v1", priority);
    root.set_num("_sampling_priority_v1", priority);
    decision.for_each_propagated_tag(|key, value| chunk.set_fmt(key, value));
    for (key, rate) in [
        ("_dd.rule_psr", decision.rule_rate),
        ("_dd.limit_psr", decision.limit_rate),
        ("_dd.agent_psr", decision.agent_rate),
    ] {
        if let Some(rate) = rate.get() {
            root.set_num(key, rate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decision::{DecisionSource, Rate, MECHANISM_LOCAL_RULE, PRIORITY_USER_KEEP};
    use crate::model::id::TraceId;

    #[test]
    fn each_chunk_gets_the_tags_of_its_own_trace() {
        let mut p = Processor::default();
        let chunk = |rate| Chunk {
            trace: crate::model::trace::tests::trace(TraceId::from_parts(0, 5), rate),
            spans: Default::default(),
            partial: false,
        };
        let (mut kept, mut default) = (chunk(Some(1.0)), chunk(None));
        assert_eq!(p.process(&mut kept, "svc", &[]).priority, 2);
        let tags = p.process(&mut default, "svc", &[]);
        assert_eq!(tags.priority, 1);
        assert_eq!(tags.chunk.get("_dd.p.ksr"), None);
        assert_eq!(tags.chunk.get("_dd.p.dm"), Some(TagRef::Str("-0")));
    }

    #[test]
    fn trace_level_tags_come_from_the_context() {
        let t = crate::model::trace::tests::trace(
            TraceId::from_parts(0x6638_b0e8_0000_0000, 7),
            Some(1.0),
        );
        {
            let mut ctx = t.context();
            let p = ctx.propagated_mut();
            p.origin = Some("synthetics".into());
            p.tags.set_str("_dd.p.usr.id", "dXNlcg==");
        }
        let mut tags = TraceLevelTags::default();
        freeze_trace_tags(&t.context(), &mut tags);
        let chunk: Vec<_> = tags.chunk.iter().collect();
        assert_eq!(
            chunk,
            [
                ("_dd.p.usr.id", TagRef::Str("dXNlcg==")),
                ("_dd.p.tid", TagRef::Str("6638b0e800000000")),
                ("_sampling_priority_v1", TagRef::Num(2.0)),
                ("_dd.p.dm", TagRef::Str("-3")),
                ("_dd.p.ksr", TagRef::Str("1")),
            ]
        );
        let root: Vec<_> = tags.root.iter().collect();
        assert_eq!(
            root,
            [
                ("_sampling_priority_v1", TagRef::Num(2.0)),
                ("_dd.rule_psr", TagRef::Num(1.0)),
                ("_dd.limit_psr", TagRef::Num(1.0)),
            ]
        );
        assert_eq!(tags.trace_id, TraceId::from_parts(0x6638_b0e8_0000_0000, 7));
        assert_eq!(
            tags.every_span.get("_dd.origin"),
            Some(TagRef::Str("synthetics"))
        );
        assert_eq!(tags.priority, 2);

        // A 64-bit id has no `_dd.p.tid`; refilling clears what was there.
        let t = crate::model::trace::tests::trace(TraceId::from_parts(0, 7), None);
        freeze_trace_tags(&t.context(), &mut tags);
        assert_eq!(tags.chunk.get("_dd.p.tid"), None);
        assert_eq!(tags.chunk.get("_dd.p.dm"), Some(TagRef::Str("-0")));
        assert!(tags.every_span.is_empty());
        assert_eq!(tags.root.len(), 1, "the priority only");
    }

    #[test]
    fn decisions_write_the_spec_tags() {
        let mut chunk = TagList::default();
        let mut root_tags = TagList::default();
        let d = SamplingDecision {
            priority: PRIORITY_USER_KEEP,
            mechanism: Some(MECHANISM_LOCAL_RULE),
            rule_rate: Rate(0.5),
            limit_rate: Rate(0.75),
            agent_rate: Rate::NONE,
            source: DecisionSource::Rule { index: 0 },
        };
        write_decision_tags(&d, &mut chunk, &mut root_tags);
        assert_eq!(
            chunk.iter().collect::<Vec<_>>(),
            [
                ("_sampling_priority_v1", TagRef::Num(2.0)),
                ("_dd.p.dm", TagRef::Str("-3")),
                ("_dd.p.ksr", TagRef::Str("0.5")),
            ]
        );
        assert_eq!(
            root_tags.iter().collect::<Vec<_>>(),
            [
                ("_sampling_priority_v1", TagRef::Num(2.0)),
                ("_dd.rule_psr", TagRef::Num(0.5)),
                ("_dd.limit_psr", TagRef::Num(0.75)),
            ]
        );
        let (mut chunk, mut root_tags) = (TagList::default(), TagList::default());
        write_decision_tags(&SamplingDecision::manual(false), &mut chunk, &mut root_tags);
        assert_eq!(chunk.get("_sampling_priority_v1"), Some(TagRef::Num(-1.0)));
        assert_eq!(
            chunk.get("_dd.p.dm"),
            None,
            "no decision maker while dropped"
        );
        assert_eq!(root_tags.len(), 1);
        let (mut chunk, mut root_tags) = (TagList::default(), TagList::default());
        write_decision_tags(&SamplingDecision::manual(true), &mut chunk, &mut root_tags);
        assert_eq!(chunk.get("_dd.p.dm"), Some(TagRef::Str("-4")));
    }
}
