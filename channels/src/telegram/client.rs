//! Sending through Telegram's Bot API (core.telegram.org/bots/api#making-requests) with
//! teloxide's client, and sorting its errors into the crate's error classes.
//!
//! Dependency notes:
//! - `teloxide-core`, not `teloxide`: we need the Bot API client and types only. The webhook is an
//!   ordinary route in the assistant's axum server (see [`crate::telegram::webhook`]), so teloxide's
//!   dispatcher, storages (whose sqlite/postgres features would pull a second sqlx) and webhook
//!   server would be dead weight. `teloxide::Bot` is this same `teloxide_core::Bot`.
//! - TLS is rustls (`rustls` feature) with no OpenSSL. teloxide-core 0.13 is built on reqwest
//!   0.12 with rustls on `ring` and the webpki roots, next to the workspace's reqwest 0.13 on
//!   `aws-lc-rs`: two HTTP stacks in the binary until teloxide moves to reqwest 0.13.
//! - teloxide waits 10 s before reading the body of any 5xx answer (`DELAY_ON_SERVER_ERROR` in
//!   teloxide-core's `net/request.rs`), inside the request's timeout. Below about 11 s every 5xx
//!   would therefore end as a timeout, an unknown outcome; [`MIN_REQUEST_TIMEOUT`](crate::telegram::client::MIN_REQUEST_TIMEOUT) prevents that.
//! - teloxide does not expose the HTTP status or Telegram's `error_code`; it sorts the
//!   `description` into [`ApiError`](teloxide_core::ApiError). We classify by those variants and, for the rest, by the
//!   description's leading reason phrase ("Bad Request: ...", "Forbidden: ..."), which Telegram
//!   always puts there.
//!
//! Nothing here logs a chat id, a message text or the bot token (which Telegram puts in the URL
//! path, so reqwest's error messages contain it: they are never shown).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use teloxide_core::payloads::SetWebhookSetters as _;
use teloxide_core::requests::{Request as _, Requester as _};
use teloxide_core::{ApiError, Bot, RequestError};

use super::ids::{BotUsername, ChatId, MessageId};
use super::webhook::WebhookSecret;
use crate::Error;

/// Telegram's production Bot API.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";
/// sendMessage: "Text of the message to be sent, 1-4096 characters after entities parsing"
/// (Telegram counts UTF-16 code units; we send no entities).
pub const MAX_TEXT_UTF16_UNITS: usize = 4096;
/// The shortest request timeout accepted: teloxide's 10 s pause on 5xx answers plus margin.
pub const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(12);

/// A message text Telegram will accept: not blank, at most [`MAX_TEXT_UTF16_UNITS`].
#[derive(Clone, PartialEq, Eq)]
pub struct TelegramText(String);

impl std::fmt::Debug for TelegramText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TelegramText({} chars)", self.0.chars().count())
    }
}

impl TelegramText {
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.trim().is_empty() {
            return Err(Error::EmptyBody);
        }
        let units = text.encode_utf16().count();
        if units > MAX_TEXT_UTF16_UNITS {
            return Err(Error::BodyTooLong {
                units,
                max: MAX_TEXT_UTF16_UNITS,
            });
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything the client needs; built once from the service's configuration.
#[derive(Clone)]
pub struct TelegramConfig {
    /// `https://api.telegram.org`, a self-hosted Bot API server, or a local fake in tests (plain
    /// http only on loopback).
    pub api_url: String,
    /// From @BotFather: `123456789:AA...`.
    pub bot_token: SecretString,
    /// Time to open the connection; a timeout here means nothing was sent.
    pub connect_timeout: Duration,
    /// Time for the whole request; a timeout after connecting leaves the outcome unknown. At
    /// least [`MIN_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("api_url", &self.api_url)
            .field("bot_token", &"[REDACTED]")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl TelegramConfig {
    /// Production defaults: Telegram's API, 5 s to connect, 17 s per request (teloxide's own
    /// defaults).
    pub fn new(bot_token: SecretString) -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_string(),
            bot_token,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(17),
        }
    }
}

/// A bot token as @BotFather issues it: the bot's numeric id, `:`, then base64url characters.
/// Checked because it becomes a URL path segment.
fn is_bot_token(token: &str) -> bool {
    token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !secret.is_empty()
            && super::deep_link::is_link_safe(secret)
    })
}

/// A client for one bot.
#[derive(Clone)]
pub struct TelegramClient {
    bot: Bot,
}

impl std::fmt::Debug for TelegramClient {
    // `Bot`'s own Debug prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TelegramClient { bot_token: [REDACTED] }")
    }
}

impl TelegramClient {
    /// Builds the client; refuses a malformed token, a URL that would send the token in clear
    /// text, and a request timeout too short to survive teloxide's pause on 5xx.
    pub fn new(config: TelegramConfig) -> Result<Self, Error> {
        if !is_bot_token(config.bot_token.expose_secret()) {
            return Err(Error::ClientConfig(
                "the Telegram bot token must look like 123456789:AAE... (copy it from @BotFather)"
                    .into(),
            ));
        }
        let url = url::Url::parse(&config.api_url).map_err(|_| {
            Error::ClientConfig("the Telegram API URL is not an absolute URL".into())
        })?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.cannot_be_a_base()
            || (url.scheme() != "https" && !(url.scheme() == "http" && loopback))
        {
            return Err(Error::ClientConfig(
                "the Telegram API URL must use https (plain http only on loopback)".into(),
            ));
        }
        if config.request_timeout < MIN_REQUEST_TIMEOUT {
            return Err(Error::ClientConfig(format!(
                "the Telegram request timeout must be at least {} s: teloxide waits 10 s before \
                 reading a 5xx answer",
                MIN_REQUEST_TIMEOUT.as_secs()
            )));
        }
        let http = teloxide_core::net::default_reqwest_settings()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|_| Error::ClientConfig("building the Telegram HTTP client failed".into()))?;
        let bot = Bot::with_client(config.bot_token.expose_secret(), http).set_api_url(url);
        Ok(Self { bot })
    }

    /// Sends a plain-text message (no parse mode, so nothing in `text` is read as markup).
    /// Returns Telegram's id for it: the provider id to record.
    pub async fn send(&self, chat: ChatId, text: &TelegramText) -> Result<MessageId, Error> {
        let sent = self
            .bot
            .send_message(teloxide_core::types::ChatId(chat.get()), text.as_str())
            .send()
            .await
            .map_err(|e| {
                let error = classify(e);
                tracing::debug!(error = %error, "telegram refused a message");
                error
            })?;
        let id = MessageId::new(sent.id.0);
        tracing::debug!(message_id = %id, "telegram accepted a message");
        Ok(id)
    }

    /// getMe: proves the token works and returns the bot's username, for `t.me` links. Call it
    /// at startup so a wrong token is reported before a client needs a message.
    pub async fn bot_username(&self) -> Result<BotUsername, Error> {
        let me = self.bot.get_me().send().await.map_err(classify)?;
        let name = me.user.username.as_deref().ok_or_else(|| {
            Error::UnexpectedResponse("Telegram's getMe answer has no username".into())
        })?;
        BotUsername::parse(name)
    }

    /// setWebhook: Telegram will POST updates to `url` (https, port 443, 80, 88 or 8443) with
    /// `secret` in the [`super::webhook::SECRET_TOKEN_HEADER`] header, and only message updates.
    pub async fn set_webhook(&self, url: &str, secret: &WebhookSecret) -> Result<(), Error> {
        let url = url::Url::parse(url)?;
        self.bot
            .set_webhook(url)
            .secret_token(secret.expose().to_string())
            .allowed_updates(vec![teloxide_core::types::AllowedUpdate::Message])
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// The reason phrase Telegram starts each `description` with, and its HTTP status (Telegram's
/// `error_code` is the HTTP status).
const REASON_PHRASES: [(&str, u16); 10] = [
    ("Bad Request", 400),
    ("Unauthorized", 401),
    ("Forbidden", 403),
    ("Not Found", 404),
    ("Conflict", 409),
    ("Too Many Requests", 429),
    ("Internal Server Error", 500),
    ("Bad Gateway", 502),
    ("Service Unavailable", 503),
    ("Gateway Timeout", 504),
];

fn status_of(description: &str) -> Option<u16> {
    REASON_PHRASES
        .iter()
        .find(|(phrase, _)| description.starts_with(phrase))
        .map(|(_, status)| *status)
}

const TOKEN_HINT: &str =
    "check the bot token (from @BotFather) and the Telegram API URL in the configuration";

/// Sorts teloxide's error into what the caller does next.
pub(crate) fn classify(error: RequestError) -> Error {
    match error {
        RequestError::RetryAfter(wait) => Error::RetryLater {
            status: Some(429),
            code: None,
            retry_after: Some(wait.duration()),
        },
        RequestError::Api(api) => classify_api(&api),
        // Only for groups that became supergroups; a client's private chat never migrates.
        RequestError::MigrateToChatId(_) => Error::NeverRetry {
            status: Some(400),
            code: None,
        },
        RequestError::Network(e) if e.is_connect() => Error::RetryLater {
            status: None,
            code: None,
            retry_after: None,
        },
        RequestError::Network(e) if e.is_timeout() => {
            Error::OutcomeUnknown("Telegram did not answer in time after the request was sent")
        }
        RequestError::Network(_) => {
            Error::OutcomeUnknown("the connection failed after the request was sent")
        }
        // A 2xx with a body we cannot read means it was sent; a proxy's HTML 502 means it was
        // not. teloxide does not tell which, so the outcome is unknown.
        RequestError::InvalidJson { .. } => {
            Error::OutcomeUnknown("Telegram's answer could not be read")
        }
        // Reading a local file for an upload failed: nothing left this machine.
        RequestError::Io(_) => Error::RetryLater {
            status: None,
            code: None,
            retry_after: None,
        },
    }
}

fn classify_api(api: &ApiError) -> Error {
    match api {
        ApiError::BotBlocked
        | ApiError::UserDeactivated
        | ApiError::CantInitiateConversation
        | ApiError::CantTalkWithBots
        | ApiError::BotKicked
        | ApiError::BotKickedFromSupergroup
        | ApiError::BotKickedFromChannel => Error::TelegramBlocked,
        ApiError::ChatNotFound | ApiError::UserNotFound => Error::TelegramChatNotFound,
        ApiError::InvalidToken => Error::Misconfigured {
            status: Some(401),
            code: None,
            hint: TOKEN_HINT,
        },
        other => {
            // A known variant displays as Telegram's description; Unknown carries it.
            let description = match other {
                ApiError::Unknown(d) => d.clone(),
                known => known.to_string(),
            };
            let status = status_of(&description);
            match status {
                Some(401 | 404) => Error::Misconfigured {
                    status,
                    code: None,
                    hint: TOKEN_HINT,
                },
                Some(403) => Error::TelegramBlocked,
                Some(400 | 409) => Error::NeverRetry { status, code: None },
                // 429 without retry_after, 5xx, and descriptions we do not know: Telegram
                // answers every client error with a 4xx reason phrase, so the rest is on its side.
                _ => Error::RetryLater {
                    status,
                    code: None,
                    retry_after: None,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use teloxide_core::types::Seconds;

    use super::*;

    const TOKEN: &str = "123456789:AAE_test-token";

    #[test]
    fn texts_must_be_non_blank_and_within_telegrams_limit() {
        assert!(TelegramText::parse("See you at 3pm").is_ok());
        assert!(matches!(TelegramText::parse(" \n"), Err(Error::EmptyBody)));
        assert!(TelegramText::parse(&"€".repeat(MAX_TEXT_UTF16_UNITS)).is_ok());
        // An emoji is two UTF-16 units.
        assert!(matches!(
            TelegramText::parse(&"😀".repeat(MAX_TEXT_UTF16_UNITS / 2 + 1)),
            Err(Error::BodyTooLong {
                units: 4098,
                max: 4096
            })
        ));
        assert!(
            !format!("{:?}", TelegramText::parse("private words").expect("valid"))
                .contains("private")
        );
    }

    #[test]
    fn the_config_is_checked_and_never_shows_the_token() {
        let mut config = TelegramConfig::new(SecretString::from(TOKEN));
        assert!(TelegramClient::new(config.clone()).is_ok());
        assert!(!format!("{config:?}").contains("AAE_test"));
        assert!(
            !format!("{:?}", TelegramClient::new(config.clone()).expect("valid"))
                .contains("AAE_test")
        );

        config.api_url = "http://api.example.com".into();
        assert!(matches!(
            TelegramClient::new(config.clone()),
            Err(Error::ClientConfig(_))
        ));
        config.api_url = "http://127.0.0.1:9".into();
        assert!(TelegramClient::new(config.clone()).is_ok());

        config.request_timeout = Duration::from_secs(5);
        assert!(matches!(
            TelegramClient::new(config.clone()),
            Err(Error::ClientConfig(_))
        ));
        config.request_timeout = MIN_REQUEST_TIMEOUT;

        for bad in ["", "123456789", "abc:def", "123:", "123:a/b", "123:abc?x=1"] {
            config.bot_token = SecretString::from(bad);
            let err = TelegramClient::new(config.clone()).expect_err("malformed token");
            assert!(matches!(err, Error::ClientConfig(_)), "{bad}");
        }
    }

    #[test]
    fn telegrams_errors_are_sorted_by_what_to_do_next() {
        assert!(matches!(
            classify(RequestError::RetryAfter(Seconds::from_seconds(7))),
            Error::RetryLater { status: Some(429), retry_after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        for blocked in [
            ApiError::BotBlocked,
            ApiError::UserDeactivated,
            ApiError::CantInitiateConversation,
        ] {
            assert!(matches!(classify(blocked.into()), Error::TelegramBlocked));
        }
        assert!(matches!(
            classify(ApiError::ChatNotFound.into()),
            Error::TelegramChatNotFound
        ));
        assert!(matches!(
            classify(ApiError::InvalidToken.into()),
            Error::Misconfigured { .. }
        ));
        assert!(matches!(
            classify(ApiError::MessageIsTooLong.into()),
            Error::NeverRetry {
                status: Some(400),
                ..
            }
        ));
        let unknown = |d: &str| classify(ApiError::Unknown(d.into()).into());
        assert!(matches!(
            unknown("Forbidden: bot is not a member of the channel chat"),
            Error::TelegramBlocked
        ));
        assert!(matches!(
            unknown("Bad Request: some new rule"),
            Error::NeverRetry {
                status: Some(400),
                ..
            }
        ));
        assert!(matches!(
            unknown("Internal Server Error"),
            Error::RetryLater {
                status: Some(500),
                ..
            }
        ));
        assert!(matches!(
            unknown("Too Many Requests"),
            Error::RetryLater {
                status: Some(429),
                retry_after: None,
                ..
            }
        ));
        assert!(matches!(
            unknown("Unauthorized"),
            Error::Misconfigured { .. }
        ));
    }
}
