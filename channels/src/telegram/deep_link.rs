//! `/start` deep links (core.telegram.org/bots/features#deep-linking): a client taps
//! `https://t.me/{bot}?start={token}`, Telegram opens the chat with our bot, and the bot receives
//! the text `/start {token}`. The token tells us which client record the chat belongs to.
//!
//! This module only makes, formats and reads tokens. That a token is used once, expires, and is
//! bound to the first chat that uses it is the assistant's and the store's job: the store keeps
//! each issued token (hashed) with its client, expiry and, once used, the chat id, and refuses a
//! second use.

use base64::Engine as _;
use rand::RngCore as _;

use super::ids::BotUsername;
use crate::Error;

/// Telegram's limit for the `start` parameter: "up to 64 characters", of `A-Z a-z 0-9 _ -`.
pub const MAX_START_TOKEN_CHARS: usize = 64;
/// Random bytes in a generated token: 192 bits, well over the 128 an unguessable bearer token
/// needs. Base64url makes them 32 characters.
pub const START_TOKEN_RANDOM_BYTES: usize = 24;

/// A `/start` payload in Telegram's alphabet. It is a one-time bearer credential for linking a
/// chat, so `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StartToken(String);

impl std::fmt::Debug for StartToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StartToken([REDACTED])")
    }
}

/// Telegram's deep-link alphabet, the same as base64url without padding.
pub(crate) fn is_link_safe(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl StartToken {
    /// Accepts 1-64 characters of `A-Z a-z 0-9 _ -`, as Telegram delivers them.
    pub fn parse(payload: &str) -> Result<Self, Error> {
        if (1..=MAX_START_TOKEN_CHARS).contains(&payload.len()) && is_link_safe(payload) {
            Ok(Self(payload.to_string()))
        } else {
            Err(Error::InvalidStartToken)
        }
    }

    /// A fresh token from the operating system's random generator, base64url without padding.
    pub fn generate() -> Self {
        let mut bytes = [0u8; START_TOKEN_RANDOM_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The link to send the client: `https://t.me/{bot}?start={token}`. The token's alphabet
    /// needs no percent-encoding.
    pub fn link(&self, bot: &BotUsername) -> String {
        format!("https://t.me/{bot}?start={}", self.0)
    }
}

/// What a client's message means as a `/start` command. Named for what the assistant does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartCommand {
    /// `/start TOKEN`: look the token up and link this chat to its client.
    Link(StartToken),
    /// `/start` alone (the client opened the bot without a link): greet, say how to get a link.
    Greet,
    /// `/start` with a payload that cannot be a token of ours: say the link is not valid.
    InvalidLink,
    /// Not a `/start` command at all: handle as an ordinary message.
    NotStart,
}

impl StartCommand {
    /// Reads a message text. Accepts `/start@OurBot TOKEN` too (the form used in group chats).
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        let (command, payload) = match text.split_once(char::is_whitespace) {
            Some((command, rest)) => (command, rest.trim()),
            None => (text, ""),
        };
        let command = command.split_once('@').map_or(command, |(c, _bot)| c);
        if command != "/start" {
            return Self::NotStart;
        }
        if payload.is_empty() {
            return Self::Greet;
        }
        match StartToken::parse(payload) {
            Ok(token) => Self::Link(token),
            Err(_) => Self::InvalidLink,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn bot() -> BotUsername {
        BotUsername::parse("HearthClinicBot").expect("valid username")
    }

    #[test]
    fn payloads_in_telegrams_alphabet_are_tokens() {
        let max = "a".repeat(MAX_START_TOKEN_CHARS);
        for ok in ["a", "AZaz09_-", max.as_str()] {
            assert_eq!(
                StartToken::parse(ok).ok().map(|t| t.0),
                Some(ok.to_string())
            );
        }
        let too_long = "a".repeat(MAX_START_TOKEN_CHARS + 1);
        for bad in [
            "",
            " ",
            "a b",
            "a+b",
            "a/b",
            "a=b",
            "é",
            "a\n",
            too_long.as_str(),
        ] {
            assert!(
                matches!(StartToken::parse(bad), Err(Error::InvalidStartToken)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn generated_tokens_are_long_unique_and_valid() {
        let a = StartToken::generate();
        let b = StartToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32, "24 random bytes in base64url");
        assert!(StartToken::parse(a.as_str()).is_ok());
        assert!(
            !format!("{a:?}").contains(a.as_str()),
            "Debug hides the token"
        );
    }

    #[test]
    fn the_link_names_the_bot_and_carries_the_token() {
        let token = StartToken::parse("abc_DEF-123").expect("valid");
        assert_eq!(
            token.link(&bot()),
            "https://t.me/HearthClinicBot?start=abc_DEF-123"
        );
    }

    #[test]
    fn start_commands_are_read_as_telegram_sends_them() {
        let token = StartToken::parse("tok_1").expect("valid");
        assert_eq!(
            StartCommand::parse("/start tok_1"),
            StartCommand::Link(token.clone())
        );
        assert_eq!(
            StartCommand::parse("/start@HearthClinicBot tok_1"),
            StartCommand::Link(token)
        );
        assert_eq!(StartCommand::parse("/start"), StartCommand::Greet);
        assert_eq!(StartCommand::parse("  /start  "), StartCommand::Greet);
        assert_eq!(
            StartCommand::parse("/start not/a token"),
            StartCommand::InvalidLink
        );
        assert_eq!(
            StartCommand::parse("/starter tok_1"),
            StartCommand::NotStart
        );
        assert_eq!(StartCommand::parse("start tok_1"), StartCommand::NotStart);
        assert_eq!(StartCommand::parse("hello"), StartCommand::NotStart);
        assert_eq!(StartCommand::parse(""), StartCommand::NotStart);
    }

    /// Reads the `start` parameter back out of a link the way Telegram's servers would.
    fn start_param(link: &str) -> Option<String> {
        let url = url::Url::parse(link).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "start")
            .map(|(_, v)| v.into_owned())
    }

    proptest! {
        #[test]
        fn parsing_any_string_never_panics(s in any::<String>()) {
            let _ = StartToken::parse(&s);
            let _ = StartCommand::parse(&s);
        }

        #[test]
        fn accepted_tokens_round_trip_through_the_link_and_the_command(
            s in "[A-Za-z0-9_-]{1,64}|\\PC{0,80}"
        ) {
            if let Ok(token) = StartToken::parse(&s) {
                let link = token.link(&bot());
                prop_assert_eq!(start_param(&link), Some(s.clone()));
                prop_assert_eq!(
                    StartCommand::parse(&format!("/start {s}")),
                    StartCommand::Link(token)
                );
            }
        }

        #[test]
        fn every_link_safe_payload_of_allowed_length_is_accepted(
            s in "[A-Za-z0-9_-]{1,64}"
        ) {
            prop_assert!(StartToken::parse(&s).is_ok());
        }
    }
}
