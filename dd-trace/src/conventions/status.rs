//! Sets of status codes: which HTTP or gRPC statuses make a server or client span an error.
//!
//! In: the text of `DD_TRACE_HTTP_SERVER_ERROR_STATUSES` / `DD_TRACE_HTTP_CLIENT_ERROR_STATUSES`
//! and the gRPC ones (comma-separated codes and inclusive ranges, `400-403,405,410-499`), when
//! the tracer is built. Out: a set the worker asks per span.

use std::fmt;

/// Status codes 0–999, one bit each.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusSet([u64; 16]);

impl StatusSet {
    /// 500–599.
    pub(crate) const DEFAULT_SERVER_ERRORS: StatusSet = StatusSet::range(500, 599);
    /// 400–599: a client sees the server's failures as its own too.
    pub(crate) const DEFAULT_CLIENT_ERRORS: StatusSet = StatusSet::range(400, 599);
    /// gRPC statuses that are the server's own fault, as OpenTelemetry's conventions list
    /// them: UNKNOWN (2), DEADLINE_EXCEEDED (4), UNIMPLEMENTED (12), INTERNAL (13),
    /// UNAVAILABLE (14), DATA_LOSS (15).
    pub(crate) const DEFAULT_GRPC_SERVER_ERRORS: StatusSet = StatusSet::range(2, 2)
        .union(StatusSet::range(4, 4))
        .union(StatusSet::range(12, 15));
    /// Every gRPC status but OK (1–16).
    pub(crate) const DEFAULT_GRPC_CLIENT_ERRORS: StatusSet = StatusSet::range(1, 16);

    const fn union(self, other: StatusSet) -> StatusSet {
        let mut bits = self.0;
        let mut i = 0;
        while i < bits.len() {
            bits[i] |= other.0[i];
            i += 1;
        }
        StatusSet(bits)
    }

    const fn range(low: u16, high: u16) -> StatusSet {
        let mut bits = [0u64; 16];
        let mut code = low;
        while code <= high {
            bits[code as usize / 64] |= 1 << (code % 64);
            code += 1;
        }
        StatusSet(bits)
    }

    /// Whether `code` is in the set.
    pub(crate) fn contains(&self, code: u16) -> bool {
        code < 1000 && self.0[code as usize / 64] & (1 << (code % 64)) != 0
    }

    /// Parses `400-403,405,410-499` (spaces around items allowed); `None` if any item is not a
    /// code or a range of codes below 1000, or the list is empty.
    pub(crate) fn parse(text: &str) -> Option<StatusSet> {
        let mut set = StatusSet([0; 16]);
        let mut any = false;
        for item in text.split(',') {
            let item = item.trim();
            let (low, high) = match item.split_once('-') {
                Some((low, high)) => (low.trim(), high.trim()),
                None => (item, item),
            };
            let code = |s: &str| s.parse::<u16>().ok().filter(|&c| c < 1000);
            let (low, high) = (code(low)?, code(high)?);
            for c in low.min(high)..=low.max(high) {
                set.0[c as usize / 64] |= 1 << (c % 64);
            }
            any = true;
        }
        any.then_some(set)
    }
}

/// As the variable writes it: `500-599`, `400-403,405`.
impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut code = 0u16;
        while code < 1000 {
            if !self.contains(code) {
                code += 1;
                continue;
            }
            let start = code;
            while code + 1 < 1000 && self.contains(code + 1) {
                code += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == code {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{code}")?;
            }
            code += 1;
        }
        Ok(())
    }
}

impl fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusSet({self})")
    }
}
