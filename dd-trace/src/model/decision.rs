//! A trace's sampling decision, as the model holds it: the priority, who decided, and the
//! rates that decided.
//!
//! In: decisions made by the samplers (app threads), taken from a remote parent's headers, or
//! made by hand (`manual.keep`). Out: the values the trace's context keeps, and the propagated
//! tags the decision implies (`_dd.p.dm`, `_dd.p.ksr`), which propagation writes into headers
//! and the processing stage into spans. Plain data: nothing here locks, allocates or does I/O.

use std::fmt;

/// A trace's sampling priority, as it travels in headers (`x-datadog-sampling-priority`, the
/// W3C `s:` member) and in `_sampling_priority_v1`: positive keeps the trace, zero or negative
/// drops it.
///
/// ```
/// use dd_trace::SamplingPriority;
///
/// assert!(SamplingPriority::USER_KEEP.is_keep());
/// assert!(!SamplingPriority::AUTO_REJECT.is_keep());
/// assert_eq!(SamplingPriority::from(2), SamplingPriority::USER_KEEP);
/// assert_eq!(SamplingPriority::USER_REJECT.value(), -1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SamplingPriority(i8);

impl SamplingPriority {
    /// `USER_REJECT` (−1): a rule, the rate limiter or `manual.drop` dropped the trace.
    pub const USER_REJECT: SamplingPriority = SamplingPriority(PRIORITY_USER_REJECT);
    /// `AUTO_REJECT` (0): the agent's rate dropped the trace.
    pub const AUTO_REJECT: SamplingPriority = SamplingPriority(PRIORITY_AUTO_REJECT);
    /// `AUTO_KEEP` (1): kept by default or by the agent's rate.
    pub const AUTO_KEEP: SamplingPriority = SamplingPriority(PRIORITY_AUTO_KEEP);
    /// `USER_KEEP` (2): a rule or `manual.keep` kept the trace.
    pub const USER_KEEP: SamplingPriority = SamplingPriority(PRIORITY_USER_KEEP);

    /// The priority as a number.
    pub fn value(self) -> i8 {
        self.0
    }

    /// Whether the trace is kept (a positive priority).
    pub fn is_keep(self) -> bool {
        self.0 > 0
    }
}

impl From<i8> for SamplingPriority {
    fn from(priority: i8) -> Self {
        SamplingPriority(priority)
    }
}

impl fmt::Display for SamplingPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `USER_REJECT`: a rule, the limiter or `manual.drop` dropped the trace.
pub(crate) const PRIORITY_USER_REJECT: i8 = -1;
/// `AUTO_REJECT`: the agent's rate dropped the trace.
pub(crate) const PRIORITY_AUTO_REJECT: i8 = 0;
/// `AUTO_KEEP`: kept by default or by the agent's rate.
pub(crate) const PRIORITY_AUTO_KEEP: i8 = 1;
/// `USER_KEEP`: a rule or `manual.keep` kept the trace.
pub(crate) const PRIORITY_USER_KEEP: i8 = 2;

/// Decision maker: no sampler ran.
pub(crate) const MECHANISM_DEFAULT: u8 = 0;
/// Decision maker: the agent's rate for the service.
pub(crate) const MECHANISM_AGENT_RATE: u8 = 1;
/// Decision maker: a local trace rule, including the `DD_TRACE_SAMPLE_RATE` catch-all.
pub(crate) const MECHANISM_LOCAL_RULE: u8 = 3;
/// Decision maker: `manual.keep` / `manual.drop`.
pub(crate) const MECHANISM_MANUAL: u8 = 4;
/// Decision maker of a span kept by a span rule.
pub(crate) const MECHANISM_SPAN_RULE: u8 = 8;

/// An optional rate in 8 bytes (NaN for none), so a decision stays small.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rate(pub(crate) f64);

impl Rate {
    pub(crate) const NONE: Rate = Rate(f64::NAN);

    pub(crate) fn get(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(self.0)
    }
}

impl PartialEq for Rate {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl From<Option<f64>> for Rate {
    fn from(r: Option<f64>) -> Self {
        r.map_or(Rate::NONE, Rate)
    }
}

/// What made a decision, which decides whether it may be revisited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecisionSource {
    /// No rule, no agent rate: kept by default.
    Default,
    /// The agent's rate.
    AgentRate,
    /// Trace rule number `index`.
    Rule { index: u16 },
    /// `manual.keep` / `manual.drop`: never overridden by a sampler.
    Manual,
    /// The priority came with a remote parent: never resampled.
    Upstream,
}

/// The sampling decision of one trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SamplingDecision {
    /// `_sampling_priority_v1`.
    pub(crate) priority: i8,
    /// Decision maker (`_dd.p.dm = -<mechanism>`, written while the priority is positive);
    /// `None` when unknown (an upstream decision without one).
    pub(crate) mechanism: Option<u8>,
    /// `_dd.rule_psr`: the rate of the rule that decided.
    pub(crate) rule_rate: Rate,
    /// `_dd.limit_psr`: the limiter's effective rate, when it was consulted.
    pub(crate) limit_rate: Rate,
    /// `_dd.agent_psr`: the agent's rate that decided.
    pub(crate) agent_rate: Rate,
    pub(crate) source: DecisionSource,
}

impl SamplingDecision {
    /// The propagated tags the decision implies: `_dd.p.dm` (the decision maker, only while
    /// the priority is positive) and `_dd.p.ksr` (the rate a rule or the agent kept or dropped
    /// the trace at).
    /// Written from stack buffers, without the formatting machinery: the worker calls this
    /// once per chunk.
    pub(crate) fn for_each_propagated_tag(&self, mut f: impl FnMut(&'static str, &str)) {
        if let (true, Some(mechanism)) = (self.priority > 0, self.mechanism) {
            // `-` and up to three digits.
            let mut text = *b"-000";
            let mut start = text.len();
            let mut rest = mechanism;
            loop {
                start -= 1;
                text[start] = b'0' + rest % 10;
                rest /= 10;
                if rest == 0 {
                    break;
                }
            }
            start -= 1;
            text[start] = b'-';
            f("_dd.p.dm", ascii(&text[start..]));
        }
        if let Some(ksr) = self.rule_rate.get().or(self.agent_rate.get()) {
            let mut buf = [0u8; 32];
            f("_dd.p.ksr", KsrRate(ksr).text(&mut buf));
        }
    }

    /// The decision when nothing else applies: keep, as no sampler ran.
    pub(crate) const DEFAULT_KEEP: SamplingDecision = SamplingDecision {
        priority: PRIORITY_AUTO_KEEP,
        mechanism: Some(MECHANISM_DEFAULT),
        rule_rate: Rate::NONE,
        limit_rate: Rate::NONE,
        agent_rate: Rate::NONE,
        source: DecisionSource::Default,
    };

    /// `manual.keep` (priority 2) or `manual.drop` (−1).
    pub(crate) fn manual(keep: bool) -> Self {
        SamplingDecision {
            priority: if keep {
                PRIORITY_USER_KEEP
            } else {
                PRIORITY_USER_REJECT
            },
            mechanism: Some(MECHANISM_MANUAL),
            source: DecisionSource::Manual,
            ..Self::DEFAULT_KEEP
        }
    }

    /// A priority that came with a remote parent, with the decision maker its `_dd.p.dm` named.
    pub(crate) fn upstream(priority: i8, mechanism: Option<u8>) -> Self {
        SamplingDecision {
            priority,
            mechanism,
            source: DecisionSource::Upstream,
            ..Self::DEFAULT_KEEP
        }
    }
}

/// ASCII bytes this module wrote, as text.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// A rate as `_dd.p.ksr` writes it: at most 6 decimals, trailing zeros stripped (`0.5`, `1`).
/// Written into a stack buffer: no allocation per chunk.
pub(crate) struct KsrRate(pub(crate) f64);

impl KsrRate {
    /// The rate's text, written into `buf`.
    pub(crate) fn text(self, buf: &mut [u8; 32]) -> &str {
        // A rate in [0, 1] as millionths, written as digits: `{:.6}` would take the exact
        // (bignum) float formatting path on every chunk.
        if (0.0..=1.0).contains(&self.0) {
            let micros = (self.0 * 1e6).round() as u32;
            if micros == 0 || micros == 1_000_000 {
                return if micros == 0 { "0" } else { "1" };
            }
            buf[..8].copy_from_slice(b"0.000000");
            let mut rest = micros;
            for d in buf[2..8].iter_mut().rev() {
                *d = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            return ascii(&buf[..8]).trim_end_matches('0');
        }
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        // Out of the buffer's range (not a rate): nothing sensible to write.
        if std::io::Write::write_fmt(&mut cursor, format_args!("{:.6}", self.0)).is_err() {
            return "";
        }
        let len = cursor.position() as usize;
        ascii(&buf[..len])
            .trim_end_matches('0')
            .trim_end_matches('.')
    }
}

/// `_dd.p.ksr` as a string.
#[cfg(test)]
fn format_rate(rate: f64) -> String {
    KsrRate(rate).text(&mut [0; 32]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_maker_is_a_minus_and_the_mechanism() {
        for (mechanism, text) in [(0, "-0"), (3, "-3"), (12, "-12"), (255, "-255")] {
            let decision = SamplingDecision {
                mechanism: Some(mechanism),
                ..SamplingDecision::DEFAULT_KEEP
            };
            let mut dm = None;
            decision.for_each_propagated_tag(|k, v| {
                if k == "_dd.p.dm" {
                    dm = Some(v.to_string());
                }
            });
            assert_eq!(dm.as_deref(), Some(text));
        }
    }

    #[test]
    fn ksr_format_strips_trailing_zeros() {
        assert_eq!(format_rate(0.5), "0.5");
        assert_eq!(format_rate(1.0), "1");
        assert_eq!(format_rate(0.1234567), "0.123457");
        assert_eq!(format_rate(1e-6), "0.000001");
        assert_eq!(format_rate(0.0), "0");
        assert_eq!(format_rate(0.9999996), "1");
        assert_eq!(format_rate(0.75), "0.75");
        assert_eq!(format_rate(4e-7), "0");
        // The digit path agrees with `{:.6}` across the range.
        for i in 0..=20_000 {
            let rate = f64::from(i) / 20_000.0 * 0.999_999_7;
            let reference = format!("{rate:.6}");
            let reference = reference.trim_end_matches('0').trim_end_matches('.');
            assert_eq!(format_rate(rate), reference, "{rate}");
        }
    }
}
