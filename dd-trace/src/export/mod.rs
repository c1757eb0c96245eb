//! Everything after the hand-off, on the worker thread only: the worker, and the stages it runs
//! in order: process → encode (the codec in `crate::encode`) → retry buffer (`outbox`) →
//! transport; beside them, the worker's other conversations with the agent (`platform`:
//! remote configuration from `crate::remote`, telemetry from `crate::telemetry`).

pub(crate) mod agent;
pub(crate) mod delivery;
pub(crate) mod outbox;
pub(crate) mod platform;
pub(crate) mod process;
pub(crate) mod report;
pub(crate) mod send_error;
pub(crate) mod sink;
#[cfg(feature = "client-stats")]
pub(crate) mod stats;
pub(crate) mod transport;
pub(crate) mod worker;
