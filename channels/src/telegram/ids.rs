//! Telegram's identifiers as their own types, so a chat id cannot be passed for a user id or an
//! update id (core.telegram.org/bots/api#chat, #user, #update, #message).
//!
//! A chat id identifies a client as surely as a phone number does: `Debug` hides it, and nothing
//! in this crate logs it.

use crate::Error;

/// A chat: for a private chat with a client, the same number as the client's user id. Telegram
/// documents up to 52 significant bits, so an `i64`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatId(i64);

impl ChatId {
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Debug for ChatId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChatId([REDACTED])")
    }
}

/// The Telegram user who sent a message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(i64);

impl UserId {
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Debug for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserId([REDACTED])")
    }
}

/// An update's id: Telegram numbers updates in sequence and redelivers one with the same id
/// until our webhook answers 2xx, so it is the key for deduplication. Not PHI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpdateId(i64);

impl UpdateId {
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for UpdateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The id Telegram gives a message we sent: the provider id an outbox row records. It is unique
/// only within its chat, so the pair (chat, message id) names a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(i32);

impl MessageId {
    pub const fn new(id: i32) -> Self {
        Self(id)
    }

    pub const fn get(self) -> i32 {
        self.0
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Shortest and longest bot username Telegram allows (core.telegram.org/bots/features#botfather:
/// "5-32 characters ... must end in `bot`").
pub const MIN_BOT_USERNAME_CHARS: usize = 5;
pub const MAX_BOT_USERNAME_CHARS: usize = 32;

/// Our bot's public username, without the `@` (e.g. `HearthClinicBot`); used to build `t.me`
/// links.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BotUsername(String);

impl BotUsername {
    /// Accepts 5-32 characters of A-Z, a-z, 0-9 and `_`, ending in "bot" in any case, as
    /// @BotFather does. A leading `@` is refused rather than stripped, so config is unambiguous.
    pub fn parse(name: &str) -> Result<Self, Error> {
        let len_ok = (MIN_BOT_USERNAME_CHARS..=MAX_BOT_USERNAME_CHARS).contains(&name.len());
        let chars_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let ends_in_bot = name.len() >= 3
            && name.is_char_boundary(name.len() - 3)
            && name[name.len() - 3..].eq_ignore_ascii_case("bot");
        if len_ok && chars_ok && ends_in_bot {
            Ok(Self(name.to_string()))
        } else {
            Err(Error::InvalidBotUsername)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BotUsername {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_usernames_follow_botfathers_rules() {
        for ok in ["HearthBot", "hearth_clinic_bot", "abcBOT", "a1_bot"] {
            assert!(BotUsername::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "bot",
            "@HearthBot",
            "Hearth",
            "Hearth-bot",
            "Héarthbot",
            "hearth bot",
            "a_very_long_name_that_is_over_32_bot",
        ] {
            assert!(
                matches!(BotUsername::parse(bad), Err(Error::InvalidBotUsername)),
                "{bad}"
            );
        }
    }

    #[test]
    fn chat_and_user_ids_are_hidden_from_debug_output() {
        let shown = format!(
            "{:?} {:?}",
            ChatId::new(987_654_321),
            UserId::new(123_456_789)
        );
        assert!(!shown.contains("987") && !shown.contains("123"), "{shown}");
    }
}
