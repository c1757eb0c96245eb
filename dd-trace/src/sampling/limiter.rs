//! The rate limiter of sampling rules: a token bucket of `limit` tokens refilled continuously at
//! `limit` per second, starting full, and the effective rate it reports as `_dd.limit_psr`.
//!
//! In: one call per trace that a rule kept (app threads) or per span a span rule kept (worker).
//! Out: allowed or not, and the effective rate: allowed ÷ seen over the current second and the
//! one before it, the previous one counted only if it was exactly the last second (as Datadog's
//! Go tracer computes it). Lock-free: the bucket is one atomic (the cell-rate form of a token
//! bucket) and each second's counts another, so no app thread ever waits on another.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Counts per window are kept in 20 bits: past a million traces a second they saturate.
const COUNT_BITS: u32 = 20;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
/// The window's second is kept modulo 2^24 (the bits left above the counts): about 194 days,
/// after which it wraps, and only "same second" and "the second before" are ever compared.
const SECOND_MASK: u64 = (1 << (64 - 2 * COUNT_BITS)) - 1;

/// A token-bucket rate limiter with its effective rate.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: f64,
    start: Instant,
    /// Nanoseconds between tokens; 0 when every call is allowed, `u64::MAX` when none is.
    interval_ns: u64,
    /// How far ahead of now the bucket may be booked: the burst, `limit` tokens.
    tolerance_ns: u64,
    /// The "theoretical arrival time" of the next token, in ns since `start`.
    next_free_ns: AtomicU64,
    /// This window's second (since `start`) and counts: `second << 40 | seen << 20 | allowed`.
    current: AtomicU64,
    /// The previous window, in the same form (its second tells whether it was the last one).
    previous: AtomicU64,
}

/// What the limiter decided for one call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Verdict {
    pub(crate) allowed: bool,
    /// The effective rate, for `_dd.limit_psr`.
    pub(crate) effective_rate: f64,
}

impl RateLimiter {
    /// A limiter of `limit` per second: 0 refuses everything, a negative or infinite limit
    /// allows everything.
    pub(crate) fn new(limit: f64) -> Self {
        let (interval_ns, tolerance_ns) = if limit < 0.0 || limit.is_infinite() {
            (0, 0)
        } else if limit == 0.0 || limit.is_nan() {
            (u64::MAX, 0)
        } else {
            let interval = (NANOS_PER_SEC as f64 / limit).max(1.0) as u64;
            // `limit` tokens at once: the first is free, the other limit − 1 are booked ahead.
            let burst = limit.ceil().max(1.0) - 1.0;
            (interval, (burst * interval as f64) as u64)
        };
        RateLimiter {
            limit,
            start: Instant::now(),
            interval_ns,
            tolerance_ns,
            next_free_ns: AtomicU64::new(0),
            current: AtomicU64::new(0),
            previous: AtomicU64::new(0),
        }
    }

    /// The configured limit.
    pub(crate) fn limit(&self) -> f64 {
        self.limit
    }

    /// Asks for one token now.
    pub(crate) fn allow_one(&self) -> Verdict {
        self.allow_at(Instant::now())
    }

    /// Asks for one token at `now` (tests give the time).
    pub(crate) fn allow_at(&self, now: Instant) -> Verdict {
        let now_ns =
            u64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        let allowed = self.take(now_ns);
        let effective_rate = self.count((now_ns / NANOS_PER_SEC) & SECOND_MASK, allowed);
        Verdict {
            allowed,
            effective_rate,
        }
    }

    /// Undoes a call whose decision was thrown away (a remote parent's decision replaced it, or
    /// another rule decided): its token, if it got one, goes back in the bucket, and it is no
    /// longer counted in the effective rate (if its window is still the current one).
    pub(crate) fn give_back(&self, allowed: bool) {
        self.give_back_at(Instant::now(), allowed);
    }

    fn give_back_at(&self, now: Instant, allowed: bool) {
        let now_ns =
            u64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        if allowed && self.interval_ns != 0 && self.interval_ns != u64::MAX {
            let _ =
                self.next_free_ns
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |booked| {
                        Some(booked.saturating_sub(self.interval_ns))
                    });
        }
        let second = (now_ns / NANOS_PER_SEC) & SECOND_MASK;
        let _ = self
            .current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let (cur_second, seen, kept) = unpack(cur);
                (cur_second == second && seen > 0 && (kept > 0 || !allowed))
                    .then(|| pack(second, seen - 1, kept - u64::from(allowed)))
            });
    }

    fn take(&self, now_ns: u64) -> bool {
        match self.interval_ns {
            0 => return true,
            u64::MAX => return false,
            _ => {}
        }
        let mut booked = self.next_free_ns.load(Ordering::Relaxed);
        loop {
            // The bucket is empty when the next token is booked beyond what the burst allows.
            if booked > now_ns.saturating_add(self.tolerance_ns) {
                return false;
            }
            let next = booked.max(now_ns).saturating_add(self.interval_ns);
            match self.next_free_ns.compare_exchange_weak(
                booked,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => booked = actual,
            }
        }
    }

    /// Counts one call in `second`'s window (a second masked by [`SECOND_MASK`]) and returns
    /// the effective rate.
    fn count(&self, second: u64, allowed: bool) -> f64 {
        let mut cur = self.current.load(Ordering::Acquire);
        let updated = loop {
            let (cur_second, seen, kept) = unpack(cur);
            let next = if cur_second == second {
                pack(second, seen + 1, kept + u64::from(allowed))
            } else {
                pack(second, 1, u64::from(allowed))
            };
            match self
                .current
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if cur != 0 && cur_second != second {
                        // This call opened a new window: the old one becomes the previous.
                        self.previous.store(cur, Ordering::Release);
                    }
                    break next;
                }
                Err(actual) => cur = actual,
            }
        };
        let (second, seen, kept) = unpack(updated);
        let (prev_second, prev_seen, prev_kept) = unpack(self.previous.load(Ordering::Acquire));
        let last_second = (prev_second + 1) & SECOND_MASK == second;
        let (prev_seen, prev_kept) = if prev_seen > 0 && last_second {
            (prev_seen, prev_kept)
        } else {
            (0, 0)
        };
        (prev_kept + kept) as f64 / (prev_seen + seen).max(1) as f64
    }
}

fn pack(second: u64, seen: u64, allowed: u64) -> u64 {
    (second << (2 * COUNT_BITS)) | (seen.min(COUNT_MAX) << COUNT_BITS) | allowed.min(COUNT_MAX)
}

fn unpack(v: u64) -> (u64, u64, u64) {
    (
        v >> (2 * COUNT_BITS),
        (v >> COUNT_BITS) & COUNT_MAX,
        v & COUNT_MAX,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(l: &RateLimiter, ms: u64) -> Verdict {
        l.allow_at(l.start + Duration::from_millis(ms))
    }

    #[test]
    fn a_full_bucket_allows_a_burst_of_limit_then_refills_at_the_rate() {
        let l = RateLimiter::new(10.0);
        let burst = (0..15).filter(|_| at(&l, 0).allowed).count();
        assert_eq!(burst, 10, "starts full with `limit` tokens");
        assert!(!at(&l, 50).allowed, "no token back after 50 ms");
        assert!(at(&l, 100).allowed, "one token back after 1/limit s");
        assert!(!at(&l, 100).allowed);
        // After a quiet second the bucket is full again, not fuller.
        let burst = (0..15).filter(|_| at(&l, 2_000).allowed).count();
        assert_eq!(burst, 10);
    }

    #[test]
    fn the_effective_rate_covers_this_second_and_exactly_the_last_one() {
        let l = RateLimiter::new(2.0);
        // Second 0: 4 seen, 2 allowed.
        let rates: Vec<f64> = (0..4).map(|_| at(&l, 10).effective_rate).collect();
        assert_eq!(rates, [1.0, 1.0, 2.0 / 3.0, 0.5]);
        // Second 1: the previous second counts: (2 + 1) / (4 + 1).
        let v = at(&l, 1_500);
        assert!(v.allowed);
        assert!((v.effective_rate - 3.0 / 5.0).abs() < 1e-12, "{v:?}");
        // Second 3: second 2 was empty, so second 1 is not "the last one": only this call.
        let v = at(&l, 3_900);
        assert!(v.allowed);
        assert_eq!(v.effective_rate, 1.0);
    }

    #[test]
    fn a_call_given_back_returns_its_token_and_its_count() {
        let l = RateLimiter::new(2.0);
        assert!(at(&l, 10).allowed);
        assert!(at(&l, 10).allowed);
        l.give_back_at(l.start + Duration::from_millis(20), true);
        let v = at(&l, 30);
        assert!(v.allowed, "the returned token is there again");
        assert_eq!(
            v.effective_rate, 1.0,
            "2 seen, 2 allowed: the given-back call is gone"
        );
        let refused = at(&l, 40);
        assert!(!refused.allowed);
        l.give_back_at(l.start + Duration::from_millis(50), false);
        assert!(!at(&l, 60).allowed, "a refused call had no token to return");
        assert_eq!(at(&l, 70).effective_rate, 2.0 / 4.0);
    }

    #[test]
    fn the_effective_rate_still_counts_windows_after_194_days() {
        let l = RateLimiter::new(2.0);
        // Around the second where the window's 24 bits wrap, and well past it.
        for first in [(1u64 << 24) - 1, (1 << 24) + 1000] {
            let ms = first * 1000;
            let rates: Vec<f64> = (0..4).map(|_| at(&l, ms).effective_rate).collect();
            assert_eq!(
                rates[3], 0.5,
                "one window for one second, at {first} s: {rates:?}"
            );
            // The next second counts the previous one, across the wrap too.
            let v = at(&l, ms + 1_500);
            assert!((v.effective_rate - 3.0 / 5.0).abs() < 1e-12, "{v:?}");
        }
    }

    #[test]
    fn zero_refuses_and_negative_allows_everything() {
        let none = RateLimiter::new(0.0);
        assert!((0..100).all(|_| !none.allow_one().allowed));
        assert_eq!(none.allow_one().effective_rate, 0.0);
        let all = RateLimiter::new(-1.0);
        assert!((0..100_000).all(|_| all.allow_one().allowed));
        assert_eq!(all.allow_one().effective_rate, 1.0);
    }

    #[test]
    fn concurrent_callers_never_get_more_than_the_burst() {
        let l = std::sync::Arc::new(RateLimiter::new(1000.0));
        let allowed: usize = (0..4)
            .map(|_| {
                let l = std::sync::Arc::clone(&l);
                std::thread::spawn(move || (0..2000).filter(|_| at(&l, 0).allowed).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(allowed, 1000);
    }

    #[test]
    fn fractional_limits_still_allow_one_at_a_time() {
        let l = RateLimiter::new(0.5);
        assert!(at(&l, 0).allowed);
        assert!(!at(&l, 1_000).allowed);
        assert!(at(&l, 2_000).allowed);
    }
}
