//! Inbound Telegram webhooks (core.telegram.org/bots/api#setwebhook, #update): the secret-token
//! check and the parsing of an `Update` into a small owned type.
//!
//! Telegram sends `X-Telegram-Bot-Api-Secret-Token: <secret>` with every webhook request when the
//! webhook was registered with `secret_token`. That header is the only proof a request came from
//! Telegram, so [`WebhookVerifier`] checks it before reading the body, in constant time. A
//! request without it, or with another value, is refused; the assistant answers 401/403 and does
//! nothing else.
//!
//! Parsing never panics and never fails on an update kind we do not handle: edited messages,
//! photos, group chats, callback queries and kinds Telegram adds later are all
//! [`UpdateContent::Ignored`], which the webhook acknowledges with 200 so Telegram stops
//! redelivering them.
//!
//! Telegram redelivers anything not answered 2xx. A verified body that is not an update
//! ([`Error::InvalidUpdate`](crate::Error::InvalidUpdate)) will not parse the next time either, so the webhook should answer it
//! with 200 too and log the error, which names no content.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::deep_link::is_link_safe;
use super::ids::{ChatId, MessageId, UpdateId, UserId};
use crate::Error;

/// The header Telegram puts the webhook's secret token in.
pub const SECRET_TOKEN_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
/// setWebhook: `secret_token` is "1-256 characters. Only characters A-Z, a-z, 0-9, _ and - are
/// allowed."
pub const MAX_SECRET_TOKEN_CHARS: usize = 256;
/// Largest update body read. A text message is at most 4,096 characters; with entities, a quoted
/// reply and the sender's details an update stays far below this. Set the route's axum
/// `DefaultBodyLimit` to this too, so a larger body is refused before it is buffered.
pub const MAX_UPDATE_BYTES: usize = 256 * 1024;
/// Random bytes in a generated secret (256 bits, 43 base64url characters).
const SECRET_RANDOM_BYTES: usize = 32;

/// The secret we give Telegram in setWebhook and expect back in every webhook request.
#[derive(Clone)]
pub struct WebhookSecret(SecretString);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

impl WebhookSecret {
    /// Accepts what setWebhook accepts: 1-256 characters of `A-Z a-z 0-9 _ -`.
    pub fn parse(secret: SecretString) -> Result<Self, Error> {
        let s = secret.expose_secret();
        if (1..=MAX_SECRET_TOKEN_CHARS).contains(&s.len()) && is_link_safe(s) {
            Ok(Self(secret))
        } else {
            Err(Error::InvalidWebhookSecret)
        }
    }

    /// A fresh random secret (256 bits from the operating system, base64url).
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_RANDOM_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(SecretString::from(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// The secret itself, for setWebhook's `secret_token`.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Checks webhook requests against our secret and parses their updates.
#[derive(Clone)]
pub struct WebhookVerifier {
    /// SHA-256 of the secret: comparing digests takes the same time whatever the header's length,
    /// and the verifier holds no copy of the secret.
    secret_digest: [u8; 32],
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookVerifier { secret: [REDACTED] }")
    }
}

impl WebhookVerifier {
    pub fn new(secret: &WebhookSecret) -> Self {
        Self {
            secret_digest: Sha256::digest(secret.expose().as_bytes()).into(),
        }
    }

    /// Checks the value of the [`SECRET_TOKEN_HEADER`] header (`None` when absent), in constant
    /// time.
    pub fn verify(&self, header: Option<&[u8]>) -> Result<(), Error> {
        let header = header.ok_or(Error::TelegramSecretMissing)?;
        let digest: [u8; 32] = Sha256::digest(header).into();
        if bool::from(digest.ct_eq(&self.secret_digest)) {
            Ok(())
        } else {
            Err(Error::TelegramSecretMismatch)
        }
    }

    /// Verifies the header, then parses the body, so a caller only ever sees an update whose
    /// secret held, and a forged request costs no parsing.
    pub fn verify_update(&self, header: Option<&[u8]>, body: &[u8]) -> Result<Update, Error> {
        self.verify(header)?;
        Update::parse(body)
    }
}

/// One webhook delivery, reduced to what the assistant uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The dedupe key: see [`super::dedupe`].
    pub update_id: UpdateId,
    pub content: UpdateContent,
}

/// What an update carries. Named for what the webhook handler does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateContent {
    /// A text message from a person in a private chat with the bot: handle it.
    Text(InboundText),
    /// Anything else: acknowledge with 200 and do nothing.
    Ignored(Ignored),
}

/// Why an update is ignored (safe to log: it says nothing about the content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Not a new message: an edit, a callback query, a channel post, a kind added later...
    NotANewMessage,
    /// A message in a group, supergroup or channel: the bot talks to clients one to one.
    NotAPrivateChat,
    /// Sent by a bot, or with no sender.
    NotFromAPerson,
    /// A photo, sticker, voice note, contact... with no text.
    NotText,
}

/// A client's text message. `Debug` shows neither the text nor the ids.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundText {
    pub message_id: MessageId,
    pub chat_id: ChatId,
    pub from: UserId,
    pub text: String,
    /// When Telegram received it (the message's `date`, Unix seconds).
    pub date: DateTime<Utc>,
}

impl std::fmt::Debug for InboundText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundText")
            .field("message_id", &self.message_id)
            .field("text_chars", &self.text.chars().count())
            .field("date", &self.date)
            .finish_non_exhaustive()
    }
}

// Telegram's JSON, only the fields we read; serde ignores the rest.
#[derive(Deserialize)]
struct RawUpdate {
    update_id: i64,
    message: Option<RawMessage>,
}

#[derive(Deserialize)]
struct RawMessage {
    message_id: i32,
    date: i64,
    chat: RawChat,
    from: Option<RawUser>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct RawChat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct RawUser {
    id: i64,
    is_bot: bool,
}

impl Update {
    /// Parses a webhook body (JSON `Update`) within [`MAX_UPDATE_BYTES`]. Errors never quote the
    /// body.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        if body.len() > MAX_UPDATE_BYTES {
            return Err(Error::WebhookTooLarge {
                bytes: body.len(),
                max: MAX_UPDATE_BYTES,
            });
        }
        // serde_json's own messages can quote the input, so only the category is kept.
        let raw: RawUpdate = serde_json::from_slice(body).map_err(|e| Error::InvalidUpdate {
            reason: match e.classify() {
                serde_json::error::Category::Data => "a field has the wrong type or is missing",
                _ => "not JSON",
            },
        })?;
        let update_id = UpdateId::new(raw.update_id);
        let content = match raw.message {
            None => UpdateContent::Ignored(Ignored::NotANewMessage),
            Some(m) if m.chat.kind != "private" => UpdateContent::Ignored(Ignored::NotAPrivateChat),
            Some(RawMessage {
                from: None | Some(RawUser { is_bot: true, .. }),
                ..
            }) => UpdateContent::Ignored(Ignored::NotFromAPerson),
            Some(RawMessage { text: None, .. }) => UpdateContent::Ignored(Ignored::NotText),
            Some(RawMessage {
                message_id,
                date,
                chat,
                from: Some(from),
                text: Some(text),
            }) => UpdateContent::Text(InboundText {
                message_id: MessageId::new(message_id),
                chat_id: ChatId::new(chat.id),
                from: UserId::new(from.id),
                text,
                date: DateTime::from_timestamp(date, 0).ok_or(Error::InvalidUpdate {
                    reason: "the message date is out of range",
                })?,
            }),
        };
        Ok(Self { update_id, content })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn secret(s: &str) -> Result<WebhookSecret, Error> {
        WebhookSecret::parse(SecretString::from(s.to_string()))
    }

    #[test]
    fn secrets_follow_set_webhooks_rules() {
        let longest = "A".repeat(MAX_SECRET_TOKEN_CHARS);
        for ok in ["a", "Az09_-", longest.as_str()] {
            assert!(secret(ok).is_ok(), "{ok}");
        }
        let too_long = "A".repeat(MAX_SECRET_TOKEN_CHARS + 1);
        for bad in ["", "with space", "colon:", "é", too_long.as_str()] {
            assert!(
                matches!(secret(bad), Err(Error::InvalidWebhookSecret)),
                "{bad}"
            );
        }
        let generated = WebhookSecret::generate();
        assert!(secret(generated.expose()).is_ok());
        assert_eq!(generated.expose().len(), 43);
        assert!(!format!("{generated:?}").contains(generated.expose()));
    }

    #[test]
    fn a_private_text_message_is_read_with_its_ids_and_date() {
        let body = br#"{"update_id":10000,"message":{"message_id":1365,
            "from":{"id":1111111,"is_bot":false,"first_name":"Sam","language_code":"en"},
            "chat":{"id":1111111,"first_name":"Sam","type":"private"},
            "date":1441645532,"text":"/start abc"}}"#;
        let update = Update::parse(body).expect("a valid update");
        assert_eq!(update.update_id, UpdateId::new(10000));
        let UpdateContent::Text(text) = update.content else {
            panic!("expected a text message, got {:?}", update.content);
        };
        assert_eq!(text.message_id, MessageId::new(1365));
        assert_eq!(text.chat_id, ChatId::new(1111111));
        assert_eq!(text.from, UserId::new(1111111));
        assert_eq!(text.text, "/start abc");
        assert_eq!(text.date.timestamp(), 1441645532);
        let shown = format!("{text:?}");
        assert!(
            !shown.contains("abc") && !shown.contains("1111111"),
            "{shown}"
        );
    }

    #[test]
    fn other_update_kinds_are_ignored_not_errors() {
        let cases: [(&[u8], Ignored); 5] = [
            (
                br#"{"update_id":1,"edited_message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"x"}}"#,
                Ignored::NotANewMessage,
            ),
            (
                br#"{"update_id":2,"some_future_kind":{"anything":[1,2,3]}}"#,
                Ignored::NotANewMessage,
            ),
            (
                br#"{"update_id":3,"message":{"message_id":1,"date":1,"chat":{"id":-100,"type":"group","title":"g"},"from":{"id":5,"is_bot":false,"first_name":"a"},"text":"hi"}}"#,
                Ignored::NotAPrivateChat,
            ),
            (
                br#"{"update_id":4,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":true,"first_name":"b"},"text":"hi"}}"#,
                Ignored::NotFromAPerson,
            ),
            (
                br#"{"update_id":5,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false,"first_name":"a"},"photo":[]}}"#,
                Ignored::NotText,
            ),
        ];
        for (body, why) in cases {
            let update = Update::parse(body).expect("parses");
            assert_eq!(update.content, UpdateContent::Ignored(why));
        }
    }

    #[test]
    fn malformed_and_oversized_bodies_are_errors_that_do_not_quote_the_body() {
        for body in [
            &b""[..],
            b"not json",
            b"[]",
            b"{}",
            br#"{"update_id":"secret-text"}"#,
            br#"{"update_id":1,"message":{"message_id":1,"date":99999999999999,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false},"text":"t"}}"#,
        ] {
            let err = Update::parse(body).expect_err("invalid");
            assert!(matches!(err, Error::InvalidUpdate { .. }), "{err:?}");
            assert!(!err.to_string().contains("secret-text"), "{err}");
        }
        let big = vec![b' '; MAX_UPDATE_BYTES + 1];
        assert!(matches!(
            Update::parse(&big),
            Err(Error::WebhookTooLarge { .. })
        ));
    }

    #[test]
    fn the_verifier_accepts_only_the_exact_secret() {
        let verifier = WebhookVerifier::new(&secret("s3cret_Token-1").expect("valid"));
        assert!(verifier.verify(Some(b"s3cret_Token-1")).is_ok());
        for wrong in [
            &b""[..],
            b"s3cret_Token-2",
            b"s3cret_Token-1 ",
            b"s3cret_Token-",
        ] {
            assert!(
                matches!(
                    verifier.verify(Some(wrong)),
                    Err(Error::TelegramSecretMismatch)
                ),
                "{wrong:?}"
            );
        }
        assert!(matches!(
            verifier.verify(None),
            Err(Error::TelegramSecretMissing)
        ));
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Update::parse(&body);
        }

        #[test]
        fn parsing_arbitrary_json_values_never_panics(
            id in any::<i64>(), date in any::<i64>(), chat in any::<i64>(),
            kind in "private|group|channel|\\PC{0,8}", text in proptest::option::of("\\PC{0,64}"),
        ) {
            let body = serde_json::json!({"update_id": id, "message": {
                "message_id": 1, "date": date, "chat": {"id": chat, "type": kind},
                "from": {"id": chat, "is_bot": false}, "text": text}});
            let _ = Update::parse(body.to_string().as_bytes());
        }
    }
}
