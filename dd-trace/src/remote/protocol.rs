//! The remote-configuration protocol, as the agent's `/v0.7/config` speaks it: the request a
//! client posts (its state, identity, products and capabilities, and the target files it has
//! cached), the reply (TUF roots and targets, the target files, the paths that apply to this
//! client), and the checks a target file must pass: its length and SHA-256 as the signed
//! targets list them. Signatures are not checked (the agent has verified them; Datadog's test
//! agent sends none).
//!
//! In: the client's state, on the worker thread. Out: request bodies, and replies decoded into
//! verified files. Plain data and parsing: no I/O.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The agent's remote-configuration endpoint.
pub(crate) const CONFIG_PATH: &str = "/v0.7/config";

/// The product this tracer subscribes to.
pub(crate) const APM_TRACING: &str = "APM_TRACING";

/// Capability bits of what this tracer applies from `APM_TRACING` (each is `1 << bit`).
pub(crate) mod capability {
    pub(crate) const SAMPLE_RATE: u32 = 12;
    pub(crate) const LOGS_INJECTION: u32 = 13;
    pub(crate) const HTTP_HEADER_TAGS: u32 = 14;
    pub(crate) const CUSTOM_TAGS: u32 = 15;
    pub(crate) const TRACING_ENABLED: u32 = 19;
    pub(crate) const SAMPLE_RULES: u32 = 29;
}

/// The capabilities this tracer has, as the protocol sends them: the bitfield's big-endian
/// bytes, without leading zero bytes, in base64.
pub(crate) fn capabilities() -> String {
    use capability::*;
    let bits: u64 = [
        SAMPLE_RATE,
        LOGS_INJECTION,
        HTTP_HEADER_TAGS,
        CUSTOM_TAGS,
        TRACING_ENABLED,
        SAMPLE_RULES,
    ]
    .iter()
    .fold(0, |acc, bit| acc | 1 << bit);
    let bytes = bits.to_be_bytes();
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    BASE64.encode(&bytes[first..])
}

/// How a config was applied, as the request reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "u8")]
pub(crate) enum ApplyState {
    /// Applied.
    Acknowledged,
    /// Not applied: see the error.
    Error,
}

impl From<ApplyState> for u8 {
    fn from(state: ApplyState) -> u8 {
        match state {
            ApplyState::Acknowledged => 2,
            ApplyState::Error => 3,
        }
    }
}

/// One config the client holds, in the request's `client.state.config_states`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ConfigState {
    pub(crate) id: String,
    pub(crate) version: u64,
    pub(crate) product: String,
    pub(crate) apply_state: ApplyState,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) apply_error: String,
}

/// `client.state`.
#[derive(Debug, Serialize)]
pub(crate) struct ClientState<'a> {
    pub(crate) root_version: u64,
    pub(crate) targets_version: u64,
    pub(crate) config_states: Vec<ConfigState>,
    pub(crate) has_error: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(crate) error: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(crate) backend_client_state: &'a str,
}

/// `client.client_tracer`: who is asking.
#[derive(Debug, Serialize)]
pub(crate) struct ClientTracer<'a> {
    pub(crate) runtime_id: &'a str,
    pub(crate) language: &'a str,
    pub(crate) tracer_version: &'a str,
    pub(crate) service: &'a str,
    pub(crate) extra_services: Vec<String>,
    pub(crate) env: &'a str,
    pub(crate) app_version: &'a str,
    pub(crate) tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) process_tags: Vec<String>,
}

/// `client`.
#[derive(Debug, Serialize)]
pub(crate) struct Client<'a> {
    pub(crate) state: ClientState<'a>,
    pub(crate) id: &'a str,
    pub(crate) products: Vec<&'a str>,
    pub(crate) is_tracer: bool,
    pub(crate) client_tracer: ClientTracer<'a>,
    pub(crate) capabilities: String,
}

/// One hash of a cached file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct FileHash {
    pub(crate) algorithm: &'static str,
    pub(crate) hash: String,
}

/// A target file the client holds, in `cached_target_files`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct CachedFile {
    pub(crate) path: String,
    pub(crate) length: u64,
    pub(crate) hashes: Vec<FileHash>,
}

/// The request body.
#[derive(Debug, Serialize)]
pub(crate) struct ConfigRequest<'a> {
    pub(crate) client: Client<'a>,
    pub(crate) cached_target_files: Vec<CachedFile>,
}

/// The reply body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ConfigReply {
    #[serde(default)]
    pub(crate) roots: Vec<String>,
    #[serde(default)]
    pub(crate) targets: String,
    #[serde(default)]
    pub(crate) target_files: Vec<TargetFile>,
    #[serde(default)]
    pub(crate) client_configs: Vec<String>,
}

/// A file's content in the reply.
#[derive(Debug, Deserialize)]
pub(crate) struct TargetFile {
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) raw: String,
}

/// A TUF document: its signed part (signatures are not read).
#[derive(Debug, Deserialize)]
struct Signed<T> {
    signed: T,
}

/// The signed targets list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Targets {
    #[serde(default)]
    pub(crate) version: u64,
    #[serde(default)]
    pub(crate) targets: HashMap<String, TargetMeta>,
    #[serde(default)]
    pub(crate) custom: TargetsCustom,
}

/// The targets list's custom part.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TargetsCustom {
    #[serde(default)]
    pub(crate) opaque_backend_state: String,
}

/// What the signed targets say of one file.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TargetMeta {
    #[serde(default)]
    pub(crate) length: u64,
    #[serde(default)]
    pub(crate) hashes: HashMap<String, String>,
    #[serde(default)]
    pub(crate) custom: TargetCustom,
}

/// One file's custom part: its version.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TargetCustom {
    #[serde(default)]
    pub(crate) v: u64,
}

/// A root's version (the client reports the latest it has seen).
#[derive(Debug, Default, Deserialize)]
struct Root {
    #[serde(default)]
    version: u64,
}

/// Decodes a base64 TUF document's signed part.
fn signed<T: serde::de::DeserializeOwned>(b64: &str) -> Result<T, String> {
    let bytes = BASE64
        .decode(b64.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let doc: Signed<T> =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a TUF document: {e}"))?;
    Ok(doc.signed)
}

/// The reply's signed targets list (empty when the reply has none).
pub(crate) fn targets(reply: &ConfigReply) -> Result<Targets, String> {
    if reply.targets.is_empty() {
        return Ok(Targets::default());
    }
    signed(&reply.targets).map_err(|e| format!("targets: {e}"))
}

/// The latest root version among the reply's roots, if any.
pub(crate) fn latest_root(reply: &ConfigReply) -> Option<u64> {
    reply
        .roots
        .iter()
        .filter_map(|r| signed::<Root>(r).ok())
        .map(|r| r.version)
        .max()
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `raw` (base64) decoded, when its length and SHA-256 are those `meta` lists.
pub(crate) fn verified(raw: &str, meta: &TargetMeta) -> Result<(Vec<u8>, String), String> {
    let bytes = BASE64
        .decode(raw.trim())
        .map_err(|e| format!("the file is not base64: {e}"))?;
    if bytes.len() as u64 != meta.length {
        return Err(format!(
            "the file has {} bytes, the signed targets say {}",
            bytes.len(),
            meta.length
        ));
    }
    let hash = sha256_hex(&bytes);
    match meta.hashes.get("sha256") {
        Some(expected) if expected.eq_ignore_ascii_case(&hash) => Ok((bytes, hash)),
        Some(_) => Err("the file's SHA-256 is not the one the signed targets list".into()),
        None => Err("the signed targets list no SHA-256 for the file".into()),
    }
}

/// A target path's product and config id: `datadog/<org>/<product>/<id>/<name>` or
/// `employee/<product>/<id>/<name>`.
pub(crate) fn parse_path(path: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["datadog", _org, product, id, _name] => Some((product, id)),
        ["employee", product, id, _name] => Some((product, id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_the_big_endian_bits_without_leading_zeros() {
        let bytes = BASE64.decode(capabilities()).unwrap();
        let mut bits = 0u64;
        for b in &bytes {
            bits = bits << 8 | u64::from(*b);
        }
        for bit in [12, 13, 14, 15, 19, 29] {
            assert_ne!(bits & 1 << bit, 0, "bit {bit}");
        }
        assert_eq!(bits.count_ones(), 6);
        assert_eq!(bytes.len(), 4, "bit 29 needs four bytes");
    }

    #[test]
    fn paths_name_their_product_and_config() {
        assert_eq!(
            parse_path("datadog/2/APM_TRACING/abc/config"),
            Some(("APM_TRACING", "abc"))
        );
        assert_eq!(
            parse_path("employee/APM_TRACING/x/config"),
            Some(("APM_TRACING", "x"))
        );
        assert_eq!(parse_path("datadog/2/APM_TRACING/config"), None);
    }

    #[test]
    fn a_file_must_have_the_length_and_hash_the_targets_list() {
        let content = br#"{"lib_config":{}}"#;
        let meta = TargetMeta {
            length: content.len() as u64,
            hashes: [("sha256".to_string(), sha256_hex(content))].into(),
            custom: TargetCustom { v: 1 },
        };
        let raw = BASE64.encode(content);
        assert_eq!(verified(&raw, &meta).unwrap().0, content);
        let other = BASE64.encode(br#"{"lib_config":{"x":1}}"#);
        assert!(verified(&other, &meta).unwrap_err().contains("bytes"));
        let same_length = BASE64.encode(br#"{"lib_config":[]}"#);
        assert!(verified(&same_length, &meta)
            .unwrap_err()
            .contains("SHA-256"));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
