//! Twilio's string identifiers (SIDs): a two-letter type prefix and 32 hex digits
//! (twilio.com/docs/glossary/what-is-a-sid). Their own types, so one cannot be passed for another.

use serde::{Deserialize, Serialize};

fn is_sid(s: &str, prefixes: &[&str]) -> bool {
    s.len() == 34
        && prefixes.iter().any(|p| s.starts_with(p))
        && s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

/// A message's SID: `SM…` (SMS) or `MM…` (MMS).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageSid(String);

impl MessageSid {
    /// `None` unless `s` is `SM` or `MM` followed by 32 hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        is_sid(s, &["SM", "MM"]).then(|| Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MessageSid {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or("a message SID is SM or MM followed by 32 hex digits")
    }
}

impl From<MessageSid> for String {
    fn from(sid: MessageSid) -> Self {
        sid.0
    }
}

impl std::fmt::Display for MessageSid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An account's SID: `AC…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountSid(String);

impl AccountSid {
    /// `None` unless `s` is `AC` followed by 32 hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        is_sid(s, &["AC"]).then(|| Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountSid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_need_their_prefix_and_32_hex_digits() {
        assert!(MessageSid::parse("SM0123456789abcdef0123456789ABCDEF").is_some());
        assert!(MessageSid::parse("MM0123456789abcdef0123456789abcdef").is_some());
        assert!(MessageSid::parse("AC0123456789abcdef0123456789abcdef").is_none());
        assert!(MessageSid::parse("SM0123456789abcdef0123456789abcdeg").is_none());
        assert!(MessageSid::parse("SM0123").is_none());
        assert!(MessageSid::parse("SMé123456789abcdef0123456789abcde").is_none());
        assert!(AccountSid::parse("AC0123456789abcdef0123456789abcdef").is_some());
    }
}
