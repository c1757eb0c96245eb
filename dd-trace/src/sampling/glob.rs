//! Glob patterns of sampling rules: `*` matches any run of characters (none included), `?`
//! exactly one; everything else matches itself, case-insensitively, over the whole string. No
//! escapes, no classes: `[abc]` matches the five characters `[abc]`.
//!
//! Compiled once when the rules are read; matching runs on the app's threads (trace rules) or
//! the worker (span rules) and allocates only for non-ASCII text over 128 characters.

use std::fmt;

/// A compiled glob.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    source: String,
    /// The pattern, lowercased, as characters; `None` when it matches everything.
    chars: Option<Box<[char]>>,
}

impl Glob {
    /// Compiles `pattern`; an empty pattern, like `*`, matches everything.
    pub(crate) fn new(pattern: &str) -> Self {
        let matches_all = pattern.is_empty() || pattern.chars().all(|c| c == '*');
        Glob {
            source: pattern.to_string(),
            chars: (!matches_all).then(|| pattern.chars().flat_map(char::to_lowercase).collect()),
        }
    }

    /// Whether the pattern matches every string.
    pub(crate) fn matches_all(&self) -> bool {
        self.chars.is_none()
    }

    /// Whether the pattern is all `*` and `?`: the only patterns a non-integral number matches.
    pub(crate) fn only_wildcards(&self) -> bool {
        self.chars
            .as_deref()
            .is_none_or(|p| p.iter().all(|&c| c == '*' || c == '?'))
    }

    /// The pattern as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `subject` matches, ignoring case.
    pub(crate) fn matches(&self, subject: &str) -> bool {
        let Some(pattern) = self.chars.as_deref() else {
            return true;
        };
        if subject.is_ascii() {
            // Lowercased as it is read: no buffer at all.
            let bytes = subject.as_bytes();
            return wildcard_match(pattern, bytes.len(), |i| {
                char::from(bytes[i].to_ascii_lowercase())
            });
        }
        // Other text is lowercased into a stack buffer; past 128 characters (rare: a long
        // non-ASCII resource) it takes one allocation.
        let mut buf = ['\0'; 128];
        let mut n = 0;
        let mut lowered = subject.chars().flat_map(char::to_lowercase);
        for c in lowered.by_ref() {
            if n == buf.len() {
                let mut owned: Vec<char> = buf.to_vec();
                owned.push(c);
                owned.extend(lowered);
                return wildcard_match(pattern, owned.len(), |i| owned[i]);
            }
            buf[n] = c;
            n += 1;
        }
        wildcard_match(pattern, n, |i| buf[i])
    }
}

/// Matches `pattern` against the `len` characters `text` gives, with one backtrack point (the
/// last `*`): no recursion, no allocation.
fn wildcard_match(pattern: &[char], len: usize, text: impl Fn(usize) -> char) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < len {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry.
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_subjects_match_ascii_or_not() {
        let long = format!("GET /{}/end", "a".repeat(300));
        assert!(Glob::new("get /*/END").matches(&long));
        assert!(!Glob::new("get /*/x").matches(&long));
        let long = format!("GET /{}/ÉND", "é".repeat(300));
        assert!(Glob::new("get /*/énd").matches(&long));
    }

    #[test]
    fn globs_match_the_spec_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "anything", true),
            ("", "anything", true),
            ("**", "", true),
            ("web*", "web-api", true),
            ("web*", "WEB", true),
            ("web*", "my-web", false),
            ("*-api", "users-api", true),
            ("*-api", "users-api-v2", false),
            ("us?rs", "users", true),
            ("us?rs", "usrs", false),
            ("us?rs", "useers", false),
            ("GET /health*", "get /health/ready", true),
            ("GET /health*", "GET /healthz", true),
            ("GET /health*", "POST /health", false),
            ("5??", "503", true),
            ("5??", "5031", false),
            ("5??", "50", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*a*a*a*", "aaa", true),
            ("*a*a*a*", "aa", false),
            // No classes, no regex, no escapes: the characters match themselves only.
            ("[abc]", "a", false),
            ("[abc]", "[abc]", true),
            ("web.+", "webxx", false),
            ("web.+", "web.+", true),
            ("a\\*", "a\\anything", true),
            ("a\\*", "a*", false),
            // Whole string, not a part of it.
            ("api", "my-api-service", false),
            ("api", "api", true),
            // Case-insensitive beyond ASCII.
            ("ÉTÉ*", "été-2024", true),
        ];
        for &(pattern, subject, want) in cases {
            assert_eq!(
                Glob::new(pattern).matches(subject),
                want,
                "{pattern:?} ~ {subject:?}"
            );
        }
    }

    #[test]
    fn long_subjects_match_like_short_ones() {
        let long = format!("{}-end", "x".repeat(500));
        assert!(Glob::new("x*-end").matches(&long));
        assert!(!Glob::new("x*-nope").matches(&long));
        assert!(Glob::new("*").matches(&long));
    }

    #[test]
    fn wildcard_only_patterns_are_recognised() {
        assert!(Glob::new("*").only_wildcards());
        assert!(Glob::new("??*").only_wildcards());
        assert!(!Glob::new("2*").only_wildcards());
        assert!(Glob::new("").matches_all());
        assert!(!Glob::new("?").matches_all());
    }
}
