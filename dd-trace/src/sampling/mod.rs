//! SAMPLE: the trace-level sampling decision, and the span rules the worker applies.
//!
//! In: a new local root (its trace id, service, operation name, resource and tags as recorded
//! at creation), from the layer on the app's thread that creates it; the same root again when
//! its resource, service or tags change; manual keep/drop from fields or the span API; the
//! agent's rates from the worker. Out: a [`SamplingDecision`] (priority, decision maker, the
//! rates that decided) stored in the trace's context; the worker turns it into tags.
//!
//! Order, as Datadog's tracers apply it: an upstream priority is kept (never resampled); else
//! the first matching trace rule (`DD_TRACE_SAMPLING_RULES`, then `DD_TRACE_SAMPLE_RATE` as the
//! catch-all) samples by the trace id at its rate, and a kept trace must also pass the rate
//! limiter; else the agent's rate for the root's service and env; else keep. A manual decision
//! wins over all of them. One decision per trace, O(rules); matching allocates nothing (but for
//! non-ASCII text over 128 characters) and the limiter is lock-free.

mod agent_rates;
mod glob;
mod limiter;
mod rules;
mod span_rules;

pub use rules::{SpanSamplingRule, TraceSamplingRule};

pub(crate) use agent_rates::AppliedAgentRates;
pub(crate) use rules::{parse_span_rules, parse_trace_rules, SpanRule, TraceRule};
pub(crate) use span_rules::SpanSampler;

use crate::model::decision::{
    DecisionSource, Rate, SamplingDecision, MECHANISM_AGENT_RATE, PRIORITY_AUTO_KEEP,
    PRIORITY_AUTO_REJECT, PRIORITY_USER_KEEP, PRIORITY_USER_REJECT,
};
use crate::model::id::TraceId;
use crate::model::span::{SpanData, TagRef};
use limiter::RateLimiter;
use rules::RuleSubject;

/// Knuth's multiplicative hashing constant (spec §3.2).
pub(crate) const KNUTH_FACTOR: u64 = 1_111_111_111_111_111_111;

/// A span (for trace rules, a trace's local root) as rules see it: its service (or the
/// tracer's), operation name, resource, and tags (its own, then the tracer's `env`, `version`
/// and `DD_TAGS`). Read from the record on demand, so a sampler that needs only the id pays for
/// nothing else.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanSubject<'a> {
    span: &'a SpanData,
    default_service: &'a str,
    tracer_tags: &'a [(String, String)],
}

impl<'a> SpanSubject<'a> {
    pub(crate) fn new(
        span: &'a SpanData,
        default_service: &'a str,
        tracer_tags: &'a [(String, String)],
    ) -> Self {
        SpanSubject {
            span,
            default_service,
            tracer_tags,
        }
    }
}

impl<'a> RuleSubject<'a> for SpanSubject<'a> {
    fn service(&self) -> &'a str {
        self.span.service().unwrap_or(self.default_service)
    }

    fn operation_name(&self) -> &'a str {
        self.span.operation_name()
    }

    fn resource(&self) -> &'a str {
        self.span.resource()
    }

    fn tag(&self, key: &str) -> Option<TagRef<'a>> {
        self.span.fields.tags.get(key).or_else(|| {
            self.tracer_tags
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| TagRef::Str(v))
        })
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

/// The trace rules of one configuration snapshot: the rules in order (the sample rate's
/// catch-all last), and the tracer's tags they may match (`env`, `version`, `DD_TAGS`).
/// Immutable: a change of configuration makes a new one (see `config::LiveSettings`).
#[derive(Debug, Default)]
pub(crate) struct TraceRules {
    rules: Vec<TraceRule>,
    /// See [`may_redecide`](Self::may_redecide); derived from `rules` once.
    may_redecide: bool,
    tracer_tags: Vec<(String, String)>,
}

/// No trace rule: decisions come from the agent's rates, else the default.
pub(crate) static NO_TRACE_RULES: TraceRules = TraceRules {
    rules: Vec::new(),
    may_redecide: false,
    tracer_tags: Vec::new(),
};

impl TraceRules {
    /// `rules`, then a catch-all at `sample_rate` if there is one; `tracer_tags` are the tags
    /// a rule may match besides the root's own.
    pub(crate) fn new(
        mut rules: Vec<TraceRule>,
        sample_rate: Option<f64>,
        tracer_tags: Vec<(String, String)>,
    ) -> Self {
        if let Some(rate) = sample_rate {
            rules.push(TraceRule::catch_all(rate));
        }
        let may_redecide = rules
            .first()
            .is_some_and(|first| !first.matcher.matches_everything());
        TraceRules {
            rules,
            may_redecide,
            tracer_tags,
        }
    }

    /// The rules, the catch-all last.
    pub(crate) fn rules(&self) -> &[TraceRule] {
        &self.rules
    }

    /// Whether a change to a root can ever change its decision: not without rules, nor when the
    /// first rule matches every trace (only `DD_TRACE_SAMPLE_RATE`, say), for then the rule
    /// that decided always still matches.
    pub(crate) fn may_redecide(&self) -> bool {
        self.may_redecide
    }

    /// `env`, `version` and `DD_TAGS`, which rules may match as tags.
    pub(crate) fn tracer_tags(&self) -> &[(String, String)] {
        &self.tracer_tags
    }
}

/// How the tracer samples with the trace rules it is given: the rate limiter, the agent's
/// rates. Shared by every app thread; nothing in it takes a lock on the app's path.
#[derive(Debug)]
pub(crate) struct Sampler {
    limiter: RateLimiter,
    agent: AppliedAgentRates,
    /// The agent's rate for the tracer's own service and env, as `f64` bits (NaN: none): most
    /// roots use that service, and reading one atomic is cheaper than the table.
    own_rate: std::sync::atomic::AtomicU64,
    /// `DD_ENV`, for the agent's `service:…,env:…` keys.
    env: String,
    default_service: String,
}

impl Sampler {
    /// A sampler for the tracer's `service` in `env`, whose rules keep at most `rate_limit`
    /// traces a second.
    pub(crate) fn new(service: &str, env: Option<&str>, rate_limit: f64) -> Self {
        Sampler {
            limiter: RateLimiter::new(rate_limit),
            agent: AppliedAgentRates::default(),
            own_rate: std::sync::atomic::AtomicU64::new(f64::NAN.to_bits()),
            env: env.unwrap_or_default().to_string(),
            default_service: service.to_string(),
        }
    }

    /// The rate limit of rule decisions, per second.
    pub(crate) fn rate_limit(&self) -> f64 {
        self.limiter.limit()
    }

    /// The agent's rates as applied.
    pub(crate) fn agent_rates(&self) -> &AppliedAgentRates {
        &self.agent
    }

    /// The agent replied with `rates` (by its keys) at `now` (worker).
    pub(crate) fn update_agent_rates(
        &self,
        rates: &std::collections::HashMap<String, f64>,
        now: std::time::Instant,
    ) {
        self.agent.update(rates, now);
        self.refresh_own_rate();
    }

    /// The agent replied that its rates are unchanged, at `now` (worker).
    pub(crate) fn agent_rates_unchanged(&self, now: std::time::Instant) {
        self.agent.unchanged(now);
        self.refresh_own_rate();
    }

    fn refresh_own_rate(&self) {
        let rate = self
            .agent
            .applied()
            .lookup(&self.default_service, &self.env)
            .unwrap_or(f64::NAN);
        self.own_rate
            .store(rate.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The agent's rate for `service` (the tracer's own when `None`).
    fn agent_rate(&self, service: Option<&str>) -> Option<f64> {
        match service {
            None => Rate(f64::from_bits(
                self.own_rate.load(std::sync::atomic::Ordering::Relaxed),
            ))
            .get(),
            Some(service) => self.agent.applied().lookup(service, &self.env),
        }
    }

    /// The subject `rules` see for `span`.
    fn subject<'a>(&'a self, rules: &'a TraceRules, span: &'a SpanData) -> SpanSubject<'a> {
        SpanSubject::new(span, &self.default_service, &rules.tracer_tags)
    }

    /// Decides with `rules` for a new trace whose local root is `root`.
    pub(crate) fn decide(
        &self,
        rules: &TraceRules,
        root: &SpanData,
        trace_id: TraceId,
    ) -> SamplingDecision {
        if rules.rules.is_empty() && !self.agent.has_rates() {
            return SamplingDecision::DEFAULT_KEEP;
        }
        let subject = self.subject(rules, root);
        let rule = rules.rules.iter().position(|r| r.matcher.matches(&subject));
        self.decide_with(rules, &subject, trace_id, rule)
    }

    /// Forgets `previous`, a decision about to be replaced: if a rule's limiter was asked for
    /// it, the limiter gets its call back (see `RateLimiter::give_back`), so decisions thrown
    /// away do not use up `DD_TRACE_RATE_LIMIT`.
    pub(crate) fn withdraw(&self, previous: &SamplingDecision) {
        if matches!(previous.source, DecisionSource::Rule { .. })
            && previous.limit_rate.get().is_some()
        {
            self.limiter
                .give_back(previous.priority == PRIORITY_USER_KEEP);
        }
    }

    /// Decides again for a trace whose root changed (resource, service, tags): `None` when the
    /// decision stands. Only a newly matching rule changes it: a manual or upstream decision
    /// always stands, and so does any decision when no rule matches, or when the rule that
    /// decided still matches (its limiter is not asked twice for one trace).
    pub(crate) fn redecide(
        &self,
        rules: &TraceRules,
        root: &SpanData,
        trace_id: TraceId,
        previous: &SamplingDecision,
    ) -> Option<SamplingDecision> {
        if matches!(
            previous.source,
            DecisionSource::Manual | DecisionSource::Upstream
        ) {
            return None;
        }
        let subject = self.subject(rules, root);
        let rule = rules
            .rules
            .iter()
            .position(|r| r.matcher.matches(&subject))?;
        if previous.source == (DecisionSource::Rule { index: rule as u16 }) {
            return None;
        }
        self.withdraw(previous);
        Some(self.decide_with(rules, &subject, trace_id, Some(rule)))
    }

    fn decide_with(
        &self,
        rules: &TraceRules,
        subject: &SpanSubject<'_>,
        trace_id: TraceId,
        rule: Option<usize>,
    ) -> SamplingDecision {
        if let Some(index) = rule {
            let r = &rules.rules[index];
            let rate = r.sample_rate;
            let mut decision = SamplingDecision {
                priority: PRIORITY_USER_REJECT,
                mechanism: Some(r.provenance.mechanism()),
                rule_rate: Rate(rate),
                limit_rate: Rate::NONE,
                agent_rate: Rate::NONE,
                source: DecisionSource::Rule {
                    index: u16::try_from(index).unwrap_or(u16::MAX),
                },
            };
            // The limiter only sees traces the rule keeps.
            if sampled_by_rate(trace_id.low(), rate) {
                let verdict = self.limiter.allow_one();
                decision.limit_rate = Rate(verdict.effective_rate);
                if verdict.allowed {
                    decision.priority = PRIORITY_USER_KEEP;
                }
            }
            return decision;
        }
        match self.agent_rate(subject.span.service()) {
            Some(rate) => SamplingDecision {
                priority: if sampled_by_rate(trace_id.low(), rate) {
                    PRIORITY_AUTO_KEEP
                } else {
                    PRIORITY_AUTO_REJECT
                },
                mechanism: Some(MECHANISM_AGENT_RATE),
                rule_rate: Rate::NONE,
                limit_rate: Rate::NONE,
                agent_rate: Rate(rate),
                source: DecisionSource::AgentRate,
            },
            None => SamplingDecision::DEFAULT_KEEP,
        }
    }
}

#[cfg(test)]
mod tests;
