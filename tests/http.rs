//! An axum service calling another through reqwest, each with one line of dd-trace setup,
//! yields one trace at Datadog's test agent.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use dd_trace::integrations::reqwest::DatadogMiddleware;
use dd_trace::integrations::tower::{DatadogServerLayer, ErrorMessage};
use dd_trace_test_support::{runtime_with, tracer, TestAgent};
use serde_json::Value;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

async fn stock(Path(sku): Path<u64>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if sku == 0 {
        let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
        response
            .extensions_mut()
            .insert(ErrorMessage("warehouse offline".into()));
        return response;
    }
    (sku * 3).to_string().into_response()
}

/// The stock router with tower-http's `TraceLayer`, and, with `datadog`, `DatadogServerLayer`
/// outside it (in axum, the last layer added is the outermost).
fn trace_layer_router(datadog: bool) -> Router {
    let router = Router::new()
        .route("/stock/{sku}", get(stock))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    if datadog {
        router.layer(DatadogServerLayer::new())
    } else {
        router
    }
}

#[test]
fn an_axum_service_calling_another_through_reqwest_yields_one_trace() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[("DD_SERVICE", "storefront")]);
    let runtime = runtime_with(&dispatch);
    let statuses = runtime.block_on(async {
        let inventory = serve(
            Router::new()
                .route("/stock/{sku}", get(stock))
                .layer(DatadogServerLayer::new()),
        )
        .await;
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(DatadogMiddleware::new())
            .build();
        let storefront = serve(
            Router::new()
                .route(
                    "/checkout/{order}",
                    get(move |Path(order): Path<u64>| async move {
                        let r = client
                            .get(format!("{inventory}/stock/{order}?secret=x"))
                            .send()
                            .await
                            .unwrap();
                        if r.status().is_success() {
                            Ok(r.text().await.unwrap())
                        } else {
                            Err(StatusCode::BAD_GATEWAY)
                        }
                    }),
                )
                .layer(DatadogServerLayer::new()),
        )
        .await;
        let mut statuses = Vec::new();
        for order in [7, 0] {
            let r = reqwest::get(format!("{storefront}/checkout/{order}"))
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        statuses
    });
    assert_eq!(statuses, [200, 502]);
    drop(runtime);
    drop(guard);

    let traces = agent.traces();
    assert_eq!(traces.len(), 2, "one trace per checkout: {traces:#?}");
    let mut failures = 0;
    for trace in &traces {
        assert_eq!(trace.len(), 3, "{trace:#?}");
        let find = |resource: &str, kind: &str| -> &Value {
            trace
                .iter()
                .find(|s| s["resource"] == resource && s["meta"]["span.kind"] == kind)
                .unwrap_or_else(|| panic!("{resource} {kind}: {trace:#?}"))
        };
        let front = find("GET /checkout/{order}", "server");
        let client = find("GET", "client");
        let back = find("GET /stock/{sku}", "server");
        assert_eq!(front["parent_id"], 0);
        assert_eq!(client["parent_id"], front["span_id"]);
        assert_eq!(
            back["parent_id"], client["span_id"],
            "the client span is the server's parent"
        );
        assert_eq!(front["meta"]["http.route"], "/checkout/{order}");
        let url = client["meta"]["http.url"].as_str().unwrap();
        assert!(
            url.ends_with("/stock/7") || url.ends_with("/stock/0"),
            "{url}"
        );
        assert!(!url.contains("secret"), "{url}");
        // Sku 0 is the one the warehouse fails: which branch runs follows from the request,
        // not from the status under test.
        let failed = url.ends_with("/stock/0");
        failures += usize::from(failed);
        if failed {
            assert_eq!(back["meta"]["http.status_code"], "503");
            assert_eq!(back["error"], 1);
            assert_eq!(back["meta"]["error.message"], "warehouse offline");
            assert_eq!(client["error"], 1);
            assert_eq!(front["error"], 1);
            assert_eq!(front["meta"]["http.status_code"], "502");
        } else {
            assert_eq!(back["meta"]["http.status_code"], "200");
            assert_eq!(front["error"], 0);
        }
    }
    assert_eq!(failures, 1, "one checkout of the two fails");
    agent.assert_checks_passed();
}

/// A router instrumented only with tower-http's `TraceLayer` (at its default DEBUG level, which
/// the subscriber must let through), as many services are.
#[test]
fn tower_http_trace_layer_spans_arrive_as_http_server_spans() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[("DD_SERVICE", "storefront"), ("DD_VERSION", "2.1")],
    );
    let runtime = runtime_with(&dispatch);
    runtime.block_on(async {
        let address = serve(trace_layer_router(false)).await;
        let client = reqwest::Client::new();
        for sku in [7, 0] {
            client
                .get(format!("{address}/stock/{sku}?api_key=abc123&page=2"))
                .send()
                .await
                .unwrap();
        }
    });
    drop(guard);
    let traces = agent.traces();
    assert_eq!(traces.len(), 2, "{traces:#?}");
    let spans: Vec<&Value> = traces.iter().flatten().collect();
    for span in &spans {
        assert_eq!(span["name"], "http.server.request", "{span:#}");
        assert_eq!(span["resource"], "GET");
        assert_eq!(span["type"], "web");
        assert_eq!(span["meta"]["span.kind"], "server");
        assert_eq!(span["meta"]["http.method"], "GET");
        assert_eq!(span["meta"]["http.version"], "HTTP/1.1");
        assert_eq!(
            span["meta"]["version"], "2.1",
            "the field named version is not the app's"
        );
        let url = span["meta"]["http.url"].as_str().unwrap();
        assert!(url.ends_with("?<redacted>&page=2"), "{url}");
    }
    let status = |s: &&&Value| s["meta"]["http.status_code"].as_str().map(str::to_string);
    let ok = spans
        .iter()
        .find(|s| status(s).as_deref() == Some("200"))
        .unwrap();
    assert_eq!(ok["error"], 0);
    let failed = spans
        .iter()
        .find(|s| status(s).as_deref() == Some("503"))
        .unwrap();
    assert_eq!(failed["error"], 1);
}

/// The recommended stack: `DatadogServerLayer` outermost (it continues the caller's trace),
/// tower-http's `TraceLayer` inside it (for its log lines), a reqwest client with the
/// middleware. One server span per request, `TraceLayer`'s span an internal child, and
/// `DD_VERSION` on both, never the HTTP version.
#[test]
fn the_recommended_stack_of_server_layer_and_trace_layer_gives_one_server_span() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[("DD_SERVICE", "storefront"), ("DD_VERSION", "2.1")],
    );
    let runtime = runtime_with(&dispatch);
    runtime.block_on(async {
        let address = serve(trace_layer_router(true)).await;
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(DatadogMiddleware::new())
            .build();
        // On the runtime's threads, which have the tracer as their subscriber.
        tokio::spawn(async move {
            use tracing::Instrument;
            let checkout = tracing::info_span!("checkout");
            async { client.get(format!("{address}/stock/7")).send().await }
                .instrument(checkout)
                .await
                .unwrap();
        })
        .await
        .unwrap();
    });
    drop(guard);
    let traces = agent.traces();
    assert_eq!(traces.len(), 1, "one trace across the hop: {traces:#?}");
    let spans: Vec<&Value> = traces.iter().flatten().collect();
    let kind = |k: &str| -> Vec<&&Value> {
        spans
            .iter()
            .filter(|s| s["meta"]["span.kind"] == k)
            .collect()
    };
    let servers = kind("server");
    assert_eq!(servers.len(), 1, "{spans:#?}");
    assert_eq!(servers[0]["resource"], "GET /stock/{sku}");
    let inner = spans
        .iter()
        .find(|s| s["name"] == "tower_http.request")
        .expect("TraceLayer's span, internal");
    assert_eq!(inner["meta"]["span.kind"], "internal");
    assert_eq!(inner["parent_id"], servers[0]["span_id"]);
    assert_eq!(inner["meta"]["http.version"], "HTTP/1.1");
    assert_eq!(kind("client").len(), 1, "{spans:#?}");
    for span in &spans {
        assert_eq!(span["meta"]["version"], "2.1", "{span:#}");
        assert_eq!(span["service"], "storefront");
    }
}

#[test]
fn header_tags_and_the_client_ip_reach_server_and_client_spans() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(
        &agent.unix_url(),
        &[
            ("DD_SERVICE", "storefront"),
            (
                "DD_TRACE_HEADER_TAGS",
                "X-Tenant:tenant, Content-Type, x-absent",
            ),
            ("DD_TRACE_CLIENT_IP_ENABLED", "true"),
        ],
    );
    let runtime = runtime_with(&dispatch);
    // The client runs on this thread: the tracer is its default here too.
    let _default = tracing::dispatcher::set_default(&dispatch);
    runtime.block_on(async {
        let address = serve(
            Router::new()
                .route("/stock/{sku}", get(stock))
                .layer(DatadogServerLayer::new()),
        )
        .await;
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(DatadogMiddleware::new())
            .build();
        client
            .get(format!("{address}/stock/4"))
            .header("x-tenant", "acme")
            .header("x-forwarded-for", "10.0.0.3, 198.51.100.23")
            .header("authorization", "Bearer never-read")
            .send()
            .await
            .unwrap();
    });
    drop(guard);
    let traces = agent.traces();
    assert_eq!(traces.len(), 1, "{traces:#?}");
    let server = traces[0]
        .iter()
        .find(|s| s["meta"]["span.kind"] == "server")
        .unwrap_or_else(|| panic!("{traces:#?}"));
    let client = traces[0]
        .iter()
        .find(|s| s["meta"]["span.kind"] == "client")
        .unwrap_or_else(|| panic!("{traces:#?}"));
    for span in [server, client] {
        assert_eq!(span["meta"]["tenant"], "acme", "{span:#}");
        assert_eq!(
            span["meta"]["http.response.headers.content-type"],
            "text/plain; charset=utf-8"
        );
        let meta = span["meta"].as_object().unwrap();
        assert!(!meta
            .keys()
            .any(|k| k.contains("absent") || k.contains("authorization")));
    }
    assert_eq!(server["meta"]["http.client_ip"], "198.51.100.23");
    assert!(client["meta"].get("http.client_ip").is_none());
}
