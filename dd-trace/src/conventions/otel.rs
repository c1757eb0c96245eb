//! OpenTelemetry's semantic conventions → Datadog: what the agent does to a span that arrives
//! over OTLP (its "V2" operation and resource names, its span types, its HTTP attribute names),
//! done here to a span written with those conventions.
//!
//! In: a span of a chunk whose fields use the conventions (see [`is_marker`]), on the
//! worker thread. Out: the span with its operation name, resource and type set (unless it set
//! them the Datadog way), its HTTP attributes under Datadog's names, and its error from
//! `otel.status_code`, its HTTP status or its gRPC status. Both the current attribute names and the older ones
//! (before semantic conventions 1.20: `http.method`, `http.status_code`, `db.statement`, …) are
//! read; only the current ones, and `otel.*` fields, mark a span as using the conventions
//! (Datadog's own spans use the older names too).
//!
//! Where this departs from the agent: a span no rule names (an internal, producer or consumer
//! span without a protocol) keeps its own name (`otel.name`, else the `tracing` span's name)
//! instead of the agent's `Internal`/`Producer`/`Consumer`; errors also come from HTTP status
//! codes, as Datadog's tracers mark their own HTTP spans.

use crate::model::span::{truncate_utf8, Fields, SpanData, SpanKind, TagRef};

use super::Conventions;

/// Resources longer than this are cut, as the agent cuts them.
const MAX_RESOURCE_BYTES: usize = 5000;

/// Whether `key` is a field only code written with OpenTelemetry's conventions sets.
pub(super) fn is_marker(key: &str) -> bool {
    matches!(
        key,
        "otel.name"
            | "otel.status_code"
            | "otel.status_description"
            | "otel.status_message"
            | "http.request.method"
            | "http.response.status_code"
            | "url.full"
            | "url.path"
            | "url.scheme"
            | "server.address"
            | "client.address"
            | "network.protocol.name"
            | "user_agent.original"
            | "db.system.name"
            | "db.query.text"
            | "db.namespace"
            | "messaging.system"
            | "messaging.operation"
            | "messaging.operation.type"
            | "messaging.destination.name"
            | "rpc.system"
            | "rpc.service"
            | "rpc.method"
            | "faas.trigger"
            | "faas.invoked_provider"
            | "graphql.operation.type"
    )
}

/// A non-empty string attribute.
fn text<'a>(fields: &'a Fields, key: &str) -> Option<&'a str> {
    match fields.tags.get(key) {
        Some(TagRef::Str(s)) if !s.trim().is_empty() => Some(s),
        _ => None,
    }
}

/// The first of `keys` set as a non-empty string.
fn first<'a>(fields: &'a Fields, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| text(fields, k))
}

/// An integer attribute, recorded as a number or as its digits.
fn integer(fields: &Fields, key: &str) -> Option<i64> {
    match fields.tags.get(key)? {
        TagRef::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => Some(n as i64),
        TagRef::Str(s) => s.trim().parse().ok(),
        TagRef::Num(_) => None,
    }
}

/// A value as the agent normalises tag values before building names from them: lowercase,
/// letters, digits and `.`, `/`, `-`, `:`, `_` kept, any other run of characters one `_`, no
/// trailing `_`, at most 200 characters.
pub(super) fn normalize(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut replaced = false;
    for c in value.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || matches!(c, '.' | '/' | '-' | ':' | '_') {
            out.push(c);
            replaced = false;
        } else if !replaced && !out.is_empty() {
            out.push('_');
            replaced = true;
        }
        if out.chars().count() >= 200 {
            break;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The span type of a database client span, by its normalised `db.system`.
fn db_type(system: &str) -> &'static str {
    match system {
        "other_sql" | "mssql" | "mysql" | "oracle" | "db2" | "postgresql" | "redshift"
        | "cloudscape" | "hsqldb" | "maxdb" | "ingres" | "firstsql" | "edb" | "cache"
        | "firebird" | "derby" | "informix" | "mariadb" | "sqlite" | "sybase" | "teradata"
        | "vertica" | "h2" | "coldfusion" | "cockroachdb" | "progress" | "hanadb" | "adabas"
        | "filemaker" | "instantdb" | "interbase" | "netezza" | "pervasive" | "pointbase"
        | "clickhouse" => "sql",
        "cassandra" => "cassandra",
        "redis" => "redis",
        "memcached" => "memcached",
        "mongodb" => "mongodb",
        "elasticsearch" => "elasticsearch",
        "opensearch" => "opensearch",
        _ => "db",
    }
}

/// HTTP attributes the agent renames: (OpenTelemetry's name, Datadog's).
const HTTP_RENAMES: [(&str, &str); 10] = [
    ("client.address", "http.client_ip"),
    ("http.response.body.size", "http.response.content_length"),
    ("http.response.status_code", "http.status_code"),
    ("http.request.body.size", "http.request.content_length"),
    ("http.request.header.referrer", "http.referrer"),
    ("http.request.method", "http.method"),
    ("network.protocol.version", "http.version"),
    ("server.address", "http.server_name"),
    ("url.full", "http.url"),
    ("user_agent.original", "http.useragent"),
];

/// The `tracing` name of the spans dd-trace's OpenTelemetry tracer provider makes (their
/// OpenTelemetry name is their `otel.name`).
pub(crate) const OTEL_API_SPAN_NAME: &str = "otel.span";

/// What the conventions say of a span, read before anything is changed.
struct Facts {
    kind: SpanKind,
    /// `otel.name`, else the `tracing` span's name.
    name: String,
    operation: Option<String>,
    resource: Option<String>,
    span_type: &'static str,
    /// `otel.status_code`, lowercased.
    status: Option<String>,
    /// `rpc.grpc.status_code`, and its message (`grpc.status.message`).
    grpc_status: Option<i64>,
    grpc_message: Option<String>,
    status_message: Option<String>,
    http_status: Option<i64>,
}

fn facts(span: &SpanData) -> Facts {
    let f = &span.fields;
    let kind = f.kind.unwrap_or(SpanKind::Internal);
    let name = text(f, "otel.name").unwrap_or(span.name).to_string();
    let method = first(f, &["http.request.method", "http.method"]);
    let db_system = first(f, &["db.system", "db.system.name"]).map(normalize);
    let messaging_system = text(f, "messaging.system").map(normalize);
    let messaging_operation =
        first(f, &["messaging.operation", "messaging.operation.type"]).map(normalize);
    let rpc_system = text(f, "rpc.system").map(normalize);
    let rpc_service = text(f, "rpc.service");
    let protocol = text(f, "network.protocol.name").map(normalize);
    let is = |k: SpanKind| kind == k;
    let operation = if method.is_some() && is(SpanKind::Server) {
        Some("http.server.request".to_string())
    } else if method.is_some() && is(SpanKind::Client) {
        Some("http.client.request".to_string())
    } else if let (Some(db), true) = (&db_system, is(SpanKind::Client)) {
        Some(format!("{db}.query"))
    } else if let (Some(system), Some(operation), false) = (
        &messaging_system,
        &messaging_operation,
        is(SpanKind::Internal),
    ) {
        Some(format!("{system}.{operation}"))
    } else if let Some(rpc) = rpc_system.as_deref().filter(|_| !is(SpanKind::Internal)) {
        match (rpc, kind) {
            ("aws-api", SpanKind::Client) => Some(match rpc_service.map(normalize) {
                Some(service) if !service.is_empty() => format!("aws.{service}.request"),
                _ => "aws.client.request".to_string(),
            }),
            (_, SpanKind::Client) => Some(format!("{rpc}.client.request")),
            (_, SpanKind::Server) => Some(format!("{rpc}.server.request")),
            _ => None,
        }
    } else if let (Some(provider), Some(function), true) = (
        text(f, "faas.invoked_provider").map(normalize),
        text(f, "faas.invoked_name").map(normalize),
        is(SpanKind::Client),
    ) {
        Some(format!("{provider}.{function}.invoke"))
    } else if let (Some(trigger), true) =
        (text(f, "faas.trigger").map(normalize), is(SpanKind::Server))
    {
        Some(format!("{trigger}.invoke"))
    } else if text(f, "graphql.operation.type").is_some() {
        Some("graphql.server.request".to_string())
    } else {
        match kind {
            SpanKind::Server => Some(match &protocol {
                Some(p) => format!("{p}.server.request"),
                None => "server.request".to_string(),
            }),
            SpanKind::Client => Some(match &protocol {
                Some(p) => format!("{p}.client.request"),
                None => "client.request".to_string(),
            }),
            // OpenTelemetry API spans are named by their kind, as the agent names OTLP spans
            // (their OpenTelemetry name is the resource).
            other if span.name == OTEL_API_SPAN_NAME => Some(other.as_str().to_string()),
            _ => None,
        }
    };
    let join = |a: &str, b: Option<&str>| match b {
        Some(b) => format!("{a} {b}"),
        None => a.to_string(),
    };
    let resource = if let Some(method) = method {
        let method = if method == "_OTHER" { "HTTP" } else { method };
        Some(join(
            method,
            text(f, "http.route").filter(|_| is(SpanKind::Server)),
        ))
    } else if let Some(operation) = first(f, &["messaging.operation", "messaging.operation.type"]) {
        Some(join(
            operation,
            first(f, &["messaging.destination", "messaging.destination.name"]),
        ))
    } else if let Some(method) = text(f, "rpc.method") {
        Some(join(method, rpc_service))
    } else if let Some(operation) = text(f, "graphql.operation.type") {
        Some(join(operation, text(f, "graphql.operation.name")))
    } else if db_system.is_some() {
        first(f, &["db.statement", "db.query.text"]).map(str::to_string)
    } else {
        None
    };
    // An OpenTelemetry API span's resource is its OpenTelemetry name, as Datadog's tracers
    // have it.
    let resource = resource.filter(|_| span.name != OTEL_API_SPAN_NAME);
    let span_type = match kind {
        SpanKind::Server => "web",
        SpanKind::Client => db_system.as_deref().map_or("http", db_type),
        _ => "custom",
    };
    Facts {
        kind,
        name,
        operation,
        resource,
        span_type,
        status: text(f, "otel.status_code").map(str::to_ascii_lowercase),
        grpc_status: integer(f, "rpc.grpc.status_code"),
        grpc_message: text(f, "grpc.status.message").map(str::to_string),
        status_message: first(f, &["otel.status_description", "otel.status_message"])
            .map(str::to_string),
        http_status: integer(f, "http.response.status_code")
            .or_else(|| integer(f, "http.status_code")),
    }
}

/// Maps `span` (which uses the conventions) as the module docs say.
pub(super) fn map(span: &mut SpanData, conventions: &Conventions) {
    let facts = facts(span);
    let f = &mut span.fields;
    if f.operation_name.is_none() {
        if let Some(operation) = facts.operation.as_deref().or(Some(facts.name.as_str())) {
            f.operation_name = Some(f.tags.push_str(operation));
        }
    }
    if f.resource.is_none() {
        let resource = facts.resource.as_deref().unwrap_or(&facts.name);
        f.resource = Some(f.tags.push_str(truncate_utf8(resource, MAX_RESOURCE_BYTES)));
    }
    if f.span_type.is_none() {
        f.span_type = Some(f.tags.push_str(facts.span_type));
    }
    f.tags.remove("otel.name");
    rename_http_attributes(f);
    if facts.kind == SpanKind::Client {
        if let (None, Some(host)) = (text(f, "out.host"), text(f, "http.server_name")) {
            let host = host.to_string();
            f.tags.set_str("out.host", &host);
        }
    }
    mark_error(f, &facts, conventions);
}

/// Puts the HTTP attributes under the names Datadog reads (a value already set under the
/// Datadog name wins); request headers go under `http.request.headers.<name>`.
fn rename_http_attributes(f: &mut Fields) {
    for (from, to) in HTTP_RENAMES {
        let Some(value) = f.tags.get(from) else {
            continue;
        };
        if f.tags.get(to).is_none() {
            match value {
                TagRef::Str(s) => {
                    let s = s.to_string();
                    f.tags.set_str(to, &s);
                }
                // Datadog reads the status code as a string.
                TagRef::Num(n) if to == "http.status_code" => {
                    let code = format!("{}", n as i64);
                    f.tags.set_str(to, &code);
                }
                TagRef::Num(n) => f.tags.set_num(to, n),
            }
        }
        f.tags.remove(from);
    }
    let headers: Vec<(String, String)> = f
        .tags
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("http.request.header.")?;
            let TagRef::Str(v) = v else { return None };
            Some((name.to_string(), v.to_string()))
        })
        .collect();
    for (name, value) in headers {
        f.tags.remove(&format!("http.request.header.{name}"));
        let key = format!("http.request.headers.{name}");
        if f.tags.get(&key).is_none() {
            f.tags.set_str(key, &value);
        }
    }
}

/// gRPC's status names, by code.
const GRPC_STATUS_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// `otel.status_code = ERROR` marks the span an error (with `otel.status_description` as its
/// message); without a status, so does an HTTP or gRPC status in the server's or the client's
/// error statuses. `OK` and an `error` field
/// the span set itself are left alone.
fn mark_error(f: &mut Fields, facts: &Facts, conventions: &Conventions) {
    let by_status = match facts.status.as_deref() {
        Some("error") => true,
        Some("ok") => return,
        _ => false,
    };
    let by_http = facts.http_status.and_then(|code| {
        let code = u16::try_from(code).ok()?;
        let statuses = match facts.kind {
            SpanKind::Server => &conventions.server_errors,
            SpanKind::Client => &conventions.client_errors,
            _ => return None,
        };
        statuses.contains(code).then_some(code)
    });
    let by_grpc = facts.grpc_status.filter(|&code| {
        let statuses = match facts.kind {
            SpanKind::Server => &conventions.grpc_server_errors,
            SpanKind::Client => &conventions.grpc_client_errors,
            _ => return false,
        };
        u16::try_from(code).is_ok_and(|c| statuses.contains(c))
    });
    if !by_status && ((by_http.is_none() && by_grpc.is_none()) || f.error) {
        return;
    }
    f.error = true;
    if text(f, "error.message").is_some() {
        return;
    }
    let http_code = by_http.or(facts.http_status.and_then(|c| u16::try_from(c).ok()));
    let message = if let Some(message) = &facts.status_message {
        Some(message.clone())
    } else if let Some(code) = by_grpc.or(facts.grpc_status.filter(|_| http_code.is_none())) {
        let name = usize::try_from(code)
            .ok()
            .and_then(|c| GRPC_STATUS_NAMES.get(c))
            .unwrap_or(&"UNKNOWN");
        Some(match &facts.grpc_message {
            Some(message) => format!("gRPC status {code} {name}: {message}"),
            None => format!("gRPC status {code} {name}"),
        })
    } else {
        http_code.map(|code| {
            match http::StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
            {
                Some(reason) => format!("{code} {reason}"),
                None => code.to_string(),
            }
        })
    };
    if let Some(message) = message {
        f.tags.set_str("error.message", &message);
    }
}
