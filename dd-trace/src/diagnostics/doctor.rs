//! The doctor: tells a newcomer, in one screen, why their traces are or are not arriving.
//!
//! In: the configuration the app would use (the `DD_*` environment, or a builder), on the
//! thread that calls [`diagnose`] — which blocks for a few seconds at most and does I/O, so it
//! belongs in a start-up check, a debug endpoint or the `doctor` example, never on a request
//! path. Out: a [`Diagnosis`]: one [`Check`] per step (configuration, the agent's address and
//! why it was chosen, the socket or the host name, the connection, `/info`, a test trace the
//! agent must accept) and the status of the tracer that sent the test trace.

use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;

use super::TracerStatus;
use crate::config::{AgentEndpoint, AgentSource, Config, DatadogLayerBuilder};
use crate::export::transport::container::ContainerInfo;
use crate::export::transport::{
    connect_cause, AgentTransport, InfoAnswer, SendError, CONNECT_TIMEOUT,
};

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

/// What [`diagnose`] found. Its `Display` is the one-screen report the `doctor` example prints.
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
        if self.traces_arrive() {
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

/// Diagnoses the configuration the `DD_*` environment gives (see the module docs): the same
/// as `DatadogLayer::builder().diagnose()`.
///
/// ```no_run
/// let diagnosis = dd_trace::diagnose();
/// println!("{diagnosis}");
/// if !diagnosis.traces_arrive() {
///     std::process::exit(1);
/// }
/// ```
pub fn diagnose() -> Diagnosis {
    DatadogLayerBuilder::default().diagnose()
}

impl DatadogLayerBuilder {
    /// Diagnoses the configuration this builder would build (see [`diagnose`]): checks the
    /// agent's address, reachability and `/info`, sends one test trace (operation
    /// `dd_trace.doctor`) with a tracer of its own, and reports. Blocks for at most about the
    /// agent timeout plus a few seconds.
    pub fn diagnose(self) -> Diagnosis {
        let mut checks = Vec::new();
        let (config, warnings) = match self.into_config_and_warnings() {
            Ok(c) => c,
            Err(e) => {
                checks.push(fail(
                    "configuration",
                    format!("the tracer cannot be built: {e}"),
                    "Fix the value given to DatadogLayerBuilder.",
                ));
                return Diagnosis {
                    checks,
                    status: None,
                };
            }
        };
        checks.push(configuration_check(&config, &warnings));
        if !config.enabled {
            checks.push(fail(
                "tracing enabled",
                "DD_TRACE_ENABLED is false: no span is recorded or sent".into(),
                "Unset DD_TRACE_ENABLED or set it to true.",
            ));
            return Diagnosis {
                checks,
                status: None,
            };
        }
        checks.push(address_check(&config));
        let reachable = match &config.agent {
            AgentEndpoint::Unix(path) => {
                let found = socket_check(path);
                let ok = found.outcome == CheckOutcome::Pass;
                checks.push(found);
                ok && push(&mut checks, connect_unix(path, &config.agent))
            }
            AgentEndpoint::Http { host, port } => {
                let resolved = resolve_check(host, *port);
                match resolved {
                    Ok((check, addrs)) => {
                        checks.push(check);
                        push(&mut checks, connect_tcp(&addrs, &config.agent))
                    }
                    Err(check) => {
                        checks.push(check);
                        false
                    }
                }
            }
        };
        if reachable {
            checks.push(info_check(&config));
        } else {
            checks.push(skipped("/info", "the agent cannot be reached"));
        }
        let (check, status) = test_trace(config);
        checks.push(check);
        Diagnosis { checks, status }
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

fn configuration_check(config: &Config, warnings: &[String]) -> Check {
    let identity = format!(
        "service {}, env {}, version {}",
        config.service,
        config.env.as_deref().unwrap_or("(none)"),
        config.version.as_deref().unwrap_or("(none)")
    );
    if warnings.is_empty() {
        let mut c = pass(
            "configuration",
            format!("{identity}; no malformed DD_* variable"),
        );
        if config.env.is_none() {
            c.outcome = CheckOutcome::Warn;
            c.remedy = Some(
                "Set DD_ENV (in Kubernetes, from the pod's tags.datadoghq.com/env label) so traces are found under an environment.".into(),
            );
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

fn address_check(config: &Config) -> Check {
    let detail = format!("{} ({})", config.agent, config.agent_source.explain());
    let in_kubernetes = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    if config.agent_source == AgentSource::Default && in_kubernetes {
        return check(
            "agent address",
            CheckOutcome::Warn,
            detail,
            Some("In Kubernetes, localhost is this pod, not the node's agent: mount the agent's socket directory /var/run/datadog with a hostPath volume, or set DD_AGENT_HOST from status.hostIP (see examples/kubernetes).".into()),
        );
    }
    pass("agent address", detail)
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

fn info_check(config: &Config) -> Check {
    let endpoint = config.agent.clone();
    let timeout = config.agent_timeout;
    let entity_id = config.entity_id.clone();
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

/// Sends one trace with a tracer of the same configuration, and reads its status.
fn test_trace(mut config: Config) -> (Check, Option<TracerStatus>) {
    config.startup_logs = false;
    config.quiet = true;
    let timeout = config.agent_timeout + Duration::from_secs(2);
    let service = config.service.clone();
    let (layer, guard) = match crate::tracer::start(config, None) {
        Ok(started) => started,
        Err(e) => {
            return (
                fail(
                    TEST_TRACE,
                    format!("the tracer cannot start: {e}"),
                    "See the error.",
                ),
                None,
            )
        }
    };
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("dd_trace.doctor", resource.name = "diagnose").in_scope(|| {});
    });
    let flushed = guard.flush_timeout(timeout);
    let status = guard.status();
    let check = if status.counters.spans_sent == 1 {
        pass(
            TEST_TRACE,
            format!("the agent accepted it: look for service {service}, operation dd_trace.doctor in APM > Traces"),
        )
    } else {
        let (why, remedy) = match status.errors.first() {
            Some(e) => (e.message.clone(), e.remedy.clone()),
            None => (
                match flushed {
                    Err(e) => e.to_string(),
                    Ok(()) => "it was not sent".into(),
                },
                "Run again with DD_TRACE_DEBUG=true and look at the tracer's lines.".into(),
            ),
        };
        fail(TEST_TRACE, format!("not accepted: {why}"), &remedy)
    };
    drop(dispatch);
    let _ = guard.shutdown(Duration::from_millis(500));
    (check, Some(status))
}
