//! A reqwest-middleware middleware (feature `reqwest`): a client span per request, and the
//! trace's context in the request's headers.
//!
//! In: each request sent through a `reqwest_middleware::ClientWithMiddleware`, on the task that
//! awaits it. Out: a `tracing` span (`span.kind = client`, `http.method`, `http.url` without
//! its query string, `http.status_code`; 4xx, 5xx and failed requests are errors), current
//! while the request runs, its context written in the configured styles.
//!
//! ```
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(dd_trace::integrations::reqwest::DatadogMiddleware::new())
//!     .build();
//! # let _ = client;
//! ```

use tracing::Instrument;

use super::http::{client_error_status, client_span, record_status};
use crate::layer::DatadogSpanExt;

/// Traces each request: see the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct DatadogMiddleware {
    _private: (),
}

impl DatadogMiddleware {
    /// The middleware.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for DatadogMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = request.url();
        let url = super::http::url(url.scheme(), url.host_str(), url.port(), url.path());
        let span = client_span(request.method(), &url);
        span.inject_context(request.headers_mut());
        span.set_request_headers(request.headers());
        let result = next.run(request, extensions).instrument(span.clone()).await;
        match &result {
            Ok(response) => {
                span.set_response_headers(response.headers());
                record_status(&span, response.status(), client_error_status, None)
            }
            Err(e) => span.set_tag("error.message", e.to_string()),
        }
        result
    }
}
