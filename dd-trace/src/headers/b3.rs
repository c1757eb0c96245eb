//! The `b3multi` style (`x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags`) and the
//! `b3` single header (`b3: {trace id}-{span id}[-{sampled}[-{parent span id}]]`).
//!
//! In: a carrier's headers (extract) or an outgoing context (inject). Out: a remote context,
//! or the headers written into the carrier. Called on whatever app thread propagates.

use super::{Extractor, Injector, OutgoingContext, RemoteContext};
use crate::model::id::{parse_hex, TraceId};

const TRACE_ID: &str = "x-b3-traceid";
const SPAN_ID: &str = "x-b3-spanid";
const SAMPLED: &str = "x-b3-sampled";
const FLAGS: &str = "x-b3-flags";
const SINGLE: &str = "b3";

/// A B3 trace id: 16 or 32 hex digits, not zero.
fn trace_id(s: &str) -> Option<TraceId> {
    let s = s.trim();
    let id = parse_hex(s, 16).or_else(|| parse_hex(s, 32))?;
    (id != 0).then(|| TraceId::from_u128(id))
}

/// A B3 span id: 16 hex digits, not zero.
fn span_id(s: &str) -> Option<u64> {
    let id = parse_hex(s.trim(), 16)? as u64;
    (id != 0).then_some(id)
}

/// Reads the multi-header form.
pub(crate) fn extract_multi(carrier: &dyn Extractor) -> Option<RemoteContext> {
    let mut ctx = RemoteContext::new(
        trace_id(carrier.get(TRACE_ID)?)?,
        span_id(carrier.get(SPAN_ID)?)?,
    );
    ctx.sampling_priority = if carrier.get(FLAGS).map(str::trim) == Some("1") {
        Some(2)
    } else {
        match carrier.get(SAMPLED).map(str::trim) {
            Some("1" | "true") => Some(1),
            Some("0" | "false") => Some(0),
            _ => None,
        }
    };
    Some(ctx)
}

/// Reads the single-header form. A header with only a decision (`0`, `1` or `d`, as proxies
/// send to say "sample" or "do not") carries no trace: a context with the decision alone.
pub(crate) fn extract_single(carrier: &dyn Extractor) -> Option<RemoteContext> {
    let value = carrier.get(SINGLE)?.trim();
    let decision = |part: &str| match part {
        "1" => Some(Some(1)),
        "0" => Some(Some(0)),
        "d" => Some(Some(2)),
        _ => None,
    };
    if let Some(priority) = decision(value) {
        return Some(RemoteContext::decision_only(priority));
    }
    let mut parts = value.split('-');
    let mut ctx = RemoteContext::new(trace_id(parts.next()?)?, span_id(parts.next()?)?);
    ctx.sampling_priority = match parts.next() {
        None => None,
        Some(part) => decision(part)?,
    };
    // The parent span id part, if any, is ignored.
    let _parent = parts.next();
    if parts.next().is_some() {
        return None;
    }
    Some(ctx)
}

fn hex_trace_id(id: TraceId) -> String {
    if id.high() == 0 {
        format!("{:016x}", id.low())
    } else {
        format!("{id:x}")
    }
}

/// Writes the multi-header form.
pub(crate) fn inject_multi(ctx: &OutgoingContext, carrier: &mut dyn Injector) {
    carrier.set(TRACE_ID, hex_trace_id(ctx.trace_id));
    carrier.set(SPAN_ID, format!("{:016x}", ctx.span_id));
    if ctx.priority >= 2 {
        carrier.set(FLAGS, "1".into());
    } else {
        carrier.set(SAMPLED, if ctx.priority > 0 { "1" } else { "0" }.into());
    }
}

/// Writes the single header.
pub(crate) fn inject_single(ctx: &OutgoingContext, carrier: &mut dyn Injector) {
    let sampled = match ctx.priority {
        p if p >= 2 => "d",
        p if p > 0 => "1",
        _ => "0",
    };
    carrier.set(
        SINGLE,
        format!(
            "{}-{:016x}-{sampled}",
            hex_trace_id(ctx.trace_id),
            ctx.span_id
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn multi_headers_are_read_with_their_decision() {
        let base = [
            (TRACE_ID, "463ac35c9f6413ad"),
            (SPAN_ID, "a2fb4a1d1a96d312"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            extract_multi(&h(&all))
        };
        let c = with(&[(SAMPLED, "1")]).unwrap();
        assert_eq!(
            c.trace_id(),
            Some(TraceId::from_parts(0, 0x463ac35c9f6413ad))
        );
        assert_eq!(c.parent_id, 0xa2fb4a1d1a96d312);
        assert_eq!(c.sampling_priority, Some(1));
        assert_eq!(with(&[(SAMPLED, "0")]).unwrap().sampling_priority, Some(0));
        assert_eq!(with(&[(FLAGS, "1")]).unwrap().sampling_priority, Some(2));
        assert_eq!(with(&[]).unwrap().sampling_priority, None);
        let long = h(&[
            (TRACE_ID, "80f198ee56343ba864fe8b2a57d3eff7"),
            (SPAN_ID, "e457b5a2e4d86bd1"),
        ]);
        assert_eq!(
            extract_multi(&long).unwrap().trace_id().unwrap().to_u128(),
            0x80f198ee56343ba864fe8b2a57d3eff7
        );
        for bad in [
            [
                (TRACE_ID, "0000000000000000"),
                (SPAN_ID, "a2fb4a1d1a96d312"),
            ],
            [(TRACE_ID, "463ac35c9f6413a"), (SPAN_ID, "a2fb4a1d1a96d312")],
            [(TRACE_ID, "463ac35c9f6413ad"), (SPAN_ID, "xyz")],
        ] {
            assert!(extract_multi(&h(&bad)).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_single_header_carries_ids_and_an_optional_decision() {
        let one = |v: &str| extract_single(&h(&[(SINGLE, v)]));
        let c =
            one("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90").unwrap();
        assert_eq!(c.parent_id, 0xe457b5a2e4d86bd1);
        assert_eq!(c.sampling_priority, Some(1));
        assert_eq!(
            one("463ac35c9f6413ad-a2fb4a1d1a96d312-d")
                .unwrap()
                .sampling_priority,
            Some(2)
        );
        assert_eq!(
            one("463ac35c9f6413ad-a2fb4a1d1a96d312")
                .unwrap()
                .sampling_priority,
            None
        );
        assert_eq!(
            one("463ac35c9f6413ad-a2fb4a1d1a96d312-1-not-hex").map(|c| c.parent_id),
            None,
            "five parts are not a b3 header"
        );
        assert_eq!(
            one("463ac35c9f6413ad-a2fb4a1d1a96d312-1-zz").map(|c| c.parent_id),
            Some(0xa2fb4a1d1a96d312),
            "the parent part is ignored"
        );
        // A decision alone: no trace, only the priority.
        for (bare, priority) in [("0", 0), ("1", 1), ("d", 2)] {
            let c = one(bare).unwrap();
            assert_eq!((c.trace_id, c.sampling_priority), (None, Some(priority)));
        }
        for bad in ["x", "463ac35c9f6413ad-a2fb4a1d1a96d312-x", "a-b-1", ""] {
            assert!(one(bad).is_none(), "{bad:?}");
        }
    }
}
