//! What the worker knows about the agent: its state, its `/info`, the errors of each kind and
//! the retry buffer, published for the reports.
//!
//! In: the worker's findings, on the worker thread. Out: [`AgentHealth`], behind one mutex that
//! only the worker and status readers take (never the app's span path); the agent's rates as
//! its last reply carried them ([`AgentRatesReply`]); and the public types the status shows
//! them with.

use std::collections::HashMap;
use std::fmt;
use std::time::SystemTime;

use super::platform::{DogStatsdStatus, RemoteConfigStatus, TelemetryStatus};

/// How the agent last behaved, in [`AgentStatus::state`](crate::diagnostics::AgentStatus::state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentState {
    /// Nothing has been sent yet.
    #[default]
    NotContacted,
    /// The last request was accepted.
    Accepting,
    /// No connection could be made; payloads wait in the retry buffer.
    Unreachable,
    /// The agent accepted a connection but has not answered a request for a few seconds.
    Stalled,
    /// The agent answers with errors, or closes connections without answering.
    Failing,
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgentState::NotContacted => "not contacted yet",
            AgentState::Accepting => "accepting traces",
            AgentState::Unreachable => "unreachable",
            AgentState::Stalled => "stalled (connection accepted, no answer)",
            AgentState::Failing => "failing",
        })
    }
}

/// What the agent's `/info` endpoint says about it: its version, the endpoints it serves and
/// the features it offers tracers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentInfo {
    /// The agent's version.
    pub version: Option<String>,
    /// The endpoints it serves, e.g. `/v0.4/traces`, `/v0.6/stats`.
    pub endpoints: Vec<String>,
    /// Whether it lets tracers drop unsampled (P0) traces after computing stats themselves.
    pub client_drop_p0s: bool,
    /// Whether it reads span events from a span's `span_events` field.
    pub span_events: bool,
    /// Tags it aggregates stats by, for client spans.
    pub peer_tags: Vec<String>,
    /// The obfuscation it expects a tracer computing stats to have applied.
    pub obfuscation_version: Option<u32>,
    /// The largest request body it accepts.
    pub max_request_bytes: Option<u64>,
}

/// The last delivery error of one kind, in [`TracerStatus::errors`](crate::diagnostics::TracerStatus::errors).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeliveryError {
    /// The kind, e.g. `socket not found`, `connection refused`, `timeout`, `HTTP 503`.
    pub kind: String,
    /// The last error of that kind.
    pub message: String,
    /// What to do about it.
    pub remedy: String,
    /// When it last happened.
    pub at: SystemTime,
    /// How many times it happened.
    pub count: u64,
}

/// Payloads waiting to be sent, in [`TracerStatus::retry_buffer`](crate::diagnostics::TracerStatus::retry_buffer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryBufferStatus {
    /// Payloads waiting.
    pub payloads: usize,
    /// Spans in them.
    pub spans: u64,
    /// Bytes of the payloads waiting or in flight.
    pub bytes: u64,
    /// The most bytes it holds (`DD_TRACE_RETRY_BUFFER_BYTES`).
    pub capacity_bytes: u64,
}

/// What the worker knows about the agent, shared with status readers behind one mutex that
/// only the worker and those readers take.
#[derive(Debug, Default)]
pub(crate) struct AgentHealth {
    pub(crate) state: AgentState,
    pub(crate) since: Option<SystemTime>,
    pub(crate) info: Option<AgentInfo>,
    pub(crate) errors: Vec<DeliveryError>,
    pub(crate) retry_buffer: RetryBufferStatus,
    pub(crate) remote: RemoteConfigStatus,
    pub(crate) telemetry: TelemetryStatus,
    pub(crate) dogstatsd: DogStatsdStatus,
}

impl AgentHealth {
    /// Moves to `state`, noting the time if it changed.
    pub(crate) fn set_state(&mut self, state: AgentState) {
        if self.state != state || self.since.is_none() {
            self.state = state;
            self.since = Some(SystemTime::now());
        }
    }

    /// Records an error of `kind`.
    pub(crate) fn record_error(&mut self, kind: String, message: String, remedy: String) {
        let at = SystemTime::now();
        let count = match self.errors.iter().position(|e| e.kind == kind) {
            Some(i) => self.errors.remove(i).count + 1,
            None => 1,
        };
        self.errors.insert(
            0,
            DeliveryError {
                kind,
                message,
                remedy,
                at,
                count,
            },
        );
    }
}

/// The agent's sampling rates by `service:<svc>,env:<env>` key, as one reply carried them
/// (spec §1.6).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AgentRatesReply {
    /// Rates by key; `service:,env:` is the agent's default.
    pub(crate) by_service: HashMap<String, f64>,
    /// The agent's rates version, echoed in `Datadog-Rates-Payload-Version`.
    pub(crate) version: Option<String>,
}
