//! DIAGNOSTICS: what the tracer tells the operator about itself.
//!
//! In: counter increments from the layer (spans started and finished, in per-thread shards;
//! otherwise rare paths only: drops, partial flushes) and from the worker; delivery errors from the worker. Out: [`CounterSnapshot`]s and [`TracerStatus`]es
//! for the app (any thread, through [`TracerStatusHandle`]), the startup configuration line,
//! and warnings on stderr (or to the app's handler, [`set_diagnostics_handler`]). Warnings are printed by the worker or at start, never on the app's
//! span path, and never through `tracing` (so they cannot feed back into the tracer).

mod counters;
mod doctor;
pub(crate) mod flare;
pub(crate) mod log;
pub(crate) mod startup;
mod status;

pub use counters::CounterSnapshot;
pub(crate) use counters::Counters;
pub use doctor::{diagnose, Check, CheckOutcome, Diagnosis};
pub use flare::TracerFlare;
pub use log::{reset_diagnostics_handler, set_diagnostics_handler, DiagnosticLevel};
pub(crate) use status::AgentHealth;
pub use status::{
    AgentInfo, AgentState, AgentStatus, DeliveryError, RetryBufferStatus, SamplingStatus,
    TracerStatus, TracerStatusHandle,
};
