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
//!   server spans of those conventions first ([`tower_http`]); one inside a Datadog server span
//!   (`DatadogServerLayer` outside `TraceLayer`, the recommended stack) describes the same
//!   request, so it becomes an internal span, `tower_http.request`, and the request has one
//!   server span.
//! - a field named `env`, `version` or `service` (`TraceLayer`'s `version` is the HTTP version;
//!   other crates have their own) never stands for the unified service tags: it is kept as the
//!   tag `field.env`, `field.version` or `field.service`.
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

use crate::model::span::{SpanData, SpanKind, TagRef, Value};

/// Field names that would stand for the unified service tags, and the tags they are kept as.
const UNIFIED_SERVICE_FIELDS: [(&str, &str); 3] = [
    ("env", "field.env"),
    ("version", "field.version"),
    ("service", "field.service"),
];

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
    /// Rewrites the spans of one chunk as the module docs say. tower-http's spans are adopted
    /// first, knowing whether a server span of the chunk is their parent.
    pub(crate) fn apply_chunk(&self, spans: &mut [Box<SpanData>]) {
        if spans.iter().any(|s| s.name == tower_http::SPAN_NAME) {
            for i in 0..spans.len() {
                if spans[i].name != tower_http::SPAN_NAME {
                    continue;
                }
                let parent_id = spans[i].parent_id;
                let inside_server = spans
                    .iter()
                    .any(|p| p.span_id == parent_id && p.fields.kind == Some(SpanKind::Server));
                tower_http::adopt(&mut spans[i], inside_server);
            }
        }
        for span in spans.iter_mut() {
            self.apply(span);
        }
    }

    /// Rewrites `span` as the module docs say. One pass over its tags finds out whether it uses
    /// OpenTelemetry's conventions, whether it has a URL and whether a field would stand for a
    /// unified service tag: most spans need nothing more.
    pub(crate) fn apply(&self, span: &mut SpanData) {
        let mut otel = span.fields.otel_kind;
        let mut url = false;
        let mut unified = false;
        for (key, value) in span.fields.tags.iter() {
            if key == "http.url" {
                url = matches!(value, TagRef::Str(u) if u.contains('?'));
            } else if matches!(key, "env" | "version" | "service") {
                unified = true;
            } else if !otel {
                otel = otel::is_marker(key);
            }
        }
        if unified {
            keep_fields_off_unified_tags(span);
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

/// Moves the fields named like the unified service tags to their `field.` tags.
fn keep_fields_off_unified_tags(span: &mut SpanData) {
    let tags = &mut span.fields.tags;
    for (from, to) in UNIFIED_SERVICE_FIELDS {
        let value = match tags.get(from) {
            None => continue,
            Some(TagRef::Str(s)) => {
                let s = s.to_string();
                Value::Str(tags.push_str(&s))
            }
            Some(TagRef::Num(n)) => Value::Num(n),
        };
        tags.remove(from);
        tags.set(to.into(), value, true);
    }
}
