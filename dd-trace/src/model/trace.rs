//! One trace as this process sees it: its fixed parts, its changeable context, and its
//! finished spans.
//!
//! In: span starts and closes from the layer (app threads), context changes from the span write
//! API (app threads). Out: a [`Chunk`] of finished spans when the trace's last open span closes
//! (or it buffers its flush threshold of finished spans), handed to the export queue; and, on
//! the worker, the trace's context once per chunk, which the processing stage turns into the
//! chunk's trace-level tags.
//!
//! Locking: the open-span count is atomic. Each trace has two locks of its own, never one shared
//! across traces: `finished` (taken once per span close) and `context` (taken when the context
//! is read or changed: ids for log correlation, links, sampling, and once per chunk by the
//! worker). Neither lock is held while the other is taken.

use std::mem;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::decision::SamplingDecision;
use super::id::TraceId;
use super::span::{ParentService, SpanData, TagList};

/// Everything about a trace that can change after it started, and most of what crosses process
/// boundaries with it: its id (a local root may adopt a remote parent), its sampling decision
/// and whether that is locked, and what propagation brings or adds ([`Propagated`]).
#[derive(Debug)]
pub(crate) struct TraceContext {
    pub(crate) trace_id: TraceId,
    pub(crate) sampling: SamplingDecision,
    /// Set at the first injection of the context: the decision may no longer change (nor may
    /// it once the local root has finished, see [`LocalTrace::decision_locked`]).
    pub(crate) locked: bool,
    /// Allocated only for traces that have any, so a plain local trace stays small.
    pub(crate) propagated: Option<Box<Propagated>>,
}

/// What a trace carries across process boundaries besides its id and decision.
#[derive(Debug, Default)]
pub(crate) struct Propagated {
    /// `_dd.origin` (`synthetics`, `rum`, …), written on every span.
    pub(crate) origin: Option<String>,
    /// Propagated `_dd.p.*` tags from upstream or set locally, other than those derived from a
    /// local decision and the id (`_dd.p.dm`, a local `_dd.p.ksr`, `_dd.p.tid`); an upstream
    /// `_dd.p.ksr` stays here while the upstream decision is kept.
    pub(crate) tags: TagList,
    /// Other vendors' W3C `tracestate` list-members, forwarded unchanged.
    pub(crate) tracestate: Option<String>,
    /// W3C baggage items.
    pub(crate) baggage: Vec<(String, String)>,
    /// `_dd.parent_id` for the local root: the last Datadog span before a W3C-only hop.
    pub(crate) dd_parent_id: Option<String>,
    /// `_dd.propagation_error` for the local root.
    pub(crate) propagation_error: Option<String>,
}

impl TraceContext {
    pub(crate) fn new(trace_id: TraceId, sampling: SamplingDecision) -> Self {
        TraceContext {
            trace_id,
            sampling,
            locked: false,
            propagated: None,
        }
    }

    /// The propagated part, created on first use.
    pub(crate) fn propagated_mut(&mut self) -> &mut Propagated {
        self.propagated.get_or_insert_with(Box::default)
    }
}

/// What all spans of one trace in this process share.
#[derive(Debug)]
pub(crate) struct LocalTrace {
    /// The span id of this process's root span of the trace.
    local_root_span_id: u64,
    open: AtomicU32,
    /// The local root has finished (kept outside `context` so closing the root takes no lock).
    root_finished: AtomicBool,
    finished: Mutex<Spans>,
    context: Mutex<TraceContext>,
}

impl LocalTrace {
    /// A new trace whose local root is `root_span_id`; the root counts as open.
    pub(crate) fn new(root_span_id: u64, context: TraceContext) -> Self {
        LocalTrace {
            local_root_span_id: root_span_id,
            open: AtomicU32::new(1),
            root_finished: AtomicBool::new(false),
            finished: Mutex::new(Spans::new()),
            context: Mutex::new(context),
        }
    }

    /// Makes a recycled trace new (see `handoff::pool`); `finished` is already empty. Once per
    /// trace, on the app's thread.
    #[inline]
    pub(crate) fn reset(
        &mut self,
        root_span_id: u64,
        trace_id: TraceId,
        sampling: SamplingDecision,
    ) {
        self.local_root_span_id = root_span_id;
        *self.open.get_mut() = 1;
        *self.root_finished.get_mut() = false;
        self.finished
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        *self
            .context
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = TraceContext::new(trace_id, sampling);
    }

    pub(crate) fn local_root_span_id(&self) -> u64 {
        self.local_root_span_id
    }

    /// The trace's changeable context, locked. Hold it briefly and never across a call that
    /// could reach the layer.
    pub(crate) fn context(&self) -> MutexGuard<'_, TraceContext> {
        self.context.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the sampling decision in `context` (this trace's, locked) may no longer change:
    /// the context was injected, or the local root has finished.
    pub(crate) fn decision_locked(&self, context: &TraceContext) -> bool {
        context.locked || self.root_finished.load(Ordering::Acquire)
    }

    /// The trace's id (read under the context lock: a local root may adopt a remote one).
    pub(crate) fn trace_id(&self) -> TraceId {
        self.context().trace_id
    }

    /// Counts a new child span as open.
    #[cfg(test)]
    pub(crate) fn span_started(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a new child span as open, unless `max` spans are open already.
    pub(crate) fn try_span_started(&self, max: usize) -> bool {
        let before = self.open.fetch_add(1, Ordering::Relaxed);
        if before as usize >= max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Forgets a child counted by [`span_started`](Self::span_started) that will not be
    /// recorded after all.
    pub(crate) fn span_abandoned(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// Records a finished span. Returns the chunk to send when this was the trace's last open
    /// span, or when `flush_at` finished spans are waiting (a partial flush).
    pub(crate) fn span_finished(
        self: Arc<Self>,
        mut span: Box<SpanData>,
        end: Instant,
        flush_at: usize,
    ) -> Option<Chunk> {
        span.end = end;
        if span.span_id == self.local_root_span_id {
            self.root_finished.store(true, Ordering::Release);
        }
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        finished.push(span);
        // Decrement under the lock so that the last span sees every other span's push.
        let last = self.open.fetch_sub(1, Ordering::AcqRel) == 1;
        if !last && finished.len() < flush_at {
            return None;
        }
        let spans = mem::take(&mut *finished);
        drop(finished);
        Some(Chunk {
            trace: self,
            spans,
            partial: !last,
        })
    }
}

/// Local traces with open spans, counted against a limit: one atomic add at a trace's start
/// and one at its end (never per span), by the app's threads.
#[derive(Debug)]
pub(crate) struct OpenTraces {
    count: AtomicU64,
    max: u64,
}

impl OpenTraces {
    pub(crate) fn new(max: usize) -> Self {
        OpenTraces {
            count: AtomicU64::new(0),
            max: max as u64,
        }
    }

    /// Counts a new trace, unless the limit is reached.
    pub(crate) fn try_open(&self) -> bool {
        if self.count.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.count.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Counts a new trace whatever the limit.
    pub(crate) fn open(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// A trace counted by `try_open` or `open` has no open span left.
    pub(crate) fn close(&self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }

    /// Traces open now.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Finished spans of a trace; small traces need no allocation of their own.
pub(crate) type Spans = smallvec::SmallVec<[Box<SpanData>; 4]>;

/// Finished spans of one trace, sent together.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) trace: Arc<LocalTrace>,
    pub(crate) spans: Spans,
    /// More spans of this trace are still open.
    pub(crate) partial: bool,
}

impl Chunk {
    /// Gives each span without a service of its own its nearest ancestor's in the chunk (as
    /// Datadog's other tracers do), and points each span's view of its parent's service at
    /// what that parent ended with: a parent may set its service after its children started.
    /// A span whose parent is not in the chunk (a partial flush) keeps what it saw at its
    /// start. On the worker, once per chunk; nothing to do unless some span set a service.
    pub(crate) fn inherit_services(&mut self) {
        let spans = &mut self.spans;
        let any = spans.iter().any(|s| {
            s.fields.service.is_some() || matches!(s.parent_service, ParentService::Service(_))
        });
        if !any {
            return;
        }
        // Each span's effective service, resolved parents first (memoized; chains of spans
        // without a service of their own resolve once).
        let index: std::collections::HashMap<u64, usize> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id, i))
            .collect();
        let mut effective: Vec<Option<Option<String>>> = vec![None; spans.len()];
        for i in 0..spans.len() {
            resolve(i, spans, &index, &mut effective);
        }
        for (i, span) in spans.iter_mut().enumerate() {
            if let Some(&p) = index.get(&span.parent_id).filter(|&&p| p != i) {
                span.parent_service = match effective[p].clone().flatten() {
                    Some(service) => ParentService::Service(service.into()),
                    None => ParentService::DefaultService,
                };
            }
            if span.fields.service.is_none() {
                if let Some(service) = effective[i].clone().flatten() {
                    span.fields.service = Some(span.fields.tags.push_str(&service));
                }
            }
        }
    }
}

/// Fills `effective[i]`: the service span `i` ends up with, its own, else its parent's in the
/// chunk, else the parent's it saw at its start (`None`: the tracer's).
fn resolve(
    i: usize,
    spans: &Spans,
    index: &std::collections::HashMap<u64, usize>,
    effective: &mut [Option<Option<String>>],
) {
    // Walk up to the first span whose service is known, then fill the path back down.
    let mut path = Vec::new();
    let mut at = i;
    let found = loop {
        if let Some(known) = &effective[at] {
            break known.clone();
        }
        let span = &spans[at];
        if let Some(own) = span.service() {
            break Some(own.to_string());
        }
        path.push(at);
        match index.get(&span.parent_id) {
            // A cycle cannot happen between real spans; a self-parent is treated as the top.
            Some(&p) if p != at && !path.contains(&p) => at = p,
            _ => {
                break match &span.parent_service {
                    ParentService::Service(s) => Some(s.to_string()),
                    _ => None,
                }
            }
        }
    };
    if effective[at].is_none() && spans[at].service().is_some() {
        effective[at] = Some(found.clone());
    }
    for p in path {
        effective[p] = Some(found.clone());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::decision::{
        DecisionSource, Rate, MECHANISM_LOCAL_RULE, PRIORITY_USER_KEEP, PRIORITY_USER_REJECT,
    };
    use crate::model::span::tests::span;

    /// A trace whose local root is span 1, decided as a `DD_TRACE_SAMPLE_RATE` of `rate` (0 or
    /// 1) decides a trace the rate limiter lets through, or kept by default without a rate.
    pub(crate) fn trace(trace_id: TraceId, rate: Option<f64>) -> Arc<LocalTrace> {
        let sampling = match rate {
            None => SamplingDecision::DEFAULT_KEEP,
            Some(rate) => {
                assert!(
                    rate == 0.0 || rate == 1.0,
                    "rates between 0 and 1 depend on the id"
                );
                let keep = rate == 1.0;
                SamplingDecision {
                    priority: if keep {
                        PRIORITY_USER_KEEP
                    } else {
                        PRIORITY_USER_REJECT
                    },
                    mechanism: Some(MECHANISM_LOCAL_RULE),
                    rule_rate: Rate(rate),
                    // The limiter is asked only for traces the rule keeps.
                    limit_rate: if keep { Rate(1.0) } else { Rate::NONE },
                    agent_rate: Rate::NONE,
                    source: DecisionSource::Rule { index: 0 },
                }
            }
        };
        Arc::new(LocalTrace::new(1, TraceContext::new(trace_id, sampling)))
    }

    #[test]
    fn chunk_leaves_when_the_last_open_span_closes_in_any_order() {
        let t = trace(TraceId::from_parts(1, 2), None);
        t.span_started(); // child 2
        t.span_started(); // child 3
        let now = Instant::now();
        // The root closes first: children may outlive it.
        assert!(t
            .clone()
            .span_finished(span(1, 0), now, usize::MAX)
            .is_none());
        assert!(
            t.decision_locked(&t.context()),
            "the root's end locks the decision"
        );
        assert!(t
            .clone()
            .span_finished(span(2, 1), now, usize::MAX)
            .is_none());
        let chunk = t
            .clone()
            .span_finished(span(3, 1), now, usize::MAX)
            .unwrap();
        assert!(!chunk.partial);
        let ids: Vec<u64> = chunk.spans.iter().map(|s| s.span_id).collect();
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn partial_chunks_leave_at_the_threshold() {
        let t = trace(TraceId::from_parts(1, 2), None);
        for _ in 0..4 {
            t.span_started();
        }
        let now = Instant::now();
        assert!(t.clone().span_finished(span(2, 1), now, 2).is_none());
        let c = t.clone().span_finished(span(3, 1), now, 2).unwrap();
        assert!(c.partial);
        assert_eq!(c.spans.len(), 2);
        assert!(!t.decision_locked(&t.context()));
        assert!(t.clone().span_finished(span(4, 1), now, 2).is_none());
        let c = t.clone().span_finished(span(5, 1), now, 2).unwrap();
        assert!(c.partial);
        let c = t.clone().span_finished(span(1, 0), now, 2).unwrap();
        assert!(!c.partial);
        assert_eq!(c.spans.len(), 1);
    }

    #[test]
    fn a_plain_local_trace_stays_small() {
        // Recycled and reset on the app's threads for every trace: keep it to a few lines.
        assert!(
            std::mem::size_of::<LocalTrace>() <= 144,
            "{}",
            std::mem::size_of::<LocalTrace>()
        );
    }
}
