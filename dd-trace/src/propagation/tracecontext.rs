//! The `tracecontext` style: W3C `traceparent` and `tracestate`, with Datadog's `dd=` member
//! (`s:` priority, `o:` origin, `p:` last Datadog parent, `t.*` propagated tags).

use super::{Extractor, Injector, OutgoingContext, RemoteContext};
use crate::model::id::TraceId;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
/// List-members `tracestate` may hold.
const MAX_MEMBERS: usize = 32;
/// Characters the `dd=` member may take.
const MAX_DD_MEMBER: usize = 256;

/// What `traceparent` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceParent {
    pub(crate) trace_id: TraceId,
    pub(crate) parent_id: u64,
    pub(crate) sampled: bool,
}

/// Parses `traceparent`; `None` when it is not valid.
pub(crate) fn parse_traceparent(value: &str) -> Option<TraceParent> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t' || c == '-');
    let mut parts = value.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || !is_hex(version) || version.eq_ignore_ascii_case("ff") {
        return None;
    }
    if version == "00" && (value.len() != 55 || parts.next().is_some()) {
        return None;
    }
    if trace.len() != 32 || parent.len() != 16 || flags.len() != 2 {
        return None;
    }
    if !is_hex(trace) || !is_hex(parent) || !is_hex(flags) {
        return None;
    }
    let trace_id = u128::from_str_radix(trace, 16).ok()?;
    let parent_id = u64::from_str_radix(parent, 16).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace_id == 0 || parent_id == 0 {
        return None;
    }
    Some(TraceParent {
        trace_id: TraceId::from_u128(trace_id),
        parent_id,
        sampled: flags & 1 == 1,
    })
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads a W3C context; `None` when `traceparent` is missing, repeated or invalid.
pub(crate) fn extract(carrier: &dyn Extractor) -> Option<RemoteContext> {
    let values = carrier.get_all(TRACEPARENT);
    if values.len() != 1 {
        return None;
    }
    let parent = parse_traceparent(values[0])?;
    let mut ctx = RemoteContext::new(parent.trace_id, parent.parent_id);
    let tracestate = carrier.get_all(TRACESTATE).join(",");
    let mut state_priority = None;
    let mut others: Vec<&str> = Vec::new();
    for member in tracestate
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        match member.strip_prefix("dd=") {
            Some(dd) => state_priority = read_dd_member(&mut ctx, dd),
            None if others.len() < MAX_MEMBERS - 1 => others.push(member),
            None => {}
        }
    }
    if !others.is_empty() {
        ctx.tracestate = Some(others.join(","));
    }
    // Reconcile the sampled flag with the `s:` priority.
    ctx.sampling_priority = Some(match (parent.sampled, state_priority) {
        (true, Some(s)) if s > 0 => s,
        (false, Some(s)) if s <= 0 => s,
        (true, _) => {
            ctx.set_tag("_dd.p.dm", "-0");
            1
        }
        (false, _) => {
            ctx.tags.retain(|(k, _)| k != "_dd.p.dm");
            0
        }
    });
    Some(ctx)
}

/// Reads the `dd=` member's fields; returns its `s:` priority.
fn read_dd_member(ctx: &mut RemoteContext, dd: &str) -> Option<i8> {
    let mut priority = None;
    for field in dd.split(';') {
        let Some((key, value)) = field.split_once(':') else {
            continue;
        };
        match key {
            "s" => priority = value.parse::<i8>().ok(),
            "o" if !value.is_empty() => ctx.origin = Some(value.replace('~', "=")),
            "p" if value.len() == 16 && is_hex(value) => {
                ctx.dd_parent_id = Some(value.to_ascii_lowercase());
            }
            _ => {
                if let Some(tag) = key.strip_prefix("t.") {
                    if !tag.is_empty() && !value.is_empty() && tag != "tid" {
                        ctx.set_tag(&format!("_dd.p.{tag}"), &value.replace('~', "="));
                    }
                }
            }
        }
    }
    priority
}

/// Writes `traceparent` and `tracestate` for `ctx`.
pub(crate) fn inject(ctx: &OutgoingContext, carrier: &mut dyn Injector) {
    let flags = if ctx.priority > 0 { "01" } else { "00" };
    carrier.set(
        TRACEPARENT,
        format!(
            "00-{:032x}-{:016x}-{flags}",
            ctx.trace_id.to_u128(),
            ctx.span_id
        ),
    );
    let mut dd = format!("dd=s:{};p:{:016x}", ctx.priority, ctx.span_id);
    if let Some(origin) = &ctx.origin {
        let field = format!(";o:{}", escape_value(origin, true));
        if dd.len() + field.len() <= MAX_DD_MEMBER {
            dd.push_str(&field);
        }
    }
    for (key, value) in ctx.propagated_tags() {
        let Some(tag) = key.strip_prefix("_dd.p.") else {
            continue;
        };
        if tag == "tid" {
            continue; // the trace id's high bits are in traceparent
        }
        let field = format!(";t.{}:{}", escape_key(tag), escape_value(value, false));
        if dd.len() + field.len() <= MAX_DD_MEMBER {
            dd.push_str(&field);
        }
    }
    let mut members = vec![dd];
    if let Some(others) = &ctx.tracestate {
        members.extend(
            others
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty() && !m.starts_with("dd="))
                .take(MAX_MEMBERS - 1)
                .map(str::to_string),
        );
    }
    carrier.set(TRACESTATE, members.join(","));
}

/// A tag key inside the `dd=` member: `,` and `=` become `_`, as do bytes outside printable
/// ASCII.
fn escape_key(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            ',' | '=' => '_',
            c if !(' '..='~').contains(&c) => '_',
            c => c,
        })
        .collect()
}

/// A value inside the `dd=` member: `,` `;` `~` become `_`, `=` becomes `~`, as do bytes
/// outside printable ASCII (and, in an origin, spaces).
fn escape_value(value: &str, origin: bool) -> String {
    value
        .chars()
        .map(|c| match c {
            '=' => '~',
            ',' | ';' | '~' => '_',
            ' ' if origin => '_',
            c if !(' '..='~').contains(&c) => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_follow_the_spec() {
        let ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let p = parse_traceparent(ok).unwrap();
        assert_eq!(p.trace_id.to_u128(), 0x0af7651916cd43dd8448eb211c80319c);
        assert_eq!(p.parent_id, 0xb7ad6b7169203331);
        assert!(p.sampled);
        let cases = [
            (
                " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-\t",
                true,
            ),
            (
                "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-00",
                true,
            ),
            (
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                false,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
                false,
            ),
            (
                "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
                true,
            ),
            (
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                false,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                false,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
                false,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
                false,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
                false,
            ),
            ("", false),
            ("00-é", false),
        ];
        for (value, valid) in cases {
            assert_eq!(parse_traceparent(value).is_some(), valid, "{value:?}");
        }
        assert!(
            !parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
                .unwrap()
                .sampled
        );
    }

    fn extract_with(tracestate: &str, flags: &str) -> RemoteContext {
        let h: Vec<(String, String)> = vec![
            (
                TRACEPARENT.into(),
                format!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}"),
            ),
            (TRACESTATE.into(), tracestate.into()),
        ];
        extract(&h).unwrap()
    }

    #[test]
    fn the_dd_member_brings_priority_origin_parent_and_tags() {
        let c = extract_with(
            "foo=1,dd=s:2;o:synthetics~web;p:00f067aa0ba902b7;t.dm:-4;t.usr.id:baz~~,bar=2",
            "01",
        );
        assert_eq!(c.sampling_priority, Some(2));
        assert_eq!(c.origin.as_deref(), Some("synthetics=web"));
        assert_eq!(c.dd_parent_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(c.tag("_dd.p.dm"), Some("-4"));
        assert_eq!(c.tag("_dd.p.usr.id"), Some("baz=="));
        assert_eq!(c.tracestate.as_deref(), Some("foo=1,bar=2"));
    }

    #[test]
    fn the_sampled_flag_and_the_s_priority_are_reconciled_per_the_spec_table() {
        for (flags, state, priority, dm) in [
            ("01", "dd=s:2;t.dm:-3", 2, Some("-3")),
            ("00", "dd=s:-1;t.dm:-3", -1, Some("-3")),
            ("01", "dd=s:0;t.dm:-3", 1, Some("-0")),
            ("01", "", 1, Some("-0")),
            ("00", "dd=s:2;t.dm:-3", 0, None),
            ("00", "", 0, None),
        ] {
            let c = extract_with(state, flags);
            assert_eq!(c.sampling_priority, Some(priority), "{flags} {state}");
            assert_eq!(c.tag("_dd.p.dm"), dm, "{flags} {state}");
        }
    }

    #[test]
    fn a_repeated_traceparent_is_ignored() {
        let p = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string();
        let h = vec![
            (TRACEPARENT.to_string(), p.clone()),
            (TRACEPARENT.to_string(), p),
        ];
        assert!(extract(&h).is_none());
    }

    #[test]
    fn dd_values_and_keys_are_escaped() {
        assert_eq!(escape_value("a=b,c;d~e é", false), "a~b_c_d_e _");
        assert_eq!(escape_value("synthetics rum", true), "synthetics_rum");
        assert_eq!(escape_key("usr,id=x"), "usr_id_x");
    }
}
