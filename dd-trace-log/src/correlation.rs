//! The correlation values: where they come from and how they are written.
//!
//! In: the tracer's identity (captured from a `DatadogLayer` when a formatter is built, or read
//! from the current subscriber), whether log injection is on (read for each record: it may
//! change while the app runs), and the ids of the span a log record belongs to. Out: the
//! `dd.*` keys, written without allocating (ids are formatted straight into the line).

use std::fmt;

use dd_trace::{DatadogIds, DatadogLayer, DatadogSpanExt};

/// What a formatter writes besides the ids: the tracer's service, env and version, and how.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub(crate) service: Option<String>,
    pub(crate) env: Option<String>,
    pub(crate) version: Option<String>,
    /// 32 hex digits for a 128-bit trace id (`DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED`).
    pub(crate) hex_128_bit: bool,
    /// The tracer, asked for each record whether log injection (`DD_LOGS_INJECTION`) is on.
    layer: DatadogLayer,
    /// ` dd.service=… dd.env=… dd.version=…`, as text lines end: written once, copied into
    /// every line.
    text_tail: String,
}

impl Identity {
    pub(crate) fn of(layer: &DatadogLayer) -> Self {
        let mut identity = Identity {
            service: layer.service().map(str::to_string),
            env: layer.env().map(str::to_string),
            version: layer.version().map(str::to_string),
            hex_128_bit: layer.log_128_bit_trace_ids(),
            layer: layer.clone(),
            text_tail: String::new(),
        };
        let mut tail = String::new();
        for (key, value) in identity.tracer_pairs() {
            tail.push(' ');
            tail.push_str(key);
            tail.push('=');
            tail.push_str(value);
        }
        identity.text_tail = tail;
        identity
    }

    /// `dd.service`, `dd.env`, `dd.version`, when set.
    fn tracer_pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("dd.service", &self.service),
            ("dd.env", &self.env),
            ("dd.version", &self.version),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key, value.as_deref()?)))
    }

    /// The `dd.*` keys as a text line ends (` dd.trace_id=… dd.span_id=… dd.service=…`):
    /// the ids rendered on the stack, the rest copied; no formatting machinery.
    pub(crate) fn write_text(
        &self,
        ids: Option<DatadogIds>,
        w: &mut impl fmt::Write,
    ) -> fmt::Result {
        if !self.enabled() {
            return Ok(());
        }
        if let Some(ids) = ids {
            let mut digits = itoa::Buffer::new();
            w.write_str(" dd.trace_id=")?;
            let trace_id = ids.trace_id;
            if self.hex_128_bit && trace_id.high() != 0 {
                w.write_str(hex_128(trace_id.to_u128(), &mut [0; 32]))?;
            } else {
                w.write_str(digits.format(trace_id.low()))?;
            }
            w.write_str(" dd.span_id=")?;
            w.write_str(digits.format(ids.span_id.to_u64()))?;
        }
        w.write_str(&self.text_tail)
    }

    /// Whether the `dd.*` keys are written now (`DD_LOGS_INJECTION`).
    pub(crate) fn enabled(&self) -> bool {
        self.layer.logs_injection()
    }

    /// The `dd.*` keys as `(key, value)` pairs, ids first (when there is a span).
    pub(crate) fn for_each(
        &self,
        ids: Option<DatadogIds>,
        mut f: impl FnMut(&str, &dyn fmt::Display),
    ) {
        if !self.enabled() {
            return;
        }
        if let Some(ids) = ids {
            f("dd.trace_id", &ids.trace_id.log_display(self.hex_128_bit));
            f("dd.span_id", &ids.span_id);
        }
        for (key, value) in self.tracer_pairs() {
            f(key, &value);
        }
    }
}

/// 32 lowercase hex digits, written into `buf`.
fn hex_128(value: u128, buf: &mut [u8; 32]) -> &str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, d) in buf.iter_mut().enumerate() {
        *d = DIGITS[((value >> (124 - 4 * i)) & 0xf) as usize];
    }
    std::str::from_utf8(buf).unwrap_or_default()
}

/// The correlation values of a log record, for logging stacks other than
/// `tracing_subscriber::fmt` (slog, a writer of your own): put each of [`pairs`](Self::pairs)
/// in the record, at its root.
///
/// ```
/// # let tracer = dd_trace::testing::TestTracer::with_builder(|b| b.with_env("prod"));
/// # tracer.in_scope(|| {
/// let span = tracing::info_span!("request");
/// let _entered = span.enter();
/// if let Some(c) = dd_trace_log::LogCorrelation::current() {
///     for (key, value) in c.pairs() {
///         println!("{key}={value}"); // dd.trace_id=…, dd.span_id=…, dd.service=…, dd.env=prod
///     }
///     # assert!(c.trace_id.is_some() && c.env.as_deref() == Some("prod"));
/// }
/// # });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogCorrelation {
    /// `dd.trace_id`; `None` outside any span.
    pub trace_id: Option<String>,
    /// `dd.span_id`; `None` outside any span.
    pub span_id: Option<String>,
    /// `dd.service`: the tracer's service (`DD_SERVICE`), not the span's.
    pub service: Option<String>,
    /// `dd.env`.
    pub env: Option<String>,
    /// `dd.version`.
    pub version: Option<String>,
}

impl LogCorrelation {
    /// The values for a record written now, in the current span: `None` when the current
    /// subscriber has no `DatadogLayer`, or log injection is off (`DD_LOGS_INJECTION=false`).
    pub fn current() -> Option<Self> {
        Self::for_span(&tracing::Span::current())
    }

    /// The values for a record that belongs to `span` (its subscriber's tracer decides the
    /// service, env and version). A disabled span (outside any span) gives only those.
    pub fn for_span(span: &tracing::Span) -> Option<Self> {
        let identity = match span
            .with_subscriber(|(_, d)| d.downcast_ref::<DatadogLayer>().map(Identity::of))
        {
            Some(found) => found,
            None => tracing::dispatcher::get_default(|d| {
                d.downcast_ref::<DatadogLayer>().map(Identity::of)
            }),
        }?;
        if !identity.enabled() {
            return None;
        }
        let ids = span.datadog_ids();
        Some(LogCorrelation {
            trace_id: ids.map(|ids| ids.trace_id.log_display(identity.hex_128_bit).to_string()),
            span_id: ids.map(|ids| ids.span_id.to_string()),
            service: identity.service,
            env: identity.env,
            version: identity.version,
        })
    }

    /// The `dd.*` keys and their values, those known.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("dd.trace_id", &self.trace_id),
            ("dd.span_id", &self.span_id),
            ("dd.service", &self.service),
            ("dd.env", &self.env),
            ("dd.version", &self.version),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
    }
}
