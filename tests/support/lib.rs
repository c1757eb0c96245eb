//! Test peers shared by the workspace's integration tests and benchmarks: Datadog's real
//! `ddapm-test-agent` (started per test on free ports and a Unix socket in a temporary
//! directory), a small fault-injecting agent of our own for statuses the real one cannot
//! produce (also a fast sink for benchmarks), and the tracer setup the tests share.
//!
//! Tests of the layer itself that need no agent use `dd_trace::testing` instead.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod fault_agent;
pub use fault_agent::{Fault, FaultAgent, Received};

use dd_trace::{DatadogGuard, DatadogLayer};
use serde_json::Value;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

thread_local! {
    static RUNTIME_DISPATCH: std::cell::RefCell<Option<tracing::dispatcher::DefaultGuard>> =
        const { std::cell::RefCell::new(None) };
}

/// A two-thread tokio runtime whose threads have `dispatch` as their default. Scoped
/// dispatchers must be the default on the runtime's threads too: the registry closes a parent
/// through the default dispatcher of the thread where its last child closes.
pub fn runtime_with(dispatch: &Dispatch) -> tokio::runtime::Runtime {
    let d = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || {
            let guard = tracing::dispatcher::set_default(&d);
            RUNTIME_DISPATCH.with(|g| *g.borrow_mut() = Some(guard));
        })
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A `Registry` + `DatadogLayer` dispatcher sending to `agent_url`, configured by `vars` (and
/// nothing from the process environment), with its guard. The periodic flush is an hour, so
/// payloads go out only on `flush()` or drop and tests can count requests exactly.
pub fn tracer(agent_url: &str, vars: &[(&str, &str)]) -> (Dispatch, DatadogGuard) {
    tracer_with(agent_url, vars, Duration::from_secs(3600))
}

/// A builder that reads its `DD_*` variables from `vars` only (not the process environment).
pub fn builder(vars: &[(&str, &str)]) -> dd_trace::DatadogLayerBuilder {
    let env: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    DatadogLayer::builder().with_variable_source(move |k| env.get(k).cloned())
}

/// [`tracer`] with a periodic flush every `flush_interval`.
pub fn tracer_with(
    agent_url: &str,
    vars: &[(&str, &str)],
    flush_interval: Duration,
) -> (Dispatch, DatadogGuard) {
    let mut vars = vars.to_vec();
    vars.extend([
        ("DD_TRACE_AGENT_URL", agent_url),
        ("DD_TRACE_STARTUP_LOGS", "false"),
    ]);
    let (layer, guard) = builder(&vars)
        .with_flush_interval(flush_interval)
        .build()
        .expect("tracer builds");
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

/// Polls `done` every 10 ms; panics, naming `what`, if it is still false after 15 s (a bound
/// for a loaded 2-core machine running the other tests at once, not a timing).
pub fn wait_until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "waited 15 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (up to 5 s, else panics) until the tracer behind `status` has the agent's `/info`
/// answer.
pub fn wait_for_agent_info(status: &dd_trace::diagnostics::TracerStatusHandle) {
    wait_until("the agent's /info", || status.status().agent.info.is_some());
}

/// `target/<profile>/examples/<name>` of the workspace, built (or brought up to date) once
/// per test process: `cargo test` builds examples only when it builds every target.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, bin)) = built.iter().find(|(n, _)| n == name) {
        return bin.clone();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--example", name])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "cargo build --example {name} failed");
    let bin = profile_dir.join("examples").join(name);
    assert!(bin.exists(), "{} is missing", bin.display());
    built.push((name.to_string(), bin.clone()));
    bin
}

/// The span among `spans` (as the test agent returns them) that a log line's `dd.trace_id`
/// and `dd.span_id` name: the low 64 bits of the trace id and the span id on the wire, and
/// the high 64 bits, when the line writes 32 hex digits, in the trace's `_dd.p.tid`. Panics,
/// saying what `line` was, when no span matches.
pub fn span_named_by_log_ids<'a>(
    spans: &'a [Value],
    trace_id: &str,
    span_id: &str,
    line: &str,
) -> &'a Value {
    let (high, low) = if trace_id.len() == 32 {
        let id = u128::from_str_radix(trace_id, 16).expect("32 hex digits");
        (Some((id >> 64) as u64), id as u64)
    } else {
        (None, trace_id.parse::<u64>().expect("a decimal trace id"))
    };
    let span_id: u64 = span_id.parse().expect("a decimal span id");
    let span = spans
        .iter()
        .find(|s| s["trace_id"] == low && s["span_id"] == span_id)
        .unwrap_or_else(|| panic!("no span {low}/{span_id} at the agent for: {line}"));
    if let Some(high) = high {
        let tid = spans
            .iter()
            .filter(|s| s["trace_id"] == low)
            .find_map(|s| s["meta"]["_dd.p.tid"].as_str())
            .expect("a 128-bit trace carries _dd.p.tid");
        assert_eq!(
            tid,
            format!("{high:016x}"),
            "high bits of {trace_id}: {line}"
        );
    }
    span
}

/// Where `scripts/test-agent.sh install` puts the agent.
fn agent_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("DD_TEST_AGENT_BIN") {
        return PathBuf::from(bin);
    }
    // This crate lives in `tests/support` of the workspace.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-agent/bin/ddapm-test-agent")
}

/// `N` distinct local ports free at the time of the call (held together while they are
/// picked, so none is handed out twice); `free_ports::<1>()[0]` for one.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free local port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("local address").port())
}

/// A running `ddapm-test-agent`, stopped on drop.
#[derive(Debug)]
pub struct TestAgent {
    child: Child,
    /// The agent's TCP port.
    pub port: u16,
    /// The agent's Unix socket.
    pub socket: PathBuf,
    dir: PathBuf,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl TestAgent {
    /// Starts an agent with its header checks enabled. Panics with instructions when the agent
    /// is not installed or does not come up: a test that needs it never skips silently.
    pub fn start() -> TestAgent {
        let bin = agent_binary();
        assert!(
            bin.exists(),
            "ddapm-test-agent not found at {}: run `scripts/test-agent.sh install` (or the README's test command), or set DD_TEST_AGENT_BIN",
            bin.display()
        );
        // A port picked free can be taken by another process before the agent binds it: then
        // the agent exits saying so, and is started again on other ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(&bin) {
                Ok(agent) => return agent,
                Err(log) if attempt < 5 && log.contains("address already in use") => {}
                Err(log) => panic!("ddapm-test-agent did not start:\n{log}"),
            }
        }
    }

    fn start_once(bin: &Path) -> Result<TestAgent, String> {
        let dir = std::env::temp_dir().join(format!(
            "dd-trace-agent-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let socket = dir.join("apm.socket");
        let log = std::fs::File::create(dir.join("agent.log")).expect("agent log");
        let [port, otlp_http, otlp_grpc] = free_ports();
        let child = Command::new(bin)
            .args(["--port", &port.to_string()])
            .args(["--otlp-http-port", &otlp_http.to_string()])
            .args(["--otlp-grpc-port", &otlp_grpc.to_string()])
            .arg("--trace-uds-socket")
            .arg(&socket)
            .arg("--snapshot-dir")
            .arg(dir.join("snapshots"))
            .env(
                "ENABLED_CHECKS",
                "trace_count_header,meta_tracer_version_header,trace_content_length",
            )
            .env_remove("DD_TRACE_AGENT_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut agent = TestAgent {
            child,
            port,
            socket,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if agent.socket.exists() && http_get(port, "/info").is_ok() {
                return Ok(agent);
            }
            if let Ok(Some(status)) = agent.child.try_wait() {
                return Err(format!(
                    "exited with {status}:\n{}",
                    std::fs::read_to_string(agent.dir.join("agent.log")).unwrap_or_default()
                ));
            }
            assert!(
                Instant::now() < deadline,
                "ddapm-test-agent did not come up in 60 s:\n{}",
                std::fs::read_to_string(agent.dir.join("agent.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `unix://…` for the agent's socket.
    pub fn unix_url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `http://127.0.0.1:…` for the agent's TCP port.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GET `path` from the agent, as JSON; panics unless it answers 200 with JSON.
    pub fn get(&self, path: &str) -> Value {
        let body = http_get(self.port, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Makes the agent answer trace payloads with `rates` (a JSON object of
    /// `service:<svc>,env:<env>` → rate) as its `rate_by_service`. It starts the session of
    /// requests without a test-session token, which is what a tracer sends.
    pub fn reply_with_rates(&self, rates: &str) {
        let path = format!(
            "/test/session/start?agent_sample_rate_by_service={}",
            percent_encode(rates)
        );
        http_get(self.port, &path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    }

    /// Starts a new test session: the session reads below see only what arrives from now on.
    pub fn start_session(&self) {
        http_get(self.port, "/test/session/start").expect("a new test session");
    }

    /// The traces of the current session (see [`start_session`](Self::start_session)).
    pub fn session_traces(&self) -> Vec<Vec<Value>> {
        serde_json::from_value(self.get("/test/session/traces")).expect("trace list")
    }

    /// Every trace received: a list of span lists.
    pub fn traces(&self) -> Vec<Vec<Value>> {
        serde_json::from_value(self.get("/test/traces")).expect("trace list")
    }

    /// All spans received, flattened.
    pub fn spans(&self) -> Vec<Value> {
        self.traces().into_iter().flatten().collect()
    }

    /// The raw trace requests received.
    pub fn requests(&self) -> Vec<Value> {
        let all: Vec<Value> =
            serde_json::from_value(self.get("/test/session/requests")).expect("request list");
        all.into_iter()
            .filter(|r| r["url"].as_str().is_some_and(|u| u.contains("/traces")))
            .collect()
    }

    /// Makes the agent's `/v0.7/config` answer with one remote config, `msg` at `path` (the
    /// agent builds the signed targets around it; it replaces what was there before).
    pub fn set_remote_config(&self, path: &str, msg: &Value) {
        let body = serde_json::json!({ "path": path, "msg": msg }).to_string();
        match http_request(
            self.port,
            "POST",
            "/test/session/responses/config/path",
            Some(&body),
        ) {
            Ok((202 | 200, _)) => {}
            other => panic!("setting the remote config: {other:?}"),
        }
    }

    /// Makes the agent's `/v0.7/config` answer with `reply` as it is.
    pub fn set_remote_config_reply(&self, reply: &Value) {
        let body = reply.to_string();
        match http_request(
            self.port,
            "POST",
            "/test/session/responses/config",
            Some(&body),
        ) {
            Ok((202 | 200, _)) => {}
            other => panic!("setting the remote config reply: {other:?}"),
        }
    }

    /// The `/v0.7/config` requests received, newest first, their bodies as JSON.
    pub fn config_requests(&self) -> Vec<Value> {
        use base64::Engine;
        let all: Vec<Value> =
            serde_json::from_value(self.get("/test/session/requests")).expect("request list");
        all.into_iter()
            .filter(|r| {
                r["url"]
                    .as_str()
                    .is_some_and(|u| u.contains("/v0.7/config"))
            })
            .filter_map(|r| {
                let body = base64::engine::general_purpose::STANDARD
                    .decode(r["body"].as_str()?)
                    .ok()?;
                serde_json::from_slice(&body).ok()
            })
            .collect()
    }

    /// The telemetry requests received (their JSON bodies), as the agent keeps them.
    pub fn telemetry(&self) -> Vec<Value> {
        serde_json::from_value(self.get("/test/session/apmtelemetry")).expect("telemetry list")
    }

    /// The telemetry events received, batches unpacked, in the order sent (by `seq_id`, then
    /// within a batch): (request type, payload, seq_id of the request that carried it).
    pub fn telemetry_events(&self) -> Vec<(String, Value, u64)> {
        let mut events = Vec::new();
        for request in self.telemetry() {
            let seq = request["seq_id"].as_u64().unwrap_or(0);
            let kind = request["request_type"].as_str().unwrap_or("").to_string();
            if kind == "message-batch" {
                for e in request["payload"].as_array().into_iter().flatten() {
                    let kind = e["request_type"].as_str().unwrap_or("").to_string();
                    events.push((kind, e["payload"].clone(), seq));
                }
            } else {
                events.push((kind, request["payload"].clone(), seq));
            }
        }
        events.sort_by_key(|(_, _, seq)| *seq);
        events
    }

    /// The `/v0.6/stats` payloads received, as the agent decoded them.
    pub fn stats(&self) -> Vec<Value> {
        serde_json::from_value(self.get("/test/session/stats")).expect("stats list")
    }

    /// Every group (`Service`, `Name`, `Resource`, `Hits`, …) of every bucket of `payloads`,
    /// as [`stats`](Self::stats) returns them.
    pub fn stats_groups(payloads: &[Value]) -> Vec<Value> {
        payloads
            .iter()
            .flat_map(|payload| payload["Stats"].as_array().into_iter().flatten())
            .flat_map(|bucket| bucket["Stats"].as_array().into_iter().flatten())
            .cloned()
            .collect()
    }

    /// The tracer flares received, each with its form fields and `flare_file` decoded from
    /// base64 into bytes.
    pub fn tracer_flares(&self) -> Vec<(serde_json::Map<String, Value>, Vec<u8>)> {
        use base64::Engine as _;
        let all: Vec<serde_json::Map<String, Value>> =
            serde_json::from_value(self.get("/test/session/tracerflares")).expect("flare list");
        all.into_iter()
            .map(|mut fields| {
                let file = fields
                    .remove("flare_file")
                    .and_then(|f| f.as_str().map(str::to_string))
                    .map(|b64| {
                        base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .expect("flare_file is base64")
                    })
                    .unwrap_or_default();
                (fields, file)
            })
            .collect()
    }

    /// Asserts that every enabled check passed at least once and none failed.
    pub fn assert_checks_passed(&self) {
        let summary = self.get("/test/trace_check/summary");
        let map = summary.as_object().expect("summary object");
        for check in [
            "trace_count_header",
            "meta_tracer_version_header",
            "trace_content_length",
        ] {
            let c = &map[check];
            assert_eq!(c["Failed_Checks"], 0, "{check} failed: {summary}");
            assert!(
                c["Passed_Checks"].as_u64() > Some(0),
                "{check} never ran: {summary}"
            );
        }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where `scripts/test-agent.sh install-peer` puts Python's ddtrace.
fn peer_python() -> PathBuf {
    if let Ok(bin) = std::env::var("DD_TEST_PEER_PYTHON") {
        return PathBuf::from(bin);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peer/bin/python")
}

/// Runs the Python ddtrace peer (`tests/peer/ddtrace_peer.py`) with `args`, sending its spans
/// to `agent_url`, with `vars` in its environment; returns the JSON it prints. Panics with
/// instructions when the peer is not installed, and with its output when it fails.
pub fn run_ddtrace_peer(agent_url: &str, args: &[&str], vars: &[(&str, &str)]) -> Value {
    let python = peer_python();
    assert!(
        python.exists(),
        "Python ddtrace not found at {}: run `scripts/test-agent.sh install-peer` (or the README's test command), or set DD_TEST_PEER_PYTHON",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../peer/ddtrace_peer.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DD_TRACE_AGENT_URL", agent_url)
        .env("DD_SERVICE", "py-peer")
        .env("DD_TELEMETRY_ENABLED", "false")
        .env("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
        .env("DD_REMOTE_CONFIGURATION_ENABLED", "false")
        .env("DD_TRACE_STARTUP_LOGS", "false");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the ddtrace peer failed ({}):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("peer output {stdout:?}: {e}"))
}

/// `s` with every byte but the URL-unreserved ones percent-encoded.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A minimal HTTP/1.0 GET against 127.0.0.1:`port`, returning the body of a 200 answer.
pub fn http_get(port: u16, path: &str) -> Result<String, String> {
    match http_request(port, "GET", path, None)? {
        (200, body) => Ok(body),
        (status, _) => Err(format!("HTTP status {status}")),
    }
}

/// A minimal HTTP/1.0 request against 127.0.0.1:`port`, with an optional JSON body (GET
/// requests may carry one too, as the parametric API's do): the status and the body.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let body = json.unwrap_or("");
    let content = if json.is_some() {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    } else {
        String::new()
    };
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{content}\r\n{body}"
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("malformed response")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_string()))
}
