//! What the tracer does when the agent misbehaves or is missing, against a fault-injecting
//! agent of our own (TCP and Unix socket), and what an operator sees from a real process. For
//! each fault: the app's threads are not held up, memory stays under the retry buffer's cap,
//! every span is either delivered once or counted as dropped with its reason, and delivery
//! resumes when the agent is back.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use dd_trace::diagnostics::AgentState;
use dd_trace::{DatadogGuard, FlushError};
use dd_trace_test_support::{Fault, FaultAgent};
use tracing::{info_span, Dispatch};
use tracing_subscriber::prelude::*;

fn tracer(agent_url: &str) -> (Dispatch, DatadogGuard) {
    dd_trace_test_support::tracer(agent_url, &[("DD_SERVICE", "faults")])
}

/// Makes `n` two-span traces; the longest one of them took on this (the app's) thread.
fn make_traces(dispatch: &Dispatch, n: usize) -> Duration {
    tracing::dispatcher::with_default(dispatch, || {
        let mut worst = Duration::ZERO;
        for _ in 0..n {
            let t = Instant::now();
            info_span!("root").in_scope(|| info_span!("child").in_scope(|| {}));
            worst = worst.max(t.elapsed());
        }
        worst
    })
}

/// Reports the worst time one trace took on the app's thread while the agent misbehaved
/// (`cargo test --test faults -- --nocapture` shows them all), and fails if the thread was
/// held up: every fault here lasts a second or more, so a thread that waited on the agent
/// would take that long; a trace normally takes microseconds, and the bound leaves room
/// for a loaded machine's scheduling.
fn assert_unharmed(label: &str, worst: Duration) {
    eprintln!("{label}: worst trace on the app thread {worst:?}");
    assert!(
        worst < Duration::from_millis(500),
        "{label}: the app's thread was held up for {worst:?}"
    );
}

/// The tracer's own lines in this test process (every test's), from its diagnostics handler.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Sends the tracer's lines to [`LINES`] from now on.
fn capture_lines() {
    static CAPTURE: Once = Once::new();
    CAPTURE.call_once(|| {
        dd_trace::diagnostics::set_handler(|level, line| {
            LINES.lock().unwrap().push(format!("{level} {line}"));
        });
    });
}

/// The tracer's lines that name `url`, since the first [`capture_lines`].
fn lines_about(url: &str) -> Vec<String> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(url))
        .cloned()
        .collect()
}

/// A socket path in a fresh directory of its own.
fn socket_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-trace-faults-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("apm.socket")
}

/// Every span id the agent accepted, checked to be there once.
fn accepted_once(agent: &FaultAgent) -> usize {
    let ids = agent.accepted_span_ids();
    let unique: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a span was delivered twice");
    ids.len()
}

#[test]
fn transient_failures_are_retried_until_the_agent_accepts() {
    let agent = FaultAgent::start(vec![503, 429]);
    let (dispatch, guard) = tracer(&agent.url());
    make_traces(&dispatch, 10);
    guard.flush().unwrap();
    let status = guard.status();
    assert_eq!(agent.count(), 3, "two failures, then success");
    assert_eq!(status.counters.failed_send_attempts, 2);
    assert_eq!(status.counters.spans_sent, 20);
    assert_eq!(status.counters.payloads_dropped, 0);
    assert_eq!(status.agent_rates.get("service:,env:"), Some(&1.0));
    // Every attempt carried the same payload.
    let received = agent.received.lock().unwrap();
    assert!(received.iter().all(|r| r.body == received[0].body));
}

#[test]
fn client_errors_are_not_retried_and_are_counted() {
    for code in [400, 413, 415] {
        let agent = FaultAgent::start(vec![code]);
        let (dispatch, guard) = tracer(&agent.url());
        make_traces(&dispatch, 5);
        guard.flush().unwrap();
        let status = guard.status();
        assert_eq!(agent.count(), 1, "status {code} must not be retried");
        assert_eq!(status.counters.payloads_dropped, 1, "{code}");
        assert_eq!(status.counters.spans_dropped_send_failed, 10, "{code}");
        assert!(
            status
                .last_error
                .as_deref()
                .unwrap()
                .contains(&code.to_string()),
            "{status:?}"
        );
        // The tracer keeps working: the next payload goes through.
        make_traces(&dispatch, 1);
        guard.flush().unwrap();
        assert_eq!(guard.status().counters.spans_sent, 2);
    }
}

#[test]
fn retries_are_bounded_then_the_payload_is_dropped() {
    let agent = FaultAgent::start(vec![500; 10]);
    let (dispatch, guard) = tracer(&agent.url());
    make_traces(&dispatch, 4);
    guard.flush().unwrap();
    let status = guard.status();
    assert_eq!(agent.count(), 4, "one attempt and three retries");
    assert_eq!(status.counters.failed_send_attempts, 4);
    assert_eq!(status.counters.spans_dropped_send_failed, 8);
    assert_eq!(status.counters.spans_sent, 0);
}

#[test]
fn an_agent_that_comes_up_after_the_app_gets_every_span_once() {
    capture_lines();
    let path = socket_path("late");
    let agent = FaultAgent::unix(&path, vec![], false);
    let (dispatch, guard) = tracer(&agent.url());
    let mut worst = make_traces(&dispatch, 100);
    // The agent is not there: the flush says so at once, and the spans wait.
    let started = Instant::now();
    let err = guard.flush().unwrap_err();
    assert!(matches!(err, FlushError::AgentUnreachable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    worst = worst.max(make_traces(&dispatch, 100));
    assert!(guard.flush().is_err());
    assert_unharmed("agent absent at start", worst);
    let status = guard.status();
    assert_eq!(status.agent.state, AgentState::Unreachable);
    assert_eq!(status.retry_buffer.spans, 400, "{status:#?}");
    assert!(status.retry_buffer.bytes <= status.retry_buffer.capacity_bytes);
    assert_eq!(status.counters.spans_dropped(), 0);
    assert_eq!(status.errors[0].kind, "socket not found");
    assert!(
        status.errors[0].remedy.contains("holds no socket"),
        "{:?}",
        status.errors
    );
    let warnings: Vec<String> = lines_about(&agent.url())
        .into_iter()
        .filter(|l| l.starts_with("WARN"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning however many failures: {warnings:#?}"
    );
    assert!(warnings[0].contains("retry buffer"), "{}", warnings[0]);

    agent.resume();
    make_traces(&dispatch, 100);
    guard.flush().unwrap();
    assert_eq!(accepted_once(&agent), 600);
    let status = guard.status();
    assert_eq!(status.agent.state, AgentState::Accepting);
    assert_eq!(status.retry_buffer.spans, 0);
    assert_eq!(status.counters.spans_sent, 600);
    assert!(lines_about(&agent.url())
        .iter()
        .any(|l| l.starts_with("INFO") && l.contains("reachable again")));
}

#[test]
fn a_five_second_agent_restart_at_10k_spans_per_second_loses_nothing() {
    let path = socket_path("restart");
    let agent = FaultAgent::unix(&path, vec![], true);
    let cap: u64 = 32 * 1024 * 1024;
    let (dispatch, guard) = dd_trace_test_support::tracer_with(
        &agent.url(),
        &[("DD_SERVICE", "faults")],
        Duration::from_secs(1),
    );
    let status = guard.status_handle();
    let producing = Duration::from_secs(8);
    // 5 000 two-span traces per second, paced per millisecond; the worst time one trace
    // took on the app's thread (open, close, hand-off) is measured.
    let producer = std::thread::spawn(move || {
        let (mut traces, mut worst) = (0u64, Duration::ZERO);
        let start = Instant::now();
        tracing::dispatcher::with_default(&dispatch, || {
            while start.elapsed() < producing {
                let due = (start.elapsed().as_micros() as u64) * 5 / 1000;
                while traces < due {
                    let t = Instant::now();
                    info_span!("root").in_scope(|| info_span!("child").in_scope(|| {}));
                    worst = worst.max(t.elapsed());
                    traces += 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        (traces, worst, start.elapsed())
    });
    let mut peak = 0;
    let mut sample = |until: Instant| {
        while Instant::now() < until {
            peak = peak.max(status.status().retry_buffer.bytes);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    sample(Instant::now() + Duration::from_millis(1500));
    agent.stop();
    sample(Instant::now() + Duration::from_secs(5));
    let answered = || agent.answered.load(std::sync::atomic::Ordering::Relaxed);
    let before = answered();
    agent.resume();
    let back = Instant::now();
    while answered() == before && back.elapsed() < Duration::from_secs(10) {
        peak = peak.max(status.status().retry_buffer.bytes);
        std::thread::sleep(Duration::from_millis(10));
    }
    let resumed_after = back.elapsed();
    let (traces, worst, elapsed) = producer.join().unwrap();
    guard.flush_timeout(Duration::from_secs(20)).unwrap();
    let c = status.status().counters;
    eprintln!(
        "restart: {traces} traces in {elapsed:.1?} ({:.0} spans/s), delivery resumed {resumed_after:?} after the agent came back, retry buffer peak {peak} bytes",
        (2 * traces) as f64 / elapsed.as_secs_f64()
    );
    assert_unharmed("5 s agent restart", worst);
    assert_eq!(c.spans_dropped(), 0, "{c:#?}");
    assert_eq!(accepted_once(&agent) as u64, 2 * traces);
    assert!(peak > 0 && peak <= cap, "{peak}");
    // Within the one-second probe interval (with slack for a loaded machine).
    assert!(resumed_after < Duration::from_secs(3), "{resumed_after:?}");
}

#[test]
fn a_stalled_agent_is_reported_well_before_the_timeout_and_holds_nothing_up() {
    capture_lines();
    // Both request slots stall for 6 s; the agent timeout is the default 10 s.
    let stall = Duration::from_secs(6);
    let cap = dd_trace::config::DEFAULT_RETRY_BUFFER_BYTES;
    let agent = FaultAgent::tcp(vec![Fault::Stall(stall), Fault::Stall(stall)]);
    let (dispatch, guard) = dd_trace_test_support::tracer_with(
        &agent.url(),
        &[("DD_SERVICE", "faults")],
        Duration::from_millis(100),
    );
    let started = Instant::now();
    let mut made = 0;
    let mut reported = None;
    let mut worst = Duration::ZERO;
    while started.elapsed() < Duration::from_millis(5500) {
        worst = worst.max(make_traces(&dispatch, 10));
        made += 10;
        let status = guard.status();
        if reported.is_none() && status.agent.state == AgentState::Stalled {
            reported = Some(started.elapsed());
            assert_eq!(status.counters.spans_dropped(), 0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let reported = reported.expect("the stall shows in the status");
    eprintln!("stall: reported {reported:?} after the first send (timeout 10 s)");
    assert_unharmed("agent stalled 6 s", worst);
    assert!(reported < Duration::from_secs(6), "{reported:?}");
    let status = guard.status();
    assert!(
        status.retry_buffer.payloads > 0,
        "later payloads wait: {status:#?}"
    );
    assert_eq!(status.queued_chunks, 0, "the queue keeps draining");
    assert!(status.retry_buffer.bytes <= cap);
    let warning = lines_about(&agent.url())
        .into_iter()
        .find(|l| l.contains("accepted the connection but has not answered"))
        .expect("a warning about the stall");
    assert!(warning.starts_with("WARN"), "{warning}");
    guard.flush_timeout(Duration::from_secs(10)).unwrap();
    let c = guard.status().counters;
    assert_eq!(c.spans_dropped(), 0, "{c:#?}");
    assert_eq!(accepted_once(&agent), 2 * made);
    assert_eq!(guard.status().agent.state, AgentState::Accepting);
}

#[test]
fn a_request_never_answered_is_given_up_at_the_timeout_and_not_sent_twice() {
    let agent = FaultAgent::tcp(vec![Fault::Hang]);
    let (dispatch, guard) = dd_trace_test_support::tracer(
        &agent.url(),
        &[("DD_SERVICE", "faults"), ("DD_TRACE_AGENT_TIMEOUT", "1")],
    );
    let mut worst = make_traces(&dispatch, 5);
    let mut made = 5;
    let flushed = std::thread::scope(|scope| {
        let flushing = scope.spawn(|| guard.flush_timeout(Duration::from_secs(5)));
        // Traces made while the request hangs.
        while !flushing.is_finished() {
            worst = worst.max(make_traces(&dispatch, 1));
            made += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        flushing.join().unwrap()
    });
    flushed.unwrap();
    assert_unharmed("agent never answers", worst);
    let status = guard.status();
    // It may have been processed: it is counted as dropped, never sent again. (Traces made
    // in the first moments of the flush may have joined the hung payload.)
    let hung = status.counters.spans_dropped_send_failed;
    assert!(hung >= 10, "{status:#?}");
    {
        let received = agent.received.lock().unwrap();
        let bodies: HashSet<&Vec<u8>> = received.iter().map(|r| &r.body).collect();
        assert_eq!(bodies.len(), received.len(), "a payload was sent twice");
    }
    assert_eq!(status.errors[0].kind, "timeout");
    make_traces(&dispatch, 5);
    made += 5;
    guard.flush().unwrap();
    let c = guard.status().counters;
    assert_eq!(c.spans_dropped(), hung, "only the hung payload's: {c:#?}");
    assert_eq!(c.spans_sent + hung, 2 * made, "{c:#?}");
    assert_eq!(accepted_once(&agent) as u64, c.spans_sent);
}

/// One fault, then what the tracer must have done: how many attempts, and whether the spans
/// were delivered, or dropped with the error kind the status names.
struct Case {
    faults: Vec<Fault>,
    attempts: usize,
    delivered: bool,
    kind: &'static str,
}

#[test]
fn every_kind_of_answer_is_handled_as_the_spec_decides() {
    let case = |faults: Vec<Fault>, attempts, delivered, kind| Case {
        faults,
        attempts,
        delivered,
        kind,
    };
    let status = |code| Fault::Status(code);
    let cases = [
        case(vec![status(400)], 1, false, "HTTP 400"),
        case(vec![status(403)], 1, false, "HTTP 403"),
        case(vec![status(404)], 1, false, "HTTP 404"),
        case(vec![status(413)], 1, false, "HTTP 413"),
        case(vec![status(415)], 1, false, "HTTP 415"),
        case(vec![status(408)], 2, true, "HTTP 408"),
        case(vec![status(429), status(429)], 3, true, "HTTP 429"),
        case(vec![status(500)], 2, true, "HTTP 500"),
        case(vec![status(503); 4], 4, false, "HTTP 503"),
        case(vec![Fault::Close], 2, true, "connection closed"),
        case(vec![Fault::Garbage], 2, true, "connection closed"),
        case(vec![Fault::Stall(Duration::from_millis(300))], 1, true, ""),
    ];
    for Case {
        faults,
        attempts,
        delivered,
        kind,
    } in cases
    {
        let label = format!("{faults:?}");
        // The faults meet the first payload (and its retries), whatever the payloads of the
        // traces made meanwhile do.
        let agent = FaultAgent::tcp_for_first_payload(faults);
        let (dispatch, guard) = tracer(&agent.url());
        let mut worst = make_traces(&dispatch, 5);
        // More traces on this thread while the first payload meets the fault.
        let flushed = std::thread::scope(|scope| {
            let flushing = scope.spawn(|| guard.flush());
            worst = worst.max(make_traces(&dispatch, 200));
            flushing.join().unwrap()
        });
        flushed.unwrap();
        // One more, surely in a payload of its own.
        make_traces(&dispatch, 1);
        guard.flush().unwrap();
        assert_unharmed(&label, worst);
        let s = guard.status();
        // The first payload met the fault; the later ones went through.
        assert!(agent.count() >= attempts, "{label}");
        let failed = attempts - usize::from(delivered);
        assert_eq!(s.counters.failed_send_attempts as usize, failed, "{label}");
        let c = &s.counters;
        assert_eq!(c.spans_sent + c.spans_dropped(), 412, "{label}");
        assert_eq!(accepted_once(&agent) as u64, c.spans_sent, "{label}");
        assert!(
            s.retry_buffer.bytes <= s.retry_buffer.capacity_bytes,
            "{label}"
        );
        if delivered {
            assert_eq!(c.spans_sent, 412, "{label}");
        } else {
            assert!(c.spans_dropped_send_failed >= 10, "{label}: {s:#?}");
            assert_eq!(c.spans_dropped(), c.spans_dropped_send_failed, "{label}");
        }
        // The tracer keeps working whatever happened.
        assert_eq!(s.agent.state, AgentState::Accepting, "{label}");
        if !kind.is_empty() {
            assert_eq!(s.errors[0].kind, kind, "{label}: {:?}", s.errors);
            assert!(!s.errors[0].remedy.is_empty());
        }
    }
}

#[test]
fn nothing_listening_on_a_tcp_port_keeps_the_spans_and_names_the_host_variable() {
    capture_lines();
    let [port] = dd_trace_test_support::free_ports::<1>();
    let url = format!("http://127.0.0.1:{port}");
    let (dispatch, guard) = tracer(&url);
    let worst = make_traces(&dispatch, 3);
    assert!(matches!(
        guard.flush(),
        Err(FlushError::AgentUnreachable(_))
    ));
    assert_unharmed("connection refused", worst);
    let s = guard.status();
    assert_eq!(s.errors[0].kind, "connection refused");
    assert!(
        s.errors[0].remedy.contains("DD_AGENT_HOST"),
        "{:?}",
        s.errors
    );
    assert_eq!(s.retry_buffer.spans, 6);
    // Shutdown gives up at its deadline and counts what it could not deliver.
    let started = Instant::now();
    // Shutdown returns what it dropped, and says it in one line.
    let summary = guard.shutdown(Duration::from_secs(2)).expect("answered");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(summary.counters.spans_dropped_shutdown, 6);
    assert!(!summary.is_lossless());
    assert_eq!(
        summary.to_string(),
        "sent 0 spans, dropped 6 (6 at shutdown)"
    );
    let lines = lines_about(&url);
    assert!(lines
        .iter()
        .any(|l| l.contains("shutdown: 6 spans not yet delivered") && l.contains("unreachable")));
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("): sent 0 spans, dropped 6 (6 at shutdown)")),
        "{lines:#?}"
    );
}

#[test]
fn shutdown_with_the_agent_up_delivers_every_finished_span() {
    let agent = FaultAgent::tcp(vec![]);
    let (dispatch, guard) = tracer(&agent.url());
    // As many traces as the hand-off queue holds (made flat out, faster than a debug build's
    // worker drains them), all finished before the shutdown starts.
    make_traces(&dispatch, dd_trace::config::DEFAULT_QUEUE_CAPACITY);
    let summary = guard.shutdown(Duration::from_secs(10)).expect("answered");
    assert!(summary.is_lossless(), "{summary:#?}");
    assert_eq!(
        summary.spans_sent(),
        2 * dd_trace::config::DEFAULT_QUEUE_CAPACITY as u64
    );
    assert_eq!(
        accepted_once(&agent),
        2 * dd_trace::config::DEFAULT_QUEUE_CAPACITY
    );
}

#[test]
fn a_panic_unwinding_out_of_main_still_delivers_the_spans() {
    let agent = FaultAgent::tcp(vec![]);
    let out = Command::new(env!("CARGO_BIN_EXE_dd-trace-probe"))
        .env("DD_TRACE_AGENT_URL", agent.url())
        .env("DD_TRACE_STARTUP_LOGS", "false")
        .env("PROBE_QUIET", "1")
        .env("PROBE_TRACES", "50")
        .env("PROBE_PANIC", "1")
        .output()
        .expect("probe runs");
    assert!(!out.status.success(), "the probe panics");
    assert_eq!(accepted_once(&agent), 100);
}

#[test]
fn a_flush_that_times_out_does_not_hold_up_the_shutdown_after_it() {
    let agent = FaultAgent::start(vec![FaultAgent::HANG]);
    let (dispatch, guard) = tracer(&agent.url());
    make_traces(&dispatch, 3);
    let handle = guard.status_handle();
    let started = std::time::Instant::now();
    assert!(guard.flush_timeout(Duration::from_millis(300)).is_err());
    // The worker stopped waiting with the flush: the shutdown is answered within its own
    // timeout and counts the delivery it had to abandon as dropped at shutdown.
    let summary = guard.shutdown(Duration::from_secs(2)).expect("answered");
    assert_eq!(summary.counters.spans_dropped_shutdown, 6);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let c = handle.status().counters;
    assert_eq!(c.spans_dropped_shutdown, 6, "{c:?}");
    assert_eq!(c.spans_dropped_send_failed, 0, "{c:?}");
}

#[test]
fn shutdown_sends_what_finished_before_it() {
    let agent = FaultAgent::start(vec![]);
    let (dispatch, guard) = tracer(&agent.url());
    make_traces(&dispatch, 1);
    let status_before = guard.status();
    assert!(status_before.enabled);
    // Current when read: the trace just made is finished, sent or still waiting to be.
    let c = &status_before.counters;
    assert_eq!(c.spans_finished, 2);
    assert_eq!(c.spans_sent + c.spans_waiting(), 2, "{c:?}");
    drop(dispatch);
    let summary = guard.shutdown(Duration::from_secs(5)).expect("answered");
    assert_eq!((summary.spans_sent(), summary.spans_dropped()), (2, 0));
    assert_eq!(agent.count(), 1);
}

#[test]
fn dd_trace_debug_shows_each_send_and_retry_and_is_silent_otherwise() {
    let run = |debug: &str| {
        let agent = FaultAgent::tcp_with_info(
            vec![Fault::Status(503)],
            r#"{"version":"7.60.0","endpoints":["/v0.4/traces"]}"#,
        );
        let out = Command::new(env!("CARGO_BIN_EXE_dd-trace-probe"))
            .env("DD_TRACE_AGENT_URL", agent.url())
            .env("DD_TRACE_STARTUP_LOGS", "false")
            .env("DD_TRACE_DEBUG", debug)
            .env("PROBE_QUIET", "1")
            .env("PROBE_TRACES", "5")
            // A second round after the agent's /info has come.
            .env("PROBE_ROUNDS", "2")
            .output()
            .expect("probe runs");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(accepted_once(&agent), 20, "the retry delivered them");
        String::from_utf8(out.stderr).unwrap()
    };
    let stderr = run("true");
    let debug: Vec<&str> = stderr.lines().filter(|l| l.contains(" DEBUG: ")).collect();
    for expected in [
        "answered /info: version 7.60.0",
        "sending 5 chunks, 10 spans",
        "failed (HTTP status 503",
        "retry 1 in",
    ] {
        assert!(
            debug.iter().any(|l| l.contains(expected)),
            "no debug line with {expected:?}: {stderr}"
        );
    }
    // Nothing of it without the variable, and no traces of the tracer's own (the agent saw
    // exactly the probe's spans above).
    let quiet = run("false");
    assert!(!quiet.contains("DEBUG"), "{quiet}");
    // Every shutdown says what was delivered, debug or not.
    for out in [&stderr, &quiet] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("dd-trace INFO: shut down (")
                    && l.ends_with("): sent 20 spans, dropped 0")),
            "{out}"
        );
    }
}

#[test]
fn an_unreachable_agent_and_a_bad_variable_each_give_one_warning() {
    let socket = "/nonexistent/dd-trace-test/apm.socket";
    let out = Command::new(env!("CARGO_BIN_EXE_dd-trace-probe"))
        .env("DD_TRACE_AGENT_URL", format!("unix://{socket}"))
        .env("DD_TRACE_SAMPLE_RATE", "lots")
        .env("DD_TRACE_STARTUP_LOGS", "false")
        .env("PROBE_TRACES", "20")
        .env("PROBE_ROUNDS", "3")
        .output()
        .expect("example runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    // The variable, the agent, and what shutdown had to drop.
    assert_eq!(warnings.len(), 3, "{stderr}");
    let variable = warnings
        .iter()
        .find(|l| l.contains("DD_TRACE_SAMPLE_RATE"))
        .expect("a warning naming the variable");
    assert!(
        variable.contains("\"lots\"") && variable.contains("default"),
        "{variable}"
    );
    let agent = warnings
        .iter()
        .find(|l| l.contains(socket))
        .expect("a warning naming the address");
    assert!(
        agent.contains("cannot connect") && agent.contains("hostPath"),
        "{agent}"
    );
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("shutdown: 120 spans not yet delivered")),
        "{stderr}"
    );
    // At exit, one line sums up what was lost.
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("INFO: shut down"))
        .collect();
    assert_eq!(summary.len(), 1, "{stderr}");
    assert!(
        summary[0].contains("dropped 120 (") && summary[0].contains("120 at shutdown"),
        "{}",
        summary[0]
    );
    // The app's JSON logs still went out with their correlation ids.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 60);
    assert!(
        stdout.lines().all(|l| l.contains("\"dd.trace_id\"")),
        "{stdout}"
    );
}

#[test]
fn a_full_queue_warns_once_with_the_remedy_and_shutdown_sums_up_the_drops() {
    let agent = FaultAgent::start(vec![]);
    let out = Command::new(env!("CARGO_BIN_EXE_dd-trace-probe"))
        .env("DD_TRACE_AGENT_URL", agent.url())
        .env("DD_TRACE_STARTUP_LOGS", "false")
        .env("PROBE_QUEUE_CAPACITY", "2")
        .env("PROBE_QUIET", "1")
        .env("PROBE_TRACES", "20000")
        .env("PROBE_ROUNDS", "2")
        .output()
        .expect("probe runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning, however many drops: {stderr}"
    );
    assert!(
        warnings[0].contains("hand-off queue")
            && warnings[0].contains("with_queue_capacity, now 2"),
        "{}",
        warnings[0]
    );
    let summary = stderr
        .lines()
        .find(|l| l.contains("INFO: shut down"))
        .unwrap_or_else(|| panic!("a shutdown summary: {stderr}"));
    // "shut down (http://…): sent N spans, dropped M (K at the full hand-off queue, …)"
    let dropped: u64 = summary
        .split(", dropped ")
        .nth(1)
        .and_then(|tail| tail.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of dropped spans: {summary}"));
    assert!(dropped > 0, "{summary}");
    assert!(summary.contains("at the full hand-off queue"), "{summary}");
}

/// A field whose `Debug` calls back into the tracer through a span handle, as a value that
/// holds its own span might.
struct Reentrant(tracing::Span);

impl std::fmt::Debug for Reentrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Span handles carry their own dispatcher, so these reach the layer while it records.
        self.0.record("nested", "inner");
        drop(self.0.enter());
        f.write_str("reentrant")
    }
}

#[test]
fn a_field_that_calls_back_into_its_span_while_recorded_does_not_deadlock() {
    let agent = FaultAgent::start(vec![]);
    let (dispatch, guard) = tracer(&agent.url());
    tracing::dispatcher::with_default(&dispatch, || {
        let span = info_span!(
            "reentrant",
            later = tracing::field::Empty,
            nested = tracing::field::Empty
        );
        span.record("later", tracing::field::debug(Reentrant(span.clone())));
    });
    guard.flush().unwrap();
    assert_eq!(guard.status().counters.spans_sent, 1);
    let body = agent.received.lock().unwrap()[0].body.clone();
    let payload: rmpv::Value = rmp_serde::from_slice(&body).unwrap();
    let meta = |key: &str| {
        payload[0][0]["meta"]
            .as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .and_then(|(_, v)| v.as_str().map(str::to_string))
    };
    assert_eq!(meta("later").as_deref(), Some("reentrant"));
    assert_eq!(meta("nested").as_deref(), Some("inner"));
}

#[test]
fn two_datadog_layers_in_one_stack_neither_panic_nor_lose_the_trace() {
    let agent = FaultAgent::start(vec![]);
    let url = agent.url();
    let build = || {
        dd_trace_test_support::builder(&[
            ("DD_TRACE_AGENT_URL", &url),
            ("DD_TRACE_STARTUP_LOGS", "false"),
        ])
        .build()
        .unwrap()
    };
    let ((first, first_guard), (second, second_guard)) = (build(), build());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(first).with(second));
    make_traces(&dispatch, 3);
    first_guard.flush().unwrap();
    second_guard.flush().unwrap();
    let sent = first_guard.status().counters.spans_sent + second_guard.status().counters.spans_sent;
    assert_eq!(sent, 6, "each span is sent once, by one of the layers");
}

#[test]
fn one_line_init_sends_and_prints_its_configuration_once() {
    let agent = FaultAgent::start(vec![]);
    let out = Command::new(env!("CARGO_BIN_EXE_dd-trace-probe"))
        .env("PROBE_INIT", "1")
        .env("PROBE_TRACES", "5")
        .env("DD_TRACE_AGENT_URL", agent.url())
        .env("DD_SERVICE", "probe-svc")
        .env("DD_ENV", "ci")
        .env("DD_TRACE_STARTUP_LOGS", "true")
        .env_remove("DD_TRACE_ENABLED")
        .output()
        .expect("probe runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("DATADOG TRACER CONFIGURATION "))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(lines[0].trim_start_matches("DATADOG TRACER CONFIGURATION "))
            .expect("the configuration is JSON");
    assert_eq!(json["service"], "probe-svc");
    assert_eq!(json["env"], "ci");
    assert_eq!(json["lang"], "rust");
    assert_eq!(json["agent_url"], agent.url());
    assert_eq!(json["enabled"], true);
    // The guard returned by init() sent every span when the probe exited.
    assert_eq!(accepted_once(&agent), 10);
}

/// `/info` of an agent that takes v0.5 payloads.
const INFO_V05: &str = r#"{"version":"7.60.0","endpoints":["/v0.4/traces","/v0.5/traces"]}"#;

#[test]
fn the_payload_format_follows_info_and_falls_back_to_v0_4_once_refused() {
    // The agent says it takes v0.5, then refuses it (an agent downgraded in place): with 404
    // (no such endpoint) or 415 (not a type it reads).
    for code in [404, 415] {
        falls_back_once_refused_with(code);
    }
}

fn falls_back_once_refused_with(code: u16) {
    capture_lines();
    let agent = FaultAgent::tcp_with_info(vec![Fault::Status(code)], INFO_V05);
    let (dispatch, guard) = tracer(&agent.url());
    // Until /info answers, v0.4; wait for the answer.
    let status = guard.status_handle();
    dd_trace_test_support::wait_for_agent_info(&status);
    make_traces(&dispatch, 5);
    guard.flush().unwrap();
    make_traces(&dispatch, 5);
    guard.flush().unwrap();
    let paths = agent.paths();
    assert_eq!(
        paths,
        ["/v0.5/traces", "/v0.4/traces"],
        "v0.5 first, then v0.4 for good"
    );
    let c = guard.status().counters;
    assert_eq!(
        (c.spans_dropped_send_failed, c.spans_sent),
        (10, 10),
        "{c:#?}"
    );
    let warnings: Vec<String> = lines_about(&agent.url())
        .into_iter()
        .filter(|l| l.contains("does not take v0.5"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(accepted_once(&agent), 10);
}

#[test]
fn a_change_of_agent_state_brings_a_new_info_and_its_format() {
    let agent = FaultAgent::tcp_with_info(vec![], r#"{"endpoints":["/v0.4/traces"]}"#);
    let (dispatch, guard) = tracer(&agent.url());
    make_traces(&dispatch, 2);
    guard.flush().unwrap();
    // The agent is reconfigured: its answers carry a new state, its /info a new endpoint.
    agent.set_info(INFO_V05, "state-2");
    make_traces(&dispatch, 2);
    guard.flush().unwrap();
    // The first state seen is the baseline; the next change asks /info again.
    agent.set_info(INFO_V05, "state-3");
    make_traces(&dispatch, 2);
    guard.flush().unwrap();
    let status = guard.status_handle();
    dd_trace_test_support::wait_until("the new /info", || {
        status
            .status()
            .agent
            .info
            .is_some_and(|i| i.version.is_some())
    });
    make_traces(&dispatch, 2);
    guard.flush().unwrap();
    let paths = agent.paths();
    assert_eq!(
        paths.first().map(String::as_str),
        Some("/v0.4/traces"),
        "{paths:?}"
    );
    assert_eq!(
        paths.last().map(String::as_str),
        Some("/v0.5/traces"),
        "{paths:?}"
    );
    assert_eq!(
        status.status().agent.info.unwrap().version.as_deref(),
        Some("7.60.0")
    );
    assert_eq!(accepted_once(&agent), 16);
}

#[test]
fn payloads_stay_under_the_agents_max_request_bytes() {
    let agent = FaultAgent::tcp_with_info(
        vec![],
        r#"{"endpoints":["/v0.4/traces"],"config":{"max_request_bytes":40000}}"#,
    );
    let (dispatch, guard) = tracer(&agent.url());
    let status = guard.status_handle();
    dd_trace_test_support::wait_for_agent_info(&status);
    make_traces(&dispatch, 1000);
    guard.flush().unwrap();
    let received = agent.received.lock().unwrap();
    assert!(received.len() > 5, "{} payloads", received.len());
    assert!(
        received.iter().all(|r| r.body.len() < 40_000),
        "{:?}",
        received.iter().map(|r| r.body.len()).collect::<Vec<_>>()
    );
    drop(received);
    assert_eq!(accepted_once(&agent), 2000);
}

#[test]
fn an_agent_refusing_v1_0_gets_the_next_format_it_offers() {
    let info = r#"{"endpoints":["/v0.4/traces","/v0.5/traces","/v1.0/traces"]}"#;
    let agent = FaultAgent::tcp_with_info(vec![Fault::Status(404)], info);
    let (dispatch, guard) = tracer(&agent.url());
    let status = guard.status_handle();
    dd_trace_test_support::wait_for_agent_info(&status);
    make_traces(&dispatch, 3);
    guard.flush().unwrap();
    make_traces(&dispatch, 3);
    guard.flush().unwrap();
    assert_eq!(agent.paths(), ["/v1.0/traces", "/v0.5/traces"]);
    assert_eq!(accepted_once(&agent), 6);
}

#[test]
fn client_stats_wait_for_an_agent_that_lets_tracers_drop_unsampled_traces() {
    // /v0.6/stats is listed, client_drop_p0s is not: the agent computes the stats from every
    // chunk, so the tracer computes none and sends every chunk, unsampled ones too.
    let agent = FaultAgent::tcp_with_info(
        vec![],
        r#"{"version":"7.60.0","endpoints":["/v0.4/traces","/v0.6/stats"],"client_drop_p0s":false}"#,
    );
    let (dispatch, guard) = dd_trace_test_support::tracer(
        &agent.url(),
        &[
            ("DD_SERVICE", "faults"),
            ("DD_TRACE_SAMPLE_RATE", "0"),
            ("DD_TRACE_STATS_COMPUTATION_ENABLED", "true"),
        ],
    );
    dd_trace_test_support::wait_for_agent_info(&guard.status_handle());
    make_traces(&dispatch, 5);
    guard.flush().unwrap();
    assert_eq!(accepted_once(&agent), 10, "unsampled chunks are sent");
    assert_eq!(agent.paths(), ["/v0.4/traces"], "no stats payload");
    let received = agent.received.lock().unwrap();
    assert!(
        !received[0]
            .headers
            .iter()
            .any(|(k, _)| k == "datadog-client-computed-stats"),
        "{:?}",
        received[0].headers
    );
}

#[test]
fn a_socket_the_process_may_not_open_is_named_with_its_remedy() {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path("denied");
    let _ = std::fs::remove_file(&path);
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(
        path.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let probe = env!("CARGO_BIN_EXE_dd-trace-probe");
    // Root may open any socket: as root, the probe runs as `nobody` on a socket only root may
    // open; as anyone else, on a socket nobody may open.
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut command = if as_root {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", probe]);
        c
    } else {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        Command::new(probe)
    };
    let out = command
        .env("DD_TRACE_AGENT_URL", format!("unix://{}", path.display()))
        .env("DD_TRACE_STARTUP_LOGS", "false")
        .env("PROBE_QUIET", "1")
        .env("PROBE_TRACES", "5")
        .output()
        .expect("the probe runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains(&path.display().to_string()))
        .unwrap_or_else(|| panic!("a warning naming the socket: {stderr}"));
    assert!(
        warning.contains("cannot connect: Permission denied (os error 13)"),
        "{warning}"
    );
    assert!(
        warning.contains("run it as a user or group the socket allows"),
        "{warning}"
    );
}
