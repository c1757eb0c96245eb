//! The agent's sampling rates (`rate_by_service`), as the sampler applies them.
//!
//! In: every reply of the agent to a trace payload, on the worker: new rates, or "unchanged".
//! Out: the table the sampler reads on the app's threads, swapped atomically (`ArcSwap`, no
//! lock on the read side) and looked up without allocating: the exact `service:<svc>,env:<env>`
//! key, else the agent's default `service:,env:`. A rate that goes up is applied at most twice
//! the previous rate per second, so a burst of keeps cannot overrun the agent; a rate that goes
//! down applies at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

/// How often an increasing rate may double.
const RAMP_INTERVAL: Duration = Duration::from_secs(1);

/// Rates by env, then service: looked up with borrowed strings.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RateTable {
    by_env: HashMap<String, HashMap<String, f64>>,
    default: Option<f64>,
}

impl RateTable {
    /// The rate for `service` in `env`, else the agent's default; `None` before the agent has
    /// sent any rate.
    pub(crate) fn lookup(&self, service: &str, env: &str) -> Option<f64> {
        if self.by_env.is_empty() {
            return self.default;
        }
        self.by_env
            .get(env)
            .and_then(|services| services.get(service))
            .copied()
            .or(self.default)
    }

    /// The table as the agent's keys.
    pub(crate) fn to_keys(&self) -> HashMap<String, f64> {
        let mut out: HashMap<String, f64> = self
            .by_env
            .iter()
            .flat_map(|(env, services)| {
                services
                    .iter()
                    .map(move |(service, &rate)| (format!("service:{service},env:{env}"), rate))
            })
            .collect();
        if let Some(rate) = self.default {
            out.insert("service:,env:".into(), rate);
        }
        out
    }

    fn from_keys(keys: &HashMap<String, f64>) -> Self {
        let mut table = RateTable::default();
        for (key, &rate) in keys {
            if !(0.0..=1.0).contains(&rate) {
                continue;
            }
            let Some((service, env)) = split_key(key) else {
                continue;
            };
            if service.is_empty() && env.is_empty() {
                table.default = Some(rate);
            } else {
                table
                    .by_env
                    .entry(env.to_string())
                    .or_default()
                    .insert(service.to_string(), rate);
            }
        }
        table
    }

    fn get(&self, service: &str, env: &str) -> Option<f64> {
        if service.is_empty() && env.is_empty() {
            return self.default;
        }
        self.by_env.get(env)?.get(service).copied()
    }
}

/// `service:<svc>,env:<env>` → (`svc`, `env`).
fn split_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("service:")?;
    let at = rest.rfind(",env:")?;
    Some((&rest[..at], &rest[at + ",env:".len()..]))
}

/// The applied rates and the agent's latest targets.
#[derive(Debug, Default)]
pub(crate) struct AppliedAgentRates {
    /// Set once the agent has sent any rate: before that the sampler skips the table.
    any: AtomicBool,
    applied: ArcSwap<RateTable>,
    /// Worker only: what the agent asked for, and when a rate last went up.
    ramp: Mutex<Ramp>,
}

#[derive(Debug, Default)]
struct Ramp {
    target: RateTable,
    last_increase: Option<Instant>,
}

impl AppliedAgentRates {
    /// Whether the agent has sent any rate yet.
    pub(crate) fn has_rates(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// The table the sampler reads.
    pub(crate) fn applied(&self) -> arc_swap::Guard<std::sync::Arc<RateTable>> {
        self.applied.load()
    }

    /// The agent sent `rates` (by its keys) at `now`.
    pub(crate) fn update(&self, rates: &HashMap<String, f64>, now: Instant) {
        let mut ramp = self.ramp.lock().unwrap_or_else(PoisonError::into_inner);
        ramp.target = RateTable::from_keys(rates);
        self.step(&mut ramp, now);
    }

    /// The agent answered with its rates unchanged: keep ramping towards them.
    pub(crate) fn unchanged(&self, now: Instant) {
        let mut ramp = self.ramp.lock().unwrap_or_else(PoisonError::into_inner);
        self.step(&mut ramp, now);
    }

    fn step(&self, ramp: &mut Ramp, now: Instant) {
        let current = self.applied.load();
        if **current == ramp.target {
            return;
        }
        // One decision for the whole reply: after an increase, rates hold for a second.
        let may_increase = ramp
            .last_increase
            .is_none_or(|t| now.saturating_duration_since(t) >= RAMP_INTERVAL);
        let mut increased = false;
        let mut next = ramp.target.clone();
        let mut cap = |old: Option<f64>, target: &mut f64| {
            // A key seen for the first time starts from the current default rate.
            let Some(old) = old.or(current.default) else {
                return;
            };
            // From 0, and downwards, a rate applies at once.
            if old == 0.0 || *target <= old {
                return;
            }
            let allowed = if may_increase { old * 2.0 } else { old };
            *target = target.min(allowed);
            increased |= *target > old;
        };
        for (env, services) in &mut next.by_env {
            for (service, rate) in services.iter_mut() {
                cap(current.get(service, env), rate);
            }
        }
        if let Some(rate) = &mut next.default {
            cap(current.default, rate);
        }
        if increased {
            ramp.last_increase = Some(now);
        }
        self.any.store(
            next.default.is_some() || !next.by_env.is_empty(),
            Ordering::Relaxed,
        );
        self.applied.store(std::sync::Arc::new(next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, f64)]) -> HashMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn lookups_use_the_exact_key_then_the_default() {
        let rates = AppliedAgentRates::default();
        assert_eq!(rates.applied().lookup("web", "prod"), None, "no rates yet");
        rates.update(
            &keys(&[("service:web,env:prod", 0.25), ("service:,env:", 0.5)]),
            Instant::now(),
        );
        let t = rates.applied();
        assert_eq!(t.lookup("web", "prod"), Some(0.25));
        assert_eq!(t.lookup("web", "staging"), Some(0.5));
        assert_eq!(t.lookup("db", ""), Some(0.5));
        assert_eq!(
            t.to_keys(),
            keys(&[("service:web,env:prod", 0.25), ("service:,env:", 0.5)])
        );
    }

    #[test]
    fn increases_are_capped_at_double_per_second_and_decreases_apply_at_once() {
        let rates = AppliedAgentRates::default();
        let t0 = Instant::now();
        rates.update(&keys(&[("service:web,env:", 0.1)]), t0);
        assert_eq!(
            rates.applied().lookup("web", ""),
            Some(0.1),
            "the first rates apply as sent"
        );
        rates.update(
            &keys(&[("service:web,env:", 1.0)]),
            t0 + Duration::from_millis(10),
        );
        assert_eq!(rates.applied().lookup("web", ""), Some(0.2));
        rates.unchanged(t0 + Duration::from_millis(500));
        assert_eq!(
            rates.applied().lookup("web", ""),
            Some(0.2),
            "once per second"
        );
        rates.unchanged(t0 + Duration::from_millis(1_010));
        assert_eq!(rates.applied().lookup("web", ""), Some(0.4));
        rates.unchanged(t0 + Duration::from_millis(2_010));
        rates.unchanged(t0 + Duration::from_millis(3_010));
        assert_eq!(
            rates.applied().lookup("web", ""),
            Some(1.0),
            "0.8 → capped by the target"
        );
        rates.update(
            &keys(&[("service:web,env:", 0.05)]),
            t0 + Duration::from_millis(3_020),
        );
        assert_eq!(
            rates.applied().lookup("web", ""),
            Some(0.05),
            "down at once"
        );
        rates.update(
            &keys(&[("service:web,env:", 0.0)]),
            t0 + Duration::from_millis(3_030),
        );
        rates.update(
            &keys(&[("service:web,env:", 0.9)]),
            t0 + Duration::from_millis(3_040),
        );
        assert_eq!(
            rates.applied().lookup("web", ""),
            Some(0.9),
            "up from 0 at once"
        );
    }

    #[test]
    fn a_new_key_ramps_up_from_the_default_rate() {
        let rates = AppliedAgentRates::default();
        let t0 = Instant::now();
        rates.update(&keys(&[("service:,env:", 0.1)]), t0);
        rates.update(
            &keys(&[("service:,env:", 0.1), ("service:web,env:prod", 1.0)]),
            t0 + Duration::from_secs(5),
        );
        let t = rates.applied();
        assert_eq!(t.lookup("web", "prod"), Some(0.2));
        assert_eq!(t.lookup("db", "prod"), Some(0.1));
    }

    #[test]
    fn keys_the_agent_no_longer_sends_are_dropped_and_bad_ones_ignored() {
        let rates = AppliedAgentRates::default();
        let now = Instant::now();
        rates.update(
            &keys(&[("service:a,env:x", 0.5), ("service:b,env:x", 0.5)]),
            now,
        );
        rates.update(
            &keys(&[
                ("service:a,env:x", 0.5),
                ("garbage", 0.1),
                ("service:c,env:x", 7.0),
            ]),
            now,
        );
        let t = rates.applied();
        assert_eq!(t.lookup("a", "x"), Some(0.5));
        assert_eq!(t.lookup("b", "x"), None);
        assert_eq!(t.lookup("c", "x"), None);
    }

    #[test]
    fn keys_split_on_the_last_env_marker() {
        assert_eq!(split_key("service:web,env:prod"), Some(("web", "prod")));
        assert_eq!(split_key("service:,env:"), Some(("", "")));
        assert_eq!(split_key("service:a,b,env:c"), Some(("a,b", "c")));
        assert_eq!(split_key("web"), None);
    }
}
