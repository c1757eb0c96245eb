//! Everything after the layer, on the worker thread: the hand-off queue (the one piece the
//! app's threads touch, without blocking), record recycling, the worker, and the stages it runs
//! in order: process → encode → retry buffer (`outbox`) → transport.

pub(crate) mod encode;
pub(crate) mod outbox;
pub(crate) mod pool;
pub(crate) mod process;
pub(crate) mod queue;
#[cfg(feature = "client-stats")]
pub(crate) mod stats;
pub(crate) mod transport;
pub(crate) mod worker;
