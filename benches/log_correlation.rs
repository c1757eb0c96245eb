//! The cost of log correlation: one `info!` event with two fields inside an entered span,
//! formatted by `tracing_subscriber::fmt` into `io::sink`, with and without the `dd.*` keys, in
//! the same run. Every row runs on `Registry` + `DatadogLayer` (so the span has ids), and the
//! tracer's worker sends to an in-process sink.
//!
//! Run: `cargo bench -p dd-trace-benches --bench log_correlation`
//!
//! Latest results, 2026-12-01, the 2-core shared machine; per event, criterion's point estimate
//! (two runs agreed within 5%):
//!
//! | row                              | per event | vs its baseline |
//! |----------------------------------|-----------|-----------------|
//! | `text/plain` (baseline)          | 530 ns    | 1.00×           |
//! | `text/with_correlation_ids`      | 835 ns    | 1.58× (+305 ns) |
//! | `json/tracing_subscriber_json` (baseline, no `dd.*` keys) | 1833 ns | 1.00× |
//! | `json/dd_trace_log_json_format` (with `dd.*` keys) | 595 ns | 0.32× |

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn tracer() -> (
    dd_trace::DatadogLayer,
    dd_trace::DatadogGuard,
    dd_trace_test_support::FaultAgent,
) {
    let sink = dd_trace_test_support::FaultAgent::sink();
    let (layer, guard) = dd_trace::DatadogLayer::builder()
        .with_variable_source(|_| None)
        .with_agent_url(sink.url())
        .with_service("bench")
        .with_env("prod")
        .with_startup_logs(false)
        .build()
        .expect("tracer");
    (layer, guard, sink)
}

fn run(c: &mut Criterion, name: &str, dispatch: &Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        let span = tracing::info_span!("request", user = 7);
        let _entered = span.enter();
        let mut i = 0u64;
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                tracing::info!(order = i, ok = true, "checked out");
                black_box(i)
            })
        });
    });
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let (layer, _guard, _sink) = tracer();
    let text = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::sink);
    run(
        &mut c,
        "text/plain",
        &Dispatch::new(tracing_subscriber::registry().with(layer).with(text)),
    );

    let (layer, _guard2, _sink2) = tracer();
    let text = tracing_subscriber::fmt::layer()
        .event_format(dd_trace_log::WithCorrelationIds::new(
            tracing_subscriber::fmt::format(),
            &layer,
        ))
        .with_ansi(false)
        .with_writer(std::io::sink);
    run(
        &mut c,
        "text/with_correlation_ids",
        &Dispatch::new(tracing_subscriber::registry().with(layer).with(text)),
    );

    let (layer, _guard3, _sink3) = tracer();
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(std::io::sink);
    run(
        &mut c,
        "json/tracing_subscriber_json",
        &Dispatch::new(tracing_subscriber::registry().with(layer).with(json)),
    );

    let (layer, _guard4, _sink4) = tracer();
    let json = tracing_subscriber::fmt::layer()
        .event_format(dd_trace_log::JsonFormat::new(&layer))
        .with_writer(std::io::sink);
    run(
        &mut c,
        "json/dd_trace_log_json_format",
        &Dispatch::new(tracing_subscriber::registry().with(layer).with(json)),
    );

    c.final_summary();
}
