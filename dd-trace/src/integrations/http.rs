//! What HTTP spans carry, shared by the integrations: the URL, the client span, the response
//! status (the server span is the tower integration's own).
//!
//! In: a request's method and URL, and its response's status. Out: the span's tags. (The
//! header tags and the client's IP come from `DatadogSpanExt`'s `set_request_headers` and
//! `set_response_headers`, which the integrations call.) Called on the app thread (or task)
//! that serves or sends the request.

use tracing::field::Empty;
use tracing::Span;

use crate::layer::DatadogSpanExt;

/// `scheme://host[:port]path` (`scheme:path` without a host): the `http.url` tag, never with
/// the query, which may hold secrets.
pub(crate) fn url(scheme: &str, host: Option<&str>, port: Option<u16>, path: &str) -> String {
    match (host, port) {
        (Some(host), Some(port)) => format!("{scheme}://{host}:{port}{path}"),
        (Some(host), None) => format!("{scheme}://{host}{path}"),
        (None, _) => format!("{scheme}:{path}"),
    }
}

/// Which responses mark a client span as failed: 4xx and 5xx.
pub(crate) fn client_error_status(status: http::StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// A client span for a request made inside the current span.
pub(crate) fn client_span(method: &http::Method, url: &str) -> Span {
    tracing::info_span!(
        "http.request",
        span.kind = "client",
        span.type = "http",
        resource.name = %method,
        http.method = %method,
        http.url = %url,
        http.status_code = Empty,
    )
}

/// Records the response status; `error_status` decides which statuses are errors (5xx for
/// servers, [`client_error_status`] for clients). `message` is the handler's error message, if known.
pub(crate) fn record_status(
    span: &Span,
    status: http::StatusCode,
    error_status: impl Fn(http::StatusCode) -> bool,
    message: Option<&str>,
) {
    span.record("http.status_code", status.as_u16());
    if error_status(status) {
        let fallback;
        let message = match message {
            Some(m) => m,
            None => {
                fallback = format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or_default()
                );
                &fallback
            }
        };
        span.set_tag("error.message", message);
    }
}
