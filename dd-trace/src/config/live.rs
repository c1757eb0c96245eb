//! The configuration in effect while the app runs: the settings with their origins, and the
//! snapshot of those that may change (`live` in the table) that the app's threads read.
//!
//! In: the settings built at start; later, changes (remote configuration) through
//! [`Configuration::update`], on whatever thread applies them. Out: [`LiveSettings`], read on the
//! app's threads through an `ArcSwap` (lock-free, one load per trace start, never a lock), and
//! the settings for the reports. A change builds a new snapshot and swaps it in whole, so a
//! reader sees either the old settings or the new ones, never a mix.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use super::table::Settings;
use crate::sampling::TraceRules;

/// The settings the app's threads read that may change while the app runs.
#[derive(Debug)]
pub(crate) struct LiveSettings {
    /// `DD_TRACE_ENABLED`: `false` records no new trace (traces under way finish).
    pub(crate) enabled: bool,
    /// The trace rules with the sample rate's catch-all, and the tags they may match.
    pub(crate) trace_rules: TraceRules,
    /// `DD_TAGS`, written on every span by the worker.
    pub(crate) tags: Arc<Vec<(String, String)>>,
    /// `DD_LOGS_INJECTION`.
    pub(crate) logs_injection: bool,
}

impl LiveSettings {
    /// The snapshot of `settings`.
    pub(crate) fn of(settings: &Settings) -> Self {
        let mut rule_tags = settings.tags.value.clone();
        if let Some(v) = &settings.version.value {
            rule_tags.insert(0, ("version".into(), v.clone()));
        }
        if let Some(e) = &settings.env.value {
            rule_tags.insert(0, ("env".into(), e.clone()));
        }
        LiveSettings {
            enabled: settings.enabled.value,
            trace_rules: TraceRules::new(
                settings.sampling_rules.value.clone(),
                settings.sample_rate.value,
                rule_tags,
            ),
            tags: Arc::new(settings.tags.value.clone()),
            logs_injection: settings.logs_injection.value,
        }
    }
}

/// The settings in effect and their live snapshot, swapped together.
#[derive(Debug)]
pub(crate) struct Configuration {
    settings: ArcSwap<Settings>,
    live: ArcSwap<LiveSettings>,
}

impl Configuration {
    pub(crate) fn new(settings: Settings) -> Self {
        Configuration {
            live: ArcSwap::from_pointee(LiveSettings::of(&settings)),
            settings: ArcSwap::from_pointee(settings),
        }
    }

    /// The snapshot the app's threads read: lock-free, valid while the guard is held.
    #[inline]
    pub(crate) fn live(&self) -> Guard<Arc<LiveSettings>> {
        self.live.load()
    }

    /// The settings in effect, with their origins.
    pub(crate) fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Changes the settings (only those the table marks `live` are read again by the app's
    /// threads) and swaps in the new settings and snapshot.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn update(&self, change: impl FnOnce(&mut Settings)) {
        let mut next = Settings::clone(&self.settings.load());
        change(&mut next);
        self.live.store(Arc::new(LiveSettings::of(&next)));
        self.settings.store(Arc::new(next));
    }
}
