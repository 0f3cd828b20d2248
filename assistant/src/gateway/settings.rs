//! The gateway's settings: which providers carry messages, and how the outbox dispatcher paces
//! and retries. Read from the `[twilio]`, `[telegram]` and `[dispatch]` tables of `hearth.toml`
//! (secrets also from `HEARTH_TWILIO_AUTH_TOKEN`, `HEARTH_TELEGRAM_BOT_TOKEN`,
//! `HEARTH_TELEGRAM_WEBHOOK_SECRET`) and checked when the settings load.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::config::ConfigError;

/// `[twilio]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioFile {
    pub account_sid: Option<String>,
    pub auth_token: Option<SecretString>,
    /// The practice's number (E.164) …
    pub from: Option<String>,
    /// … or a Messaging Service that picks one.
    pub messaging_service_sid: Option<String>,
    /// `https://api.twilio.com` unless testing against a local fake.
    pub api_base_url: Option<String>,
    pub request_timeout_ms: Option<u64>,
    /// The practice this account's numbers serve; may be left out when the database has one.
    pub practice_id: Option<store::PracticeId>,
}

/// `[telegram]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramFile {
    pub bot_token: Option<SecretString>,
    pub api_url: Option<String>,
    pub webhook_secret: Option<SecretString>,
    /// The practice this bot serves; may be left out when the database has one.
    pub practice_id: Option<store::PracticeId>,
}

/// One `[[dispatch.senders]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderFile {
    /// The outbox sender key, e.g. `sms:+15550001111`.
    pub key: String,
    pub kind: Option<SenderKind>,
    /// Overrides the kind's rate.
    pub segments_per_second: Option<f64>,
}

/// `[dispatch]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchFile {
    /// Run the dispatcher inside `hearth serve` (default true); `false` when it runs as
    /// `hearth dispatch` processes of its own.
    pub in_serve: Option<bool>,
    pub lease_seconds: Option<u64>,
    pub batch: Option<usize>,
    pub concurrency: Option<usize>,
    pub max_attempts: Option<i64>,
    pub poll_interval_ms: Option<u64>,
    pub backoff_base_ms: Option<u64>,
    pub backoff_cap_seconds: Option<u64>,
    /// How long after an attempt began before its unknown outcome is looked up at the provider.
    pub reconcile_after_ms: Option<u64>,
    /// The kind of senders not listed in `senders`.
    pub default_sender_kind: Option<SenderKind>,
    #[serde(default)]
    pub senders: Vec<SenderFile>,
}

/// What kind of number a sender is; each has its carrier throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    LongCode,
    TollFree,
    ShortCode,
}

impl SenderKind {
    /// Default segments per second: Twilio's documented throughput per sender type
    /// (twilio.com/docs/messaging/guides/scaling-queueing-latency: long code 1 MPS, toll-free 3
    /// MPS, short code 100 MPS; MPS counts segments).
    pub fn segments_per_second(self) -> f64 {
        match self {
            SenderKind::LongCode => 1.0,
            SenderKind::TollFree => 3.0,
            SenderKind::ShortCode => 100.0,
        }
    }
}

/// Twilio account settings, checked.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub account_sid: channels::twilio::AccountSid,
    pub auth_token: SecretString,
    pub sender: channels::twilio::Sender,
    pub api_base_url: String,
    pub request_timeout: Duration,
    pub practice_id: Option<store::PracticeId>,
}

/// Telegram bot settings, checked.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    pub bot_token: SecretString,
    pub api_url: String,
    pub webhook_secret: Option<SecretString>,
    pub practice_id: Option<store::PracticeId>,
}

/// How the dispatcher paces and retries.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    pub in_serve: bool,
    pub lease: Duration,
    pub batch: usize,
    pub concurrency: usize,
    /// Attempts after which a message that keeps failing temporarily is marked failed.
    pub max_attempts: i64,
    pub poll_interval: Duration,
    pub backoff: store::outbox::Backoff,
    pub reconcile_after: Duration,
    pub default_rate: f64,
    /// Segments per second per sender key.
    pub rates: HashMap<String, f64>,
}

/// Everything the gateway reads from the settings.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub twilio: Option<TwilioSettings>,
    pub telegram: Option<TelegramSettings>,
    pub dispatch: DispatchSettings,
}

/// The environment variables the gateway reads (secrets, and the dispatcher switch).
pub fn apply_env(
    twilio: &mut Option<TwilioFile>,
    telegram: &mut Option<TelegramFile>,
    dispatch: &mut Option<DispatchFile>,
    key: &str,
    value: &str,
) -> Result<(), ConfigError> {
    match key {
        "HEARTH_TWILIO_AUTH_TOKEN" => {
            twilio.get_or_insert_default().auth_token = Some(SecretString::from(value.to_owned()))
        }
        "HEARTH_TELEGRAM_BOT_TOKEN" => {
            telegram.get_or_insert_default().bot_token = Some(SecretString::from(value.to_owned()))
        }
        "HEARTH_TELEGRAM_API_URL" => {
            telegram.get_or_insert_default().api_url = Some(value.to_owned())
        }
        "HEARTH_TELEGRAM_WEBHOOK_SECRET" => {
            telegram.get_or_insert_default().webhook_secret =
                Some(SecretString::from(value.to_owned()))
        }
        "HEARTH_DISPATCH_IN_SERVE" => {
            dispatch.get_or_insert_default().in_serve = Some(match value.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ConfigError::Env {
                        var: "HEARTH_DISPATCH_IN_SERVE",
                        what: "use true or false".into(),
                    });
                }
            })
        }
        _ => {}
    }
    Ok(())
}

fn invalid(setting: &'static str, what: &str) -> ConfigError {
    ConfigError::Invalid {
        setting,
        what: what.to_owned(),
    }
}

/// Checks the gateway tables. `twilio_required`: the configured channel is Twilio.
pub fn build(
    twilio_required: bool,
    twilio: Option<TwilioFile>,
    telegram: Option<TelegramFile>,
    dispatch: Option<DispatchFile>,
) -> Result<GatewaySettings, ConfigError> {
    let twilio = match twilio {
        None if twilio_required => {
            return Err(invalid(
                "channel",
                "channel = \"twilio\" needs a [twilio] table with account_sid, auth_token (or HEARTH_TWILIO_AUTH_TOKEN) and from",
            ));
        }
        None => None,
        Some(t) => Some(build_twilio(t)?),
    };
    let telegram = match telegram {
        None => None,
        Some(t) => Some(TelegramSettings {
            bot_token: t.bot_token.ok_or_else(|| {
                invalid(
                    "telegram.bot_token",
                    "set it (or HEARTH_TELEGRAM_BOT_TOKEN) to the token from @BotFather",
                )
            })?,
            api_url: t
                .api_url
                .unwrap_or_else(|| channels::telegram::client::DEFAULT_API_URL.to_owned()),
            webhook_secret: t.webhook_secret,
            practice_id: t.practice_id,
        }),
    };
    Ok(GatewaySettings {
        twilio,
        telegram,
        dispatch: build_dispatch(dispatch.unwrap_or_default())?,
    })
}

fn build_twilio(t: TwilioFile) -> Result<TwilioSettings, ConfigError> {
    let account_sid = t
        .account_sid
        .as_deref()
        .and_then(channels::twilio::AccountSid::parse)
        .ok_or_else(|| {
            invalid(
                "twilio.account_sid",
                "copy the Account SID (AC followed by 32 hex digits) from the Twilio console",
            )
        })?;
    let auth_token = t.auth_token.ok_or_else(|| {
        invalid(
            "twilio.auth_token",
            "set it (or HEARTH_TWILIO_AUTH_TOKEN) to the account's auth token",
        )
    })?;
    let sender = match (t.from, t.messaging_service_sid) {
        (Some(from), None) => {
            store::E164::parse(&from).map_err(|_| {
                invalid(
                    "twilio.from",
                    "write the practice's Twilio number in E.164, like +15550001111",
                )
            })?;
            channels::twilio::Sender::From(from)
        }
        (None, Some(ms)) => channels::twilio::Sender::MessagingService(ms),
        _ => {
            return Err(invalid(
                "twilio.from",
                "set exactly one of twilio.from and twilio.messaging_service_sid",
            ));
        }
    };
    let timeout = t.request_timeout_ms.unwrap_or(15_000);
    if !(100..=120_000).contains(&timeout) {
        return Err(invalid(
            "twilio.request_timeout_ms",
            "use 100 to 120000 milliseconds",
        ));
    }
    Ok(TwilioSettings {
        account_sid,
        auth_token,
        sender,
        api_base_url: t
            .api_base_url
            .unwrap_or_else(|| channels::twilio::client::DEFAULT_BASE_URL.to_owned()),
        request_timeout: Duration::from_millis(timeout),
        practice_id: t.practice_id,
    })
}

fn build_dispatch(d: DispatchFile) -> Result<DispatchSettings, ConfigError> {
    let lease = d.lease_seconds.unwrap_or(60);
    if !(1..=3600).contains(&lease) {
        return Err(invalid("dispatch.lease_seconds", "use 1 to 3600 seconds"));
    }
    let batch = d.batch.unwrap_or(50);
    if !(1..=store::outbox::MAX_CLAIM_BATCH).contains(&batch) {
        return Err(invalid("dispatch.batch", "use 1 to 500"));
    }
    let concurrency = d.concurrency.unwrap_or(16);
    if !(1..=1024).contains(&concurrency) {
        return Err(invalid("dispatch.concurrency", "use 1 to 1024"));
    }
    let max_attempts = d.max_attempts.unwrap_or(25);
    if max_attempts < 1 {
        return Err(invalid("dispatch.max_attempts", "use at least 1"));
    }
    let base = d.backoff_base_ms.unwrap_or(10_000);
    let cap = d.backoff_cap_seconds.unwrap_or(1800);
    if base == 0 || cap == 0 || base > cap * 1000 {
        return Err(invalid(
            "dispatch.backoff_base_ms",
            "must be at least 1 and no longer than backoff_cap_seconds",
        ));
    }
    let mut rates = HashMap::new();
    for s in d.senders {
        store::outbox::SenderKey::parse(&s.key)
            .map_err(|_| invalid("dispatch.senders.key", "use the outbox sender key, like sms:+15550001111"))?;
        let rate = s.segments_per_second.unwrap_or_else(|| {
            s.kind.unwrap_or(SenderKind::LongCode).segments_per_second()
        });
        if !(rate.is_finite() && rate > 0.0 && rate <= 10_000.0) {
            return Err(invalid(
                "dispatch.senders.segments_per_second",
                "use a number above 0 and at most 10000",
            ));
        }
        rates.insert(s.key, rate);
    }
    Ok(DispatchSettings {
        in_serve: d.in_serve.unwrap_or(true),
        lease: Duration::from_secs(lease),
        batch,
        concurrency,
        max_attempts,
        poll_interval: Duration::from_millis(d.poll_interval_ms.unwrap_or(500).clamp(10, 60_000)),
        backoff: store::outbox::Backoff {
            base: chrono::TimeDelta::milliseconds(base as i64),
            cap: chrono::TimeDelta::seconds(cap as i64),
        },
        reconcile_after: Duration::from_millis(d.reconcile_after_ms.unwrap_or(5_000)),
        default_rate: d
            .default_sender_kind
            .unwrap_or(SenderKind::LongCode)
            .segments_per_second(),
        rates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_kinds_default_to_twilios_documented_throughput() {
        let d = build_dispatch(DispatchFile {
            senders: vec![
                SenderFile { key: "sms:+15550001111".into(), kind: Some(SenderKind::TollFree), segments_per_second: None },
                SenderFile { key: "sms:short".into(), kind: Some(SenderKind::ShortCode), segments_per_second: None },
                SenderFile { key: "sms:fast".into(), kind: None, segments_per_second: Some(7.5) },
            ],
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(d.default_rate, 1.0);
        assert_eq!(d.rates["sms:+15550001111"], 3.0);
        assert_eq!(d.rates["sms:short"], 100.0);
        assert_eq!(d.rates["sms:fast"], 7.5);
        assert!(d.in_serve);
    }

    #[test]
    fn twilio_without_a_sender_is_refused_naming_the_setting() {
        let err = build(
            true,
            Some(TwilioFile {
                account_sid: Some("AC0123456789abcdef0123456789abcdef".into()),
                auth_token: Some(SecretString::from("t".to_owned())),
                ..Default::default()
            }),
            None,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("twilio.from"), "{err}");
        let err = build(true, None, None, None).unwrap_err().to_string();
        assert!(err.contains("[twilio]"), "{err}");
    }
}
