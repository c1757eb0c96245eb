//! A tonic server and client, each with one layer of dd-trace, calling gRPC's health service:
//! one trace per call at Datadog's test agent, the call's status on both spans.

use dd_trace::integrations::grpc::{DatadogGrpcClientLayer, DatadogGrpcServerLayer};
use dd_trace_test_support::{runtime_with, tracer, TestAgent};
use serde_json::Value;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::ServingStatus;
use tower_layer::Layer;

#[test]
fn grpc_calls_arrive_as_rpc_spans_with_their_status() {
    let agent = TestAgent::start();
    let (dispatch, guard) = tracer(&agent.unix_url(), &[("DD_SERVICE", "cart")]);
    let runtime = runtime_with(&dispatch);
    // The client runs on this thread: the tracer is its default here too.
    let _default = tracing::dispatcher::set_default(&dispatch);
    let codes = runtime.block_on(async {
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("shop.Cart", ServingStatus::Serving)
            .await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(DatadogGrpcServerLayer::new())
                .add_service(health)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let channel = tonic::transport::Endpoint::from_shared(address)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = HealthClient::new(DatadogGrpcClientLayer::new().layer(channel));
        let mut codes = Vec::new();
        for service in ["shop.Cart", "shop.Missing"] {
            let reply = client
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await;
            codes.push(
                reply
                    .map(|_| 0)
                    .unwrap_or_else(|status| status.code() as i32),
            );
        }
        codes
    });
    assert_eq!(codes, [0, 5], "SERVING, then NOT_FOUND");
    drop(guard);

    // hyper and h2 have spans of their own (at DEBUG and TRACE, which this subscriber lets
    // through): only the calls' are looked at.
    let traces: Vec<Vec<Value>> = agent
        .traces()
        .into_iter()
        .map(|t| {
            t.into_iter()
                .filter(|s| s["meta"]["rpc.system"] == "grpc")
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(traces.len(), 2, "{traces:#?}");
    for trace in &traces {
        assert_eq!(
            trace.len(),
            2,
            "a client span and its server span: {trace:#?}"
        );
        let kind = |k: &str| -> &Value {
            trace
                .iter()
                .find(|s| s["meta"]["span.kind"] == k)
                .unwrap_or_else(|| panic!("{trace:#?}"))
        };
        let (client, server) = (kind("client"), kind("server"));
        assert_eq!(
            server["parent_id"], client["span_id"],
            "one trace across the call"
        );
        assert_eq!(client["name"], "grpc.client.request");
        assert_eq!(server["name"], "grpc.server.request");
        for span in [client, server] {
            assert_eq!(span["resource"], "/grpc.health.v1.Health/Check");
            assert_eq!(span["type"], "rpc");
            assert_eq!(span["meta"]["rpc.system"], "grpc");
            assert_eq!(span["meta"]["rpc.service"], "grpc.health.v1.Health");
            assert_eq!(span["meta"]["rpc.method"], "Check");
        }
    }
    let by_status = |code: f64| -> Vec<&Value> {
        traces
            .iter()
            .flatten()
            .filter(|s| s["metrics"]["rpc.grpc.status_code"] == code)
            .collect()
    };
    assert!(by_status(0.0).iter().all(|s| s["error"] == 0));
    let not_found = by_status(5.0);
    assert_eq!(not_found.len(), 2);
    for span in not_found {
        let client = span["meta"]["span.kind"] == "client";
        assert_eq!(
            span["error"],
            i32::from(client),
            "NOT_FOUND fails the client only: {span:#}"
        );
        if client {
            assert!(
                span["meta"]["error.message"]
                    .as_str()
                    .unwrap()
                    .starts_with("gRPC status 5 NOT_FOUND"),
                "{span:#}"
            );
        }
    }
}
