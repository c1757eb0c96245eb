//! What server and client spans of HTTP requests carry, shared by the integrations.

use tracing::field::Empty;
use tracing::Span;

use crate::DatadogSpanExt;

/// `GET`, or `GET /users/{id}` when the route is known: never the raw path, whose ids would make
/// one resource per request.
pub(crate) fn resource(method: &http::Method, route: Option<&str>) -> String {
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    }
}

/// The URL without its query string, which may hold secrets.
pub(crate) fn url_without_query(scheme: &str, host: Option<&str>, uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or(scheme);
    let host = uri
        .authority()
        .map(|a| a.as_str())
        .or(host)
        .unwrap_or("localhost");
    format!("{scheme}://{host}{}", uri.path())
}

/// A server span for a request, not yet parented.
pub(crate) fn server_span(method: &http::Method, url: &str, route: Option<&str>) -> Span {
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
/// servers, 4xx and 5xx for clients). `message` is the handler's error message, if known.
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
