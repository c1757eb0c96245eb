//! SAMPLE: the trace-level sampling decision, made once per trace at its local root.
//!
//! In: the new trace's id and the configuration. Out: a [`SamplingDecision`] (priority,
//! decision maker, rate) stored with the trace and written at encode time. Called by the layer
//! when it starts a local root span. Rules, the rate limiter and agent rates arrive later; every
//! chunk is still sent and the agent drops what the priority says (spec §3.7).

/// Knuth's multiplicative hashing constant (spec §3.2).
pub(crate) const KNUTH_FACTOR: u64 = 1_111_111_111_111_111_111;

/// `USER_REJECT`: a rule dropped the trace.
pub const PRIORITY_USER_REJECT: i8 = -1;
/// `AUTO_KEEP`: kept by default or by agent rates.
pub const PRIORITY_AUTO_KEEP: i8 = 1;
/// `USER_KEEP`: a rule kept the trace.
pub const PRIORITY_USER_KEEP: i8 = 2;

/// Decision maker: no sampler ran.
pub(crate) const MECHANISM_DEFAULT: u8 = 0;
/// Decision maker: a local trace rule, including the `DD_TRACE_SAMPLE_RATE` catch-all.
pub(crate) const MECHANISM_LOCAL_RULE: u8 = 3;

/// The sampling decision of one trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SamplingDecision {
    /// `_sampling_priority_v1`.
    pub priority: i8,
    /// Decision maker, written as `_dd.p.dm = -<mechanism>` while the priority is positive.
    pub mechanism: u8,
    /// The rule's rate (`_dd.rule_psr`, `_dd.p.ksr`) when a rule decided.
    pub rule_rate: Option<f64>,
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

    /// Decides for a new trace whose low 64 bits are `trace_id_low`.
    pub(crate) fn decide(&self, trace_id_low: u64) -> SamplingDecision {
        match self.sample_rate {
            // The catch-all rule (spec §3.3 step 3).
            Some(rate) => SamplingDecision {
                priority: if sampled_by_rate(trace_id_low, rate) {
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
        let keep_all = Sampler::new(Some(1.0)).decide(42);
        assert_eq!(keep_all.priority, PRIORITY_USER_KEEP);
        assert_eq!(keep_all.mechanism, MECHANISM_LOCAL_RULE);
        assert_eq!(keep_all.rule_rate, Some(1.0));
        let drop_all = Sampler::new(Some(0.0)).decide(42);
        assert_eq!(drop_all.priority, PRIORITY_USER_REJECT);
        let default = Sampler::new(None).decide(42);
        assert_eq!(default.priority, PRIORITY_AUTO_KEEP);
        assert_eq!(default.mechanism, MECHANISM_DEFAULT);
        assert_eq!(default.rule_rate, None);
    }

    #[test]
    fn ksr_format_strips_trailing_zeros() {
        assert_eq!(format_rate(0.5), "0.5");
        assert_eq!(format_rate(1.0), "1");
        assert_eq!(format_rate(0.1234567), "0.123457");
        assert_eq!(format_rate(0.0), "0");
    }
}
