//! The doctor: tells a newcomer, in one screen, why their traces are or are not arriving.
//!
//! In: the configuration the app would use (the `DD_*` environment, or a builder), on the
//! thread that calls [`diagnose`](crate::diagnose) — which blocks for a few seconds at most and does I/O, so it
//! belongs in a start-up check, a debug endpoint or the `doctor` example, never on a request
//! path. Out: a [`Diagnosis`]: one [`Check`] per step (configuration, with the `DD_*`/`OTEL_*`
//! variables set that this tracer does not read; this process's subscriber, whose filters may
//! keep spans from the layer; the agent's address and why it was chosen, the socket or the host
//! name, the connection, `/info`, a test trace the agent must accept) and the status of the
//! tracer that sent the test trace. With `DD_TRACE_DOCTOR=true`, `build()` runs it on a thread
//! of its own a few seconds after start ([`run_later`]) and prints it.

use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use std::time::Duration;

use super::TracerStatus;
use crate::config::{
    about, AgentAddress, AgentEndpoint, AgentSource, DogStatsdAddress, Settings,
    DEFAULT_AGENT_SOCKET,
};
use crate::error::{BuildError, FlushError};
use crate::export::send_error::{connect_cause, SendError};
use crate::export::transport::container::ContainerInfo;
use crate::export::transport::{AgentTransport, InfoAnswer, CONNECT_TIMEOUT};
use crate::health::filters;
use crate::health::log;
use crate::layer::DatadogLayer;

/// How one step of a [`Diagnosis`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckOutcome {
    /// Fine.
    Pass,
    /// Works, but deserves a look.
    Warn,
    /// Keeps traces from arriving.
    Fail,
    /// Not run, because an earlier step failed.
    Skipped,
}

impl fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckOutcome::Pass => "PASS",
            CheckOutcome::Warn => "WARN",
            CheckOutcome::Fail => "FAIL",
            CheckOutcome::Skipped => "SKIP",
        })
    }
}

/// One step of a [`Diagnosis`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Check {
    /// What was checked, e.g. `connection`.
    pub name: &'static str,
    /// How it went.
    pub outcome: CheckOutcome,
    /// What was found.
    pub detail: String,
    /// What to do about it, when something is wrong.
    pub remedy: Option<String>,
}

/// What [`diagnose`](crate::diagnose) found. Its `Display` is the one-screen report the `doctor` example prints.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Diagnosis {
    /// Every step, in order.
    pub checks: Vec<Check>,
    /// The status of the tracer that sent the test trace, when one was started.
    pub status: Option<TracerStatus>,
}

impl Diagnosis {
    /// Whether the agent accepted the test trace: traces from this configuration arrive.
    pub fn traces_arrive(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.name == TEST_TRACE && c.outcome == CheckOutcome::Pass)
    }

    /// The first failed step, if any.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.outcome == CheckOutcome::Fail)
    }

    /// The check of this process's subscriber when it failed: its filters keep most spans
    /// from the Datadog layer, whatever the agent does with the rest.
    fn process_failure(&self) -> Option<&Check> {
        self.checks
            .iter()
            .find(|c| c.name == THIS_PROCESS && c.outcome == CheckOutcome::Fail)
    }
}

impl Diagnosis {
    /// The fix to lead with: a doubtful address explains a failed connection better than the
    /// connection's own remedy.
    fn headline_fix(&self) -> Option<&str> {
        let failure = self.first_failure()?;
        let address = self
            .checks
            .iter()
            .find(|c| c.name == "agent address" && c.outcome == CheckOutcome::Warn);
        match address {
            Some(a) if failure.name == "connection" || failure.name == TEST_TRACE => {
                a.remedy.as_deref()
            }
            _ => failure.remedy.as_deref(),
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.status.as_ref().map_or("", |s| s.agent.url.as_str());
        if let (true, Some(process)) = (self.traces_arrive(), self.process_failure()) {
            writeln!(
                f,
                "dd-trace doctor: traces ARRIVE at the agent at {url}, but this process's spans do not reach the tracer: {}",
                process.detail
            )?;
            if let Some(remedy) = &process.remedy {
                writeln!(f, "  fix: {remedy}")?;
            }
        } else if self.traces_arrive() {
            writeln!(f, "dd-trace doctor: traces ARRIVE at the agent at {url}")?;
        } else {
            write!(f, "dd-trace doctor: traces do NOT arrive")?;
            match self.first_failure() {
                Some(c) => writeln!(f, ": {}", c.detail)?,
                None => writeln!(f)?,
            }
            if let Some(remedy) = self.headline_fix() {
                writeln!(f, "  fix: {remedy}")?;
            }
        }
        writeln!(f)?;
        for c in &self.checks {
            writeln!(f, "[{}] {}: {}", c.outcome, c.name, c.detail)?;
            if let Some(remedy) = &c.remedy {
                writeln!(f, "       fix: {remedy}")?;
            }
        }
        if let Some(status) = &self.status {
            writeln!(f, "\nstatus of the doctor's tracer:")?;
            write!(f, "{status}")?;
        }
        Ok(())
    }
}

const TEST_TRACE: &str = "test trace";
const THIS_PROCESS: &str = "this process";

/// How long after start `DD_TRACE_DOCTOR=true` waits for the app to install its subscriber
/// (and start a few spans) before it diagnoses.
pub(crate) const DOCTOR_DELAY: Duration = Duration::from_secs(5);

/// What the doctor is told besides the settings: the warnings about malformed variables, the
/// variables set that no setting reads, and the check of this process's subscriber.
pub(crate) struct Findings<'a> {
    pub(crate) warnings: &'a [String],
    pub(crate) unsupported: &'a [String],
    pub(crate) process: Check,
}

/// What the test trace found: how its flush ended, and the status of the tracer that sent it.
pub(crate) struct TestTrace {
    pub(crate) flushed: Result<(), FlushError>,
    pub(crate) status: TracerStatus,
}

/// The diagnosis when the builder's values cannot make a tracer.
pub(crate) fn unbuildable(error: &BuildError) -> Diagnosis {
    Diagnosis {
        checks: vec![fail(
            "configuration",
            format!("the tracer cannot be built: {error}"),
            "Fix the value given to DatadogLayerBuilder.",
        )],
        status: None,
    }
}

/// Diagnoses `settings` (read with `warnings`): checks the agent's address, reachability and
/// `/info`, then has `send_test_trace` send one trace with a tracer of these settings (the
/// builder starts it: the doctor starts nothing), and reports.
pub(crate) fn diagnose(
    settings: Settings,
    findings: Findings<'_>,
    send_test_trace: impl FnOnce(Settings) -> Result<TestTrace, BuildError>,
) -> Diagnosis {
    let mut checks = vec![configuration_check(
        &settings,
        findings.warnings,
        findings.unsupported,
    )];
    if !settings.enabled.value {
        let var = about::enabled.name();
        checks.push(fail(
            "tracing enabled",
            format!("{var} is false: no span is recorded or sent"),
            &format!("Unset {var} or set it to true."),
        ));
        return Diagnosis {
            checks,
            status: None,
        };
    }
    checks.push(address_check(&settings.agent.value));
    let endpoint = &settings.agent.value.endpoint;
    let reachable = match endpoint {
        AgentEndpoint::Unix(path) => {
            let found = socket_check(path);
            let ok = found.outcome == CheckOutcome::Pass;
            checks.push(found);
            ok && push(&mut checks, connect_unix(path, endpoint))
        }
        AgentEndpoint::Http { host, port } => match resolve_check(host, *port) {
            Ok((check, addrs)) => {
                checks.push(check);
                push(&mut checks, connect_tcp(&addrs, endpoint))
            }
            Err(check) => {
                checks.push(check);
                false
            }
        },
    };
    if reachable {
        checks.push(info_check(&settings));
    } else {
        checks.push(skipped("/info", "the agent cannot be reached"));
    }
    if settings.runtime_metrics.value || settings.health_metrics.value {
        checks.push(dogstatsd_check(&settings.dogstatsd.value));
    }
    let service = settings.service.value.clone();
    let (check, status) = match send_test_trace(settings) {
        Ok(sent) => (test_trace_check(&service, &sent), Some(sent.status)),
        Err(e) => (
            fail(
                TEST_TRACE,
                format!("the tracer cannot start: {e}"),
                "See the error.",
            ),
            None,
        ),
    };
    checks.push(check);
    checks.push(findings.process);
    Diagnosis { checks, status }
}

/// Runs the diagnosis of this process [`DOCTOR_DELAY`] after now, on a thread of its own, and
/// prints it (stderr, or the diagnostics handler); `DD_TRACE_DOCTOR=true` asks for it.
pub(crate) fn run_later(
    settings: Settings,
    warnings: Vec<String>,
    unsupported: Vec<String>,
    send_test_trace: impl FnOnce(Settings) -> Result<TestTrace, BuildError> + Send + 'static,
) {
    let spawned = std::thread::Builder::new()
        .name("dd-trace-doctor".into())
        .spawn(move || {
            std::thread::sleep(DOCTOR_DELAY);
            // The app's subscriber first; then nothing the doctor does is traced by it.
            let process = process_check();
            let _untraced = tracing::dispatcher::set_default(&tracing::Dispatch::none());
            let findings = Findings {
                warnings: &warnings,
                unsupported: &unsupported,
                process,
            };
            let diagnosis = diagnose(settings, findings, send_test_trace);
            log::raw(diagnosis.to_string().trim_end());
        });
    if let Err(e) = spawned {
        log::warn(format_args!(
            "DD_TRACE_DOCTOR: could not start the doctor's thread ({e})"
        ));
    }
}

/// This process's subscriber (the calling thread's default, which is the global one unless the
/// thread set its own): whether it has the Datadog layer, and whether its filters let spans
/// reach it.
pub(crate) fn process_check() -> Check {
    let found = tracing::dispatcher::get_default(|d| {
        d.downcast_ref::<DatadogLayer>().map(|layer| {
            let events = layer.tracer().is_some_and(|t| t.events_seen.any());
            (layer.status_handle().status(), events)
        })
    });
    let Some((status, events_seen)) = found else {
        if tracing::dispatcher::has_been_set() {
            return check(
                THIS_PROCESS,
                CheckOutcome::Warn,
                "this process's global subscriber has no Datadog layer: spans made outside a subscriber of your own (`with_default`) go nowhere".into(),
                Some("Add the layer: tracing_subscriber::registry().with(datadog_layer)…init(), or call dd_trace::init().".into()),
            );
        }
        return skipped(
            THIS_PROCESS,
            "no subscriber is installed in this process (the doctor runs outside the app: set DD_TRACE_DOCTOR=true in the app to check it from inside)",
        );
    };
    if !status.enabled {
        return pass(
            THIS_PROCESS,
            "the Datadog layer is installed; tracing is disabled".into(),
        );
    }
    let c = &status.counters;
    let counts = format!(
        "{} spans started, {} sent, {} dropped",
        c.spans_started,
        c.spans_sent,
        c.spans_dropped()
    );
    let max = tracing::level_filters::LevelFilter::current();
    let found = filters::assess(max, events_seen, c.spans_started);
    match found.iter().find(|f| f.is_severe()).or(found.first()) {
        None => pass(
            THIS_PROCESS,
            format!(
                "the Datadog layer is installed and sees spans up to {max}; {counts}; remote configuration: {}; telemetry: {}",
                status.remote_config.to_string().replace('\n', ";"),
                status.telemetry
            ),
        ),
        Some(finding) => check(
            THIS_PROCESS,
            if finding.is_severe() {
                CheckOutcome::Fail
            } else {
                CheckOutcome::Warn
            },
            format!("{}; {counts}", finding.detail()),
            Some(finding.remedy()),
        ),
    }
}

/// Whether DogStatsD, where runtime and health metrics go, can be reached: its socket exists,
/// or its host resolves (UDP says nothing more without an answer).
fn dogstatsd_check(address: &DogStatsdAddress) -> Check {
    const NAME: &str = "DogStatsD";
    let remedy = crate::metrics::dogstatsd::remedy(address);
    match address {
        DogStatsdAddress::Unix(path) => match std::fs::metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                match std::os::unix::net::UnixDatagram::unbound().and_then(|s| s.connect(path)) {
                    Ok(()) => pass(NAME, format!("{address}: the socket takes datagrams")),
                    Err(e) => check(
                        NAME,
                        CheckOutcome::Warn,
                        format!("{address}: {e}"),
                        Some(remedy),
                    ),
                }
            }
            Ok(_) => check(
                NAME,
                CheckOutcome::Warn,
                format!("{} is not a socket", path.display()),
                Some(remedy),
            ),
            Err(e) => check(
                NAME,
                CheckOutcome::Warn,
                format!("{address}: {e}"),
                Some(remedy),
            ),
        },
        DogStatsdAddress::Udp { host, port } => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            match (bare, *port).to_socket_addrs().map(Iterator::count) {
                Ok(n) if n > 0 => pass(
                    NAME,
                    format!("{address}: the host resolves (UDP gets no answer to check further)"),
                ),
                Ok(_) => check(
                    NAME,
                    CheckOutcome::Warn,
                    format!("{host} resolves to nothing"),
                    Some(remedy),
                ),
                Err(e) => check(
                    NAME,
                    CheckOutcome::Warn,
                    format!("{host} does not resolve: {e}"),
                    Some(remedy),
                ),
            }
        }
    }
}

fn push(checks: &mut Vec<Check>, check: Check) -> bool {
    let ok = check.outcome != CheckOutcome::Fail;
    checks.push(check);
    ok
}

fn check(
    name: &'static str,
    outcome: CheckOutcome,
    detail: String,
    remedy: Option<String>,
) -> Check {
    Check {
        name,
        outcome,
        detail,
        remedy,
    }
}

fn pass(name: &'static str, detail: String) -> Check {
    check(name, CheckOutcome::Pass, detail, None)
}

fn fail(name: &'static str, detail: String, remedy: &str) -> Check {
    check(name, CheckOutcome::Fail, detail, Some(remedy.to_string()))
}

fn skipped(name: &'static str, why: &str) -> Check {
    check(
        name,
        CheckOutcome::Skipped,
        format!("not checked: {why}"),
        None,
    )
}

fn configuration_check(settings: &Settings, warnings: &[String], unsupported: &[String]) -> Check {
    let identity = format!(
        "service {}, env {}, version {}",
        settings.service.value,
        settings.env.value.as_deref().unwrap_or("(none)"),
        settings.version.value.as_deref().unwrap_or("(none)")
    );
    if !unsupported.is_empty() {
        let mut found = vec![format!("set but not supported: {}", unsupported.join(", "))];
        found.extend(warnings.iter().cloned());
        return check(
            "configuration",
            CheckOutcome::Warn,
            format!("{identity}; {}", found.join("; ")),
            Some("dd-trace does not read the variables named (a typo, another tracer's setting, or one for the agent): compare them with the crate docs' configuration table. Malformed ones use their defaults.".into()),
        );
    }
    if warnings.is_empty() {
        let mut c = pass(
            "configuration",
            format!("{identity}; no malformed DD_* variable"),
        );
        if settings.env.value.is_none() {
            c.outcome = CheckOutcome::Warn;
            c.remedy = Some(format!(
                "Set {} (in Kubernetes, from the pod's tags.datadoghq.com/env label) so traces are found under an environment.",
                about::env.name()
            ));
        }
        return c;
    }
    check(
        "configuration",
        CheckOutcome::Warn,
        format!("{identity}; {}", warnings.join("; ")),
        Some("Fix the variables named; their defaults are used meanwhile.".into()),
    )
}

fn address_check(agent: &AgentAddress) -> Check {
    let detail = format!("{} ({})", agent.endpoint, explain(agent.source));
    let in_kubernetes = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    if agent.source == AgentSource::Default && in_kubernetes {
        return check(
            "agent address",
            CheckOutcome::Warn,
            detail,
            Some(format!("In Kubernetes, localhost is this pod, not the node's agent: mount the agent's socket directory /var/run/datadog with a hostPath volume, or set {} from status.hostIP (see examples/kubernetes).", agent_vars()[1])),
        );
    }
    pass("agent address", detail)
}

/// The agent's variables: the URL, the host, the port.
fn agent_vars() -> &'static [&'static str] {
    about::agent.variables()
}

/// Why this address is used, for people.
fn explain(source: AgentSource) -> String {
    let vars = agent_vars();
    match source {
        AgentSource::Builder => "set in code with DatadogLayerBuilder::with_agent_url".into(),
        AgentSource::Url => format!("from {}", vars[0]),
        AgentSource::HostPort => format!("from {} / {}", vars[1], vars[2]),
        AgentSource::DefaultSocket => {
            format!("nothing configured, and the node agent's socket {DEFAULT_AGENT_SOCKET} exists")
        }
        AgentSource::Default => format!(
            "nothing configured (no {}) and {DEFAULT_AGENT_SOCKET} does not exist: the default",
            vars.join(", ")
        ),
    }
}

fn socket_check(path: &Path) -> Check {
    let dir = path.parent().unwrap_or(path);
    if !dir.exists() {
        return fail(
            "socket",
            format!("{} does not exist in this container", dir.display()),
            "In Kubernetes, mount the node's /var/run/datadog into the pod with a hostPath volume (type Directory), or set DD_TRACE_AGENT_URL to the agent's address.",
        );
    }
    match std::fs::metadata(path) {
        Err(_) => fail(
            "socket",
            format!("{} exists but holds no {}", dir.display(), file_name(path)),
            "The agent is not running on this node, or its APM socket is off (DD_APM_RECEIVER_SOCKET on the agent).",
        ),
        Ok(m) if !m.file_type().is_socket() => fail(
            "socket",
            format!("{} is not a socket", path.display()),
            "Point DD_TRACE_AGENT_URL at the agent's socket (unix:///var/run/datadog/apm.socket).",
        ),
        Ok(_) => pass("socket", format!("{} exists", path.display())),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

fn connect_failure(e: &std::io::Error, endpoint: &AgentEndpoint) -> Check {
    let error = SendError::Connect(connect_cause(e), e.to_string());
    let socket = match endpoint {
        AgentEndpoint::Unix(path) => Some(path.as_path()),
        AgentEndpoint::Http { .. } => None,
    };
    let remedy = error.remedy(socket);
    fail("connection", format!("{endpoint}: {error}"), &remedy)
}

fn connect_unix(path: &Path, endpoint: &AgentEndpoint) -> Check {
    match UnixStream::connect(path) {
        Ok(_) => pass("connection", format!("connected to {}", path.display())),
        Err(e) => connect_failure(&e, endpoint),
    }
}

fn resolve_check(host: &str, port: u16) -> Result<(Check, Vec<std::net::SocketAddr>), Check> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match (bare, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            Ok((
                pass("host name", format!("{host} resolves to {}", list.join(", "))),
                addrs,
            ))
        }
        Err(e) => Err(fail(
            "host name",
            format!("{host} does not resolve: {e}"),
            "Check DD_AGENT_HOST or DD_TRACE_AGENT_URL (in Kubernetes, set DD_AGENT_HOST from status.hostIP with the downward API).",
        )),
    }
}

fn connect_tcp(addrs: &[std::net::SocketAddr], endpoint: &AgentEndpoint) -> Check {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(_) => return pass("connection", format!("connected to {addr}")),
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::other("no address to connect to"));
    connect_failure(&e, endpoint)
}

fn info_check(settings: &Settings) -> Check {
    let endpoint = settings.agent.value.endpoint.clone();
    let timeout = settings.agent_timeout.value;
    let entity_id = settings.entity_id.value.clone();
    // Its own thread and runtime: the caller may be inside a tokio runtime.
    let answer = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let container = ContainerInfo::detect(entity_id.as_deref());
            let transport = AgentTransport::new(&endpoint, timeout, &container, None)?;
            transport.ask_info().await.map_err(|e| e.to_string())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the /info check panicked".into()));
    match answer {
        Ok(InfoAnswer::Info(info)) => pass(
            "/info",
            format!(
                "agent {}; endpoints {}",
                info.version.as_deref().unwrap_or("(version unknown)"),
                info.endpoints.join(" ")
            ),
        ),
        Ok(InfoAnswer::NotFound) => check(
            "/info",
            CheckOutcome::Warn,
            "404: an agent older than /info; it takes v0.4 traces".into(),
            Some("Upgrade the Datadog agent for the newer features it advertises.".into()),
        ),
        Ok(InfoAnswer::Unreadable(why)) => check(
            "/info",
            CheckOutcome::Warn,
            format!("unexpected answer ({why})"),
            Some(
                "Check that this address is the Datadog agent's trace port, not another service."
                    .into(),
            ),
        ),
        Err(e) => fail(
            "/info",
            format!("no answer: {e}"),
            "The agent accepts connections but does not answer: check its logs.",
        ),
    }
}

/// Whether the test trace arrived, from what its tracer counted.
fn test_trace_check(service: &str, sent: &TestTrace) -> Check {
    if sent.status.counters.spans_sent == 1 {
        return pass(
            TEST_TRACE,
            format!("the agent accepted it: look for service {service}, operation dd_trace.doctor in APM > Traces"),
        );
    }
    let (why, remedy) = match sent.status.errors.first() {
        Some(e) => (e.message.clone(), e.remedy.clone()),
        None => (
            match &sent.flushed {
                Err(e) => e.to_string(),
                Ok(()) => "it was not sent".into(),
            },
            format!(
                "Run again with {}=true and look at the tracer's lines.",
                about::debug.name()
            ),
        ),
    };
    fail(TEST_TRACE, format!("not accepted: {why}"), &remedy)
}
