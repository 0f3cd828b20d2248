//! Sentences of a cue with their byte spans (so a quote is always an exact substring of the cue),
//! the normalised form the patterns read, and the framing checks shared by every category:
//! negation before a match, questions, and clearly past, resolved history.

use regex::Regex;
use std::sync::LazyLock;

/// One sentence of a cue: its span in the cue text and its normalised form.
#[derive(Debug, Clone)]
pub(crate) struct Sentence {
    pub start: usize,
    pub end: usize,
    /// Lowercase, typographic apostrophes and quotes made plain, so patterns stay simple.
    pub norm: String,
}

impl Sentence {
    pub fn is_question(&self) -> bool {
        self.norm.trim_end().ends_with('?')
    }
}

/// Titles after which a full stop does not end a sentence ("Dr. Ruiz", "Mrs. Pinto").
const TITLES: [&str; 6] = ["dr", "mr", "mrs", "ms", "st", "prof"];

/// Splits `text` after `.`, `?` or `!` followed by whitespace, skipping titles.
pub(crate) fn split(text: &str) -> Vec<Sentence> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, ch) in text.char_indices() {
        if !matches!(ch, '.' | '?' | '!') {
            continue;
        }
        let next = i + ch.len_utf8();
        let at_space = bytes.get(next).is_some_and(|b| b.is_ascii_whitespace());
        if !at_space {
            continue;
        }
        let word = text[start..i]
            .rsplit(|c: char| !c.is_alphabetic())
            .next()
            .unwrap_or_default();
        if ch == '.' && TITLES.contains(&word.to_lowercase().as_str()) {
            continue;
        }
        push(text, start, next, &mut out);
        start = next;
    }
    push(text, start, text.len(), &mut out);
    out
}

fn push(text: &str, start: usize, end: usize, out: &mut Vec<Sentence>) {
    let raw = &text[start..end];
    let lead = raw.len() - raw.trim_start().len();
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return;
    }
    let (s, e) = (start + lead, start + lead + trimmed.len());
    out.push(Sentence {
        start: s,
        end: e,
        norm: normalise(trimmed),
    });
}

/// Lowercase with plain apostrophes and quotes.
pub(crate) fn normalise(s: &str) -> String {
    s.to_lowercase()
        .replace(['\u{2019}', '\u{2018}'], "'")
        .replace(['\u{201c}', '\u{201d}'], "\"")
}

/// A negator shortly before a match ("I don't want to kill myself", "he'd never hit her",
/// "client denies suicidal ideation") turns a disclosure into a denial.
static NEGATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(no|not|never|nothing|nobody|without|denies|denied|deny|denying|nor)\b|n't\b")
        .expect("the negator pattern is a valid regex")
});

/// Whether the few words before byte `at` of `norm` negate what follows. The window stops at a
/// clause break (comma, dash, semicolon, "but") so "No, but I drank" still counts as drinking.
pub(crate) fn negated_before(norm: &str, at: usize) -> bool {
    let before = &norm[..at];
    let clause_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| matches!(c, ',' | ';' | ':' | '\u{2014}' | '\u{2013}'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let clause_start = before
        .rfind(" but ")
        .map_or(clause_start, |i| clause_start.max(i + 5));
    let clause = &before[clause_start..];
    // Only the last six words: "nothing good comes of it, and I drank" is not a denial.
    let words: Vec<&str> = clause.split_whitespace().collect();
    let tail = words[words.len().saturating_sub(6)..].join(" ");
    NEGATOR.is_match(&tail)
}

/// Past, resolved history framed as such: "an overdose two years ago", "when I was a teenager",
/// "back when I was using", "I used to". These are history for the note, not current flags.
static HISTORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|a few|several|many|a couple of|a couple)",
        r" (years|year|decades) ago\b",
        r"|\bas a (kid|child|teenager)\b|\bgrowing up\b|\bwhen i was (a kid|a child|a teen|a teenager|young|younger|little|in (high school|college|my (teens|twenties|thirties|forties)))",
        r"|\bback (when|in (high school|college|the day))\b|\bused to\b|\bhistory of\b|\bin the past\b",
        r"|\b(attempt|overdose|od) (at|when i was) (\d+|age)\b|\bmy first time getting (clean|sober)\b|\bmy first (year|month|months|week|weeks)\b",
    ))
    .expect("the history pattern is a valid regex")
});

pub(crate) fn is_history(norm: &str) -> bool {
    HISTORY.is_match(norm)
}

/// An answer that denies: "No.", "Nah. Nothing like that.", "Never."
static DENIAL_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(no|nah|nope|never|not really|nothing|not at all|i don't think so)\b")
        .expect("the denial pattern is a valid regex")
});

/// A clinician's question that follows a disclosure up: when, how often, how many, with what,
/// where, a plan, a weapon, urges; or one that names the behaviour ("Cutting?").
static FOLLOW_UP_QUESTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b(when|how often|how many|how much|how long|how deep|how strong|how bad|what do you use|what did you use|with what|where on|what happened|",
        r"has that happened|has it happened|have you thought about|plan|plans|weapon|gun|firearm|firearms|pistol|means|urges?|cravings?|again|",
        r"picturing|picture|imagine|intent|tell me more|say (a bit |a little )?more|what do you mean|what did you see|cutting|cut|burn|burning|",
        r"using|drinking|used|drank)\b",
    ))
    .expect("the follow-up question pattern is a valid regex")
});

/// Whether a (clinician's) cue asks a follow-up question about a disclosure.
pub(crate) fn asks_follow_up(norm: &str) -> bool {
    split(norm)
        .iter()
        .any(|s| s.is_question() && FOLLOW_UP_QUESTION.is_match(&s.norm))
}

pub(crate) fn starts_with_denial(norm: &str) -> bool {
    DENIAL_START.is_match(norm.trim_start_matches(|c: char| !c.is_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_keep_exact_spans_and_skip_titles() {
        let text = "The sleeping pills Dr. Ruiz gave me. And the blood pressure ones! Okay?";
        let s = split(text);
        assert_eq!(s.len(), 3);
        assert_eq!(
            &text[s[0].start..s[0].end],
            "The sleeping pills Dr. Ruiz gave me."
        );
        assert_eq!(&text[s[2].start..s[2].end], "Okay?");
        assert!(s[2].is_question());
    }

    #[test]
    fn negation_is_read_within_the_clause_only() {
        let n = "no, but i drank saturday.";
        assert!(!negated_before(n, n.find("i drank").unwrap()));
        let n = "i don't want to kill myself";
        assert!(negated_before(n, n.find("kill").unwrap()));
    }

    #[test]
    fn clearly_dated_history_is_recognised() {
        assert!(is_history(
            "after my overdose two years ago i just don't keep pills around."
        ));
        assert!(is_history("he killed himself when i was a teenager."));
        assert!(!is_history("i drank saturday night."));
    }
}
