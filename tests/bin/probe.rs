//! A small traced program for the fault tests: configured only by `DD_*` variables, it makes
//! `PROBE_TRACES` two-span traces per round for `PROBE_ROUNDS` rounds a little over one flush
//! interval apart, logging JSON with correlation ids to stdout (unless `PROBE_QUIET` is set).
//! `PROBE_QUEUE_CAPACITY` sets the hand-off queue's capacity; `PROBE_PANIC` makes it panic at
//! the end, with its guard alive. `PROBE_GLOBAL_FILTER=warn` puts a global `EnvFilter` at that
//! level ahead of every layer (the usual mistake); `PROBE_LINGER_MS` keeps it running that long
//! after its traces (for `DD_TRACE_DOCTOR`).

use std::time::Duration;

use tracing_subscriber::prelude::*;

fn main() {
    let setting = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (traces, rounds) = (setting("PROBE_TRACES", 10), setting("PROBE_ROUNDS", 1));
    // PROBE_INIT=1: the one-line setup, without logs.
    let guard = if std::env::var_os("PROBE_INIT").is_some() {
        dd_trace::init()
    } else {
        let mut builder = dd_trace::DatadogLayer::builder();
        if let Ok(capacity) = std::env::var("PROBE_QUEUE_CAPACITY") {
            builder = builder.with_queue_capacity(capacity.parse().expect("a capacity"));
        }
        let (datadog, guard) = builder.build().expect("tracer builds");
        let logs = std::env::var_os("PROBE_QUIET").is_none().then(|| {
            tracing_subscriber::fmt::layer()
                .event_format(dd_trace_log::JsonFormat::new(&datadog))
                .with_writer(std::io::stdout)
        });
        let global_filter = std::env::var("PROBE_GLOBAL_FILTER")
            .ok()
            .map(tracing_subscriber::EnvFilter::new);
        tracing_subscriber::registry()
            .with(global_filter)
            .with(datadog)
            .with(logs)
            .init();
        guard
    };
    for round in 0..rounds {
        if round > 0 {
            std::thread::sleep(Duration::from_millis(1200));
        }
        for i in 0..traces {
            tracing::info_span!("probe.request", round, i).in_scope(|| {
                tracing::info_span!("probe.step").in_scope(|| tracing::info!("working"));
            });
        }
    }
    if std::env::var_os("PROBE_PANIC").is_some() {
        // Unwinding out of main drops the guard, which delivers what finished.
        panic!("the probe panics with its guard alive");
    }
    std::thread::sleep(Duration::from_millis(setting("PROBE_LINGER_MS", 0)));
    drop(guard);
}
