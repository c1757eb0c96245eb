//! Query-string obfuscation: the secrets in a URL's query string (passwords, tokens, keys,
//! signatures, bearer tokens, JWTs, private keys) replaced by `<redacted>`.
//!
//! In: an `http.url` value, on the worker thread. Out: the URL with each match of the pattern
//! in its query string (the raw, still percent-encoded text between `?` and `#`) replaced, or
//! `None` when nothing matched. The pattern is Datadog's default, which the reference tracers
//! share, or `DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`. Matching uses the `regex` crate,
//! which runs in time linear in the URL: a hostile URL cannot stall the worker.

use std::borrow::Cow;

use regex::{NoExpand, Regex};

/// Datadog's default pattern (the current one of dd-trace-java, dd-trace-py, .NET and PHP).
pub(crate) const DEFAULT_QUERY_OBFUSCATION_PATTERN: &str = concat!(
    r#"(?i)(?:(?:"|%22)?)(?:(?:old[-_]?|new[-_]?)?p(?:ass)?w(?:or)?d(?:1|2)?|pass(?:[-_]?phrase)?|secret|"#,
    r#"(?:api[-_]?|private[-_]?|public[-_]?|access[-_]?|secret[-_]?|app(?:lication)?[-_]?)key(?:[-_]?id)?|"#,
    r#"token|consumer[-_]?(?:id|key|secret)|sign(?:ed|ature)?|auth(?:entication|orization)?)"#,
    r#"(?:(?:\s|%20)*(?:=|%3D)[^&]+|(?:"|%22)(?:\s|%20)*(?::|%3A)(?:\s|%20)*(?:"|%22)(?:%2[^2]|%[^2]|[^"%])+(?:"|%22))"#,
    r#"|(?:bearer(?:\s|%20)+[a-z0-9._\-]+|token(?::|%3A)[a-z0-9]{13}|gh[opsu]_[0-9a-zA-Z]{36}"#,
    r#"|ey[I-L](?:[\w=-]|%3D)+\.ey[I-L](?:[\w=-]|%3D)+(?:\.(?:[\w.+/=-]|%3D|%2F|%2B)+)?"#,
    r#"|-{5}BEGIN(?:[a-z\s]|%20)+PRIVATE(?:\s|%20)KEY-{5}[^\-]+-{5}END(?:[a-z\s]|%20)+PRIVATE(?:\s|%20)KEY(?:-{5})?(?:\n|%0A)?"#,
    r#"|(?:ssh-(?:rsa|dss)|ecdsa-[a-z0-9]+-[a-z0-9]+)(?:\s|%20|%09)+(?:[a-z0-9/.+]|%2F|%5C|%2B){100,}(?:=|%3D)*(?:(?:\s|%20|%09)+[a-z0-9._-]+)?)"#,
);

/// What replaces each match.
const REDACTED: &str = "<redacted>";

/// A compiled obfuscation pattern.
#[derive(Debug, Clone)]
pub(crate) struct QueryObfuscator {
    pattern: Regex,
}

impl QueryObfuscator {
    /// Compiles `pattern`; the error says why it is not a valid one.
    pub(crate) fn new(pattern: &str) -> Result<Self, regex::Error> {
        Ok(QueryObfuscator {
            pattern: Regex::new(pattern)?,
        })
    }

    /// The default pattern.
    pub(crate) fn default_pattern() -> Option<Self> {
        QueryObfuscator::new(DEFAULT_QUERY_OBFUSCATION_PATTERN).ok()
    }

    /// `url` with the secrets of its query string redacted; `None` when it has none.
    pub(crate) fn obfuscate_url(&self, url: &str) -> Option<String> {
        let start = url.find('?')? + 1;
        let end = url[start..].find('#').map_or(url.len(), |i| start + i);
        match self
            .pattern
            .replace_all(&url[start..end], NoExpand(REDACTED))
        {
            Cow::Borrowed(_) => None,
            Cow::Owned(query) => Some(format!("{}{query}{}", &url[..start], &url[end..])),
        }
    }
}
