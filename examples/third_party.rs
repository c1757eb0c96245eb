//! Spans dd-trace did not write, mapped to Datadog's names: an axum service instrumented only
//! with tower-http's `TraceLayer`, whose handler makes spans written the way
//! `tracing-opentelemetry` code writes them (`otel.kind`, `otel.name`, `otel.status_code` and
//! OpenTelemetry's semantic-convention attributes) for a database query and an outgoing HTTP
//! call. At the agent they arrive as `http.server.request` (`GET`, type `web`),
//! `postgresql.query` (the statement as resource, type `sql`) and `http.client.request` (type
//! `http`, an error, its URL's token `<redacted>`), as the agent names the same spans over OTLP.
//!
//! ```sh
//! DD_SERVICE=catalog DD_TRACE_AGENT_URL=unix:///var/run/datadog/apm.socket \
//!     cargo run --example third_party
//! ```
//!
//! `TraceLayer` writes its spans and response events at DEBUG: the subscriber must let them
//! through for dd-trace to see them (a per-layer filter on the log output keeps the console
//! quiet).

use axum::routing::get;
use axum::Router;
use tracing::info_span;
use tracing_subscriber::prelude::*;

/// A handler whose own spans follow OpenTelemetry's conventions.
async fn product(axum::extract::Path(id): axum::extract::Path<u64>) -> String {
    info_span!(
        "SELECT products",
        otel.kind = "client",
        db.system = "postgresql",
        db.namespace = "shop",
        db.query.text = "SELECT name, price FROM products WHERE id = $1",
    )
    .in_scope(|| std::thread::sleep(std::time::Duration::from_millis(2)));
    let pricing = info_span!(
        "pricing",
        otel.kind = "client",
        otel.name = "GET pricing",
        http.request.method = "GET",
        url.full = format!("https://pricing.internal/v2/price/{id}?token=s3cr3t&currency=EUR"),
        server.address = "pricing.internal",
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    pricing.in_scope(|| std::thread::sleep(std::time::Duration::from_millis(1)));
    // The pricing service failed: as `tracing-opentelemetry` code records it.
    pricing.record("http.response.status_code", 503);
    pricing.record("otel.status_code", "ERROR");
    format!("product {id}")
}

fn main() {
    let (datadog, guard) = match dd_trace::DatadogLayer::builder().build() {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("cannot start the tracer: {e}");
            std::process::exit(1);
        }
    };
    let logs =
        tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(datadog)
        .with(logs)
        .init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let address = format!("http://{}", listener.local_addr().expect("its address"));
        let app = Router::new()
            .route("/products/{id}", get(product))
            .layer(tower_http::trace::TraceLayer::new_for_http());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        for id in 1..=3 {
            match client.get(format!("{address}/products/{id}")).send().await {
                Ok(response) => println!("GET /products/{id} → {}", response.status()),
                Err(e) => println!("GET /products/{id} failed: {e}"),
            }
        }
    });
    if let Err(e) = guard.shutdown(std::time::Duration::from_secs(5)) {
        eprintln!("{e}");
    }
}
