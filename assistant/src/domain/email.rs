//! E-mail addresses, sanity-checked only: the one true test of an address is a message that
//! arrives. We check the shape RFC 5321 §4.5.3.1 limits imply (local part ≤ 64 octets, whole
//! address ≤ 254) and keep the address lowercased so that logins are case-insensitive.

use super::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// RFC 5321 §4.5.3.1.3 path limit (256) less the angle brackets.
const MAX_LEN: usize = 254;
/// RFC 5321 §4.5.3.1.1.
const MAX_LOCAL_LEN: usize = 64;

/// A plausible e-mail address, trimmed and lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Checks the shape `local@domain.tld` without spaces or control characters.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        const WHAT: &str = "enter an e-mail address like name@example.org";
        let s = input.trim().to_lowercase();
        if s.is_empty() || s.len() > MAX_LEN {
            return Err(FieldError::new(WHAT));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(FieldError::new(WHAT));
        };
        let well_formed = !local.is_empty()
            && local.len() <= MAX_LOCAL_LEN
            && !local.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
        if !well_formed {
            return Err(FieldError::new(WHAT));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_address_is_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Dana.Reyes@Example.ORG ").unwrap().as_str(),
            "dana.reyes@example.org"
        );
    }

    #[test]
    fn shapes_that_cannot_be_addresses_are_refused() {
        for bad in [
            "",
            "dana",
            "dana@",
            "@example.org",
            "dana@example",
            "da na@example.org",
            "dana@example..org",
            "dana@.example.org",
            "a@b@example.org",
            "dana@exa_mple.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn an_overlong_local_part_is_refused() {
        let addr = format!("{}@example.org", "a".repeat(MAX_LOCAL_LEN + 1));
        assert!(Email::parse(&addr).is_err());
    }

    proptest! {
        #[test]
        fn simple_generated_addresses_are_accepted(local in "[a-z0-9._%+-]{1,30}", host in "[a-z0-9-]{1,20}") {
            let addr = format!("{local}@{host}.example");
            let parsed = Email::parse(&addr).unwrap();
            prop_assert_eq!(parsed.as_str(), addr.as_str());
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,300}") {
            let _ = Email::parse(&s);
        }
    }
}
