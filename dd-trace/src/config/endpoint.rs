//! The agent's address.
//!
//! In: the agent URL (a variable or the builder's), or a host and port, on the thread that
//! builds the tracer. Out: an [`AgentEndpoint`] for the transport with how it was chosen
//! ([`AgentAddress`]), or an [`AgentUrlError`] saying what is wrong with a URL.

use std::fmt;
use std::path::PathBuf;

use crate::error::AgentUrlError;

/// Where the agent listens.
///
/// ```
/// use dd_trace::config::AgentEndpoint;
///
/// let uds = AgentEndpoint::parse("unix:///var/run/datadog/apm.socket")?;
/// assert_eq!(uds, AgentEndpoint::Unix("/var/run/datadog/apm.socket".into()));
/// let tcp = AgentEndpoint::parse("http://datadog-agent:8126")?;
/// assert_eq!(tcp.to_string(), "http://datadog-agent:8126");
/// assert!(AgentEndpoint::parse("https://datadog-agent:8126").is_err());
/// # Ok::<(), dd_trace::AgentUrlError>(())
/// ```
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
    /// Parses `unix:///path` or `http://host[:port]` (port 80 when none is given).
    ///
    /// # Errors
    /// [`AgentUrlError`] saying what is wrong with `url`: an unsupported scheme (including
    /// `https`), a missing socket path or host, or a malformed port.
    pub fn parse(url: &str) -> Result<Self, AgentUrlError> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(AgentUrlError::MissingSocketPath);
            }
            return Ok(AgentEndpoint::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("http://") {
            let authority = rest.split('/').next().unwrap_or_default();
            let (host, port) = split_host_port(authority)?;
            if host.is_empty() {
                return Err(AgentUrlError::MissingHost);
            }
            return Ok(AgentEndpoint::http(host, port.unwrap_or(80)));
        }
        if url.starts_with("https://") {
            return Err(AgentUrlError::HttpsUnsupported);
        }
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        Err(AgentUrlError::UnsupportedScheme {
            scheme: scheme.to_string(),
        })
    }

    /// HTTP to `host` (a name or an address, IPv6 with or without brackets) on `port`.
    pub(crate) fn http(host: &str, port: u16) -> Self {
        AgentEndpoint::Http {
            host: bracket_ipv6(host),
            port,
        }
    }
}

/// Agent host used when neither the agent URL nor the socket is available.
pub const DEFAULT_AGENT_HOST: &str = "localhost";
/// Agent trace port used when none is configured.
pub const DEFAULT_AGENT_PORT: u16 = 8126;

/// The agent's address and how it was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AgentAddress {
    pub(crate) endpoint: AgentEndpoint,
    pub(crate) source: AgentSource,
}

impl AgentAddress {
    pub(crate) fn new(endpoint: AgentEndpoint, source: AgentSource) -> Self {
        AgentAddress { endpoint, source }
    }
}

impl Default for AgentAddress {
    /// `http://localhost:8126`, nothing being configured and the node agent's socket absent.
    fn default() -> Self {
        AgentAddress::new(
            AgentEndpoint::http(DEFAULT_AGENT_HOST, DEFAULT_AGENT_PORT),
            AgentSource::Default,
        )
    }
}

/// How the agent's address was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AgentSource {
    /// `DatadogLayerBuilder::with_agent_url`.
    Builder,
    /// The agent URL variable.
    Url,
    /// The agent host and/or port variables.
    HostPort,
    /// Nothing was configured and the node agent's socket exists.
    DefaultSocket,
    /// Nothing was configured and the default socket does not exist.
    Default,
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), AgentUrlError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or(AgentUrlError::UnclosedBracket)?;
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
        Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| {
            AgentUrlError::InvalidPort {
                port: p.to_string(),
            }
        })?),
    };
    Ok((host, port))
}

/// `::1` → `[::1]`, so the host can be joined with a port.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_parse_ipv6_and_default_port() {
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
        assert_eq!(
            AgentEndpoint::parse(" http://agent:9000/ignored/path ")
                .unwrap()
                .to_string(),
            "http://agent:9000"
        );
    }

    #[test]
    fn each_malformed_url_gets_its_own_error() {
        let cases = [
            (
                "ftp://x",
                AgentUrlError::UnsupportedScheme {
                    scheme: "ftp".into(),
                },
            ),
            (
                "agent:8126",
                AgentUrlError::UnsupportedScheme {
                    scheme: String::new(),
                },
            ),
            ("https://agent:8126", AgentUrlError::HttpsUnsupported),
            ("unix://", AgentUrlError::MissingSocketPath),
            ("http://:80", AgentUrlError::MissingHost),
            ("http://[::1:80", AgentUrlError::UnclosedBracket),
            (
                "http://h:99999",
                AgentUrlError::InvalidPort {
                    port: "99999".into(),
                },
            ),
            (
                "http://h:0",
                AgentUrlError::InvalidPort { port: "0".into() },
            ),
        ];
        for (url, want) in cases {
            assert_eq!(AgentEndpoint::parse(url), Err(want), "{url}");
        }
    }
}

/// The node agent's DogStatsD Unix socket, used when present and no address is configured.
pub const DEFAULT_DOGSTATSD_SOCKET: &str = "/var/run/datadog/dsd.socket";
/// DogStatsD's UDP port.
pub const DEFAULT_DOGSTATSD_PORT: u16 = 8125;

/// Where the agent's DogStatsD listens: `DD_DOGSTATSD_URL` (`udp://host:port` or
/// `unix:///path`), else `DD_DOGSTATSD_HOST` (or `DD_AGENT_HOST`) and `DD_DOGSTATSD_PORT`, else
/// the node agent's socket when it exists, else UDP `localhost:8125`.
///
/// ```
/// use dd_trace::config::DogStatsdAddress;
///
/// assert_eq!(
///     DogStatsdAddress::parse("udp://10.0.0.7:8125"),
///     Some(DogStatsdAddress::Udp { host: "10.0.0.7".into(), port: 8125 })
/// );
/// assert_eq!(
///     DogStatsdAddress::parse("unix:///var/run/datadog/dsd.socket").unwrap().to_string(),
///     "unix:///var/run/datadog/dsd.socket"
/// );
/// assert_eq!(DogStatsdAddress::parse("http://x"), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DogStatsdAddress {
    /// Datagrams over UDP.
    Udp {
        /// Host name or address.
        host: String,
        /// UDP port.
        port: u16,
    },
    /// Datagrams over a Unix datagram socket.
    Unix(PathBuf),
}

impl Default for DogStatsdAddress {
    fn default() -> Self {
        DogStatsdAddress::Udp {
            host: DEFAULT_AGENT_HOST.into(),
            port: DEFAULT_DOGSTATSD_PORT,
        }
    }
}

impl DogStatsdAddress {
    /// Parses `udp://host[:port]` (port 8125 when none is given) or `unix:///path`; `None`
    /// for anything else.
    pub fn parse(url: &str) -> Option<Self> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("unix://") {
            return (!path.is_empty()).then(|| DogStatsdAddress::Unix(PathBuf::from(path)));
        }
        let authority = url.strip_prefix("udp://")?.split('/').next()?;
        let (host, port) = split_host_port(authority).ok()?;
        (!host.is_empty()).then(|| DogStatsdAddress::Udp {
            host: host.to_string(),
            port: port.unwrap_or(DEFAULT_DOGSTATSD_PORT),
        })
    }
}

impl fmt::Display for DogStatsdAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DogStatsdAddress::Udp { host, port } => write!(f, "udp://{host}:{port}"),
            DogStatsdAddress::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}
