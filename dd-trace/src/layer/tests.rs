//! Layer behaviour, end to end through the worker and the v0.4 encoder, on the in-memory
//! exporter: what a user's spans become.

use std::collections::HashMap;
use std::fmt;

use tracing::{info_span, Instrument};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer as _;

use super::{DatadogLayer, DatadogSpanExt};
use crate::model::id::{SpanId, TraceId};
use crate::testing::{CapturedSpan, InMemoryExporter, TestTracer};

fn by_name(spans: &[CapturedSpan]) -> HashMap<&str, &CapturedSpan> {
    spans.iter().map(|s| (s.name.as_str(), s)).collect()
}

#[test]
fn nested_spans_share_a_trace_and_point_at_their_parents() {
    let tracer = TestTracer::with_builder(|b| b.with_service("shop").with_version("1.2"));
    let ids = tracer.in_scope(|| {
        let root = info_span!("request");
        let _r = root.enter();
        let child = info_span!("child");
        let _c = child.enter();
        info_span!("grandchild").in_scope(|| {});
        root.datadog_ids().unwrap()
    });
    let chunks = tracer.chunks();
    assert_eq!(chunks.len(), 1, "one trace, sent once its last span closed");
    assert_eq!(chunks[0].trace_id(), Some(ids.trace_id));
    let spans = by_name(&chunks[0].spans);
    assert_eq!(spans["request"].parent_id, 0);
    assert_eq!(spans["request"].span_id, ids.span_id.to_u64());
    assert_eq!(spans["child"].parent_id, spans["request"].span_id);
    assert_eq!(spans["grandchild"].parent_id, spans["child"].span_id);
    for s in spans.values() {
        assert_eq!(s.trace_id, ids.trace_id.low());
        assert_eq!(s.service, "shop");
        assert_eq!(s.meta["version"], "1.2");
    }
    // The local root goes first in its chunk, though it finished last, and carries the
    // propagated trace tags, the priority and the tracer's tags.
    let root = &chunks[0].spans[0];
    assert_eq!(root.name, "request");
    assert_eq!(root.meta["_dd.p.dm"], "-0");
    assert_eq!(root.meta["_dd.p.tid"].len(), 16);
    assert_eq!(root.metrics["_sampling_priority_v1"], 1.0);
    assert_eq!(root.meta["language"], "rust");
    assert!(!spans["grandchild"].meta.contains_key("_dd.p.dm"));
    assert!(!spans["child"].metrics.contains_key("_sampling_priority_v1"));
    assert_eq!(root.metrics["_dd.top_level"], 1.0);
    assert!(!spans["grandchild"].metrics.contains_key("_dd.top_level"));
    // Children end before their parents, inside them in time.
    let end = |s: &CapturedSpan| s.start + s.duration;
    assert!(spans["grandchild"].start >= spans["child"].start);
    assert!(end(spans["grandchild"]) <= end(spans["child"]));
    assert!(end(spans["child"]) <= end(root));
}

#[test]
fn spans_on_other_threads_join_their_parents_trace() {
    let tracer = TestTracer::new();
    tracer.in_scope(|| {
        let root = info_span!("request");
        let _r = root.enter();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let parent = root.clone();
                let dispatch = tracer.dispatch().clone();
                std::thread::spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        info_span!(parent: &parent, "worker", i).in_scope(|| {
                            info_span!("step").in_scope(|| {});
                        });
                    })
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let chunks = tracer.chunks();
    assert_eq!(chunks.len(), 1);
    let spans = &chunks[0].spans;
    assert_eq!(spans.len(), 9);
    let root = spans.iter().find(|s| s.name == "request").unwrap();
    let workers: Vec<_> = spans.iter().filter(|s| s.name == "worker").collect();
    assert_eq!(workers.len(), 4);
    assert!(workers.iter().all(|w| w.parent_id == root.span_id));
    for step in spans.iter().filter(|s| s.name == "step") {
        assert!(workers.iter().any(|w| w.span_id == step.parent_id));
    }
}

#[test]
fn spans_follow_their_future_across_await_points_and_tasks() {
    let tracer = TestTracer::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // The runtime's thread has the tracer as its default: the registry closes a parent through
    // the default dispatcher of the thread where its last child closes.
    tracer.in_scope(|| {
        runtime.block_on(
            async {
                let task = tokio::spawn(
                    async {
                        tokio::task::yield_now().await;
                        info_span!("in.task").in_scope(|| {});
                    }
                    .instrument(info_span!("task")),
                );
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                info_span!("after.sleep").in_scope(|| {});
                task.await.unwrap();
            }
            .instrument(info_span!("handler")),
        )
    });
    let chunks = tracer.chunks();
    assert_eq!(chunks.len(), 1, "{chunks:#?}");
    let spans = by_name(&chunks[0].spans);
    let handler = spans["handler"];
    assert_eq!(spans["task"].parent_id, handler.span_id);
    assert_eq!(spans["in.task"].parent_id, spans["task"].span_id);
    assert_eq!(spans["after.sleep"].parent_id, handler.span_id);
    assert!(handler.duration >= 2_000_000, "the handler spans the sleep");
}

#[test]
fn a_span_ends_at_its_last_exit_though_a_child_on_another_thread_closes_it_later() {
    let tracer = TestTracer::new();
    tracer.in_scope(|| {
        let parent = info_span!("parent");
        let child = info_span!(parent: &parent, "child");
        // Exited here; this thread then does nothing more with the tracer, so the exit stays
        // pending in its slot while the child keeps the parent open.
        parent.in_scope(|| {});
        drop(parent);
        let dispatch = tracer.dispatch().clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                std::thread::sleep(std::time::Duration::from_millis(30));
                // The child's close closes the parent, on this thread.
                drop(child);
            })
        })
        .join()
        .unwrap();
    });
    let spans = tracer.spans();
    let spans = by_name(&spans);
    assert!(
        spans["parent"].duration < 20_000_000,
        "the parent ended when it was exited, not when its child closed: {} ns",
        spans["parent"].duration
    );
    assert!(spans["child"].duration >= 30_000_000);
}

#[test]
fn a_span_exited_on_several_threads_ends_at_its_latest_exit() {
    let tracer = TestTracer::new();
    tracer.in_scope(|| {
        let span = info_span!("shared");
        span.in_scope(|| {});
        let dispatch = tracer.dispatch().clone();
        let moved = span.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                std::thread::sleep(std::time::Duration::from_millis(30));
                moved.in_scope(|| {});
            })
        })
        .join()
        .unwrap();
        // Another span exited here displaces the first exit into its record.
        info_span!("other").in_scope(|| {});
        drop(span);
    });
    let spans = tracer.spans();
    let spans = by_name(&spans);
    assert!(
        spans["shared"].duration >= 30_000_000,
        "its last exit was on the other thread, 30 ms later: {} ns",
        spans["shared"].duration
    );
}

#[derive(Debug)]
struct Declined {
    cause: std::io::Error,
}

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("card declined")
    }
}

impl std::error::Error for Declined {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

fn declined() -> Declined {
    Declined {
        cause: std::io::Error::other("issuer unavailable"),
    }
}

#[tracing::instrument(err)]
fn charge() -> Result<(), Declined> {
    Err(declined())
}

#[test]
fn errors_from_fields_events_and_set_error_mark_their_span() {
    let tracer = TestTracer::new();
    tracer.in_scope(|| {
        let _ = charge();
        info_span!("flagged", error = true).in_scope(|| {});
        info_span!(
            "field",
            error = &declined() as &(dyn std::error::Error + 'static)
        )
        .in_scope(|| {});
        let typed = info_span!("typed");
        typed.set_error(&declined());
        drop(typed);
        let dynamic = info_span!("dynamic");
        let boxed: Box<dyn std::error::Error> = Box::new(declined());
        dynamic.set_error(&*boxed);
        drop(dynamic);
        info_span!("fine").in_scope(|| {});
    });
    let spans = tracer.spans();
    let spans = by_name(&spans);
    let charge = spans["charge"];
    assert!(charge.is_error());
    assert_eq!(charge.meta["error.message"], "card declined");
    assert!(spans["flagged"].is_error());
    assert_eq!(spans["field"].meta["error.message"], "card declined");
    assert_eq!(
        spans["field"].meta["error.stack"],
        "card declined\nCaused by:\n    0: issuer unavailable"
    );
    let typed = spans["typed"];
    assert!(typed.is_error());
    assert_eq!(typed.meta["error.message"], "card declined");
    assert_eq!(typed.meta["error.type"], "dd_trace::layer::tests::Declined");
    assert_eq!(
        typed.meta["error.stack"],
        "card declined\nCaused by:\n    0: issuer unavailable"
    );
    let dynamic = spans["dynamic"];
    assert!(dynamic.is_error());
    assert!(
        !dynamic.meta.contains_key("error.type"),
        "no type name behind dyn Error"
    );
    assert!(!spans["fine"].is_error());
}

#[test]
fn follows_from_becomes_a_span_link_with_the_sampled_flag() {
    let tracer = TestTracer::new();
    tracer.in_scope(|| {
        let first = info_span!("first");
        first.in_scope(|| {});
        let second = info_span!("second");
        second.follows_from(&first);
        drop(first);
        second.in_scope(|| {});
    });
    let chunks = tracer.chunks();
    assert_eq!(chunks.len(), 2, "two traces");
    let spans = tracer.exporter().spans();
    let spans = by_name(&spans);
    let (first, second) = (spans["first"], spans["second"]);
    assert_ne!(first.trace_id, second.trace_id);
    let link = &second.span_links[0];
    assert_eq!(link.trace_id, first.trace_id);
    assert_eq!(link.span_id, first.span_id);
    assert_eq!(link.flags, 0x8000_0001);
    let first_chunk = chunks.iter().find(|c| c.spans[0].name == "first").unwrap();
    assert_eq!(
        link.trace_id_high,
        first_chunk.trace_id().unwrap().high(),
        "the link carries all 128 bits"
    );
}

#[test]
fn set_tag_takes_runtime_keys_and_maps_values_like_fields() {
    let tracer = TestTracer::new();
    tracer.in_scope(|| {
        let span = info_span!(
            "request",
            plan = "free",
            http.status_code = tracing::field::Empty
        );
        let tenant = String::from("acme");
        span.set_tag(format!("tenant.{tenant}"), "gold"); // runtime key
        span.set_tag("plan", "paid"); // replaces the field's value
        span.set_tag("retries", 3u8);
        span.set_tag("latency.ratio", 0.25);
        span.set_tag("offset", -7i64);
        span.set_tag("cached", true);
        span.set_tag("http.status_code", 503); // a string tag, as Datadog expects
        span.set_tag("span.kind", "server");
        span.set_tag("header", &tenant);
        span.set_resource("GET /users/{id}");
        span.set_service("users-api");
        span.record("http.status_code", 504); // a later record still wins
    });
    let spans = tracer.spans();
    let s = &spans[0];
    assert_eq!(s.meta["tenant.acme"], "gold");
    assert_eq!(s.meta["plan"], "paid");
    assert_eq!(s.metrics["retries"], 3.0);
    assert_eq!(s.metrics["latency.ratio"], 0.25);
    assert_eq!(s.metrics["offset"], -7.0);
    assert_eq!(s.meta["cached"], "true");
    assert_eq!(s.meta["http.status_code"], "504");
    assert_eq!(s.meta["span.kind"], "server");
    assert_eq!(s.meta["header"], "acme");
    assert_eq!(s.resource, "GET /users/{id}");
    assert_eq!(s.service, "users-api");
    assert_eq!(s.meta["_dd.base_service"], "test-service");
    assert_eq!(s.metrics["_dd.top_level"], 1.0);
}

#[test]
fn the_write_api_reaches_the_layer_wherever_it_sits_in_the_stack() {
    // Not the outermost layer, behind a per-layer filter, inside a boxed layer.
    let exporter = InMemoryExporter::new();
    let (layer, guard) = DatadogLayer::builder()
        .with_variable_source(|_| None)
        .with_startup_logs(false)
        .with_in_memory_exporter(&exporter)
        .build()
        .unwrap();
    let filtered = layer.with_filter(tracing_subscriber::filter::filter_fn(|m| {
        m.name() != "hidden"
    }));
    let subscriber = tracing_subscriber::registry()
        .with(filtered.boxed())
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
    let (visible_ids, hidden_ids) = tracing::subscriber::with_default(subscriber, || {
        let span = info_span!("visible");
        let _e = span.enter();
        span.set_tag(String::from("dynamic.key"), "v");
        let hidden = info_span!("hidden");
        hidden.set_tag("lost", "nowhere to go");
        (span.datadog_ids(), hidden.datadog_ids())
    });
    guard.flush().unwrap();
    let spans = exporter.spans();
    assert_eq!(spans.len(), 1, "the filtered span is not sent");
    assert_eq!(spans[0].meta["dynamic.key"], "v");
    assert!(!spans[0].meta.contains_key("lost"));
    let visible_ids = visible_ids.expect("ids through the filter and the box");
    assert_eq!(visible_ids.span_id.to_u64(), spans[0].span_id);
    assert_eq!(
        hidden_ids,
        Some(visible_ids),
        "a hidden span reports its nearest recorded ancestor"
    );
}

#[test]
fn span_handles_without_a_datadog_layer_do_nothing() {
    let check = || {
        let span = info_span!("plain");
        span.set_tag("k", "v");
        span.set_resource("r");
        span.set_service("s");
        span.set_error(&declined());
        span.datadog_ids()
    };
    assert_eq!(check(), None, "no subscriber at all");
    let registry_only = tracing_subscriber::registry();
    assert_eq!(
        tracing::subscriber::with_default(registry_only, check),
        None
    );
    let disabled = TestTracer::with_builder(|b| b.with_enabled(false));
    assert_eq!(disabled.in_scope(check), None);
    assert!(disabled.spans().is_empty());
    assert_eq!(tracing::Span::none().datadog_ids(), None);
}

#[test]
fn two_layers_in_one_stack_send_each_span_once() {
    let build = |exporter: &InMemoryExporter| {
        DatadogLayer::builder()
            .with_variable_source(|_| None)
            .with_startup_logs(false)
            .with_in_memory_exporter(exporter)
            .build()
            .unwrap()
    };
    let (first_exporter, second_exporter) = (InMemoryExporter::new(), InMemoryExporter::new());
    let ((first, first_guard), (second, second_guard)) =
        (build(&first_exporter), build(&second_exporter));
    let subscriber = tracing_subscriber::registry().with(first).with(second);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..3 {
            let root = info_span!("root");
            root.set_tag("via", "ext");
            root.in_scope(|| info_span!("child").in_scope(|| {}));
        }
    });
    first_guard.flush().unwrap();
    second_guard.flush().unwrap();
    let (a, b) = (first_exporter.spans(), second_exporter.spans());
    assert_eq!(a.len() + b.len(), 6, "each span is sent once, by one layer");
    let roots: Vec<_> = a.iter().chain(&b).filter(|s| s.name == "root").collect();
    assert!(roots.iter().all(|r| r.meta["via"] == "ext"));
}

#[test]
fn sample_rate_decisions_and_their_tags_reach_every_chunk() {
    let tracer = TestTracer::with_builder(|b| b.with_sample_rate(0.0));
    tracer.in_scope(|| info_span!("root").in_scope(|| info_span!("child").in_scope(|| {})));
    let spans = tracer.spans();
    let root = spans.iter().find(|s| s.name == "root").unwrap();
    assert_eq!(root.metrics["_sampling_priority_v1"], -1.0);
    assert_eq!(root.metrics["_dd.rule_psr"], 0.0);
    assert_eq!(root.meta["_dd.p.ksr"], "0", "the first span of the chunk");
    assert!(
        !root.meta.contains_key("_dd.p.dm"),
        "no decision maker when dropped"
    );
    let child = spans.iter().find(|s| s.name == "child").unwrap();
    assert!(
        !child.metrics.contains_key("_dd.rule_psr"),
        "rates only on the local root"
    );
}

#[test]
fn trace_ids_print_as_log_correlation_writes_them() {
    let tracer = TestTracer::with_builder(|b| b.with_128_bit_trace_ids(false));
    let ids = tracer.in_scope(|| info_span!("root").datadog_ids().unwrap());
    assert_eq!(ids.trace_id.high(), 0);
    assert_eq!(ids.trace_id.to_string(), ids.trace_id.low().to_string());
    let tracer = TestTracer::new();
    let ids = tracer.in_scope(|| info_span!("root").datadog_ids().unwrap());
    assert_eq!(ids.trace_id.to_string().len(), 32);
    assert_eq!(
        TraceId::from_u128(u128::from_str_radix(&ids.trace_id.to_string(), 16).unwrap()),
        ids.trace_id
    );
    assert_eq!(ids.span_id.to_string(), ids.span_id.to_u64().to_string());
}

#[test]
fn partial_chunks_carry_the_trace_level_tags_too() {
    let tracer =
        TestTracer::with_builder(|b| b.with_partial_flush(true).with_partial_flush_min_spans(2));
    let root = tracer.in_scope(|| {
        let root = info_span!("long.job");
        root.in_scope(|| {
            for i in 0..4 {
                info_span!("item", i).in_scope(|| {});
            }
        });
        root
    });
    let partial = tracer.chunks();
    assert_eq!(partial.len(), 2);
    assert_eq!(tracer.status().counters.partial_flushes, 2);
    for chunk in &partial {
        assert_eq!(chunk.spans.len(), 2);
        assert_eq!(chunk.spans[0].metrics["_sampling_priority_v1"], 1.0);
        assert!(chunk.spans[0].meta.contains_key("_dd.p.tid"));
        assert!(!chunk.spans[1].meta.contains_key("_dd.p.tid"));
    }
    drop(root);
    assert_eq!(tracer.spans().len(), 5);
}

#[test]
fn status_handles_read_counters_without_the_guard() {
    let tracer = TestTracer::new();
    let handle = tracer.guard().status_handle();
    tracer.in_scope(|| info_span!("a").in_scope(|| {}));
    tracer.spans();
    let status = std::thread::spawn(move || handle.status()).join().unwrap();
    assert!(status.enabled);
    assert_eq!(status.agent_url, "in-memory");
    assert_eq!(status.counters.spans_sent, 1);
    assert_eq!(status.counters.payloads_sent, 1);
    assert_eq!(status.counters.spans_dropped(), 0);
}

#[test]
fn a_rule_on_a_resource_recorded_after_creation_applies() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_trace_sampling_rule(
            crate::sampling::TraceSamplingRule::new(0.0).with_resource("GET /health*"),
        )
        .with_trace_sampling_rule(
            crate::sampling::TraceSamplingRule::new(1.0).with_tag("http.status_code", "5??"),
        )
    });
    tracer.in_scope(|| {
        // Known at creation.
        info_span!("a", resource.name = "GET /health").in_scope(|| {});
        // Recorded later.
        let span = info_span!("b", resource.name = tracing::field::Empty);
        span.record("resource.name", "GET /healthz");
        drop(span);
        // Written through the span API, as a tag a rule looks at.
        let span = info_span!("c");
        span.set_tag("http.status_code", 503);
        drop(span);
        // No rule matches: the default.
        info_span!("d").in_scope(|| {});
    });
    let spans = tracer.spans();
    let spans = by_name(&spans);
    for name in ["a", "b"] {
        assert_eq!(spans[name].metrics["_sampling_priority_v1"], -1.0, "{name}");
        assert_eq!(spans[name].metrics["_dd.rule_psr"], 0.0, "{name}");
        assert!(!spans[name].metrics.contains_key("_dd.limit_psr"), "{name}");
    }
    let c = spans["c"];
    assert_eq!(c.metrics["_sampling_priority_v1"], 2.0);
    assert_eq!(c.meta["_dd.p.dm"], "-3");
    assert_eq!(c.metrics["_dd.rule_psr"], 1.0);
    assert_eq!(c.metrics["_dd.limit_psr"], 1.0);
    assert_eq!(c.meta["_dd.p.ksr"], "1");
    let d = spans["d"];
    assert_eq!(d.metrics["_sampling_priority_v1"], 1.0);
    assert_eq!(d.meta["_dd.p.dm"], "-0");
}

#[test]
fn a_locked_decision_no_longer_follows_the_root() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_trace_sampling_rule(
            crate::sampling::TraceSamplingRule::new(0.0).with_resource("late"),
        )
    });
    tracer.in_scope(|| {
        let span = info_span!("root");
        super::ext::lock_decision(&span); // as injecting its context will
        span.set_resource("late");
    });
    let spans = tracer.spans();
    assert_eq!(spans[0].resource, "late");
    assert_eq!(
        spans[0].metrics["_sampling_priority_v1"], 1.0,
        "decided before the lock"
    );
}

#[test]
fn manual_keep_and_drop_win_from_any_span_of_the_trace() {
    let tracer = TestTracer::with_builder(|b| b.with_sample_rate(0.0));
    tracer.in_scope(|| {
        info_span!("kept.by.field").in_scope(|| {
            info_span!("child", manual.keep = true).in_scope(|| {});
        });
        let root = info_span!("kept.by.api");
        root.in_scope(|| tracing::Span::current().keep_trace());
        drop(root);
        let root = info_span!("dropped.by.api");
        root.drop_trace();
        // A rule change after a manual decision does not override it.
        root.set_resource("anything");
        drop(root);
        let root = info_span!("kept.by.record", manual.keep = tracing::field::Empty);
        root.record("manual.keep", true);
        drop(root);
    });
    let spans = tracer.spans();
    for (name, priority) in [
        ("kept.by.field", 2.0),
        ("kept.by.api", 2.0),
        ("dropped.by.api", -1.0),
        ("kept.by.record", 2.0),
    ] {
        let s = spans.iter().find(|s| s.name == name).unwrap();
        assert_eq!(s.metrics["_sampling_priority_v1"], priority, "{name}");
        assert!(
            !s.metrics.contains_key("_dd.rule_psr"),
            "{name}: no rate tags"
        );
        assert!(!s.meta.contains_key("manual.keep"), "{name}: not a tag");
    }
    let kept = spans.iter().find(|s| s.name == "kept.by.field").unwrap();
    assert_eq!(
        kept.meta["_dd.p.dm"], "-4",
        "the chunk's first span, its root, carries dm"
    );
}

#[test]
fn span_rules_keep_matching_spans_of_dropped_traces() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_sample_rate(0.0).with_span_sampling_rule(
            crate::sampling::SpanSamplingRule::new(1.0)
                .with_name("db.*")
                .with_max_per_second(2.0),
        )
    });
    tracer.in_scope(|| {
        for _ in 0..3 {
            info_span!("request").in_scope(|| info_span!("db.query").in_scope(|| {}));
        }
    });
    let spans = tracer.spans();
    let db: Vec<_> = spans.iter().filter(|s| s.name == "db.query").collect();
    let kept: Vec<_> = db
        .iter()
        .filter(|s| s.metrics.contains_key("_dd.span_sampling.mechanism"))
        .collect();
    assert_eq!(kept.len(), 2, "the rule's limit");
    for s in kept {
        assert_eq!(s.metrics["_dd.span_sampling.mechanism"], 8.0);
        assert_eq!(s.metrics["_dd.span_sampling.rule_rate"], 1.0);
        assert_eq!(s.metrics["_dd.span_sampling.max_per_second"], 2.0);
    }
    assert!(spans
        .iter()
        .filter(|s| s.name == "request")
        .all(|s| !s.metrics.contains_key("_dd.span_sampling.mechanism")));
    // Kept traces are left alone.
    let tracer = TestTracer::with_builder(|b| {
        b.with_span_sampling_rule(crate::sampling::SpanSamplingRule::new(1.0))
    });
    tracer.in_scope(|| info_span!("kept").in_scope(|| {}));
    assert!(!tracer.spans()[0]
        .metrics
        .contains_key("_dd.span_sampling.mechanism"));
}

#[test]
fn the_status_shows_the_sampling_rules_in_effect() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_trace_sampling_rule(
            crate::sampling::TraceSamplingRule::new(0.5).with_service("web*"),
        )
        .with_sample_rate(0.1)
        .with_rate_limit(50.0)
        .with_span_sampling_rule(crate::sampling::SpanSamplingRule::new(1.0).with_name("db"))
    });
    let s = tracer.status().sampling;
    assert_eq!(
        s.trace_rules,
        [
            r#"{"service":"web*","sample_rate":0.5}"#,
            r#"{"sample_rate":0.1}"#
        ]
    );
    assert_eq!(s.rate_limit, 50.0);
    assert_eq!(s.span_rules, [r#"{"name":"db","sample_rate":1}"#]);
    assert!(s.applied_agent_rates.is_empty());
}

fn incoming(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

#[test]
fn decisions_replaced_by_a_remote_parent_leave_the_rate_limit_to_local_traces() {
    // A server span decides at its start, then adopts the caller's decision: the limiter must
    // not count that first decision, or continued requests would starve local traces.
    let tracer = TestTracer::with_builder(|b| {
        b.with_trace_sampling_rule(crate::sampling::TraceSamplingRule::new(1.0))
            .with_rate_limit(2.0)
    });
    let headers = incoming(&[
        ("x-datadog-trace-id", "7277407061855694839"),
        ("x-datadog-parent-id", "42"),
        ("x-datadog-sampling-priority", "1"),
    ]);
    tracer.in_scope(|| {
        for _ in 0..20 {
            let server = info_span!("continued");
            server.set_parent(super::extract(&headers).unwrap());
        }
        info_span!("local").in_scope(|| {});
    });
    let spans = tracer.spans();
    let local = by_name(&spans)["local"];
    assert_eq!(
        local.metrics["_sampling_priority_v1"], 2.0,
        "the limiter kept it"
    );
    assert_eq!(
        local.metrics["_dd.limit_psr"], 1.0,
        "only its own call counted"
    );
}

#[test]
fn a_local_rule_decision_travels_downstream_with_its_rate() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_trace_sampling_rule(crate::sampling::TraceSamplingRule::new(1.0))
    });
    let out = tracer.in_scope(|| {
        let mut out = http::HeaderMap::new();
        info_span!("client").inject_context(&mut out);
        out
    });
    let tags = out["x-datadog-tags"].to_str().unwrap();
    assert!(
        tags.contains("_dd.p.dm=-3") && tags.contains("_dd.p.ksr=1"),
        "{tags}"
    );
    let state = out["tracestate"].to_str().unwrap();
    assert!(state.contains(";t.ksr:1"), "{state}");
}

#[test]
fn global_tags_cannot_override_the_traces_own_tags() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_trace_sampling_rule(crate::sampling::TraceSamplingRule::new(1.0))
            .with_tag("_dd.p.dm", "-99")
            .with_tag("team", "checkout")
    });
    tracer.in_scope(|| info_span!("root").in_scope(|| {}));
    let span = &tracer.spans()[0];
    assert_eq!(span.meta["_dd.p.dm"], "-3", "the decision's, not DD_TAGS'");
    assert_eq!(span.meta["team"], "checkout");
}

#[test]
fn an_adopted_remote_parent_gives_the_trace_its_ids_priority_and_tags() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_trace_sampling_rule(crate::sampling::TraceSamplingRule::new(0.0))
    });
    let headers = incoming(&[
        ("x-datadog-trace-id", "7277407061855694839"),
        ("x-datadog-parent-id", "42"),
        ("x-datadog-sampling-priority", "2"),
        ("x-datadog-origin", "rum"),
        (
            "x-datadog-tags",
            "_dd.p.tid=6638b0e800000000,_dd.p.dm=-4,_dd.p.usr.id=dXNlcg==",
        ),
        ("baggage", "tenant=acme"),
    ]);
    let (ids, injected) = tracer.in_scope(|| {
        let server = info_span!("server", span.kind = "server");
        server.set_parent(super::extract(&headers).expect("a context"));
        let _e = server.enter();
        let ids = server.datadog_ids().unwrap();
        let client = info_span!("client", span.kind = "client");
        let mut out = http::HeaderMap::new();
        client.inject_context(&mut out);
        assert_eq!(client.baggage_item("tenant").as_deref(), Some("acme"));
        (ids, out)
    });
    assert_eq!(ids.trace_id.to_string(), "6638b0e80000000064fe8b2a57d3eff7");
    let spans = tracer.spans();
    let spans = by_name(&spans);
    let server = spans["server"];
    assert_eq!(server.trace_id, 7_277_407_061_855_694_839);
    assert_eq!(server.parent_id, 42);
    assert_eq!(
        server.metrics["_sampling_priority_v1"], 2.0,
        "upstream, not the rule"
    );
    assert!(!server.metrics.contains_key("_dd.rule_psr"));
    assert_eq!(server.meta["_dd.origin"], "rum");
    assert_eq!(spans["client"].meta["_dd.origin"], "rum", "on every span");
    assert_eq!(spans["client"].parent_id, server.span_id);
    let first = &tracer.chunks()[0].spans[0];
    assert_eq!(first.meta["_dd.p.dm"], "-4");
    assert_eq!(first.meta["_dd.p.usr.id"], "dXNlcg==");
    assert_eq!(first.meta["_dd.p.tid"], "6638b0e800000000");
    // Handed on downstream unchanged, from the client span.
    assert_eq!(injected["x-datadog-trace-id"], "7277407061855694839");
    assert_eq!(
        injected["x-datadog-parent-id"],
        spans["client"].span_id.to_string()
    );
    assert_eq!(injected["x-datadog-sampling-priority"], "2");
    assert_eq!(injected["x-datadog-origin"], "rum");
    assert_eq!(
        injected["x-datadog-tags"],
        "_dd.p.tid=6638b0e800000000,_dd.p.dm=-4,_dd.p.usr.id=dXNlcg=="
    );
    assert_eq!(injected["baggage"], "tenant=acme");
    assert!(injected["traceparent"]
        .to_str()
        .unwrap()
        .starts_with("00-6638b0e80000000064fe8b2a57d3eff7-"));
}

#[test]
fn a_context_without_a_priority_is_sampled_here_and_injection_locks_the_decision() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_trace_sampling_rule(
            crate::sampling::TraceSamplingRule::new(0.0).with_resource("late"),
        )
    });
    let headers = incoming(&[("x-datadog-trace-id", "10"), ("x-datadog-parent-id", "20")]);
    let out = tracer.in_scope(|| {
        let span = info_span!("server");
        span.set_parent(super::extract(&headers).unwrap());
        let mut out = http::HeaderMap::new();
        span.inject_context(&mut out);
        // Too late: what was sent downstream holds.
        span.set_resource("late");
        out
    });
    assert_eq!(out["x-datadog-sampling-priority"], "1");
    let spans = tracer.spans();
    assert_eq!(spans[0].trace_id, 10);
    assert_eq!(spans[0].metrics["_sampling_priority_v1"], 1.0);
    assert_eq!(spans[0].meta["_dd.p.dm"], "-0");
}

#[test]
fn a_span_with_a_local_parent_that_adopts_a_remote_one_starts_its_own_trace_here() {
    let tracer = TestTracer::new();
    let headers = incoming(&[
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("tracestate", "dd=s:1;p:00f067aa0ba902b7,congo=t61rcWkgMzE"),
    ]);
    tracer.in_scope(|| {
        let connection = info_span!("connection");
        let _c = connection.enter();
        let request = info_span!("request");
        request.set_parent(super::extract(&headers).unwrap());
        request.in_scope(|| info_span!("handler").in_scope(|| {}));
    });
    let chunks = tracer.chunks();
    assert_eq!(chunks.len(), 2, "{chunks:#?}");
    let request_chunk = chunks
        .iter()
        .find(|c| c.spans.iter().any(|s| s.name == "request"))
        .unwrap();
    assert_eq!(
        request_chunk.trace_id().unwrap().to_u128(),
        0x0af7651916cd43dd8448eb211c80319c
    );
    let spans = by_name(&request_chunk.spans);
    assert_eq!(spans["request"].parent_id, 0xb7ad6b7169203331);
    assert_eq!(spans["request"].meta["_dd.parent_id"], "00f067aa0ba902b7");
    assert_eq!(spans["request"].metrics["_dd.top_level"], 1.0);
    assert_eq!(spans["handler"].parent_id, spans["request"].span_id);
    let connection_chunk = chunks
        .iter()
        .find(|c| c.spans[0].name == "connection")
        .unwrap();
    assert_eq!(
        connection_chunk.spans.len(),
        1,
        "the connection trace ends on its own"
    );
}

#[test]
fn baggage_is_read_written_and_removed_through_the_span() {
    let tracer = TestTracer::new();
    let out = tracer.in_scope(|| {
        let root = info_span!("root");
        root.set_baggage_item("user.id", "42");
        root.set_baggage_item("tier", "gold");
        root.set_baggage_item("tier", "silver");
        root.remove_baggage_item("user.id");
        let _e = root.enter();
        let child = info_span!("child");
        assert_eq!(
            child.baggage(),
            [("tier".to_string(), "silver".to_string())]
        );
        let mut out = http::HeaderMap::new();
        child.inject_context(&mut out);
        out
    });
    assert_eq!(out["baggage"], "tier=silver");
    assert_eq!(info_span!("no.subscriber").baggage_item("tier"), None);
}

#[test]
fn extraction_uses_the_current_tracers_styles() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_propagation_styles(&[crate::headers::PropagationStyle::B3Multi])
    });
    let headers = incoming(&[
        ("x-datadog-trace-id", "10"),
        ("x-datadog-parent-id", "20"),
        ("x-b3-traceid", "000000000000000a"),
        ("x-b3-spanid", "0000000000000063"),
        ("x-b3-sampled", "1"),
    ]);
    let (ctx, out) = tracer.in_scope(|| {
        let ctx = super::extract(&headers).unwrap();
        let span = info_span!("s");
        span.set_parent(ctx.clone());
        let mut out = http::HeaderMap::new();
        span.inject_context(&mut out);
        (ctx, out)
    });
    assert_eq!(
        ctx.parent_id().map(SpanId::to_u64),
        Some(99),
        "only b3multi is read"
    );
    assert!(
        out.get("x-datadog-trace-id").is_none(),
        "only b3multi is written"
    );
    assert_eq!(out["x-b3-traceid"], "000000000000000a");
}

#[test]
fn events_at_or_above_the_level_become_span_events_on_their_span() {
    let tracer = TestTracer::with_builder(|b| b.with_span_events(Some(tracing::Level::INFO)));
    tracer.in_scope(|| {
        info_span!("request").in_scope(|| {
            tracing::info!(user = 7, paid = true, ratio = 0.5, "charged");
            tracing::debug!("too verbose");
            tracing::warn!(reason = "slow", "retrying");
        });
        tracing::info!("outside any span");
    });
    let spans = tracer.spans();
    let span = &spans[0];
    let events: serde_json::Value = serde_json::from_str(&span.meta["events"]).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0]["name"], "charged");
    assert_eq!(events[0]["attributes"]["user"], 7);
    assert_eq!(events[0]["attributes"]["paid"], true);
    assert_eq!(events[0]["attributes"]["ratio"], 0.5);
    assert_eq!(events[1]["name"], "retrying");
    assert_eq!(events[1]["attributes"]["reason"], "slow");
    let t = events[0]["time_unix_nano"].as_i64().unwrap();
    assert!(t >= span.start && t <= span.start + span.duration);
    // Off by default.
    let plain = TestTracer::new();
    plain.in_scope(|| info_span!("r").in_scope(|| tracing::info!("x")));
    assert!(!plain.spans()[0].meta.contains_key("events"));
}

#[test]
fn v0_5_payloads_carry_what_v0_4_payloads_carry() {
    let run = |protocol: &'static str| {
        let tracer = TestTracer::with_builder(|b| {
            b.with_variable_source(move |k| {
                (k == "DD_TRACE_AGENT_PROTOCOL_VERSION").then(|| protocol.to_string())
            })
            .with_service("shop")
            .with_env("test")
            .with_tag("team", "core")
        });
        tracer.in_scope(|| {
            let root = info_span!("request", resource.name = "GET /users/{id}", span.type = "web", user_id = 7);
            let _r = root.enter();
            let child = info_span!("db.query", service.name = "db", error = true);
            let linked = root.datadog_ids().unwrap();
            child.add_link(super::Link::to_span(linked).with_attribute("why", "test"));
            child.in_scope(|| {});
        });
        let mut spans = tracer.spans();
        spans.sort_by_key(|s| s.name.clone());
        spans
    };
    let (v4, v5) = (run("0.4"), run("0.5"));
    assert_eq!(v4.len(), 2);
    for (a, b) in v4.iter().zip(&v5) {
        assert_eq!(
            (&a.name, &a.resource, &a.service),
            (&b.name, &b.resource, &b.service)
        );
        assert_eq!(
            a.span_type.as_deref().unwrap_or(""),
            b.span_type.as_deref().unwrap_or("")
        );
        assert_eq!(a.error, b.error);
        assert_eq!(a.parent_id == 0, b.parent_id == 0);
        assert_eq!(
            a.metrics.keys().collect::<Vec<_>>(),
            b.metrics.keys().collect::<Vec<_>>()
        );
        // The same tags (ids and the runtime differ); links as a tag in v0.5.
        let keys = |s: &CapturedSpan| {
            s.meta
                .keys()
                .filter(|k| *k != "_dd.span_links")
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(a), keys(b), "{}", a.name);
        assert_eq!(a.span_links.len(), b.span_links.len(), "{}", a.name);
        for (la, lb) in a.span_links.iter().zip(&b.span_links) {
            assert_eq!(la.attributes, lb.attributes);
            assert_eq!(la.flags, lb.flags);
        }
    }
    let db = v5.iter().find(|s| s.name == "db.query").unwrap();
    assert_eq!(db.meta["team"], "core");
    assert_eq!(db.span_links[0].attributes["why"], "test");
}

#[test]
fn a_manual_decision_made_before_adopting_a_remote_parent_stays() {
    let tracer = TestTracer::new();
    let headers = incoming(&[
        ("x-datadog-trace-id", "10"),
        ("x-datadog-parent-id", "20"),
        ("x-datadog-sampling-priority", "1"),
    ]);
    tracer.in_scope(|| {
        let span = info_span!("server");
        span.drop_trace();
        span.set_parent(super::extract(&headers).unwrap());
        let child = info_span!(parent: &span, "handler");
        child.in_scope(|| {});
        // From a child whose parent had a local parent: the span moves to the remote trace.
        let outer = info_span!("outer");
        let inner = info_span!(parent: &outer, "inner");
        inner.keep_trace();
        inner.set_parent(super::extract(&headers).unwrap());
        drop(inner);
        drop(outer);
    });
    let spans = tracer.spans();
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    assert_eq!(span("server").trace_id, 10);
    assert_eq!(
        span("server").metrics["_sampling_priority_v1"],
        -1.0,
        "the manual drop, not the upstream keep"
    );
    assert_eq!(span("inner").trace_id, 10);
    assert_eq!(span("inner").metrics["_sampling_priority_v1"], 2.0);
    assert_eq!(span("inner").meta["_dd.p.dm"], "-4");
}

#[test]
fn propagation_errors_land_on_the_local_root_as_the_spec_names_them() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_variable_source(|k| (k == "DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH").then(|| "40".into()))
    });
    let malformed = incoming(&[
        ("x-datadog-trace-id", "10"),
        ("x-datadog-parent-id", "20"),
        ("x-datadog-tags", "_dd.p.dm=-4,garbage"),
    ]);
    let long = incoming(&[
        ("x-datadog-trace-id", "11"),
        ("x-datadog-parent-id", "21"),
        ("x-datadog-tags", "_dd.p.a=1234567890,_dd.p.b=1234567890"),
    ]);
    let injected = tracer.in_scope(|| {
        let span = info_span!("malformed");
        span.set_parent(super::extract(&malformed).unwrap());
        drop(span);
        // Accepted at 37 bytes; with this tracer's decision maker (`_dd.p.dm=-0`: no priority
        // came) it is over 40 on injection.
        let span = info_span!("too.long");
        span.set_parent(super::extract(&long).unwrap());
        let mut out = http::HeaderMap::new();
        span.inject_context(&mut out);
        out
    });
    assert!(
        !injected.contains_key("x-datadog-tags"),
        "a header over the limit is not sent: {injected:?}"
    );
    let bad_dm = incoming(&[
        ("x-datadog-trace-id", "12"),
        ("x-datadog-parent-id", "22"),
        ("x-datadog-sampling-priority", "1"),
        ("x-datadog-tags", "_dd.p.dm=-999,_dd.p.usr.id=u"),
    ]);
    tracer.in_scope(|| {
        info_span!("bad.dm").set_parent(super::extract(&bad_dm).unwrap());
    });
    let spans = tracer.spans();
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    assert_eq!(
        span("malformed").meta["_dd.propagation_error"],
        "decoding_error"
    );
    assert_eq!(
        span("malformed").meta["_dd.p.dm"],
        "-0",
        "nothing kept from a malformed header: this tracer decided"
    );
    assert_eq!(
        span("too.long").meta["_dd.propagation_error"],
        "inject_max_size"
    );
    let bad = span("bad.dm");
    assert_eq!(bad.meta["_dd.propagation_error"], "decoding_error");
    assert!(!bad.meta.contains_key("_dd.p.dm"), "{:?}", bad.meta);
    assert_eq!(bad.meta["_dd.p.usr.id"], "u", "the other tags stay");
}

#[test]
fn the_status_counts_spans_started_and_finished_so_never_closed_ones_show() {
    let tracer = TestTracer::new();
    tracer.in_scope(|| {
        info_span!("request").in_scope(|| info_span!("db").in_scope(|| {}));
        // A span kept alive for ever, as a leaked future would keep it.
        std::mem::forget(info_span!("leaked"));
        let handle = std::thread::spawn({
            let dispatch = tracer.dispatch().clone();
            move || {
                tracing::dispatcher::with_default(&dispatch, || info_span!("other").in_scope(|| {}))
            }
        });
        handle.join().unwrap();
    });
    let c = tracer.status().counters;
    assert_eq!(c.spans_started, 4);
    assert_eq!(c.spans_finished, 3);
    assert_eq!(c.spans_open(), 1);
    assert!(tracer
        .status()
        .to_string()
        .contains("4 started, 3 finished, 1 open now"));
}

#[test]
fn a_b3_header_with_a_decision_alone_decides_a_new_trace_here() {
    let tracer = TestTracer::with_builder(|b| {
        b.with_extract_styles(&[
            crate::headers::PropagationStyle::B3Single,
            crate::headers::PropagationStyle::Datadog,
        ])
    });
    let denied = incoming(&[("b3", "0")]);
    // A full context in another style wins over the bare decision.
    let both = incoming(&[
        ("b3", "0"),
        ("x-datadog-trace-id", "10"),
        ("x-datadog-parent-id", "20"),
        ("x-datadog-sampling-priority", "1"),
    ]);
    let injected = tracer.in_scope(|| {
        let span = info_span!("denied");
        span.set_parent(super::extract(&denied).unwrap());
        let mut out = http::HeaderMap::new();
        span.inject_context(&mut out);
        drop(span);
        let span = info_span!("kept.manually");
        span.keep_trace();
        span.set_parent(super::extract(&denied).unwrap());
        drop(span);
        let span = info_span!("both");
        span.set_parent(super::extract(&both).unwrap());
        out
    });
    let spans = tracer.spans();
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    assert_ne!(span("denied").trace_id, 0, "a trace of its own");
    assert_eq!(span("denied").parent_id, 0);
    assert_eq!(span("denied").metrics["_sampling_priority_v1"], 0.0);
    // Handed on downstream as this tracer injects (datadog by default): the decision stays.
    assert_eq!(injected["x-datadog-sampling-priority"], "0", "{injected:?}");
    assert_eq!(span("kept.manually").metrics["_sampling_priority_v1"], 2.0);
    assert_eq!(span("both").trace_id, 10);
    assert_eq!(span("both").metrics["_sampling_priority_v1"], 1.0);
}

#[test]
fn events_at_any_time_given_are_recorded_without_a_panic() {
    let tracer = TestTracer::new();
    tracer.in_scope(|| {
        let span = info_span!("request");
        let far = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::MAX / 4);
        span.add_event("far.future", far, &[]);
        span.add_event("epoch", std::time::SystemTime::UNIX_EPOCH, &[]);
    });
    let spans = tracer.spans();
    let events: serde_json::Value = serde_json::from_str(&spans[0].meta["events"]).unwrap();
    let names: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["far.future", "epoch"]);
}

#[test]
fn live_setting_changes_reach_the_next_traces_without_a_restart() {
    let tracer = TestTracer::with_builder(|b| b.with_tag("team", "core"));
    let layer = tracer
        .dispatch()
        .downcast_ref::<DatadogLayer>()
        .expect("the layer");
    let config = std::sync::Arc::clone(layer.config());
    let trace = |name: &'static str| {
        tracer.in_scope(|| info_span!("root", otel.name = name).in_scope(|| {}));
    };
    trace("before");
    // Sent before the change: the worker writes `DD_TAGS` as they are when it encodes.
    let sent_before = tracer.spans();
    // As remote configuration will: a sample rate of 0, other tags, log injection off.
    config.update(|s| {
        s.sample_rate.value = Some(0.0);
        s.tags.value = vec![("team".into(), "payments".into())];
        s.logs_injection.value = false;
    });
    assert!(!layer.logs_injection());
    trace("after");
    // Tracing turned off: a new trace is not recorded at all.
    config.update(|s| s.enabled.value = false);
    trace("off");
    let spans = tracer.spans();
    assert_eq!(spans.len(), sent_before.len() + 1, "{spans:#?}");
    // `otel.name` names the span (see the conventions).
    let of = |name: &str| spans.iter().find(|s| s.name == name);
    let before = of("before").expect("recorded before the change");
    assert_eq!(before.metrics["_sampling_priority_v1"], 1.0);
    assert_eq!(before.meta["team"], "core");
    let after = of("after").expect("recorded after the change");
    assert_eq!(
        after.metrics["_sampling_priority_v1"], -1.0,
        "the new rate decided"
    );
    assert_eq!(after.metrics["_dd.rule_psr"], 0.0);
    assert_eq!(
        after.meta["team"], "payments",
        "the worker wrote the new tags"
    );
    assert!(
        of("off").is_none(),
        "tracing turned off records no new trace"
    );
}

#[test]
fn a_span_without_a_service_takes_its_nearest_ancestors() {
    let tracer = TestTracer::with_builder(|b| b.with_service("shop").with_version("1.2"));
    tracer.in_scope(|| {
        let root = info_span!("request");
        let _r = root.enter();
        let auth = info_span!("auth.check", service.name = "auth");
        let _a = auth.enter();
        let child = info_span!("auth.lookup");
        let _c = child.enter();
        info_span!("auth.cache").in_scope(|| {});
        info_span!("db.query", service.name = "users-db").in_scope(|| {});
    });
    let spans = tracer.spans();
    let spans = by_name(&spans);
    assert_eq!(spans["request"].service, "shop");
    assert_eq!(spans["auth.check"].service, "auth");
    assert_eq!(spans["auth.lookup"].service, "auth", "its parent's");
    assert_eq!(spans["auth.cache"].service, "auth", "its grandparent's");
    assert_eq!(spans["db.query"].service, "users-db", "its own wins");
    // A new service starts where it starts, not below.
    assert_eq!(spans["auth.check"].metrics["_dd.top_level"], 1.0);
    assert!(!spans["auth.lookup"].metrics.contains_key("_dd.top_level"));
    assert!(!spans["auth.cache"].metrics.contains_key("_dd.top_level"));
    assert_eq!(spans["db.query"].metrics["_dd.top_level"], 1.0);
    assert_eq!(spans["auth.lookup"].meta["_dd.base_service"], "shop");
    assert!(!spans["auth.lookup"].meta.contains_key("version"));
}

#[test]
fn a_service_the_parent_records_after_its_children_started_reaches_them() {
    let tracer = TestTracer::with_builder(|b| b.with_service("shop"));
    tracer.in_scope(|| {
        let parent = info_span!("handler", service.name = tracing::field::Empty);
        let _p = parent.enter();
        info_span!("early.child").in_scope(|| {});
        parent.record("service.name", "billing");
        info_span!("late.child").in_scope(|| {});
    });
    let spans = tracer.spans();
    let spans = by_name(&spans);
    assert_eq!(spans["handler"].service, "billing");
    assert_eq!(spans["early.child"].service, "billing");
    assert_eq!(spans["late.child"].service, "billing");
    assert!(!spans["early.child"].metrics.contains_key("_dd.top_level"));
}

#[test]
fn a_panic_inside_a_span_is_that_spans_error_and_the_trace_is_still_sent() {
    let tracer = TestTracer::new();
    tracer.in_scope(|| {
        let request = info_span!("checkout");
        let _e = request.enter();
        let caught = std::panic::catch_unwind(|| {
            info_span!("charge").in_scope(|| panic!("card declined: {}", 42));
        });
        assert!(caught.is_err());
    });
    let spans = tracer.spans();
    let spans = by_name(&spans);
    let charge = spans["charge"];
    assert!(charge.is_error());
    assert_eq!(charge.meta["error.type"], "panic");
    assert_eq!(charge.meta["error.message"], "card declined: 42");
    assert!(
        charge.meta["error.stack"].starts_with("panicked at ")
            && charge.meta["error.stack"].contains("tests.rs"),
        "{}",
        charge.meta["error.stack"]
    );
    assert!(!spans["checkout"].is_error(), "only the innermost span");
}

#[test]
fn a_panicking_task_marks_its_span_and_the_switch_turns_it_off() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for on in [true, false] {
        let tracer = TestTracer::with_builder(|b| b.with_panic_errors(on));
        tracer.in_scope(|| {
            runtime.block_on(async {
                let task =
                    tokio::spawn(async { panic!("worker gave up") }.instrument(info_span!("job")));
                assert!(task.await.unwrap_err().is_panic());
            })
        });
        let spans = tracer.spans();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].is_error(), on, "panic errors {on}");
        if on {
            assert_eq!(spans[0].meta["error.message"], "worker gave up");
        }
    }
}

#[test]
fn an_aborting_panic_has_the_tracer_send_what_has_finished() {
    // What the hook does before the process aborts (`panic = "abort"`), called directly; the
    // worker would not send on its own for a minute.
    let tracer =
        TestTracer::with_builder(|b| b.with_flush_interval(std::time::Duration::from_secs(60)));
    tracer.in_scope(|| info_span!("finished.before.the.panic").in_scope(|| {}));
    assert!(tracer.exporter().spans().is_empty(), "not sent yet");
    super::panics::flush_finished(std::time::Duration::from_secs(5));
    let sent = tracer.exporter().spans();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].name, "finished.before.the.panic");
}
