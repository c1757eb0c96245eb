//! Many threads, spans that close on another thread than they opened on, short-lived threads,
//! and spans that never close, through the public API on the in-memory exporter (the whole
//! pipeline runs; only the socket is replaced).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dd_trace::testing::{CapturedSpan, TestTracer};
use tracing::info_span;

/// Every span arrived once, and every parent is in the same trace.
fn assert_whole_traces(spans: &[CapturedSpan]) {
    let ids: HashSet<u64> = spans.iter().map(|s| s.span_id).collect();
    assert_eq!(ids.len(), spans.len(), "a span arrived twice");
    let trace_of: HashMap<u64, u64> = spans.iter().map(|s| (s.span_id, s.trace_id)).collect();
    for s in spans.iter().filter(|s| s.parent_id != 0) {
        assert_eq!(trace_of.get(&s.parent_id), Some(&s.trace_id), "{s:?}");
    }
}

#[test]
fn many_threads_making_many_spans_lose_nothing_while_the_worker_keeps_up() {
    let tracer = Arc::new(TestTracer::with_builder(|b| b.with_queue_capacity(50_000)));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let tracer = Arc::clone(&tracer);
            std::thread::spawn(move || {
                tracer.in_scope(|| {
                    for i in 0..1000 {
                        info_span!("request", t, i).in_scope(|| {
                            info_span!("db").in_scope(|| {});
                            info_span!("cache").in_scope(|| {});
                        });
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let spans = tracer.spans();
    assert_eq!(spans.len(), 24_000);
    assert_whole_traces(&spans);
    let c = tracer.status().counters;
    assert_eq!(c.spans_dropped(), 0, "{c:#?}");
    assert_eq!(c.spans_sent, 24_000);
}

#[test]
fn spans_opened_on_one_thread_and_closed_on_another_arrive_in_their_trace() {
    let tracer = Arc::new(TestTracer::new());
    let (root, children) = tracer.in_scope(|| {
        let root = info_span!("root");
        let children: Vec<tracing::Span> = (0..50)
            .map(|i| info_span!(parent: &root, "child", i))
            .collect();
        (root, children)
    });
    // Each child is entered and closed on a thread of its own; the root on yet another. (The
    // registry closes a parent through the current thread's default dispatcher, so each
    // thread has the tracer as its default when its span closes, as a global one would be.)
    let handles: Vec<_> = children
        .into_iter()
        .map(|child| {
            let tracer = Arc::clone(&tracer);
            std::thread::spawn(move || {
                tracer.in_scope(move || {
                    child.in_scope(|| {});
                    drop(child);
                })
            })
        })
        .collect();
    let t = Arc::clone(&tracer);
    std::thread::spawn(move || t.in_scope(|| drop(root)))
        .join()
        .unwrap();
    for h in handles {
        h.join().unwrap();
    }
    let spans = tracer.spans();
    assert_eq!(spans.len(), 51);
    assert_whole_traces(&spans);
    assert_eq!(spans.iter().filter(|s| s.parent_id == 0).count(), 1);
}

#[test]
fn many_short_lived_threads_lose_nothing() {
    let tracer = Arc::new(TestTracer::new());
    for batch in 0..20 {
        let threads: Vec<_> = (0..10)
            .map(|i| {
                let tracer = Arc::clone(&tracer);
                std::thread::spawn(move || {
                    tracer.in_scope(|| {
                        info_span!("job", batch, i).in_scope(|| info_span!("step").in_scope(|| {}))
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    let spans = tracer.spans();
    assert_eq!(spans.len(), 400);
    assert_whole_traces(&spans);
    assert_eq!(tracer.status().counters.spans_dropped(), 0);
}

#[test]
fn spans_never_closed_stop_being_recorded_at_the_open_trace_limit_and_are_counted() {
    let tracer = TestTracer::with_builder(|b| b.with_max_open_traces(10));
    let leaked = tracer.in_scope(|| {
        let leaked: Vec<tracing::Span> = (0..15).map(|i| info_span!("leaked", i)).collect();
        // A child of a span over the limit is not recorded either.
        info_span!(parent: &leaked[14], "child of unrecorded").in_scope(|| {});
        leaked
    });
    let status = tracer.status();
    assert_eq!(status.open_traces, 10);
    assert_eq!(status.counters.spans_dropped_trace_limits, 6);
    // Still over the limit: a new trace is counted, not recorded.
    tracer.in_scope(|| info_span!("meanwhile").in_scope(|| {}));
    assert_eq!(tracer.status().counters.spans_dropped_trace_limits, 7);
    // Once the open traces end, new ones are recorded again.
    drop(leaked);
    tracer.in_scope(|| info_span!("after").in_scope(|| {}));
    let spans = tracer.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.iter().filter(|n| **n == "leaked").count(), 10);
    assert!(
        names.contains(&"after") && !names.contains(&"meanwhile"),
        "{names:?}"
    );
    assert_eq!(tracer.status().open_traces, 0);
}

#[test]
fn one_trace_with_too_many_open_spans_stops_growing() {
    let tracer = TestTracer::with_builder(|b| b.with_max_open_spans_per_trace(3));
    tracer.in_scope(|| {
        let root = info_span!("root");
        let _r = root.enter();
        // The root and two children are open; the third child and its own child are not
        // recorded.
        let open: Vec<tracing::Span> = (0..3).map(|i| info_span!("child", i)).collect();
        open[2].in_scope(|| info_span!("grandchild").in_scope(|| {}));
        drop(open);
        // With room again, spans are recorded.
        info_span!("later").in_scope(|| {});
    });
    let spans = tracer.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.contains(&"later") && !names.contains(&"grandchild"));
    assert_eq!(tracer.status().counters.spans_dropped_trace_limits, 2);
}
