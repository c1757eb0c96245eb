//! Time: the app's threads read only the monotonic clock; the worker turns those instants into
//! Unix time.
//!
//! In: [`Instant`]s recorded by the layer at span start and exit. Out: Unix nanoseconds for the
//! encoder (worker thread) and Unix seconds for new trace ids (layer, from a reading taken at
//! start). Nothing here locks or blocks.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Converts monotonic instants to Unix time. The worker takes a fresh reading of both clocks
/// before it encodes, so wall-clock steps (NTP) never stretch a span and its start is right to
/// within the drift of a few seconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WallClock {
    instant: Instant,
    unix_ns: i64,
}

impl WallClock {
    pub(crate) fn now() -> Self {
        WallClock {
            instant: Instant::now(),
            unix_ns: unix_now_ns(),
        }
    }

    #[cfg(test)]
    pub(crate) fn at(instant: Instant, unix_ns: i64) -> Self {
        WallClock { instant, unix_ns }
    }

    /// The Unix time, in whole seconds, of `t` (a trace's start, on the app's thread). Traces
    /// a thread starts within the same second as its last one cost two comparisons: the
    /// second's bounds are kept per thread.
    #[inline]
    pub(crate) fn unix_secs(&self, t: Instant) -> u64 {
        if let Ok(Some(second)) = SECOND.try_with(Cell::get) {
            if second.start <= t && t < second.end {
                return second.unix_secs;
            }
        }
        self.unix_secs_of_new_second(t)
    }

    /// [`unix_secs`](Self::unix_secs) for an instant outside this thread's last second, which
    /// becomes its second.
    #[cold]
    #[inline(never)]
    fn unix_secs_of_new_second(&self, t: Instant) -> u64 {
        let ns = self.unix_ns(t).max(0);
        let unix_secs = u64::try_from(ns / 1_000_000_000).unwrap_or(0);
        let into = Duration::from_nanos(u64::try_from(ns % 1_000_000_000).unwrap_or(0));
        if let Some(start) = t.checked_sub(into) {
            let second = Second {
                start,
                end: start + Duration::from_secs(1),
                unix_secs,
            };
            let _ = SECOND.try_with(|s| s.set(Some(second)));
        }
        unix_secs
    }

    /// The Unix time, in nanoseconds, of `t`.
    pub(crate) fn unix_ns(&self, t: Instant) -> i64 {
        let ns = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        match self.instant.checked_duration_since(t) {
            Some(before) => self.unix_ns.saturating_sub(ns(before)),
            None => self.unix_ns.saturating_add(ns(t - self.instant)),
        }
    }
}

/// One Unix second, as monotonic instants: `[start, end)`.
#[derive(Clone, Copy)]
struct Second {
    start: Instant,
    end: Instant,
    unix_secs: u64,
}

thread_local! {
    /// The second this thread last started a trace in.
    static SECOND: Cell<Option<Second>> = const { Cell::new(None) };
}

/// The current wall-clock time in Unix nanoseconds (0 if the clock is before 1970).
pub(crate) fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_converts_instants_on_both_sides_of_its_reading() {
        let base = Instant::now();
        let clock = WallClock::at(base + Duration::from_secs(2), 10_000_000_000);
        assert_eq!(clock.unix_ns(base), 8_000_000_000);
        assert_eq!(
            clock.unix_ns(base + Duration::from_millis(2500)),
            10_500_000_000
        );
        assert_eq!(clock.unix_secs(base + Duration::from_millis(4500)), 12);
    }

    #[test]
    fn unix_seconds_are_exact_on_both_sides_of_a_second_boundary() {
        let base = Instant::now() + Duration::from_secs(10);
        // The reading is 0.9 s into second 100.
        let clock = WallClock::at(base, 100_900_000_000);
        let at = |ms: u64| clock.unix_secs(base + Duration::from_millis(ms));
        assert_eq!(at(0), 100);
        assert_eq!(at(99), 100, "from this thread's kept second");
        assert_eq!(
            at(100),
            101,
            "the next second starts 0.1 s after the reading"
        );
        assert_eq!(at(1099), 101);
        assert_eq!(at(1100), 102);
        assert_eq!(at(50), 100, "an earlier second is computed again");
    }
}
