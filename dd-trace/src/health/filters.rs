//! Whether the app's subscriber lets the Datadog layer see its spans.
//!
//! In: `tracing`'s global maximum level (the most verbose level any layer or filter of any
//! registered subscriber enables: a global `EnvFilter` at `warn` makes it `WARN`), whether the
//! layer has seen an event, and the spans started so far; read on the worker thread (every
//! flush interval until the findings are final) and on the thread that runs the doctor. Out:
//! [`FilterFinding`]s, said once by the worker and listed by the doctor. The app's threads only
//! set [`EventsSeen`] (one relaxed load per event once it is set).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::level_filters::LevelFilter;

/// How long spans may be missing while events arrive before it is worth a warning.
pub(crate) const NO_SPANS_GRACE: Duration = Duration::from_secs(30);

/// The per-layer filter pattern the findings recommend.
pub(crate) const PER_LAYER_FILTER: &str = "filter the log layer only: `fmt::layer().with_filter(EnvFilter::from_default_env())`, and leave the Datadog layer unfiltered (or give it its own `with_filter(LevelFilter::DEBUG)`)";

/// Whether the layer has seen an event: set on the app's threads, once.
#[derive(Debug, Default)]
pub(crate) struct EventsSeen(AtomicBool);

impl EventsSeen {
    /// Notes that an event arrived.
    #[inline]
    pub(crate) fn note(&self) {
        if !self.0.load(Ordering::Relaxed) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    /// Whether an event has arrived.
    pub(crate) fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Something the subscriber's filters do to the traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilterFinding {
    /// The global maximum level is below `INFO`: `info_span!` and most integrations' spans never
    /// reach the layer.
    MaxLevelBelowInfo(LevelFilter),
    /// The global maximum level is `INFO`: `DEBUG` spans (tower-http's `TraceLayer` by default)
    /// never reach the layer.
    MaxLevelInfo,
    /// Events reach the layer, but no span has started.
    EventsWithoutSpans,
}

impl FilterFinding {
    /// Whether it keeps most spans from being traced (rather than some).
    pub(crate) fn is_severe(&self) -> bool {
        !matches!(self, FilterFinding::MaxLevelInfo)
    }

    /// What was found, for people.
    pub(crate) fn detail(&self) -> String {
        match self {
            FilterFinding::MaxLevelBelowInfo(level) => format!(
                "the subscriber's maximum level is {}: spans below it (`info_span!`, `#[instrument]`, the HTTP and gRPC integrations) never reach the Datadog layer and are not traced; a global filter (e.g. `EnvFilter` with RUST_LOG unset or at warn) does this",
                level.to_string().to_uppercase()
            ),
            FilterFinding::MaxLevelInfo => "the subscriber's maximum level is INFO: DEBUG and TRACE spans (tower-http's TraceLayer makes DEBUG spans by default) are not traced".to_string(),
            FilterFinding::EventsWithoutSpans => format!(
                "events reach the Datadog layer but no span has started in {} s: if the app makes spans, a filter ahead of the layer drops them",
                NO_SPANS_GRACE.as_secs()
            ),
        }
    }

    /// What to do about it.
    pub(crate) fn remedy(&self) -> String {
        match self {
            FilterFinding::MaxLevelInfo => "To trace DEBUG spans, filter the log layer only (`fmt::layer().with_filter(EnvFilter::from_default_env())`), or make TraceLayer's spans INFO: `TraceLayer::new_for_http().make_span_with(DefaultMakeSpan::new().level(Level::INFO))`.".to_string(),
            _ => format!("To trace while keeping logs quiet, {PER_LAYER_FILTER}."),
        }
    }
}

/// What the filters do to the traces now: the maximum level (`max`), whether events arrived,
/// and how many spans started.
pub(crate) fn assess(
    max: LevelFilter,
    events_seen: bool,
    spans_started: u64,
) -> Vec<FilterFinding> {
    let mut found = Vec::new();
    if max < LevelFilter::INFO {
        found.push(FilterFinding::MaxLevelBelowInfo(max));
    } else if max == LevelFilter::INFO {
        found.push(FilterFinding::MaxLevelInfo);
    }
    if events_seen && spans_started == 0 {
        found.push(FilterFinding::EventsWithoutSpans);
    }
    found
}

/// The global maximum level, when an app's subscriber has been installed as the global default
/// (before that, and for subscribers set per thread, it says nothing about the app).
pub(crate) fn global_max_level() -> Option<LevelFilter> {
    tracing::dispatcher::has_been_set().then(LevelFilter::current)
}

/// The worker's watch: says each finding once, after the subscriber has had time to be
/// installed, and stops looking once it cannot find anything new.
#[derive(Debug, Default)]
pub(crate) struct FilterWatch {
    said_level: bool,
    said_events: bool,
    done: bool,
}

impl FilterWatch {
    /// The findings to say now, `elapsed` after the tracer started.
    pub(crate) fn check(
        &mut self,
        elapsed: Duration,
        max: Option<LevelFilter>,
        events_seen: bool,
        spans_started: u64,
    ) -> Vec<FilterFinding> {
        if self.done || elapsed < Duration::from_secs(1) {
            return Vec::new();
        }
        let mut say = Vec::new();
        if let Some(max) = max.filter(|_| !self.said_level) {
            for finding in assess(max, false, spans_started) {
                self.said_level = true;
                say.push(finding);
            }
        }
        if !self.said_events && elapsed >= NO_SPANS_GRACE {
            self.said_events = true;
            if events_seen && spans_started == 0 {
                say.push(FilterFinding::EventsWithoutSpans);
            }
        }
        // Past the grace period the level has been looked at (or there is no global
        // subscriber to look at), and the spans-versus-events question is answered.
        self.done = self.said_events;
        say
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_global_filter_below_info_is_found_and_said_once() {
        assert_eq!(
            assess(LevelFilter::WARN, false, 0),
            [FilterFinding::MaxLevelBelowInfo(LevelFilter::WARN)]
        );
        assert_eq!(
            assess(LevelFilter::INFO, false, 3),
            [FilterFinding::MaxLevelInfo]
        );
        assert!(assess(LevelFilter::DEBUG, true, 1).is_empty());
        assert_eq!(
            assess(LevelFilter::TRACE, true, 0),
            [FilterFinding::EventsWithoutSpans]
        );
        let mut watch = FilterWatch::default();
        let early = watch.check(Duration::from_millis(10), Some(LevelFilter::WARN), true, 0);
        assert!(early.is_empty(), "the subscriber may not be installed yet");
        let second = Duration::from_secs(2);
        assert_eq!(
            watch.check(second, Some(LevelFilter::WARN), true, 0),
            [FilterFinding::MaxLevelBelowInfo(LevelFilter::WARN)]
        );
        assert!(watch
            .check(second, Some(LevelFilter::WARN), true, 0)
            .is_empty());
        assert_eq!(
            watch.check(NO_SPANS_GRACE, Some(LevelFilter::WARN), true, 0),
            [FilterFinding::EventsWithoutSpans]
        );
        assert!(watch.check(NO_SPANS_GRACE * 2, None, true, 0).is_empty());
        let mut quiet = FilterWatch::default();
        assert!(quiet
            .check(NO_SPANS_GRACE, Some(LevelFilter::TRACE), true, 5)
            .is_empty());
        assert!(quiet.done, "nothing more to find");
        let text = FilterFinding::MaxLevelBelowInfo(LevelFilter::WARN).detail();
        assert!(text.contains("maximum level is WARN"), "{text}");
    }
}
