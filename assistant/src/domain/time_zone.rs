//! Time zones by IANA name (tz database, RFC 9557 §3 names), via `chrono-tz`.

use super::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A time zone known to the IANA tz database, e.g. `America/New_York`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    /// Parses an IANA zone name. Abbreviations like `EST` are ambiguous and refused unless the
    /// tz database itself defines them.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let input = input.trim();
        // The longest IANA name is ~32 characters; anything much longer is not a zone.
        if input.is_empty() || input.len() > 64 {
            return Err(FieldError::new(
                "enter a time zone name from the IANA list, like America/New_York",
            ));
        }
        input.parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            FieldError::new(
                "unknown time zone; use an IANA name like America/Chicago or Europe/London",
            )
        })
    }

    /// The zone for date arithmetic.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }

    /// The IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for TimeZone {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TimeZone> for String {
    fn from(value: TimeZone) -> Self {
        value.name().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_iana_name_is_accepted_and_kept() {
        assert_eq!(
            TimeZone::parse("America/New_York").unwrap().name(),
            "America/New_York"
        );
        assert_eq!(
            TimeZone::parse(" Europe/London ").unwrap().name(),
            "Europe/London"
        );
    }

    #[test]
    fn made_up_and_empty_names_are_refused_with_an_example() {
        for bad in ["", "Mars/Olympus_Mons", "Eastern", "America/Atlantis"] {
            let err = TimeZone::parse(bad).unwrap_err();
            assert!(err.message.contains("America/"), "{bad:?}: {err}");
        }
    }

    proptest! {
        #[test]
        fn every_zone_in_the_database_round_trips_through_its_name(i in 0usize..chrono_tz::TZ_VARIANTS.len()) {
            let tz = chrono_tz::TZ_VARIANTS[i];
            prop_assert_eq!(TimeZone::parse(tz.name()).unwrap().tz(), tz);
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,80}") {
            let _ = TimeZone::parse(&s);
        }
    }
}
