//! Sampling rules: trace rules (`DD_TRACE_SAMPLING_RULES`, and `DD_TRACE_SAMPLE_RATE` as the
//! catch-all) and span rules (`DD_SPAN_SAMPLING_RULES`), parsed from JSON or built in code.
//!
//! In: the variables' JSON at start (the thread building the tracer), or the builder's
//! [`TraceSamplingRule`]s and [`SpanSamplingRule`]s. Out: compiled rules whose globs match
//! without allocating (see `glob`), and one warning per rule that cannot be used (naming the variable and
//! the rule); the others still apply. Matching runs on the app's threads (trace rules, at a
//! local root) and on the worker (span rules).

use std::fmt::{self, Write as _};

use serde_json::{Map, Value};

use super::glob::Glob;
use crate::model::span::TagRef;

/// Where a trace rule came from, which decides the decision maker it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Provenance {
    /// Configured in the process (`_dd.p.dm = -3`).
    Local,
    /// Set by a user through Datadog remote configuration (`-11`).
    Customer,
    /// Computed by Datadog (`-12`).
    Dynamic,
}

impl Provenance {
    pub(crate) fn mechanism(self) -> u8 {
        match self {
            Provenance::Local => crate::model::decision::MECHANISM_LOCAL_RULE,
            Provenance::Customer => 11,
            Provenance::Dynamic => 12,
        }
    }
}

/// What a rule's patterns look at.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Matcher {
    pub(crate) service: Glob,
    pub(crate) name: Glob,
    pub(crate) resource: Glob,
    pub(crate) tags: Vec<(String, Glob)>,
}

/// The properties of a span (or a trace's root) a rule is matched against.
pub(crate) trait RuleSubject<'a> {
    fn service(&self) -> &'a str;
    fn operation_name(&self) -> &'a str;
    fn resource(&self) -> &'a str;
    fn tag(&self, key: &str) -> Option<TagRef<'a>>;
}

impl Matcher {
    /// Whether it matches every span (every glob matches everything, no tag is required).
    pub(crate) fn matches_everything(&self) -> bool {
        self.service.matches_all()
            && self.name.matches_all()
            && self.resource.matches_all()
            && self.tags.is_empty()
    }

    fn all() -> Self {
        Matcher {
            service: Glob::new("*"),
            name: Glob::new("*"),
            resource: Glob::new("*"),
            tags: Vec::new(),
        }
    }

    /// Whether every pattern matches `subject`.
    pub(crate) fn matches<'a>(&self, subject: &impl RuleSubject<'a>) -> bool {
        self.service.matches(subject.service())
            && self.name.matches(subject.operation_name())
            && self.resource.matches(subject.resource())
            && self
                .tags
                .iter()
                .all(|(key, glob)| tag_matches(glob, subject.tag(key)))
    }

    fn write_json(&self, out: &mut String) {
        for (key, glob) in [
            ("service", &self.service),
            ("name", &self.name),
            ("resource", &self.resource),
        ] {
            if !glob.matches_all() {
                let _ = write!(out, "\"{key}\":{},", json_string(glob.as_str()));
            }
        }
        if !self.tags.is_empty() {
            out.push_str("\"tags\":{");
            for (i, (k, g)) in self.tags.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(out, "{sep}{}:{}", json_string(k), json_string(g.as_str()));
            }
            out.push_str("},");
        }
    }
}

/// `s` as a JSON string.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A string tag matches its glob; an integral number matches as its integer text (`200`); any
/// other number only matches patterns made of wildcards; a missing tag never matches.
fn tag_matches(glob: &Glob, value: Option<TagRef<'_>>) -> bool {
    match value {
        None => false,
        Some(TagRef::Str(s)) => glob.matches(s),
        Some(TagRef::Num(n)) if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e18 => {
            let mut buf = [0u8; 24];
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{}", n as i64));
            let len = cursor.position() as usize;
            std::str::from_utf8(&buf[..len]).is_ok_and(|s| glob.matches(s))
        }
        Some(TagRef::Num(_)) => glob.only_wildcards(),
    }
}

/// A compiled trace sampling rule.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TraceRule {
    pub(crate) matcher: Matcher,
    pub(crate) sample_rate: f64,
    pub(crate) provenance: Provenance,
}

impl TraceRule {
    /// The `DD_TRACE_SAMPLE_RATE` catch-all: matches every trace.
    pub(crate) fn catch_all(sample_rate: f64) -> Self {
        TraceRule {
            matcher: Matcher::all(),
            sample_rate,
            provenance: Provenance::Local,
        }
    }
}

impl fmt::Display for TraceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("{");
        self.matcher.write_json(&mut out);
        if self.provenance != Provenance::Local {
            let p = match self.provenance {
                Provenance::Customer => "customer",
                _ => "dynamic",
            };
            let _ = write!(out, "\"provenance\":\"{p}\",");
        }
        let _ = write!(out, "\"sample_rate\":{}}}", self.sample_rate);
        f.write_str(&out)
    }
}

/// A compiled span sampling rule.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SpanRule {
    pub(crate) matcher: Matcher,
    pub(crate) sample_rate: f64,
    pub(crate) max_per_second: Option<f64>,
}

impl fmt::Display for SpanRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("{");
        self.matcher.write_json(&mut out);
        if let Some(m) = self.max_per_second {
            let _ = write!(out, "\"max_per_second\":{m},");
        }
        let _ = write!(out, "\"sample_rate\":{}}}", self.sample_rate);
        f.write_str(&out)
    }
}

/// The `with_service`, `with_name`, `with_resource` and `with_tag` setters of a public rule
/// type whose compiled rule is `self.rule`.
macro_rules! pattern_setters {
    ($what:literal) => {
        #[doc = concat!("Only ", $what, " service matches `pattern`.")]
        pub fn with_service(mut self, pattern: &str) -> Self {
            self.rule.matcher.service = Glob::new(pattern);
            self
        }

        #[doc = concat!("Only ", $what, " operation name matches `pattern`.")]
        pub fn with_name(mut self, pattern: &str) -> Self {
            self.rule.matcher.name = Glob::new(pattern);
            self
        }

        #[doc = concat!("Only ", $what, " resource matches `pattern`.")]
        pub fn with_resource(mut self, pattern: &str) -> Self {
            self.rule.matcher.resource = Glob::new(pattern);
            self
        }

        #[doc = concat!(
            "Only ", $what, " tag `key` matches `pattern` (a numeric tag with an integer value ",
            "matches as its decimal text)."
        )]
        pub fn with_tag(mut self, key: &str, pattern: &str) -> Self {
            self.rule.matcher.tags.push((key.to_string(), Glob::new(pattern)));
            self
        }
    };
}

/// A trace sampling rule for [`DatadogLayerBuilder::with_trace_sampling_rule`]: the traces whose
/// local root matches every pattern given are kept at `sample_rate` (by the same hash of the
/// trace id every Datadog tracer uses), within the rate limit. Patterns are globs: `*` for any
/// run of characters, `?` for one, case-insensitive, over the whole value.
///
/// ```
/// use dd_trace::TraceSamplingRule;
///
/// let health_checks = TraceSamplingRule::new(0.0).with_resource("GET /health*");
/// let server_errors = TraceSamplingRule::new(1.0).with_tag("http.status_code", "5??");
/// # let _ = (health_checks, server_errors);
/// ```
///
/// [`DatadogLayerBuilder::with_trace_sampling_rule`]: crate::DatadogLayerBuilder::with_trace_sampling_rule
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSamplingRule {
    rule: TraceRule,
}

impl TraceSamplingRule {
    /// A rule matching every trace, keeping it at `sample_rate` (clamped to `[0, 1]`).
    pub fn new(sample_rate: f64) -> Self {
        TraceSamplingRule {
            rule: TraceRule::catch_all(clamp_rate(sample_rate)),
        }
    }

    pattern_setters!("traces whose root's");

    pub(crate) fn into_rule(self) -> TraceRule {
        self.rule
    }
}

/// A span sampling rule for [`DatadogLayerBuilder::with_span_sampling_rule`]: in traces the
/// trace sampler drops, the spans matching every pattern given are kept at `sample_rate` (by a
/// hash of the span id), at most `max_per_second` a second, so important spans reach Datadog
/// even when their trace does not.
///
/// ```
/// use dd_trace::SpanSamplingRule;
///
/// let payments = SpanSamplingRule::new(1.0)
///     .with_service("payments")
///     .with_name("charge*")
///     .with_max_per_second(50.0);
/// # let _ = payments;
/// ```
///
/// [`DatadogLayerBuilder::with_span_sampling_rule`]: crate::DatadogLayerBuilder::with_span_sampling_rule
#[derive(Clone, Debug, PartialEq)]
pub struct SpanSamplingRule {
    rule: SpanRule,
}

impl SpanSamplingRule {
    /// A rule matching every span, keeping it at `sample_rate` (clamped to `[0, 1]`), unlimited.
    pub fn new(sample_rate: f64) -> Self {
        SpanSamplingRule {
            rule: SpanRule {
                matcher: Matcher::all(),
                sample_rate: clamp_rate(sample_rate),
                max_per_second: None,
            },
        }
    }

    pattern_setters!("spans whose");

    /// At most this many spans a second kept by this rule (0 or more; a negative, infinite
    /// or NaN value, which `DD_SPAN_SAMPLING_RULES` would reject, means no limit).
    pub fn with_max_per_second(mut self, max_per_second: f64) -> Self {
        self.rule.max_per_second =
            (max_per_second >= 0.0 && max_per_second.is_finite()).then_some(max_per_second);
        self
    }

    pub(crate) fn into_rule(self) -> SpanRule {
        self.rule
    }
}

/// A sample rate given in code, made usable: NaN is 0, the rest is clamped to `[0, 1]`.
fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

/// Parses `DD_TRACE_SAMPLING_RULES` (`var` names it in warnings).
pub(crate) fn parse_trace_rules(var: &str, json: &str) -> (Vec<TraceRule>, Vec<String>) {
    parse_rules(var, json, |obj| {
        known_keys(obj, &["provenance"])?;
        let provenance = match obj.get("provenance") {
            None | Some(Value::Null) => Provenance::Local,
            Some(Value::String(p)) => match p.to_ascii_lowercase().as_str() {
                "local" | "" => Provenance::Local,
                "customer" => Provenance::Customer,
                "dynamic" => Provenance::Dynamic,
                other => return Err(format!("unknown provenance {other:?}")),
            },
            Some(_) => return Err("\"provenance\" must be a string".into()),
        };
        Ok(TraceRule {
            matcher: matcher(obj)?,
            sample_rate: sample_rate(obj)?,
            provenance,
        })
    })
}

/// Parses `DD_SPAN_SAMPLING_RULES` or the file of `DD_SPAN_SAMPLING_RULES_FILE`.
pub(crate) fn parse_span_rules(var: &str, json: &str) -> (Vec<SpanRule>, Vec<String>) {
    parse_rules(var, json, |obj| {
        known_keys(obj, &["max_per_second"])?;
        let max_per_second = match obj.get("max_per_second") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(m) if m >= 0.0 && m.is_finite() => Some(m),
                _ => return Err("\"max_per_second\" must be a number of at least 0".into()),
            },
        };
        Ok(SpanRule {
            matcher: matcher(obj)?,
            sample_rate: sample_rate(obj)?,
            max_per_second,
        })
    })
}

fn parse_rules<R>(
    var: &str,
    json: &str,
    compile: impl Fn(&Map<String, Value>) -> Result<R, String>,
) -> (Vec<R>, Vec<String>) {
    let mut warnings = Vec::new();
    let items = match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(items)) => items,
        Ok(_) => {
            warnings.push(format!(
                "invalid {var}: expected a JSON array of rules; no rule from it applies"
            ));
            return (Vec::new(), warnings);
        }
        Err(e) => {
            warnings.push(format!(
                "invalid {var}: not JSON ({e}); no rule from it applies"
            ));
            return (Vec::new(), warnings);
        }
    };
    let mut rules = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let result = match item {
            Value::Object(obj) => compile(obj),
            _ => Err("a rule must be a JSON object".into()),
        };
        match result {
            Ok(rule) => rules.push(rule),
            Err(reason) => warnings.push(format!(
                "invalid rule #{} in {var}: {item}: {reason}; this rule is skipped, the others apply",
                i + 1
            )),
        }
    }
    (rules, warnings)
}

/// Refuses a rule with a key it does not know: a misspelt matcher (`"resouce"`) would
/// otherwise match every trace, which is worse than skipping the rule.
fn known_keys(obj: &Map<String, Value>, also: &[&str]) -> Result<(), String> {
    const COMMON: [&str; 5] = ["service", "name", "resource", "tags", "sample_rate"];
    match obj
        .keys()
        .find(|k| !COMMON.contains(&k.as_str()) && !also.contains(&k.as_str()))
    {
        Some(unknown) => Err(format!("unknown key {unknown:?}")),
        None => Ok(()),
    }
}

fn sample_rate(obj: &Map<String, Value>) -> Result<f64, String> {
    match obj.get("sample_rate") {
        None | Some(Value::Null) => Ok(1.0),
        Some(v) => match v.as_f64() {
            Some(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err("\"sample_rate\" must be a number between 0 and 1".into()),
        },
    }
}

fn matcher(obj: &Map<String, Value>) -> Result<Matcher, String> {
    let glob = |key: &str| -> Result<Glob, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(Glob::new("*")),
            Some(Value::String(s)) => Ok(Glob::new(s)),
            Some(_) => Err(format!("{key:?} must be a string")),
        }
    };
    let tags = match obj.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(tags)) => tags
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), Glob::new(s))),
                _ => Err(format!("tag {k:?} must have a string pattern")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("\"tags\" must be an object of tag → pattern".into()),
    };
    Ok(Matcher {
        service: glob("service")?,
        name: glob("name")?,
        resource: glob("resource")?,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Subject<'a> {
        service: &'a str,
        name: &'a str,
        resource: &'a str,
        tags: &'a [(&'a str, TagRef<'a>)],
    }

    impl<'a> RuleSubject<'a> for Subject<'a> {
        fn service(&self) -> &'a str {
            self.service
        }
        fn operation_name(&self) -> &'a str {
            self.name
        }
        fn resource(&self) -> &'a str {
            self.resource
        }
        fn tag(&self, key: &str) -> Option<TagRef<'a>> {
            self.tags.iter().find(|(k, _)| *k == key).map(|&(_, v)| v)
        }
    }

    const WEB: Subject<'static> = Subject {
        service: "web-api",
        name: "http.request",
        resource: "GET /health/ready",
        tags: &[
            ("http.method", TagRef::Str("GET")),
            ("http.status_code", TagRef::Str("503")),
            ("retries", TagRef::Num(2.0)),
            ("ratio", TagRef::Num(0.5)),
        ],
    };

    fn rules(json: &str) -> Vec<TraceRule> {
        let (rules, warnings) = parse_trace_rules("DD_TRACE_SAMPLING_RULES", json);
        assert!(warnings.is_empty(), "{warnings:?}");
        rules
    }

    #[test]
    fn rules_match_on_every_field_they_name() {
        let cases = [
            (r#"{"service":"web*"}"#, true),
            (r#"{"service":"WEB-API"}"#, true),
            (r#"{"service":"web"}"#, false),
            (r#"{"name":"http.*","resource":"GET /health*"}"#, true),
            (r#"{"name":"http.*","resource":"POST*"}"#, false),
            (r#"{"tags":{"http.status_code":"5??"}}"#, true),
            (r#"{"tags":{"http.status_code":"4??"}}"#, false),
            (r#"{"tags":{"retries":"2"}}"#, true),
            (r#"{"tags":{"retries":"2?"}}"#, false),
            (r#"{"tags":{"ratio":"0.5"}}"#, false),
            (r#"{"tags":{"ratio":"*"}}"#, true),
            (r#"{"tags":{"missing":"*"}}"#, false),
            (
                r#"{"tags":{"http.method":"get","http.status_code":"503"}}"#,
                true,
            ),
            (
                r#"{"tags":{"http.method":"get","http.status_code":"500"}}"#,
                false,
            ),
            (r#"{}"#, true),
            (r#"{"service":"","name":null}"#, true),
        ];
        for (rule, want) in cases {
            let rule = &rules(&format!("[{rule}]"))[0];
            assert_eq!(rule.matcher.matches(&WEB), want, "{rule}");
        }
    }

    #[test]
    fn sample_rate_defaults_to_one_and_provenance_picks_the_decision_maker() {
        let r = rules(
            r#"[{"service":"a"},{"sample_rate":0.25,"provenance":"customer"},{"sample_rate":0,"provenance":"dynamic"}]"#,
        );
        assert_eq!(r[0].sample_rate, 1.0);
        assert_eq!(r[0].provenance.mechanism(), 3);
        assert_eq!(r[1].sample_rate, 0.25);
        assert_eq!(r[1].provenance.mechanism(), 11);
        assert_eq!(r[2].provenance.mechanism(), 12);
    }

    #[test]
    fn an_invalid_rule_is_skipped_with_a_warning_naming_it_and_the_others_apply() {
        let (rules, warnings) = parse_trace_rules(
            "DD_TRACE_SAMPLING_RULES",
            r#"[{"service":"a","sample_rate":0.5},{"service":"b","sample_rate":1.5},{"service":7},"x",{"tags":{"k":1}},{"provenance":"mars"},{"resouce":"GET /health","sample_rate":0},{"service":"c"}]"#,
        );
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].matcher.service.as_str(), "a");
        assert_eq!(rules[1].matcher.service.as_str(), "c");
        assert_eq!(warnings.len(), 6, "{warnings:#?}");
        // A misspelt key would have matched (and dropped) everything: the rule is skipped.
        assert!(
            warnings[5].contains("rule #7") && warnings[5].contains(r#"unknown key "resouce""#),
            "{}",
            warnings[5]
        );
        let (span_rules, span_warnings) = parse_span_rules(
            "DD_SPAN_SAMPLING_RULES",
            r#"[{"name":"a","max_per_sec":5}]"#,
        );
        assert!(span_rules.is_empty());
        assert!(
            span_warnings[0].contains(r#"unknown key "max_per_sec""#),
            "{span_warnings:?}"
        );
        assert!(
            warnings[0].contains("DD_TRACE_SAMPLING_RULES"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[0].contains(r#"{"sample_rate":1.5,"service":"b"}"#),
            "{}",
            warnings[0]
        );
        assert!(warnings[0].contains("rule #2"), "{}", warnings[0]);
    }

    #[test]
    fn a_value_that_is_not_a_json_array_gives_one_warning() {
        for bad in ["{", "{\"service\":\"a\"}", "garbage", "3"] {
            let (rules, warnings) = parse_trace_rules("DD_TRACE_SAMPLING_RULES", bad);
            assert!(rules.is_empty());
            assert_eq!(warnings.len(), 1, "{bad}: {warnings:?}");
            assert!(warnings[0].starts_with("invalid DD_TRACE_SAMPLING_RULES"));
        }
    }

    #[test]
    fn span_rules_read_their_limit() {
        let (rules, warnings) = parse_span_rules(
            "DD_SPAN_SAMPLING_RULES",
            r#"[{"service":"db","name":"sql.*","max_per_second":50},{"service":"x","max_per_second":-1}]"#,
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].sample_rate, 1.0);
        assert_eq!(rules[0].max_per_second, Some(50.0));
        assert_eq!(
            rules[0].to_string(),
            r#"{"service":"db","name":"sql.*","max_per_second":50,"sample_rate":1}"#
        );
    }

    #[test]
    fn rules_display_as_the_json_they_came_from() {
        let r = TraceSamplingRule::new(0.5)
            .with_service("web*")
            .with_tag("http.status_code", "5??")
            .into_rule();
        assert_eq!(
            r.to_string(),
            r#"{"service":"web*","tags":{"http.status_code":"5??"},"sample_rate":0.5}"#
        );
        assert_eq!(
            TraceRule::catch_all(1.0).to_string(),
            r#"{"sample_rate":1}"#
        );
    }
}
