//! The integrations against in-process services, on the in-memory exporter.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use crate::testing::TestTracer;

/// A service answering every request with `status` (and an error message extension for 5xx),
/// recording the headers it saw.
#[derive(Clone)]
struct Answer {
    status: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<http::HeaderMap>>>,
}

impl Answer {
    fn new(status: u16) -> Self {
        Answer {
            status,
            seen: Default::default(),
        }
    }
}

impl tower_service::Service<http::Request<()>> for Answer {
    type Response = http::Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<()>) -> Self::Future {
        self.seen.lock().unwrap().push(request.headers().clone());
        // What a handler would log or trace runs inside the server span.
        tracing::info_span!("handler").in_scope(|| {});
        let mut response = http::Response::builder()
            .status(self.status)
            .body(())
            .unwrap();
        if self.status >= 500 {
            response
                .extensions_mut()
                .insert(super::tower::ErrorMessage("inventory unavailable".into()));
        }
        ready(Ok(response))
    }
}

fn call<S>(service: &mut S, request: http::Request<()>) -> http::Response<()>
where
    S: tower_service::Service<http::Request<()>, Response = http::Response<()>>,
    S::Error: std::fmt::Debug,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(service.call(request)).unwrap()
}

#[test]
fn the_server_layer_continues_the_callers_trace_and_tags_the_request() {
    use tower_layer::Layer as _;
    let tracer = TestTracer::new();
    let mut service = super::tower::DatadogServerLayer::new().layer(Answer::new(200));
    tracer.in_scope(|| {
        let request = http::Request::builder()
            .method("POST")
            .uri("/orders/123?token=secret")
            .header("host", "shop.local")
            .header("x-datadog-trace-id", "42")
            .header("x-datadog-parent-id", "7")
            .header("x-datadog-sampling-priority", "2")
            .body(())
            .unwrap();
        call(&mut service, request);
    });
    let spans = tracer.spans();
    let server = spans.iter().find(|s| s.name == "http.request").unwrap();
    assert_eq!(server.trace_id, 42);
    assert_eq!(server.parent_id, 7);
    assert_eq!(server.metrics["_sampling_priority_v1"], 2.0);
    assert_eq!(server.meta["span.kind"], "server");
    assert_eq!(server.span_type.as_deref(), Some("web"));
    assert_eq!(
        server.resource, "POST",
        "no route known: never the raw path"
    );
    assert_eq!(server.meta["http.method"], "POST");
    assert_eq!(server.meta["http.url"], "http://shop.local/orders/123");
    assert_eq!(server.meta["http.status_code"], "200");
    assert!(!server.is_error());
    let handler = spans.iter().find(|s| s.name == "handler").unwrap();
    assert_eq!(
        handler.parent_id, server.span_id,
        "the span is current in the handler"
    );
}

#[test]
fn a_5xx_response_marks_the_server_span_with_the_handlers_message() {
    use tower_layer::Layer as _;
    let tracer = TestTracer::new();
    let mut service = super::tower::DatadogServerLayer::new().layer(Answer::new(503));
    tracer.in_scope(|| {
        call(
            &mut service,
            http::Request::builder().uri("/stock").body(()).unwrap(),
        )
    });
    let spans = tracer.spans();
    let server = spans.iter().find(|s| s.name == "http.request").unwrap();
    assert!(server.is_error());
    assert_eq!(server.meta["error.message"], "inventory unavailable");
    assert_eq!(server.meta["http.status_code"], "503");
}

#[test]
fn the_client_layer_injects_the_context_of_its_span() {
    use tower_layer::Layer as _;
    let tracer = TestTracer::new();
    let inner = Answer::new(404);
    let seen = inner.seen.clone();
    let mut client = super::tower::DatadogClientLayer::new().layer(inner);
    tracer.in_scope(|| {
        tracing::info_span!("job").in_scope(|| {
            call(
                &mut client,
                http::Request::builder()
                    .uri("http://inventory:8080/stock/9?x=1")
                    .body(())
                    .unwrap(),
            )
        })
    });
    let spans = tracer.spans();
    let client_span = spans.iter().find(|s| s.name == "http.request").unwrap();
    let job = spans.iter().find(|s| s.name == "job").unwrap();
    assert_eq!(client_span.parent_id, job.span_id);
    assert_eq!(client_span.meta["span.kind"], "client");
    assert_eq!(
        client_span.meta["http.url"],
        "http://inventory:8080/stock/9"
    );
    assert!(client_span.is_error(), "4xx for a client");
    let headers = &seen.lock().unwrap()[0];
    assert_eq!(
        headers["x-datadog-parent-id"],
        client_span.span_id.to_string(),
        "the server sees the client span as its parent"
    );
    assert_eq!(
        headers["x-datadog-trace-id"],
        client_span.trace_id.to_string()
    );
}

#[test]
fn the_opentelemetry_propagator_speaks_the_configured_styles_both_ways() {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    let tracer = TestTracer::with_builder(|b| {
        b.with_propagation_styles(&[
            crate::headers::PropagationStyle::Datadog,
            crate::headers::PropagationStyle::TraceContext,
        ])
    });
    let propagator = tracer.in_scope(super::opentelemetry::DatadogPropagator::new);
    let mut incoming = std::collections::HashMap::new();
    incoming.insert(
        "traceparent".to_string(),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string(),
    );
    incoming.insert("tracestate".to_string(), "congo=t61rcWkgMzE".to_string());
    let cx = propagator.extract(&incoming);
    let sc = cx.span().span_context().clone();
    assert!(sc.is_remote() && sc.is_sampled());
    assert_eq!(
        sc.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(sc.span_id().to_string(), "b7ad6b7169203331");
    let mut outgoing = std::collections::HashMap::new();
    propagator.inject_context(&cx, &mut outgoing);
    assert_eq!(
        outgoing["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(
        outgoing["x-datadog-trace-id"],
        u64::from_str_radix("8448eb211c80319c", 16)
            .unwrap()
            .to_string()
    );
    // No `dd=` member with a sampled flag: the default mechanism, as `tracecontext` reads it.
    assert_eq!(
        outgoing["x-datadog-tags"],
        "_dd.p.tid=0af7651916cd43dd,_dd.p.dm=-0"
    );
    assert!(outgoing["tracestate"].ends_with(",congo=t61rcWkgMzE"));
    assert!(propagator.fields().any(|f| f == "x-datadog-trace-id"));
}
