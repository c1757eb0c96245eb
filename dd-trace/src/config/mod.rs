//! CONFIGURATION: every setting, declared once in the settings table (`table.rs`), read from
//! its sources with its origin, and held while the app runs. Data and parsing only: nothing
//! here starts anything (the builder, `crate::builder`, does).
//!
//! In: the `DD_*` environment (or the builder's variable source) and the builder's values, on
//! the thread that builds the tracer. Out: `Settings` (each value with its [`Origin`]), one
//! warning per malformed variable naming it and the default used, the configuration in effect
//! ([`SettingValue`]s, secrets redacted) for the reports, and the snapshot of the settings
//! that may change while the app runs (`LiveSettings`), which the app's threads read through
//! an atomic swap, never a lock.
//!
//! [`SETTINGS`] lists every setting with its variables, default, builder method and meaning;
//! the constants here are the defaults the crate docs' configuration table lists.

mod derived;
mod endpoint;
mod live;
mod otel;
mod setting;
mod stable;
mod table;
#[cfg(test)]
mod tests;
mod values;

pub use endpoint::{
    AgentEndpoint, DogStatsdAddress, DEFAULT_AGENT_HOST, DEFAULT_AGENT_PORT,
    DEFAULT_DOGSTATSD_PORT, DEFAULT_DOGSTATSD_SOCKET,
};
pub use setting::{Origin, Redaction, SettingInfo, SettingValue};
pub use table::SETTINGS;

pub(crate) use endpoint::{AgentAddress, AgentSource};
pub(crate) use live::{Configuration, StableConfigIds};
pub(crate) use setting::{Setting, Sources, VariableSource};
pub(crate) use stable::{read as read_stable_config, Process, StableConfigPaths};
pub(crate) use table::{about, unsupported_in_environment, Overrides, Settings};
pub(crate) use values::{parse_tags, redact, valid_partial_flush_min_spans};

use std::time::Duration;

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
/// Traces per second sampling rules may keep when `DD_TRACE_RATE_LIMIT` is unset.
pub const DEFAULT_TRACE_RATE_LIMIT: f64 = 100.0;
/// Local traces with open spans the tracer records at once; spans of new traces past this are
/// not recorded (and counted), so spans never closed (leaked futures) cannot grow memory
/// forever.
pub const DEFAULT_MAX_OPEN_TRACES: usize = 100_000;
/// Open spans one local trace may have; past this its new spans are not recorded (and counted).
pub const DEFAULT_MAX_OPEN_SPANS_PER_TRACE: usize = 100_000;
/// Bytes of payloads the retry buffer holds: about 9 s of a service making 10 000 spans per
/// second at ~360 bytes per span, so a node agent's rolling restart loses nothing.
pub const DEFAULT_RETRY_BUFFER_BYTES: u64 = 32 * 1024 * 1024;
/// How often runtime and health metrics are sent.
pub const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_secs(10);
/// How often the tracer polls the agent for remote configuration.
pub const DEFAULT_REMOTE_CONFIG_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How often the tracer sends a telemetry heartbeat.
pub const DEFAULT_TELEMETRY_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);
/// How long dropping the guard waits for finished traces to be sent.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
