//! Time: the app's threads read only the monotonic clock; the worker turns those instants into
//! Unix time.
//!
//! In: [`Instant`]s recorded by the layer at span start and exit. Out: Unix nanoseconds for the
//! encoder (worker thread) and Unix seconds for new trace ids (layer, from a reading taken at
//! start). Nothing here locks or blocks.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

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

    /// The Unix time, in whole seconds, of `t` (at or after this reading).
    pub(crate) fn unix_secs(&self, t: Instant) -> u64 {
        let secs = u64::try_from(self.unix_ns / 1_000_000_000).unwrap_or(0);
        secs + t.saturating_duration_since(self.instant).as_secs()
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

/// The current wall-clock time in Unix nanoseconds (0 if the clock is before 1970).
pub(crate) fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
}
