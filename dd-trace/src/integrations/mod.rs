//! Ready-made instrumentation for HTTP and gRPC servers and clients, and OpenTelemetry's API
//! (a propagator, and a tracer provider whose spans are dd-trace's), each behind a cargo
//! feature (`tower`, `axum`, `reqwest`, `tonic`, `opentelemetry`).
//!
//! In: requests and responses passing through the app's own server or client stack, on its
//! threads. Out: one `tracing` span per request (the server span continues the caller's trace,
//! the client span hands it on), with the HTTP tags Datadog's other tracers write. The HTTP
//! integrations use only the public API ([`crate::propagation`] and [`crate::DatadogSpanExt`]);
//! the OpenTelemetry propagator, which carries contexts that are not `tracing` spans, calls
//! the propagation styles directly.

#[cfg(feature = "tonic")]
pub mod grpc;
#[cfg(any(feature = "tower", feature = "reqwest"))]
mod http;
#[cfg(feature = "opentelemetry")]
pub mod opentelemetry;
#[cfg(feature = "opentelemetry")]
pub mod otel_api;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(all(test, feature = "tower", feature = "opentelemetry"))]
mod tests;
#[cfg(feature = "tower")]
pub mod tower;
