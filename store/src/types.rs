//! Small parsed values shared with the assistant: the assistant parses user input (with the
//! `phonenumber` crate, chrono-tz) and hands the store values that are valid by construction.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// A phone number in E.164 form: `+`, then 8 to 15 digits, first digit not 0 (ITU-T E.164 §6).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    /// Accepts only the canonical form (`+15551234567`); formatting is the caller's job.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        let digits = s.strip_prefix('+').ok_or_else(bad_phone)?;
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok { Ok(Self(s.to_owned())) } else { Err(bad_phone()) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn bad_phone() -> StoreError {
    StoreError::Invalid(
        "phone number must be E.164: '+' then 8-15 digits, e.g. +15551234567".to_owned(),
    )
}

impl TryFrom<String> for E164 {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<E164> for String {
    fn from(p: E164) -> Self {
        p.0
    }
}
/// Redacted: a phone number is PHI when it belongs to a client.
impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("E164(..)")
    }
}

/// An IANA time zone name known to chrono-tz (e.g. `America/Chicago`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        s.parse::<chrono_tz::Tz>().map(|tz| Self(tz.name().to_owned())).map_err(|_| {
            StoreError::Invalid(format!(
                "unknown time zone '{s}': use an IANA name such as America/New_York"
            ))
        })
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn tz(&self) -> chrono_tz::Tz {
        self.0.parse().expect("TimeZoneName holds only names chrono-tz parsed")
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<TimeZoneName> for String {
    fn from(t: TimeZoneName) -> Self {
        t.0
    }
}

/// An email address, checked only for shape (one `@`, non-empty parts, no spaces, ≤ 254 bytes,
/// RFC 5321 §4.5.3.1.3); deliverability is not the store's concern. Stored lowercased.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        let s = s.trim();
        let ok = s.len() <= 254
            && !s.chars().any(char::is_whitespace)
            && matches!(s.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.contains('@'));
        if ok {
            Ok(Self(s.to_lowercase()))
        } else {
            Err(StoreError::Invalid("email address must look like name@example.org".to_owned()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for EmailAddress {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> Self {
        e.0
    }
}
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(..)")
    }
}

/// The current time truncated to microseconds: PostgreSQL keeps microseconds, so truncating
/// here makes a value read back equal to the value written on both backends.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    truncate(chrono::Utc::now())
}

/// Truncates to microseconds (see [`now`]).
pub fn truncate(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_canonical_numbers_only() {
        assert!(E164::parse("+15551234567").is_ok());
        for bad in ["15551234567", "+1 555 123", "+0123456789", "+1234567", "+1234567890123456", "+1555abc4567"] {
            assert!(E164::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn e164_debug_does_not_print_the_number() {
        let p = E164::parse("+15551234567").expect("valid");
        assert!(!format!("{p:?}").contains("555"));
    }

    #[test]
    fn time_zones_must_be_iana_names() {
        assert_eq!(TimeZoneName::parse("America/Chicago").expect("valid").as_str(), "America/Chicago");
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn email_addresses_are_lowercased_and_shape_checked() {
        assert_eq!(EmailAddress::parse("Ann@Example.org").expect("valid").as_str(), "ann@example.org");
        for bad in ["ann", "@example.org", "ann@", "a b@example.org", "ann@localhost"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
