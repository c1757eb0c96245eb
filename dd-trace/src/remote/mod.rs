//! REMOTE CONFIGURATION: Datadog steers the running tracer. The client asks the agent's
//! `/v0.7/config` for the `APM_TRACING` product every `DD_REMOTE_CONFIG_POLL_INTERVAL_SECONDS`
//! (when `/info` lists the endpoint and `DD_REMOTE_CONFIGURATION_ENABLED` is not false), checks
//! each config file against the signed targets (length and SHA-256), keeps those for this
//! service and environment, merges them by priority and applies them over the settings the
//! tracer started with: sampling rate and rules (with their provenance), `DD_TAGS`, log
//! injection, header tags, and turning tracing off. Remote values win over code and the
//! environment; a value no config sets any more goes back to what it was. Changes reach the
//! app's threads through the live settings snapshot, so they apply to traces whose sampling
//! decision is not made yet.
//!
//! In: the agent's replies, on the worker thread; the worker does the I/O (this module makes
//! request bodies and reads replies). Out: the settings changed in the shared
//! `Configuration`, each change once at info level (old and new value), the changes for
//! telemetry, and the state the status shows.

mod apm_tracing;
mod client;
mod protocol;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Configuration, SettingValue, Settings};
use crate::health::{log, RemoteConfigEntry, RemoteConfigStatus};
use crate::identity::Identity;

pub(crate) use client::ReplyOutcome;
pub(crate) use protocol::CONFIG_PATH;

use client::RemoteClient;

/// How long to wait before asking again an agent that answered 404 (remote configuration off
/// there).
pub(crate) const POLL_INTERVAL_WHEN_OFF: Duration = Duration::from_secs(60);

/// The client, and the settings its configs apply over.
#[derive(Debug)]
pub(crate) struct RemoteConfig {
    client: RemoteClient,
    /// The settings the tracer started with (code, environment, defaults).
    base: Arc<Settings>,
    /// A config turned tracing off: it stays off until the process restarts.
    disabled: bool,
    /// How often to poll.
    pub(crate) interval: Duration,
}

/// One setting a remote change changed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    pub(crate) before: SettingValue,
    pub(crate) after: SettingValue,
}

impl RemoteConfig {
    /// A client for the tracer of `identity`, whose configuration is `config` as it starts.
    pub(crate) fn new(identity: Arc<Identity>, config: &Configuration) -> Self {
        let base = config.settings();
        RemoteConfig {
            client: RemoteClient::new(identity, &base.tags.value),
            interval: base.remote_config_poll_interval.value,
            base,
            disabled: false,
        }
    }

    /// The next poll's body.
    pub(crate) fn request_body(&self) -> Vec<u8> {
        self.client.request_body()
    }

    /// Takes in a reply; when the configs changed, applies them to `config` and returns what
    /// changed.
    pub(crate) fn on_reply(&mut self, body: &[u8], config: &Configuration) -> Vec<Change> {
        match self.client.on_reply(body) {
            ReplyOutcome::Unchanged => Vec::new(),
            ReplyOutcome::Changed => self.apply(config),
        }
    }

    /// Why the last reply could not be used, if it could not.
    pub(crate) fn reply_error(&self) -> Option<&str> {
        self.client.error()
    }

    /// Applies the configs held to `config`, says each change once, and returns them.
    fn apply(&mut self, config: &Configuration) -> Vec<Change> {
        let merged = apm_tracing::merge(self.client.configs());
        if merged.tracing_enabled == Some(false) {
            self.disabled = true;
        }
        let before = config.effective();
        let mut warnings = Vec::new();
        config.update(|settings| {
            warnings = apm_tracing::apply(&self.base, &merged, self.disabled, settings);
        });
        for w in &warnings {
            log::warn(format_args!("remote configuration: {w}"));
        }
        let after = config.effective();
        let changes: Vec<Change> = before
            .into_iter()
            .zip(after)
            .filter(|(b, a)| b != a)
            .map(|(before, after)| Change { before, after })
            .collect();
        for c in &changes {
            log::info(format_args!(
                "remote configuration: {} changed from {:?} ({}) to {:?} ({})",
                c.after.name, c.before.value, c.before.origin, c.after.value, c.after.origin
            ));
        }
        changes
    }

    /// The configs held, for the status.
    pub(crate) fn entries(&self) -> Vec<RemoteConfigEntry> {
        self.client
            .config_states()
            .into_iter()
            .map(|s| RemoteConfigEntry {
                id: s.id,
                product: s.product,
                version: s.version,
                apply_error: (!s.apply_error.is_empty()).then_some(s.apply_error),
            })
            .collect()
    }
}

/// Publishes `remote`'s configs in `status`.
pub(crate) fn publish(remote: &RemoteConfig, status: &mut RemoteConfigStatus) {
    status.configs = remote.entries();
}
