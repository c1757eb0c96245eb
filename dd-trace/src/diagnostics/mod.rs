//! The tracer's own diagnostics.
pub(crate) mod log;
