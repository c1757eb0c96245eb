//! Configuration: `DD_*` environment variables plus builder overrides, validated once at start.
//!
//! In: the process environment (through a lookup function, so tests can inject one). Out: the
//! validated configuration and the warnings to print (one per malformed variable, naming it and the default
//! used). Called by [`crate::DatadogLayerBuilder::build`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

/// Names of the environment variables dd-trace reads.
pub mod env {
    /// Service name of the spans this process creates.
    pub const DD_SERVICE: &str = "DD_SERVICE";
    /// Deployment environment (`env` tag).
    pub const DD_ENV: &str = "DD_ENV";
    /// Application version (`version` tag).
    pub const DD_VERSION: &str = "DD_VERSION";
    /// Tags added to every span: `k:v` pairs separated by commas or spaces.
    pub const DD_TAGS: &str = "DD_TAGS";
    /// `false` turns tracing off: no spans are built and nothing is sent.
    pub const DD_TRACE_ENABLED: &str = "DD_TRACE_ENABLED";
    /// Rate in `[0, 1]` at which traces are kept.
    pub const DD_TRACE_SAMPLE_RATE: &str = "DD_TRACE_SAMPLE_RATE";
    /// Agent URL: `unix:///path/to/apm.socket` or `http://host:port`.
    pub const DD_TRACE_AGENT_URL: &str = "DD_TRACE_AGENT_URL";
    /// Agent host, used when `DD_TRACE_AGENT_URL` is unset.
    pub const DD_AGENT_HOST: &str = "DD_AGENT_HOST";
    /// Agent trace port, used when `DD_TRACE_AGENT_URL` is unset.
    pub const DD_TRACE_AGENT_PORT: &str = "DD_TRACE_AGENT_PORT";
    /// Timeout of one request to the agent, in seconds.
    pub const DD_TRACE_AGENT_TIMEOUT: &str = "DD_TRACE_AGENT_TIMEOUT";
    /// Entity id (in Kubernetes, the pod UID), used when no container id can be detected.
    pub const DD_ENTITY_ID: &str = "DD_ENTITY_ID";
    /// Sent to the agent as `Datadog-External-Env`.
    pub const DD_EXTERNAL_ENV: &str = "DD_EXTERNAL_ENV";
    /// `true` prints one `DATADOG TRACER CONFIGURATION {json}` line at start.
    pub const DD_TRACE_STARTUP_LOGS: &str = "DD_TRACE_STARTUP_LOGS";
    /// `true` prints the tracer's debug diagnostics.
    pub const DD_TRACE_DEBUG: &str = "DD_TRACE_DEBUG";
    /// `false` generates 64-bit trace ids instead of 128-bit ones.
    pub const DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED: &str =
        "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED";
    /// `false` makes log correlation write the decimal low 64 bits of trace ids.
    pub const DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED: &str =
        "DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED";
    /// `true` sends a long trace's finished spans before the trace ends.
    pub const DD_TRACE_PARTIAL_FLUSH_ENABLED: &str = "DD_TRACE_PARTIAL_FLUSH_ENABLED";
    /// Finished spans that trigger a partial flush.
    pub const DD_TRACE_PARTIAL_FLUSH_MIN_SPANS: &str = "DD_TRACE_PARTIAL_FLUSH_MIN_SPANS";
}

/// Agent host used when neither `DD_TRACE_AGENT_URL` nor the socket is available.
pub const DEFAULT_AGENT_HOST: &str = "localhost";
/// Agent trace port used when `DD_TRACE_AGENT_PORT` is unset.
pub const DEFAULT_AGENT_PORT: u16 = 8126;
/// The node agent's Unix socket, used when present and no address is configured.
pub const DEFAULT_AGENT_SOCKET: &str = "/var/run/datadog/apm.socket";
/// Service name when `DD_SERVICE` is unset and the executable name is unknown.
pub const DEFAULT_SERVICE: &str = "unnamed-rust-service";
/// How often finished traces are sent.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Timeout of one request to the agent.
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished trace chunks the hand-off queue holds before it drops new ones.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;
/// Finished spans that trigger a partial flush when partial flushing is on.
pub const DEFAULT_PARTIAL_FLUSH_MIN_SPANS: usize = 1000;
/// Finished spans one open trace may buffer: past this they are sent as a partial chunk
/// even when partial flushing is off, so a trace that never ends cannot grow without bound.
pub const MAX_BUFFERED_SPANS_PER_TRACE: usize = 10_000;
/// How long dropping the guard waits for finished traces to be sent.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the agent listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentEndpoint {
    /// HTTP over a Unix domain socket.
    Unix(PathBuf),
    /// HTTP over TCP. `host` is a name, an IPv4 address or a bracketed IPv6 address.
    Http {
        /// Host name or address.
        host: String,
        /// TCP port.
        port: u16,
    },
}

impl AgentEndpoint {
    /// Parses `unix:///path` or `http://host[:port]`.
    ///
    /// # Errors
    /// A description of what is wrong with `url`: an unsupported scheme, a missing host or
    /// path, or a malformed port.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(
                    "a unix:// URL needs a socket path, e.g. unix:///var/run/datadog/apm.socket"
                        .into(),
                );
            }
            return Ok(AgentEndpoint::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("http://") {
            let authority = rest.split('/').next().unwrap_or_default();
            let (host, port) = split_host_port(authority)?;
            if host.is_empty() {
                return Err("the URL has no host".into());
            }
            return Ok(AgentEndpoint::Http {
                host: bracket_ipv6(host),
                port: port.unwrap_or(80),
            });
        }
        if url.starts_with("https://") {
            return Err("https is not supported (the agent's trace intake is plain HTTP); use http:// or unix://".into());
        }
        Err("the scheme must be unix:// or http://".into())
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or("unclosed '[' in the host")?;
        let port = rest[end + 1..].strip_prefix(':');
        (&authority[..end + 2], port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("{p:?} is not a valid port"))?,
        ),
    };
    Ok((host, port))
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

impl fmt::Display for AgentEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentEndpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            AgentEndpoint::Http { host, port } => write!(f, "http://{host}:{port}"),
        }
    }
}

/// The tracer's validated configuration.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub service: String,
    pub env: Option<String>,
    pub version: Option<String>,
    pub tags: Vec<(String, String)>,
    pub enabled: bool,
    pub sample_rate: Option<f64>,
    pub agent: AgentEndpoint,
    pub agent_timeout: Duration,
    pub entity_id: Option<String>,
    pub external_env: Option<String>,
    pub startup_logs: bool,
    pub debug: bool,
    pub trace_id_128_bit: bool,
    pub log_trace_id_128_bit: bool,
    pub partial_flush_min_spans: Option<usize>,
    pub flush_interval: Duration,
    pub queue_capacity: usize,
    pub shutdown_timeout: Duration,
}

/// Reads and validates the environment. Returns the configuration and one warning per
/// malformed variable.
pub(crate) fn from_env(
    get: &dyn Fn(&str) -> Option<String>,
    socket_exists: &dyn Fn(&Path) -> bool,
) -> (Config, Vec<String>) {
    let mut r = Reader {
        get,
        warnings: Vec::new(),
    };
    let service = r
        .string(env::DD_SERVICE)
        .unwrap_or_else(default_service_name);
    let env_name = r.string(env::DD_ENV);
    let version = r.string(env::DD_VERSION);
    let tags = r
        .string(env::DD_TAGS)
        .map(|s| parse_tags(&s))
        .unwrap_or_default();
    let enabled = r.bool(env::DD_TRACE_ENABLED, true);
    let sample_rate = r.parse(
        env::DD_TRACE_SAMPLE_RATE,
        "a number between 0 and 1",
        "unset: every trace is kept",
        |s| s.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)),
    );
    let agent = resolve_agent(&mut r, socket_exists);
    let agent_timeout = r
        .parse(
            env::DD_TRACE_AGENT_TIMEOUT,
            "a positive number of seconds",
            "10",
            |s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite() && *t > 0.0 && *t < 3600.0)
                    .map(Duration::from_secs_f64)
            },
        )
        .unwrap_or(DEFAULT_AGENT_TIMEOUT);
    let entity_id = r.string(env::DD_ENTITY_ID);
    let external_env = r.string(env::DD_EXTERNAL_ENV);
    let startup_logs = r.bool(env::DD_TRACE_STARTUP_LOGS, true);
    let debug = r.bool(env::DD_TRACE_DEBUG, false);
    let trace_id_128_bit = r.bool(env::DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED, true);
    let log_trace_id_128_bit = r.bool(env::DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED, true);
    let partial = r.bool(env::DD_TRACE_PARTIAL_FLUSH_ENABLED, false);
    let min_spans = r
        .parse(
            env::DD_TRACE_PARTIAL_FLUSH_MIN_SPANS,
            "a whole number from 1 to 99999",
            "1000",
            |s| s.parse::<usize>().ok().filter(|n| (1..100_000).contains(n)),
        )
        .unwrap_or(DEFAULT_PARTIAL_FLUSH_MIN_SPANS);
    let config = Config {
        service,
        env: env_name,
        version,
        tags,
        enabled,
        sample_rate,
        agent,
        agent_timeout,
        entity_id,
        external_env,
        startup_logs,
        debug,
        trace_id_128_bit,
        log_trace_id_128_bit,
        partial_flush_min_spans: partial.then_some(min_spans),
        flush_interval: DEFAULT_FLUSH_INTERVAL,
        queue_capacity: DEFAULT_QUEUE_CAPACITY,
        shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
    };
    (config, r.warnings)
}

/// The executable's file name, as GO does, else [`DEFAULT_SERVICE`].
fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE.to_string())
}

struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    warnings: Vec<String>,
}

impl Reader<'_> {
    /// A non-empty, trimmed value.
    fn string(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn parse<T>(
        &mut self,
        name: &str,
        expected: &str,
        default: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let raw = self.string(name)?;
        let parsed = parse(&raw);
        if parsed.is_none() {
            self.warnings.push(format!(
                "invalid {name}={raw:?}: expected {expected}; using the default ({default})"
            ));
        }
        parsed
    }

    fn bool(&mut self, name: &str, default: bool) -> bool {
        self.parse(name, "true or false", &default.to_string(), parse_bool)
            .unwrap_or(default)
    }
}

/// Accepts what Go's `strconv.ParseBool` accepts, case-insensitively.
fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "on" => Some(true),
        "0" | "f" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Spec §5: `DD_TRACE_AGENT_URL`, else `DD_AGENT_HOST`/`DD_TRACE_AGENT_PORT`, else the default
/// socket if it exists, else `http://localhost:8126`.
fn resolve_agent(r: &mut Reader<'_>, socket_exists: &dyn Fn(&Path) -> bool) -> AgentEndpoint {
    if let Some(url) = r.string(env::DD_TRACE_AGENT_URL) {
        match AgentEndpoint::parse(&url) {
            Ok(endpoint) => return endpoint,
            Err(reason) => r.warnings.push(format!(
                "invalid {}={url:?}: {reason}; using DD_AGENT_HOST/DD_TRACE_AGENT_PORT or the default agent address",
                env::DD_TRACE_AGENT_URL
            )),
        }
    }
    let host = r.string(env::DD_AGENT_HOST);
    let port = r.parse(
        env::DD_TRACE_AGENT_PORT,
        "a port number from 1 to 65535",
        "8126",
        |s| s.parse::<u16>().ok().filter(|&p| p != 0),
    );
    let port_set = r.string(env::DD_TRACE_AGENT_PORT).is_some();
    if host.is_none() && !port_set && socket_exists(Path::new(DEFAULT_AGENT_SOCKET)) {
        return AgentEndpoint::Unix(PathBuf::from(DEFAULT_AGENT_SOCKET));
    }
    AgentEndpoint::Http {
        host: bracket_ipv6(host.as_deref().unwrap_or(DEFAULT_AGENT_HOST)),
        port: port.unwrap_or(DEFAULT_AGENT_PORT),
    }
}

/// Parses `DD_TAGS` per spec §5: comma-separated when any comma is present, else
/// space-separated; each item split on its first `:`; trimmed; empty keys skipped; a key with
/// no `:` gets the value `""`; git metadata keys dropped.
pub(crate) fn parse_tags(raw: &str) -> Vec<(String, String)> {
    let separator = if raw.contains(',') { ',' } else { ' ' };
    raw.split(separator)
        .filter_map(|item| {
            let (key, value) = item.split_once(':').unwrap_or((item, ""));
            let (key, value) = (key.trim(), value.trim());
            let skip = key.is_empty() || key == "git.commit.sha" || key == "git.repository_url";
            (!skip).then(|| (key.to_string(), value.to_string()))
        })
        .collect()
}

/// The `DATADOG TRACER CONFIGURATION` startup line's JSON.
#[derive(Serialize)]
pub(crate) struct StartupInfo<'a> {
    pub date: String,
    pub os_name: &'static str,
    pub architecture: &'static str,
    pub version: &'static str,
    pub lang: &'static str,
    pub lang_version: &'static str,
    pub enabled: bool,
    pub service: &'a str,
    pub env: Option<&'a str>,
    pub dd_version: Option<&'a str>,
    pub agent_url: String,
    pub debug: bool,
    pub sample_rate: Option<f64>,
    pub tags: std::collections::BTreeMap<&'a str, &'a str>,
    pub runtime_id: &'a str,
    pub trace_id_128_bit_generation_enabled: bool,
    pub partial_flush_enabled: bool,
    pub partial_flush_min_spans: Option<usize>,
    pub entity_id: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)], socket: bool) -> (Config, Vec<String>) {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_env(&move |k| vars.get(k).cloned(), &move |_| socket)
    }

    #[test]
    fn dd_tags_follow_the_spec_table() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("a:1,b:2", &[("a", "1"), ("b", "2")]),
            ("a:1 b:2", &[("a", "1"), ("b", "2")]),
            // A comma anywhere makes comma the only separator.
            ("a:1 b:2,c:3", &[("a", "1 b:2"), ("c", "3")]),
            ("  a : 1 ,, :x, b", &[("a", "1"), ("b", "")]),
            ("url:http://x:80", &[("url", "http://x:80")]),
            ("k:v git.commit.sha:abc git.repository_url:r", &[("k", "v")]),
            ("", &[]),
        ];
        for (raw, want) in cases {
            let got = parse_tags(raw);
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want, "DD_TAGS={raw:?}");
        }
    }

    #[test]
    fn agent_url_wins_over_host_port_and_socket() {
        let (c, w) = load(
            &[
                ("DD_TRACE_AGENT_URL", "unix:///tmp/x.sock"),
                ("DD_AGENT_HOST", "h"),
            ],
            true,
        );
        assert_eq!(c.agent, AgentEndpoint::Unix("/tmp/x.sock".into()));
        assert!(w.is_empty());
        let (c, _) = load(&[("DD_TRACE_AGENT_URL", "http://agent:9000/")], true);
        assert_eq!(c.agent.to_string(), "http://agent:9000");
    }

    #[test]
    fn host_and_port_are_used_when_no_url() {
        let (c, _) = load(&[("DD_AGENT_HOST", "dd-agent")], true);
        assert_eq!(c.agent.to_string(), "http://dd-agent:8126");
        let (c, _) = load(&[("DD_TRACE_AGENT_PORT", "9126")], true);
        assert_eq!(c.agent.to_string(), "http://localhost:9126");
        let (c, _) = load(&[("DD_AGENT_HOST", "::1")], false);
        assert_eq!(c.agent.to_string(), "http://[::1]:8126");
    }

    #[test]
    fn default_socket_is_used_only_when_it_exists() {
        let (c, _) = load(&[], true);
        assert_eq!(c.agent, AgentEndpoint::Unix(DEFAULT_AGENT_SOCKET.into()));
        let (c, _) = load(&[], false);
        assert_eq!(c.agent.to_string(), "http://localhost:8126");
    }

    #[test]
    fn bad_agent_url_warns_and_falls_back() {
        for bad in [
            "ftp://x",
            "https://agent:8126",
            "unix://",
            "http://:80",
            "http://h:99999",
        ] {
            let (c, w) = load(
                &[("DD_TRACE_AGENT_URL", bad), ("DD_AGENT_HOST", "h")],
                false,
            );
            assert_eq!(c.agent.to_string(), "http://h:8126", "{bad}");
            assert_eq!(w.len(), 1, "{bad}: {w:?}");
            assert!(w[0].contains("DD_TRACE_AGENT_URL"), "{w:?}");
        }
    }

    #[test]
    fn http_url_parses_ipv6_and_default_port() {
        assert_eq!(
            AgentEndpoint::parse("http://[::1]:8126")
                .unwrap()
                .to_string(),
            "http://[::1]:8126"
        );
        assert_eq!(
            AgentEndpoint::parse("http://agent").unwrap().to_string(),
            "http://agent:80"
        );
    }

    #[test]
    fn each_malformed_variable_gives_one_warning_naming_it_and_the_default() {
        let (c, w) = load(
            &[
                ("DD_TRACE_SAMPLE_RATE", "1.5"),
                ("DD_TRACE_ENABLED", "maybe"),
                ("DD_TRACE_AGENT_PORT", "http"),
                ("DD_TRACE_PARTIAL_FLUSH_MIN_SPANS", "0"),
                ("DD_TRACE_AGENT_TIMEOUT", "-1"),
            ],
            false,
        );
        assert_eq!(c.sample_rate, None);
        assert!(c.enabled);
        assert_eq!(c.agent.to_string(), "http://localhost:8126");
        assert_eq!(c.agent_timeout, DEFAULT_AGENT_TIMEOUT);
        assert_eq!(w.len(), 5, "{w:#?}");
        for (var, default) in [
            ("DD_TRACE_SAMPLE_RATE", "unset"),
            ("DD_TRACE_ENABLED", "true"),
            ("DD_TRACE_AGENT_PORT", "8126"),
            ("DD_TRACE_PARTIAL_FLUSH_MIN_SPANS", "1000"),
            ("DD_TRACE_AGENT_TIMEOUT", "10"),
        ] {
            let line = w.iter().find(|l| l.contains(var)).expect(var);
            assert!(line.contains(&format!("default ({default}")), "{line}");
        }
    }

    #[test]
    fn service_env_version_and_rate_are_read() {
        let (c, w) = load(
            &[
                ("DD_SERVICE", " checkout "),
                ("DD_ENV", "prod"),
                ("DD_VERSION", "1.2.3"),
                ("DD_TRACE_SAMPLE_RATE", "0.25"),
                ("DD_TRACE_ENABLED", "FALSE"),
            ],
            false,
        );
        assert!(w.is_empty());
        assert_eq!(c.service, "checkout");
        assert_eq!(c.env.as_deref(), Some("prod"));
        assert_eq!(c.version.as_deref(), Some("1.2.3"));
        assert_eq!(c.sample_rate, Some(0.25));
        assert!(!c.enabled);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,200}") {
            let _ = AgentEndpoint::parse(&s);
            let _ = parse_tags(&s);
            let _ = crate::export::transport::container::parse_container_id(&s);
        }

        /// Well-formed `DD_TAGS` read back as written.
        #[test]
        fn well_formed_tags_round_trip(
            tags in proptest::collection::vec(("[a-z][a-z0-9_.]{0,15}", "[a-zA-Z0-9_./-]{0,20}"), 0..10),
            comma in any::<bool>(),
        ) {
            let sep = if comma { "," } else { " " };
            let raw: Vec<String> = tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            let parsed = parse_tags(&raw.join(sep));
            let want: Vec<(String, String)> = tags
                .into_iter()
                .filter(|(k, _)| k != "git.commit.sha" && k != "git.repository_url")
                .collect();
            prop_assert_eq!(parsed, want);
        }
    }
}
