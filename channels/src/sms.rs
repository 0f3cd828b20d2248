//! SMS rules in one place: which encoding a text needs (GSM-7 or UCS-2), how many segments it
//! costs, and the longest body Twilio accepts.
//!
//! Sources: 3GPP TS 23.038 (formerly GSM 03.38) §6.2.1 (the default alphabet) and §6.2.1.1 (its
//! extension table, reached through the escape code 0x1B, so each extension character costs two
//! septets); 3GPP TS 23.040 §9.2.3.24.1 (a concatenated message spends 6 bytes of each part on
//! the user-data header, leaving 153 septets or 67 UCS-2 code units); Twilio's message resource
//! ("Body ... can be up to 1,600 characters in length", error 21617).

use crate::Error;

/// Twilio's cap on a message body (REST `Body` parameter; longer bodies fail with error 21617).
/// Counted here in UTF-16 code units, the stricter reading: an emoji counts as 2.
pub const MAX_BODY_UNITS: usize = 1_600;

/// Septets in one unsplit GSM-7 message (140 bytes × 8 / 7).
pub const GSM7_SINGLE: usize = 160;
/// Septets per part of a concatenated GSM-7 message (the header takes 7 septets).
pub const GSM7_PER_PART: usize = 153;
/// UTF-16 code units in one unsplit UCS-2 message (140 bytes / 2).
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 code units per part of a concatenated UCS-2 message (the header takes 6 bytes).
pub const UCS2_PER_PART: usize = 67;

/// The alphabet a carrier must use to carry a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// 3GPP TS 23.038 default alphabet, 7 bits per character.
    Gsm7,
    /// UCS-2 (UTF-16 on the wire in practice), 16 bits per code unit.
    Ucs2,
}

/// What a text costs to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentCount {
    /// The alphabet needed.
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2) the text occupies.
    pub units: usize,
    /// Message parts a carrier bills for; 0 for the empty text.
    pub segments: usize,
}

/// TS 23.038 §6.2.1: the 128 characters of the default alphabet, in code order
/// (0x1B, the escape to the extension table, is not a character and is left out).
const GSM7_BASIC: &str = concat!(
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
);

/// TS 23.038 §6.2.1.1: characters reached through the escape code, two septets each
/// (form feed, ^ { } \ [ ~ ] | €).
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Septets `c` costs in GSM-7, or `None` when GSM-7 cannot carry it.
pub fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding `text` needs: GSM-7 when every character is in the default alphabet or its
/// extension table, UCS-2 otherwise.
pub fn encoding_of(text: &str) -> Encoding {
    if text.chars().all(|c| gsm7_septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Counts segments the way a carrier splits: parts are filled greedily, and a character never
/// straddles two parts (an escape pair stays together in GSM-7, a surrogate pair in UCS-2,
/// because a part that ends in half a character is rendered as garbage).
pub fn count_segments(text: &str) -> SegmentCount {
    let encoding = encoding_of(text);
    let cost = |c: char| match encoding {
        Encoding::Gsm7 => gsm7_septets(c).expect("encoding_of chose GSM-7, so every char fits"),
        Encoding::Ucs2 => c.len_utf16(),
    };
    let (single, per_part) = match encoding {
        Encoding::Gsm7 => (GSM7_SINGLE, GSM7_PER_PART),
        Encoding::Ucs2 => (UCS2_SINGLE, UCS2_PER_PART),
    };
    let units: usize = text.chars().map(cost).sum();
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        let (mut parts, mut used) = (1, 0);
        for c in text.chars() {
            let n = cost(c);
            if used + n > per_part {
                parts += 1;
                used = 0;
            }
            used += n;
        }
        parts
    };
    SegmentCount {
        encoding,
        units,
        segments,
    }
}

/// An SMS body Twilio will accept: not blank, at most [`MAX_BODY_UNITS`] UTF-16 code units.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsBody(String);

impl SmsBody {
    /// Checks `text` against Twilio's limits. Errors never repeat the text (it may hold PHI).
    pub fn parse(text: impl Into<String>) -> Result<Self, Error> {
        let text = text.into();
        if text.trim().is_empty() {
            return Err(Error::EmptyBody);
        }
        let units = text.encode_utf16().count();
        if units > MAX_BODY_UNITS {
            return Err(Error::BodyTooLong {
                units,
                max: MAX_BODY_UNITS,
            });
        }
        Ok(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What this body costs to send.
    pub fn segments(&self) -> SegmentCount {
        count_segments(&self.0)
    }
}

impl std::fmt::Debug for SmsBody {
    // Message bodies can hold PHI: Debug shows only the size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmsBody({} UTF-16 units)", self.0.encode_utf16().count())
    }
}

impl AsRef<str> for SmsBody {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_basic_alphabet_has_127_characters_plus_the_escape() {
        assert_eq!(GSM7_BASIC.chars().count(), 127);
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
    }

    #[test]
    fn plain_english_is_gsm7_and_160_characters_fit_one_segment() {
        let text = "a".repeat(160);
        assert_eq!(
            count_segments(&text),
            SegmentCount {
                encoding: Encoding::Gsm7,
                units: 160,
                segments: 1
            }
        );
        assert_eq!(count_segments(&"a".repeat(161)).segments, 2);
        assert_eq!(count_segments(&"a".repeat(306)).segments, 2);
        assert_eq!(count_segments(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        for c in ['^', '{', '}', '\\', '[', '~', ']', '|', '€'] {
            let s = count_segments(&c.to_string());
            assert_eq!((s.encoding, s.units), (Encoding::Gsm7, 2), "{c}");
        }
        // 80 euro signs are 160 septets: one segment; 81 need two.
        assert_eq!(count_segments(&"€".repeat(80)).segments, 1);
        assert_eq!(count_segments(&"€".repeat(81)).segments, 2);
    }

    #[test]
    fn an_escape_pair_is_never_split_across_parts() {
        // 152 septets then a 2-septet '€': the pair moves to part 2 rather than straddling.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        let s = count_segments(&text);
        assert_eq!(s.units, 306);
        assert_eq!(
            s.segments, 3,
            "153 | 2+151 would be 2 parts only if the pair were split"
        );
    }

    #[test]
    fn one_character_outside_gsm7_makes_the_whole_text_ucs2() {
        let text = format!("{}ç", "a".repeat(69));
        assert_eq!(
            count_segments(&text),
            SegmentCount {
                encoding: Encoding::Ucs2,
                units: 70,
                segments: 1
            }
        );
        assert_eq!(count_segments(&format!("{}ç", "a".repeat(70))).segments, 2);
        assert_eq!(
            encoding_of("Ça va"),
            Encoding::Gsm7,
            "capital Ç is in the default alphabet"
        );
        assert_eq!(encoding_of("smart ’quote’"), Encoding::Ucs2);
    }

    #[test]
    fn an_emoji_counts_two_units_and_is_never_split() {
        assert_eq!(count_segments("🙂").units, 2);
        assert_eq!(count_segments(&"🙂".repeat(35)).segments, 1);
        // 66 units then a surrogate pair: 67 would be exceeded by one, so it starts part 2.
        let text = format!("{}🙂{}", "ж".repeat(66), "ж".repeat(66));
        let s = count_segments(&text);
        assert_eq!(s.units, 134);
        assert_eq!(s.segments, 3);
    }

    #[test]
    fn the_empty_text_costs_nothing_but_is_not_a_valid_body() {
        assert_eq!(count_segments("").segments, 0);
        assert!(matches!(SmsBody::parse("  \n"), Err(Error::EmptyBody)));
    }

    #[test]
    fn a_body_over_1600_units_is_refused_without_echoing_it() {
        assert!(SmsBody::parse("a".repeat(1600)).is_ok());
        let err = SmsBody::parse(format!("secret{}", "a".repeat(1600))).unwrap_err();
        assert!(matches!(
            err,
            Error::BodyTooLong {
                units: 1606,
                max: 1600
            }
        ));
        let msg = err.to_string();
        assert!(!msg.contains("secret") && msg.contains("1600"), "{msg}");
        // 800 emoji are 1,600 units: allowed; one more is not.
        assert!(SmsBody::parse("🙂".repeat(800)).is_ok());
        assert!(SmsBody::parse("🙂".repeat(801)).is_err());
    }

    #[test]
    fn debug_of_a_body_does_not_show_the_text() {
        let body = SmsBody::parse("Your appointment with Dr X").expect("valid body");
        assert!(!format!("{body:?}").contains("appointment"));
    }

    /// Independent reference: split the text into actual parts, then count them.
    fn reference_parts(text: &str) -> Vec<String> {
        let gsm = text
            .chars()
            .all(|c| GSM7_BASIC.contains(c) || GSM7_EXTENSION.contains(c));
        let cost = |c: char| {
            if !gsm {
                c.len_utf16()
            } else if GSM7_EXTENSION.contains(c) {
                2
            } else {
                1
            }
        };
        let total: usize = text.chars().map(cost).sum();
        let (single, per) = if gsm { (160, 153) } else { (70, 67) };
        if total == 0 {
            return vec![];
        }
        if total <= single {
            return vec![text.to_string()];
        }
        let mut parts = vec![String::new()];
        for c in text.chars() {
            let used: usize = parts.last().map(|p| p.chars().map(cost).sum()).unwrap_or(0);
            if used + cost(c) > per {
                parts.push(String::new());
            }
            parts.last_mut().expect("parts starts non-empty").push(c);
        }
        parts
    }

    fn sms_text() -> impl Strategy<Value = String> {
        // Mix GSM-7 basic, extension, Latin-1 outside GSM, Cyrillic and emoji.
        let alphabet: Vec<char> = "aZ9 @£\n€[]^éçжЖ🙂🎉".chars().collect();
        prop::collection::vec(prop::sample::select(alphabet), 0..500)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn segment_count_never_falls_when_text_is_appended(a in sms_text(), b in sms_text()) {
            // Within one encoding, a longer text never costs fewer segments.
            let whole = format!("{a}{b}");
            if encoding_of(&a) == encoding_of(&whole) {
                prop_assert!(count_segments(&whole).segments >= count_segments(&a).segments);
            }
        }

        #[test]
        fn gsm7_only_text_never_reports_ucs2(s in "[A-Za-z0-9 @£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!#¤%&'()*+,./:;<=>?¡ÄÖÑÜ§¿äöñüà^{}\\[~\\]|€-]{0,400}") {
            prop_assert_eq!(count_segments(&s).encoding, Encoding::Gsm7);
        }

        #[test]
        fn the_count_matches_splitting_the_text_into_real_parts(s in sms_text()) {
            let parts = reference_parts(&s);
            prop_assert_eq!(parts.concat(), s.clone());
            prop_assert_eq!(count_segments(&s).segments, parts.len());
        }

        #[test]
        fn plain_ascii_letters_follow_the_textbook_formula(n in 0usize..2000) {
            let expected = if n == 0 { 0 } else if n <= 160 { 1 } else { n.div_ceil(153) };
            prop_assert_eq!(count_segments(&"x".repeat(n)).segments, expected);
        }
    }
}
