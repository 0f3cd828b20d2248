//! The grounding check run on every drafted sentence, whatever wrote it: the transcript cues a
//! sentence cites must support it. Support means (1) most of the sentence's content words occur
//! in the cited cues, (2) every number and every negation in the sentence occurs there too, and
//! (3) the sentence means something close to the cues (embedding cosine). A sentence that fails
//! is kept but marked `grounded: false`, for the reviewer to check or delete; it is never
//! presented as fact.

use super::text::{content_stems, words};
use std::collections::HashSet;

/// Words of the note's frame rather than of the session ("Client reported that ...").
const FRAME_WORDS: &[&str] = &[
    "client", "clinician", "report", "reported", "reports", "note", "noted", "notes", "propos",
    "proposed", "ask", "asked", "answer", "answered", "stated", "state", "describ", "described",
    "discuss", "discussed", "session", "parent", "partner", "member", "speaker", "identify",
    "identified", "indicated", "shared", "express", "expressed",
];

/// Share of a sentence's content words that must occur in its evidence.
pub const MIN_WORD_SUPPORT: f32 = 0.6;
/// Least cosine similarity between a sentence and its evidence. Low, because the note's frame
/// ("Member A reported that ...") moves a faithful sentence away from the spoken words (a
/// verbatim report of one cue measured 0.32); the word, number and negation checks carry most
/// of the weight.
pub const MIN_SIMILARITY: f32 = 0.25;

/// Why a sentence is or is not grounded (kept for evals and for the reviewer's tooltip).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Support {
    pub word_support: f32,
    pub similarity: f32,
    pub numbers_found: bool,
    pub negation_found: bool,
    pub evidence_valid: bool,
}

impl Support {
    pub fn grounded(&self) -> bool {
        self.evidence_valid
            && self.numbers_found
            && self.negation_found
            && self.word_support >= MIN_WORD_SUPPORT
            && self.similarity >= MIN_SIMILARITY
    }
}

/// Checks `sentence` against the text of its evidence cues. `similarity` is the cosine between
/// the sentence's embedding and the evidence's. `evidence_valid` is false when a cited cue does
/// not exist.
pub fn check(sentence: &str, evidence_text: &str, similarity: f32, evidence_valid: bool) -> Support {
    let evidence_stems: HashSet<String> = content_stems(evidence_text).into_iter().collect();
    let frame: HashSet<String> = FRAME_WORDS.iter().map(|w| super::text::stem(w)).collect();
    let own: Vec<String> = content_stems(sentence).into_iter().filter(|w| !frame.contains(w) && !FRAME_WORDS.contains(&w.as_str())).collect();
    let word_support = if own.is_empty() {
        1.0
    } else {
        own.iter().filter(|w| evidence_stems.contains(*w)).count() as f32 / own.len() as f32
    };
    let evidence_words: HashSet<String> = words(evidence_text).into_iter().collect();
    let numbers_found = words(sentence)
        .iter()
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()) || NUMBER_WORDS.contains(&w.as_str()))
        .all(|w| evidence_words.contains(w) || evidence_text.contains(w.as_str()));
    let negation_found = !has_negation(sentence) || has_negation(evidence_text);
    Support { word_support, similarity, numbers_found, negation_found, evidence_valid }
}

const NUMBER_WORDS: &[&str] = &[
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "twenty", "thirty", "forty", "fifty", "hundred",
];

fn has_negation(text: &str) -> bool {
    words(text).iter().any(|w| {
        matches!(w.as_str(), "no" | "not" | "never" | "none" | "nothing" | "denies" | "denied" | "deny" | "without")
            || w.ends_with("n't")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUE: &str = "Yeah. Okay. So, um. I wrote down three. Three attacks. Like the real ones.";

    #[test]
    fn a_sentence_built_from_its_cue_is_grounded() {
        let s = check("Client reported that they wrote down three attacks.", CUE, 0.7, true);
        assert!(s.grounded(), "{s:?}");
    }

    #[test]
    fn an_invented_detail_number_or_denial_is_not_grounded() {
        assert!(!check("Client reported five attacks at the mall.", CUE, 0.7, true).grounded());
        assert!(!check("Client reported that they wrote down three attacks.", CUE, 0.7, false).grounded());
        let denial = check("Client did not write down three attacks.", CUE, 0.7, true);
        assert!(!denial.negation_found && !denial.grounded());
        assert!(!check("Client reported that they wrote down three attacks.", CUE, 0.1, true).grounded());
    }
}
