//! The runner's side of the parametric API: the app as a local process, a client for its
//! endpoints (the same calls, names and composites the suite's `APMLibrary` client makes), and
//! the suite's ways of reading what the test agent received.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dd_trace_test_support::{http_request, TestAgent};
use serde_json::{json, Value};

/// What a scenario returns: `Err` says which check failed.
pub type Outcome = Result<(), String>;

/// Fails the scenario with a message, unless `cond`.
#[macro_export]
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            return Err(format!("line {}: {}", line!(), stringify!($cond)));
        }
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!("line {}: {}: {}", line!(), stringify!($cond), format!($($arg)+)));
        }
    };
}

/// A [`Scenario`] literal: `scenario!(id, [VAR => value, …], steps)`.
#[macro_export]
macro_rules! scenario {
    ($id:expr, [$($k:expr => $v:expr),* $(,)?], $run:expr) => {
        $crate::client::Scenario { id: $id, env: &[$(($k, $v)),*], run: $run }
    };
}

/// One ported scenario: the suite's test it comes from, the library environment, the steps.
pub struct Scenario {
    /// `file::Class::test[variant]`, as the suite names it.
    pub id: &'static str,
    pub env: &'static [(&'static str, &'static str)],
    pub run: fn(&mut Ctx<'_>) -> Outcome,
}

/// A span the app started.
#[derive(Clone, Copy, Debug)]
pub struct SpanRef {
    pub span_id: u64,
    pub trace_id: u64,
}

/// How `start_span` is called; all optional, as in the suite.
#[derive(Default)]
pub struct Start<'a> {
    pub service: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub parent_id: Option<u64>,
    pub typ: Option<&'a str>,
    pub tags: &'a [(&'a str, &'a str)],
}

/// The parametric app, as a child process of the runner.
pub struct App {
    child: Child,
    port: u16,
}

impl App {
    /// Starts the app with the suite's base environment (pointed at `agent`) plus `env`; a
    /// value of `"<unset>"` removes the variable. Waits until it answers.
    pub fn start(agent: &TestAgent, env: &[(&str, &str)]) -> App {
        let [port] = dd_trace_test_support::free_ports::<1>();
        let mut command = Command::new(app_binary());
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APM_TEST_CLIENT_SERVER_PORT", port.to_string())
            .env("DD_TRACE_AGENT_URL", agent.http_url())
            .env("DD_TRACE_STARTUP_LOGS", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            if *v == "<unset>" {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        let child = command.spawn().expect("the parametric app starts");
        let app = App { child, port };
        // The suite's readiness probe: an unknown path answers 404 once the server is up.
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_request(
            port,
            "GET",
            "/non-existent-endpoint-to-ping-until-the-server-starts",
            None,
        )
        .map(|(status, _)| status)
            != Ok(404)
        {
            assert!(
                Instant::now() < deadline,
                "the parametric app did not come up"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        app
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, text) = http_request(self.port, method, path, Some(&body.to_string()))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(status < 300, "{method} {path} answered {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/<profile>/examples/parametric`, built (or brought up to date) once per run.
pub fn app_binary() -> std::path::PathBuf {
    dd_trace_test_support::example_binary("parametric")
}

/// A scenario's view: the app and the agent.
pub struct Ctx<'a> {
    pub app: App,
    pub agent: &'a TestAgent,
}

/// Header pairs from literals.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Ctx<'_> {
    pub fn start_span(&self, name: &str, start: Start<'_>) -> SpanRef {
        let tags: Vec<Value> = start.tags.iter().map(|(k, v)| json!([k, v])).collect();
        let r = self.app.call(
            "POST",
            "/trace/span/start",
            json!({
                "name": name,
                "service": start.service,
                "resource": start.resource,
                "parent_id": start.parent_id,
                "type": start.typ,
                "span_tags": tags,
            }),
        );
        SpanRef {
            span_id: r["span_id"].as_u64().expect("a span id"),
            trace_id: r["trace_id"].as_u64().expect("a trace id"),
        }
    }

    /// `/trace/otel/start_span`: `kind` in OpenTelemetry Python's numbering (0 internal, 1
    /// server, 2 client, 3 producer, 4 consumer), `timestamp` in microseconds.
    pub fn otel_start(
        &self,
        name: &str,
        kind: Option<u8>,
        parent_id: Option<u64>,
        timestamp: Option<u64>,
        attributes: Value,
    ) -> SpanRef {
        let r = self.app.call(
            "POST",
            "/trace/otel/start_span",
            json!({
                "name": name,
                "span_kind": kind,
                "parent_id": parent_id,
                "timestamp": timestamp,
                "links": [],
                "events": [],
                "attributes": attributes,
            }),
        );
        SpanRef {
            span_id: r["span_id"].as_u64().expect("a span id"),
            trace_id: r["trace_id"].as_u64().expect("a trace id"),
        }
    }

    /// A `/trace/otel/<path>` call about `span`.
    pub fn otel(&self, path: &str, span: SpanRef, extra: Value) -> Value {
        let mut body = extra;
        body["span_id"] = json!(span.span_id);
        body["id"] = json!(span.span_id);
        self.app.call("POST", &format!("/trace/otel/{path}"), body)
    }

    pub fn root(&self, name: &str) -> SpanRef {
        self.start_span(name, Start::default())
    }

    pub fn finish(&self, span: SpanRef) {
        self.app.call(
            "POST",
            "/trace/span/finish",
            json!({"span_id": span.span_id}),
        );
    }

    pub fn set_meta(&self, span: SpanRef, key: &str, value: Value) {
        self.app.call(
            "POST",
            "/trace/span/set_meta",
            json!({"span_id": span.span_id, "key": key, "value": value}),
        );
    }

    pub fn set_metric(&self, span: SpanRef, key: &str, value: f64) {
        self.app.call(
            "POST",
            "/trace/span/set_metric",
            json!({"span_id": span.span_id, "key": key, "value": value}),
        );
    }

    pub fn span_call(&self, path: &str, span: SpanRef, extra: Value) -> Value {
        let mut body = extra;
        body["span_id"] = json!(span.span_id);
        self.app.call("POST", path, body)
    }

    pub fn get_call(&self, path: &str, body: Value) -> Value {
        self.app.call("GET", path, body)
    }

    /// `/trace/span/inject_headers`: the pairs, as sent.
    pub fn inject(&self, span: SpanRef) -> Vec<(String, String)> {
        let r = self.span_call("/trace/span/inject_headers", span, json!({}));
        r["http_headers"]
            .as_array()
            .expect("http_headers")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap_or_default().to_string(),
                    p[1].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// `/trace/span/extract_headers`: the id to start a child with.
    pub fn extract(&self, headers: &[(String, String)]) -> Option<u64> {
        let pairs: Vec<Value> = headers.iter().map(|(k, v)| json!([k, v])).collect();
        let r = self.app.call(
            "POST",
            "/trace/span/extract_headers",
            json!({"http_headers": pairs}),
        );
        r["span_id"].as_u64()
    }

    /// The suite's `dd_extract_headers_and_make_child_span`.
    pub fn extract_and_make_child_span(&self, name: &str, h: &[(&str, &str)]) -> SpanRef {
        let parent_id = self.extract(&headers(h));
        self.start_span(
            name,
            Start {
                parent_id,
                ..Start::default()
            },
        )
    }

    /// The suite's `dd_make_child_span_and_get_headers`: extract, child span `name`, inject
    /// while it is open, finish; the headers with lowercase names (the last of a name wins).
    pub fn make_child_span_and_get_headers(&self, h: &[(&str, &str)]) -> HashMap<String, String> {
        let span = self.extract_and_make_child_span("name", h);
        let injected = self.inject(span);
        self.finish(span);
        injected
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect()
    }

    /// `/trace/span/flush` then `/trace/stats/flush`, as leaving the suite's `with test_library` does.
    pub fn flush(&self) {
        self.app.call("POST", "/trace/span/flush", json!({}));
        self.app.call("POST", "/trace/stats/flush", json!({}));
    }

    /// `/trace/config`'s `config` object.
    pub fn config(&self) -> serde_json::Map<String, Value> {
        let r = self.app.call("GET", "/trace/config", json!({}));
        r["config"].as_object().cloned().expect("a config object")
    }

    /// The suite's `wait_for_num_traces`: polls for about 3 s until exactly `n` traces
    /// arrived; spans in each trace and the traces sorted by start.
    pub fn wait_for_num_traces(&self, n: usize) -> Result<Vec<Vec<Value>>, String> {
        self.wait_for(n, |traces| traces.len())
    }

    /// The suite's `wait_for_num_spans`.
    pub fn wait_for_num_spans(&self, n: usize) -> Result<Vec<Vec<Value>>, String> {
        self.wait_for(n, |traces| traces.iter().map(Vec::len).sum())
    }

    fn wait_for(
        &self,
        n: usize,
        count: impl Fn(&Vec<Vec<Value>>) -> usize,
    ) -> Result<Vec<Vec<Value>>, String> {
        let mut traces = Vec::new();
        for _ in 0..30 {
            traces = self.agent.session_traces();
            if count(&traces) == n {
                for t in &mut traces {
                    t.sort_by_key(|s| s["start"].as_i64().unwrap_or_default());
                }
                traces.sort_by_key(|t| t[0]["start"].as_i64().unwrap_or_default());
                return Ok(traces);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("expected {n}, got {}: {traces:?}", count(&traces)))
    }

    /// The suite's `find_only_span` after one trace.
    pub fn only_span(&self) -> Result<Value, String> {
        let traces = self.wait_for_num_traces(1)?;
        check!(traces[0].len() == 1, "{traces:?}");
        Ok(traces[0][0].clone())
    }
}

/// A `meta` tag of a span the agent received.
pub fn meta(span: &Value, key: &str) -> Option<String> {
    span["meta"][key].as_str().map(str::to_string)
}

/// A `metrics` value of a span the agent received.
pub fn metric(span: &Value, key: &str) -> Option<f64> {
    span["metrics"][key].as_f64()
}

/// An id field of a span the agent received.
pub fn id_of(span: &Value, key: &str) -> u64 {
    span[key].as_u64().unwrap_or_default()
}

/// The span in `traces` with these ids.
pub fn find_span(traces: &[Vec<Value>], trace_id: u64, span_id: u64) -> Result<Value, String> {
    traces
        .iter()
        .flatten()
        .find(|s| id_of(s, "trace_id") == trace_id && id_of(s, "span_id") == span_id)
        .cloned()
        .ok_or_else(|| format!("no span {span_id} in trace {trace_id}: {traces:?}"))
}

/// A W3C `traceparent` split in its fields.
#[derive(Debug)]
pub struct Traceparent {
    pub trace_id: String,
    pub parent_id: String,
    pub flags: String,
}

/// The suite's `get_tracecontext`: the injected `traceparent` (exactly one, well formed) and
/// the `tracestate` members.
pub fn tracecontext(
    h: &HashMap<String, String>,
) -> Result<(Traceparent, Vec<(String, String)>), String> {
    let tp = h.get("traceparent").ok_or("no traceparent injected")?;
    let parts: Vec<&str> = tp.split('-').collect();
    check!(
        parts.len() == 4 && parts[1].len() == 32 && parts[2].len() == 16,
        "{tp}"
    );
    let members = h
        .get("tracestate")
        .map(|ts| {
            ts.split(',')
                .filter_map(|m| {
                    let (k, v) = m.trim_matches([' ', '\t']).split_once('=')?;
                    Some((k.to_string(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((
        Traceparent {
            trace_id: parts[1].to_string(),
            parent_id: parts[2].to_string(),
            flags: parts[3].to_string(),
        },
        members,
    ))
}

/// A `tracestate` member's value.
pub fn member<'a>(ts: &'a [(String, String)], key: &str) -> Option<&'a str> {
    ts.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// No trace arrives: the session stays without any for a second after the flush (the suite's
/// `wait_for_num_traces(0)` would return at the first empty poll).
pub fn no_trace_arrives(c: &Ctx<'_>) -> Outcome {
    for _ in 0..10 {
        let traces = c.agent.session_traces();
        check!(traces.is_empty(), "{traces:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
