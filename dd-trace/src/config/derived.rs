//! Values the stages use that several settings make together.
//!
//! In: the settings, on the thread that builds the tracer. Out: the propagation settings the
//! codec is handed, and the partial flush threshold.

use super::table::Settings;
use super::MAX_BUFFERED_SPANS_PER_TRACE;
use crate::headers::PropagationConfig;

impl Settings {
    /// How the tracer extracts and injects trace contexts.
    pub(crate) fn propagation(&self) -> PropagationConfig {
        PropagationConfig {
            inject: self.inject_styles.value.clone(),
            extract: self.extract_styles.value.clone(),
            extract_first: self.extract_first.value,
            behavior: self.extract_behavior.value,
            x_datadog_tags_max_length: self.x_datadog_tags_max_length.value,
            baggage_max_items: self.baggage_max_items.value,
            baggage_max_bytes: self.baggage_max_bytes.value,
            baggage_tag_keys: self.baggage_tag_keys.value.clone(),
        }
    }

    /// What the HTTP integrations tag from headers.
    pub(crate) fn http_tagging(&self) -> crate::conventions::HttpTagging {
        crate::conventions::HttpTagging {
            header_tags: self.header_tags.value.clone(),
            client_ip: self.client_ip_enabled.value,
            client_ip_header: self
                .client_ip_header
                .value
                .as_deref()
                .map(|h| h.trim().to_ascii_lowercase()),
        }
    }

    /// Finished spans of an open trace that make it send them: the partial flush threshold
    /// when partial flushing is on, never more than [`MAX_BUFFERED_SPANS_PER_TRACE`].
    pub(crate) fn flush_at(&self) -> usize {
        let flush_at = if self.partial_flush.value {
            self.partial_flush_min_spans.value
        } else {
            MAX_BUFFERED_SPANS_PER_TRACE
        };
        flush_at.min(MAX_BUFFERED_SPANS_PER_TRACE)
    }
}
