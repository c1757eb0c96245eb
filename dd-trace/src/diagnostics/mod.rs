//! What the tracer tells the operator about itself: its status ([`TracerStatus`], from any
//! thread through a [`TracerStatusHandle`]), the doctor's [`Diagnosis`] of why traces do or do
//! not arrive, tracer flares ([`TracerFlare`]), and the startup configuration line; with the
//! types they are made of, and where the tracer's own lines go ([`set_handler`]).
//!
//! In: the counters, the tracer's lines and the agent's health that every stage records (the
//! `health` floor), and the configuration. Out: reports, built on the thread that asks for
//! them; none is ever made on the app's span path.

pub(crate) mod doctor;
pub(crate) mod flare;
pub(crate) mod startup;
mod status;

pub use crate::health::log::{reset_handler, set_handler};
pub use crate::health::{
    AgentInfo, AgentState, CounterSnapshot, DeliveryError, DiagnosticLevel, DogStatsdStatus,
    RemoteConfigEntry, RemoteConfigStatus, RetryBufferStatus, TelemetryStatus,
};
pub use doctor::{Check, CheckOutcome, Diagnosis};
pub use flare::TracerFlare;
pub use status::{AgentStatus, DeliverySummary, SamplingStatus, TracerStatus, TracerStatusHandle};
