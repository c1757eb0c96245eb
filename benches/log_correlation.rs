//! The cost of log correlation: one `info!` event with two fields inside an entered span,
//! formatted by `tracing_subscriber::fmt` into `io::sink`, in the same run: text lines with and
//! without the `dd.*` keys, and JSON lines from `tracing_subscriber`'s own JSON format (no
//! `dd.*` keys; span and span list off, as `JsonFormat` has them by default) and from
//! `JsonFormat` with log injection off and on. Every row runs on `Registry` + `DatadogLayer`
//! (so the span has ids), and the tracer's worker sends to an in-process sink.
//!
//! Run: `cargo bench -p dd-trace-benches --bench log_correlation`
//!
//! Latest results, 2026-12-06, the 2-core shared machine; per event, criterion's point estimate
//! in two runs, interleaved with the same bench built from 2384649 (before the text path wrote
//! the ids without the formatting machinery):
//!
//! | row                                          | per event      | ratio                 | 2384649            |
//! |----------------------------------------------|----------------|-----------------------|--------------------|
//! | `text/plain` (baseline)                      | 685 / 671 ns   | 1.00×                 | 634 / 640 ns       |
//! | `text/with_correlation_ids`                  | 876 / 855 ns   | 1.28× of plain        | 1.62× / 1.55×      |
//! | `json/tracing_subscriber_json` (baseline)    | 1 131 / 1 117 ns | 1.00×               | 1 178 / 1 172 ns   |
//! | `json/dd_trace_log_json_format_without_ids`  | 531 / 536 ns   | 0.47–0.48×            | 0.45×              |
//! | `json/dd_trace_log_json_format`              | 779 / 777 ns   | 0.69–0.70×            | 0.64×              |
//!
//! The `dd.*` keys cost about 190 ns a text line (finding the span's ids under its lock and
//! copying the line once) and 245 ns a JSON line; `JsonFormat` with them is still faster than
//! `tracing_subscriber`'s JSON without them.

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use dd_trace::DatadogLayer;
use tracing::Dispatch;
use tracing_subscriber::layer::Layered;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, Registry};

/// Benches one event inside an entered span, on `Registry` + a `DatadogLayer` (with log
/// injection on or off) + the `fmt` layer `logs` builds for it.
fn row<L>(c: &mut Criterion, name: &str, injection: bool, logs: impl FnOnce(&DatadogLayer) -> L)
where
    L: Layer<Layered<DatadogLayer, Registry>> + Send + Sync + 'static,
{
    let sink = dd_trace_test_support::FaultAgent::sink();
    let (layer, _guard) = DatadogLayer::builder()
        .with_variable_source(|_| None)
        .with_agent_url(sink.url())
        .with_service("bench")
        .with_env("prod")
        .with_logs_injection(injection)
        .with_startup_logs(false)
        .build()
        .expect("tracer");
    let logs = logs(&layer);
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer).with(logs));
    tracing::dispatcher::with_default(&dispatch, || {
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
    let fmt = || tracing_subscriber::fmt::layer().with_writer(std::io::sink);

    row(&mut c, "text/plain", true, |_| fmt().with_ansi(false));
    row(&mut c, "text/with_correlation_ids", true, |layer| {
        fmt()
            .with_ansi(false)
            .event_format(dd_trace_log::WithCorrelationIds::new(
                tracing_subscriber::fmt::format(),
                layer,
            ))
    });
    // The same attributes as `JsonFormat` writes by default: no span, no span list.
    row(&mut c, "json/tracing_subscriber_json", true, |_| {
        fmt().json().with_current_span(false).with_span_list(false)
    });
    row(
        &mut c,
        "json/dd_trace_log_json_format_without_ids",
        false,
        |layer| fmt().event_format(dd_trace_log::JsonFormat::new(layer)),
    );
    row(&mut c, "json/dd_trace_log_json_format", true, |layer| {
        fmt().event_format(dd_trace_log::JsonFormat::new(layer))
    });

    c.final_summary();
}
