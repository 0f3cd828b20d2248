//! The transcript cut into units a note sentence can be written from: one per speaker turn in a
//! conversation (with the clinician's question when the answer needs it), one per one or two
//! sentences in a dictation (with the section the clinician named aloud).

use super::phrase::Speaker;
use super::text::{content_stems, has_number, sentences};
use crate::risk::SpeakerRole;
use crate::transcript::Transcript;
use prompts::ContentKind;

/// Something a note sentence can be written from.
#[derive(Debug, Clone)]
pub struct Unit {
    /// 1-based cue numbers; the cue whose words are reported comes last.
    pub evidence: Vec<usize>,
    pub speaker: Speaker,
    pub role: SpeakerRole,
    /// The words the sentence reports (one or two of the speaker's sentences).
    pub said: String,
    /// The clinician's question this unit answers, when the answer alone says too little.
    pub question: Option<String>,
    /// The section the clinician named aloud in a dictation ("Subjective.", "Plan.").
    pub spoken_kind: Option<ContentKind>,
    /// Content words (stems) in `said`.
    pub content_words: usize,
    pub has_number: bool,
    /// A clinician's turn that speaks of self-harm or suicide: a screening question or safety
    /// advice, note content only when the session holds such a disclosure.
    pub safety_talk: bool,
}

/// Words of self-harm and suicide screening and safety advice.
const SAFETY_WORDS: &[&str] = &[
    "hurting yourself", "hurt yourself", "harming yourself", "harm yourself", "kill yourself",
    "killing yourself", "suicide", "suicidal", "end your life", "self-harm", "thoughts of death",
];

fn is_safety_talk(role: SpeakerRole, text: &str) -> bool {
    let lower = text.to_lowercase();
    role == SpeakerRole::Clinician && SAFETY_WORDS.iter().any(|w| lower.contains(w))
}

/// An answer this short (in content words) is written together with its question.
const SHORT_ANSWER: usize = 3;
/// A conversation unit reports at most this many of the turn's sentences.
const SENTENCES_PER_TURN: usize = 2;

/// Headings a clinician says aloud in a dictation, and the kind of content that follows.
const SPOKEN_HEADINGS: &[(&str, ContentKind)] = &[
    ("subjective", ContentKind::ClientReport),
    ("objective", ContentKind::Observation),
    ("mental status", ContentKind::Observation),
    ("assessment", ContentKind::Assessment),
    ("risk assessment", ContentKind::Assessment),
    ("risk", ContentKind::Assessment),
    ("plan", ContentKind::Plan),
    ("data", ContentKind::ClientReport),
    ("behavior", ContentKind::ClientReport),
    ("behaviour", ContentKind::ClientReport),
    ("intervention", ContentKind::Intervention),
    ("interventions", ContentKind::Intervention),
    ("response", ContentKind::Response),
    ("goal", ContentKind::Goal),
    ("goals", ContentKind::Goal),
];

/// Dictation instructions that are not note content.
const DICTATION_META: &[&str] = &[
    "new paragraph", "period", "full stop", "comma", "scratch that", "end of dictation",
    "end dictation", "correction", "delete that", "next line",
];

/// How a voice is written in a note: the clinician, "Client", or the voice's own label.
pub fn speaker_of(voice: Option<&str>, role: SpeakerRole) -> Speaker {
    match role {
        SpeakerRole::Clinician => Speaker::Clinician,
        SpeakerRole::Client => Speaker::Person("Client".into()),
        SpeakerRole::Other => Speaker::Person(match voice.map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => v.chars().take(40).collect(),
            None => "Speaker".into(),
        }),
    }
}

/// One unit per content-bearing turn of a conversation.
pub fn conversation_units(transcript: &Transcript, roles: &[SpeakerRole]) -> Vec<Unit> {
    let mut units = Vec::new();
    for (i, cue) in transcript.cues.iter().enumerate() {
        let role = roles[i];
        let picked = pick_sentences(&cue.text, SENTENCES_PER_TURN);
        if picked.is_empty() {
            continue;
        }
        let said = picked.join(" ");
        let stems = content_stems(&said);
        let mut evidence = vec![i + 1];
        let mut question = None;
        let previous = i.checked_sub(1).map(|p| (&transcript.cues[p], roles[p]));
        // An answer rests on its question too: cite both, and quote the question when the
        // answer alone says too little.
        if role != SpeakerRole::Clinician
            && let Some((prev, SpeakerRole::Clinician)) = previous
            && prev.text.trim_end().ends_with('?')
        {
            evidence.insert(0, i);
            if stems.len() <= SHORT_ANSWER {
                let asked = sentences(&prev.text).into_iter().filter(|s| s.ends_with('?')).next_back().unwrap_or(&prev.text);
                question = Some(asked.to_string());
            }
        }
        units.push(Unit {
            evidence,
            speaker: speaker_of(cue.speaker.as_deref(), role),
            role,
            content_words: stems.len() + question.as_deref().map_or(0, |q| content_stems(q).len()),
            has_number: has_number(&said),
            safety_talk: is_safety_talk(role, &said),
            said,
            question,
            spoken_kind: None,
        });
    }
    units
}

/// The turn's sentences worth reporting, in order: those with content words, at most `limit`,
/// preferring the ones with the most content.
fn pick_sentences(text: &str, limit: usize) -> Vec<&str> {
    let all = sentences(text);
    let mut scored: Vec<(usize, usize, &str)> = all
        .iter()
        .enumerate()
        .map(|(i, s)| (i, content_stems(s).len() + if has_number(s) { 2 } else { 0 }, *s))
        .filter(|(_, score, _)| *score >= 2)
        .collect();
    scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(limit);
    scored.sort_by_key(|(i, _, _)| *i);
    scored.into_iter().map(|(_, _, s)| s).collect()
}

/// A dictation: the clinician's dictated passages (a cue's sentences up to the next heading
/// said aloud), each under the heading last said; headings and instructions ("new paragraph",
/// "scratch that") are not content. The clinician is dictating the note itself, so a passage
/// is kept whole rather than cut into one item per sentence.
pub fn dictation_units(transcript: &Transcript, roles: &[SpeakerRole]) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut heading: Option<ContentKind> = None;
    for (i, cue) in transcript.cues.iter().enumerate() {
        let text = spoken_quotes(&cue.text);
        let mut pending: Vec<String> = Vec::new();
        let flush = |pending: &mut Vec<String>, heading: Option<ContentKind>, units: &mut Vec<Unit>| {
            if pending.is_empty() {
                return;
            }
            let said = pending.join(" ");
            pending.clear();
            units.push(Unit {
                evidence: vec![i + 1],
                speaker: speaker_of(cue.speaker.as_deref(), roles[i]),
                role: roles[i],
                content_words: content_stems(&said).len(),
                has_number: has_number(&said),
                safety_talk: false,
                said,
                question: None,
                spoken_kind: heading,
            });
        };
        for sentence in sentences(&text) {
            let bare = sentence.trim_end_matches(['.', ':', ',']).trim().to_lowercase();
            if let Some((_, kind)) = SPOKEN_HEADINGS.iter().find(|(h, _)| *h == bare) {
                flush(&mut pending, heading, &mut units);
                heading = Some(*kind);
                continue;
            }
            // Spoken corrections: "Scratch that." drops the sentence before it; "Correction,
            // last Thursday." mends it.
            if bare == "scratch that" || bare == "delete that" {
                pending.pop();
                continue;
            }
            if bare.starts_with("correction") {
                let words: Vec<&str> = bare.trim_start_matches("correction").trim_start_matches([',', ':', ' ']).split_whitespace().collect();
                if let Some(last) = pending.pop() {
                    pending.push(apply_correction(&last, &words));
                }
                continue;
            }
            if DICTATION_META.iter().any(|m| bare == *m || bare.starts_with(&format!("{m} "))) || content_stems(sentence).len() < 2 {
                continue;
            }
            if bare.starts_with("this is a") && bare.contains("dictation") {
                continue;
            }
            pending.push(sentence.to_string());
        }
        flush(&mut pending, heading, &mut units);
    }
    units
}

/// Mends `sentence` with a spoken correction (lowercased words, e.g. `["last", "thursday"]`):
/// the word after the correction's leading words is replaced ("last Tuesday" -> "last
/// Thursday"); a one-word correction replaces the one word of its kind (a weekday, a number).
/// A correction that fits nowhere replaces the sentence, so the mistaken words never stay.
fn apply_correction(sentence: &str, words: &[&str]) -> String {
    let Some((new_word, lead)) = words.split_last() else { return sentence.to_string() };
    let new_word = new_word.trim_end_matches(['.', ',', '!']);
    let tokens: Vec<&str> = sentence.split(' ').collect();
    let bare = |t: &str| t.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    let lead: Vec<String> = lead.iter().map(|w| bare(w)).collect();
    let replace_at = |at: usize| -> String {
        let t = tokens[at];
        let start = t.find(|c: char| c.is_alphanumeric()).unwrap_or(0);
        let end = t.rfind(|c: char| c.is_alphanumeric()).map_or(t.len(), |e| e + 1);
        let first_upper = t[start..].starts_with(|c: char| c.is_uppercase());
        let word = if first_upper { super::text::capitalise(new_word) } else { new_word.to_string() };
        let mut out: Vec<String> = tokens.iter().map(|s| s.to_string()).collect();
        out[at] = format!("{}{word}{}", &t[..start], &t[end..]);
        out.join(" ")
    };
    if !lead.is_empty() {
        for i in 0..tokens.len().saturating_sub(lead.len()) {
            if (0..lead.len()).all(|k| bare(tokens[i + k]) == lead[k]) {
                return replace_at(i + lead.len());
            }
        }
    } else {
        const WEEKDAYS: &[&str] = &["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
        let same_kind = |w: &str| {
            (WEEKDAYS.contains(&w) && WEEKDAYS.contains(&new_word.to_lowercase().as_str()))
                || (has_number(w) && has_number(new_word))
        };
        if let Some(at) = tokens.iter().rposition(|t| same_kind(&bare(t))) {
            return replace_at(at);
        }
    }
    super::text::capitalise(&format!("{}.", words.join(" ").trim_end_matches('.')))
}

/// "quote, jumpy, end quote" / "quote ... unquote" as spoken in dictation, written as quotation
/// marks.
fn spoken_quotes(text: &str) -> String {
    let mut s = text.to_string();
    // Closing words first, so "end quote" is never read as an opening "quote".
    for (from, to) in [(", end quote", "\""), (", unquote", "\""), (" end quote", "\""), (" unquote", "\""), (", quote, ", " \""), ("quote, ", "\"")] {
        s = s.replace(from, to);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Transcript;

    fn roles(t: &Transcript) -> Vec<SpeakerRole> {
        t.cues.iter().map(crate::risk::role_of_voice).collect()
    }

    #[test]
    fn a_short_answer_takes_its_question_as_evidence() {
        let t = Transcript::parse("Clinician: And last week, if I remember, you had five?\nClient: Five, yeah.\nClient: Mm.\n").unwrap();
        let units = conversation_units(&t, &roles(&t));
        assert_eq!(units.len(), 2, "{units:?}");
        assert_eq!(units[1].evidence, vec![1, 2]);
        assert!(units[1].question.as_deref().unwrap().contains("five?"));
    }

    #[test]
    fn backchannel_turns_make_no_unit() {
        let t = Transcript::parse("Client: Okay.\nClinician: Mm-hm. Yeah.\n").unwrap();
        assert!(conversation_units(&t, &roles(&t)).is_empty());
    }

    #[test]
    fn dictated_headings_set_the_kind_and_instructions_are_dropped() {
        let t = Transcript::parse(
            "Clinician: Subjective. Client reports worse anxiety this week. New paragraph. She rates it seven out of ten.\nClinician: Plan. Meet again next Tuesday for safety planning.\n",
        )
        .unwrap();
        let units = dictation_units(&t, &roles(&t));
        assert_eq!(units.len(), 2, "{units:?}");
        assert_eq!(units[0].spoken_kind, Some(ContentKind::ClientReport));
        assert!(!units[0].said.contains("paragraph"));
        assert_eq!(units[1].spoken_kind, Some(ContentKind::Plan));
    }

    #[test]
    fn spoken_corrections_mend_or_drop_the_sentence_before() {
        let t = Transcript::parse(
            "Clinician: Her son is Mateo, age seven. Scratch that. Mateo is six. The most recent incident was last Tuesday. Correction, last Thursday.\n",
        )
        .unwrap();
        let units = dictation_units(&t, &roles(&t));
        assert_eq!(units[0].said, "Mateo is six. The most recent incident was last Thursday.");
        assert_eq!(apply_correction("We met on Monday.", &["friday"]), "We met on Friday.");
        assert_eq!(apply_correction("She is 7 years old.", &["six"]), "She is six years old.");
    }

    #[test]
    fn spoken_quotes_become_quotation_marks() {
        assert_eq!(spoken_quotes("he has been, quote, jumpy, end quote, lately"), "he has been \"jumpy\", lately");
    }
}
