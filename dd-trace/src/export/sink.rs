//! The seam between the worker and where payloads go. The worker delivers through a
//! [`PayloadSink`]: the agent over HTTP ([`AgentTransport`](super::transport::AgentTransport)),
//! or, for tests of instrumented code, the in-memory exporter of the `testing` feature, which
//! is an implementation of this trait and nothing else.
//!
//! In: payloads, `/info` questions and other posts (stats, flares) from the worker, on the
//! worker's runtime. Out: the agent's answers, or a [`SendError`] saying what went wrong. The
//! retries around one attempt ([`deliver`]) are the same for every sink.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::send_error::SendError;
use crate::encode::Payload;
use crate::health::{log, AgentInfo, AgentRatesReply};

/// A boxed future a sink returns (sinks are used as trait objects).
pub(crate) type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the worker delivers payloads.
pub(crate) trait PayloadSink: Send + Sync + 'static {
    /// Where payloads go, for the status and messages: `unix:///…`, `http://…` or `in-memory`.
    fn destination(&self) -> &str;

    /// The agent's Unix socket, when payloads go to one (remedies name its directory).
    fn socket(&self) -> Option<&Path> {
        None
    }

    /// One attempt to deliver `payload`, given up at `deadline`: the agent's sampling rates
    /// (`None`: unchanged), or why it failed.
    fn send<'a>(
        &'a self,
        payload: &'a Payload,
        rates_version: Option<&'a str>,
        deadline: Option<Instant>,
    ) -> SinkFuture<'a, Result<Option<AgentRatesReply>, SendError>>;

    /// What the agent's `/info` says; `None` when it cannot say.
    fn info(&self) -> SinkFuture<'_, Option<AgentInfo>>;

    /// Posts `body` to the agent's `path` (client stats, tracer flares); the answer must be 200.
    fn post<'a>(
        &'a self,
        path: &'a str,
        content_type: &'a str,
        body: Bytes,
    ) -> SinkFuture<'a, Result<(), SendError>>;

    /// Posts the JSON `body` to the agent's `path` with `headers` (remote configuration,
    /// telemetry): the answer's status and body, whatever the status. Sinks that are not an
    /// agent answer 404, as an agent without the endpoint would.
    fn post_json<'a>(
        &'a self,
        path: &'a str,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    ) -> SinkFuture<'a, Result<(u16, Bytes), SendError>> {
        let _ = (path, headers, body);
        Box::pin(async { Ok((404, Bytes::new())) })
    }

    /// Whether the agent's state changed since the last call (its `/info` may say something
    /// new).
    fn take_agent_state_change(&self) -> bool {
        false
    }
}

/// Retries after the first attempt of a retryable failure.
const MAX_RETRIES: u32 = 3;
/// Backoff before the first retry; doubled for each further one (100, 200, 400 ms).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The outcome of delivering one payload, retries included.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) result: Result<Option<AgentRatesReply>, SendError>,
    /// Failed attempts before the final result.
    pub(crate) failed_attempts: u32,
    /// The last failure that was retried, if any.
    pub(crate) retried: Option<SendError>,
}

/// Delivers `payload` to `sink`, retrying retryable failures (spec §1.7 Decision: 408, 429,
/// 5xx, a connection closed without an answer) with exponential backoff, never past
/// `deadline`. A connection that cannot be made is returned at once: the worker keeps the
/// payload until the agent is back.
pub(crate) async fn deliver(
    sink: &dyn PayloadSink,
    payload: &Payload,
    rates_version: Option<&str>,
    deadline: Option<Instant>,
) -> Delivery {
    let mut failed_attempts = 0;
    let mut backoff = FIRST_BACKOFF;
    let mut retried = None;
    loop {
        let e = match sink.send(payload, rates_version, deadline).await {
            Ok(rates) => {
                return Delivery {
                    result: Ok(rates),
                    failed_attempts,
                    retried,
                }
            }
            Err(e) => e,
        };
        failed_attempts += 1;
        let wait = with_jitter(backoff);
        let retry_at = Instant::now() + wait;
        let in_time = deadline.is_none_or(|d| retry_at < d);
        if !e.is_retryable() || failed_attempts > MAX_RETRIES || !in_time {
            return Delivery {
                result: Err(e),
                failed_attempts,
                retried,
            };
        }
        log::debug(format_args!(
            "send to {} failed ({e}); retry {failed_attempts} in {wait:?}",
            sink.destination()
        ));
        retried = Some(e);
        tokio::time::sleep_until(retry_at).await;
        backoff *= 2;
    }
}

/// `wait` plus up to 25% jitter, so that many tracers do not retry in step.
pub(crate) fn with_jitter(wait: Duration) -> Duration {
    wait + wait.mul_f64(rand::random::<f64>() * 0.25)
}
