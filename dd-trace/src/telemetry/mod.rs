//! INSTRUMENTATION TELEMETRY: Datadog sees the tracer. Through the agent's
//! `/telemetry/proxy/api/v2/apmtelemetry` (when `/info` lists the proxy and
//! `DD_INSTRUMENTATION_TELEMETRY_ENABLED` is not false), in the telemetry v2 envelope
//! (`api_version`, `request_type`, `tracer_time`, `runtime_id`, an increasing `seq_id`, the
//! application and the host) with its headers:
//! - `app-started`, first and alone: every setting's value and origin (secrets redacted);
//! - `app-integrations-change`: the integrations compiled in (`tower`, `axum`, `reqwest`,
//!   `tonic`, `opentelemetry`);
//! - `app-client-configuration-change`: each remote-configuration change (origin
//!   `remote_config`);
//! - `app-heartbeat` every `DD_TELEMETRY_HEARTBEAT_INTERVAL`, with `generate-metrics`: the
//!   tracer's health counters since the previous heartbeat (spans created, finished, sent and
//!   dropped by reason, chunks, requests and errors to the agent);
//! - `app-closing` at shutdown.
//!
//! Events after the first are batched (`message-batch`) into one request; at most
//! [`MAX_QUEUED_EVENTS`] wait (more are dropped and counted); one request is in flight at a
//! time, and a failed request is counted and its events dropped, never retried in a loop.
//!
//! In: the configuration, identity and counters, on the worker thread (which does the I/O).
//! Out: request bodies and headers; the counts the status shows.

mod events;
#[cfg(test)]
mod tests;

pub(crate) use events::{Telemetry, PATH};

/// Events that may wait for the next request; more are dropped and counted.
pub(crate) const MAX_QUEUED_EVENTS: usize = 64;
