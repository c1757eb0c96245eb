//! TRANSPORT: HTTP to the agent over a Unix socket (hyperlocal) or TCP (hyper), with retries.
//!
//! In: [`Payload`]s from the worker, each sent to the endpoint its format names. Out: the
//! agent's sampling rates ([`AgentRates`]), or a [`SendError`] saying what went wrong. Status
//! handling per spec §1.7 Decision: 400/413/415 are final; 408/429/5xx, timeouts and connection
//! errors are retried with exponential backoff. Runs only on the worker's runtime. With the
//! `testing` feature the destination may also be an in-memory exporter, which receives the
//! same payloads without any I/O.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::AgentEndpoint;
pub(crate) mod container;

use crate::diagnostics::{error_chain, ChainStyle};
use crate::export::encode::Payload;
use container::ContainerInfo;

/// The tracer's version, sent as `Datadog-Meta-Tracer-Version`.
pub const TRACER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The compiler that built the tracer, sent as `Datadog-Meta-Lang-Version`.
pub(crate) const RUSTC_VERSION: &str = env!("DD_TRACE_RUSTC_VERSION");

/// Retries after the first attempt of a retryable failure.
const MAX_RETRIES: u32 = 3;
/// Backoff before the first retry; doubled for each further one (100, 200, 400 ms).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The agent's reply is a small JSON document; anything bigger is not read.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The agent's sampling rates by `service:<svc>,env:<env>` key (spec §1.6).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AgentRates {
    /// Rates by key; `service:,env:` is the agent's default.
    pub(crate) by_service: HashMap<String, f64>,
    /// The agent's rates version, echoed in `Datadog-Rates-Payload-Version`.
    pub(crate) version: Option<String>,
}

/// Where payloads go.
#[derive(Clone, Debug)]
pub(crate) enum Destination {
    /// A Datadog agent (or anything that speaks its API).
    Agent(AgentEndpoint),
    /// The testing exporter, in this process.
    #[cfg(any(test, feature = "testing"))]
    Memory(crate::testing::InMemoryExporter),
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Agent(endpoint) => endpoint.fmt(f),
            #[cfg(any(test, feature = "testing"))]
            Destination::Memory(_) => f.write_str("in-memory"),
        }
    }
}

#[derive(Deserialize)]
struct RatesBody {
    rate_by_service: Option<HashMap<String, f64>>,
}

/// Why a payload could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendError {
    /// No connection: the socket is missing or nothing listens on the port.
    Connect(String),
    /// The agent did not answer in time.
    Timeout(Duration),
    /// The agent answered with an error status.
    Status(u16, String),
    /// The request could not be made (an address hyper cannot use): not the agent's doing.
    Request(String),
}

/// A kind of [`SendError`], for reporting once per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendErrorKind {
    Connect,
    Timeout,
    Status(u16),
    Request,
}

impl SendError {
    /// Whether trying again may help (spec §1.7 Decision).
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            SendError::Connect(_) | SendError::Timeout(_) => true,
            SendError::Status(code, _) => *code == 408 || *code == 429 || *code >= 500,
            SendError::Request(_) => false,
        }
    }

    /// Its kind, for reporting once per kind.
    pub(crate) fn kind(&self) -> SendErrorKind {
        match self {
            SendError::Connect(_) => SendErrorKind::Connect,
            SendError::Timeout(_) => SendErrorKind::Timeout,
            SendError::Status(code, _) => SendErrorKind::Status(*code),
            SendError::Request(_) => SendErrorKind::Request,
        }
    }

    /// What the operator can do about it.
    pub(crate) fn remedy(&self, destination: &Destination) -> &'static str {
        match (self, destination) {
            (SendError::Connect(_), Destination::Agent(AgentEndpoint::Unix(_))) => {
                "Check that the Datadog agent is running with APM enabled and that its socket is mounted at this path, or set DD_TRACE_AGENT_URL."
            }
            (SendError::Connect(_), _) => {
                "Check that the Datadog agent is running with APM enabled and reachable at this address, or set DD_TRACE_AGENT_URL / DD_AGENT_HOST / DD_TRACE_AGENT_PORT."
            }
            (SendError::Timeout(_), _) => {
                "The agent is overloaded or unreachable; raise DD_TRACE_AGENT_TIMEOUT if it is just slow."
            }
            (SendError::Status(413, _), _) => {
                "The payload exceeded the agent's max_request_bytes; raise apm_config.max_payload_size on the agent."
            }
            (SendError::Status(400 | 415, _), _) => {
                "The agent could not decode the payload: please report this as a dd-trace bug with the agent's message."
            }
            (SendError::Status(_, _), _) => "The agent is overloaded or failing; check its logs.",
            (SendError::Request(_), _) => {
                "Check DD_TRACE_AGENT_URL; if it is right, please report this as a dd-trace bug."
            }
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Connect(cause) => write!(f, "cannot connect: {cause}"),
            SendError::Timeout(t) => write!(f, "no answer within {t:?}"),
            SendError::Status(code, body) if body.is_empty() => write!(f, "HTTP status {code}"),
            SendError::Status(code, body) => write!(f, "HTTP status {code}: {body}"),
            SendError::Request(cause) => write!(f, "cannot make the request: {cause}"),
        }
    }
}

/// The outcome of delivering one payload, retries included.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub result: Result<Option<AgentRates>, SendError>,
    /// Failed attempts before the final result.
    pub failed_attempts: u32,
}

enum Connection {
    Unix(
        Client<hyperlocal::UnixConnector, Full<Bytes>>,
        std::path::PathBuf,
    ),
    Tcp(Client<HttpConnector, Full<Bytes>>, String),
    #[cfg(any(test, feature = "testing"))]
    Memory(crate::testing::InMemoryExporter),
}

/// Sends payloads to one destination.
pub(crate) struct Transport {
    connection: Connection,
    destination: Destination,
    headers: HeaderMap,
    timeout: Duration,
}

impl Transport {
    /// Prepares a client and the headers every request carries. Must run inside the worker's
    /// runtime (hyper's pool spawns its tasks there).
    pub(crate) fn new(
        destination: Destination,
        timeout: Duration,
        container: &ContainerInfo,
        external_env: Option<&str>,
    ) -> Result<Self, String> {
        let connection = match &destination {
            Destination::Agent(AgentEndpoint::Unix(path)) => Connection::Unix(
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build(hyperlocal::UnixConnector),
                path.clone(),
            ),
            Destination::Agent(endpoint @ AgentEndpoint::Http { .. }) => {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(timeout));
                let base = endpoint.to_string();
                base.parse::<Uri>()
                    .map_err(|e| format!("invalid agent address {endpoint}: {e}"))?;
                Connection::Tcp(
                    Client::builder(TokioExecutor::new())
                        .pool_idle_timeout(Duration::from_secs(30))
                        .build(connector),
                    base,
                )
            }
            #[cfg(any(test, feature = "testing"))]
            Destination::Memory(exporter) => Connection::Memory(exporter.clone()),
        };
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        put("content-type", "application/msgpack");
        put("datadog-meta-lang", "rust");
        put("datadog-meta-lang-version", RUSTC_VERSION);
        put(
            "datadog-meta-lang-interpreter",
            &format!("rustc-{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        );
        put("datadog-meta-tracer-version", TRACER_VERSION);
        put("datadog-client-computed-top-level", "yes");
        if let Some(cid) = &container.container_id {
            put("datadog-container-id", cid);
        }
        if let Some(eid) = &container.entity_id {
            put("datadog-entity-id", eid);
        }
        if let Some(env) = external_env {
            put("datadog-external-env", env);
        }
        Ok(Transport {
            connection,
            destination,
            headers,
            timeout,
        })
    }

    /// Where payloads go, for messages.
    pub(crate) fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The URI for a request to `path`.
    fn uri(&self, path: &str) -> Result<Uri, SendError> {
        let uri = match &self.connection {
            Connection::Unix(_, socket) => Ok(hyperlocal::Uri::new(socket, path).into()),
            Connection::Tcp(_, base) => format!("{base}{path}").parse::<Uri>(),
            #[cfg(any(test, feature = "testing"))]
            Connection::Memory(_) => return Err(SendError::Request("no URI in memory".into())),
        };
        uri.map_err(|e| SendError::Request(format!("invalid request URI for {path}: {e}")))
    }

    /// Makes one request: the response's status, rates version header and body (at most
    /// `MAX_RESPONSE_BYTES`; a body that fails to arrive reads as empty).
    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Option<String>, Bytes), SendError> {
        let response = match &self.connection {
            Connection::Unix(c, _) => c.request(request).await,
            Connection::Tcp(c, _) => c.request(request).await,
            // Callers answer in memory before building a request.
            #[cfg(any(test, feature = "testing"))]
            Connection::Memory(_) => return Err(SendError::Request("in memory".into())),
        }
        .map_err(|e| SendError::Connect(error_chain(&e, ChainStyle::OneLine)))?;
        let status = response.status();
        let version = response
            .headers()
            .get("datadog-rates-payload-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok((status, version, body))
    }

    /// Delivers `payload`, retrying retryable failures with backoff, never past `deadline`.
    pub(crate) async fn deliver(
        &self,
        payload: &Payload,
        rates_version: Option<&str>,
        deadline: Option<Instant>,
    ) -> Delivery {
        let mut failed_attempts = 0;
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.send_once(payload, rates_version, deadline).await {
                Ok(rates) => {
                    return Delivery {
                        result: Ok(rates),
                        failed_attempts,
                    }
                }
                Err(e) => {
                    failed_attempts += 1;
                    // Up to 25% jitter so that many tracers do not retry in step.
                    let jitter = backoff.mul_f64(rand::random::<f64>() * 0.25);
                    let retry_at = Instant::now() + backoff + jitter;
                    let in_time = deadline.is_none_or(|d| retry_at < d);
                    if !e.is_retryable() || failed_attempts > MAX_RETRIES || !in_time {
                        return Delivery {
                            result: Err(e),
                            failed_attempts,
                        };
                    }
                    crate::diagnostics::log::debug(format_args!(
                        "send to {} failed ({e}); retry {failed_attempts} in {:?}",
                        self.destination,
                        backoff + jitter
                    ));
                    tokio::time::sleep_until(retry_at).await;
                    backoff *= 2;
                }
            }
        }
    }

    async fn send_once(
        &self,
        payload: &Payload,
        rates_version: Option<&str>,
        deadline: Option<Instant>,
    ) -> Result<Option<AgentRates>, SendError> {
        #[cfg(any(test, feature = "testing"))]
        if let Connection::Memory(exporter) = &self.connection {
            return exporter.receive(payload);
        }
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.uri(payload.format.path())?);
        if let Some(headers) = builder.headers_mut() {
            headers.extend(self.headers.clone());
            headers.insert("x-datadog-trace-count", HeaderValue::from(payload.chunks));
            if let Some(v) = rates_version.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert("datadog-rates-payload-version", v);
            }
        }
        let request = builder
            .body(Full::new(payload.body.clone()))
            .map_err(|e| SendError::Request(format!("could not build the request: {e}")))?;
        let started = Instant::now();
        let mut limit = started + self.timeout;
        if let Some(d) = deadline {
            limit = limit.min(d);
        }
        let exchange = async {
            let (status, version, body) = self.exchange(request).await?;
            if status != StatusCode::OK {
                let text = String::from_utf8_lossy(&body);
                let text: String = text.trim().chars().take(300).collect();
                return Err(SendError::Status(status.as_u16(), text));
            }
            Ok(parse_rates(&body, version))
        };
        match tokio::time::timeout_at(limit, exchange).await {
            Ok(result) => result,
            // Cut short by the caller's deadline (shutdown) or the agent timeout.
            Err(_) => Err(SendError::Timeout(limit.saturating_duration_since(started))),
        }
    }
}

/// What the agent's `/info` says it supports (the part the tracer uses so far).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct AgentInfo {
    /// It reads span events from the `span_events` field of a span.
    #[serde(default)]
    pub(crate) span_events: bool,
}

impl Transport {
    /// Asks the agent's `/info`; `None` when it cannot say (no answer, an old agent's 404, a
    /// body that is not its JSON, or the in-memory exporter).
    pub(crate) async fn agent_info(&self) -> Option<AgentInfo> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.uri("/info").ok()?)
            .body(Full::new(Bytes::new()))
            .ok()?;
        let exchange = async {
            let (status, _, body) = self.exchange(request).await.ok()?;
            if status != StatusCode::OK {
                return None;
            }
            serde_json::from_slice::<AgentInfo>(&body).ok()
        };
        tokio::time::timeout(self.timeout.min(Duration::from_secs(5)), exchange)
            .await
            .ok()
            .flatten()
    }
}

/// Parses a 200 body. `{}` (rates unchanged) and unreadable bodies give `None`: keep the
/// current rates.
pub(crate) fn parse_rates(body: &[u8], version: Option<String>) -> Option<AgentRates> {
    let parsed: RatesBody = serde_json::from_slice(body).ok()?;
    Some(AgentRates {
        by_service: parsed.rate_by_service?,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_parsed_and_empty_bodies_keep_the_current_ones() {
        let body = br#"{"rate_by_service":{"service:,env:":1,"service:web,env:prod":0.25}}
"#;
        let rates = parse_rates(body, Some("v7".into())).unwrap();
        assert_eq!(rates.by_service["service:web,env:prod"], 0.25);
        assert_eq!(rates.by_service["service:,env:"], 1.0);
        assert_eq!(rates.version.as_deref(), Some("v7"));
        assert_eq!(parse_rates(b"{}", None), None);
        assert_eq!(parse_rates(b"OK", None), None);
    }

    #[test]
    fn only_transient_failures_are_retried() {
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
            assert_eq!(
                SendError::Status(code, String::new()).is_retryable(),
                retry,
                "{code}"
            );
        }
        assert!(SendError::Connect("refused".into()).is_retryable());
        assert!(SendError::Timeout(Duration::from_secs(1)).is_retryable());
    }
}
