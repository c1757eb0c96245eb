//! The span model, independent of the wire format: ids, spans, local traces (with their
//! changeable, lockable context) and the clock.
//!
//! Written by the layer on the app's threads, read by the worker once a trace's chunk is handed
//! over. Nothing in the model does I/O or takes a lock shared by more than one trace.

pub(crate) mod clock;
pub(crate) mod decision;
pub(crate) mod error_chain;
pub(crate) mod id;
pub(crate) mod span;
pub(crate) mod trace;
