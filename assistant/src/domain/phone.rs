//! Phone numbers as E.164 (ITU-T E.164), parsed with the `phonenumber` crate (a port of
//! Google's libphonenumber). Numbers written without a country code are read in the practice's
//! default region.

use super::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest input we try to parse; longer strings are refused before parsing. E.164 allows 15
/// digits; the slack is for spaces, dashes, brackets and an extension.
const MAX_INPUT_LEN: usize = 40;

/// A practice's default phone region (a CLDR region code such as `US` or `GB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(phonenumber::country::Id);

impl Region {
    /// Parses a two-letter CLDR region code, case-insensitively.
    pub fn parse(code: &str) -> Result<Self, FieldError> {
        phonenumber::country::Id::from_str(&code.trim().to_ascii_uppercase())
            .map(Region)
            .map_err(|_| FieldError::new("use a two-letter region code such as US, CA or GB"))
    }

    /// The region code, e.g. `US`.
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl Default for Region {
    fn default() -> Self {
        Region(phonenumber::country::Id::US)
    }
}

/// A dialable phone number, always held in E.164 form (`+12015550123`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses what a person typed; numbers without `+country` are read in `region`.
    pub fn parse(input: &str, region: Region) -> Result<Self, FieldError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(FieldError::new("enter a phone number, like 201-555-0123"));
        }
        if input.len() > MAX_INPUT_LEN {
            return Err(FieldError::new(
                "a phone number is at most 15 digits; remove any extra text",
            ));
        }
        let parsed = phonenumber::parse(Some(region.0), input).map_err(|_| {
            FieldError::new(
                "enter a phone number with its area code, like 201-555-0123 or +44 20 7946 0958",
            )
        })?;
        if !parsed.is_valid() {
            return Err(FieldError::new(
                "this is not a valid phone number; check the area code and the number of digits",
            ));
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// The number in E.164 form.
    pub fn as_e164(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = FieldError;
    /// Stored numbers are E.164, so they carry their country code and need no region.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value, Region::default())
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn us() -> Region {
        Region::parse("us").expect("US is a CLDR region")
    }

    #[test]
    fn a_us_number_typed_with_dashes_becomes_e164() {
        let n = PhoneNumber::parse("201-555-0123", us()).unwrap();
        assert_eq!(n.as_e164(), "+12015550123");
    }

    #[test]
    fn a_number_with_a_country_code_ignores_the_default_region() {
        let n = PhoneNumber::parse("+44 20 7946 0958", us()).unwrap();
        assert_eq!(n.as_e164(), "+442079460958");
    }

    #[test]
    fn the_default_region_decides_how_a_national_number_is_read() {
        let gb = Region::parse("GB").unwrap();
        assert_eq!(
            PhoneNumber::parse("020 7946 0958", gb).unwrap().as_e164(),
            "+442079460958"
        );
    }

    #[test]
    fn letters_too_few_digits_and_empty_input_are_refused() {
        for bad in ["", "   ", "call me", "555", "12", "+1 201 555 01234567"] {
            assert!(
                PhoneNumber::parse(bad, us()).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn overlong_input_is_refused_before_parsing() {
        let long = "2".repeat(MAX_INPUT_LEN + 1);
        let err = PhoneNumber::parse(&long, us()).unwrap_err();
        assert!(err.message.contains("15 digits"));
    }

    #[test]
    fn an_unknown_region_code_is_refused() {
        assert!(Region::parse("XX").is_err());
        assert!(Region::parse("").is_err());
    }

    #[test]
    fn the_error_message_does_not_repeat_the_input() {
        let err = PhoneNumber::parse("98765", us()).unwrap_err();
        assert!(!err.to_string().contains("98765"));
    }

    #[test]
    fn json_round_trips_and_refuses_invalid_numbers() {
        let n: PhoneNumber = serde_json::from_str("\"+12015550142\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"+12015550142\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"not a number\"").is_err());
    }

    proptest! {
        #[test]
        fn every_fictional_555_01xx_number_parses_to_its_e164_form(xx in 0u32..100) {
            let typed = format!("(201) 555-01{xx:02}");
            let n = PhoneNumber::parse(&typed, us()).unwrap();
            prop_assert_eq!(n.as_e164(), format!("+120155501{xx:02}"));
        }

        #[test]
        fn parsing_is_idempotent_on_its_own_output(xx in 0u32..100) {
            let n = PhoneNumber::parse(&format!("201.555.01{xx:02}"), us()).unwrap();
            let again = PhoneNumber::parse(n.as_e164(), Region::parse("GB").unwrap()).unwrap();
            prop_assert_eq!(n, again);
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,60}") {
            let _ = PhoneNumber::parse(&s, us());
        }
    }
}
