//! tower-http's `TraceLayer` spans as HTTP server spans.
//!
//! In: a span named `request` on the worker thread. Out: when it is the span `TraceLayer`'s
//! default `MakeSpan` writes (string fields `method` and `uri`, and `version`), the same span as
//! an HTTP server span of OpenTelemetry's conventions, which the mapping then names
//! (`http.server.request`), types (`web`) and marks: `method` → `http.method` (the resource),
//! `uri` → `http.url` (its query string obfuscated), `version` → `http.version` (so it never
//! stands for the service's `version`), the kind `server`. The response status, which
//! `TraceLayer` gives only in its response event, is recorded by the layer as `http.status_code`.
//!
//! Inside a server span (`DatadogServerLayer` outside `TraceLayer`), the span describes the same
//! request as its parent: it keeps the HTTP tags but becomes an internal span named
//! `tower_http.request`, so the request has one server span.

use crate::model::span::{SpanData, SpanKind, TagRef};

/// The name of `TraceLayer`'s span.
pub(super) const SPAN_NAME: &str = "request";

/// The operation name of a `TraceLayer` span inside a server span.
const NESTED_OPERATION: &str = "tower_http.request";

/// Makes `span` an HTTP server span if it is `TraceLayer`'s; an internal one when its parent is
/// a server span (`inside_server`).
pub(super) fn adopt(span: &mut SpanData, inside_server: bool) {
    let tags = &span.fields.tags;
    let (Some(TagRef::Str(method)), Some(TagRef::Str(uri))) = (tags.get("method"), tags.get("uri"))
    else {
        return;
    };
    let (method, uri) = (method.to_string(), uri.to_string());
    let version = match tags.get("version") {
        Some(TagRef::Str(v)) => Some(v.to_string()),
        _ => None,
    };
    let f = &mut span.fields;
    for key in ["method", "uri", "version"] {
        f.tags.remove(key);
    }
    if f.tags.get("http.method").is_none() {
        f.tags.set_str("http.method", &method);
    }
    if f.tags.get("http.url").is_none() {
        f.tags.set_str("http.url", &uri);
    }
    if let (Some(v), None) = (version, f.tags.get("http.version")) {
        f.tags.set_str("http.version", &v);
    }
    if inside_server {
        if f.kind.is_none() {
            f.kind = Some(SpanKind::Internal);
            f.tags.set_str("span.kind", "internal");
        }
        if f.operation_name.is_none() {
            f.operation_name = Some(f.tags.push_str(NESTED_OPERATION));
        }
        return;
    }
    if f.kind.is_none() {
        f.kind = Some(SpanKind::Server);
        f.tags.set_str("span.kind", "server");
    }
    // The conventions' mapping names, types and marks it from here.
    f.otel_kind = true;
}
