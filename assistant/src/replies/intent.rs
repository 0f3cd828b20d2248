//! What a client's reply asks for, read tolerantly: case, spacing, trailing punctuation and
//! emoji skin tones do not matter. There is deliberately no "cancel" intent: a visit is only
//! cancelled by a numbered choice from a menu we sent ([`Intent::Choose`]), because the single
//! word CANCEL is a carrier opt-out keyword (CTIA Messaging Principles §5; DESIGN invariants)
//! and a sentence such as "cancel my appointment" is for staff to read, not for a parser to act on.

/// The meaning of one inbound text, before the conversation state is considered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// "yes", "y", "C", "confirm", "👍"…
    Confirm,
    /// "R", "reschedule", "can we move it"…
    Reschedule,
    /// "no", "n": declines an offer.
    Decline,
    /// A bare number 1-9: a choice from a menu we sent.
    Choose(u8),
    /// Anything else: questions, distress, long messages. Goes to the staff inbox.
    Other,
}

/// Longest text examined; longer messages are always [`Intent::Other`].
const MAX_INTENT_CHARS: usize = 80;

const CONFIRM: &[&str] = &[
    "y", "yes", "yes please", "yeah", "yep", "yup", "ya", "yes i will be there", "yes confirm", "ok", "okay", "k", "c", "confirm", "confirmed",
    "i confirm", "confirming", "sure", "will be there", "i will be there", "i'll be there", "see you then", "👍", "✅", "👌", "✔", "✔️", "si", "sí",
];
const RESCHEDULE: &[&str] = &[
    "r", "reschedule", "resched", "re-schedule", "rebook", "change", "change time", "change it", "move", "move it", "can we move it",
    "can we move it?", "can i reschedule", "can we reschedule", "i need to reschedule", "need to reschedule", "different time", "another time",
    "new time", "can we change the time",
];
const DECLINE: &[&str] = &["n", "no", "nope", "no thanks", "no thank you", "not interested"];

/// Lowercases, trims, drops trailing punctuation and emoji modifiers, and collapses spaces.
pub fn normalise(text: &str) -> String {
    let lowered = text.to_lowercase();
    let cleaned: String = lowered
        .chars()
        // Skin-tone modifiers and the variation selector: "👍🏽" is "👍".
        .filter(|c| !matches!(*c as u32, 0x1F3FB..=0x1F3FF | 0xFE0F))
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let joined = words.join(" ");
    joined.trim_end_matches(['.', '!', '?', ',', ';', ':', '…', ')']).trim().to_owned()
}

impl Intent {
    pub fn parse(text: &str) -> Self {
        if text.chars().count() > MAX_INTENT_CHARS {
            return Self::Other;
        }
        let t = normalise(text);
        let t = t.trim_start_matches('#');
        if let Ok(n) = t.parse::<u8>()
            && (1..=9).contains(&n)
            && t.len() == 1
        {
            return Self::Choose(n);
        }
        if CONFIRM.contains(&t) || t.chars().all(|c| c == '👍') && !t.is_empty() {
            Self::Confirm
        } else if RESCHEDULE.contains(&t) {
            Self::Reschedule
        } else if DECLINE.contains(&t) {
            Self::Decline
        } else {
            Self::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn confirmations_are_read_tolerantly() {
        for t in ["yes", "YES", " Yes! ", "y", "Y.", "confirm", "C", "c", "👍", "👍🏽", "👍👍", "Confirmed.", "ok", "yes  please"] {
            assert_eq!(Intent::parse(t), Intent::Confirm, "{t:?}");
        }
    }

    #[test]
    fn reschedule_requests_are_read_tolerantly() {
        for t in ["R", "r", "reschedule", "Reschedule", "can we move it", "Can we move it?", "  CAN   we move it "] {
            assert_eq!(Intent::parse(t), Intent::Reschedule, "{t:?}");
        }
    }

    #[test]
    fn numbers_are_choices_and_everything_else_goes_to_staff() {
        assert_eq!(Intent::parse("2"), Intent::Choose(2));
        assert_eq!(Intent::parse(" 4. "), Intent::Choose(4));
        assert_eq!(Intent::parse("#3"), Intent::Choose(3));
        for t in ["0", "10", "22", "I'm not doing well", "what time is it?", "", "cancel my appointment", "yes but can we talk first", "no"] {
            assert!(matches!(Intent::parse(t), Intent::Other | Intent::Decline), "{t:?}");
        }
        assert_eq!(Intent::parse(&"y".repeat(200)), Intent::Other);
    }

    /// Every spelling Twilio and CTIA treat as an opt-out (the channels crate's list), in any
    /// case, with any surrounding spaces and trailing punctuation.
    fn opt_out_spelling() -> impl Strategy<Value = String> {
        let words = prop::sample::select(vec!["stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out", "opt  out"]);
        (words, prop::collection::vec(any::<bool>(), 12), "[ \t]{0,3}", "[ \t]{0,3}", "[.!?,;:…]{0,3}").prop_map(|(w, upper, pre, post, punct)| {
            let cased: String = w.chars().zip(upper.iter().cycle()).map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c }).collect();
            format!("{pre}{cased}{punct}{post}")
        })
    }

    proptest! {
        #[test]
        fn no_opt_out_keyword_spelling_is_ever_a_visit_action(s in opt_out_spelling()) {
            // The keyword layer sees it as an opt-out first…
            prop_assert_eq!(channels::keywords::Keyword::parse(&s), channels::keywords::Keyword::OptOut);
            // …and should it ever reach the conversation, it changes nothing about a visit.
            prop_assert_eq!(Intent::parse(&s), Intent::Other);
        }

        #[test]
        fn parsing_any_text_never_panics_and_long_text_is_never_an_action(s in "\\PC{0,300}") {
            let i = Intent::parse(&s);
            if s.chars().count() > MAX_INTENT_CHARS {
                prop_assert_eq!(i, Intent::Other);
            }
        }
    }
}
