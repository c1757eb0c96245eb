//! The configuration in effect while the app runs: the settings with their origins, and the
//! snapshot of those that may change (`live` in the table) that the app's threads read.
//!
//! In: the settings built at start; later, changes (remote configuration) through
//! [`Configuration::update`], on whatever thread applies them. Out: [`LiveSettings`], read on the
//! app's threads through an `ArcSwap` (lock-free, never a lock), and the settings for the
//! reports. A change builds a new snapshot and swaps it in whole, so a reader sees either the
//! old settings or the new ones, never a mix. The switches the span path asks for every trace
//! ([`LiveFlags`]: tracing on, any trace rule, log injection) are also kept in one atomic word,
//! swapped with the snapshot, so a trace start pays one relaxed load, and loads the snapshot
//! only when it has rules to match.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use super::setting::{Origin, SettingValue};
use super::table::Settings;
use crate::conventions::HttpTagging;
use crate::sampling::TraceRules;

/// The settings the app's threads read that may change while the app runs.
#[derive(Debug)]
pub(crate) struct LiveSettings {
    /// `DD_TRACE_ENABLED`: `false` records no new trace (traces under way finish).
    pub(crate) enabled: bool,
    /// The trace rules with the sample rate's catch-all, and the tags they may match.
    pub(crate) trace_rules: TraceRules,
    /// `DD_TAGS`, written on every span by the worker as they are when it encodes the span's
    /// chunk (a change applies to what is sent after it).
    pub(crate) tags: Arc<Vec<(String, String)>>,
    /// `DD_LOGS_INJECTION`.
    pub(crate) logs_injection: bool,
    /// `DD_TRACE_HEADER_TAGS` and the client IP settings, read by the HTTP integrations.
    pub(crate) http: Arc<HttpTagging>,
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
            http: Arc::new(settings.http_tagging()),
        }
    }
}

/// The live switches of one snapshot, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LiveFlags(u8);

impl LiveFlags {
    const ENABLED: u8 = 1;
    const TRACE_RULES: u8 = 1 << 1;
    const MAY_REDECIDE: u8 = 1 << 2;
    const LOGS_INJECTION: u8 = 1 << 3;

    fn of(live: &LiveSettings) -> Self {
        let mut bits = 0;
        for (on, bit) in [
            (live.enabled, Self::ENABLED),
            (!live.trace_rules.rules().is_empty(), Self::TRACE_RULES),
            (live.trace_rules.may_redecide(), Self::MAY_REDECIDE),
            (live.logs_injection, Self::LOGS_INJECTION),
        ] {
            if on {
                bits |= bit;
            }
        }
        LiveFlags(bits)
    }

    /// Tracing is on: new traces are recorded.
    #[inline]
    pub(crate) fn enabled(self) -> bool {
        self.0 & Self::ENABLED != 0
    }

    /// There is a trace rule (or a sample rate) to match.
    #[inline]
    pub(crate) fn has_trace_rules(self) -> bool {
        self.0 & Self::TRACE_RULES != 0
    }

    /// A change to a root may change its decision (see `TraceRules::may_redecide`).
    #[inline]
    pub(crate) fn may_redecide(self) -> bool {
        self.0 & Self::MAY_REDECIDE != 0
    }

    /// Log correlation writes the `dd.*` keys.
    #[inline]
    pub(crate) fn logs_injection(self) -> bool {
        self.0 & Self::LOGS_INJECTION != 0
    }
}

/// The settings in effect and their live snapshot, swapped together.
#[derive(Debug)]
pub(crate) struct Configuration {
    settings: ArcSwap<Settings>,
    live: ArcSwap<LiveSettings>,
    /// The live snapshot's switches.
    flags: AtomicU8,
    /// `DD_*` and `OTEL_*` variables set in the environment that no setting reads.
    unsupported: Vec<String>,
    /// The `config_id`s of the local and the managed stable configuration files.
    stable_config_ids: StableConfigIds,
}

/// The `config_id`s of the stable configuration files, for the values that came from them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StableConfigIds {
    pub(crate) local: Option<String>,
    pub(crate) managed: Option<String>,
}

impl Configuration {
    pub(crate) fn new(settings: Settings) -> Self {
        let live = LiveSettings::of(&settings);
        Configuration {
            flags: AtomicU8::new(LiveFlags::of(&live).0),
            live: ArcSwap::from_pointee(live),
            settings: ArcSwap::from_pointee(settings),
            unsupported: Vec::new(),
            stable_config_ids: StableConfigIds::default(),
        }
    }

    /// These settings, with values from stable configuration files of these `ids`.
    pub(crate) fn with_stable_config_ids(mut self, ids: StableConfigIds) -> Self {
        self.stable_config_ids = ids;
        self
    }

    /// The configuration in effect: every setting's name, value as shown, origin, and the
    /// `config_id` of the stable configuration file a value came from.
    pub(crate) fn effective(&self) -> Vec<SettingValue> {
        let mut values = self.settings().effective();
        for v in &mut values {
            v.config_id = match v.origin {
                Origin::LocalStableConfig => self.stable_config_ids.local.clone(),
                Origin::FleetStableConfig => self.stable_config_ids.managed.clone(),
                _ => None,
            };
        }
        values
    }

    /// These settings, read from an environment where `unsupported` variables are set that no
    /// setting reads.
    pub(crate) fn with_unsupported(mut self, unsupported: Vec<String>) -> Self {
        self.unsupported = unsupported;
        self
    }

    /// The `DD_*` and `OTEL_*` variables set that this tracer does not read.
    pub(crate) fn unsupported(&self) -> &[String] {
        &self.unsupported
    }

    /// The snapshot the app's threads read: lock-free, valid while the guard is held.
    #[inline]
    pub(crate) fn live(&self) -> Guard<Arc<LiveSettings>> {
        self.live.load()
    }

    /// The live switches, in one relaxed load.
    #[inline]
    pub(crate) fn flags(&self) -> LiveFlags {
        LiveFlags(self.flags.load(Ordering::Relaxed))
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
        let live = LiveSettings::of(&next);
        let flags = LiveFlags::of(&live);
        self.live.store(Arc::new(live));
        self.flags.store(flags.0, Ordering::Relaxed);
        self.settings.store(Arc::new(next));
    }
}
