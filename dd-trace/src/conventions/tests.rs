//! Golden mappings per convention (HTTP server and client, database, messaging, RPC, GraphQL,
//! generic), with the current and the older attribute names, recorded through the layer and
//! read back from the payload the worker encoded; the query-string pattern against the
//! reference tracers' vectors and a hostile URL; the status sets.

use std::collections::HashMap;

use tracing::info_span;

use super::*;
use crate::testing::{CapturedSpan, TestTracer};

/// The spans `make` records, by name as sent.
fn sent(make: impl FnOnce()) -> HashMap<String, CapturedSpan> {
    sent_with(|b| b, make)
}

fn sent_with(
    configure: impl FnOnce(crate::DatadogLayerBuilder) -> crate::DatadogLayerBuilder,
    make: impl FnOnce(),
) -> HashMap<String, CapturedSpan> {
    let tracer = TestTracer::with_builder(|b| configure(b.with_service("shop")));
    tracer.in_scope(make);
    tracer
        .spans()
        .into_iter()
        .map(|s| (s.resource.clone(), s))
        .collect()
}

#[test]
fn http_server_and_client_spans_are_named_typed_and_marked_as_the_agent_does() {
    let spans = sent(|| {
        info_span!(
            "handler",
            otel.kind = "server",
            http.request.method = "GET",
            http.route = "/users/{id}",
            url.path = "/users/7",
            http.response.status_code = 503,
            user_agent.original = "curl/8",
            client.address = "10.0.0.9",
        )
        .in_scope(|| {});
        info_span!(
            "charge",
            otel.kind = "client",
            http.request.method = "POST",
            url.full = "https://api.example.com/v1/charge?token=SECRET123&amount=5",
            server.address = "api.example.com",
            http.response.status_code = 402,
            otel.status_code = "ERROR",
        )
        .in_scope(|| {});
    });
    let server = &spans["GET /users/{id}"];
    assert_eq!(server.name, "http.server.request");
    assert_eq!(server.span_type.as_deref(), Some("web"));
    assert!(server.is_error(), "503 is a server error");
    assert_eq!(server.meta["error.message"], "503 Service Unavailable");
    assert_eq!(server.meta["http.method"], "GET");
    assert_eq!(server.meta["http.status_code"], "503");
    assert_eq!(server.meta["http.route"], "/users/{id}");
    assert_eq!(server.meta["http.useragent"], "curl/8");
    assert_eq!(server.meta["http.client_ip"], "10.0.0.9");
    assert_eq!(server.meta["span.kind"], "server");
    assert!(!server.meta.contains_key("http.request.method"));
    assert!(!server.metrics.contains_key("http.response.status_code"));

    let client = &spans["POST"];
    assert_eq!(client.name, "http.client.request");
    assert_eq!(client.span_type.as_deref(), Some("http"));
    assert!(client.is_error());
    assert_eq!(client.meta["http.method"], "POST");
    assert_eq!(client.meta["http.status_code"], "402");
    assert_eq!(
        client.meta["http.url"], "https://api.example.com/v1/charge?<redacted>&amount=5",
        "the token never reaches the agent"
    );
    assert!(!client.meta.contains_key("url.full"));
    assert_eq!(client.meta["out.host"], "api.example.com");
}

#[test]
fn the_older_names_are_read_too_and_datadog_fields_win() {
    let spans = sent(|| {
        info_span!(
            "legacy",
            otel.kind = "server",
            http.method = "PUT",
            http.route = "/items/{id}",
            http.status_code = 404,
        )
        .in_scope(|| {});
        info_span!(
            "explicit",
            otel.kind = "server",
            http.request.method = "GET",
            resource.name = "custom resource",
            operation.name = "custom.op",
            span.type = "worker",
        )
        .in_scope(|| {});
    });
    let legacy = &spans["PUT /items/{id}"];
    assert_eq!(legacy.name, "http.server.request");
    assert!(!legacy.is_error(), "404 is not a server error by default");
    let explicit = &spans["custom resource"];
    assert_eq!(explicit.name, "custom.op");
    assert_eq!(explicit.span_type.as_deref(), Some("worker"));
}

#[test]
fn database_messaging_rpc_graphql_and_generic_spans() {
    let spans = sent(|| {
        info_span!(
            "query",
            otel.kind = "client",
            db.system = "PostgreSQL",
            db.query.text = "SELECT * FROM users WHERE id = $1",
        )
        .in_scope(|| {});
        info_span!(
            "get",
            otel.kind = "client",
            db.system.name = "redis",
            db.statement = "GET session:1",
        )
        .in_scope(|| {});
        info_span!(
            "publish",
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.operation = "send",
            messaging.destination.name = "orders",
        )
        .in_scope(|| {});
        info_span!(
            "call",
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = "shop.Cart",
            rpc.method = "AddItem",
        )
        .in_scope(|| {});
        info_span!(
            "s3",
            otel.kind = "client",
            rpc.system = "aws-api",
            rpc.service = "S3",
            rpc.method = "PutObject",
        )
        .in_scope(|| {});
        info_span!(
            "graphql",
            otel.kind = "server",
            graphql.operation.type = "query",
            graphql.operation.name = "Cart",
        )
        .in_scope(|| {});
        info_span!("compute_price", otel.kind = "internal").in_scope(|| {});
        info_span!(
            "listen",
            otel.kind = "server",
            network.protocol.name = "amqp"
        )
        .in_scope(|| {});
    });
    let pg = &spans["SELECT * FROM users WHERE id = $1"];
    assert_eq!(pg.name, "postgresql.query");
    assert_eq!(pg.span_type.as_deref(), Some("sql"));
    let redis = &spans["GET session:1"];
    assert_eq!(redis.name, "redis.query");
    assert_eq!(redis.span_type.as_deref(), Some("redis"));
    let kafka = &spans["send orders"];
    assert_eq!(kafka.name, "kafka.send");
    assert_eq!(kafka.span_type.as_deref(), Some("custom"));
    let grpc = &spans["AddItem shop.Cart"];
    assert_eq!(grpc.name, "grpc.client.request");
    assert_eq!(grpc.span_type.as_deref(), Some("http"));
    assert_eq!(spans["PutObject S3"].name, "aws.s3.request");
    assert_eq!(spans["query Cart"].name, "graphql.server.request");
    let generic = &spans["compute_price"];
    assert_eq!(
        generic.name, "compute_price",
        "an unnamed kind keeps its own name"
    );
    assert_eq!(generic.span_type.as_deref(), Some("custom"));
    assert_eq!(spans["listen"].name, "amqp.server.request");
}

#[test]
fn otel_status_and_names_and_datadog_style_spans_are_left_alone() {
    let spans = sent(|| {
        info_span!(
            "work",
            otel.name = "reconcile accounts",
            otel.status_code = "ERROR",
            otel.status_description = "ledger mismatch",
        )
        .in_scope(|| {});
        info_span!(
            "fine",
            otel.kind = "client",
            http.request.method = "GET",
            http.response.status_code = 500,
            otel.status_code = "OK",
        )
        .in_scope(|| {});
        // Written the Datadog way (older names only, no `otel.*`): nothing is renamed.
        info_span!(
            "db.query",
            span.kind = "client",
            db.system = "postgresql",
            db.statement = "SELECT 1",
        )
        .in_scope(|| {});
    });
    let work = &spans["reconcile accounts"];
    assert_eq!(work.name, "reconcile accounts");
    assert!(work.is_error());
    assert_eq!(work.meta["error.message"], "ledger mismatch");
    assert!(!work.meta.contains_key("otel.name"));
    assert!(!spans["GET"].is_error(), "an explicit OK status wins");
    let datadog = &spans["db.query"];
    assert_eq!(datadog.name, "db.query");
    assert_eq!(datadog.span_type, None);
}

#[test]
fn grpc_statuses_are_errors_as_opentelemetry_says() {
    let spans = sent(|| {
        for (method, kind, code) in [
            ("Unavailable", "client", 14),
            ("NotFound", "client", 5),
            ("Ok", "client", 0),
            ("ServerNotFound", "server", 5),
            ("ServerUnavailable", "server", 14),
        ] {
            info_span!(
                "call",
                otel.kind = kind,
                rpc.system = "grpc",
                rpc.service = "shop.Cart",
                rpc.method = method,
                rpc.grpc.status_code = code,
            )
            .in_scope(|| {});
        }
    });
    let error = |m: &str| spans[&format!("{m} shop.Cart")].is_error();
    assert!(error("Unavailable"));
    assert_eq!(
        spans["Unavailable shop.Cart"].meta["error.message"],
        "gRPC status 14 UNAVAILABLE"
    );
    assert!(error("NotFound"), "any status but OK fails a client");
    assert!(!error("Ok"));
    assert!(
        !error("ServerNotFound"),
        "a client's mistake is not the server's error"
    );
    assert!(error("ServerUnavailable"));
    assert_eq!(
        spans["ServerUnavailable shop.Cart"].name,
        "grpc.server.request"
    );
}

#[test]
fn error_statuses_come_from_the_settings() {
    let vars = |k: &str| match k {
        "DD_TRACE_HTTP_SERVER_ERROR_STATUSES" => Some("500-599,404".to_string()),
        "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES" => Some("500-599".to_string()),
        _ => None,
    };
    let spans = sent_with(
        |b| b.with_variable_source(vars),
        || {
            for (name, kind, status) in [
                ("a", "server", 404),
                ("b", "client", 404),
                ("c", "client", 502),
            ] {
                info_span!(
                    "call",
                    otel.kind = kind,
                    http.request.method = name,
                    http.response.status_code = status,
                )
                .in_scope(|| {});
            }
        },
    );
    assert!(spans["a"].is_error());
    assert!(!spans["b"].is_error());
    assert!(spans["c"].is_error());
}

#[test]
fn every_http_url_is_obfuscated_and_the_pattern_can_be_changed_or_turned_off() {
    let url = "http://shop.local/pay?card=4111&password=hunter2#top";
    let spans = sent(|| {
        info_span!("datadog style", span.kind = "client", http.url = url).in_scope(|| {});
    });
    assert_eq!(
        spans["datadog style"].meta["http.url"],
        "http://shop.local/pay?card=4111&<redacted>#top"
    );
    let spans = sent_with(
        |b| {
            b.with_variable_source(|k| {
                (k == "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP").then(|| "card=[0-9]+".into())
            })
        },
        || info_span!("custom", http.url = url).in_scope(|| {}),
    );
    assert_eq!(
        spans["custom"].meta["http.url"],
        "http://shop.local/pay?<redacted>&password=hunter2#top"
    );
    let spans = sent_with(
        |b| {
            b.with_variable_source(|k| {
                (k == "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP").then(String::new)
            })
        },
        || info_span!("off", http.url = url).in_scope(|| {}),
    );
    assert_eq!(spans["off"].meta["http.url"], url);
}

/// system-tests' `Test_StandardTagsUrl` queries (the current default pattern's outputs).
#[test]
fn the_default_pattern_redacts_what_the_reference_tracers_redact() {
    let q = QueryObfuscator::default_pattern().expect("the default pattern compiles");
    let vectors = [
        (
            "pass=03cb9f67-dbbc-4cb8-b966-329951e10934&key2=val2&key3=val3",
            "<redacted>&key2=val2&key3=val3",
        ),
        (
            "key1=val1&public_key=MDNjYjlmNjctZGJiYy00Y2I4LWI5NjYtMzI5OTUxZTEwOTM0&key3=val3",
            "key1=val1&<redacted>&key3=val3",
        ),
        (
            "key1=val1&key2=val2&token=03cb9f67dbbc4cb8b966329951e10934",
            "key1=val1&key2=val2&<redacted>",
        ),
        (
            "key1=val1&key2=val2&application_key=123",
            "key1=val1&key2=val2&<redacted>",
        ),
        (
            "json=%7B%20%22sign%22%3A%20%22%7B0x03cb9f67%2C0xdbbc%2C0x4cb8%2C%7B0xb9%2C0x66%2C0x32%2C0x99%2C0x51%2C0xe1%2C0x09%2C0x34%7D%7D%22%7D",
            "json=%7B%20<redacted>%7D",
        ),
        (
            "token=03cb9f67dbbc4cb8b9&key1=val1&key2=val2&pass=03cb9f67-dbbc-4cb8-b966-329951e10934&public_key=MDNjYjlmNjctZGJiYy00Y2I4LWI5NjYtMzI5OTUxZTEwOTM0&key3=val3&json=%7B%20%22sign%22%3A%20%22%7D%7D%22%7D",
            "<redacted>&key1=val1&key2=val2&<redacted>&<redacted>&key3=val3&json=%7B%20<redacted>%7D",
        ),
        ("x=bearer%20abc.def", "x=<redacted>"),
        ("id=7&page=2", "id=7&page=2"),
    ];
    for (query, expected) in vectors {
        let url = format!("http://weblog:7777/waf?{query}");
        let got = q.obfuscate_url(&url).unwrap_or(url.clone());
        assert_eq!(got, format!("http://weblog:7777/waf?{expected}"), "{query}");
    }
    assert_eq!(q.obfuscate_url("http://shop.local/a/b"), None, "no query");
}

#[test]
fn a_hostile_megabyte_url_is_obfuscated_in_one_pass() {
    // Near-misses of every alternative, over and over: a backtracking engine would take
    // exponential or quadratic time here; `regex` takes linear time.
    let q = QueryObfuscator::default_pattern().unwrap();
    let mut url = String::from("http://shop.local/?");
    while url.len() < 1 << 20 {
        url.push_str("passw%20%20%20%22%3A%20%22%25%25ey");
        url.push_str("ssh-rsa%20aaaaaaaaaaaaaaaaaaaaaaaaaaaa-----BEGIN%20a%20PRIVATE%20");
    }
    url.push_str("&token=abc");
    let out = q
        .obfuscate_url(&url)
        .expect("the token at its end is found");
    assert!(out.ends_with("&<redacted>") || out.ends_with("<redacted>"));
}

#[test]
fn status_sets_parse_codes_and_ranges() {
    let s = StatusSet::parse(" 400-403, 405 ,410-499").unwrap();
    for code in [400, 403, 405, 410, 499] {
        assert!(s.contains(code), "{code}");
    }
    for code in [404, 406, 500, 399, 1000] {
        assert!(!s.contains(code), "{code}");
    }
    assert_eq!(s.to_string(), "400-403,405,410-499");
    assert_eq!(
        StatusSet::parse("599-500"),
        Some(StatusSet::DEFAULT_SERVER_ERRORS)
    );
    for bad in ["", "abc", "500-", "4000", "500,,501", "-5"] {
        assert_eq!(StatusSet::parse(bad), None, "{bad:?}");
    }
    assert_eq!(StatusSet::DEFAULT_CLIENT_ERRORS.to_string(), "400-599");
}

#[test]
fn normalized_names_are_lowercase_and_safe() {
    assert_eq!(otel::normalize("PostgreSQL"), "postgresql");
    assert_eq!(otel::normalize("My DB!!system"), "my_db_system");
    assert_eq!(otel::normalize("  aws-api "), "aws-api");
    assert_eq!(otel::normalize("x?"), "x");
}

#[test]
fn fields_named_like_the_unified_service_tags_never_replace_them() {
    let tracer =
        TestTracer::with_builder(|b| b.with_service("shop").with_env("prod").with_version("2.1"));
    tracer.in_scope(|| {
        info_span!(
            "third_party",
            env = "dev",
            version = 3,
            service = "billing",
            resource.name = "r"
        )
        .in_scope(|| {});
    });
    let spans = tracer.spans();
    let span = &spans[0];
    assert_eq!(
        span.service, "shop",
        "a field named service is not the service"
    );
    assert_eq!(span.meta["env"], "prod");
    assert_eq!(span.meta["version"], "2.1");
    assert_eq!(span.meta["field.env"], "dev");
    assert_eq!(span.meta["field.service"], "billing");
    assert_eq!(span.metrics["field.version"], 3.0);
    assert!(!span.metrics.contains_key("version"));
}

#[test]
fn a_tower_http_span_inside_a_server_span_is_internal() {
    let tracer = TestTracer::with_builder(|b| b.with_service("shop"));
    tracer.in_scope(|| {
        info_span!(
            "http.request",
            span.kind = "server",
            span.type = "web",
            resource.name = "GET /items"
        )
        .in_scope(|| {
            tracing::debug_span!(
                "request",
                method = "GET",
                uri = "/items?id=1",
                version = "HTTP/1.1"
            )
            .in_scope(|| {});
        });
    });
    let spans = tracer.spans();
    let servers: Vec<_> = spans
        .iter()
        .filter(|s| s.meta.get("span.kind").map(String::as_str) == Some("server"))
        .collect();
    assert_eq!(servers.len(), 1, "{spans:#?}");
    let inner = spans
        .iter()
        .find(|s| s.name == "tower_http.request")
        .expect("renamed");
    assert_eq!(inner.meta["span.kind"], "internal");
    assert_eq!(inner.meta["http.method"], "GET");
    assert_eq!(inner.meta["http.version"], "HTTP/1.1");
    assert!(!inner.meta.contains_key("version"));
}
