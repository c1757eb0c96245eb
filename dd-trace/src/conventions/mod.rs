//! CONVENTIONS: spans written with OpenTelemetry's semantic conventions (by `tower-http`,
//! `tracing-opentelemetry`-style code, database and messaging crates) named, typed and marked
//! as the Datadog agent names, types and marks the same spans when they arrive over OTLP; and
//! every URL's query string obfuscated.
//!
//! In: each span of a chunk, on the worker thread, in the processing stage (the app's threads
//! pay nothing for it). Out: the same span, changed in place:
//! - a span that uses OpenTelemetry's conventions (`otel.kind`, `otel.name`, `otel.status_code`,
//!   or a semantic-convention attribute of the current names: `http.request.method`,
//!   `url.full`, `db.query.text`, `messaging.system`, `rpc.system`, …) gets the agent's
//!   operation name, resource and span type ([`otel`]), the Datadog names of its HTTP
//!   attributes, and its error from `otel.status_code` and from its HTTP status
//!   (`DD_TRACE_HTTP_SERVER_ERROR_STATUSES`, `DD_TRACE_HTTP_CLIENT_ERROR_STATUSES`). Fields the
//!   span sets the Datadog way (`operation.name`, `resource.name`, `span.type`, `error`) always
//!   win. Spans written the Datadog way are left as they are.
//! - tower-http's `TraceLayer` spans (`request`, with `method`, `uri`, `version`) become HTTP
//!   server spans of those conventions first ([`tower_http`]).
//! - for the HTTP integrations, on the app's threads: which headers become tags
//!   (`DD_TRACE_HEADER_TAGS`) and the client's IP (`DD_TRACE_CLIENT_IP_ENABLED`), read from a
//!   request's or response's headers ([`HttpTagging`]).
//! - every span's `http.url` has the secrets in its query string replaced by `<redacted>`
//!   (`DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`, [`QueryObfuscator`]).

mod http_headers;
mod otel;
mod query;
mod status;
#[cfg(test)]
mod tests;
mod tower_http;

pub(crate) use http_headers::{parse_header_tags, HeaderTag, HttpTagging};
pub(crate) use query::{QueryObfuscator, DEFAULT_QUERY_OBFUSCATION_PATTERN};
pub(crate) use status::StatusSet;

use crate::model::span::{SpanData, TagRef};

/// How the processing stage rewrites spans; built once from the settings, owned by the worker.
#[derive(Debug, Clone)]
pub(crate) struct Conventions {
    /// `None`: query strings are kept as they are (the pattern was set empty).
    pub(crate) query: Option<QueryObfuscator>,
    /// HTTP statuses that make a server span an error.
    pub(crate) server_errors: StatusSet,
    /// HTTP statuses that make a client span an error.
    pub(crate) client_errors: StatusSet,
    /// gRPC statuses that make a server span an error.
    pub(crate) grpc_server_errors: StatusSet,
    /// gRPC statuses that make a client span an error.
    pub(crate) grpc_client_errors: StatusSet,
}

impl Default for Conventions {
    fn default() -> Self {
        Conventions {
            query: QueryObfuscator::default_pattern(),
            server_errors: StatusSet::DEFAULT_SERVER_ERRORS,
            client_errors: StatusSet::DEFAULT_CLIENT_ERRORS,
            grpc_server_errors: StatusSet::DEFAULT_GRPC_SERVER_ERRORS,
            grpc_client_errors: StatusSet::DEFAULT_GRPC_CLIENT_ERRORS,
        }
    }
}

impl Conventions {
    /// Rewrites `span` as the module docs say. One pass over its tags finds out whether it uses
    /// OpenTelemetry's conventions and whether it has a URL: most spans need nothing more.
    pub(crate) fn apply(&self, span: &mut SpanData) {
        if span.name == "request" {
            tower_http::adopt(span);
        }
        let mut otel = span.fields.otel_kind;
        let mut url = false;
        for (key, value) in span.fields.tags.iter() {
            if key == "http.url" {
                url = matches!(value, TagRef::Str(u) if u.contains('?'));
            } else if !otel {
                otel = otel::is_marker(key);
            }
        }
        if otel {
            otel::map(span, self);
            url =
                matches!(span.fields.tags.get("http.url"), Some(TagRef::Str(u)) if u.contains('?'));
        }
        let Some(query) = self.query.as_ref().filter(|_| url) else {
            return;
        };
        let obfuscated = match span.fields.tags.get("http.url") {
            Some(TagRef::Str(url)) => query.obfuscate_url(url),
            _ => None,
        };
        if let Some(url) = obfuscated {
            span.fields.tags.set_str("http.url", &url);
        }
    }
}
