//! What the agent takes, as its `/info` says and its refusals show: the payload format (v1.0,
//! else v0.5, else v0.4; a format it refuses with 404 or 415 is not sent again), asked at start
//! and whenever the agent's state changes.
//!
//! In: the agent's `/info` (asked in the background, on the worker's runtime) and the formats
//! it refused, on the worker thread. Out: the format to send; the worker applies it and the
//! rest of what `/info` says (span events, payload size, client stats).

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::sink::PayloadSink;
use crate::encode::PayloadFormat;
use crate::health::AgentInfo;

/// The agent's `/info` under way, and the formats it refused.
pub(crate) struct AgentFeatures {
    /// The format `DD_TRACE_AGENT_PROTOCOL_VERSION` forces, if any.
    forced: Option<PayloadFormat>,
    /// The app records span events: v0.5, which has no field for them, is not chosen when the
    /// agent reads them natively.
    records_span_events: bool,
    /// The agent refused v0.5 (404/415): not v0.5 again.
    v05_refused: bool,
    /// The agent refused v1.0 (404/415): not v1.0 again.
    v1_refused: bool,
    /// The `/info` request under way.
    asking: Option<JoinHandle<Option<AgentInfo>>>,
}

impl AgentFeatures {
    pub(crate) fn new(forced: Option<PayloadFormat>, records_span_events: bool) -> Self {
        AgentFeatures {
            forced,
            records_span_events,
            v05_refused: false,
            v1_refused: false,
            asking: None,
        }
    }

    /// The format the configuration forces, if any.
    pub(crate) fn forced(&self) -> Option<PayloadFormat> {
        self.forced
    }

    /// Asks `sink` for the agent's `/info` in the background, unless a request is under way.
    pub(crate) fn ask(&mut self, sink: &Arc<dyn PayloadSink>) {
        if self.asking.is_none() {
            let sink = Arc::clone(sink);
            self.asking = Some(tokio::spawn(async move { sink.info().await }));
        }
    }

    /// Whether a `/info` request is under way.
    pub(crate) fn is_asking(&self) -> bool {
        self.asking.is_some()
    }

    /// The answer of the request under way (`None`: it could not say); cancel-safe.
    pub(crate) async fn answer(&mut self) -> Option<AgentInfo> {
        let task = self.asking.as_mut()?;
        let answer = task.await.ok().flatten();
        self.asking = None;
        answer
    }

    /// The format to send now that `/info` said `agent`: `None` when the configuration forces
    /// one.
    pub(crate) fn format_for(&self, agent: &AgentInfo) -> Option<PayloadFormat> {
        self.forced.is_none().then(|| self.newest_offered(agent))
    }

    /// The agent (whose last `/info` is `agent`) refused `refused` payloads: the format to send
    /// from now on.
    pub(crate) fn refused(&mut self, refused: PayloadFormat, agent: &AgentInfo) -> PayloadFormat {
        match refused {
            PayloadFormat::V1 => self.v1_refused = true,
            _ => self.v05_refused = true,
        }
        match self.newest_offered(agent) {
            f if f == refused => PayloadFormat::V04,
            f => f,
        }
    }

    /// The newest format the agent offers and the tracer writes (v1.0, v0.5, v0.4), short of
    /// one it refused.
    fn newest_offered(&self, agent: &AgentInfo) -> PayloadFormat {
        let offers = |path: &str| agent.endpoints.iter().any(|e| e == path);
        let native_events = agent.span_events && self.records_span_events;
        if offers("/v1.0/traces") && !self.v1_refused {
            PayloadFormat::V1
        } else if offers("/v0.5/traces") && !self.v05_refused && !native_events {
            PayloadFormat::V05
        } else {
            PayloadFormat::V04
        }
    }
}
