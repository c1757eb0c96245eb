//! Testing support (cargo feature `testing`): an in-memory exporter that receives exactly what
//! the agent would, and a ready test tracer around it, to test instrumentation without an agent.
//!
//! With [`InMemoryExporter`], everything runs as in production (the layer, the hand-off queue,
//! the worker thread, the processing stage and the encoder) except the HTTP request: the
//! exporter is the worker's payload sink in place of the agent's transport, and decodes each
//! payload (v0.4 or v0.5; it refuses v1.0 as an agent without that endpoint would, so the
//! worker falls back) into [`CapturedChunk`]s of [`CapturedSpan`]s, plain structs with every
//! tag the agent would see.
//!
//! ```
//! use dd_trace::testing::TestTracer;
//! use dd_trace::DatadogSpanExt;
//!
//! let tracer = TestTracer::with_builder(|b| b.with_service("checkout").with_env("test"));
//! tracer.in_scope(|| {
//!     let span = tracing::info_span!("request", resource.name = "GET /cart");
//!     span.in_scope(|| tracing::info_span!("db.query").in_scope(|| {}));
//!     span.set_tag("cart.items", 3);
//! });
//! let spans = tracer.spans(); // flushes first
//! let request = spans.iter().find(|s| s.name == "request").unwrap();
//! assert_eq!(request.resource, "GET /cart");
//! assert_eq!(request.service, "checkout");
//! assert_eq!(request.meta["env"], "test");
//! assert_eq!(request.metrics["cart.items"], 3.0);
//! let child = spans.iter().find(|s| s.name == "db.query").unwrap();
//! assert_eq!(child.parent_id, request.span_id);
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

use crate::builder::DatadogLayerBuilder;
use crate::diagnostics::TracerStatus;
use crate::encode::{Payload, PayloadFormat};
use crate::export::send_error::SendError;
use crate::export::sink::{PayloadSink, SinkFuture};
use crate::guard::DatadogGuard;
use crate::health::{AgentInfo, AgentRatesReply};
use crate::layer::DatadogLayer;
use crate::model::id::TraceId;

/// One span as the agent receives it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct CapturedSpan {
    /// The low 64 bits of the trace id (the high bits are the chunk's `_dd.p.tid`; see
    /// [`CapturedChunk::trace_id`]).
    pub trace_id: u64,
    /// The span's id.
    pub span_id: u64,
    /// The parent's span id; 0 for a trace's root.
    pub parent_id: u64,
    /// The operation name.
    pub name: String,
    /// The resource.
    pub resource: String,
    /// The service.
    pub service: String,
    /// The span type (`web`, `db`, …), if any.
    #[serde(rename = "type", default)]
    pub span_type: Option<String>,
    /// Start, in nanoseconds since the Unix epoch.
    pub start: i64,
    /// Duration in nanoseconds.
    pub duration: i64,
    /// 1 for a failed span.
    pub error: i32,
    /// String tags.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// Numeric tags.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Links to other spans.
    #[serde(default)]
    pub span_links: Vec<CapturedLink>,
}

impl CapturedSpan {
    /// Whether the span is marked as failed.
    pub fn is_error(&self) -> bool {
        self.error != 0
    }
}

/// A span link as the agent receives it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CapturedLink {
    /// The linked trace id's low 64 bits.
    pub trace_id: u64,
    /// Its high 64 bits (0 when absent).
    #[serde(default)]
    pub trace_id_high: u64,
    /// The linked span's id.
    pub span_id: u64,
    /// W3C flags with bit 31 set, or 0 when absent.
    #[serde(default)]
    pub flags: u32,
    /// The linked context's W3C tracestate, if any.
    #[serde(default)]
    pub tracestate: Option<String>,
    /// Attributes, e.g. the reason for the link.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// A chunk of one trace's spans, as sent together.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CapturedChunk {
    /// The spans as sent: the trace's local root first (when the chunk holds it), then the
    /// others in the order they finished.
    pub spans: Vec<CapturedSpan>,
}

impl CapturedChunk {
    /// The chunk's full 128-bit trace id: the spans' `trace_id` with the first span's
    /// `_dd.p.tid` as the high bits.
    pub fn trace_id(&self) -> Option<TraceId> {
        let first = self.spans.first()?;
        let high = match first.meta.get("_dd.p.tid") {
            Some(tid) => u64::from_str_radix(tid, 16).ok()?,
            None => 0,
        };
        Some(TraceId::from_parts(high, first.trace_id))
    }
}

/// Receives what the tracer would send to the agent, in memory. Give it to
/// [`DatadogLayerBuilder::with_in_memory_exporter`]; clones share what was received.
#[derive(Clone, Debug, Default)]
pub struct InMemoryExporter {
    chunks: Arc<Mutex<Vec<CapturedChunk>>>,
}

impl InMemoryExporter {
    /// An exporter that has received nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every chunk received so far, in the order received. Only what the worker delivered is
    /// here: call [`DatadogGuard::flush`] first.
    pub fn chunks(&self) -> Vec<CapturedChunk> {
        self.lock().clone()
    }

    /// Every span received so far, chunk after chunk.
    pub fn spans(&self) -> Vec<CapturedSpan> {
        self.lock()
            .iter()
            .flat_map(|c| c.spans.iter().cloned())
            .collect()
    }

    /// Forgets what was received.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<CapturedChunk>> {
        self.chunks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a payload as the agent would: decodes it, or rejects it with a 400.
    fn receive(&self, payload: &Payload) -> Result<Option<AgentRatesReply>, SendError> {
        let chunks: Vec<Vec<CapturedSpan>> = match payload.format {
            PayloadFormat::V04 => rmp_serde::from_slice(&payload.body)
                .map_err(|e| SendError::Status(400, format!("undecodable v0.4 payload: {e}")))?,
            PayloadFormat::V05 => decode_v05(&payload.body)
                .map_err(|e| SendError::Status(400, format!("undecodable v0.5 payload: {e}")))?,
            // As an agent without the endpoint: the tracer falls back to v0.4.
            PayloadFormat::V1 => {
                return Err(SendError::Status(
                    415,
                    "the in-memory exporter reads v0.4 and v0.5 payloads".into(),
                ))
            }
        };
        self.lock()
            .extend(chunks.into_iter().map(|spans| CapturedChunk { spans }));
        Ok(None)
    }
}

impl PayloadSink for InMemoryExporter {
    fn destination(&self) -> &str {
        "in-memory"
    }

    fn send<'a>(
        &'a self,
        payload: &'a Payload,
        _rates_version: Option<&'a str>,
        _deadline: Option<tokio::time::Instant>,
    ) -> SinkFuture<'a, Result<Option<AgentRatesReply>, SendError>> {
        let received = self.receive(payload);
        Box::pin(std::future::ready(received))
    }

    fn info(&self) -> SinkFuture<'_, Option<AgentInfo>> {
        // As an agent without `/info`: v0.4 payloads, nothing else advertised.
        Box::pin(std::future::ready(None))
    }

    fn post<'a>(
        &'a self,
        path: &'a str,
        _content_type: &'a str,
        _body: bytes::Bytes,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        let refused = SendError::Status(404, format!("the in-memory exporter has no {path}"));
        Box::pin(std::future::ready(Err(refused)))
    }
}

impl DatadogLayerBuilder {
    /// Delivers finished traces to `exporter` instead of the agent: everything else (the layer,
    /// the queue, the worker, the encoder) runs as in production. See [`crate::testing`].
    pub fn with_in_memory_exporter(mut self, exporter: &InMemoryExporter) -> Self {
        self.sink = Some(Arc::new(exporter.clone()));
        self
    }
}

/// A tracer that delivers to an [`InMemoryExporter`], with its dispatcher and guard: the
/// fixture for tests of instrumented code (see the [module docs](self)).
///
/// It reads no `DD_*` variable from the process environment and prints no startup line; its
/// service is `test-service` unless configured otherwise.
#[derive(Debug)]
pub struct TestTracer {
    dispatch: Dispatch,
    guard: DatadogGuard,
    exporter: InMemoryExporter,
}

impl Default for TestTracer {
    fn default() -> Self {
        Self::new()
    }
}

impl TestTracer {
    /// A `Registry` + [`DatadogLayer`] test tracer with the default configuration.
    ///
    /// # Panics
    /// If the tracer cannot be built (its worker thread cannot start).
    pub fn new() -> Self {
        Self::with_builder(|b| b)
    }

    /// A `Registry` + [`DatadogLayer`] test tracer whose builder `configure` adjusts.
    ///
    /// # Panics
    /// If `configure` makes the build fail.
    pub fn with_builder(
        configure: impl FnOnce(DatadogLayerBuilder) -> DatadogLayerBuilder,
    ) -> Self {
        Self::with_subscriber(configure, |layer| {
            Dispatch::new(tracing_subscriber::registry().with(layer))
        })
    }

    /// A test tracer whose layer goes into the subscriber `subscriber` builds (to add other
    /// layers, e.g. a log formatter).
    ///
    /// # Panics
    /// If `configure` makes the build fail.
    pub fn with_subscriber(
        configure: impl FnOnce(DatadogLayerBuilder) -> DatadogLayerBuilder,
        subscriber: impl FnOnce(DatadogLayer) -> Dispatch,
    ) -> Self {
        let exporter = InMemoryExporter::new();
        let builder = DatadogLayer::builder()
            .with_variable_source(|_| None)
            .with_startup_logs(false)
            .with_service("test-service");
        let (layer, guard) = configure(builder)
            .with_in_memory_exporter(&exporter)
            .build()
            .unwrap_or_else(|e| panic!("the test tracer does not build: {e}"));
        TestTracer {
            dispatch: subscriber(layer),
            guard,
            exporter,
        }
    }

    /// Runs `f` with this tracer as the thread's default subscriber.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    /// The dispatcher, e.g. for other threads or `WithSubscriber::with_subscriber` on futures.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    /// The guard.
    pub fn guard(&self) -> &DatadogGuard {
        &self.guard
    }

    /// The exporter.
    pub fn exporter(&self) -> &InMemoryExporter {
        &self.exporter
    }

    /// The tracer's status.
    pub fn status(&self) -> TracerStatus {
        self.guard.status()
    }

    /// Flushes, then returns every chunk delivered so far.
    ///
    /// # Panics
    /// If the flush times out or the worker has stopped.
    pub fn chunks(&self) -> Vec<CapturedChunk> {
        self.flush();
        self.exporter.chunks()
    }

    /// Flushes, then returns every span delivered so far.
    ///
    /// # Panics
    /// If the flush times out or the worker has stopped.
    pub fn spans(&self) -> Vec<CapturedSpan> {
        self.flush();
        self.exporter.spans()
    }

    fn flush(&self) {
        if let Err(e) = self.guard.flush() {
            panic!("the test tracer did not flush: {e}");
        }
    }
}

/// A v0.5 span: `[service, name, resource, trace_id, span_id, parent_id, start, duration,
/// error, meta, metrics, type]`, strings as indexes into the payload's table.
type V05Span = (
    u32,
    u32,
    u32,
    u64,
    u64,
    u64,
    i64,
    i64,
    i32,
    BTreeMap<u32, u32>,
    BTreeMap<u32, f64>,
    u32,
);

/// Decodes a v0.5 payload as the agent does (spec §1.4), into the v0.4 shape; span links come
/// back from the `_dd.span_links` tag.
fn decode_v05(body: &[u8]) -> Result<Vec<Vec<CapturedSpan>>, String> {
    let (strings, traces): (Vec<String>, Vec<Vec<V05Span>>) =
        rmp_serde::from_slice(body).map_err(|e| e.to_string())?;
    let s = |i: u32| {
        strings
            .get(i as usize)
            .cloned()
            .ok_or_else(|| format!("string index {i} out of range"))
    };
    traces
        .into_iter()
        .map(|chunk| {
            chunk
                .into_iter()
                .map(|span| {
                    let (service, name, resource, trace_id, span_id, parent_id) =
                        (span.0, span.1, span.2, span.3, span.4, span.5);
                    let meta = span
                        .9
                        .iter()
                        .map(|(k, v)| Ok((s(*k)?, s(*v)?)))
                        .collect::<Result<BTreeMap<_, _>, String>>()?;
                    let metrics = span
                        .10
                        .iter()
                        .map(|(k, v)| Ok((s(*k)?, *v)))
                        .collect::<Result<BTreeMap<_, _>, String>>()?;
                    let span_links = meta
                        .get("_dd.span_links")
                        .map(|json| links_from_json(json))
                        .transpose()?
                        .unwrap_or_default();
                    let kind = s(span.11)?;
                    Ok(CapturedSpan {
                        trace_id,
                        span_id,
                        parent_id,
                        name: s(name)?,
                        resource: s(resource)?,
                        service: s(service)?,
                        span_type: (!kind.is_empty()).then_some(kind),
                        start: span.6,
                        duration: span.7,
                        error: span.8,
                        meta,
                        metrics,
                        span_links,
                    })
                })
                .collect()
        })
        .collect()
}

/// `_dd.span_links` (v0.5's JSON form) as links.
fn links_from_json(json: &str) -> Result<Vec<CapturedLink>, String> {
    let list: Vec<serde_json::Value> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    list.iter()
        .map(|l| {
            let tid = l["trace_id"].as_str().ok_or("link without trace_id")?;
            let (high, low) = tid.split_at(tid.len().saturating_sub(16));
            let hex = |h: &str| u64::from_str_radix(h, 16).map_err(|e| e.to_string());
            Ok(CapturedLink {
                trace_id: hex(low)?,
                trace_id_high: if high.is_empty() { 0 } else { hex(high)? },
                span_id: hex(l["span_id"].as_str().ok_or("link without span_id")?)?,
                flags: l["flags"].as_u64().map_or(0, |f| (f as u32) | 0x8000_0000),
                tracestate: l["tracestate"].as_str().map(str::to_string),
                attributes: l["attributes"]
                    .as_object()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}
