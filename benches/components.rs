//! The parts of a span's cost one at a time, each beside its baseline in the same run:
//!
//! - `alloc/…`: heap allocations per 2-span trace on the app's thread (a counting allocator),
//!   counted over 100 000 traces after a warm-up that fills the tracer's record pools, and
//!   printed (criterion cannot analyse a row that is exactly zero, as the baseline's is);
//! - `sampling/…`: the 2-span workload with no sampling rule and with 10 rules
//!   (`DD_TRACE_SAMPLING_RULES`, the matching one last);
//! - `propagation/extract/<style>` and `propagation/inject/<style>`: reading a context from
//!   headers and writing one into them, per style;
//! - `future/…`: one poll of an instrumented future (`Instrument`: an enter and an exit per
//!   poll), through `Registry` + no-op and through dd-trace;
//! - `contended/…`: two producer threads making traces at once (time per trace pair).
//!
//! Run: `cargo bench -p dd-trace-benches --bench components`.
//!
//! Latest results, 2026-12-06, the 2-core shared machine (slow mode), criterion's point
//! estimates:
//!
//! | row | `Registry` + no-op | dd-trace |
//! |---|---:|---:|
//! | allocations per 2-span trace, flat out / paced | 0 / 0 | 2.104 / 2.007 |
//! | sampling: no rule / 10 rules, per trace | | 1 399 / 1 623 ns |
//! | extract / inject `datadog` | | 423 / 680 ns |
//! | extract / inject `tracecontext` | | 503 / 792 ns |
//! | extract / inject `b3multi` | | 195 / 428 ns |
//! | extract / inject `b3` | | 187 / 414 ns |
//! | extract / inject `baggage` | | 389 / 879 ns |
//! | one poll of an instrumented future | 14.7 ns | 47.5 ns |
//! | two producers at once, per pair of traces | 1.22 µs | 3.02 µs |

#[path = "workload.rs"]
mod workload;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::Criterion;
use dd_trace::propagation;
use dd_trace::DatadogSpanExt;
use tracing::{info_span, Dispatch, Instrument};
use tracing_subscriber::prelude::*;
use workload::{one_trace, NoopLayer};

/// Counts the allocations each thread makes.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the count is a
// thread-local `Cell` (no allocation, no lock).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn noop() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(NoopLayer))
}

/// `Registry` + `DatadogLayer` with the given variables, sending to an in-process sink.
fn datadog(
    vars: &[(&'static str, &'static str)],
) -> (
    Dispatch,
    dd_trace::DatadogGuard,
    dd_trace_test_support::FaultAgent,
) {
    let sink = dd_trace_test_support::FaultAgent::sink();
    let vars = vars.to_vec();
    let (layer, guard) = dd_trace::DatadogLayer::builder()
        .with_variable_source(move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
        .with_agent_url(sink.url())
        .with_service("bench")
        .with_startup_logs(false)
        .build()
        .expect("tracer");
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
        sink,
    )
}

/// Warms up the record pools (records come back from the worker in batches).
fn warm_up() {
    for i in 0..20_000 {
        one_trace(i);
    }
    std::thread::sleep(Duration::from_millis(1200));
}

fn traces(c: &mut Criterion, name: &str, dispatch: &Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        warm_up();
        let mut i = 0u64;
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                one_trace(i)
            })
        });
    });
}

/// Allocations per trace on this thread, over `TRACES` traces after the warm-up: flat out, or
/// paced (50 traces a millisecond, 100 000 spans a second).
fn allocations_per_trace(dispatch: &Dispatch, paced: bool) -> f64 {
    const TRACES: u64 = 100_000;
    tracing::dispatcher::with_default(dispatch, || {
        warm_up();
        let before = allocations();
        for i in 0..TRACES {
            if paced && i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            one_trace(i);
        }
        (allocations() - before) as f64 / TRACES as f64
    })
}

fn alloc_rows() {
    for paced in [false, true] {
        let mode = if paced { "paced" } else { "flat_out" };
        let noop = allocations_per_trace(&noop(), paced);
        let (dd, _guard, _sink) = datadog(&[]);
        let datadog = allocations_per_trace(&dd, paced);
        println!(
            "alloc/{mode}/registry_noop_layer: {noop:.3} allocations per 2-span trace\n\
             alloc/{mode}/registry_datadog_layer: {datadog:.3} allocations per 2-span trace ({:.3} per span)",
            datadog / 2.0
        );
    }
}

/// Ten rules; only the last matches the workload's root.
const TEN_RULES: &str = r#"[
    {"service":"billing","sample_rate":0.5},
    {"service":"auth*","name":"login","sample_rate":1},
    {"name":"cron.*","sample_rate":0.1},
    {"resource":"GET /health","sample_rate":0},
    {"tags":{"tenant":"acme"},"sample_rate":1},
    {"service":"search","resource":"POST /q*","sample_rate":0.2},
    {"name":"grpc.server","sample_rate":0.3},
    {"tags":{"http.status_code":"5??"},"sample_rate":1},
    {"service":"web?","sample_rate":0.7},
    {"service":"bench","name":"request","sample_rate":1}
]"#;

fn sampling_rows(c: &mut Criterion) {
    let (dd, _g, _s) = datadog(&[]);
    traces(c, "sampling/no_rules", &dd);
    let (dd, _g, _s) = datadog(&[("DD_TRACE_SAMPLING_RULES", TEN_RULES)]);
    traces(c, "sampling/10_rules", &dd);
}

fn propagation_rows(c: &mut Criterion) {
    let styles: [(&str, &[(&str, &str)]); 5] = [
        (
            "datadog",
            &[
                ("x-datadog-trace-id", "4611686018427387904"),
                ("x-datadog-parent-id", "1234"),
                ("x-datadog-sampling-priority", "1"),
                ("x-datadog-origin", "rum"),
                ("x-datadog-tags", "_dd.p.dm=-4,_dd.p.tid=640cfd8d00000000"),
            ],
        ),
        (
            "tracecontext",
            &[
                (
                    "traceparent",
                    "00-640cfd8d00000000000000000000abcd-00000000000004d2-01",
                ),
                ("tracestate", "dd=s:1;p:00000000000004d2;t.dm:-4,other=x"),
            ],
        ),
        (
            "b3multi",
            &[
                ("x-b3-traceid", "640cfd8d00000000000000000000abcd"),
                ("x-b3-spanid", "00000000000004d2"),
                ("x-b3-sampled", "1"),
            ],
        ),
        (
            "b3",
            &[("b3", "640cfd8d00000000000000000000abcd-00000000000004d2-1")],
        ),
        (
            "baggage",
            &[("baggage", "user.id=42,session=abc,tier=gold")],
        ),
    ];
    for (style, headers) in styles {
        let (dd, _g, _s) = datadog(&[("DD_TRACE_PROPAGATION_STYLE", style)]);
        let incoming: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tracing::dispatcher::with_default(&dd, || {
            c.bench_function(&format!("propagation/extract/{style}"), |b| {
                b.iter(|| black_box(propagation::extract(black_box(&incoming))))
            });
            let span = info_span!("request");
            if let Some(context) = propagation::extract(&incoming) {
                span.set_parent(context);
            }
            let _entered = span.enter();
            let mut outgoing: Vec<(String, String)> = Vec::with_capacity(8);
            c.bench_function(&format!("propagation/inject/{style}"), |b| {
                b.iter(|| {
                    outgoing.clear();
                    span.inject_context(&mut outgoing);
                    black_box(&outgoing);
                })
            });
        });
    }
}

/// A future that is pending forever; each poll does nothing.
struct Pending;

impl Future for Pending {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

fn future_rows(c: &mut Criterion) {
    let (dd, _g, _s) = datadog(&[]);
    for (name, dispatch) in [
        ("registry_noop_layer", noop()),
        ("registry_datadog_layer", dd),
    ] {
        tracing::dispatcher::with_default(&dispatch, || {
            let mut future = Box::pin(Pending.instrument(info_span!("task")));
            let mut cx = Context::from_waker(Waker::noop());
            c.bench_function(&format!("future/poll/{name}"), |b| {
                b.iter(|| black_box(future.as_mut().poll(&mut cx)))
            });
        });
    }
}

fn contended_rows(c: &mut Criterion) {
    let (dd, _g, _s) = datadog(&[]);
    for (name, dispatch) in [
        ("registry_noop_layer", noop()),
        ("registry_datadog_layer", dd),
    ] {
        c.bench_function(&format!("contended/two_producers/{name}"), |b| {
            b.iter_custom(|iters| {
                let start = std::sync::Barrier::new(2);
                let elapsed: Vec<Duration> = std::thread::scope(|s| {
                    let threads: Vec<_> = (0..2)
                        .map(|_| {
                            let (dispatch, start) = (&dispatch, &start);
                            s.spawn(move || {
                                tracing::dispatcher::with_default(dispatch, || {
                                    start.wait();
                                    let t = Instant::now();
                                    for i in 0..iters {
                                        one_trace(i);
                                    }
                                    t.elapsed()
                                })
                            })
                        })
                        .collect();
                    threads
                        .into_iter()
                        .map(|t| t.join().expect("a producer"))
                        .collect()
                });
                elapsed.into_iter().max().unwrap_or_default()
            })
        });
    }
}

fn main() {
    fn configure(c: Criterion) -> Criterion {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args()
    }
    alloc_rows();
    let mut c = configure(Criterion::default());
    sampling_rows(&mut c);
    propagation_rows(&mut c);
    future_rows(&mut c);
    contended_rows(&mut c);
    c.final_summary();
}
