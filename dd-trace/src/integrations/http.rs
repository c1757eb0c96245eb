//! What server and client spans of HTTP requests carry, shared by the integrations.
//!
//! In: a request's method, route, URL and response status. Out: the span's tags and its
//! resource. (The header tags and the client's IP come from `DatadogSpanExt`'s
//! `set_request_headers` and `set_response_headers`, which the integrations call.) Called on the app thread (or task) that serves or sends the request.

use tracing::field::Empty;
use tracing::Span;

use crate::layer::DatadogSpanExt;

/// `GET`, or `GET /users/{id}` when the route is known: never the raw path, whose ids would make
/// one resource per request.
pub(crate) fn resource(method: &http::Method, route: Option<&str>) -> String {
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    }
}

/// The URL without its query string or user info, which may hold secrets: the URI's own
/// scheme and host when it has them (else `http` and `host`, e.g. the `Host` header).
pub(crate) fn url_without_query(host: Option<&str>, uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    match uri.authority() {
        Some(a) => url(scheme, Some(a.host()), a.port_u16(), uri.path()),
        None => url(scheme, Some(host.unwrap_or("localhost")), None, uri.path()),
    }
}

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
