//! One trace made of `tracing` spans and OpenTelemetry API spans: the app's own code uses
//! `tracing`; a "payments" library is instrumented with the `opentelemetry` crate's API only,
//! through the global tracer provider, which is dd-trace's `DatadogTracerProvider`. The
//! library's spans are children of the app's, the app's spans inside the library's callback are
//! children of the library's, and one sampling decision and one trace id hold for all of them.
//!
//! ```sh
//! DD_SERVICE=shop DD_TRACE_AGENT_URL=unix:///var/run/datadog/apm.socket \
//!     cargo run --example opentelemetry
//! ```

use opentelemetry::trace::{Span, Status, TraceContextExt, Tracer};
use opentelemetry::KeyValue;
use tracing_subscriber::prelude::*;

/// A library that knows only OpenTelemetry's API.
mod payments {
    use super::*;

    /// Charges a card: one span of its own, with the app's callback run inside it.
    pub fn charge(order: u64, amount: i64, on_authorized: impl FnOnce()) -> Result<(), String> {
        let tracer = opentelemetry::global::tracer("payments");
        tracer.in_span("charge card", |cx| {
            let span = cx.span();
            span.set_attribute(KeyValue::new("payment.amount", amount));
            span.set_attribute(KeyValue::new("payment.order", order as i64));
            span.add_event("card authorized", vec![KeyValue::new("issuer", "visa")]);
            on_authorized();
            if order % 3 == 2 {
                span.set_status(Status::error("insufficient funds"));
                return Err("declined".to_string());
            }
            Ok(())
        })
    }
}

fn main() {
    let (datadog, guard) = match dd_trace::DatadogLayer::builder().build() {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("cannot start the tracer: {e}");
            std::process::exit(1);
        }
    };
    tracing_subscriber::registry().with(datadog).init();
    // The OpenTelemetry API's global provider is dd-trace's.
    opentelemetry::global::set_tracer_provider(
        dd_trace::integrations::otel_api::DatadogTracerProvider::new(),
    );

    for order in 0..3u64 {
        let checkout = tracing::info_span!("checkout", resource.name = "POST /checkout", order);
        let _entered = checkout.enter();
        let charged = payments::charge(order, 1250, || {
            // The app's own span, inside the library's: its child.
            tracing::info_span!("ledger.write", resource.name = "INSERT ledger").in_scope(|| {});
        });
        if let Err(e) = charged {
            tracing::error!(error = %e, "checkout failed");
        }
        // A span of the library's, made by hand outside its callback: a child of `checkout`.
        let mut receipt = opentelemetry::global::tracer("payments").start("send receipt");
        receipt.set_attribute(KeyValue::new("receipt.channel", "email"));
        receipt.end();
    }
    match guard.shutdown(std::time::Duration::from_secs(5)) {
        Ok(delivered) => eprintln!("opentelemetry example: 3 checkouts; {delivered}"),
        Err(e) => eprintln!("opentelemetry example: shutdown: {e}"),
    }
}
