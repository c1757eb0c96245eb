//! An instrumented example service, configured only by `DD_*` environment variables.
//!
//! It handles a handful of simulated HTTP requests on a multi-threaded tokio runtime: each
//! request is a server span with a database child span (another service), a cache lookup in a
//! spawned task, tags whose keys are only known at run time (the feature flags the request saw),
//! JSON log lines correlated with the trace (including a dependency's `log`-crate records), the
//! trace id returned as a response header, one request that fails through
//! `#[instrument(err)]`, and one that arrives from an upstream service with Datadog headers
//! and continues its trace (its log lines then carry the upstream's trace id). Run it with the
//! README's first command to see its traces arrive at Datadog's test agent.
//!
//! ```sh
//! DD_SERVICE=checkout DD_ENV=demo DD_TRACE_AGENT_URL=unix:///var/run/datadog/apm.socket \
//!     cargo run --example service
//! ```
//!
//! Log lines are JSON (`dd_trace_log::JsonFormat`); with `EXAMPLE_LOG_FORMAT=text` they are
//! `tracing_subscriber`'s text lines ending in `dd.trace_id=… dd.span_id=…`
//! (`dd_trace_log::WithCorrelationIds`).

use std::time::Duration;

use dd_trace::DatadogSpanExt;
use tracing::{info, info_span, instrument, warn, Instrument};
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct PaymentDeclined {
    order: u64,
}

impl std::fmt::Display for PaymentDeclined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "payment declined for order {}", self.order)
    }
}

impl std::error::Error for PaymentDeclined {}

#[instrument(
    name = "db.query",
    skip_all,
    fields(
        service.name = "checkout-postgres",
        span.type = "sql",
        span.kind = "client",
        resource.name = "SELECT * FROM orders WHERE id = ?",
        db.system = "postgresql",
        db.rows,
    )
)]
async fn load_order(order: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(3)).await;
    // A dependency that logs through the `log` crate: its lines carry the span's ids too.
    log::debug!(target: "orders_db_driver", "fetched order {order}");
    log::info!(target: "orders_db_driver", "1 row for order {order}");
    tracing::Span::current().record("db.rows", 1);
    order * 100
}

#[instrument(name = "payment.charge", skip_all, err, fields(span.kind = "client", amount))]
async fn charge(order: u64, amount: u64) -> Result<(), PaymentDeclined> {
    tracing::Span::current().record("amount", amount);
    tokio::time::sleep(Duration::from_millis(2)).await;
    if order % 4 == 3 {
        return Err(PaymentDeclined { order });
    }
    Ok(())
}

/// The feature flags this request was served with, as a flag service would return them.
fn feature_flags(order: u64) -> Vec<(String, bool)> {
    vec![
        ("checkout_v2".to_string(), order % 2 == 0),
        (format!("experiment_{}", order % 3), true),
    ]
}

/// The headers of a request sent by an upstream service instrumented by another Datadog
/// tracer: its trace id, its span (our parent), its sampling decision and origin.
fn upstream_headers(order: u64) -> Vec<(String, String)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    vec![
        ("x-datadog-trace-id".into(), (nanos | 1).to_string()),
        ("x-datadog-parent-id".into(), (1000 + order).to_string()),
        ("x-datadog-sampling-priority".into(), "1".into()),
        ("x-datadog-origin".into(), "rum".into()),
    ]
}

async fn handle(order: u64, headers: Vec<(String, String)>) {
    let route = "/orders/{id}/checkout";
    let span = info_span!(
        "http.request",
        span.kind = "server",
        span.type = "web",
        resource.name = format!("POST {route}"),
        http.method = "POST",
        http.route = route,
        http.status_code = tracing::field::Empty,
        order.id = order,
    );
    // Continue the caller's trace when the request came with one.
    if let Some(upstream) = dd_trace::propagation::extract(&headers) {
        span.set_parent(upstream);
    }
    async move {
        let span = tracing::Span::current();
        // Keys known only at run time: `tracing` fields cannot express them.
        for (flag, on) in feature_flags(order) {
            span.set_tag(format!("feature_flag.{flag}"), on);
        }
        info!(order, "checkout started");
        let amount = load_order(order).await;
        // A cache refresh on another task (and possibly another thread) of the same trace.
        let cache = tokio::spawn(
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                info!("cache refreshed");
            }
            .instrument(info_span!("cache.refresh", span.type = "cache")),
        );
        let status = match charge(order, amount).await {
            Ok(()) => 200,
            Err(e) => {
                warn!(error = %e, "checkout failed");
                402
            }
        };
        let _ = cache.await;
        span.record("http.status_code", status);
        // What a handler would send back as `x-trace-id`, for support tickets.
        let trace_id = span.datadog_ids().map(|ids| ids.trace_id.to_string());
        info!(
            status,
            x_trace_id = trace_id.as_deref(),
            "checkout finished"
        );
    }
    .instrument(span)
    .await
}

fn main() {
    let (datadog, guard) = match dd_trace::DatadogLayer::builder().build() {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("cannot start the tracer: {e}");
            std::process::exit(1);
        }
    };
    let text = std::env::var("EXAMPLE_LOG_FORMAT").is_ok_and(|f| f == "text");
    // One of the two formats, chosen at run time (an `Option` of a layer is a layer).
    let json_logs = (!text).then(|| {
        tracing_subscriber::fmt::layer()
            .event_format(dd_trace_log::JsonFormat::new(&datadog))
            .with_writer(std::io::stdout)
    });
    let text_logs = text.then(|| {
        tracing_subscriber::fmt::layer()
            .event_format(dd_trace_log::WithCorrelationIds::new(
                tracing_subscriber::fmt::format(),
                &datadog,
            ))
            .with_ansi(false)
            .with_writer(std::io::stdout)
    });
    let info = tracing_subscriber::filter::LevelFilter::INFO;
    tracing_subscriber::registry()
        .with(datadog)
        .with(json_logs.with_filter(info))
        .with(text_logs.with_filter(info))
        .init();
    // Records of the `log` crate become `tracing` events.
    let _ = tracing_log::LogTracer::init();

    let requests: u64 = std::env::var("EXAMPLE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let tasks: Vec<_> = (0..requests)
            .map(|order| {
                // The second request comes from an upstream service.
                let headers = if order == 1 {
                    upstream_headers(order)
                } else {
                    Vec::new()
                };
                tokio::spawn(handle(order, headers))
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
    let status = guard.status();
    drop(guard); // sends everything still pending
    eprintln!(
        "example: {requests} requests handled; dropped spans before shutdown: {}",
        status.counters.spans_dropped()
    );
}
