//! Runtime and health metrics from a real running service, received by a UDP listener and a
//! Unix datagram listener standing for the agent's DogStatsD: the metric names with the unified
//! service tags, tokio's metrics following spawned tasks, the health counters following the
//! spans, and an absent DogStatsD harmless and reported once.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dd_trace_test_support::{builder, wait_until};
use tracing_subscriber::layer::SubscriberExt;

/// The DogStatsD lines received until `done` says enough (or 15 s pass).
fn collect(
    read: impl Fn(&mut [u8]) -> Option<usize>,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 65536];
    let started = Instant::now();
    while !done(&lines) && started.elapsed() < Duration::from_secs(15) {
        if let Some(n) = read(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines
}

fn names(lines: &[String]) -> std::collections::BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l.split(':').next().map(str::to_string))
        .collect()
}

/// The value of the last line of `metric`.
fn last_value(lines: &[String], metric: &str) -> Option<f64> {
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with(&format!("{metric}:")))
        .and_then(|l| l.split(':').nth(1)?.split('|').next()?.parse().ok())
}

#[test]
fn runtime_and_health_metrics_arrive_over_udp_with_the_unified_service_tags() {
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (layer, guard) = builder(&[
        ("DD_SERVICE", "metered"),
        ("DD_ENV", "prod"),
        ("DD_VERSION", "1.2.3"),
        ("DD_TAGS", "team:core"),
        ("DD_TRACE_ENABLED", "true"),
        ("DD_TRACE_STARTUP_LOGS", "false"),
        ("DD_TRACE_AGENT_URL", "http://127.0.0.1:9"),
        ("DD_DOGSTATSD_HOST", "127.0.0.1"),
        ("DD_DOGSTATSD_PORT", &port),
        ("DD_RUNTIME_METRICS_ENABLED", "true"),
        ("DD_TRACE_HEALTH_METRICS_ENABLED", "true"),
    ])
    .with_metrics_interval(Duration::from_millis(200))
    .with_tokio_runtime(runtime.handle().clone())
    .build()
    .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..7 {
            tracing::info_span!("work").in_scope(|| {});
        }
    });
    // Tasks that stay alive: tokio's metrics must see them.
    let (release, released) = tokio::sync::watch::channel(false);
    for _ in 0..40 {
        let mut released = released.clone();
        runtime.spawn(async move {
            let _ = released.wait_for(|r| *r).await;
        });
    }
    let read = |buf: &mut [u8]| listener.recv(buf).ok();
    let lines = collect(read, |lines| {
        last_value(lines, "runtime.rust.tokio.tasks.alive").is_some_and(|n| n >= 40.0)
            && lines
                .iter()
                .any(|l| l.starts_with("runtime.rust.cpu.user:"))
            && lines
                .iter()
                .any(|l| l.starts_with("runtime.rust.tokio.busy:"))
            && lines
                .iter()
                .any(|l| l.starts_with("datadog.tracer.spans.started:7|"))
    });
    let seen = names(&lines);
    let runtime_names: Vec<&String> = seen
        .iter()
        .filter(|n| n.starts_with("runtime.rust."))
        .collect();
    assert!(runtime_names.len() >= 8, "{runtime_names:?}");
    for expected in [
        "runtime.rust.cpu.user",
        "runtime.rust.cpu.system",
        "runtime.rust.mem.rss",
        "runtime.rust.mem.virtual",
        "runtime.rust.threads",
        "runtime.rust.fds.open",
        "runtime.rust.tokio.workers",
        "runtime.rust.tokio.tasks.alive",
        "runtime.rust.tokio.global_queue.depth",
        "runtime.rust.tokio.worker.busy",
        "datadog.tracer.spans.started",
        "datadog.tracer.spans.dropped",
        "datadog.tracer.queue.chunks",
    ] {
        assert!(seen.contains(expected), "{expected} in {seen:?}");
    }
    assert!(last_value(&lines, "runtime.rust.tokio.tasks.alive").unwrap() >= 40.0);
    assert_eq!(last_value(&lines, "runtime.rust.tokio.workers"), Some(2.0));
    let rss = lines
        .iter()
        .find(|l| l.starts_with("runtime.rust.mem.rss:"))
        .unwrap();
    assert!(rss.contains("|g|#"), "a gauge with tags: {rss}");
    for tag in [
        "service:metered",
        "env:prod",
        "version:1.2.3",
        "language:rust",
        "team:core",
        "runtime-id:",
    ] {
        assert!(rss.contains(tag), "{tag} in {rss}");
    }
    let started = lines
        .iter()
        .find(|l| l.starts_with("datadog.tracer.spans.started:7|"))
        .unwrap();
    assert!(started.contains("|c|#"), "a count: {started}");
    // The tasks end: the count follows.
    release.send(true).unwrap();
    let read = |buf: &mut [u8]| listener.recv(buf).ok();
    let later = collect(read, |lines| {
        last_value(lines, "runtime.rust.tokio.tasks.alive").is_some_and(|n| n < 40.0)
    });
    assert!(last_value(&later, "runtime.rust.tokio.tasks.alive").unwrap() < 40.0);
    let status = guard.status();
    // What a reading costs the metrics thread, for the record (`--nocapture`).
    eprintln!("DogStatsD: {}", status.dogstatsd);
    assert!(status.dogstatsd.metrics_sent > 20, "{:?}", status.dogstatsd);
    assert_eq!(status.dogstatsd.send_errors, 0);
    assert!(status.to_string().contains("DogStatsD: udp://127.0.0.1:"));
    drop(guard);
}

#[test]
fn metrics_arrive_over_the_unix_socket() {
    let dir = std::env::temp_dir().join(format!("dd-trace-dsd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dsd.socket");
    let _ = std::fs::remove_file(&path);
    let listener = UnixDatagram::bind(&path).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let url = format!("unix://{}", path.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_layer, guard) = builder(&[
        ("DD_SERVICE", "metered-uds"),
        ("DD_TRACE_STARTUP_LOGS", "false"),
        ("DD_TRACE_AGENT_URL", "http://127.0.0.1:9"),
        ("DD_DOGSTATSD_URL", &url),
        ("DD_RUNTIME_METRICS_ENABLED", "true"),
    ])
    .with_metrics_interval(Duration::from_millis(200))
    .with_tokio_runtime(runtime.handle().clone())
    .build()
    .unwrap();
    let read = |buf: &mut [u8]| listener.recv(buf).ok();
    let lines = collect(read, |lines| names(lines).len() >= 8);
    let seen = names(&lines);
    assert!(seen.len() >= 8, "{seen:?}");
    assert!(
        lines.iter().all(|l| l.contains("service:metered-uds")),
        "{lines:?}"
    );
    assert!(
        !seen.iter().any(|n| n.starts_with("datadog.tracer.")),
        "health metrics are off"
    );
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn an_absent_dogstatsd_is_harmless_and_reported_once() {
    dd_trace::diagnostics::set_handler(|_, line| LINES.lock().unwrap().push(line.to_string()));
    let url = "unix:///nonexistent/dd-trace-test/dsd.socket";
    let (_layer, guard) = builder(&[
        ("DD_TRACE_STARTUP_LOGS", "false"),
        ("DD_TRACE_AGENT_URL", "http://127.0.0.1:9"),
        ("DD_DOGSTATSD_URL", url),
        ("DD_RUNTIME_METRICS_ENABLED", "true"),
    ])
    .with_metrics_interval(Duration::from_millis(50))
    .build()
    .unwrap();
    let status = guard.status_handle();
    wait_until("three failed sends", || {
        status.status().dogstatsd.send_errors >= 3
    });
    let said: Vec<String> = LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("/nonexistent/dd-trace-test/dsd.socket"))
        .cloned()
        .collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(said[0].contains("hostPath"), "the remedy: {}", said[0]);
    let s = status.status();
    assert!(s.dogstatsd.last_error.is_some());
    drop(guard);
    dd_trace::diagnostics::reset_handler();
}
