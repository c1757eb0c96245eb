//! What HTTP headers put on server and client spans: the header tags (`DD_TRACE_HEADER_TAGS`)
//! and the client's IP (`DD_TRACE_CLIENT_IP_ENABLED`, `DD_TRACE_CLIENT_IP_HEADER`).
//!
//! In: the settings' text when the tracer is built; a request's or response's headers in the
//! HTTP integrations, on the app thread (or task) that serves or sends the request. Out: the
//! tags to set on its span. Nothing is read from a header that is not configured.

use std::net::IpAddr;

/// One configured header and the tags its values go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeaderTag {
    /// Lowercase.
    pub(crate) header: String,
    /// On a request: the configured tag, else `http.request.headers.<header>`.
    pub(crate) request_tag: String,
    /// On a response: the configured tag, else `http.response.headers.<header>`.
    pub(crate) response_tag: String,
}

/// Parses `header[:tag]` items separated by commas: the header trimmed and lowercased, the tag
/// trimmed; without a tag, `http.request.headers.<header>` and `http.response.headers.<header>`
/// with every character but letters, digits, `-` and `_` made `_`. Returns the tags and the
/// items that name no header.
pub(crate) fn parse_header_tags(text: &str) -> (Vec<HeaderTag>, Vec<String>) {
    let mut tags = Vec::new();
    let mut invalid = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (header, tag) = match item.split_once(':') {
            Some((header, tag)) => (header.trim(), Some(tag.trim()).filter(|t| !t.is_empty())),
            None => (item, None),
        };
        if header.is_empty() || !header.bytes().all(|b| b.is_ascii_graphic()) {
            invalid.push(item.to_string());
            continue;
        }
        let header = header.to_ascii_lowercase();
        let (request_tag, response_tag) = match tag {
            Some(tag) => (tag.to_string(), tag.to_string()),
            None => {
                let name: String = header
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                (
                    format!("http.request.headers.{name}"),
                    format!("http.response.headers.{name}"),
                )
            }
        };
        tags.retain(|t: &HeaderTag| t.header != header);
        tags.push(HeaderTag {
            header,
            request_tag,
            response_tag,
        });
    }
    (tags, invalid)
}

/// The headers the client's IP is looked for in, in order, when no header is forced.
const CLIENT_IP_HEADERS: [&str; 11] = [
    "x-forwarded-for",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "forwarded",
    "forwarded-for",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "x-appengine-user-ip",
];

/// What the HTTP integrations tag from headers; one per tracer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HttpTagging {
    pub(crate) header_tags: Vec<HeaderTag>,
    /// `http.client_ip` on server spans.
    pub(crate) client_ip: bool,
    /// The one header the client's IP is read from, when set.
    pub(crate) client_ip_header: Option<String>,
}

/// A header's values, joined by `,` (as one header line would carry them).
fn values(headers: &http::HeaderMap, name: &str) -> Option<String> {
    let mut joined: Option<String> = None;
    for value in headers.get_all(name) {
        let Ok(value) = value.to_str() else { continue };
        match &mut joined {
            Some(j) => {
                j.push(',');
                j.push_str(value.trim());
            }
            None => joined = Some(value.trim().to_string()),
        }
    }
    joined
}

impl HttpTagging {
    /// The tags a request's headers give its span (`request`), or a response's (`!request`).
    pub(crate) fn header_tags(
        &self,
        headers: &http::HeaderMap,
        request: bool,
    ) -> Vec<(String, String)> {
        self.header_tags
            .iter()
            .filter_map(|t| {
                let value = values(headers, &t.header)?;
                let tag = if request {
                    &t.request_tag
                } else {
                    &t.response_tag
                };
                Some((tag.clone(), value))
            })
            .collect()
    }

    /// `http.client_ip` for a request with `headers`, when that is on: the first public IP in
    /// the forwarding headers (or the forced one), else the first IP in them at all.
    pub(crate) fn client_ip(&self, headers: &http::HeaderMap) -> Option<String> {
        if !self.client_ip {
            return None;
        }
        let forced = self.client_ip_header.as_deref().map(|h| [h]);
        let names: &[&str] = match &forced {
            Some(one) => one,
            None => &CLIENT_IP_HEADERS,
        };
        let mut fallback = None;
        for name in names {
            let Some(value) = values(headers, name) else {
                continue;
            };
            for ip in addresses(&value) {
                if is_public(&ip) {
                    return Some(ip.to_string());
                }
                fallback.get_or_insert(ip);
            }
        }
        fallback.map(|ip| ip.to_string())
    }
}

/// The IP addresses in a forwarding header's value: comma-separated addresses, with or without
/// a port, in brackets, or as `for=` in a `Forwarded` header.
fn addresses(value: &str) -> impl Iterator<Item = IpAddr> + '_ {
    value.split([',', ';']).filter_map(|part| {
        let part = part.trim();
        let part = match part.split_once('=') {
            Some((key, v)) if key.trim().eq_ignore_ascii_case("for") => v.trim(),
            Some(_) => return None,
            None => part,
        };
        let part = part.trim_matches('"');
        if let Ok(ip) = part.parse::<IpAddr>() {
            return Some(ip);
        }
        // `[v6]:port`, `[v6]`, or `v4:port`.
        if let Some(rest) = part.strip_prefix('[') {
            return rest.split(']').next()?.parse().ok();
        }
        part.rsplit_once(':')
            .and_then(|(ip, _port)| ip.parse::<std::net::Ipv4Addr>().ok())
            .map(IpAddr::V4)
    })
}

/// Not private, loopback, link-local, unspecified or otherwise reserved for local use.
fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(&IpAddr::V4(v4))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn header_tags_parse_with_and_without_tag_names() {
        let (tags, invalid) =
            parse_header_tags(" X-User-Id : user.id , Accept-Language,,x.weird$name, :nohdr");
        assert_eq!(invalid, [":nohdr"]);
        assert_eq!(
            tags.iter()
                .map(|t| (
                    t.header.as_str(),
                    t.request_tag.as_str(),
                    t.response_tag.as_str()
                ))
                .collect::<Vec<_>>(),
            [
                ("x-user-id", "user.id", "user.id"),
                (
                    "accept-language",
                    "http.request.headers.accept-language",
                    "http.response.headers.accept-language"
                ),
                (
                    "x.weird$name",
                    "http.request.headers.x_weird_name",
                    "http.response.headers.x_weird_name"
                ),
            ]
        );
    }

    #[test]
    fn configured_headers_become_tags_with_their_values_joined() {
        let tagging = HttpTagging {
            header_tags: parse_header_tags("x-user-id:user.id,accept").0,
            ..Default::default()
        };
        let h = headers(&[
            ("x-user-id", "42"),
            ("accept", "text/html"),
            ("accept", "application/json"),
            ("authorization", "Bearer secret"),
        ]);
        assert_eq!(
            tagging.header_tags(&h, true),
            [
                ("user.id".to_string(), "42".to_string()),
                (
                    "http.request.headers.accept".to_string(),
                    "text/html,application/json".to_string()
                ),
            ]
        );
        assert_eq!(
            tagging.header_tags(&h, false)[1].0,
            "http.response.headers.accept"
        );
    }

    #[test]
    fn the_client_ip_is_the_first_public_address() {
        let on = HttpTagging {
            client_ip: true,
            ..Default::default()
        };
        let h = headers(&[(
            "x-forwarded-for",
            "10.0.0.1, 192.168.1.2, 203.0.113.7:8080, 8.8.8.8",
        )]);
        assert_eq!(on.client_ip(&h).as_deref(), Some("203.0.113.7"));
        let h = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(on.client_ip(&h).as_deref(), Some("2001:db8::1"));
        let h = headers(&[("x-real-ip", "10.1.2.3")]);
        assert_eq!(
            on.client_ip(&h).as_deref(),
            Some("10.1.2.3"),
            "private, as a last resort"
        );
        assert_eq!(on.client_ip(&headers(&[])), None);
        let off = HttpTagging::default();
        assert_eq!(off.client_ip(&headers(&[("x-real-ip", "8.8.8.8")])), None);
        let forced = HttpTagging {
            client_ip: true,
            client_ip_header: Some("x-my-ip".into()),
            ..Default::default()
        };
        let h = headers(&[("x-forwarded-for", "8.8.8.8"), ("x-my-ip", "1.1.1.1")]);
        assert_eq!(forced.client_ip(&h).as_deref(), Some("1.1.1.1"));
    }
}
