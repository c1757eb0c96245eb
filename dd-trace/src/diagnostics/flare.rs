//! Tracer flares: a diagnostic bundle made on demand, for Datadog support or for the operator.
//!
//! In: a tracer's status and identity, and the latest warnings and notices, on the thread that
//! asks for the flare (never the span path). Out: a [`TracerFlare`], a zip archive of
//! `tracer_info.json` (versions, process, host), `configuration.txt` (the configuration in
//! effect, secrets redacted), `status.txt` (the status report) and `tracer.log` (recent lines),
//! which the app writes to a file or sends to the agent's `/tracer_flare/v1` endpoint with a
//! case id, as Datadog's tracers do (the worker posts it).

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;
use zip::write::SimpleFileOptions;

use super::TracerStatus;
use crate::identity::{hostname, Identity, LANGUAGE, RUSTC_VERSION, TRACER_VERSION};

/// A diagnostic bundle: see [`DatadogGuard::flare`](crate::DatadogGuard::flare).
#[derive(Clone)]
pub struct TracerFlare {
    archive: Bytes,
    file_name: String,
    hostname: String,
}

impl std::fmt::Debug for TracerFlare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerFlare")
            .field("file_name", &self.file_name)
            .field("bytes", &self.archive.len())
            .finish()
    }
}

impl TracerFlare {
    /// The zip archive.
    pub fn bytes(&self) -> &[u8] {
        &self.archive
    }

    /// Its file name, `dd-trace-rust-flare-<pid>-<unix seconds>.zip`.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Writes the archive into the directory `dir` and returns its path.
    ///
    /// # Errors
    /// The file system's error when the file cannot be written.
    pub fn write_to_dir(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join(&self.file_name);
        std::fs::write(&path, &self.archive)?;
        Ok(path)
    }

    /// The `multipart/form-data` body the agent's flare endpoint takes, and its content type.
    pub(crate) fn form(&self, case_id: &str, email: &str) -> (String, Bytes) {
        let boundary = format!("dd-trace-flare-{:016x}", rand::random::<u64>());
        let mut body = Vec::with_capacity(self.archive.len() + 1024);
        let field = |body: &mut Vec<u8>, name: &str, value: &str| {
            let _ = write!(
                body,
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            );
        };
        field(&mut body, "source", "tracer_rust");
        field(&mut body, "case_id", case_id);
        field(&mut body, "email", email);
        field(&mut body, "hostname", &self.hostname);
        let _ = write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"flare_file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            self.file_name
        );
        body.extend_from_slice(&self.archive);
        let _ = write!(body, "\r\n--{boundary}--\r\n");
        (
            format!("multipart/form-data; boundary={boundary}"),
            body.into(),
        )
    }
}

/// Who made the flare.
#[derive(Serialize)]
struct TracerInfo<'a> {
    tracer: &'static str,
    tracer_version: &'static str,
    lang: &'static str,
    lang_version: &'static str,
    os: &'static str,
    architecture: &'static str,
    pid: u32,
    hostname: &'a str,
    runtime_id: &'a str,
    created_at: String,
    agent_url: &'a str,
}

/// Builds a flare from `status`, the tracer's `identity` (none when tracing is disabled) and
/// the recent diagnostic lines.
pub(crate) fn build(status: &TracerStatus, identity: Option<&Identity>) -> TracerFlare {
    let hostname = identity.map_or_else(hostname, |i| i.hostname.clone());
    let runtime_id = identity.map_or("", |i| i.runtime_id.as_str());
    let now = SystemTime::now();
    let unix = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let info = TracerInfo {
        tracer: "dd-trace (Rust)",
        tracer_version: TRACER_VERSION,
        lang: LANGUAGE,
        lang_version: RUSTC_VERSION,
        os: std::env::consts::OS,
        architecture: std::env::consts::ARCH,
        pid: std::process::id(),
        hostname: &hostname,
        runtime_id,
        created_at: humantime::format_rfc3339_seconds(now).to_string(),
        agent_url: &status.agent.url,
    };
    let configuration: String = status
        .configuration
        .iter()
        .map(|setting| format!("{setting}\n"))
        .collect();
    let files: [(&str, String); 4] = [
        (
            "tracer_info.json",
            serde_json::to_string_pretty(&info).unwrap_or_default(),
        ),
        ("configuration.txt", configuration),
        ("status.txt", format!("{status:#}")),
        ("tracer.log", crate::health::log::recent().join("\n")),
    ];
    TracerFlare {
        archive: zip(&files).into(),
        file_name: format!("dd-trace-rust-flare-{}-{unix}.zip", std::process::id()),
        hostname,
    }
}

/// A zip archive of `files`, stored without compression (they are small).
fn zip(files: &[(&str, String)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in files {
        // Writing to memory fails only on a bug in the zip writer; the file is then left out.
        if writer.start_file(*name, options).is_ok() {
            let _ = writer.write_all(content.as_bytes());
        }
    }
    writer.finish().map(Cursor::into_inner).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Origin, SettingValue};

    #[test]
    fn flares_are_zips_of_the_four_files_with_secrets_redacted() {
        let status = TracerStatus {
            enabled: true,
            configuration: vec![
                SettingValue {
                    name: "DD_SERVICE".into(),
                    value: "checkout".into(),
                    origin: Origin::EnvVar,
                    config_id: None,
                },
                SettingValue {
                    name: "DD_TAGS".into(),
                    value: "team:pay,api_key:<redacted>".into(),
                    origin: Origin::EnvVar,
                    config_id: None,
                },
            ],
            ..TracerStatus::default()
        };
        let flare = build(&status, Some(&Identity::fixed("checkout", None, None)));
        let mut archive = zip::ZipArchive::new(Cursor::new(flare.bytes().to_vec())).unwrap();
        let names: Vec<String> = archive.file_names().map(str::to_string).collect();
        assert_eq!(
            names,
            [
                "tracer_info.json",
                "configuration.txt",
                "status.txt",
                "tracer.log"
            ]
        );
        let mut config = String::new();
        std::io::Read::read_to_string(
            &mut archive.by_name("configuration.txt").unwrap(),
            &mut config,
        )
        .unwrap();
        assert_eq!(
            config,
            "DD_SERVICE=checkout (env_var)\nDD_TAGS=team:pay,api_key:<redacted> (env_var)\n"
        );
        let (content_type, body) = flare.form("12345", "ops@example.com");
        let boundary = content_type.split("boundary=").nth(1).unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        assert!(text.contains("name=\"case_id\"\r\n\r\n12345\r\n"));
        assert!(text.contains("name=\"source\"\r\n\r\ntracer_rust\r\n"));
    }
}
