//! Single-span sampling: in a chunk whose trace the sampler dropped, the spans a span rule
//! keeps are tagged so Datadog ingests them anyway.
//!
//! In: chunks with a priority ≤ 0, on the worker, in the processing stage. Out: the tags
//! `_dd.span_sampling.mechanism` (8), `_dd.span_sampling.rule_rate` and, for a limited rule,
//! `_dd.span_sampling.max_per_second` on each kept span. Per span: the first matching rule,
//! then the hash of the span id at the rule's rate, then the rule's own limiter.

use super::limiter::RateLimiter;
use super::rules::SpanRule;
use super::{sampled_by_rate, SpanSubject};
use crate::model::decision::MECHANISM_SPAN_RULE;
use crate::model::span::SpanData;

/// The span rules and their limiters, owned by the worker.
#[derive(Debug)]
pub(crate) struct SpanSampler {
    rules: Vec<(SpanRule, Option<RateLimiter>)>,
}

impl SpanSampler {
    pub(crate) fn new(rules: Vec<SpanRule>) -> Self {
        SpanSampler {
            rules: rules
                .into_iter()
                .map(|r| {
                    let limiter = r.max_per_second.map(RateLimiter::new);
                    (r, limiter)
                })
                .collect(),
        }
    }

    /// Whether there is any rule.
    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Tags `span` if a rule keeps it; returns whether one did.
    pub(crate) fn sample(
        &self,
        span: &mut SpanData,
        default_service: &str,
        tracer_tags: &[(String, String)],
    ) -> bool {
        let subject = SpanSubject::new(span, default_service, tracer_tags);
        let Some((rule, limiter)) = self.rules.iter().find(|(r, _)| r.matcher.matches(&subject))
        else {
            return false;
        };
        if !sampled_by_rate(span.span_id, rule.sample_rate) {
            return false;
        }
        if limiter.as_ref().is_some_and(|l| !l.allow_one().allowed) {
            return false;
        }
        let tags = &mut span.fields.tags;
        tags.set_num(
            "_dd.span_sampling.mechanism",
            f64::from(MECHANISM_SPAN_RULE),
        );
        tags.set_num("_dd.span_sampling.rule_rate", rule.sample_rate);
        if let Some(max) = rule.max_per_second {
            tags.set_num("_dd.span_sampling.max_per_second", max);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::span::TagRef;
    use crate::sampling::parse_span_rules;

    fn span(id: u64, service: Option<&str>, name: &'static str) -> SpanData {
        let mut s = SpanData::blank(0, 0);
        s.span_id = id;
        s.name = name;
        if let Some(service) = service {
            s.fields.record_str("service.name".into(), service, true);
        }
        s
    }

    fn sampler(json: &str) -> SpanSampler {
        let (rules, warnings) = parse_span_rules("DD_SPAN_SAMPLING_RULES", json);
        assert!(warnings.is_empty(), "{warnings:?}");
        SpanSampler::new(rules)
    }

    #[test]
    fn matching_spans_get_the_span_sampling_tags() {
        let s =
            sampler(r#"[{"service":"db","name":"sql.*","sample_rate":1.0,"max_per_second":10}]"#);
        let mut kept = span(7, Some("db"), "sql.query");
        assert!(s.sample(&mut kept, "web", &[]));
        let tags = &kept.fields.tags;
        assert_eq!(
            tags.get("_dd.span_sampling.mechanism"),
            Some(TagRef::Num(8.0))
        );
        assert_eq!(
            tags.get("_dd.span_sampling.rule_rate"),
            Some(TagRef::Num(1.0))
        );
        assert_eq!(
            tags.get("_dd.span_sampling.max_per_second"),
            Some(TagRef::Num(10.0))
        );
        let mut other = span(8, None, "sql.query");
        assert!(!s.sample(&mut other, "web", &[]), "service web is not db");
        assert!(other
            .fields
            .tags
            .get("_dd.span_sampling.mechanism")
            .is_none());
    }

    #[test]
    fn the_span_id_hash_decides_at_the_rule_rate_and_the_limit_caps_it() {
        let s = sampler(r#"[{"sample_rate":0.5}]"#);
        for id in [1u64, 10, 17, u64::MAX / 3] {
            let mut sp = span(id, None, "op");
            assert_eq!(
                s.sample(&mut sp, "svc", &[]),
                sampled_by_rate(id, 0.5),
                "span {id}"
            );
        }
        let limited = sampler(r#"[{"max_per_second":3}]"#);
        let kept = (1..=10u64)
            .filter(|&id| limited.sample(&mut span(id, None, "op"), "svc", &[]))
            .count();
        assert_eq!(kept, 3);
        let unlimited = sampler(r#"[{"name":"op"}]"#);
        let mut sp = span(3, None, "op");
        assert!(unlimited.sample(&mut sp, "svc", &[]));
        assert!(sp
            .fields
            .tags
            .get("_dd.span_sampling.max_per_second")
            .is_none());
    }
}
