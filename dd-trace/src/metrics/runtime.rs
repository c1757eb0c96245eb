//! What the runtime and health metrics measure: the process (from `/proc/self`), the app's tokio
//! runtime (its stable metrics API; more with `--cfg tokio_unstable`), and the tracer's own
//! counters.
//!
//! In: a reading every interval, on the metrics thread. Out: [`Metric`]s: gauges of what is
//! now, CPU as a share of one core over the interval, counts of what changed since the previous
//! reading.

use std::time::{Duration, Instant};

use super::dogstatsd::Metric;
use crate::health::CounterSnapshot;

/// Clock ticks per second of `/proc/self/stat`'s CPU times (Linux's `USER_HZ`, 100 on every
/// architecture Rust targets).
const TICKS_PER_SECOND: f64 = 100.0;

/// What the previous reading saw, for the rates and counts.
#[derive(Debug, Default)]
pub(crate) struct Previous {
    at: Option<Instant>,
    cpu_ticks: Option<(u64, u64)>,
    busy: Vec<Duration>,
    counters: CounterSnapshot,
}

/// The process's metrics now: CPU (user and system, percent of one core over the interval),
/// resident and virtual memory, threads, open file descriptors.
pub(crate) fn process(previous: &mut Previous, now: Instant) -> Vec<Metric> {
    let mut out = Vec::new();
    let elapsed = previous.at.map(|at| now.duration_since(at).as_secs_f64());
    if let Some((user, system)) = cpu_ticks() {
        if let (Some((u0, s0)), Some(secs)) = (previous.cpu_ticks, elapsed.filter(|s| *s > 0.0)) {
            let pct = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / secs * 100.0;
            out.push(Metric::Gauge(
                "runtime.rust.cpu.user",
                pct(user.saturating_sub(u0)),
                Vec::new(),
            ));
            out.push(Metric::Gauge(
                "runtime.rust.cpu.system",
                pct(system.saturating_sub(s0)),
                Vec::new(),
            ));
        }
        previous.cpu_ticks = Some((user, system));
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let field = |name: &str| {
            status.lines().find_map(|l| {
                let rest = l.strip_prefix(name)?.trim();
                rest.split_whitespace().next()?.parse::<f64>().ok()
            })
        };
        if let Some(kb) = field("VmRSS:") {
            out.push(Metric::Gauge(
                "runtime.rust.mem.rss",
                kb * 1024.0,
                Vec::new(),
            ));
        }
        if let Some(kb) = field("VmSize:") {
            out.push(Metric::Gauge(
                "runtime.rust.mem.virtual",
                kb * 1024.0,
                Vec::new(),
            ));
        }
        if let Some(n) = field("Threads:") {
            out.push(Metric::Gauge("runtime.rust.threads", n, Vec::new()));
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.push(Metric::Gauge(
            "runtime.rust.fds.open",
            fds.count() as f64,
            Vec::new(),
        ));
    }
    previous.at = Some(now);
    out
}

/// `utime` and `stime` of `/proc/self/stat`, in clock ticks.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some((fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?))
}

/// The tokio runtime's metrics now: workers, alive tasks, the global queue's depth, each
/// worker's busy share of the interval (and, with `tokio_unstable`, blocking threads and the
/// tasks spawned).
pub(crate) fn tokio(
    metrics: &tokio::runtime::RuntimeMetrics,
    previous: &mut Previous,
    elapsed: Option<Duration>,
) -> Vec<Metric> {
    let workers = metrics.num_workers();
    let mut out = vec![
        Metric::Gauge("runtime.rust.tokio.workers", workers as f64, Vec::new()),
        Metric::Gauge(
            "runtime.rust.tokio.tasks.alive",
            metrics.num_alive_tasks() as f64,
            Vec::new(),
        ),
        Metric::Gauge(
            "runtime.rust.tokio.global_queue.depth",
            metrics.global_queue_depth() as f64,
            Vec::new(),
        ),
    ];
    let busy: Vec<Duration> = (0..workers)
        .map(|w| metrics.worker_total_busy_duration(w))
        .collect();
    if let Some(elapsed) = elapsed.filter(|e| !e.is_zero()) {
        if previous.busy.len() == busy.len() {
            let mut total = 0.0;
            for (w, (now, before)) in busy.iter().zip(&previous.busy).enumerate() {
                let share =
                    now.saturating_sub(*before).as_secs_f64() / elapsed.as_secs_f64() * 100.0;
                total += share;
                out.push(Metric::Gauge(
                    "runtime.rust.tokio.worker.busy",
                    share.min(100.0),
                    vec![format!("worker:{w}")],
                ));
            }
            out.push(Metric::Gauge(
                "runtime.rust.tokio.busy",
                (total / workers.max(1) as f64).min(100.0),
                Vec::new(),
            ));
        }
    }
    previous.busy = busy;
    #[cfg(tokio_unstable)]
    {
        out.push(Metric::Gauge(
            "runtime.rust.tokio.blocking_threads",
            metrics.num_blocking_threads() as f64,
            Vec::new(),
        ));
        out.push(Metric::Gauge(
            "runtime.rust.tokio.blocking_threads.idle",
            metrics.num_idle_blocking_threads() as f64,
            Vec::new(),
        ));
    }
    out
}

/// The tracer's health: counts of what changed since the previous reading, gauges of what
/// waits.
pub(crate) fn health(
    now: &CounterSnapshot,
    previous: &mut Previous,
    queued_chunks: usize,
    retry_spans: u64,
    retry_bytes: u64,
) -> Vec<Metric> {
    let before = previous.counters;
    let delta = |f: fn(&CounterSnapshot) -> u64| f(now).saturating_sub(f(&before));
    let mut out = vec![
        Metric::Count(
            "datadog.tracer.spans.started",
            delta(|c| c.spans_started),
            Vec::new(),
        ),
        Metric::Count(
            "datadog.tracer.spans.finished",
            delta(|c| c.spans_finished),
            Vec::new(),
        ),
        Metric::Count(
            "datadog.tracer.spans.sent",
            delta(|c| c.spans_sent),
            Vec::new(),
        ),
    ];
    for ((reason, _, n), (_, _, was)) in now.drops().into_iter().zip(before.drops()) {
        out.push(Metric::Count(
            "datadog.tracer.spans.dropped",
            n.saturating_sub(was),
            vec![format!("reason:{reason}")],
        ));
    }
    out.extend([
        Metric::Count(
            "datadog.tracer.payloads.sent",
            delta(|c| c.payloads_sent),
            Vec::new(),
        ),
        Metric::Count(
            "datadog.tracer.bytes.sent",
            delta(|c| c.bytes_sent),
            Vec::new(),
        ),
        Metric::Count(
            "datadog.tracer.send.errors",
            delta(|c| c.failed_send_attempts),
            Vec::new(),
        ),
        Metric::Count(
            "datadog.tracer.payloads.dropped",
            delta(|c| c.payloads_dropped),
            Vec::new(),
        ),
    ]);
    out.push(Metric::Gauge(
        "datadog.tracer.queue.chunks",
        queued_chunks as f64,
        Vec::new(),
    ));
    out.push(Metric::Gauge(
        "datadog.tracer.retry_buffer.spans",
        retry_spans as f64,
        Vec::new(),
    ));
    out.push(Metric::Gauge(
        "datadog.tracer.retry_buffer.bytes",
        retry_bytes as f64,
        Vec::new(),
    ));
    previous.counters = *now;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_metrics_read_proc_and_cpu_needs_two_readings() {
        let mut previous = Previous::default();
        let first = process(&mut previous, Instant::now());
        let names: Vec<&str> = first
            .iter()
            .map(|m| match m {
                Metric::Gauge(n, ..) | Metric::Count(n, ..) => *n,
            })
            .collect();
        for name in [
            "runtime.rust.mem.rss",
            "runtime.rust.mem.virtual",
            "runtime.rust.threads",
            "runtime.rust.fds.open",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        assert!(
            !names.contains(&"runtime.rust.cpu.user"),
            "no rate from one reading"
        );
        // Burn some CPU, then read again.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(60) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let second = process(&mut previous, Instant::now());
        assert!(second
            .iter()
            .any(|m| matches!(m, Metric::Gauge("runtime.rust.cpu.user", v, _) if *v >= 0.0)));
    }

    #[test]
    fn health_metrics_are_deltas_and_depths() {
        let mut previous = Previous::default();
        let c = CounterSnapshot {
            spans_started: 10,
            spans_sent: 4,
            spans_dropped_queue_full: 2,
            ..CounterSnapshot::default()
        };
        let m = health(&c, &mut previous, 3, 5, 700);
        assert!(m.contains(&Metric::Count("datadog.tracer.spans.started", 10, vec![])));
        assert!(m.contains(&Metric::Count(
            "datadog.tracer.spans.dropped",
            2,
            vec!["reason:queue_full".into()]
        )));
        assert!(m.contains(&Metric::Gauge("datadog.tracer.queue.chunks", 3.0, vec![])));
        let c2 = CounterSnapshot {
            spans_started: 15,
            ..c
        };
        let m = health(&c2, &mut previous, 0, 0, 0);
        assert!(m.contains(&Metric::Count("datadog.tracer.spans.started", 5, vec![])));
        assert!(m.contains(&Metric::Count("datadog.tracer.spans.sent", 0, vec![])));
    }
}
