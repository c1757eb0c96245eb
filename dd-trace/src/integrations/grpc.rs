//! gRPC (feature `tonic`): [`DatadogGrpcServerLayer`] for tonic servers and
//! [`DatadogGrpcClientLayer`] for tonic clients (any tower stack speaking gRPC over HTTP/2).
//!
//! In: each call the app's server or client stack handles, on the thread that polls it. Out: a
//! span per call, current while the inner service runs and while the response body streams,
//! ending with the body. It follows OpenTelemetry's conventions, which the worker maps as the
//! agent does: `rpc.system = grpc`, `rpc.service` and `rpc.method` from the path
//! (`/shop.Cart/AddItem`), `span.kind`, the resource `/shop.Cart/AddItem`, the span type `rpc`,
//! the operation name `grpc.server.request` / `grpc.client.request`. The call's status
//! (`grpc-status`, from the response headers or its trailers) is `rpc.grpc.status_code`, and an
//! error as OpenTelemetry's conventions say: any status but OK for a client; UNKNOWN,
//! DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS for a server (whose
//! client sent a bad request otherwise), or as `DD_TRACE_GRPC_CLIENT_ERROR_STATUSES` and
//! `DD_TRACE_GRPC_SERVER_ERROR_STATUSES` say; the status message (`grpc-message`) is
//! `grpc.status.message`. The server span continues the caller's trace from the call's
//! metadata; the client span writes the trace's context into it.
//!
//! ```
//! use dd_trace::integrations::grpc::{DatadogGrpcClientLayer, DatadogGrpcServerLayer};
//! use tower_layer::Layer;
//!
//! // Server: `tonic::transport::Server::builder().layer(DatadogGrpcServerLayer::new())`.
//! // Client: wrap the channel and build the generated client on what comes out, e.g.
//! // `HealthClient::new(DatadogGrpcClientLayer::new().layer(channel))`.
//! let channel = tonic_channel();
//! let traced = DatadogGrpcClientLayer::new().layer(channel);
//! # fn tonic_channel() -> () {}
//! # let _ = (traced, DatadogGrpcServerLayer::new());
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;
use tracing::Span;

use crate::layer::{extract, DatadogSpanExt};

/// `/package.Service/Method` as (service, method).
fn service_and_method(path: &str) -> (&str, &str) {
    let path = path.trim_start_matches('/');
    path.split_once('/').unwrap_or((path, ""))
}

/// The span of one call, on the server's side or the client's. Its operation name comes from
/// the conventions' mapping (`grpc.server.request`, `grpc.client.request`).
fn call_span(path: &str, server: bool) -> Span {
    let (service, method) = service_and_method(path);
    tracing::info_span!(
        "grpc.call",
        otel.kind = if server { "server" } else { "client" },
        span.type = "rpc",
        resource.name = path,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        grpc.status.message = Empty,
    )
}

/// Records the status in `headers` (the response's, for a trailers-only response, or its
/// trailers), if they carry one; whether they did.
fn record_status(span: &Span, headers: &http::HeaderMap) -> bool {
    let Some(code) = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
    else {
        return false;
    };
    span.record("rpc.grpc.status_code", code);
    if let Some(message) = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .filter(|m| !m.is_empty())
    {
        span.record("grpc.status.message", percent_decoded(message).as_str());
    }
    true
}

/// `grpc-message` is percent-encoded.
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Traces each call a gRPC server handles: see the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct DatadogGrpcServerLayer {
    _private: (),
}

impl DatadogGrpcServerLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for DatadogGrpcServerLayer {
    type Service = DatadogGrpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DatadogGrpcService {
            inner,
            server: true,
        }
    }
}

/// Traces each call a gRPC client makes: see the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct DatadogGrpcClientLayer {
    _private: (),
}

impl DatadogGrpcClientLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for DatadogGrpcClientLayer {
    type Service = DatadogGrpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DatadogGrpcService {
            inner,
            server: false,
        }
    }
}

/// The service the gRPC layers wrap around a server's or a client's service.
#[derive(Clone, Debug)]
pub struct DatadogGrpcService<S> {
    inner: S,
    server: bool,
}

impl<S, B, ResBody> Service<http::Request<B>> for DatadogGrpcService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = http::Response<GrpcBody<ResBody>>;
    type Error = S::Error;
    type Future = GrpcResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let span = call_span(request.uri().path(), self.server);
        if self.server {
            if let Some(context) = extract(request.headers()) {
                span.set_parent(context);
            }
        } else {
            span.inject_context(request.headers_mut());
        }
        let inner = span.in_scope(|| self.inner.call(request));
        GrpcResponseFuture { inner, span }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a traced call: the span is current while it is polled, and
    /// goes on with the response's body.
    pub struct GrpcResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F> std::fmt::Debug for GrpcResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcResponseFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for GrpcResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    E: std::fmt::Display,
{
    type Output = Result<http::Response<GrpcBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        match ready!(this.inner.poll(cx)) {
            Ok(response) => {
                // A trailers-only response (most failures) has its status in its headers.
                let done = record_status(this.span, response.headers());
                let span = this.span.clone();
                Poll::Ready(Ok(response.map(|body| GrpcBody {
                    inner: body,
                    span: Some(span),
                    status_seen: done,
                })))
            }
            Err(e) => {
                // No response at all (the connection failed): the call failed.
                this.span.set_tag("error.message", e.to_string());
                Poll::Ready(Err(e))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A traced call's response body: the call's span lasts until it ends, and takes the
    /// status from its trailers.
    pub struct GrpcBody<B> {
        #[pin]
        inner: B,
        span: Option<Span>,
        status_seen: bool,
    }
}

impl<B> std::fmt::Debug for GrpcBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcBody")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<B> Body for GrpcBody<B>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let _entered = this.span.as_ref().map(Span::enter);
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(span) = this.span.as_ref() {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        *this.status_seen |= record_status(span, trailers);
                    }
                }
                Some(Err(e)) => span.set_tag("error.message", e.to_string()),
                None => {}
            }
        }
        if frame.is_none() {
            // The body is over: so is the call (the span ends with this exit).
            drop(_entered);
            this.span.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            service_and_method("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health", "Check")
        );
        assert_eq!(service_and_method("/odd"), ("odd", ""));
    }

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(percent_decoded("no%20such%20service"), "no such service");
        assert_eq!(percent_decoded("100%"), "100%");
        assert_eq!(percent_decoded("caf%C3%A9"), "café");
    }
}
