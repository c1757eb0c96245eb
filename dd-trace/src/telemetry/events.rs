//! The telemetry events, their envelope and headers, and the queue they wait in.
//!
//! In: what the worker reports (the configuration at start, remote changes, counters at each
//! heartbeat and at shutdown), on the worker thread. Out: [`TelemetryRequest`]s: `app-started`
//! alone first, then the other events batched in one `message-batch`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Value};

use super::MAX_QUEUED_EVENTS;
use crate::config::SettingValue;
use crate::health::CounterSnapshot;
use crate::identity::{Identity, LANGUAGE, RUSTC_VERSION, TRACER_VERSION};

/// The agent's telemetry proxy.
pub(crate) const PATH: &str = "/telemetry/proxy/api/v2/apmtelemetry";

/// The integrations this build has, by feature.
const INTEGRATIONS: &[(&str, bool)] = &[
    ("tower", cfg!(feature = "tower")),
    ("axum", cfg!(feature = "axum")),
    ("reqwest", cfg!(feature = "reqwest")),
    ("tonic", cfg!(feature = "tonic")),
    ("opentelemetry", cfg!(feature = "opentelemetry")),
];

/// One request to send.
#[derive(Debug)]
pub(crate) struct TelemetryRequest {
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
    /// Events in it.
    pub(crate) events: u64,
}

/// The telemetry client's state.
#[derive(Debug)]
pub(crate) struct Telemetry {
    identity: Arc<Identity>,
    debug: bool,
    seq_id: u64,
    /// `app-started` has gone into a request.
    started_sent: bool,
    queue: VecDeque<(&'static str, Value)>,
    /// Events dropped because the queue was full.
    pub(crate) dropped: u64,
    /// The counters at the previous metrics, for deltas.
    last: CounterSnapshot,
    host: Value,
}

impl Telemetry {
    /// A client for the tracer of `identity`; `debug` asks the intake to keep the requests
    /// for inspection (`DD_TRACE_DEBUG`).
    pub(crate) fn new(identity: Arc<Identity>, debug: bool) -> Self {
        let kernel = |file: &str| {
            std::fs::read_to_string(format!("/proc/sys/kernel/{file}"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let host = json!({
            "hostname": identity.hostname,
            "os": std::env::consts::OS,
            "architecture": std::env::consts::ARCH,
            "kernel_name": kernel("ostype"),
            "kernel_release": kernel("osrelease"),
            "kernel_version": kernel("version"),
        });
        Telemetry {
            identity,
            debug,
            seq_id: 0,
            started_sent: false,
            queue: VecDeque::new(),
            dropped: 0,
            last: CounterSnapshot::default(),
            host,
        }
    }

    fn push(&mut self, request_type: &'static str, payload: Value) {
        if self.queue.len() >= MAX_QUEUED_EVENTS {
            // The oldest goes, except `app-started`, which must be sent first.
            let oldest = usize::from(!self.started_sent && self.queue.len() > 1);
            self.queue.remove(oldest);
            self.dropped += 1;
        }
        self.queue.push_back((request_type, payload));
    }

    /// `app-started` with the configuration in effect, then the integrations.
    pub(crate) fn app_started(&mut self, configuration: &[SettingValue]) {
        self.push(
            "app-started",
            json!({
                "configuration": configuration_list(configuration),
                "error": { "code": 0, "message": "" },
            }),
        );
        let integrations: Vec<Value> = INTEGRATIONS
            .iter()
            .filter(|(_, compiled)| *compiled)
            .map(|(name, _)| {
                json!({
                    "name": name,
                    "enabled": true,
                    "version": TRACER_VERSION,
                    "auto_enabled": false,
                    "compatible": true,
                })
            })
            .collect();
        if !integrations.is_empty() {
            self.push(
                "app-integrations-change",
                json!({ "integrations": integrations }),
            );
        }
    }

    /// `app-client-configuration-change` with the settings as they are now.
    pub(crate) fn configuration_changed(&mut self, changed: &[SettingValue]) {
        if !changed.is_empty() {
            self.push(
                "app-client-configuration-change",
                json!({ "configuration": configuration_list(changed) }),
            );
        }
    }

    /// `app-heartbeat`, and the health counters since the previous metrics.
    pub(crate) fn heartbeat(&mut self, counters: &CounterSnapshot) {
        self.metrics(counters);
        self.push("app-heartbeat", json!({}));
    }

    /// The last metrics and `app-closing`.
    pub(crate) fn closing(&mut self, counters: &CounterSnapshot) {
        self.metrics(counters);
        self.push("app-closing", json!({}));
    }

    fn metrics(&mut self, now: &CounterSnapshot) {
        let series = metric_series(&self.last, now, unix_seconds());
        self.last = *now;
        if !series.is_empty() {
            self.push(
                "generate-metrics",
                json!({ "namespace": "tracers", "series": series }),
            );
        }
    }

    /// Whether events wait.
    pub(crate) fn has_events(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The next request: `app-started` alone, then everything waiting in one batch.
    pub(crate) fn next_request(&mut self) -> Option<TelemetryRequest> {
        let first = (!self.started_sent)
            .then(|| self.queue.iter().position(|(t, _)| *t == "app-started"))
            .flatten();
        // Whatever happens, `app-started` is looked for once: events never wait for it.
        self.started_sent = true;
        let (request_type, payload, events) = if let Some(i) = first {
            let (t, p) = self.queue.remove(i)?;
            (t, p, 1)
        } else if self.queue.len() == 1 {
            let (t, p) = self.queue.pop_front()?;
            (t, p, 1)
        } else if self.queue.is_empty() {
            return None;
        } else {
            let batch: Vec<Value> = self
                .queue
                .drain(..)
                .map(|(t, p)| json!({ "request_type": t, "payload": p }))
                .collect();
            let n = batch.len() as u64;
            ("message-batch", Value::Array(batch), n)
        };
        self.seq_id += 1;
        let id = &*self.identity;
        let mut body = json!({
            "api_version": "v2",
            "request_type": request_type,
            "tracer_time": unix_seconds(),
            "runtime_id": id.runtime_id,
            "seq_id": self.seq_id,
            "application": {
                "service_name": id.service,
                "env": id.env.as_deref().unwrap_or(""),
                "service_version": id.version.as_deref().unwrap_or(""),
                "language_name": LANGUAGE,
                "language_version": RUSTC_VERSION,
                "tracer_version": TRACER_VERSION,
                "runtime_name": "rustc",
                "runtime_version": RUSTC_VERSION,
            },
            "host": self.host,
            "payload": payload,
        });
        let mut headers = vec![
            ("dd-telemetry-api-version", "v2".to_string()),
            ("dd-telemetry-request-type", request_type.to_string()),
            ("dd-client-library-language", LANGUAGE.to_string()),
            ("dd-client-library-version", TRACER_VERSION.to_string()),
            ("dd-agent-hostname", id.hostname.clone()),
            ("dd-session-id", id.runtime_id.clone()),
        ];
        if !id.process_tags.is_empty() {
            body["application"]["process_tags"] = Value::String(id.process_tags.clone());
        }
        if self.debug {
            body["debug"] = Value::Bool(true);
            headers.push(("dd-telemetry-debug-enabled", "true".to_string()));
        }
        if let Some(env) = &id.env {
            headers.push(("dd-agent-env", env.clone()));
        }
        Some(TelemetryRequest {
            headers,
            body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
            events,
        })
    }
}

/// Settings as telemetry lists them: name, value, origin.
fn configuration_list(settings: &[SettingValue]) -> Vec<Value> {
    settings
        .iter()
        .map(|s| {
            let mut item = json!({ "name": s.name, "value": s.value, "origin": s.origin.as_str() });
            if let Some(id) = &s.config_id {
                item["config_id"] = Value::String(id.clone());
            }
            item
        })
        .collect()
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The health counters' changes from `before` to `now`, as `count` series at `at`.
pub(crate) fn metric_series(
    before: &CounterSnapshot,
    now: &CounterSnapshot,
    at: u64,
) -> Vec<Value> {
    let delta = |f: fn(&CounterSnapshot) -> u64| f(now).saturating_sub(f(before));
    let mut series: Vec<(&str, Option<String>, u64)> = vec![
        ("spans_created", None, delta(|c| c.spans_started)),
        ("spans_finished", None, delta(|c| c.spans_finished)),
        ("spans_sent", None, delta(|c| c.spans_sent)),
        ("trace_chunks_sent", None, delta(|c| c.chunks_sent)),
        (
            "trace_partial_flush.count",
            None,
            delta(|c| c.partial_flushes),
        ),
        (
            "trace_api.requests",
            None,
            delta(|c| c.payloads_sent + c.failed_send_attempts),
        ),
        ("trace_api.errors", None, delta(|c| c.failed_send_attempts)),
        ("trace_api.bytes", None, delta(|c| c.bytes_sent)),
    ];
    for ((reason, _, n), (_, _, was)) in now.drops().into_iter().zip(before.drops()) {
        series.push((
            "spans_dropped",
            Some(reason.to_string()),
            n.saturating_sub(was),
        ));
    }
    for (reason, count) in [
        ("queue_full", delta(|c| c.chunks_dropped_queue_full)),
        ("send_failed", delta(|c| c.chunks_dropped_send_failed)),
        ("shutdown", delta(|c| c.chunks_dropped_shutdown)),
    ] {
        series.push(("trace_chunks_dropped", Some(reason.to_string()), count));
    }
    series
        .into_iter()
        .filter(|(_, _, n)| *n > 0)
        .map(|(metric, reason, n)| {
            let tags: Vec<String> = reason.map(|r| format!("reason:{r}")).into_iter().collect();
            json!({
                "metric": metric,
                "points": [[at, n]],
                "tags": tags,
                "common": true,
                "type": "count",
            })
        })
        .collect()
}
