//! Tower layers (feature `tower`): [`DatadogServerLayer`] for HTTP servers built on tower
//! (axum, hyper, tonic) and [`DatadogClientLayer`] for tower-based HTTP clients.
//!
//! In: each request the app's server or client stack handles, on the thread that polls it.
//! Out: a `tracing` span per request, current while the inner service runs. The server span
//! continues the caller's trace (from the request's headers, in the configured styles) and is
//! tagged `span.kind = server`, `http.method`, `http.url` (no query string), `http.route` and a
//! resource of `METHOD route` when the route is known (with feature `axum`, axum's matched
//! path), never the raw path; `http.status_code`; an error for 5xx responses, with the message
//! of an [`ErrorMessage`] the handler put in the response's extensions, or the inner service's
//! error. The client span (`span.kind = client`) writes the trace's context into the request's
//! headers; 4xx and 5xx responses mark it as an error.
//!
//! ```
//! use dd_trace::integrations::tower::DatadogServerLayer;
//! use tower_layer::Layer;
//!
//! // With axum: `Router::new().route(...).layer(DatadogServerLayer::new())`, so that the
//! // matched route is known. With any tower service:
//! let service = tower_service_fn();
//! let traced = DatadogServerLayer::new().layer(service);
//! # fn tower_service_fn() -> () {}
//! # let _ = traced;
//! ```
//!
//! # With tower-http's `TraceLayer`
//!
//! Put `DatadogServerLayer` outermost, `TraceLayer` inside it (in axum, the layer added last is
//! the outermost): the server span continues the caller's trace, and `TraceLayer`'s span, which
//! describes the same request, becomes its internal child `tower_http.request` (its log lines
//! keep their context) — one server span per request. `TraceLayer`'s `version` field is the
//! HTTP version (`http.version`), never `DD_VERSION`. Alone, without `DatadogServerLayer`,
//! `TraceLayer`'s span is the server span itself (`http.server.request`), but it cannot continue
//! a caller's trace. `TraceLayer`'s spans are `DEBUG` by default: keep global filters off the
//! Datadog layer (see the crate docs, "Filters").
//!
//! ```text
//! let app = Router::new()
//!     .route("/items/{id}", get(item))
//!     .layer(tower_http::trace::TraceLayer::new_for_http()) // inner
//!     .layer(DatadogServerLayer::new());                    // outermost
//! ```
//!
//! `examples/distributed.rs` (run by the README's demo) and `tests/http.rs`
//! (`the_recommended_stack_of_server_layer_and_trace_layer_gives_one_server_span`) compile and
//! run this stack with tower-http itself.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;
use tracing::Span;

use super::http::{client_error_status, client_span, record_status};
use crate::layer::{extract, DatadogSpanExt};

/// `GET`, or `GET /users/{id}` when the route is known: never the raw path, whose ids would make
/// one resource per request.
fn resource(method: &http::Method, route: Option<&str>) -> String {
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    }
}

/// The URL without its query string or user info, which may hold secrets: the URI's own
/// scheme and host when it has them (else `http` and `host`, e.g. the `Host` header).
fn url_without_query(host: Option<&str>, uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    match uri.authority() {
        Some(a) => super::http::url(scheme, Some(a.host()), a.port_u16(), uri.path()),
        None => super::http::url(scheme, Some(host.unwrap_or("localhost")), None, uri.path()),
    }
}

/// A server span for a request, not yet parented.
fn server_span(method: &http::Method, url: &str, route: Option<&str>) -> Span {
    tracing::info_span!(
        "http.request",
        span.kind = "server",
        span.type = "web",
        resource.name = %resource(method, route),
        http.method = %method,
        http.url = %url,
        http.route = route,
        http.status_code = Empty,
    )
}

/// Put in a response's extensions, the handler's error message for a 5xx response's span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorMessage(pub String);

/// Traces each request a server handles: see the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct DatadogServerLayer {
    _private: (),
}

impl DatadogServerLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for DatadogServerLayer {
    type Service = DatadogServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DatadogServerService { inner }
    }
}

/// The service [`DatadogServerLayer`] wraps around a server's service.
#[derive(Clone, Debug)]
pub struct DatadogServerService<S> {
    inner: S,
}

/// The route the request matched, when the router says.
fn route<B>(request: &http::Request<B>) -> Option<String> {
    #[cfg(feature = "axum")]
    if let Some(path) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Some(path.as_str().to_string());
    }
    let _ = request;
    None
}

impl<S, B, ResBody> Service<http::Request<B>> for DatadogServerService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Error: Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        let url = url_without_query(host, request.uri());
        let route = route(&request);
        let span = server_span(request.method(), &url, route.as_deref());
        if let Some(context) = extract(request.headers()) {
            span.set_parent(context);
        }
        span.set_request_headers(request.headers());
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture {
            inner,
            span,
            error_status: |s| s.is_server_error(),
        }
    }
}

/// Traces each request a client sends: see the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct DatadogClientLayer {
    _private: (),
}

impl DatadogClientLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for DatadogClientLayer {
    type Service = DatadogClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DatadogClientService { inner }
    }
}

/// The service [`DatadogClientLayer`] wraps around a client's service.
#[derive(Clone, Debug)]
pub struct DatadogClientService<S> {
    inner: S,
}

impl<S, B, ResBody> Service<http::Request<B>> for DatadogClientService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Error: Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let url = url_without_query(None, request.uri());
        let span = client_span(request.method(), &url);
        span.inject_context(request.headers_mut());
        span.set_request_headers(request.headers());
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture {
            inner,
            span,
            error_status: client_error_status,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of the traced services: the span is current while it is polled,
    /// and gets the response's status.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        error_status: fn(http::StatusCode) -> bool,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    E: Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        match &result {
            Ok(response) => {
                this.span.set_response_headers(response.headers());
                let message = response
                    .extensions()
                    .get::<ErrorMessage>()
                    .map(|m| m.0.as_str());
                record_status(this.span, response.status(), *this.error_status, message);
            }
            Err(e) => this.span.set_tag("error.message", e.to_string()),
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_query_and_user_info() {
        let url = |host, uri: &str| url_without_query(host, &uri.parse().unwrap());
        assert_eq!(
            url(None, "https://user:secret@shop.local:8443/pay?card=4111"),
            "https://shop.local:8443/pay"
        );
        assert_eq!(url(None, "http://shop.local/a?b=c"), "http://shop.local/a");
        assert_eq!(
            url(Some("shop.local"), "/orders?id=1"),
            "http://shop.local/orders"
        );
        assert_eq!(url(None, "/orders"), "http://localhost/orders");
    }
}
