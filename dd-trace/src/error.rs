//! The errors of the public API. Each operation returns only the errors it can produce; nothing
//! that happens on the app's span path is an error (runtime failures are counted, see
//! [`TracerStatus`](crate::TracerStatus)).
//!
//! In: failures of configuration, start-up, flush and shutdown. Out: typed errors with what
//! to do. Returned on the thread that called the operation.

use std::time::Duration;

/// Why an agent URL cannot be used, from [`AgentEndpoint::parse`](crate::config::AgentEndpoint::parse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentUrlError {
    /// The scheme is neither `unix://` nor `http://`.
    #[error("the scheme must be unix:// or http://, not {scheme:?}")]
    UnsupportedScheme {
        /// The scheme given (empty when the URL has none).
        scheme: String,
    },
    /// `https://` was given: the agent's trace intake is plain HTTP.
    #[error(
        "https is not supported (the agent's trace intake is plain HTTP); use http:// or unix://"
    )]
    HttpsUnsupported,
    /// `unix://` without a path.
    #[error("a unix:// URL needs a socket path, e.g. unix:///var/run/datadog/apm.socket")]
    MissingSocketPath,
    /// `http://` without a host.
    #[error("the URL has no host")]
    MissingHost,
    /// An IPv6 host opened with `[` but never closed.
    #[error("unclosed '[' in the host")]
    UnclosedBracket,
    /// The port is not a number from 1 to 65535.
    #[error("{port:?} is not a valid port")]
    InvalidPort {
        /// The port text given.
        port: String,
    },
}

/// Errors from [`DatadogLayerBuilder::build`](crate::DatadogLayerBuilder::build).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The URL given to `with_agent_url` is not usable.
    #[error("invalid agent URL {url:?}: {reason}")]
    InvalidAgentUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        #[source]
        reason: AgentUrlError,
    },
    /// The rate given to `with_sample_rate` is not in `[0, 1]`.
    #[error("invalid sample rate {rate}: it must be between 0 and 1")]
    InvalidSampleRate {
        /// The rate given.
        rate: f64,
    },
    /// The limit given to `with_rate_limit` is negative or not a number.
    #[error("invalid rate limit {limit}: it must be a number of traces per second, at least 0")]
    InvalidRateLimit {
        /// The limit given.
        limit: f64,
    },
    /// The count given to `with_partial_flush_min_spans` is not from 1 to 99 999.
    #[error("invalid partial flush threshold {min_spans}: it must be from 1 to 99999 spans")]
    InvalidPartialFlushMinSpans {
        /// The count given.
        min_spans: usize,
    },
    /// The worker thread could not be started.
    #[error("could not start the dd-trace worker thread: {0}")]
    Worker(#[from] std::io::Error),
}

/// Errors from [`try_init`](crate::try_init).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The tracer could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A global default subscriber was already set.
    #[error("a global tracing subscriber is already set: compose DatadogLayer into it instead")]
    AlreadySet,
}

/// Errors from [`DatadogGuard::flush`](crate::DatadogGuard::flush) and
/// [`DatadogGuard::shutdown`](crate::DatadogGuard::shutdown).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The deadline passed before everything was delivered (or given up on).
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The agent cannot be reached: what was finished waits in the retry buffer and is sent
    /// when the agent is back (or dropped and counted at shutdown).
    #[error("the Datadog agent is unreachable ({0}); traces wait in the retry buffer")]
    AgentUnreachable(String),
    /// The worker has stopped; nothing more can be sent.
    #[error("the dd-trace worker has stopped")]
    Stopped,
}

/// Errors from [`DatadogGuard::send_flare`](crate::DatadogGuard::send_flare).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlareError {
    /// The agent did not take the flare.
    #[error("the agent did not take the flare: {0}")]
    Agent(String),
    /// No answer before the deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Tracing is disabled, or the worker has stopped.
    #[error("the dd-trace worker is not running")]
    Stopped,
}
