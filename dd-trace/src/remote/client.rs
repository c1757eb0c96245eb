//! The remote-configuration client: what it holds between polls, the request it makes from
//! that, and what a reply changes.
//!
//! In: replies from the agent's `/v0.7/config`, on the worker thread (the worker does the
//! I/O). Out: the next request body; after a reply that changed something, the `APM_TRACING`
//! configs in effect (those for this service), which [`RemoteConfig`](super::RemoteConfig)
//! applies. Each config's apply state (acknowledged, or an error saying why not) goes back to
//! the agent in the next request.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::apm_tracing::{ApmTracingFile, LibConfig};
use super::protocol::{
    self, ApplyState, CachedFile, Client, ClientState, ClientTracer, ConfigReply, ConfigRequest,
    ConfigState, FileHash, APM_TRACING,
};
use crate::identity::{Identity, LANGUAGE, TRACER_VERSION};

/// A config file the client holds.
#[derive(Debug, Clone)]
struct Held {
    id: String,
    product: String,
    version: u64,
    length: u64,
    sha256: String,
    /// The parsed config (with its merge priority) when it applies to this service.
    config: Option<(u8, LibConfig)>,
    apply_error: String,
}

/// What a reply did.
#[derive(Debug, PartialEq)]
pub(crate) enum ReplyOutcome {
    /// Nothing changed.
    Unchanged,
    /// The configs changed: re-apply.
    Changed,
}

/// The client's state between polls.
#[derive(Debug)]
pub(crate) struct RemoteClient {
    id: String,
    identity: Arc<Identity>,
    tags: Vec<String>,
    root_version: u64,
    targets_version: u64,
    backend_state: String,
    /// By path.
    held: BTreeMap<String, Held>,
    /// Why the last reply could not be used.
    error: String,
}

impl RemoteClient {
    /// A client for a tracer of `identity` with `tags` (`DD_TAGS`).
    pub(crate) fn new(identity: Arc<Identity>, tags: &[(String, String)]) -> Self {
        RemoteClient {
            id: uuid::Uuid::new_v4().to_string(),
            tags: tags.iter().map(|(k, v)| format!("{k}:{v}")).collect(),
            identity,
            root_version: 1,
            targets_version: 0,
            backend_state: String::new(),
            held: BTreeMap::new(),
            error: String::new(),
        }
    }

    /// The next request's body.
    pub(crate) fn request_body(&self) -> Vec<u8> {
        let id = &*self.identity;
        let mut tags = vec![
            format!("runtime-id:{}", id.runtime_id),
            format!("language:{LANGUAGE}"),
            format!("tracer_version:{TRACER_VERSION}"),
        ];
        tags.extend(self.tags.iter().cloned());
        let request = ConfigRequest {
            client: Client {
                state: ClientState {
                    root_version: self.root_version,
                    targets_version: self.targets_version,
                    config_states: self.config_states(),
                    has_error: !self.error.is_empty(),
                    error: &self.error,
                    backend_client_state: &self.backend_state,
                },
                id: &self.id,
                products: vec![APM_TRACING],
                is_tracer: true,
                client_tracer: ClientTracer {
                    runtime_id: &id.runtime_id,
                    language: LANGUAGE,
                    tracer_version: TRACER_VERSION,
                    service: &id.service,
                    extra_services: Vec::new(),
                    env: id.env.as_deref().unwrap_or(""),
                    app_version: id.version.as_deref().unwrap_or(""),
                    tags,
                    process_tags: id.process_tag_list(),
                },
                capabilities: protocol::capabilities(),
            },
            cached_target_files: self
                .held
                .iter()
                .map(|(path, h)| CachedFile {
                    path: path.clone(),
                    length: h.length,
                    hashes: vec![FileHash {
                        algorithm: "sha256",
                        hash: h.sha256.clone(),
                    }],
                })
                .collect(),
        };
        serde_json::to_vec(&request).unwrap_or_default()
    }

    /// Each held config's apply state, as the request reports it.
    pub(crate) fn config_states(&self) -> Vec<ConfigState> {
        self.held
            .values()
            .map(|h| ConfigState {
                id: h.id.clone(),
                version: h.version,
                product: h.product.clone(),
                apply_state: if h.apply_error.is_empty() {
                    ApplyState::Acknowledged
                } else {
                    ApplyState::Error
                },
                apply_error: h.apply_error.clone(),
            })
            .collect()
    }

    /// The configs that apply to this tracer, with their merge priorities.
    pub(crate) fn configs(&self) -> impl Iterator<Item = (u8, &LibConfig)> {
        self.held
            .values()
            .filter_map(|h| h.config.as_ref().map(|(p, c)| (*p, c)))
    }

    /// Why the last reply could not be used, if it could not.
    pub(crate) fn error(&self) -> Option<&str> {
        (!self.error.is_empty()).then_some(self.error.as_str())
    }

    /// Takes in a reply body. A body of 3 bytes or fewer (`{}`) means nothing changed; so
    /// does a reply listing the files already held, unchanged.
    pub(crate) fn on_reply(&mut self, body: &[u8]) -> ReplyOutcome {
        if body.len() <= 3 {
            return ReplyOutcome::Unchanged;
        }
        match self.read_reply(body) {
            Ok(outcome) => {
                self.error.clear();
                outcome
            }
            Err(e) => {
                self.error = e;
                ReplyOutcome::Unchanged
            }
        }
    }

    fn read_reply(&mut self, body: &[u8]) -> Result<ReplyOutcome, String> {
        let reply: ConfigReply =
            serde_json::from_slice(body).map_err(|e| format!("the reply is not JSON: {e}"))?;
        let targets = protocol::targets(&reply)?;
        let mut next: BTreeMap<String, Held> = BTreeMap::new();
        let mut read_anew = false;
        for path in &reply.client_configs {
            let Some((product, id)) = protocol::parse_path(path) else {
                return Err(format!("unexpected config path {path:?}"));
            };
            if product != APM_TRACING {
                continue;
            }
            let meta = targets
                .targets
                .get(path)
                .ok_or_else(|| format!("{path} is not in the signed targets"))?;
            let sha256 = meta.hashes.get("sha256").cloned().unwrap_or_default();
            // Unchanged since the last reply: keep it as it is (its apply state too).
            if let Some(held) = self.held.get(path).filter(|h| h.sha256 == sha256) {
                next.insert(path.clone(), held.clone());
                continue;
            }
            let file = reply
                .target_files
                .iter()
                .find(|f| &f.path == path)
                .ok_or_else(|| format!("{path} has no target file and is not cached"))?;
            read_anew = true;
            let mut held = Held {
                id: id.to_string(),
                product: product.to_string(),
                version: meta.custom.v,
                length: meta.length,
                sha256,
                config: None,
                apply_error: String::new(),
            };
            match protocol::verified(&file.raw, meta) {
                Err(e) => held.apply_error = e,
                Ok((bytes, _)) => match serde_json::from_slice::<ApmTracingFile>(&bytes) {
                    Err(e) => held.apply_error = format!("not an APM_TRACING config: {e}"),
                    Ok(file) => {
                        let target = file.service_target.unwrap_or_default();
                        match target.mismatch(&self.identity.service, self.identity.env.as_deref())
                        {
                            Some(why) => held.apply_error = why,
                            None => held.config = Some((target.priority(), file.lib_config)),
                        }
                    }
                },
            }
            next.insert(path.clone(), held);
        }
        // A file read anew (new or changed), or one no longer listed, changes the configs in
        // effect.
        let changed = read_anew || self.held.keys().any(|path| !next.contains_key(path));
        self.held = next;
        self.targets_version = targets.version;
        self.backend_state = targets.custom.opaque_backend_state;
        if let Some(root) = protocol::latest_root(&reply) {
            self.root_version = self.root_version.max(root);
        }
        Ok(if changed {
            ReplyOutcome::Changed
        } else {
            ReplyOutcome::Unchanged
        })
    }
}
