//! W3C `baggage`: `key=value` items separated by commas, percent-encoded, at most
//! `DD_TRACE_BAGGAGE_MAX_ITEMS` items and `DD_TRACE_BAGGAGE_MAX_BYTES` bytes.
//!
//! In: the `baggage` header values (extract) or a trace's baggage items (inject). Out: the
//! items, or the header. Called on whatever app thread propagates.

use super::{Extractor, Injector};

const BAGGAGE: &str = "baggage";

/// Reads `baggage`: `None` when the header is absent; an empty list when it is malformed or
/// over the limits (a partial baggage would be wrong).
pub(crate) fn extract(
    carrier: &dyn Extractor,
    max_items: usize,
    max_bytes: usize,
) -> Option<Vec<(String, String)>> {
    let values = carrier.get_all(BAGGAGE);
    if values.is_empty() {
        return None;
    }
    let header = values.join(",");
    if header.len() > max_bytes {
        return Some(Vec::new());
    }
    let mut items = Vec::new();
    for member in header.split(',') {
        // Properties after `;` are not kept.
        let kv = member.split(';').next().unwrap_or_default();
        let Some((key, value)) = kv.split_once('=') else {
            return Some(Vec::new());
        };
        let (key, value) = (key.trim(), value.trim());
        let (Some(key), Some(value)) = (decode(key), decode(value)) else {
            return Some(Vec::new());
        };
        // An empty value is malformed for Datadog's tracers, as an empty key is.
        if key.is_empty() || value.is_empty() || items.len() == max_items {
            return Some(Vec::new());
        }
        items.push((key, value));
    }
    Some(items)
}

/// Writes `baggage` with as many items as fit in the limits (none: no header).
pub(crate) fn inject(
    items: &[(String, String)],
    carrier: &mut dyn Injector,
    max_items: usize,
    max_bytes: usize,
) {
    let mut header = String::new();
    for (key, value) in items.iter().take(max_items) {
        let item = format!("{}={}", encode(key, true), encode(value, false));
        let extra = item.len() + usize::from(!header.is_empty());
        if header.len() + extra > max_bytes {
            break;
        }
        if !header.is_empty() {
            header.push(',');
        }
        header.push_str(&item);
    }
    if !header.is_empty() {
        carrier.set(BAGGAGE, header);
    }
}

/// Percent-decodes `s`; `None` when an escape is malformed or the bytes are not UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(crate::model::id::parse_hex(hex, 2)? as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes what may not stand as itself: in keys, anything but an HTTP token
/// character; in values, anything outside the baggage octets (printable ASCII but space, `"`,
/// `,`, `;`, `\`), and `%` itself.
fn encode(s: &str, key: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let plain = if key {
            b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b)
        } else {
            (0x21..=0x7e).contains(&b) && !b"\",;\\%".contains(&b)
        };
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(header: &str) -> Vec<(String, String)> {
        extract(&vec![(BAGGAGE.to_string(), header.to_string())], 64, 8192).unwrap()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn items_are_read_decoded_and_malformed_headers_give_nothing() {
        assert_eq!(
            read("userId=alice, session=a%20b;ttl=60,serverNode=DF%2028"),
            pairs(&[
                ("userId", "alice"),
                ("session", "a b"),
                ("serverNode", "DF 28")
            ])
        );
        assert_eq!(read("é=ü"), pairs(&[("é", "ü")]));
        for bad in ["novalue", "=v", "k=", "k=%zz", "k=%+5", "a=1,,b=2"] {
            assert!(read(bad).is_empty(), "{bad:?}");
        }
        assert_eq!(extract(&Vec::<(String, String)>::new(), 64, 8192), None);
    }

    #[test]
    fn limits_apply_both_ways() {
        let many: String = (0..65)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(read(&many).is_empty(), "over 64 items");
        let mut out: Vec<(String, String)> = Vec::new();
        let items: Vec<(String, String)> =
            (0..100).map(|i| (format!("k{i}"), "v".into())).collect();
        inject(&items, &mut out, 64, 8192);
        assert_eq!(out[0].1.split(',').count(), 64);
        let mut out: Vec<(String, String)> = Vec::new();
        inject(&pairs(&[("a", "1234"), ("b", "5678")]), &mut out, 64, 8);
        assert_eq!(out, pairs(&[("baggage", "a=1234")]));
    }

    #[test]
    fn values_round_trip_through_encoding() {
        let items = pairs(&[("user id", "a,b;c=d%e \"f\""), ("ok", "plain-value_1")]);
        let mut out: Vec<(String, String)> = Vec::new();
        inject(&items, &mut out, 64, 8192);
        assert_eq!(
            out[0].1,
            "user%20id=a%2Cb%3Bc=d%25e%20%22f%22,ok=plain-value_1"
        );
        assert_eq!(read(&out[0].1), items);
    }
}
