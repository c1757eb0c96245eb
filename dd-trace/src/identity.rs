//! Who is tracing: the service identity spans default to, this process (its runtime id, pid,
//! host, and its process tags: the entrypoint and how the service name was chosen), the source
//! code it was built from (git repository and commit), and the tracer itself (its version, the
//! compiler that built it).
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
    /// `_dd.tags.process`: sorted `key:value` pairs, comma-joined; empty when they are off
    /// (`DD_EXPERIMENTAL_PROPAGATE_PROCESS_TAGS_ENABLED=false`).
    pub(crate) process_tags: String,
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
            process_tags: String::new(),
        }
    }

    /// This identity with `tags` as its process tags.
    pub(crate) fn with_process_tags(mut self, tags: String) -> Self {
        self.process_tags = tags;
        self
    }

    /// The process tags as a list of `key:value` (remote configuration sends them so).
    pub(crate) fn process_tag_list(&self) -> Vec<String> {
        self.process_tags
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// This process's tags for `service` (`user_set`: the user chose it, rather than it being the
/// executable's name): `entrypoint.name` (the executable's file name), `entrypoint.workdir`
/// (the working directory's last segment), `entrypoint.basedir` (the executable's directory's),
/// `entrypoint.type:executable`, and `svc.user:true` or `svc.auto:<service>`; values
/// sanitized (see [`sanitize_tag_value`]); sorted by key, comma-joined.
pub(crate) fn process_tags(service: &str, user_set: bool) -> String {
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    let last = |p: Option<&std::path::Path>| {
        p.and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty() && n != "bin")
    };
    let mut tags: Vec<(&str, String)> = vec![("entrypoint.type", "executable".into())];
    if let Some(name) = last(exe.as_deref()) {
        tags.push(("entrypoint.name", name));
    }
    if let Some(dir) = last(exe.as_deref().and_then(std::path::Path::parent)) {
        tags.push(("entrypoint.basedir", dir));
    }
    if let Some(dir) = last(cwd.as_deref()) {
        tags.push(("entrypoint.workdir", dir));
    }
    if user_set {
        tags.push(("svc.user", "true".into()));
    } else {
        tags.push(("svc.auto", service.to_string()));
    }
    tags.sort_by(|a, b| a.0.cmp(b.0));
    tags.iter()
        .map(|(k, v)| format!("{k}:{}", sanitize_tag_value(v)))
        .filter(|t| !t.ends_with(':'))
        .collect::<Vec<_>>()
        .join(",")
}

/// A process tag's value as Datadog's tracers write it: lowercase; letters, digits, `.`, `/`,
/// `-` and `_` kept, any other run of characters (`:` and `,` included) one `_`; no trailing
/// `_`; at most 200 bytes.
pub(crate) fn sanitize_tag_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || matches!(c, '.' | '/' | '-' | '_') {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
        if out.len() >= 200 {
            break;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The source code a binary was built from, for Datadog's source code integration
/// (`_dd.git.repository_url`, `_dd.git.commit.sha` on the first span of each chunk). The
/// `DD_GIT_REPOSITORY_URL` and `DD_GIT_COMMIT_SHA` variables (or the `git.repository_url` and
/// `git.commit.sha` keys of `DD_TAGS`) give it at run time; a binary built in CI can carry it
/// from its build with [`git_metadata_from_build!`](crate::git_metadata_from_build) and
/// [`DatadogLayerBuilder::with_build_git_metadata`](crate::DatadogLayerBuilder::with_build_git_metadata),
/// used when the variables are unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitMetadata {
    /// The repository's URL (credentials are removed before it is sent).
    pub repository_url: Option<String>,
    /// The commit's SHA.
    pub commit_sha: Option<String>,
}

/// The [`GitMetadata`] of the app's own build: `DD_GIT_REPOSITORY_URL` and `DD_GIT_COMMIT_SHA`
/// as they were set when the app was compiled (in CI, or by its build script). Expands in the
/// app's crate, so it reads the app's build environment, not dd-trace's.
///
/// ```
/// let (layer, guard) = dd_trace::DatadogLayer::builder()
///     .with_build_git_metadata(dd_trace::git_metadata_from_build!())
///     # .with_variable_source(|_| None).with_startup_logs(false).with_enabled(false)
///     .build()?;
/// # drop((layer, guard));
/// # Ok::<(), dd_trace::BuildError>(())
/// ```
///
/// A build script can set them from the checkout when CI does not:
///
/// ```text
/// // build.rs
/// let sha = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().unwrap();
/// println!("cargo:rustc-env=DD_GIT_COMMIT_SHA={}", String::from_utf8_lossy(&sha.stdout).trim());
/// ```
#[macro_export]
macro_rules! git_metadata_from_build {
    () => {
        $crate::GitMetadata {
            repository_url: ::core::option_env!("DD_GIT_REPOSITORY_URL")
                .map(::std::string::ToString::to_string),
            commit_sha: ::core::option_env!("DD_GIT_COMMIT_SHA")
                .map(::std::string::ToString::to_string),
        }
    };
}

/// `url` without the credentials it may carry: the user info of `scheme://user:password@host/…`
/// is removed; other forms (`git@host:org/repo.git`, a bare path) are kept as they are.
pub(crate) fn strip_credentials(url: &str) -> String {
    let url = url.trim();
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_string(),
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
            process_tags: String::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped_from_urls_as_the_suite_expects() {
        for (url, expected) in [
            (
                "https://gitlab-ci-token:AAA_bbb@gitlab.com/DataDog/systems-test.git",
                "https://gitlab.com/DataDog/systems-test.git",
            ),
            (
                "ssh://gitlab-ci-token:AAA_bbb@gitlab.com/DataDog/systems-test.git",
                "ssh://gitlab.com/DataDog/systems-test.git",
            ),
            (
                "https://token@gitlab.com/a/b.git",
                "https://gitlab.com/a/b.git",
            ),
            ("ssh://token@gitlab.com/a/b.git", "ssh://gitlab.com/a/b.git"),
            ("https://github.com/a/b", "https://github.com/a/b"),
            (
                "gitlab.com/DataDog/systems-test.git",
                "gitlab.com/DataDog/systems-test.git",
            ),
            (
                "git@github.com:user/project.git",
                "git@github.com:user/project.git",
            ),
        ] {
            assert_eq!(strip_credentials(url), expected, "{url}");
        }
    }

    #[test]
    fn process_tags_are_sorted_sanitized_and_say_how_the_service_was_named() {
        let tags = process_tags("My Service", false);
        let keys: Vec<&str> = tags
            .split(',')
            .map(|t| t.split(':').next().unwrap())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "{tags}");
        assert!(tags.contains("entrypoint.type:executable"), "{tags}");
        assert!(tags.contains("entrypoint.name:"), "{tags}");
        assert!(tags.contains("svc.auto:my_service"), "{tags}");
        assert!(process_tags("x", true).contains("svc.user:true"));
        assert_eq!(sanitize_tag_value("Web:App, v2!!"), "web_app_v2");
        assert_eq!(sanitize_tag_value("ok/path-1.2_x"), "ok/path-1.2_x");
        assert_eq!(sanitize_tag_value(&"a".repeat(300)).len(), 200);
    }
}
