//! Two services talking HTTP, one connected trace: `storefront` (axum) handles
//! `GET /checkout/{order}` and calls `inventory` (axum) through reqwest; both are traced with one
//! line of setup each (`DatadogServerLayer` on the router, `DatadogMiddleware` on the client),
//! and log JSON lines that carry the trace's ids. Both run in this process, on loopback.
//!
//! It is the recommended stack for an app that already has a subscriber: the log layer
//! filtered on its own (`EnvFilter` from `RUST_LOG`, `info` when unset), the Datadog layer
//! unfiltered, and on `storefront` tower-http's `TraceLayer` inside `DatadogServerLayer` (one
//! server span per request; `TraceLayer`'s span is its internal child `tower_http.request`).
//!
//! ```sh
//! DD_TRACE_AGENT_URL=unix:///var/run/datadog/apm.socket cargo run --example distributed
//! ```

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use dd_trace::integrations::reqwest::DatadogMiddleware;
use dd_trace::integrations::tower::DatadogServerLayer;
use dd_trace::DatadogSpanExt;
use tracing::info;
use tracing_subscriber::prelude::*;

async fn stock(Path(sku): Path<u64>) -> Result<String, StatusCode> {
    // The inventory is another service: its spans say so.
    tracing::Span::current().set_service("inventory");
    info!(sku, "stock looked up");
    if sku % 5 == 4 {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    Ok(format!("{}", sku * 3))
}

async fn checkout(
    Path(order): Path<u64>,
    client: axum::extract::State<(reqwest_middleware::ClientWithMiddleware, String)>,
) -> Result<String, StatusCode> {
    let (client, inventory) = &*client;
    info!(order, "checkout started");
    let response = client
        .get(format!("{inventory}/stock/{order}"))
        .send()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    if !response.status().is_success() {
        info!(status = response.status().as_u16(), "inventory failed");
        return Err(StatusCode::BAD_GATEWAY);
    }
    let units = response.text().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    info!(order, units = %units, "checkout finished");
    Ok(format!("order {order}: {units} units"))
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

fn main() {
    let (datadog, guard) = match dd_trace::DatadogLayer::builder().build() {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("cannot start the tracer: {e}");
            std::process::exit(1);
        }
    };
    // The filter is the log layer's own: a global one would keep spans from the tracer.
    let log_filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer()
        .event_format(dd_trace_log::JsonFormat::new(&datadog))
        .with_writer(std::io::stdout)
        .with_filter(log_filter);
    tracing_subscriber::registry()
        .with(datadog)
        .with(logs)
        .init();

    let requests: u64 = std::env::var("EXAMPLE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let inventory = serve(
            Router::new()
                .route("/stock/{sku}", get(stock))
                .layer(DatadogServerLayer::new()), // one line: the server side
        )
        .await;
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(DatadogMiddleware::new()) // one line: the client side
            .build();
        let storefront = serve(
            Router::new()
                .route("/checkout/{order}", get(checkout))
                .with_state((client, inventory))
                // The last layer is the outermost: Datadog's continues the caller's trace.
                .layer(tower_http::trace::TraceLayer::new_for_http())
                .layer(DatadogServerLayer::new()),
        )
        .await;
        // The users: plain requests, no trace context of their own.
        let users = reqwest::Client::new();
        for order in 0..requests {
            let _ = users
                .get(format!("{storefront}/checkout/{order}"))
                .send()
                .await;
        }
    });
    drop(runtime);
    match guard.shutdown(std::time::Duration::from_secs(5)) {
        Ok(delivered) => eprintln!("distributed example: {requests} checkouts; {delivered}"),
        Err(e) => eprintln!("distributed example: {requests} checkouts; shutdown: {e}"),
    }
}
