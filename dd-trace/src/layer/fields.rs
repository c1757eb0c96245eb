//! Field recording: `tracing`'s [`Visit`] callbacks into the span model's [`Fields`].
//!
//! In: a span's attributes (at creation), later `Span::record` values, and ERROR events, on
//! the app's thread that produces them. Out: the span's [`Fields`], through the mapping that
//! [`Fields`] implements. The field values are visited outside the span's extensions lock,
//! since a value's `Debug` may itself reach the tracer.

use std::fmt;

use tracing::field::{Field, Visit};

use crate::model::error_chain::{error_chain, ChainStyle};
use crate::model::span::{EventValue, Fields, SpanEvent};

/// Records `tracing` field values into [`Fields`].
pub(crate) struct FieldRecorder<'a> {
    pub(crate) fields: &'a mut Fields,
    /// False while recording a new span's attributes, whose field names are distinct.
    pub(crate) dedup: bool,
}

impl FieldRecorder<'_> {
    fn number(&mut self, field: &Field, value: f64, display: fmt::Arguments<'_>) {
        self.fields
            .record_num(field.name().into(), value, display, self.dedup);
    }
}

impl Visit for FieldRecorder<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.number(field, value, format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value as f64, format_args!("{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value as f64, format_args!("{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.number(field, value as f64, format_args!("{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.number(field, value as f64, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .record_bool(field.name().into(), value, self.dedup);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .record_str(field.name().into(), value, self.dedup);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .record_error(field.name().into(), value, self.dedup);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.fields
            .record_fmt(field.name().into(), format_args!("{value:?}"), self.dedup);
    }
}

/// Collects the error fields of an ERROR event (such as the one `#[instrument(err)]` emits) and
/// applies them to the span the event happened in.
#[derive(Default)]
pub(crate) struct ErrorEvent {
    message: Option<String>,
    error: Option<String>,
    error_message: Option<String>,
    error_type: Option<String>,
    error_stack: Option<String>,
}

impl ErrorEvent {
    pub(crate) fn apply(self, fields: &mut Fields) {
        let message = self.error_message.or(self.error).or(self.message);
        fields.set_error(
            message.as_deref(),
            self.error_type.as_deref(),
            self.error_stack.as_deref(),
        );
    }

    fn slot(&mut self, field: &Field) -> Option<&mut Option<String>> {
        match field.name() {
            "message" => Some(&mut self.message),
            "error" => Some(&mut self.error),
            "error.message" => Some(&mut self.error_message),
            "error.type" => Some(&mut self.error_type),
            "error.stack" => Some(&mut self.error_stack),
            _ => None,
        }
    }
}

impl Visit for ErrorEvent {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(value.to_string());
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(value.to_string());
            if value.source().is_some() && self.error_stack.is_none() {
                self.error_stack = Some(error_chain(value, ChainStyle::Stack));
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(format!("{value:?}"));
        }
    }
}

/// Records an event's fields as a span event: its `message` as the name (else the event's
/// name), the others as attributes.
pub(crate) struct SpanEventRecorder {
    pub(crate) event: SpanEvent,
}

impl SpanEventRecorder {
    pub(crate) fn new(name: &str) -> Self {
        SpanEventRecorder {
            event: SpanEvent {
                name: name.to_string(),
                time: std::time::Instant::now(),
                attributes: Vec::new(),
            },
        }
    }

    fn put(&mut self, field: &Field, value: EventValue) {
        if field.name() == "message" {
            if let EventValue::Str(s) = value {
                self.event.name = s;
                return;
            }
        }
        self.event
            .attributes
            .push((std::borrow::Cow::Borrowed(field.name()), value));
    }
}

impl Visit for SpanEventRecorder {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, EventValue::Float(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, EventValue::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.put(field, EventValue::Int(v)),
            Err(_) => self.put(field, EventValue::Str(value.to_string())),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, EventValue::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, EventValue::Str(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, EventValue::Str(format!("{value:?}")));
    }
}

/// The target of the event tower-http's `TraceLayer` emits with each response (its
/// `DefaultOnResponse`): its `status` field is the response's status.
pub(crate) const TOWER_HTTP_RESPONSE_TARGET: &str = "tower_http::trace::on_response";

/// The `status` field of a tower-http response event.
#[derive(Default)]
pub(crate) struct ResponseStatus(pub(crate) Option<i64>);

impl Visit for ResponseStatus {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "status" {
            self.0 = Some(value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_i64(field, i64::try_from(value).unwrap_or(-1));
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}
