//! The span model: ids, spans, local traces and the clock.
pub(crate) mod id;
pub(crate) mod span;
