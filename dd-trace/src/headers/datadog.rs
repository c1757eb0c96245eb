//! The `datadog` style: `x-datadog-trace-id`, `x-datadog-parent-id`,
//! `x-datadog-sampling-priority`, `x-datadog-origin` and `x-datadog-tags` (the `_dd.p.*` tags,
//! `k=v` separated by commas, at most `DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH` bytes).
//!
//! In: a carrier's headers (extract) or an outgoing context (inject). Out: a remote context
//! with any `_dd.propagation_error`, or the headers written into the carrier. Called on
//! whatever app thread propagates.

use super::{Extractor, Injector, OutgoingContext, RemoteContext};
use crate::model::id::{parse_hex, TraceId};

const TRACE_ID: &str = "x-datadog-trace-id";
const PARENT_ID: &str = "x-datadog-parent-id";
const PRIORITY: &str = "x-datadog-sampling-priority";
const ORIGIN: &str = "x-datadog-origin";
const TAGS: &str = "x-datadog-tags";

/// Reads a Datadog context; `None` when the ids are missing or invalid.
pub(crate) fn extract(carrier: &dyn Extractor, max_tags_len: usize) -> Option<RemoteContext> {
    let low = parse_id(carrier.get(TRACE_ID)?)?;
    if low == 0 {
        return None;
    }
    let origin = carrier
        .get(ORIGIN)
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string);
    let parent_id = match carrier.get(PARENT_ID).map(parse_id) {
        Some(Some(id)) => id,
        Some(None) => return None,
        None => 0,
    };
    // Only synthetics tests start a trace without a parent (`synthetics`, and the variants
    // Synthetics sends, such as `synthetics-browser`).
    if parent_id == 0
        && !origin
            .as_deref()
            .is_some_and(|o| o.starts_with("synthetics"))
    {
        return None;
    }
    let mut ctx = RemoteContext::new(TraceId::from_parts(0, low), parent_id);
    ctx.origin = origin;
    ctx.sampling_priority = carrier
        .get(PRIORITY)
        .and_then(|p| p.trim().parse::<i64>().ok())
        .map(|p| p.clamp(i64::from(i8::MIN), i64::from(i8::MAX)) as i8);
    if let Some(tags) = carrier.get(TAGS) {
        read_tags(&mut ctx, tags, max_tags_len);
    }
    Some(ctx)
}

/// A decimal id: an unsigned 64-bit value, or a negative signed one read as its bits.
fn parse_id(s: &str) -> Option<u64> {
    let s = s.trim();
    s.parse::<u64>()
        .ok()
        .or_else(|| s.parse::<i64>().ok().map(|v| v as u64))
}

/// Reads `x-datadog-tags` into `ctx`: only `_dd.p.*` keys; `_dd.p.tid` supplies the trace id's
/// high bits. A header over `max_len` (or any, when `max_len` is 0: the header is disabled) or
/// malformed brings nothing; a tag with characters the header may not carry is skipped.
fn read_tags(ctx: &mut RemoteContext, header: &str, max_len: usize) {
    if max_len == 0 {
        ctx.propagation_error = Some("disabled".into());
        return;
    }
    if header.len() > max_len {
        ctx.propagation_error = Some("extract_max_size".into());
        return;
    }
    if header.trim().is_empty() {
        return;
    }
    let mut tags = Vec::new();
    let mut skipped = false;
    for item in header.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            ctx.propagation_error = Some("decoding_error".into());
            return;
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || value.is_empty() {
            ctx.propagation_error = Some("decoding_error".into());
            return;
        }
        if !valid_key(key) || !valid_value(value) {
            skipped = true;
        } else if key.starts_with("_dd.p.") {
            tags.push((key.to_string(), value.to_string()));
        }
    }
    if skipped {
        ctx.propagation_error = Some("encoding_error".into());
    }
    for (key, value) in tags {
        if key == "_dd.p.tid" {
            let lowercase = !value.bytes().any(|b| b.is_ascii_uppercase());
            match parse_hex(&value, 16) {
                Some(high) if high != 0 && lowercase => {
                    let low = ctx.trace_id.map_or(0, |t| t.low());
                    ctx.trace_id = Some(TraceId::from_parts(high as u64, low));
                }
                _ => ctx.propagation_error = Some(format!("malformed_tid {value}")),
            }
            continue;
        }
        ctx.tags.push((key, value));
    }
}

/// Keys: printable ASCII except space, `=` and `,`.
fn valid_key(key: &str) -> bool {
    key.bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b'=' && b != b',')
}

/// Values: printable ASCII and space, except `,`.
fn valid_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && b != b',')
}

/// Writes the Datadog headers of `ctx`. Returns the propagation error to record on the trace
/// when the tags did not fit.
pub(crate) fn inject(
    ctx: &OutgoingContext,
    carrier: &mut dyn Injector,
    max_tags_len: usize,
) -> Option<&'static str> {
    carrier.set(TRACE_ID, ctx.trace_id.low().to_string());
    carrier.set(PARENT_ID, ctx.span_id.to_string());
    carrier.set(PRIORITY, ctx.priority.to_string());
    if let Some(origin) = &ctx.origin {
        carrier.set(ORIGIN, origin.clone());
    }
    if max_tags_len == 0 {
        return None;
    }
    let mut header = String::new();
    let mut skipped = false;
    for (key, value) in ctx.propagated_tags() {
        if !valid_key(key) || !valid_value(value) {
            skipped = true;
            continue;
        }
        if !header.is_empty() {
            header.push(',');
        }
        header.push_str(key);
        header.push('=');
        header.push_str(value);
    }
    if header.len() > max_tags_len {
        return Some("inject_max_size");
    }
    if !header.is_empty() {
        carrier.set(TAGS, header);
    }
    skipped.then_some("encoding_error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn contexts_are_read_as_the_spec_says() {
        // (headers, trace id (high, low), parent, priority) or None for invalid.
        type Want = Option<((u64, u64), u64, Option<i8>)>;
        let cases: &[(&[(&str, &str)], Want)] = &[
            (
                &[(TRACE_ID, "123"), (PARENT_ID, "456")],
                Some(((0, 123), 456, None)),
            ),
            (
                &[(TRACE_ID, "123"), (PARENT_ID, "456"), (PRIORITY, "2")],
                Some(((0, 123), 456, Some(2))),
            ),
            // A negative signed id is read as its bits.
            (
                &[(TRACE_ID, "-1"), (PARENT_ID, "7")],
                Some(((0, u64::MAX), 7, None)),
            ),
            (&[(TRACE_ID, "0"), (PARENT_ID, "7")], None),
            (&[(TRACE_ID, "abc"), (PARENT_ID, "7")], None),
            (&[(TRACE_ID, "123"), (PARENT_ID, "x")], None),
            (&[(TRACE_ID, "123")], None),
            (&[(PARENT_ID, "7")], None),
            (
                &[(TRACE_ID, "123"), (ORIGIN, "synthetics")],
                Some(((0, 123), 0, None)),
            ),
            (
                &[
                    (TRACE_ID, "123"),
                    (PARENT_ID, "9"),
                    (TAGS, "_dd.p.tid=6638b0e800000000,_dd.p.dm=-4"),
                ],
                Some(((0x6638_b0e8_0000_0000, 123), 9, None)),
            ),
        ];
        for (h, want) in cases {
            let got = extract(&headers(h), 512).map(|c| {
                let t = c.trace_id().unwrap();
                ((t.high(), t.low()), c.parent_id, c.sampling_priority)
            });
            assert_eq!(got, *want, "{h:?}");
        }
    }

    #[test]
    fn tags_keep_only_dd_p_and_report_what_is_wrong() {
        let base = [(TRACE_ID, "1"), (PARENT_ID, "2")];
        let with = |tags: &str| {
            let mut h = headers(&base);
            h.insert(TAGS.into(), tags.into());
            extract(&h, 512).unwrap()
        };
        let c = with("_dd.p.dm=-4,other=x,_dd.p.usr.id=dXNlcg==");
        assert_eq!(
            c.tags,
            [
                ("_dd.p.dm".to_string(), "-4".to_string()),
                ("_dd.p.usr.id".to_string(), "dXNlcg==".to_string())
            ]
        );
        assert_eq!(c.propagation_error, None);
        assert_eq!(
            with("_dd.p.dm").propagation_error.as_deref(),
            Some("decoding_error")
        );
        assert_eq!(
            with("=x").propagation_error.as_deref(),
            Some("decoding_error")
        );
        assert!(
            with("_dd.p.dm=-4,bad").tags.is_empty(),
            "nothing from a malformed header"
        );
        let c = with("_dd.p.tid=XYZ,_dd.p.dm=-3");
        assert_eq!(c.propagation_error.as_deref(), Some("malformed_tid XYZ"));
        assert_eq!(c.trace_id().unwrap().high(), 0);
        assert_eq!(c.tags.len(), 1);
        assert_eq!(
            with("_dd.p.tid=6638B0E800000000")
                .trace_id()
                .unwrap()
                .high(),
            0,
            "uppercase"
        );
        let c = with("_dd.p.dm=-4,_dd.p.bad\u{7f}=x,_dd.p.usr=a b");
        assert_eq!(c.propagation_error.as_deref(), Some("encoding_error"));
        assert_eq!(
            c.tags,
            [
                ("_dd.p.dm".to_string(), "-4".to_string()),
                ("_dd.p.usr".to_string(), "a b".to_string())
            ],
            "only the bad tag is skipped"
        );
        let mut h = headers(&base);
        h.insert(TAGS.into(), "_dd.p.dm=-4".into());
        let c = extract(&h, 0).unwrap();
        assert_eq!(c.propagation_error.as_deref(), Some("disabled"));
        assert!(c.tags.is_empty(), "a disabled header brings nothing");
        let long = format!("_dd.p.x={}", "a".repeat(600));
        let c = with(&long);
        assert_eq!(c.propagation_error.as_deref(), Some("extract_max_size"));
        assert!(c.tags.is_empty());
    }
}
