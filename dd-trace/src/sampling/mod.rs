//! SAMPLE: the trace-level sampling decision.
//!
//! In: a [`SamplingInput`] describing a new local root (its trace id, service, operation name,
//! resource and tags as recorded at creation), from the layer on the app's thread that creates
//! the root. Out: a [`SamplingDecision`] (priority, decision maker, rate) stored in the trace's
//! context, which the worker turns into tags. Today only `DD_TRACE_SAMPLE_RATE` is applied, as
//! the catch-all rule; every chunk is still sent and the agent drops what the priority says.
//! One decision per trace, no lock, no allocation.

use crate::model::id::TraceId;
use crate::model::span::{SpanData, TagList, TagRef};

/// Knuth's multiplicative hashing constant (spec §3.2).
pub(crate) const KNUTH_FACTOR: u64 = 1_111_111_111_111_111_111;

/// `USER_REJECT`: a rule dropped the trace.
pub(crate) const PRIORITY_USER_REJECT: i8 = -1;
/// `AUTO_KEEP`: kept by default or by agent rates.
pub(crate) const PRIORITY_AUTO_KEEP: i8 = 1;
/// `USER_KEEP`: a rule kept the trace.
pub(crate) const PRIORITY_USER_KEEP: i8 = 2;

/// Decision maker: no sampler ran.
pub(crate) const MECHANISM_DEFAULT: u8 = 0;
/// Decision maker: a local trace rule, including the `DD_TRACE_SAMPLE_RATE` catch-all.
pub(crate) const MECHANISM_LOCAL_RULE: u8 = 3;

/// The sampling decision of one trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SamplingDecision {
    /// `_sampling_priority_v1`.
    pub(crate) priority: i8,
    /// Decision maker, written as `_dd.p.dm = -<mechanism>` while the priority is positive.
    pub(crate) mechanism: u8,
    /// The rule's rate (`_dd.rule_psr`, `_dd.p.ksr`) when a rule decided.
    pub(crate) rule_rate: Option<f64>,
}

impl SamplingDecision {
    /// Writes the decision's tags: `_sampling_priority_v1`, `_dd.p.dm` and `_dd.p.ksr` for the
    /// first span of every chunk; `_sampling_priority_v1` and `_dd.rule_psr` for the local root.
    pub(crate) fn write_tags(&self, chunk: &mut TagList, root: &mut TagList) {
        let priority = f64::from(self.priority);
        chunk.set_num("_sampling_priority_v1", priority);
        root.set_num("_sampling_priority_v1", priority);
        if self.priority > 0 {
            chunk.set_fmt("_dd.p.dm", format_args!("-{}", self.mechanism));
        }
        if let Some(rate) = self.rule_rate {
            chunk.set_str("_dd.p.ksr", &format_rate(rate));
            root.set_num("_dd.rule_psr", rate);
        }
    }
}

/// What the sampler knows about a new trace: its local root as recorded at creation. Each
/// property is read from the root's record on demand, so a sampler that needs only the id pays
/// for nothing else.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SamplingInput<'a> {
    pub(crate) trace_id: TraceId,
    root: &'a SpanData,
    default_service: &'a str,
}

// The properties beyond the id are read by sampling rules, which build on this input.
#[allow(dead_code)]
impl<'a> SamplingInput<'a> {
    /// The input for the local root `root` of trace `trace_id`; `default_service` is the
    /// tracer's service.
    #[inline]
    pub(crate) fn for_root(
        root: &'a SpanData,
        trace_id: TraceId,
        default_service: &'a str,
    ) -> Self {
        SamplingInput {
            trace_id,
            root,
            default_service,
        }
    }

    /// The root's service, or the tracer's when the root set none.
    pub(crate) fn service(&self) -> &'a str {
        self.root.service().unwrap_or(self.default_service)
    }

    /// The root's operation name.
    pub(crate) fn operation_name(&self) -> &'a str {
        self.root.operation_name()
    }

    /// The root's resource.
    pub(crate) fn resource(&self) -> &'a str {
        self.root.resource()
    }

    /// The root's tag `key` (a string tag, or a number recorded as a metric).
    pub(crate) fn tag(&self, key: &str) -> Option<TagRef<'a>> {
        self.root.fields.tags.get(key)
    }
}

/// Keep condition for `rate` (spec §3.2): `id × KNUTH_FACTOR mod 2^64 ≤ rate × (2^64 − 1)`.
pub(crate) fn sampled_by_rate(id: u64, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 || rate.is_nan() {
        return false;
    }
    id.wrapping_mul(KNUTH_FACTOR) <= (rate * u64::MAX as f64) as u64
}

/// Samples traces at `DD_TRACE_SAMPLE_RATE` when set, else keeps every trace with priority 1.
#[derive(Clone, Debug)]
pub(crate) struct Sampler {
    sample_rate: Option<f64>,
}

impl Sampler {
    pub(crate) fn new(sample_rate: Option<f64>) -> Self {
        Sampler { sample_rate }
    }

    /// Decides for a new trace.
    #[inline]
    pub(crate) fn decide(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        self.decide_for_id(input.trace_id)
    }

    /// The decision for `trace_id` from the rate alone (no rule looks at anything else yet).
    pub(crate) fn decide_for_id(&self, trace_id: TraceId) -> SamplingDecision {
        match self.sample_rate {
            // The catch-all rule (spec §3.3 step 3).
            Some(rate) => SamplingDecision {
                priority: if sampled_by_rate(trace_id.low(), rate) {
                    PRIORITY_USER_KEEP
                } else {
                    PRIORITY_USER_REJECT
                },
                mechanism: MECHANISM_LOCAL_RULE,
                rule_rate: Some(rate),
            },
            // No rules and no agent rates yet: keep (spec §3.3 step 5).
            None => SamplingDecision {
                priority: PRIORITY_AUTO_KEEP,
                mechanism: MECHANISM_DEFAULT,
                rule_rate: None,
            },
        }
    }
}

/// `_dd.p.ksr`: at most 6 decimals, trailing zeros stripped (`0.5`, `1`).
pub(crate) fn format_rate(rate: f64) -> String {
    let s = format!("{rate:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knuth_decisions_match_hand_computed_values() {
        // (id, rate, kept); id × K mod 2^64 as a fraction of 2^64 is in the comment.
        let cases = [
            (1u64, 0.06, false), // 0.0602
            (1, 0.07, true),
            (10, 0.5, false), // 0.6023
            (10, 0.61, true),
            (17, 0.5, true), // 0.0240
            (17, 0.02, false),
            (0, 0.0, false),       // rate 0 drops everything
            (u64::MAX, 1.0, true), // rate 1 keeps everything
        ];
        for (id, rate, kept) in cases {
            assert_eq!(sampled_by_rate(id, rate), kept, "id {id} rate {rate}");
        }
    }

    #[test]
    fn rate_keeps_about_that_fraction_of_random_ids() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let n = 100_000;
        for rate in [0.1, 0.5, 0.9] {
            let kept = (0..n)
                .filter(|_| sampled_by_rate(rng.random(), rate))
                .count() as f64;
            // 5 standard deviations of a binomial: fails by chance ~1 in 3.5 million.
            let sd = (n as f64 * rate * (1.0 - rate)).sqrt();
            assert!(
                (kept - n as f64 * rate).abs() < 5.0 * sd,
                "rate {rate}: kept {kept}"
            );
        }
    }

    #[test]
    fn sample_rate_gives_user_priorities_and_rule_mechanism() {
        let id = TraceId::from_parts(0, 42);
        let keep_all = Sampler::new(Some(1.0)).decide_for_id(id);
        assert_eq!(keep_all.priority, PRIORITY_USER_KEEP);
        assert_eq!(keep_all.mechanism, MECHANISM_LOCAL_RULE);
        assert_eq!(keep_all.rule_rate, Some(1.0));
        let drop_all = Sampler::new(Some(0.0)).decide_for_id(id);
        assert_eq!(drop_all.priority, PRIORITY_USER_REJECT);
        let default = Sampler::new(None).decide_for_id(id);
        assert_eq!(default.priority, PRIORITY_AUTO_KEEP);
        assert_eq!(default.mechanism, MECHANISM_DEFAULT);
        assert_eq!(default.rule_rate, None);
    }

    #[test]
    fn the_input_sees_the_roots_initial_fields() {
        let mut root = SpanData::blank(0, 0);
        root.name = "request";
        root.fields
            .record_str("resource.name".into(), "GET /health", false);
        root.fields
            .record_num("http.status_code".into(), 200.0, format_args!("200"), false);
        let input = SamplingInput::for_root(&root, TraceId::from_parts(0, 1), "web");
        assert_eq!(input.service(), "web");
        assert_eq!(input.operation_name(), "request");
        assert_eq!(input.resource(), "GET /health");
        assert_eq!(input.tag("http.status_code"), Some(TagRef::Str("200")));
        root.fields.record_str("service.name".into(), "api", true);
        let input = SamplingInput::for_root(&root, TraceId::from_parts(0, 1), "web");
        assert_eq!(input.service(), "api");
    }

    #[test]
    fn dropped_decisions_carry_no_decision_maker() {
        let mut chunk = TagList::default();
        let mut root = TagList::default();
        Sampler::new(Some(0.0))
            .decide_for_id(TraceId::from_parts(0, 1))
            .write_tags(&mut chunk, &mut root);
        assert_eq!(chunk.get("_sampling_priority_v1"), Some(TagRef::Num(-1.0)));
        assert_eq!(chunk.get("_dd.p.dm"), None);
        assert_eq!(chunk.get("_dd.p.ksr"), Some(TagRef::Str("0")));
        assert_eq!(root.get("_dd.rule_psr"), Some(TagRef::Num(0.0)));
    }

    #[test]
    fn ksr_format_strips_trailing_zeros() {
        assert_eq!(format_rate(0.5), "0.5");
        assert_eq!(format_rate(1.0), "1");
        assert_eq!(format_rate(0.1234567), "0.123457");
        assert_eq!(format_rate(0.0), "0");
    }
}
