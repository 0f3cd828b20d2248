//! SMS compliance keywords: opt-out, opt-in and help, recognised only when they are the whole
//! message.
//!
//! Lists, as documented by Twilio ("Twilio support for opt-out keywords (SMS STOP filtering)",
//! help.twilio.com/hc/en-us/articles/223134027, and the Advanced Opt-Out tutorial,
//! twilio.com/docs/messaging/tutorials/advanced-opt-out):
//! - opt-out: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT (Twilio added REVOKE
//!   and OPTOUT for the FCC's 2025 TCPA revocation rule, 47 CFR 64.1200(a)(10)); "OPT OUT" as
//!   two words is the same request, so it is accepted too;
//! - opt-in: START, YES, UNSTOP;
//! - help: HELP, INFO.
//!
//! CTIA's Messaging Principles and Best Practices (§5) require honouring STOP, END, CANCEL,
//! UNSUBSCRIBE and QUIT, and HELP. Twilio matches a keyword only when it is the entire message
//! body, case-insensitively, ignoring surrounding whitespace and trailing punctuation; we do the
//! same, so our record of who opted out never disagrees with Twilio's. That is why the single
//! word CANCEL is always an opt-out (Twilio has already blocked the number when it arrives) while
//! "cancel my appointment" is an ordinary reply for the conversation to handle.
//!
//! YES: Twilio re-subscribes an opted-out number that texts YES, so YES is an opt-in here too.
//! For a number that is not opted out, the assistant should read [`Keyword::OptIn`] as an
//! ordinary reply ("YES" confirming an appointment), which is harmless: opting in a number that
//! never opted out changes nothing.

/// What an inbound SMS body asks for, before any conversation logic runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Stop all messages to this number until it opts back in.
    OptOut,
    /// Resume messages to a number that had opted out.
    OptIn,
    /// Reply with the practice's help text.
    Help,
    /// Not a compliance keyword: the conversation handles it.
    NotAKeyword,
}

const OPT_OUT: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
const OPT_IN: [&str; 3] = ["START", "YES", "UNSTOP"];
const HELP: [&str; 2] = ["HELP", "INFO"];

/// Longest body worth examining; every keyword is far shorter, and a cap keeps the work bounded.
const MAX_KEYWORD_MESSAGE_CHARS: usize = 64;

impl Keyword {
    /// Classifies a whole inbound message body.
    pub fn parse(body: &str) -> Self {
        let trimmed = body
            .trim_end_matches(|c: char| c.is_whitespace() || is_trailing_punctuation(c))
            .trim_start();
        if trimmed.chars().count() > MAX_KEYWORD_MESSAGE_CHARS {
            return Self::NotAKeyword;
        }
        let upper = trimmed.to_uppercase();
        let words: Vec<&str> = upper.split_whitespace().collect();
        match words.as_slice() {
            ["OPT", "OUT"] => Self::OptOut,
            [word] if OPT_OUT.contains(word) => Self::OptOut,
            [word] if OPT_IN.contains(word) => Self::OptIn,
            [word] if HELP.contains(word) => Self::Help,
            _ => Self::NotAKeyword,
        }
    }
}

fn is_trailing_punctuation(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | ',' | ';' | ':' | '¡' | '¿' | '…')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_documented_opt_out_word_opts_out() {
        for w in [
            "STOP",
            "stopall",
            "Unsubscribe",
            "cancel",
            "END",
            "quit",
            "revoke",
            "OptOut",
            "opt out",
        ] {
            assert_eq!(Keyword::parse(w), Keyword::OptOut, "{w}");
        }
    }

    #[test]
    fn cancel_alone_is_an_opt_out_but_cancel_my_appointment_is_not_a_keyword() {
        assert_eq!(Keyword::parse("  Cancel!  "), Keyword::OptOut);
        assert_eq!(
            Keyword::parse("cancel my appointment"),
            Keyword::NotAKeyword
        );
        assert_eq!(Keyword::parse("please cancel"), Keyword::NotAKeyword);
    }

    #[test]
    fn opt_in_and_help_words_are_recognised() {
        for w in ["start", "YES", "unstop."] {
            assert_eq!(Keyword::parse(w), Keyword::OptIn, "{w}");
        }
        assert_eq!(Keyword::parse("help?"), Keyword::Help);
        assert_eq!(Keyword::parse("Info"), Keyword::Help);
    }

    #[test]
    fn ordinary_replies_and_blank_bodies_are_not_keywords() {
        for w in [
            "",
            "   ",
            "Stopped",
            "STOP STOP",
            "yes please",
            "C",
            "stop-it",
            "opt",
            "out opt",
        ] {
            assert_eq!(Keyword::parse(w), Keyword::NotAKeyword, "{w:?}");
        }
    }

    #[test]
    fn a_very_long_message_is_not_examined_as_a_keyword() {
        let long = format!("STOP{}", " ".repeat(10_000));
        assert_eq!(
            Keyword::parse(&long),
            Keyword::OptOut,
            "trailing spaces are trimmed first"
        );
        assert_eq!(Keyword::parse(&"STOP ".repeat(1000)), Keyword::NotAKeyword);
    }

    fn any_keyword() -> impl Strategy<Value = (&'static str, Keyword)> {
        let mut all: Vec<(&'static str, Keyword)> = vec![("OPT OUT", Keyword::OptOut)];
        all.extend(OPT_OUT.iter().map(|w| (*w, Keyword::OptOut)));
        all.extend(OPT_IN.iter().map(|w| (*w, Keyword::OptIn)));
        all.extend(HELP.iter().map(|w| (*w, Keyword::Help)));
        prop::sample::select(all)
    }

    proptest! {
        #[test]
        fn random_casing_and_whitespace_around_a_keyword_still_parse(
            (word, kind) in any_keyword(),
            flips in prop::collection::vec(any::<bool>(), 16),
            before in "[ \t\r\n]{0,4}",
            after in "[ \t\r\n.!]{0,4}",
            inner in "[ \t]{1,3}",
        ) {
            let cased: String = word
                .chars()
                .zip(flips.iter().cycle())
                .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            let spaced = cased.replace(' ', &inner);
            prop_assert_eq!(Keyword::parse(&format!("{before}{spaced}{after}")), kind);
        }

        #[test]
        fn any_message_with_a_second_word_is_not_a_keyword(
            (word, _) in any_keyword(),
            second in "[A-Za-z0-9]{1,12}",
        ) {
            let message = format!("{word} {second}");
            let expected = if message.eq_ignore_ascii_case("OPT OUT") { Keyword::OptOut } else { Keyword::NotAKeyword };
            prop_assert_eq!(Keyword::parse(&message), expected);
        }

        #[test]
        fn parsing_never_panics_on_any_text(s in any::<String>()) {
            let _ = Keyword::parse(&s);
        }
    }
}
