//! Trace and span identifiers.
//!
//! In: the trace's start second and a per-thread random generator. Out: [`TraceId`] (128-bit,
//! spec §1.3) and [`SpanId`] (random, non-zero). Called by the layer on the app's threads when
//! a span starts; never locks, never blocks.

use std::cell::RefCell;
use std::fmt;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A 128-bit Datadog trace id.
///
/// New ids carry the trace's start time, in Unix seconds, in bits 96–127 (bits 64–95 are zero)
/// and 64 random bits below. On the wire the low 64 bits go in `trace_id`; the high 64 bits
/// travel as the `_dd.p.tid` tag.
///
/// `Display` writes the form Datadog's log correlation expects by default: 32 lowercase hex
/// digits when the high 64 bits are set, otherwise the decimal low 64 bits (see
/// [`to_log_string`](Self::to_log_string) to choose). `{:x}` always writes 32 hex digits.
///
/// ```
/// let id = dd_trace::TraceId::from_parts(0x6638_b0e8_0000_0000, 42);
/// assert_eq!(id.to_string(), "6638b0e800000000000000000000002a");
/// assert_eq!(dd_trace::TraceId::from_parts(0, 42).to_string(), "42");
/// assert_eq!(format!("{:x}", dd_trace::TraceId::from_parts(0, 42)), "0000000000000000000000000000002a");
/// ```
// Two halves rather than a `u128`: 8-byte alignment keeps the structures that hold an id small.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId {
    high: u64,
    low: u64,
}

impl TraceId {
    /// Builds a trace id from its 128-bit value.
    pub const fn from_u128(value: u128) -> Self {
        TraceId {
            high: (value >> 64) as u64,
            low: value as u64,
        }
    }

    /// Builds a trace id from its high and low halves.
    pub const fn from_parts(high: u64, low: u64) -> Self {
        TraceId { high, low }
    }

    /// The full 128-bit value.
    pub const fn to_u128(self) -> u128 {
        ((self.high as u128) << 64) | self.low as u128
    }

    /// The low 64 bits: the wire `trace_id`, and the id used for sampling decisions.
    pub const fn low(self) -> u64 {
        self.low
    }

    /// The high 64 bits (zero for a 64-bit id).
    pub const fn high(self) -> u64 {
        self.high
    }

    /// The high half as `_dd.p.tid` writes it: 16 lowercase hex digits, written into `buf`
    /// (the worker does this once per chunk, without the formatting machinery).
    pub(crate) fn high_hex(self, buf: &mut [u8; 16]) -> &str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, d) in buf.iter_mut().enumerate() {
            *d = DIGITS[((self.high >> (60 - 4 * i)) & 0xf) as usize];
        }
        std::str::from_utf8(buf).unwrap_or_default()
    }

    /// A new random trace id. With `with_high_bits`, the high half carries `unix_seconds` in
    /// its top 32 bits (spec §1.3); otherwise the id is 64-bit.
    pub(crate) fn generate(unix_seconds: u64, with_high_bits: bool) -> Self {
        let high = if with_high_bits {
            (unix_seconds as u32 as u64) << 32
        } else {
            0
        };
        TraceId::from_parts(high, random_non_zero(u64::MAX))
    }

    /// The form log correlation writes: 32 lowercase hex digits when the high half is non-zero
    /// and `log_128_bit` is on (`DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED`, the default),
    /// otherwise the decimal low 64 bits.
    pub fn to_log_string(self, log_128_bit: bool) -> String {
        self.log_display(log_128_bit).to_string()
    }

    /// [`to_log_string`](Self::to_log_string) without allocating: formats straight into the
    /// line being written.
    ///
    /// ```
    /// let id = dd_trace::TraceId::from_parts(0x6638_b0e8_0000_0000, 42);
    /// assert_eq!(format!("{}", id.log_display(false)), "42");
    /// ```
    pub fn log_display(self, log_128_bit: bool) -> impl fmt::Display {
        struct LogTraceId(TraceId, bool);
        impl fmt::Display for LogTraceId {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.1 {
                    fmt::Display::fmt(&self.0, f)
                } else {
                    fmt::Display::fmt(&self.0.low(), f)
                }
            }
        }
        LogTraceId(self, log_128_bit)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.high() != 0 {
            write!(f, "{:016x}{:016x}", self.high, self.low)
        } else {
            fmt::Display::fmt(&self.low(), f)
        }
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:016x}{:016x})", self.high, self.low)
    }
}

/// Formats as 32 lowercase hex digits.
impl fmt::LowerHex for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{:016x}", self.high, self.low)
    }
}

/// A Datadog span id: random and never zero. `Display` writes it in decimal, as log
/// correlation and the `x-datadog-parent-id` header do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(u64);

impl SpanId {
    /// Builds a span id from its value; `None` for zero, which is never a valid span id.
    pub const fn new(value: u64) -> Option<Self> {
        if value == 0 {
            None
        } else {
            Some(SpanId(value))
        }
    }

    /// The id's value.
    pub const fn to_u64(self) -> u64 {
        self.0
    }

    /// A new random span id in `[1, 2^63 - 1]`, so that tracers storing ids as signed 64-bit
    /// integers read it unchanged.
    pub(crate) fn generate() -> Self {
        SpanId(random_non_zero(i64::MAX as u64))
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({})", self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Parses exactly `digits` (at most 32) hex digits of either case; `None` for anything else
/// (another length, a sign, a non-hex character).
pub(crate) fn parse_hex(s: &str, digits: usize) -> Option<u128> {
    if digits > 32 || s.len() != digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_os_rng());
}

/// A random value in `[1, mask]` (`mask` is all ones in its low bits).
fn random_non_zero(mask: u64) -> u64 {
    loop {
        let value = RNG
            .try_with(|rng| match rng.try_borrow_mut() {
                Ok(mut rng) => rng.random::<u64>(),
                // Re-entered (impossible today, but never panic on the app's thread).
                Err(_) => rand::random::<u64>(),
            })
            // Thread-local already destroyed: the thread is exiting.
            .unwrap_or_else(|_| rand::random::<u64>())
            & mask;
        if value != 0 {
            return value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn span_ids_are_non_zero_63_bit_and_distinct() {
        let ids: HashSet<u64> = (0..10_000).map(|_| SpanId::generate().to_u64()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|&id| id != 0 && id <= i64::MAX as u64));
    }

    #[test]
    fn trace_id_high_half_is_start_seconds_then_zeros() {
        let id = TraceId::generate(0x6638_b0e8, true);
        assert_eq!(id.high(), 0x6638_b0e8_0000_0000);
        assert_ne!(id.low(), 0);
        let id64 = TraceId::generate(0x6638_b0e8, false);
        assert_eq!(id64.high(), 0);
    }

    #[test]
    fn trace_id_low_halves_cover_the_full_64_bits() {
        // With 64 random bits, some of 1000 ids have the top bit set.
        assert!((0..1000).any(|_| TraceId::generate(1, true).low() > i64::MAX as u64));
    }

    #[test]
    fn log_form_is_hex_only_with_high_bits_and_flag() {
        let id = TraceId::from_parts(0x6638_b0e8_0000_0000, 42);
        assert_eq!(id.to_log_string(true), "6638b0e800000000000000000000002a");
        assert_eq!(id.to_log_string(false), "42");
        assert_eq!(TraceId::from_parts(0, 42).to_log_string(true), "42");
    }

    #[test]
    fn high_half_hex_is_sixteen_lowercase_digits() {
        for high in [0, 1, 0x6638_b0e8_0000_0000, u64::MAX] {
            let id = TraceId::from_parts(high, 7);
            assert_eq!(id.high_hex(&mut [0; 16]), format!("{high:016x}"));
        }
    }

    #[test]
    fn hex_is_parsed_only_at_its_exact_length() {
        assert_eq!(
            parse_hex("00f067aa0ba902b7", 16),
            Some(0x00f0_67aa_0ba9_02b7)
        );
        assert_eq!(
            parse_hex("00F067AA0BA902B7", 16),
            Some(0x00f0_67aa_0ba9_02b7)
        );
        for bad in [
            "00f067aa0ba902b",
            "+0f067aa0ba902b7",
            "00f067aa0ba902bg",
            "",
        ] {
            assert_eq!(parse_hex(bad, 16), None, "{bad:?}");
        }
        assert_eq!(parse_hex(&"f".repeat(33), 33), None);
    }

    #[test]
    fn span_id_rejects_zero() {
        assert!(SpanId::new(0).is_none());
        assert_eq!(SpanId::new(7).map(SpanId::to_u64), Some(7));
    }
}
