//! Why a request to the agent failed, and what the operator can do about it.
//!
//! In: the sinks' failures (the transport classifies hyper's errors and the agent's statuses
//! into these), on the worker's runtime. Out: a [`SendError`]
//! that says whether the payload may be sent again and how, and one line of remedy per cause
//! (the worker prints it, rate-limited). The causes are the ones Kubernetes users meet: the
//! socket's hostPath volume missing, permission denied on the socket, nothing listening, an
//! unresolvable host, an agent that accepts connections and never answers, and each class of
//! status.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

/// Why a connection to the agent could not be made. Nothing was sent: the payload can be
/// sent again without any risk of duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectCause {
    /// The socket file (or its directory) does not exist.
    NotFound,
    /// The socket exists but this process may not connect to it.
    PermissionDenied,
    /// Nothing listens: the agent is stopped or restarting.
    Refused,
    /// The host name does not resolve.
    Dns,
    /// The connection attempt timed out.
    Timeout,
    /// Anything else.
    Other,
}

/// Why a payload could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendError {
    /// No connection could be made; `String` is the system's message.
    Connect(ConnectCause, String),
    /// The connection was closed, or the answer was not HTTP, before a status arrived.
    Closed(String),
    /// The agent did not answer in time (the payload may or may not have been processed).
    Timeout(Duration),
    /// The agent answered with an error status.
    Status(u16, String),
    /// The request could not be made (an address hyper cannot use): not the agent's doing.
    Request(String),
}

/// A kind of [`SendError`], for reporting once per kind and in the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendErrorKind {
    Connect(ConnectCause),
    Closed,
    Timeout,
    Status(u16),
    Request,
}

impl fmt::Display for SendErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendErrorKind::Connect(ConnectCause::NotFound) => f.write_str("socket not found"),
            SendErrorKind::Connect(ConnectCause::PermissionDenied) => {
                f.write_str("permission denied")
            }
            SendErrorKind::Connect(ConnectCause::Refused) => f.write_str("connection refused"),
            SendErrorKind::Connect(ConnectCause::Dns) => f.write_str("host not resolved"),
            SendErrorKind::Connect(ConnectCause::Timeout) => f.write_str("connect timeout"),
            SendErrorKind::Connect(ConnectCause::Other) => f.write_str("cannot connect"),
            SendErrorKind::Closed => f.write_str("connection closed"),
            SendErrorKind::Timeout => f.write_str("timeout"),
            SendErrorKind::Status(code) => write!(f, "HTTP {code}"),
            SendErrorKind::Request => f.write_str("bad request"),
        }
    }
}

impl SendError {
    /// Whether the transport may try again at once, a few times with backoff (spec §1.7
    /// Decision: 408, 429, 5xx, and a connection closed without an answer). Connection failures
    /// are not retried here: the worker keeps their payloads until the agent is back.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            SendError::Status(code, _) => *code == 408 || *code == 429 || *code >= 500,
            SendError::Closed(_) => true,
            SendError::Connect(..) | SendError::Timeout(_) | SendError::Request(_) => false,
        }
    }

    /// Whether the agent could not be reached at all, so the payload was not sent and is kept
    /// for when the agent is back.
    pub(crate) fn is_unreachable(&self) -> bool {
        matches!(self, SendError::Connect(..))
    }

    /// Its kind, for reporting once per kind.
    pub(crate) fn kind(&self) -> SendErrorKind {
        match self {
            SendError::Connect(cause, _) => SendErrorKind::Connect(*cause),
            SendError::Closed(_) => SendErrorKind::Closed,
            SendError::Timeout(_) => SendErrorKind::Timeout,
            SendError::Status(code, _) => SendErrorKind::Status(*code),
            SendError::Request(_) => SendErrorKind::Request,
        }
    }

    /// What the operator can do about it, in a sentence or two; `socket` is the agent's Unix
    /// socket, when it listens on one.
    pub(crate) fn remedy(&self, socket: Option<&Path>) -> String {
        match (self, socket) {
            (SendError::Connect(ConnectCause::NotFound, _), Some(path)) => {
                let dir = path.parent().unwrap_or(path);
                if dir.exists() {
                    format!(
                        "{} exists but holds no socket: the agent is not running on this node, or its APM socket is off (DD_APM_RECEIVER_SOCKET on the agent).",
                        dir.display()
                    )
                } else {
                    format!(
                        "{} is not mounted in this container: in Kubernetes, mount the node's /var/run/datadog with a hostPath volume (type Directory, see examples/kubernetes), or set DD_TRACE_AGENT_URL to the agent's address.",
                        dir.display()
                    )
                }
            }
            (SendError::Connect(ConnectCause::PermissionDenied, _), _) => {
                "This process may not connect to the socket: run it as a user or group the socket allows, or relax the socket's permissions on the agent.".into()
            }
            (SendError::Connect(ConnectCause::Refused, _), Some(_)) => {
                "The socket exists but no agent listens on it: the agent is stopped or restarting.".into()
            }
            (SendError::Connect(ConnectCause::Refused, _), None) => {
                "Nothing listens at this address: check DD_AGENT_HOST (in Kubernetes usually the node's IP, status.hostIP) and that the agent has APM enabled on this port and accepts non-local traffic (DD_APM_NON_LOCAL_TRAFFIC).".into()
            }
            (SendError::Connect(ConnectCause::Dns, _), _) => {
                "The agent's host name does not resolve: check DD_AGENT_HOST or DD_TRACE_AGENT_URL.".into()
            }
            (SendError::Connect(ConnectCause::Timeout, _), _) => {
                "Connecting timed out: a firewall or network policy may drop traffic to the agent, or the address is wrong.".into()
            }
            (SendError::Connect(..), _) => {
                "Check that the Datadog agent is running with APM enabled and reachable at this address, or set DD_TRACE_AGENT_URL.".into()
            }
            (SendError::Closed(_), _) => {
                "The agent closed the connection without answering, or answered with something that is not HTTP: check that this address is the agent's trace port, not another service.".into()
            }
            (SendError::Timeout(_), _) => {
                "The agent accepted the request but did not answer in time: it is overloaded or stuck (check its logs), or raise DD_TRACE_AGENT_TIMEOUT if it is just slow.".into()
            }
            (SendError::Status(413, _), _) => {
                "The payload exceeded the agent's max_request_bytes: raise apm_config.max_payload_size (DD_APM_MAX_PAYLOAD_SIZE) on the agent.".into()
            }
            (SendError::Status(404, _), _) => {
                "The agent does not serve this endpoint: it is very old, or this address is not a Datadog agent.".into()
            }
            (SendError::Status(403, _), _) => {
                "The agent refused the request: check for a proxy between this process and the agent.".into()
            }
            (SendError::Status(400 | 415, _), _) => {
                "The agent could not decode the payload: please report this as a dd-trace bug with the agent's message.".into()
            }
            (SendError::Status(429, _), _) => {
                "The agent is overloaded (no decoder free): sample traces, or give the agent more CPU.".into()
            }
            (SendError::Status(code, _), _) if *code >= 500 => {
                "The agent is failing: check its logs.".into()
            }
            (SendError::Status(..), _) => "The agent rejected the request: check its logs.".into(),
            (SendError::Request(_), _) => {
                "Check DD_TRACE_AGENT_URL; if it is right, please report this as a dd-trace bug.".into()
            }
        }
    }
}

/// The cause of a connection failure, from the I/O error in its sources (or `e` itself).
pub(crate) fn connect_cause(e: &(dyn StdError + 'static)) -> ConnectCause {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::NotFound => ConnectCause::NotFound,
                io::ErrorKind::PermissionDenied => ConnectCause::PermissionDenied,
                io::ErrorKind::ConnectionRefused => ConnectCause::Refused,
                // A non-blocking connect that did not complete in time.
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnectCause::Timeout,
                _ if io.to_string().contains("dns error") => ConnectCause::Dns,
                _ => ConnectCause::Other,
            };
        }
        let text = s.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return ConnectCause::Dns;
        }
        if text.contains("timed out") {
            return ConnectCause::Timeout;
        }
        source = s.source();
    }
    ConnectCause::Other
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Connect(_, cause) => write!(f, "cannot connect: {cause}"),
            SendError::Closed(cause) => write!(f, "no answer: {cause}"),
            SendError::Timeout(t) => write!(f, "no answer within {t:?}"),
            SendError::Status(code, body) if body.is_empty() => write!(f, "HTTP status {code}"),
            SendError::Status(code, body) => write!(f, "HTTP status {code}: {body}"),
            SendError::Request(cause) => write!(f, "cannot make the request: {cause}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_answers_are_retried_and_only_unreachable_agents_buffered() {
        for (code, retry) in [
            (400, false),
            (413, false),
            (415, false),
            (403, false),
            (404, false),
            (408, true),
            (429, true),
            (500, true),
            (503, true),
        ] {
            let e = SendError::Status(code, String::new());
            assert_eq!(e.is_retryable(), retry, "{code}");
            assert!(!e.is_unreachable());
        }
        let refused = SendError::Connect(ConnectCause::Refused, "refused".into());
        assert!(refused.is_unreachable() && !refused.is_retryable());
        assert!(SendError::Closed("reset".into()).is_retryable());
        // The agent may have processed a request it never answered: not sent twice.
        let timeout = SendError::Timeout(Duration::from_secs(1));
        assert!(!timeout.is_retryable() && !timeout.is_unreachable());
    }

    #[test]
    fn io_errors_in_the_chain_name_the_cause() {
        #[derive(Debug)]
        struct Wrap(io::Error);
        impl fmt::Display for Wrap {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl StdError for Wrap {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        for (kind, cause) in [
            (io::ErrorKind::NotFound, ConnectCause::NotFound),
            (
                io::ErrorKind::PermissionDenied,
                ConnectCause::PermissionDenied,
            ),
            (io::ErrorKind::ConnectionRefused, ConnectCause::Refused),
            (io::ErrorKind::TimedOut, ConnectCause::Timeout),
            (io::ErrorKind::Other, ConnectCause::Other),
        ] {
            assert_eq!(connect_cause(&Wrap(io::Error::from(kind))), cause);
        }
    }

    #[test]
    fn a_missing_socket_directory_names_the_hostpath_volume() {
        let socket = Path::new("/nonexistent-dd-trace/run/apm.socket");
        let missing =
            SendError::Connect(ConnectCause::NotFound, String::new()).remedy(Some(socket));
        assert!(missing.contains("hostPath"), "{missing}");
        let socket = std::env::temp_dir().join("no-such-apm.socket");
        let no_agent =
            SendError::Connect(ConnectCause::NotFound, String::new()).remedy(Some(&socket));
        assert!(no_agent.contains("holds no socket"), "{no_agent}");
    }
}
