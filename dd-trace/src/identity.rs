//! Who is tracing: the service identity spans default to, this process (its runtime id, pid and
//! host), and the tracer itself (its version, the compiler that built it).
//!
//! In: the configured service, env and version, once, on the thread that builds the tracer.
//! Out: one [`Identity`], shared read-only by the layer (log correlation), the sampler, the
//! encoder, the client stats and the reports, so no stage keeps a copy of its own. Plain data.

/// The tracer's version, sent as `Datadog-Meta-Tracer-Version`.
pub const TRACER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The compiler that built the tracer, sent as `Datadog-Meta-Lang-Version`.
pub(crate) const RUSTC_VERSION: &str = env!("DD_TRACE_RUSTC_VERSION");
/// The language, as Datadog names it (`language` tag, `Datadog-Meta-Lang`).
pub(crate) const LANGUAGE: &str = "rust";

/// The service identity and the process, fixed when the tracer starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// `DD_SERVICE`: the service of spans that set none of their own.
    pub(crate) service: String,
    /// `DD_ENV`.
    pub(crate) env: Option<String>,
    /// `DD_VERSION`, written on spans of `service` only.
    pub(crate) version: Option<String>,
    /// This process's runtime id (`runtime-id`), new at each start.
    pub(crate) runtime_id: String,
    /// This process's id (`process_id`).
    pub(crate) process_id: u32,
    /// The host's name, as the stats, flares and `_dd.hostname` give it.
    pub(crate) hostname: String,
}

impl Identity {
    /// The identity of this process for `service`, `env` and `version`, with a new runtime id.
    pub(crate) fn new(service: String, env: Option<String>, version: Option<String>) -> Self {
        Identity {
            service,
            env,
            version,
            runtime_id: uuid::Uuid::new_v4().to_string(),
            process_id: std::process::id(),
            hostname: hostname(),
        }
    }
}

#[cfg(test)]
impl Identity {
    /// A fixed identity: runtime id `rid`, process 42, host `host`.
    pub(crate) fn fixed(service: &str, env: Option<&str>, version: Option<&str>) -> Self {
        Identity {
            service: service.into(),
            env: env.map(Into::into),
            version: version.map(Into::into),
            runtime_id: "rid".into(),
            process_id: 42,
            hostname: "host".into(),
        }
    }
}

/// The host's name: `HOSTNAME`, else the kernel's, else `unknown`.
pub(crate) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
