//! The machinery of the settings table: how a setting is described ([`SettingInfo`]), read from
//! its sources with its origin ([`Setting`], [`Origin`]) and shown in the configuration in
//! effect ([`SettingValue`]); and the `settings!` macro that turns the table in `table.rs` into
//! the `Settings` struct, the builder's `Overrides`, the reader and the report, so that a
//! setting is declared once.
//!
//! In: variable sources (the process environment, or the builder's variable source), highest
//! precedence first, on the thread that builds the tracer. Out: typed values with their origins,
//! and one warning per malformed value, naming the variable and the default used.

use std::fmt;
use std::path::Path;

/// Where a setting's value came from, as Datadog's instrumentation telemetry names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// Nothing set it: the default.
    Default,
    /// Derived from the machine rather than set (the node agent's socket exists).
    Calculated,
    /// An environment variable (or the builder's variable source).
    EnvVar,
    /// Code: a `DatadogLayerBuilder` method.
    Code,
    /// The host's local stable configuration file.
    LocalStableConfig,
    /// The stable configuration file written by Fleet Automation.
    FleetStableConfig,
    /// Remote configuration, from Datadog through the agent.
    RemoteConfig,
}

impl Origin {
    /// The origin's name in telemetry: `default`, `calculated`, `env_var`, `code`,
    /// `local_stable_config`, `fleet_stable_config`, `remote_config`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Default => "default",
            Origin::Calculated => "calculated",
            Origin::EnvVar => "env_var",
            Origin::Code => "code",
            Origin::LocalStableConfig => "local_stable_config",
            Origin::FleetStableConfig => "fleet_stable_config",
            Origin::RemoteConfig => "remote_config",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a setting's value is shown in the configuration in effect (status, doctor, flares,
/// startup line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redaction {
    /// Shown as it is.
    None,
    /// `key:value` tags: the values of keys that look secret (`api_key`, `token`, …) are
    /// replaced by `<redacted>`.
    SecretTagValues,
}

/// One setting, as the table declares it: its variables, default, builder method, whether it
/// may change while the app runs, how it is shown, and what it means. Every setting is in
/// [`SETTINGS`](super::SETTINGS).
#[derive(Debug)]
#[non_exhaustive]
pub struct SettingInfo {
    /// The setting's name in the table (its field).
    pub(crate) key: &'static str,
    /// Its variables, the first one its name; the others are read, in order, when it is unset.
    pub(crate) variables: &'static [&'static str],
    /// The default, as the docs say it.
    pub(crate) default: &'static str,
    /// The `DatadogLayerBuilder` method that sets it, or `""`.
    pub(crate) builder: &'static str,
    /// Whether it may change while the app runs (remote configuration).
    pub(crate) live: bool,
    pub(crate) redaction: Redaction,
    /// What it means (the doc comment of its entry).
    pub(crate) docs: &'static str,
}

impl SettingInfo {
    /// Its name: its first variable, or for a setting only code can set, its key.
    pub fn name(&self) -> &'static str {
        self.variables.first().copied().unwrap_or(self.key)
    }

    /// The variables it is read from, in order: its own first, then aliases and fallbacks.
    pub fn variables(&self) -> &'static [&'static str] {
        self.variables
    }

    /// The default, as the crate docs say it.
    pub fn default_value(&self) -> &'static str {
        self.default
    }

    /// The `DatadogLayerBuilder` method that sets it from code, if any.
    pub fn builder_method(&self) -> Option<&'static str> {
        (!self.builder.is_empty()).then_some(self.builder)
    }

    /// Whether it may change while the app runs (through remote configuration).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// How its value is shown.
    pub fn redaction(&self) -> Redaction {
        self.redaction
    }

    /// What it means, in a sentence.
    pub fn description(&self) -> &'static str {
        self.docs.trim()
    }
}

/// One line of the configuration in effect: a setting's name, its value as shown (secrets
/// redacted) and where the value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettingValue {
    /// The setting's name (its variable).
    pub name: String,
    /// The value, as shown; empty when unset.
    pub value: String,
    /// Where the value came from.
    pub origin: Origin,
    /// The `config_id` of the stable configuration file it came from, if it did and the file
    /// has one.
    pub config_id: Option<String>,
}

impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={} ({}", self.name, self.value, self.origin)?;
        if let Some(id) = &self.config_id {
            write!(f, ", config_id {id}")?;
        }
        f.write_str(")")
    }
}

/// A setting's value and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Setting<T> {
    pub(crate) value: T,
    pub(crate) origin: Origin,
}

impl<T: Show> Setting<T> {
    /// The line of the configuration in effect for this setting, described by `info`.
    pub(crate) fn describe(&self, info: &SettingInfo) -> SettingValue {
        let value = match info.redaction {
            Redaction::None => self.value.show(),
            Redaction::SecretTagValues => self.value.show_redacting_secret_tags(),
        };
        SettingValue {
            name: info.name().to_string(),
            value,
            origin: self.origin,
            config_id: None,
        }
    }
}

/// How a value is shown in the configuration in effect.
pub(crate) trait Show {
    /// The value as text; empty when unset.
    fn show(&self) -> String;

    /// The value with the values of secret-looking tags redacted (only tags have any).
    fn show_redacting_secret_tags(&self) -> String {
        self.show()
    }
}

/// How a setting is read.
pub(crate) enum Read<T> {
    /// The first of its variables that is set and valid, parsed.
    Parsed(Parser<T>),
    /// A reader of its own: for a setting made of several variables, or a file.
    Custom(fn(&mut Reader<'_>, &'static SettingInfo) -> Option<(T, Origin)>),
    /// Only code sets it: no variable.
    CodeOnly,
}

/// Parses one variable's text.
pub(crate) struct Parser<T> {
    /// What a valid value looks like, for the warning about an invalid one.
    pub(crate) expected: &'static str,
    /// The value, or `None` when the text is not valid.
    pub(crate) parse: fn(&str) -> Option<T>,
}

/// Reads one variable; `None` when it is unset.
pub(crate) type VariableSource<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Where settings are read from: variable sources, highest precedence first, each with the
/// origin its values carry.
pub(crate) struct Sources<'a> {
    pub(crate) layers: Vec<(Origin, VariableSource<'a>)>,
    /// Whether a path exists (the node agent's socket), for settings whose default depends on
    /// the machine.
    pub(crate) path_exists: &'a dyn Fn(&Path) -> bool,
}

/// Reads settings from [`Sources`], collecting the warnings about malformed values.
pub(crate) struct Reader<'a> {
    sources: &'a Sources<'a>,
    warnings: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(sources: &'a Sources<'a>) -> Self {
        Reader {
            sources,
            warnings: Vec::new(),
        }
    }

    /// The warnings, in the order they were found.
    pub(crate) fn finish(self) -> Vec<String> {
        self.warnings
    }

    /// The value of `var` in the first source that sets it: trimmed, and `None` when empty.
    pub(crate) fn raw(&self, var: &str) -> Option<(String, Origin)> {
        self.sources.layers.iter().find_map(|(origin, get)| {
            let value = get(var)?.trim().to_string();
            (!value.is_empty()).then_some((value, *origin))
        })
    }

    /// The value of `var` in the first source that sets it, even to the empty string.
    pub(crate) fn raw_or_empty(&self, var: &str) -> Option<(String, Origin)> {
        self.sources
            .layers
            .iter()
            .find_map(|(origin, get)| get(var).map(|value| (value, *origin)))
    }

    /// Whether `path` exists.
    pub(crate) fn path_exists(&self, path: &Path) -> bool {
        (self.sources.path_exists)(path)
    }

    /// Notes a malformed value (once, however many settings read the variable).
    pub(crate) fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// `raw`, the text of `var`, parsed by `parser`; when it is not valid, a warning says what
    /// is expected and that `default` is used.
    pub(crate) fn parse<T>(
        &mut self,
        var: &str,
        raw: &str,
        parser: &Parser<T>,
        default: &str,
    ) -> Option<T> {
        let value = (parser.parse)(raw);
        if value.is_none() {
            self.warn(format!(
                "invalid {var}={raw:?}: expected {}; using the default ({default})",
                parser.expected
            ));
        }
        value
    }

    /// The first of `info`'s variables that is set and valid, parsed; each invalid one is
    /// warned about.
    pub(crate) fn parsed<T>(
        &mut self,
        info: &SettingInfo,
        parser: &Parser<T>,
    ) -> Option<(T, Origin)> {
        info.variables.iter().find_map(|var| {
            let (raw, origin) = self.raw(var)?;
            let value = self.parse(var, &raw, parser, info.default)?;
            Some((value, origin))
        })
    }

    /// Reads the setting `info` as `read` says, else takes its default.
    pub(crate) fn read<T>(
        &mut self,
        info: &'static SettingInfo,
        read: Read<T>,
        default: impl FnOnce() -> T,
    ) -> Setting<T> {
        let found = match read {
            Read::Parsed(parser) => self.parsed(info, &parser),
            Read::Custom(reader) => reader(self, info),
            Read::CodeOnly => None,
        };
        match found {
            Some((value, origin)) => Setting { value, origin },
            None => Setting {
                value: default(),
                origin: Origin::Default,
            },
        }
    }
}

/// Declares the settings table: each entry's doc comment (what it means), field and type,
/// variables, default (the value, and the text the docs show), how it is read, builder method,
/// whether it may change while the app runs, and how it is shown. Generates [`SETTINGS`] and
/// `about::<field>` (the descriptions), `Settings` (the values with their origins), `Overrides`
/// (the values code sets), `Settings::read`, `Settings::apply` and `Settings::effective`.
///
/// [`SETTINGS`]: super::SETTINGS
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $key:ident: $ty:ty {
            vars: [$($var:literal),* $(,)?],
            default: $default:expr => $shown:literal,
            read: $read:expr,
            builder: $builder:literal,
            live: $live:literal,
            redact: $redact:ident $(,)?
        }
    )*) => {
        /// Every setting dd-trace reads, in the order of the crate docs' configuration table.
        pub static SETTINGS: &[&SettingInfo] = &[$(&about::$key),*];

        /// Each setting's description, by its field.
        #[allow(non_upper_case_globals)]
        pub(crate) mod about {
            use super::*;
            $(
                pub(crate) static $key: SettingInfo = SettingInfo {
                    key: stringify!($key),
                    variables: &[$($var),*],
                    default: $shown,
                    builder: $builder,
                    live: $live,
                    redaction: Redaction::$redact,
                    docs: concat!($($doc, "\n"),+),
                };
            )*
        }

        /// The tracer's settings, each with where its value came from.
        #[derive(Clone, Debug)]
        pub(crate) struct Settings {
            $($(#[doc = $doc])+ pub(crate) $key: Setting<$ty>,)*
        }

        /// The values code sets (the builder's `with_*` methods); they win over every source.
        #[derive(Default)]
        pub(crate) struct Overrides {
            $(pub(crate) $key: Option<$ty>,)*
        }

        impl Settings {
            /// Reads every setting from `sources`, else takes its default; returns the
            /// warnings about malformed values.
            pub(crate) fn read(sources: &Sources<'_>) -> (Settings, Vec<String>) {
                let mut reader = Reader::new(sources);
                let settings = Settings {
                    $($key: reader.read(&about::$key, $read, || $default),)*
                };
                (settings, reader.finish())
            }

            /// Applies the values set in code, with origin `code`.
            pub(crate) fn apply(&mut self, code: Overrides) {
                $(
                    if let Some(value) = code.$key {
                        self.$key = Setting { value, origin: Origin::Code };
                    }
                )*
            }

            /// The configuration in effect: every setting's name, value as shown, and origin.
            pub(crate) fn effective(&self) -> Vec<SettingValue> {
                vec![$(self.$key.describe(&about::$key)),*]
            }
        }
    };
}

pub(crate) use settings;
