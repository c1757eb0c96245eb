//! The sampler's tests: Knuth vectors from the spec's formula, statistical bounds, rule order.

use super::*;
use crate::model::decision::*;
use crate::model::span::SpanData;

fn root(name: &'static str, fields: &[(&'static str, &str)]) -> SpanData {
    let mut s = SpanData::blank(0, 0);
    s.span_id = 1;
    s.name = name;
    for &(k, v) in fields {
        s.fields.record_str(k.into(), v, true);
    }
    s
}

/// A sampler of service `web` in env `prod` (version `1.0`, `DD_TAGS=team:core`) with its
/// rules.
struct WithRules {
    sampler: Sampler,
    rules: TraceRules,
}

impl WithRules {
    fn decide(&self, root: &SpanData, trace_id: TraceId) -> SamplingDecision {
        self.sampler.decide(&self.rules, root, trace_id)
    }

    fn redecide(
        &self,
        root: &SpanData,
        trace_id: TraceId,
        previous: &SamplingDecision,
    ) -> Option<SamplingDecision> {
        self.sampler.redecide(&self.rules, root, trace_id, previous)
    }
}

impl std::ops::Deref for WithRules {
    type Target = Sampler;

    fn deref(&self) -> &Sampler {
        &self.sampler
    }
}

fn sampler(rules_json: &str, sample_rate: Option<f64>, rate_limit: f64) -> WithRules {
    let (rules, warnings) = parse_trace_rules("DD_TRACE_SAMPLING_RULES", rules_json);
    assert!(warnings.is_empty(), "{warnings:?}");
    let tags = vec![
        ("env".into(), "prod".into()),
        ("version".into(), "1.0".into()),
        ("team".into(), "core".into()),
    ];
    WithRules {
        sampler: Sampler::new("web", Some("prod"), rate_limit),
        rules: TraceRules::new(rules, sample_rate, tags),
    }
}

fn id(low: u64) -> TraceId {
    TraceId::from_parts(0x6638_b0e8_0000_0000, low)
}

#[test]
fn knuth_decisions_match_the_spec_formula() {
    // Computed independently (Python's integers) from the spec: keep iff
    // id × 1111111111111111111 mod 2^64 ≤ rate × (2^64 − 1), the bound taken in f64 and then
    // truncated, as the reference tracers compute it (so at rate 0.5 it is 2^63 exactly);
    // rate 0 drops everything, rate 1 keeps everything.
    let cases: &[(u64, f64, bool)] = &[
        (0, 0.0, false),
        (0, 1e-6, true),
        (0, 1.0, true),
        (1, 0.0, false),
        (1, 1e-6, false),
        (1, 1.0, true),
        (2, 0.0, false),
        (2, 1e-6, false),
        (2, 1.0, true),
        (u64::MAX, 0.0, false),
        (u64::MAX, 1e-6, false),
        (1, 0.3, true),
        (2, 0.3, true),
        (u64::MAX, 0.5, false),
        (u64::MAX, 1.0, true),
        (12_345_678_901_234_567_890, 0.3, true),
        (12_345_678_901_234_567_890, 1e-6, false),
        // The last id kept and the first dropped, on each side of the threshold.
        (4_546_052_213_588_466_347, 1e-6, true),
        (7_943_051_211_398_814_370, 1e-6, false),
        (3_426_205_642_032_731_136, 0.3, true),
        (6_823_204_639_843_079_159, 0.3, false),
        (9_223_372_036_854_775_808, 0.5, true),
        (12_620_371_034_665_123_831, 0.5, false),
    ];
    for &(id, rate, kept) in cases {
        assert_eq!(sampled_by_rate(id, rate), kept, "id {id} rate {rate}");
    }
}

#[test]
fn a_rate_keeps_that_fraction_of_random_ids_within_a_confidence_bound() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let n = 100_000;
    for rate in [0.1, 0.3, 0.9] {
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
fn without_rules_or_agent_rates_every_trace_is_kept_by_default() {
    let s = sampler("[]", None, 100.0);
    let d = s.decide(&root("request", &[]), id(1));
    assert_eq!(d, SamplingDecision::DEFAULT_KEEP);
    assert_eq!(d.priority, PRIORITY_AUTO_KEEP);
    assert_eq!(d.mechanism, Some(MECHANISM_DEFAULT));
}

#[test]
fn the_first_matching_rule_decides_and_the_sample_rate_comes_last() {
    let s = sampler(
        r#"[{"resource":"GET /health*","sample_rate":0},{"service":"web","tags":{"team":"core"},"sample_rate":1}]"#,
        Some(0.0),
        100.0,
    );
    let health = s.decide(&root("request", &[("resource.name", "GET /health")]), id(1));
    assert_eq!(health.priority, PRIORITY_USER_REJECT);
    assert_eq!(health.rule_rate.get(), Some(0.0));
    assert_eq!(
        health.limit_rate.get(),
        None,
        "the limiter only sees kept traces"
    );
    assert_eq!(health.source, DecisionSource::Rule { index: 0 });
    // `team` is a DD_TAGS tag: rules see the tracer's tags too.
    let other = s.decide(&root("request", &[("resource.name", "GET /users")]), id(1));
    assert_eq!(other.priority, PRIORITY_USER_KEEP);
    assert_eq!(other.source, DecisionSource::Rule { index: 1 });
    assert_eq!(other.mechanism, Some(MECHANISM_LOCAL_RULE));
    assert_eq!(other.limit_rate.get(), Some(1.0));
    let db = s.decide(&root("q", &[("service.name", "db")]), id(1));
    assert_eq!(
        db.source,
        DecisionSource::Rule { index: 2 },
        "the catch-all"
    );
    assert_eq!(db.priority, PRIORITY_USER_REJECT);
}

#[test]
fn the_rate_limiter_turns_kept_traces_into_drops_past_its_limit() {
    let s = sampler(r#"[{"sample_rate":1}]"#, None, 5.0);
    let decisions: Vec<SamplingDecision> = (1..=8u64)
        .map(|i| s.decide(&root("r", &[]), id(i)))
        .collect();
    let kept = decisions
        .iter()
        .filter(|d| d.priority == PRIORITY_USER_KEEP)
        .count();
    assert_eq!(kept, 5, "a full bucket of 5");
    let refused = &decisions[7];
    assert_eq!(refused.priority, PRIORITY_USER_REJECT);
    assert_eq!(refused.mechanism, Some(MECHANISM_LOCAL_RULE));
    assert_eq!(refused.rule_rate.get(), Some(1.0));
    assert_eq!(refused.limit_rate.get(), Some(5.0 / 8.0));
}

#[test]
fn agent_rates_decide_when_no_rule_matches_with_the_default_key_as_fallback() {
    let s = sampler(r#"[{"service":"never"}]"#, None, 100.0);
    let rates: std::collections::HashMap<String, f64> = [
        ("service:web,env:prod".to_string(), 0.0),
        ("service:,env:".to_string(), 1.0),
    ]
    .into();
    s.update_agent_rates(&rates, std::time::Instant::now());
    let web = s.decide(&root("r", &[]), id(1));
    assert_eq!(web.priority, PRIORITY_AUTO_REJECT);
    assert_eq!(web.mechanism, Some(MECHANISM_AGENT_RATE));
    assert_eq!(web.agent_rate.get(), Some(0.0));
    let mut propagated = Vec::new();
    web.for_each_propagated_tag(|k, v| propagated.push((k, v.to_string())));
    assert_eq!(
        propagated,
        [("_dd.p.ksr", "0".to_string())],
        "no _dd.p.dm while dropped"
    );
    let db = s.decide(&root("r", &[("service.name", "db")]), id(1));
    assert_eq!(db.priority, PRIORITY_AUTO_KEEP, "the default key");
    assert_eq!(db.agent_rate.get(), Some(1.0));
    // The tracer's own service by name reads the table, without a name the cached rate: same.
    let named = s.decide(&root("r", &[("service.name", "web")]), id(1));
    assert_eq!(named, web);
}

#[test]
fn a_changed_root_is_decided_again_unless_the_same_rule_still_matches() {
    let s = sampler(
        r#"[{"resource":"GET /health","sample_rate":0},{"sample_rate":1}]"#,
        None,
        1.0,
    );
    let mut r = root("request", &[]);
    let first = s.decide(&r, id(1));
    assert_eq!(first.source, DecisionSource::Rule { index: 1 });
    assert_eq!(
        first.priority, PRIORITY_USER_KEEP,
        "the limiter's one token"
    );
    // The same rule still matches: the decision stands (and no second token is taken).
    r.fields.record_str("http.method".into(), "GET", true);
    assert_eq!(s.redecide(&r, id(1), &first), None);
    // The resource recorded later makes another rule match.
    r.fields
        .record_str("resource.name".into(), "GET /health", true);
    let second = s.redecide(&r, id(1), &first).expect("a new decision");
    assert_eq!(second.source, DecisionSource::Rule { index: 0 });
    assert_eq!(second.priority, PRIORITY_USER_REJECT);
    // A manual decision is never revisited.
    assert_eq!(s.redecide(&r, id(1), &SamplingDecision::manual(true)), None);
}
