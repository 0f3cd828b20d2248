//! Settings, layered: built-in defaults, then a TOML file (`hearth.toml` in the data folder or
//! `--config FILE`), then `HEARTH_*` environment variables. Combinations are checked when the
//! settings are loaded, so a bad deployment fails at start with a message saying what to change.
//!
//! Defaults are the embedded setup: SQLite file and key file in the data folder, the console
//! channel, listening on 127.0.0.1 only.

use crate::auth::session::SessionTimeouts;
use crate::domain::Region;
use crate::telemetry::LogFormat;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The config file looked for in the data folder.
pub const CONFIG_FILE_NAME: &str = "hearth.toml";
/// The SQLite database file in the data folder.
pub const DATABASE_FILE_NAME: &str = "hearth.db";
/// The master key file in the data folder.
pub const KEY_FILE_NAME: &str = "hearth.key";
/// Where `serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Why settings could not be loaded. Each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the settings file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the settings file {path} is not valid TOML or has an unknown setting: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("{var} has an invalid value: {what}")]
    Env { var: &'static str, what: String },
    #[error("invalid setting `{setting}`: {what}")]
    Invalid { setting: &'static str, what: String },
}

/// Which messaging channel delivers messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Messages are shown to staff and logged without content; nothing leaves the machine.
    Console,
    /// SMS through Twilio (the `[twilio]` table), Telegram when `[telegram]` is set.
    Twilio,
}

/// Loaded, checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `sqlite://…` or `postgres://…`; may hold a password, hence secret.
    pub database_url: SecretString,
    pub key_file: PathBuf,
    /// The https URL staff reach us at, if behind TLS; turns on `Secure` cookies.
    pub public_url: Option<String>,
    pub channel: ChannelKind,
    pub phone_region: Region,
    pub session: SessionTimeouts,
    pub log_format: LogFormat,
    /// Failed logins per account within `throttle_window_minutes` before 429.
    pub max_failures_per_account: u32,
    /// Failed logins per client IP within the window before 429.
    pub max_failures_per_ip: u32,
    pub throttle_window_minutes: u32,
    /// Providers, webhooks and the outbox dispatcher (`[twilio]`, `[telegram]`, `[dispatch]`).
    pub gateway: crate::gateway::settings::GatewaySettings,
    /// The scribe job worker (`[scribe]`).
    pub scribe: crate::scribe_worker::WorkerSettings,
}

impl Settings {
    /// Whether cookies get `Secure`.
    pub fn https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// Whether the database is the embedded SQLite file.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose_secret().starts_with("sqlite:")
    }
}

/// The file layer: every setting optional; unknown keys are errors (a typo must not be ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayer {
    listen: Option<String>,
    database_url: Option<String>,
    key_file: Option<PathBuf>,
    public_url: Option<String>,
    channel: Option<ChannelKind>,
    phone_region: Option<String>,
    session_idle_minutes: Option<u32>,
    session_absolute_hours: Option<u32>,
    log_format: Option<LogFormat>,
    max_failures_per_account: Option<u32>,
    max_failures_per_ip: Option<u32>,
    throttle_window_minutes: Option<u32>,
    twilio: Option<crate::gateway::settings::TwilioFile>,
    telegram: Option<crate::gateway::settings::TelegramFile>,
    dispatch: Option<crate::gateway::settings::DispatchFile>,
    scribe: Option<ScribeFile>,
}

/// `[scribe]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScribeFile {
    /// Run a scribe worker inside `hearth serve` (default true); `false` when `hearth worker`
    /// processes do the work.
    in_serve: Option<bool>,
    /// A speech model name (`hearth models list`) or a model file's path; default base.en.
    speech_model: Option<String>,
    /// Where models are; default HEARTH_MODELS_DIR or ./models.
    models_dir: Option<PathBuf>,
    /// Threads for speech to text; default the machine's cores.
    threads: Option<usize>,
}

/// Loads settings for `data_dir`, from `config_file` if given (it must exist) or else
/// `data_dir/hearth.toml` if present, then from `env` (pass `std::env::vars()`).
pub fn load(
    data_dir: &Path,
    config_file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let mut layer = match config_file {
        Some(path) => read_file(path)?,
        None => {
            let default = data_dir.join(CONFIG_FILE_NAME);
            if default.exists() {
                read_file(&default)?
            } else {
                FileLayer::default()
            }
        }
    };
    apply_env(&mut layer, env)?;
    build(data_dir, layer)
}

fn read_file(path: &Path) -> Result<FileLayer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })
}

fn apply_env(
    layer: &mut FileLayer,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    fn number(var: &'static str, v: &str) -> Result<u32, ConfigError> {
        v.trim().parse().map_err(|_| ConfigError::Env {
            var,
            what: "expected a whole number".into(),
        })
    }
    for (key, value) in env {
        match key.as_str() {
            "HEARTH_LISTEN" => layer.listen = Some(value),
            "HEARTH_DATABASE_URL" => layer.database_url = Some(value),
            "HEARTH_KEY_FILE" => layer.key_file = Some(value.into()),
            "HEARTH_PUBLIC_URL" => layer.public_url = Some(value),
            "HEARTH_PHONE_REGION" => layer.phone_region = Some(value),
            "HEARTH_CHANNEL" => {
                layer.channel = Some(match value.trim() {
                    "console" => ChannelKind::Console,
                    "twilio" => ChannelKind::Twilio,
                    _ => {
                        return Err(ConfigError::Env {
                            var: "HEARTH_CHANNEL",
                            what: "use `console` or `twilio`".into(),
                        });
                    }
                })
            }
            "HEARTH_LOG_FORMAT" => {
                layer.log_format = Some(match value.trim() {
                    "pretty" => LogFormat::Pretty,
                    "json" => LogFormat::Json,
                    _ => {
                        return Err(ConfigError::Env {
                            var: "HEARTH_LOG_FORMAT",
                            what: "use `pretty` or `json`".into(),
                        });
                    }
                })
            }
            "HEARTH_SESSION_IDLE_MINUTES" => {
                layer.session_idle_minutes = Some(number("HEARTH_SESSION_IDLE_MINUTES", &value)?)
            }
            "HEARTH_SESSION_ABSOLUTE_HOURS" => {
                layer.session_absolute_hours =
                    Some(number("HEARTH_SESSION_ABSOLUTE_HOURS", &value)?)
            }
            "HEARTH_MAX_FAILURES_PER_ACCOUNT" => {
                layer.max_failures_per_account =
                    Some(number("HEARTH_MAX_FAILURES_PER_ACCOUNT", &value)?)
            }
            "HEARTH_MAX_FAILURES_PER_IP" => {
                layer.max_failures_per_ip = Some(number("HEARTH_MAX_FAILURES_PER_IP", &value)?)
            }
            "HEARTH_THROTTLE_WINDOW_MINUTES" => {
                layer.throttle_window_minutes =
                    Some(number("HEARTH_THROTTLE_WINDOW_MINUTES", &value)?)
            }
            "HEARTH_SCRIBE_IN_SERVE" => {
                layer.scribe.get_or_insert_default().in_serve = Some(match value.trim() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(ConfigError::Env {
                            var: "HEARTH_SCRIBE_IN_SERVE",
                            what: "use true or false".into(),
                        });
                    }
                })
            }
            "HEARTH_SCRIBE_SPEECH_MODEL" => layer.scribe.get_or_insert_default().speech_model = Some(value),
            other => crate::gateway::settings::apply_env(
                &mut layer.twilio,
                &mut layer.telegram,
                &mut layer.dispatch,
                other,
                &value,
            )?,
        }
    }
    Ok(())
}

fn build(data_dir: &Path, l: FileLayer) -> Result<Settings, ConfigError> {
    let invalid = |setting, what: &str| ConfigError::Invalid {
        setting,
        what: what.to_owned(),
    };
    let listen: SocketAddr = l
        .listen
        .as_deref()
        .unwrap_or(DEFAULT_LISTEN)
        .parse()
        .map_err(|_| invalid("listen", "use an IP address and port, like 127.0.0.1:8080"))?;
    let database_url = match l.database_url {
        Some(url) => {
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(invalid(
                    "database_url",
                    "use sqlite://PATH or postgres://USER@HOST/DB",
                ));
            }
            url
        }
        None => format!("sqlite://{}", data_dir.join(DATABASE_FILE_NAME).display()),
    };
    if let Some(url) = &l.public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(invalid(
            "public_url",
            "use the full URL staff type, like https://hearth.example.org",
        ));
    }
    let https = l
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    // Staff passwords and session cookies must not cross a network in clear text: off the
    // loopback interface we require TLS in front (45 CFR 164.312(e)(1) transmission security).
    if !listen.ip().is_loopback() && !https {
        return Err(invalid(
            "listen",
            "listening beyond this machine needs TLS in front: set public_url = \"https://…\" for the proxy that terminates it, or listen on 127.0.0.1",
        ));
    }
    let phone_region = match &l.phone_region {
        Some(code) => Region::parse(code).map_err(|e| invalid("phone_region", e.message))?,
        None => Region::default(),
    };
    let idle = l.session_idle_minutes.unwrap_or(30);
    let absolute = l.session_absolute_hours.unwrap_or(12);
    if idle == 0 || absolute == 0 || i64::from(idle) > i64::from(absolute) * 60 {
        return Err(invalid(
            "session_idle_minutes",
            "must be at least 1 and no longer than session_absolute_hours",
        ));
    }
    if absolute > 24 {
        return Err(invalid(
            "session_absolute_hours",
            "at most 24; staff sign in again each day",
        ));
    }
    let window = l.throttle_window_minutes.unwrap_or(15);
    let per_account = l.max_failures_per_account.unwrap_or(5);
    let per_ip = l.max_failures_per_ip.unwrap_or(20);
    if window == 0 || per_account == 0 || per_ip == 0 {
        return Err(invalid(
            "throttle_window_minutes",
            "throttle limits and window must be at least 1",
        ));
    }
    let channel = l.channel.unwrap_or(ChannelKind::Console);
    let gateway = crate::gateway::settings::build(
        channel == ChannelKind::Twilio,
        l.twilio,
        l.telegram,
        l.dispatch,
    )?;
    let mut scribe = crate::scribe_worker::WorkerSettings::default();
    if let Some(f) = l.scribe {
        if let Some(v) = f.in_serve {
            scribe.in_serve = v;
        }
        if let Some(m) = f.speech_model {
            if m.trim().is_empty() {
                return Err(invalid("scribe.speech_model", "name a speech model (see `hearth models list`) or a model file"));
            }
            scribe.speech_model = m;
        }
        if let Some(d) = f.models_dir {
            scribe.models_dir = d;
        }
        if let Some(t) = f.threads {
            if t == 0 || t > 256 {
                return Err(invalid("scribe.threads", "use 1 to 256"));
            }
            scribe.threads = t;
        }
    }
    Ok(Settings {
        data_dir: data_dir.to_owned(),
        listen,
        database_url: SecretString::from(database_url),
        key_file: l.key_file.unwrap_or_else(|| data_dir.join(KEY_FILE_NAME)),
        public_url: l.public_url,
        channel,
        phone_region,
        session: SessionTimeouts {
            idle: chrono::Duration::minutes(idle.into()),
            absolute: chrono::Duration::hours(absolute.into()),
        },
        log_format: l.log_format.unwrap_or_default(),
        max_failures_per_account: per_account,
        max_failures_per_ip: per_ip,
        throttle_window_minutes: window,
        gateway,
        scribe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_defaults_are_the_embedded_setup() {
        let dir = tempfile::tempdir().unwrap();
        let s = load(dir.path(), None, env(&[])).unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert!(s.is_sqlite());
        assert!(s.database_url.expose_secret().ends_with("hearth.db"));
        assert_eq!(s.key_file, dir.path().join(KEY_FILE_NAME));
        assert_eq!(s.channel, ChannelKind::Console);
        assert!(!s.https());
        assert_eq!(s.session.idle, chrono::Duration::minutes(30));
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE_NAME),
            "listen = \"127.0.0.1:9000\"\nphone_region = \"GB\"\nsession_idle_minutes = 20\n",
        )
        .unwrap();
        let s = load(
            dir.path(),
            None,
            env(&[
                ("HEARTH_LISTEN", "127.0.0.1:9100"),
                ("HEARTH_DATABASE_URL", "postgres://postgres@127.0.0.1/test"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.port(), 9100);
        assert_eq!(s.phone_region.code(), "GB");
        assert_eq!(s.session.idle, chrono::Duration::minutes(20));
        assert!(!s.is_sqlite());
    }

    #[test]
    fn an_unknown_setting_in_the_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE_NAME),
            "lissten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let err = load(dir.path(), None, env(&[])).unwrap_err().to_string();
        assert!(err.contains("lissten"), "{err}");
    }

    #[test]
    fn an_explicit_config_file_that_is_missing_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), Some(&dir.path().join("nope.toml")), env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::ReadFile { .. }));
    }

    #[test]
    fn listening_on_all_interfaces_without_https_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), None, env(&[("HEARTH_LISTEN", "0.0.0.0:8080")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("public_url"), "{err}");
        let ok = load(
            dir.path(),
            None,
            env(&[
                ("HEARTH_LISTEN", "0.0.0.0:8080"),
                ("HEARTH_PUBLIC_URL", "https://hearth.example.org"),
            ]),
        )
        .unwrap();
        assert!(ok.https());
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("HEARTH_DATABASE_URL", "mysql://x", "database_url"),
            ("HEARTH_PHONE_REGION", "XX", "phone_region"),
            (
                "HEARTH_SESSION_IDLE_MINUTES",
                "soon",
                "HEARTH_SESSION_IDLE_MINUTES",
            ),
            (
                "HEARTH_SESSION_IDLE_MINUTES",
                "2000",
                "session_idle_minutes",
            ),
            ("HEARTH_CHANNEL", "carrier-pigeon", "HEARTH_CHANNEL"),
            ("HEARTH_LISTEN", "localhost", "listen"),
        ];
        for (var, value, named) in cases {
            let err = load(dir.path(), None, env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(named), "{var}={value}: {err}");
        }
    }

    #[test]
    fn the_database_password_is_redacted_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let s = load(
            dir.path(),
            None,
            env(&[("HEARTH_DATABASE_URL", "postgres://u:hunter2@db/x")]),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
