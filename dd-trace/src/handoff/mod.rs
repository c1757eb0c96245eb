//! HAND-OFF: the one place both sides meet. The app's threads push finished chunks into the
//! bounded queue and take recycled records from the pool; the worker drains the queue and
//! gives records back. Everything here is lock-free on the app's side.

pub(crate) mod pool;
pub(crate) mod queue;
