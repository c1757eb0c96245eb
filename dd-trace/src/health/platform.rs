//! How the tracer talks with Datadog beyond traces: remote configuration (what Datadog steers)
//! and instrumentation telemetry (what Datadog sees of the tracer), as the status shows them.
//!
//! In: the worker's findings, on the worker thread, published in [`AgentHealth`]'s mutex
//! (never taken on the app's span path). Out: the public types the status, doctor and flares
//! show.
//!
//! [`AgentHealth`]: super::AgentHealth

use std::fmt;
use std::time::SystemTime;

/// Remote configuration, in [`TracerStatus::remote_config`](crate::diagnostics::TracerStatus::remote_config).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RemoteConfigStatus {
    /// `DD_REMOTE_CONFIGURATION_ENABLED`.
    pub enabled: bool,
    /// Whether the agent offers it (its `/info` lists `/v0.7/config`); `None` before `/info`.
    pub offered: Option<bool>,
    /// Polls answered.
    pub polls: u64,
    /// Polls that failed (the agent unreachable, an error status, a reply that could not be
    /// used).
    pub failed_polls: u64,
    /// When the agent last answered a poll.
    pub last_poll: Option<SystemTime>,
    /// Why the last failed poll failed.
    pub last_error: Option<String>,
    /// The configs received, with how each was applied.
    pub configs: Vec<RemoteConfigEntry>,
    /// Settings changes applied, over the tracer's life.
    pub changes_applied: u64,
}

/// One config received through remote configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteConfigEntry {
    /// Its id.
    pub id: String,
    /// Its product (`APM_TRACING`).
    pub product: String,
    /// Its version.
    pub version: u64,
    /// Why it was not applied (another service's config, a file that failed its checks);
    /// `None`: applied.
    pub apply_error: Option<String>,
}

impl fmt::Display for RemoteConfigStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.enabled {
            return f.write_str("off (DD_REMOTE_CONFIGURATION_ENABLED=false)");
        }
        match self.offered {
            None => f.write_str("waiting for the agent's /info")?,
            Some(false) => {
                f.write_str("not offered by the agent (remote configuration is off there)")?
            }
            Some(true) => write!(
                f,
                "{} polls ({} failed), {} configs, {} changes applied",
                self.polls,
                self.failed_polls,
                self.configs.len(),
                self.changes_applied
            )?,
        }
        if let Some(at) = self.last_poll {
            write!(f, "; last answer {}", humantime::format_rfc3339_seconds(at))?;
        }
        if let Some(e) = &self.last_error {
            write!(f, "; last error: {e}")?;
        }
        for c in &self.configs {
            write!(f, "\n    {} {} v{}: ", c.product, c.id, c.version)?;
            match &c.apply_error {
                None => f.write_str("applied")?,
                Some(e) => write!(f, "not applied: {e}")?,
            }
        }
        Ok(())
    }
}

/// Instrumentation telemetry, in [`TracerStatus::telemetry`](crate::diagnostics::TracerStatus::telemetry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TelemetryStatus {
    /// `DD_INSTRUMENTATION_TELEMETRY_ENABLED`.
    pub enabled: bool,
    /// Requests the agent accepted.
    pub requests_sent: u64,
    /// Events in them (a batch carries several).
    pub events_sent: u64,
    /// Requests that failed.
    pub requests_failed: u64,
    /// Events dropped: the queue was full, or their request failed.
    pub events_dropped: u64,
    /// Why the last failed request failed.
    pub last_error: Option<String>,
}

impl fmt::Display for TelemetryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.enabled {
            return f.write_str("off (DD_INSTRUMENTATION_TELEMETRY_ENABLED=false)");
        }
        write!(
            f,
            "{} events sent in {} requests, {} requests failed, {} events dropped",
            self.events_sent, self.requests_sent, self.requests_failed, self.events_dropped
        )?;
        if let Some(e) = &self.last_error {
            write!(f, "; last error: {e}")?;
        }
        Ok(())
    }
}

/// DogStatsD (runtime and health metrics), in [`TracerStatus::dogstatsd`](crate::diagnostics::TracerStatus::dogstatsd).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DogStatsdStatus {
    /// Whether runtime or health metrics are on (`DD_RUNTIME_METRICS_ENABLED`,
    /// `DD_TRACE_HEALTH_METRICS_ENABLED`).
    pub enabled: bool,
    /// Where metrics go: `udp://host:port` or `unix:///path`.
    pub address: String,
    /// Metrics sent.
    pub metrics_sent: u64,
    /// Sends that failed.
    pub send_errors: u64,
    /// Why the last failed send failed.
    pub last_error: Option<String>,
    /// What the last reading cost the metrics thread (reading `/proc`, the runtime, the
    /// counters, and sending).
    pub last_collection: std::time::Duration,
}

impl fmt::Display for DogStatsdStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.enabled {
            return f.write_str(
                "off (DD_RUNTIME_METRICS_ENABLED and DD_TRACE_HEALTH_METRICS_ENABLED are false)",
            );
        }
        write!(
            f,
            "{}: {} metrics sent, {} sends failed; the last reading took {} µs",
            self.address,
            self.metrics_sent,
            self.send_errors,
            self.last_collection.as_micros()
        )?;
        if let Some(e) = &self.last_error {
            write!(f, "; last error: {e}")?;
        }
        Ok(())
    }
}
