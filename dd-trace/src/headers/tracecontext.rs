//! The `tracecontext` style: W3C `traceparent` and `tracestate`, with Datadog's `dd=` member
//! (`s:` priority, `o:` origin, `p:` last Datadog parent, `t.*` propagated tags).
//!
//! In: a carrier's headers (extract) or an outgoing context (inject). Out: a remote context
//! (its W3C parent, priority reconciled with the sampled flag, the other vendors' members), or
//! the two headers written into the carrier. Called on whatever app thread propagates.

use super::{Extractor, Injector, OutgoingContext, RemoteContext};
use crate::model::id::{parse_hex, TraceId};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
/// List-members `tracestate` may hold.
const MAX_MEMBERS: usize = 32;
/// Characters the `dd=` member may take.
const MAX_DD_MEMBER: usize = 256;
/// Characters another vendor's list-member may take to be kept (GO's limit).
const MAX_OTHER_MEMBER: usize = 512;
/// Characters the whole `tracestate` header may take (GO's limit).
const MAX_TRACESTATE: usize = 4096;

/// What `traceparent` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TraceParent {
    trace_id: TraceId,
    parent_id: u64,
    sampled: bool,
}

/// Parses `traceparent`; `None` when it is not valid.
fn parse_traceparent(value: &str) -> Option<TraceParent> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t' || c == '-');
    let mut parts = value.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parse_hex(version, 2).is_none() || version.eq_ignore_ascii_case("ff") {
        return None;
    }
    if version == "00" && (value.len() != 55 || parts.next().is_some()) {
        return None;
    }
    let trace_id = parse_hex(trace, 32)?;
    let parent_id = parse_hex(parent, 16)? as u64;
    let flags = parse_hex(flags, 2)?;
    if trace_id == 0 || parent_id == 0 {
        return None;
    }
    Some(TraceParent {
        trace_id: TraceId::from_u128(trace_id),
        parent_id,
        sampled: flags & 1 == 1,
    })
}

/// Other vendors' list-members, kept within what an outgoing `tracestate` may hold: at most
/// 31 of them (the `dd=` member is the 32nd), none over 512 characters, and room left for a
/// full `dd=` member within 4096 characters. Members that do not fit are dropped.
#[derive(Default)]
struct OtherMembers {
    list: String,
    count: usize,
}

impl OtherMembers {
    fn offer(&mut self, member: &str) {
        let member = member.trim();
        let room = MAX_TRACESTATE - MAX_DD_MEMBER - 1;
        if member.starts_with("dd=")
            || !member.contains('=')
            || member.len() > MAX_OTHER_MEMBER
            || self.count == MAX_MEMBERS - 1
            || self.list.len() + 1 + member.len() > room
        {
            return;
        }
        if !self.list.is_empty() {
            self.list.push(',');
        }
        self.list.push_str(member);
        self.count += 1;
    }
}

/// Reads a W3C context; `None` when `traceparent` is missing, repeated or invalid.
pub(crate) fn extract(carrier: &dyn Extractor) -> Option<RemoteContext> {
    let values = carrier.get_all(TRACEPARENT);
    if values.len() != 1 {
        return None;
    }
    let parent = parse_traceparent(values[0])?;
    Some(context(
        parent.trace_id,
        parent.parent_id,
        parent.sampled,
        &carrier.get_all(TRACESTATE),
    ))
}

/// The context a `traceparent` of these ids and sampled flag, and these `tracestate` values,
/// bring: the `dd=` member read, the other members kept, the priority reconciled with the flag.
pub(crate) fn context(
    trace_id: TraceId,
    parent_id: u64,
    sampled: bool,
    tracestate: &[&str],
) -> RemoteContext {
    let mut ctx = RemoteContext::new(trace_id, parent_id);
    let mut state_priority = None;
    let mut others = OtherMembers::default();
    for member in tracestate.iter().flat_map(|value| value.split(',')) {
        match member.trim().strip_prefix("dd=") {
            Some(dd) => state_priority = read_dd_member(&mut ctx, dd),
            None => others.offer(member),
        }
    }
    if others.count > 0 {
        ctx.tracestate = Some(others.list);
    }
    // Reconcile the sampled flag with the `s:` priority.
    ctx.sampling_priority = Some(match (sampled, state_priority) {
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
    ctx
}

/// Reads the `dd=` member's fields; returns its `s:` priority. Only the fields within the
/// member's 256 characters are read: a longer member is not one a tracer wrote.
fn read_dd_member(ctx: &mut RemoteContext, dd: &str) -> Option<i8> {
    let mut priority = None;
    let mut read = 0;
    for field in dd.split(';') {
        read += field.len() + 1;
        if read > MAX_DD_MEMBER {
            break;
        }
        let Some((key, value)) = field.split_once(':') else {
            continue;
        };
        match key {
            "s" => priority = value.parse::<i8>().ok(),
            "o" if !value.is_empty() => ctx.origin = Some(value.replace('~', "=")),
            // As Datadog's tracers (and the cross-language suite) do: a `p` that is not 16 hex
            // digits still names the last Datadog parent, verbatim.
            "p" if !value.is_empty() => {
                ctx.dd_parent_id = Some(match parse_hex(value, 16) {
                    Some(_) => value.to_ascii_lowercase(),
                    None => value.to_string(),
                });
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
        format!("00-{:x}-{:016x}-{flags}", ctx.trace_id, ctx.span_id),
    );
    carrier.set(TRACESTATE, tracestate(ctx));
}

/// The `tracestate` for `ctx`: the `dd=` member, then the other vendors' members.
pub(crate) fn tracestate(ctx: &OutgoingContext) -> String {
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
    let mut others = OtherMembers::default();
    for member in ctx.tracestate.iter().flat_map(|t| t.split(',')) {
        others.offer(member);
    }
    if others.count > 0 {
        dd.push(',');
        dd.push_str(&others.list);
    }
    dd
}

/// A tag key inside the `dd=` member: `,` and `=` become `_` (see [`escape`]).
fn escape_key(key: &str) -> String {
    escape(key, |c| match c {
        ',' | '=' => '_',
        c => c,
    })
}

/// A value inside the `dd=` member: `,` `;` `~` become `_`, `=` becomes `~`, and in an origin
/// a space becomes `_` (see [`escape`]).
fn escape_value(value: &str, origin: bool) -> String {
    escape(value, |c| match c {
        '=' => '~',
        ',' | ';' | '~' => '_',
        ' ' if origin => '_',
        c => c,
    })
}

/// Maps each printable ASCII character of `s` through `map`; every run of other characters
/// (control, DEL, non-ASCII) becomes one `_`.
fn escape(s: &str, map: impl Fn(char) -> char) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            out.push(map(c));
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
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
        assert_eq!(escape_value("a\u{1}\u{7f}éb\tc", false), "a_b_c");
        assert_eq!(escape_key("k\u{0}\u{0}ey"), "k_ey");
    }
}
