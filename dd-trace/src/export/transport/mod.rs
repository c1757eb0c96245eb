//! TRANSPORT: HTTP to the agent over a Unix socket (hyperlocal) or TCP (hyper), with retries.
//!
//! In: [`Payload`]s from the worker, each sent to the endpoint its format names. Out: the
//! agent's sampling rates ([`AgentRatesReply`]), or a [`SendError`] saying what went wrong.
//! Status handling per spec §1.7 Decision: 400/413/415 are final; 408/429/5xx and connections
//! closed without an answer are retried (by [`deliver`](super::sink::deliver)) with
//! exponential backoff; a connection that cannot be made is returned at once, for the worker
//! to keep the payload until the agent is back; a request the agent accepted but never
//! answered is not sent again (it may have been
//! processed: no span is delivered twice). Runs only on the worker's runtime. It is the
//! production [`PayloadSink`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

use super::send_error::{connect_cause, SendError};
use super::sink::{PayloadSink, SinkFuture};
use crate::encode::Payload;
use crate::health::{AgentInfo, AgentRatesReply};
use crate::identity::{LANGUAGE, RUSTC_VERSION, TRACER_VERSION};
use crate::model::error_chain::{error_chain, ChainStyle};
use container::ContainerInfo;

/// The agent endpoint tracer flares are posted to.
pub(crate) const FLARE_PATH: &str = "/tracer_flare/v1";

/// The longest a TCP connection attempt may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The agent's reply is a small JSON document; anything bigger is not read.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

#[derive(Deserialize)]
struct RatesBody {
    rate_by_service: Option<HashMap<String, f64>>,
}

enum Connection {
    Unix(
        Client<hyperlocal::UnixConnector, Full<Bytes>>,
        std::path::PathBuf,
    ),
    Tcp(Client<HttpConnector, Full<Bytes>>, String),
}

/// Sends payloads to one agent.
pub(crate) struct AgentTransport {
    connection: Connection,
    /// The agent's address, for messages.
    destination: String,
    /// The agent's socket, when it listens on one.
    socket: Option<PathBuf>,
    headers: HeaderMap,
    timeout: Duration,
    /// The agent's last `Datadog-Agent-State` (a hash of its `/info`).
    agent_state: std::sync::Mutex<Option<String>>,
    /// It changed since the worker last looked: `/info` is worth asking again.
    agent_state_changed: std::sync::atomic::AtomicBool,
}

impl AgentTransport {
    /// Prepares a client for the agent at `endpoint` and the headers every request carries.
    /// Must run inside the worker's runtime (hyper's pool spawns its tasks there).
    pub(crate) fn new(
        endpoint: &AgentEndpoint,
        timeout: Duration,
        container: &ContainerInfo,
        external_env: Option<&str>,
    ) -> Result<Self, String> {
        let connection = match endpoint {
            AgentEndpoint::Unix(path) => Connection::Unix(
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build(hyperlocal::UnixConnector),
                path.clone(),
            ),
            AgentEndpoint::Http { .. } => {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                // A connection that takes longer is not coming: the payload waits in the retry
                // buffer instead. It also means a request still unanswered after STALL_AFTER
                // had its connection accepted (with an agent timeout under 4 s, the stall
                // threshold is half of it and may come before the connect timeout).
                connector.set_connect_timeout(Some(timeout.min(CONNECT_TIMEOUT)));
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
        };
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        put("content-type", "application/msgpack");
        put("datadog-meta-lang", LANGUAGE);
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
        Ok(AgentTransport {
            connection,
            destination: endpoint.to_string(),
            socket: match endpoint {
                AgentEndpoint::Unix(path) => Some(path.clone()),
                AgentEndpoint::Http { .. } => None,
            },
            headers,
            timeout,
            agent_state: std::sync::Mutex::new(None),
            agent_state_changed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The URI for a request to `path`.
    fn uri(&self, path: &str) -> Result<Uri, SendError> {
        let uri = match &self.connection {
            Connection::Unix(_, socket) => Ok(hyperlocal::Uri::new(socket, path).into()),
            Connection::Tcp(_, base) => format!("{base}{path}").parse::<Uri>(),
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
        }
        .map_err(|e| client_error(&e))?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let version = header("datadog-rates-payload-version");
        if let Some(state) = header("datadog-agent-state") {
            self.note_agent_state(state);
        }
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok((status, version, body))
    }

    /// Records the agent's `Datadog-Agent-State`; a change after the first one seen is noted.
    fn note_agent_state(&self, state: String) {
        let mut last = self
            .agent_state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.as_deref() != Some(state.as_str()) {
            if last.is_some() {
                self.agent_state_changed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            *last = Some(state);
        }
    }

    /// One attempt to deliver `payload`.
    async fn send_once(
        &self,
        payload: &Payload,
        rates_version: Option<&str>,
        deadline: Option<Instant>,
    ) -> Result<Option<AgentRatesReply>, SendError> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.uri(payload.format.path())?);
        if let Some(headers) = builder.headers_mut() {
            headers.extend(self.headers.clone());
            headers.insert("x-datadog-trace-count", HeaderValue::from(payload.chunks));
            if payload.client_stats {
                headers.insert(
                    "datadog-client-computed-stats",
                    HeaderValue::from_static("yes"),
                );
                let (traces, spans) = payload.dropped_p0;
                headers.insert(
                    "datadog-client-dropped-p0-traces",
                    HeaderValue::from(traces),
                );
                headers.insert("datadog-client-dropped-p0-spans", HeaderValue::from(spans));
            }
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
                return Err(status_error(status, &body));
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

impl PayloadSink for AgentTransport {
    fn destination(&self) -> &str {
        &self.destination
    }

    fn socket(&self) -> Option<&Path> {
        self.socket.as_deref()
    }

    fn send<'a>(
        &'a self,
        payload: &'a Payload,
        rates_version: Option<&'a str>,
        deadline: Option<Instant>,
    ) -> SinkFuture<'a, Result<Option<AgentRatesReply>, SendError>> {
        Box::pin(self.send_once(payload, rates_version, deadline))
    }

    fn info(&self) -> SinkFuture<'_, Option<AgentInfo>> {
        Box::pin(self.agent_info())
    }

    fn post<'a>(
        &'a self,
        path: &'a str,
        content_type: &'a str,
        body: Bytes,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(AgentTransport::post(self, path, content_type, body))
    }

    fn post_json<'a>(
        &'a self,
        path: &'a str,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    ) -> SinkFuture<'a, Result<(u16, Bytes), SendError>> {
        Box::pin(AgentTransport::post_json(self, path, headers, body))
    }

    fn take_agent_state_change(&self) -> bool {
        self.agent_state_changed
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }
}

/// `/info` as the agent writes it (spec §1.8); only what the tracer reads.
#[derive(Deserialize)]
struct InfoBody {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    endpoints: Vec<String>,
    #[serde(default)]
    client_drop_p0s: bool,
    #[serde(default)]
    span_events: bool,
    #[serde(default)]
    peer_tags: Vec<String>,
    #[serde(default)]
    obfuscation_version: Option<u32>,
    #[serde(default)]
    config: InfoConfig,
}

#[derive(Deserialize, Default)]
struct InfoConfig {
    #[serde(default)]
    max_request_bytes: Option<u64>,
}

/// Parses the body of `/info`; `None` for anything that is not its JSON object.
pub(crate) fn parse_info(body: &[u8]) -> Option<AgentInfo> {
    let b: InfoBody = serde_json::from_slice(body).ok()?;
    Some(AgentInfo {
        version: b.version,
        endpoints: b.endpoints,
        client_drop_p0s: b.client_drop_p0s,
        span_events: b.span_events,
        peer_tags: b.peer_tags,
        obfuscation_version: b.obfuscation_version,
        max_request_bytes: b.config.max_request_bytes,
    })
}

/// What `/info` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InfoAnswer {
    /// Its JSON.
    Info(AgentInfo),
    /// 404: an agent older than `/info`, which takes v0.4 traces.
    NotFound,
    /// Another status, or a body that is not its JSON.
    Unreadable(String),
}

impl AgentTransport {
    /// Asks the agent's `/info`; `None` when it cannot say (no answer, an old agent's 404, a
    /// body that is not its JSON, or the in-memory exporter).
    pub(crate) async fn agent_info(&self) -> Option<AgentInfo> {
        match self.ask_info().await {
            Ok(InfoAnswer::Info(info)) => Some(info),
            _ => None,
        }
    }

    /// Asks the agent's `/info`, saying what came back.
    pub(crate) async fn ask_info(&self) -> Result<InfoAnswer, SendError> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.uri("/info")?)
            .body(Full::new(Bytes::new()))
            .map_err(|e| SendError::Request(e.to_string()))?;
        let limit = self.timeout.min(Duration::from_secs(5));
        let (status, _, body) = tokio::time::timeout(limit, self.exchange(request))
            .await
            .map_err(|_| SendError::Timeout(limit))??;
        Ok(match status {
            StatusCode::OK => match parse_info(&body) {
                Some(info) => InfoAnswer::Info(info),
                None => InfoAnswer::Unreadable("the body is not the agent's /info JSON".into()),
            },
            StatusCode::NOT_FOUND => InfoAnswer::NotFound,
            other => InfoAnswer::Unreadable(format!("HTTP status {}", other.as_u16())),
        })
    }

    /// Posts the JSON `body` to `path` with this transport's headers and `extra`: the answer's
    /// status and body.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        extra: Vec<(&'static str, String)>,
        body: Bytes,
    ) -> Result<(u16, Bytes), SendError> {
        let mut headers = vec![(http::header::CONTENT_TYPE, "application/json".to_string())];
        headers.extend(
            extra
                .into_iter()
                .map(|(name, value)| (HeaderName::from_static(name), value)),
        );
        let (status, body) = self.post_with(path, headers, body).await?;
        Ok((status.as_u16(), body))
    }

    /// Posts `body` to `path` with this transport's headers and `content_type`; the agent's
    /// answer must be 200.
    pub(crate) async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(), SendError> {
        let headers = vec![(http::header::CONTENT_TYPE, content_type.to_string())];
        let (status, body) = self.post_with(path, headers, body).await?;
        if status != StatusCode::OK {
            return Err(status_error(status, &body));
        }
        Ok(())
    }

    /// Posts `body` to `path` with this transport's headers and `extra` (values that are not
    /// valid in a header are left out), within the agent timeout.
    async fn post_with(
        &self,
        path: &str,
        extra: Vec<(HeaderName, String)>,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), SendError> {
        let mut builder = Request::builder().method(Method::POST).uri(self.uri(path)?);
        if let Some(headers) = builder.headers_mut() {
            headers.extend(self.headers.clone());
            for (name, value) in extra {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            }
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| SendError::Request(e.to_string()))?;
        let (status, _, body) = tokio::time::timeout(self.timeout, self.exchange(request))
            .await
            .map_err(|_| SendError::Timeout(self.timeout))??;
        Ok((status, body))
    }
}

/// Classifies an error from hyper's client.
fn client_error(e: &hyper_util::client::legacy::Error) -> SendError {
    if e.is_connect() {
        // The system's message ("Permission denied (os error 13)"), without hyper's wrapping
        // of it.
        let mut innermost: &(dyn std::error::Error + 'static) = e;
        while let Some(source) = innermost.source() {
            innermost = source;
        }
        return SendError::Connect(connect_cause(e), innermost.to_string());
    }
    SendError::Closed(error_chain(e, ChainStyle::OneLine))
}

/// An error answer: its status and the start of its body (what the agent says is wrong).
fn status_error(status: StatusCode, body: &[u8]) -> SendError {
    let text = String::from_utf8_lossy(body);
    SendError::Status(status.as_u16(), text.trim().chars().take(300).collect())
}

/// Parses a 200 body. `{}` (rates unchanged) and unreadable bodies give `None`: keep the
/// current rates.
pub(crate) fn parse_rates(body: &[u8], version: Option<String>) -> Option<AgentRatesReply> {
    let parsed: RatesBody = serde_json::from_slice(body).ok()?;
    Some(AgentRatesReply {
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

    proptest::proptest! {
        /// Whatever the agent answers, reading it never panics.
        #[test]
        fn agent_answers_of_any_bytes_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse_rates(&body, None);
            let _ = parse_info(&body);
        }

        /// Nor do JSON documents shaped almost like the agent's.
        #[test]
        fn agent_json_of_any_shape_never_panics(
            key in "(rate_by_service|endpoints|config|max_request_bytes|span_events|version|[a-z_]{0,12})",
            value in "(-?[0-9]{1,25}(\\.[0-9]{1,5})?|true|null|\"[^\"]{0,10}\"|\\[\\]|\\{\\}|\\{\"service:,env:\":[0-9.e-]{1,8}\\})",
        ) {
            for body in [format!("{{\"{key}\":{value}}}"), format!("{{\"rate_by_service\":{{\"{key}\":{value}}}}}"), format!("{{\"config\":{{\"{key}\":{value}}}}}")] {
                let _ = parse_rates(body.as_bytes(), None);
                let _ = parse_info(body.as_bytes());
            }
        }
    }

    #[test]
    fn info_is_read_from_the_agents_json_and_anything_else_is_none() {
        let body = br#"{"version":"7.60.0","endpoints":["/v0.4/traces","/v0.6/stats"],"client_drop_p0s":true,"span_events":true,"peer_tags":["db.hostname"],"obfuscation_version":1,"config":{"max_request_bytes":26214400,"receiver_port":8126}}"#;
        let info = parse_info(body).unwrap();
        assert_eq!(info.version.as_deref(), Some("7.60.0"));
        assert_eq!(info.endpoints, ["/v0.4/traces", "/v0.6/stats"]);
        assert!(info.client_drop_p0s && info.span_events);
        assert_eq!(info.peer_tags, ["db.hostname"]);
        assert_eq!(info.obfuscation_version, Some(1));
        assert_eq!(info.max_request_bytes, Some(26_214_400));
        assert_eq!(parse_info(b"{}").unwrap(), AgentInfo::default());
        assert_eq!(parse_info(b"404 page not found"), None);
        assert_eq!(parse_info(br#"{"endpoints":"/v0.4"}"#), None);
    }
}
