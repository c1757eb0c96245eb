//! HEALTH: the floor every part of the tracer reports into, on any thread: the counters (spans
//! started and finished in per-thread shards, drops and deliveries), the tracer's own lines
//! (warnings, notices, debug; to stderr or the app's handler, never through `tracing`), and
//! the agent's health as the worker last found it. The reports in `diagnostics` are built from
//! it. App threads touch it only to count (one uncontended add per span start and close;
//! otherwise rare paths: drops, partial flushes); lines are written by the worker and at start.

mod agent;
mod counters;
pub(crate) mod filters;
pub(crate) mod log;
mod platform;

pub use agent::{AgentInfo, AgentState, DeliveryError, RetryBufferStatus};
pub use counters::CounterSnapshot;
pub use log::DiagnosticLevel;
pub use platform::{DogStatsdStatus, RemoteConfigEntry, RemoteConfigStatus, TelemetryStatus};

pub(crate) use agent::{AgentHealth, AgentRatesReply};
pub(crate) use counters::Counters;
