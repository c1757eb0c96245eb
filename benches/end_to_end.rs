//! The whole tracer, end to end: producers make the peer-benchmarks workload (a `request` root
//! with three fields, entered, and one `db.query` child inside it: 2 spans per trace) through
//! the real worker to a sink over a Unix socket that decodes every payload and counts its
//! spans. Every row runs in a child process of its own (so its CPU time and peak RSS are its
//! own); the sink runs in this parent process, as the node agent would run beside the app.
//!
//! Run: `cargo bench -p dd-trace-benches --bench end_to_end` (5 rounds, rows interleaved;
//! `DD_TRACE_E2E_ROUNDS=1` for a quick look). It prints a table of medians and writes it, with
//! an SVG chart of the cost per span by row, to `benches/results/` (which `BENCHMARKS.md`
//! shows).
//!
//! Modes, each row in each mode:
//! - **flat out**: one producer makes 200 000 traces as fast as it can; *caller ns/span* is the
//!   wall time of the producing loop per span; *delivered* is what the sink decoded over what
//!   was made; *wire B/span* the bytes the sink received per span; *peak RSS* the child's
//!   high-water mark.
//! - **paced** at 100 000 spans/s (batches every millisecond) for 3 s: *caller CPU ns/span* is
//!   the producing thread's CPU time per span; *total CPU ns/span* all threads of the process
//!   per delivered span (worker = total − caller).
//! - **two producers, slow agent** (dd-trace only): two threads flat out for 3 s while the sink
//!   answers each payload after 200 ms: peak RSS, and whether every span made was either
//!   delivered or counted as dropped by the tracer.
//!
//! Rows: `Registry` + a no-op layer (the floor under any layer), dd-trace sending v0.4, v0.5
//! and v1.0, and `tracing-datadog` 0.6.3 (a peer, v0.4 over TCP to the same sink).
//!
//! Latest results, 2026-12-06, the 2-core shared machine, 5 rounds, with
//! `DD_TRACE_E2E_BASELINE` naming this harness built from 2384649 (before the performance
//! issue); `BENCHMARKS.md` at the repository root has the chart and what each number means:
//!
//! | row | caller ns/span (flat out) | × Registry | delivered (flat out) | wire B/span | peak RSS (flat out) | caller CPU ns/span (paced) | total CPU ns/span (paced) | worker CPU ns/span (paced) | two producers, slow agent |
//! |---|---:|---:|---:|---:|---:|---:|---:|---:|---|
//! | Registry + no-op layer | 164 | 1.00 | — | — | 3 MiB | 204 | 499 | 0 | — |
//! | dd-trace (v0.4) | 677 | 4.13 | 60.4 % | 300 | 50 MiB | 772 | 1678 | 907 | 52 MiB, 4.5 %, every drop counted |
//! | dd-trace (v0.5) | 679 | 4.14 | 100.0 % | 78 | 26 MiB | 732 | 1539 | 807 | 53 MiB, 16.8 %, every drop counted |
//! | dd-trace (v1.0) | 692 | 4.22 | 99.9 % | 94 | 31 MiB | 776 | 1639 | 863 | 53 MiB, 12.0 %, every drop counted |
//! | dd-trace (v0.4), 2384649 | 706 | 4.31 | 63.5 % | 300 | 50 MiB | 859 | 1959 | 1099 | — |
//! | dd-trace (v0.5), 2384649 | 731 | 4.46 | 96.2 % | 75 | 30 MiB | 792 | 1764 | 972 | — |
//! | dd-trace (v1.0), 2384649 | 699 | 4.27 | 100.0 % | 95 | 34 MiB | 881 | 1977 | 1096 | — |
//! | tracing-datadog 0.6.3 (peer) | 2148 | 13.11 | 100.0 % | 403 | 888 MiB | 2832 | 8148 | 5316 | — |

#[path = "workload.rs"]
mod workload;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpu_time::{ProcessTime, ThreadTime};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;
use workload::{one_trace, NoopLayer};

const TRACES_FLAT: u64 = 200_000;
const PACED_SPANS_PER_SEC: u64 = 100_000;
const PACED_SECS: u64 = 3;
const SLOW_AGENT: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------------------------
// The sink (parent process): HTTP/1.1 over a Unix socket and TCP, decoding and counting.

#[derive(Default)]
struct SinkCounts {
    spans: AtomicU64,
    bytes: AtomicU64,
    payloads: AtomicU64,
    undecodable: AtomicU64,
}

struct Sink {
    counts: Arc<SinkCounts>,
    delay_ms: Arc<AtomicU64>,
    socket: PathBuf,
    tcp_port: u16,
}

impl Sink {
    fn start(dir: &Path) -> Sink {
        let counts = Arc::new(SinkCounts::default());
        let delay_ms = Arc::new(AtomicU64::new(0));
        let socket = dir.join("apm.socket");
        let _ = std::fs::remove_file(&socket);
        let unix = UnixListener::bind(&socket).expect("bind the sink's socket");
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the sink's port");
        let tcp_port = tcp.local_addr().expect("port").port();
        {
            let (counts, delay) = (Arc::clone(&counts), Arc::clone(&delay_ms));
            std::thread::spawn(move || {
                for stream in unix.incoming().flatten() {
                    let (counts, delay) = (Arc::clone(&counts), Arc::clone(&delay));
                    std::thread::spawn(move || serve(stream, &counts, &delay));
                }
            });
        }
        {
            let (counts, delay) = (Arc::clone(&counts), Arc::clone(&delay_ms));
            std::thread::spawn(move || {
                for stream in tcp.incoming().flatten() {
                    let (counts, delay) = (Arc::clone(&counts), Arc::clone(&delay));
                    std::thread::spawn(move || serve(stream, &counts, &delay));
                }
            });
        }
        Sink {
            counts,
            delay_ms,
            socket,
            tcp_port,
        }
    }

    fn reset(&self, delay: Duration) {
        for c in [
            &self.counts.spans,
            &self.counts.bytes,
            &self.counts.payloads,
            &self.counts.undecodable,
        ] {
            c.store(0, Ordering::SeqCst);
        }
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

fn serve<S: Read + Write>(stream: S, counts: &SinkCounts, delay_ms: &AtomicU64) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or_default();
        let (status, reply) = if path == "/info" {
            // No /info: every tracer sends what it is told to (v0.4 by default).
            (404, "404 page not found")
        } else if path.contains("/traces") {
            match count_spans(path, &body) {
                Some(n) => {
                    counts.spans.fetch_add(n, Ordering::SeqCst);
                    counts.bytes.fetch_add(len as u64, Ordering::SeqCst);
                    counts.payloads.fetch_add(1, Ordering::SeqCst);
                }
                None => {
                    counts.undecodable.fetch_add(1, Ordering::SeqCst);
                }
            }
            let delay = delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            (200, r#"{"rate_by_service":{"service:,env:":1}}"#)
        } else {
            (200, "{}")
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if reader.get_mut().write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Walks a traces payload completely (every value of every span is read, none is kept) and
/// counts its spans; `None` if it is not well-formed msgpack of the format's shape. Walking
/// instead of building values keeps the sink's own CPU low: it shares the machine's cores with
/// the row it measures.
fn count_spans(path: &str, body: &[u8]) -> Option<u64> {
    let mut rd = body;
    let spans_in_chunks = |rd: &mut &[u8]| -> Option<u64> {
        let mut spans = 0;
        for _ in 0..array_len(rd)? {
            let n = array_len(rd)?;
            for _ in 0..n {
                skip(rd)?;
            }
            spans += u64::from(n);
        }
        Some(spans)
    };
    let spans = if path.starts_with("/v1.0/") {
        // {…, 11: [{…, 4: [span, …], …}, …], …}
        let mut spans = 0;
        for _ in 0..map_len(&mut rd)? {
            if rmp::decode::read_int::<u64, _>(&mut rd).ok()? != 11 {
                skip(&mut rd)?;
                continue;
            }
            for _ in 0..array_len(&mut rd)? {
                for _ in 0..map_len(&mut rd)? {
                    if rmp::decode::read_int::<u64, _>(&mut rd).ok()? != 4 {
                        skip(&mut rd)?;
                        continue;
                    }
                    let n = array_len(&mut rd)?;
                    for _ in 0..n {
                        skip(&mut rd)?;
                    }
                    spans += u64::from(n);
                }
            }
        }
        spans
    } else if path.starts_with("/v0.5/") {
        // [strings, chunks]
        if array_len(&mut rd)? != 2 {
            return None;
        }
        skip(&mut rd)?;
        spans_in_chunks(&mut rd)?
    } else {
        spans_in_chunks(&mut rd)?
    };
    rd.is_empty().then_some(spans)
}

fn array_len(rd: &mut &[u8]) -> Option<u32> {
    rmp::decode::read_array_len(rd).ok()
}

fn map_len(rd: &mut &[u8]) -> Option<u32> {
    rmp::decode::read_map_len(rd).ok()
}

/// Reads past one msgpack value.
fn skip(rd: &mut &[u8]) -> Option<()> {
    use rmp::Marker as M;
    let marker = rmp::decode::read_marker(rd).ok()?;
    let take = |rd: &mut &[u8], n: usize| -> Option<()> {
        *rd = rd.get(n..)?;
        Some(())
    };
    let be = |rd: &mut &[u8], n: usize| -> Option<usize> {
        let bytes = rd.get(..n)?;
        let v = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        *rd = &rd[n..];
        Some(v)
    };
    let (items, bytes) = match marker {
        M::FixPos(_) | M::FixNeg(_) | M::Null | M::True | M::False => (0, 0),
        M::U8 | M::I8 => (0, 1),
        M::U16 | M::I16 => (0, 2),
        M::U32 | M::I32 | M::F32 => (0, 4),
        M::U64 | M::I64 | M::F64 => (0, 8),
        M::FixStr(n) => (0, usize::from(n)),
        M::Str8 | M::Bin8 => (0, be(rd, 1)?),
        M::Str16 | M::Bin16 => (0, be(rd, 2)?),
        M::Str32 | M::Bin32 => (0, be(rd, 4)?),
        M::FixArray(n) => (usize::from(n), 0),
        M::Array16 => (be(rd, 2)?, 0),
        M::Array32 => (be(rd, 4)?, 0),
        M::FixMap(n) => (2 * usize::from(n), 0),
        M::Map16 => (2 * be(rd, 2)?, 0),
        M::Map32 => (2 * be(rd, 4)?, 0),
        M::FixExt1 => (0, 2),
        M::FixExt2 => (0, 3),
        M::FixExt4 => (0, 5),
        M::FixExt8 => (0, 9),
        M::FixExt16 => (0, 17),
        M::Ext8 => (0, be(rd, 1)? + 1),
        M::Ext16 => (0, be(rd, 2)? + 1),
        M::Ext32 => (0, be(rd, 4)? + 1),
        M::Reserved => return None,
    };
    take(rd, bytes)?;
    for _ in 0..items {
        skip(rd)?;
    }
    Some(())
}

// ---------------------------------------------------------------------------------------------
// A row (child process).

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Flat,
    Paced,
    TwoSlow,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Flat => "flat",
            Mode::Paced => "paced",
            Mode::TwoSlow => "two-slow",
        }
    }
    fn parse(s: &str) -> Mode {
        match s {
            "flat" => Mode::Flat,
            "paced" => Mode::Paced,
            _ => Mode::TwoSlow,
        }
    }
}

const ROWS: [(&str, &str); 8] = [
    ("noop", "Registry + no-op layer"),
    ("dd-trace-v0.4", "dd-trace (v0.4)"),
    ("dd-trace-v0.5", "dd-trace (v0.5)"),
    ("dd-trace-v1.0", "dd-trace (v1.0)"),
    // Run by another build of this harness, when `DD_TRACE_E2E_BASELINE` names one (e.g. built
    // from an earlier commit): the same rows, interleaved with this build's.
    ("baseline:dd-trace-v0.4", "dd-trace (v0.4), baseline build"),
    ("baseline:dd-trace-v0.5", "dd-trace (v0.5), baseline build"),
    ("baseline:dd-trace-v1.0", "dd-trace (v1.0), baseline build"),
    ("tracing-datadog", "tracing-datadog 0.6.3 (peer)"),
];

/// What a child reports (one `key=value` line on stdout).
type Report = BTreeMap<String, f64>;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The row's dispatch, and what it needs to finish: for dd-trace, its guard.
fn subscriber(
    row: &str,
    socket: &Path,
    tcp_port: u16,
) -> (Dispatch, Option<dd_trace::DatadogGuard>) {
    match row {
        "noop" => (
            Dispatch::new(tracing_subscriber::registry().with(NoopLayer)),
            None,
        ),
        "tracing-datadog" => {
            let layer = tracing_datadog::DatadogTraceLayer::builder()
                .service("bench")
                .env("bench")
                .version("1")
                .agent_address(format!("127.0.0.1:{tcp_port}"))
                .build()
                .expect("tracing-datadog");
            (
                Dispatch::new(tracing_subscriber::registry().with(layer)),
                None,
            )
        }
        dd => {
            let protocol = dd.trim_start_matches("dd-trace-v").to_string();
            let (layer, guard) = dd_trace::DatadogLayer::builder()
                .with_variable_source(move |k| {
                    (k == "DD_TRACE_AGENT_PROTOCOL_VERSION").then(|| protocol.clone())
                })
                .with_agent_url(format!("unix://{}", socket.display()))
                .with_service("bench")
                .with_startup_logs(false)
                .build()
                .expect("tracer");
            (
                Dispatch::new(tracing_subscriber::registry().with(layer)),
                Some(guard),
            )
        }
    }
}

fn child(row: &str, mode: Mode, socket: &Path, tcp_port: u16) -> Report {
    let mut r = Report::new();
    let process = ProcessTime::now();
    let (dispatch, guard) = subscriber(row, socket, tcp_port);
    let made = match mode {
        Mode::Flat => tracing::dispatcher::with_default(&dispatch, || {
            let started = Instant::now();
            for i in 0..TRACES_FLAT {
                one_trace(i);
            }
            let wall = started.elapsed();
            r.insert(
                "caller_ns".into(),
                wall.as_nanos() as f64 / (2 * TRACES_FLAT) as f64,
            );
            2 * TRACES_FLAT
        }),
        Mode::Paced => tracing::dispatcher::with_default(&dispatch, || {
            let per_ms = PACED_SPANS_PER_SEC / 2 / 1000;
            let started = Instant::now();
            let mut cpu = Duration::ZERO;
            let mut traces = 0;
            for ms in 0..PACED_SECS * 1000 {
                let at = started + Duration::from_millis(ms);
                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let t = ThreadTime::now();
                for _ in 0..per_ms {
                    traces += 1;
                    one_trace(traces);
                }
                cpu += t.elapsed();
            }
            r.insert(
                "caller_cpu_ns".into(),
                cpu.as_nanos() as f64 / (2 * traces) as f64,
            );
            2 * traces
        }),
        Mode::TwoSlow => {
            let stop = Arc::new(AtomicBool::new(false));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (dispatch, stop) = (dispatch.clone(), Arc::clone(&stop));
                    std::thread::spawn(move || {
                        tracing::dispatcher::with_default(&dispatch, || {
                            let mut n = 0u64;
                            while !stop.load(Ordering::Relaxed) {
                                for _ in 0..100 {
                                    n += 1;
                                    one_trace(n);
                                }
                            }
                            2 * n
                        })
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_secs(3));
            stop.store(true, Ordering::Relaxed);
            threads
                .into_iter()
                .map(|t| t.join().expect("producer"))
                .sum()
        }
    };
    r.insert("made".into(), made as f64);
    drop(dispatch);
    if let Some(guard) = guard {
        let _ = guard.flush_timeout(Duration::from_secs(120));
        let s = guard.status().counters;
        r.insert("sent".into(), s.spans_sent as f64);
        r.insert("dropped".into(), s.spans_dropped() as f64);
        r.insert(
            "dropped_queue_full".into(),
            s.spans_dropped_queue_full as f64,
        );
        r.insert(
            "dropped_retry_full".into(),
            s.spans_dropped_retry_buffer_full as f64,
        );
        r.insert("open".into(), s.spans_open() as f64);
        drop(guard);
    } else if row == "tracing-datadog" {
        // Its exporter sends from a thread of its own, about once a second, and has no flush.
        std::thread::sleep(Duration::from_secs(6));
    }
    r.insert("process_cpu_ns".into(), process.elapsed().as_nanos() as f64);
    r.insert("peak_rss_mib".into(), peak_rss_mib());
    r
}

// ---------------------------------------------------------------------------------------------
// The parent: rounds of rows, the sink, medians, the table and the chart.

fn run_child(exe: &Path, row: &str, mode: Mode, sink: &Sink) -> Option<Report> {
    sink.reset(if mode == Mode::TwoSlow {
        SLOW_AGENT
    } else {
        Duration::ZERO
    });
    let out = Command::new(exe)
        .env("DD_TRACE_E2E_ROW", row)
        .env("DD_TRACE_E2E_MODE", mode.name())
        .env("DD_TRACE_E2E_SOCKET", &sink.socket)
        .env("DD_TRACE_E2E_PORT", sink.tcp_port.to_string())
        .output()
        .expect("run a row");
    if !out.status.success() {
        eprintln!(
            "row {row} ({}) failed: {}",
            mode.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let mut r: Report = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect();
    // The peer's last payloads may still be on their way.
    std::thread::sleep(Duration::from_millis(300));
    let c = &sink.counts;
    r.insert("received".into(), c.spans.load(Ordering::SeqCst) as f64);
    r.insert("bytes".into(), c.bytes.load(Ordering::SeqCst) as f64);
    r.insert(
        "undecodable".into(),
        c.undecodable.load(Ordering::SeqCst) as f64,
    );
    Some(r)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// One row's medians over the rounds.
#[derive(Default, Clone)]
struct Row {
    label: &'static str,
    caller_ns: f64,
    caller_ratio: f64,
    delivered_pct: f64,
    wire_bytes: f64,
    peak_rss_flat: f64,
    paced_caller_cpu: f64,
    paced_total_cpu: f64,
    two_slow: Option<(f64, bool, f64)>,
}

fn main() {
    if let Ok(row) = std::env::var("DD_TRACE_E2E_ROW") {
        let mode = Mode::parse(&std::env::var("DD_TRACE_E2E_MODE").unwrap_or_default());
        let socket = PathBuf::from(std::env::var("DD_TRACE_E2E_SOCKET").expect("socket"));
        let port = std::env::var("DD_TRACE_E2E_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let r = child(&row, mode, &socket, port);
        let line: Vec<String> = r.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("{}", line.join(" "));
        return;
    }
    // `cargo bench` passes `--bench`; a filter argument picks rows by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rounds: usize = std::env::var("DD_TRACE_E2E_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let exe = std::env::current_exe().expect("own path");
    let dir = std::env::temp_dir().join(format!("dd-trace-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the socket");
    let sink = Sink::start(&dir);
    let baseline = std::env::var_os("DD_TRACE_E2E_BASELINE").map(PathBuf::from);
    let rows: Vec<_> = ROWS
        .iter()
        .filter(|(name, _)| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())))
        .filter(|(name, _)| baseline.is_some() || !name.starts_with("baseline:"))
        .collect();
    let mut reports: BTreeMap<(&str, &str), Vec<Report>> = BTreeMap::new();
    for round in 1..=rounds {
        for &&(name, _) in &rows {
            let mut modes = vec![Mode::Flat, Mode::Paced];
            if name.starts_with("dd-trace") {
                modes.push(Mode::TwoSlow);
            }
            let (exe, row) = match (name.strip_prefix("baseline:"), &baseline) {
                (Some(row), Some(other)) => (other, row),
                _ => (&exe, name),
            };
            for mode in modes {
                if let Some(r) = run_child(exe, row, mode, &sink) {
                    eprintln!("round {round} {name} {}: {r:?}", mode.name());
                    reports.entry((name, mode.name())).or_default().push(r);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let undecodable: f64 = reports
        .values()
        .flatten()
        .map(|r| r.get("undecodable").copied().unwrap_or(0.0))
        .sum();
    if undecodable > 0.0 {
        eprintln!(
            "the sink could not decode {undecodable} payloads: the delivered column undercounts"
        );
    }
    let get = |name: &str, mode: &str, key: &str| -> f64 {
        median(
            reports
                .get(&(name, mode))
                .map(|rs| rs.iter().filter_map(|r| r.get(key).copied()).collect())
                .unwrap_or_default(),
        )
    };
    let per = |name: &str, mode: &str, f: &dyn Fn(&Report) -> f64| -> f64 {
        median(
            reports
                .get(&(name, mode))
                .map(|rs| rs.iter().map(f).collect())
                .unwrap_or_default(),
        )
    };
    let floor = get("noop", "flat", "caller_ns");
    let mut table = Vec::new();
    for &&(name, label) in &rows {
        let delivered = |r: &Report| 100.0 * r["received"] / r["made"].max(1.0);
        let two_slow = name.starts_with("dd-trace").then(|| {
            let rs = reports
                .get(&(name, "two-slow"))
                .cloned()
                .unwrap_or_default();
            let all_counted = rs.iter().all(|r| {
                r["made"] == r["sent"] + r["dropped"] + r["open"] && r["sent"] == r["received"]
            });
            (
                median(rs.iter().map(|r| r["peak_rss_mib"]).collect()),
                all_counted,
                median(
                    rs.iter()
                        .map(|r| 100.0 * r["received"] / r["made"].max(1.0))
                        .collect(),
                ),
            )
        });
        let caller_ns = get(name, "flat", "caller_ns");
        table.push(Row {
            label,
            caller_ns,
            caller_ratio: caller_ns / floor,
            delivered_pct: per(name, "flat", &delivered),
            wire_bytes: per(name, "flat", &|r| r["bytes"] / r["received"].max(1.0)),
            peak_rss_flat: get(name, "flat", "peak_rss_mib"),
            paced_caller_cpu: get(name, "paced", "caller_cpu_ns"),
            paced_total_cpu: per(name, "paced", &|r| {
                r["process_cpu_ns"]
                    / if name == "noop" {
                        r["made"]
                    } else {
                        r["received"].max(1.0)
                    }
            }),
            two_slow,
        });
    }
    let report = render_table(&table, rounds);
    println!("{report}");
    // Published beside the benches: BENCHMARKS.md shows this chart.
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&out).expect("the output directory");
    std::fs::write(out.join("end_to_end.md"), &report).expect("write the table");
    std::fs::write(out.join("end_to_end.svg"), render_chart(&table)).expect("write the chart");
    eprintln!(
        "wrote {0}/end_to_end.md and {0}/end_to_end.svg",
        out.display()
    );
}

fn render_table(rows: &[Row], rounds: usize) -> String {
    let mut s = format!(
        "Medians of {rounds} rounds, rows interleaved, each row in its own process; 2-span traces.\n\n\
         | row | caller ns/span (flat out) | × Registry | delivered (flat out) | wire B/span | peak RSS (flat out) | caller CPU ns/span (paced) | total CPU ns/span (paced) | worker CPU ns/span (paced) | two producers, slow agent: peak RSS, delivered, every drop counted |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    );
    for r in rows {
        let dash =
            |v: f64, f: &dyn Fn(f64) -> String| if v.is_finite() { f(v) } else { "—".into() };
        let is_floor = r.label.starts_with("Registry");
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.label,
            dash(r.caller_ns, &|v| format!("{v:.0}")),
            dash(r.caller_ratio, &|v| format!("{v:.2}")),
            if is_floor {
                "—".into()
            } else {
                dash(r.delivered_pct, &|v| format!("{v:.1} %"))
            },
            if is_floor {
                "—".into()
            } else {
                dash(r.wire_bytes, &|v| format!("{v:.0}"))
            },
            dash(r.peak_rss_flat, &|v| format!("{v:.0} MiB")),
            dash(r.paced_caller_cpu, &|v| format!("{v:.0}")),
            dash(r.paced_total_cpu, &|v| format!("{v:.0}")),
            if is_floor {
                "0".into()
            } else {
                dash(r.paced_total_cpu - r.paced_caller_cpu, &|v| {
                    format!("{v:.0}")
                })
            },
            match r.two_slow {
                Some((rss, counted, delivered)) => format!(
                    "{rss:.0} MiB, {delivered:.1} %, {}",
                    if counted { "yes" } else { "**no**" }
                ),
                None => "—".into(),
            },
        );
    }
    s
}

/// A horizontal bar chart: per row, the caller's cost flat out and the total CPU paced, in ns
/// per span.
fn render_chart(rows: &[Row]) -> String {
    let (left, bar_w, row_h, top) = (250.0, 560.0, 46.0, 50.0);
    let max = rows
        .iter()
        .flat_map(|r| [r.caller_ns, r.paced_total_cpu])
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max);
    let height = top + row_h * rows.len() as f64 + 40.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Cost per span, ns (2-span traces; shorter is better)</text>\n\
         <rect x=\"{left}\" y=\"30\" width=\"12\" height=\"10\" fill=\"#632ca6\"/><text x=\"{}\" y=\"40\">caller, flat out (wall)</text>\n\
         <rect x=\"{}\" y=\"30\" width=\"12\" height=\"10\" fill=\"#f6a623\"/><text x=\"{}\" y=\"40\">all threads' CPU per delivered span, paced</text>\n",
        left + 16.0,
        left + 190.0,
        left + 206.0
    );
    for (i, r) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
            left - 8.0,
            y + 24.0,
            r.label
        );
        for (j, (v, color)) in [(r.caller_ns, "#632ca6"), (r.paced_total_cpu, "#f6a623")]
            .into_iter()
            .enumerate()
        {
            if !v.is_finite() {
                continue;
            }
            let w = (v / max * bar_w).max(1.0);
            let by = y + 6.0 + 17.0 * j as f64;
            s += &format!(
                "<rect x=\"{left}\" y=\"{by}\" width=\"{w:.1}\" height=\"15\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{v:.0}</text>\n",
                left + w + 4.0,
                by + 12.0
            );
        }
    }
    s += "</svg>\n";
    s
}
