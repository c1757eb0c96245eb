//! PROCESS: the stage between the queue and the encoder, on the worker thread.
//!
//! In: each chunk the worker drains from the queue. Out: what of it to encode, and with which
//! trace-level tags: its spans rewritten by the conventions (OpenTelemetry-style spans named,
//! typed and marked; URLs' query strings obfuscated), each span without a service of its own
//! given its nearest ancestor's; its local root first (when it holds it); the trace-level tags frozen from
//! the trace's context (one lock of that trace per chunk, so the encoder never locks anything);
//! its spans tagged by the span sampling rules when its trace was dropped; counted in the
//! client-side stats when they are on (feature `client-stats`, and the agent lets tracers
//! drop what they counted), and then, for an unsampled chunk without an error, only its
//! span-sampled spans (or nothing) left to send, the others counted and recycled.

use std::sync::Arc;

#[cfg(feature = "client-stats")]
use bytes::Bytes;

use crate::conventions::Conventions;
use crate::encode::TraceLevelTags;
use crate::handoff::pool::Recycler;
use crate::health::{AgentInfo, Counters};
use crate::identity::Identity;
use crate::model::clock::WallClock;
use crate::model::decision::SamplingDecision;
use crate::model::span::{TagList, TagRef};
use crate::model::trace::{Chunk, Spans, TraceContext};
use crate::sampling::SpanSampler;

/// What span rules match besides the span: the tracer's service and its tags (`env`,
/// `version`, `DD_TAGS`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TracerSubject<'a> {
    pub(crate) service: &'a str,
    pub(crate) tags: &'a [(String, String)],
}

/// The client-side stats, when the build has them.
#[cfg(feature = "client-stats")]
type ClientStats = super::stats::Concentrator;
/// The client-side stats, when the build has them: never, in this one.
#[cfg(not(feature = "client-stats"))]
type ClientStats = std::convert::Infallible;

/// The processing stage's state, owned by the worker.
pub(crate) struct Processor {
    /// Names, types and errors of spans written with OpenTelemetry's conventions; URLs'
    /// query strings obfuscated.
    conventions: Conventions,
    span_sampler: SpanSampler,
    /// Reused for every chunk.
    trace_tags: TraceLevelTags,
    /// The stats concentrator, when stats are configured.
    #[cfg_attr(not(feature = "client-stats"), allow(dead_code))]
    stats: Option<ClientStats>,
    /// Stats are computed here and the agent lets unsampled chunks be dropped.
    drop_p0s: bool,
    /// Unsampled chunks and spans dropped since the last payload.
    dropped_p0: (u64, u64),
}

impl Default for Processor {
    fn default() -> Self {
        Processor::new(Conventions::default(), SpanSampler::new(Vec::new()), None)
    }
}

impl Processor {
    /// A processor applying `span_sampler`, and, when `compute_stats` (and the build has the
    /// `client-stats` feature), computing the stats of `identity`'s spans once the agent allows
    /// it.
    pub(crate) fn configured(
        conventions: Conventions,
        span_sampler: SpanSampler,
        compute_stats: bool,
        identity: &Arc<Identity>,
    ) -> Self {
        #[cfg(feature = "client-stats")]
        let stats = compute_stats.then(|| super::stats::Concentrator::new(Arc::clone(identity)));
        #[cfg(not(feature = "client-stats"))]
        let stats = {
            let _ = (compute_stats, identity);
            None
        };
        Processor::new(conventions, span_sampler, stats)
    }

    /// A processor applying `conventions` and `span_sampler`, and computing stats into `stats`
    /// once the agent allows it.
    fn new(
        conventions: Conventions,
        span_sampler: SpanSampler,
        stats: Option<ClientStats>,
    ) -> Self {
        Processor {
            conventions,
            span_sampler,
            trace_tags: TraceLevelTags::default(),
            stats,
            drop_p0s: false,
            dropped_p0: (0, 0),
        }
    }

    /// What the agent's `/info` says of client-side stats: they are computed (and unsampled
    /// chunks dropped) only where it lists `/v0.6/stats` and says `client_drop_p0s`; elsewhere
    /// it computes them itself from every chunk, which are all sent. Its peer tags group client
    /// spans.
    pub(crate) fn agent_says(&mut self, agent: &AgentInfo) {
        #[cfg(feature = "client-stats")]
        if let Some(stats) = &mut self.stats {
            self.drop_p0s = agent.client_drop_p0s
                && agent
                    .endpoints
                    .iter()
                    .any(|e| e == super::stats::STATS_PATH);
            stats.set_peer_tags(agent.peer_tags.clone());
        }
        #[cfg(not(feature = "client-stats"))]
        let _ = agent;
    }

    /// Processes `chunk`: the trace-level tags to encode what is left of it with, or `None`
    /// when nothing of it is left to send. Spans not sent are counted and go to `recycler`.
    pub(crate) fn process(
        &mut self,
        chunk: &mut Chunk,
        tracer: TracerSubject<'_>,
        clock: &WallClock,
        counters: &Counters,
        recycler: &mut Recycler,
    ) -> Option<&TraceLevelTags> {
        self.tag(chunk, tracer);
        #[cfg(feature = "client-stats")]
        if self.drop_p0s {
            if let Some(stats) = &mut self.stats {
                stats.add(chunk, &self.trace_tags, clock, tracer.service);
            }
        }
        #[cfg(not(feature = "client-stats"))]
        let _ = clock;
        if self.drop_p0s
            && self.trace_tags.priority <= 0
            && !chunk.spans.iter().any(|s| s.fields.error)
        {
            // Its stats are counted; only spans a span rule kept are sent.
            let (kept, dropped): (Spans, Spans) = std::mem::take(&mut chunk.spans)
                .into_iter()
                .partition(|s| s.fields.tags.get("_dd.span_sampling.mechanism").is_some());
            Counters::add(&counters.spans_dropped_p0, dropped.len() as u64);
            self.dropped_p0.1 += dropped.len() as u64;
            if kept.is_empty() {
                Counters::add(&counters.chunks_dropped_p0, 1);
                self.dropped_p0.0 += 1;
            }
            recycler.release(Chunk {
                trace: Arc::clone(&chunk.trace),
                spans: dropped,
                partial: chunk.partial,
            });
            chunk.spans = kept;
            if chunk.spans.is_empty() {
                return None;
            }
        }
        Some(&self.trace_tags)
    }

    /// Applies the conventions to `chunk`'s spans and their ancestors' services, puts its local
    /// root first, freezes its trace-level tags, and applies the span rules if its trace is
    /// dropped.
    pub(crate) fn tag(&mut self, chunk: &mut Chunk, tracer: TracerSubject<'_>) -> &TraceLevelTags {
        // First: span rules and stats see the names, types and errors the agent will.
        self.conventions.apply_chunk(&mut chunk.spans);
        chunk.inherit_services();
        // The chunk's root goes first: it carries the trace-level tags, as in Datadog's other
        // tracers (the first span of a payload's chunk is where readers look for them).
        let root = chunk.trace.local_root_span_id();
        if let Some(i) = chunk.spans.iter().position(|s| s.span_id == root) {
            chunk.spans.swap(0, i);
        }
        freeze_trace_tags(&chunk.trace.context(), &mut self.trace_tags);
        if self.trace_tags.priority <= 0 && !self.span_sampler.is_empty() {
            for span in chunk.spans.iter_mut() {
                self.span_sampler.sample(span, tracer.service, tracer.tags);
            }
        }
        &self.trace_tags
    }

    /// For the next payload's headers: `Some` of the unsampled chunks and spans dropped since
    /// the previous payload when stats are computed here (`Datadog-Client-Computed-Stats`).
    pub(crate) fn take_client_stats_headers(&mut self) -> Option<(u64, u64)> {
        self.drop_p0s.then(|| std::mem::take(&mut self.dropped_p0))
    }

    /// The stats buckets that ended (all of them, if `all`), as a `/v0.6/stats` body.
    #[cfg(feature = "client-stats")]
    pub(crate) fn take_stats(&mut self, all: bool) -> Option<Bytes> {
        self.stats
            .as_mut()?
            .flush(std::time::SystemTime::now(), all)
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
        out.chunk
            .set_str("_dd.p.tid", context.trace_id.high_hex(&mut [0; 16]));
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
    decision.for_each_propagated_tag(|key, value| chunk.set_str(key, value));
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

    const SUBJECT: TracerSubject<'static> = TracerSubject {
        service: "svc",
        tags: &[],
    };

    #[test]
    fn each_chunk_gets_the_tags_of_its_own_trace() {
        let mut p = Processor::default();
        let chunk = |rate| Chunk {
            trace: crate::model::trace::tests::trace(TraceId::from_parts(0, 5), rate),
            spans: Default::default(),
            partial: false,
        };
        let (mut kept, mut default) = (chunk(Some(1.0)), chunk(None));
        assert_eq!(p.tag(&mut kept, SUBJECT).priority, 2);
        let tags = p.tag(&mut default, SUBJECT);
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
