//! Everything on the worker.
pub(crate) mod encode;
pub(crate) mod pool;
pub(crate) mod queue;
pub(crate) mod transport;
pub(crate) mod worker;
