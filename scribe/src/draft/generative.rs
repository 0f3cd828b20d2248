//! Generative drafting with a local instruct model (GGUF through `models::textgen`), for
//! practices that configure one. The embedding analysis still chooses what matters and where it
//! goes; the model only rewrites each section from the transcript lines placed there:
//!
//! - one prompt per section (`prompts::template::SECTION_DRAFT`), holding only that section's
//!   lines, numbered as in the transcript, and asking for one sentence per line with the line
//!   numbers it rests on in square brackets;
//! - a section with more lines than fit one prompt is drafted in parts, in transcript order,
//!   and the parts merged, so nothing is dropped to fit a context window;
//! - output is parsed strictly: a line that is not `sentence [n, m]` is rejected and counted; a
//!   sentence citing a line it was not given loses that citation, and one left with none is
//!   rejected; every kept sentence goes through the grounding check.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::time::Instant;

use models::embed::Embedder;
use models::textgen::{GenerateRequest, Message, Prompt, Role, SamplingParams, TextGenerator};
use prompts::NoteFormat;
use prompts::template::SECTION_DRAFT;

use super::{Draft, DraftMode, DraftSection, DraftSentence, SessionAnalysis, embed_all, evidence_text, ground, place};
use crate::error::{Result, ScribeError};
use crate::transcript::Transcript;

/// Settings for generative drafting.
#[derive(Debug, Clone)]
pub struct GenerativeOptions {
    /// Most characters of transcript lines in one prompt; more lines make more parts.
    pub max_lines_chars: usize,
    /// Most new tokens per part.
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Send the prompt as a chat message (instruct models) rather than plain text.
    pub chat: bool,
}

impl Default for GenerativeOptions {
    fn default() -> Self {
        Self { max_lines_chars: 6_000, max_tokens: 384, sampling: SamplingParams::default(), chat: true }
    }
}

/// What the strict parser made of one part's output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedSection {
    pub sentences: Vec<(String, Vec<usize>)>,
    /// The model said the section has nothing to support it.
    pub not_discussed: bool,
    /// Lines that were not `sentence [n, m]`, or cited only lines the model was not given.
    pub rejected_lines: usize,
}

/// Most sentences one part may contribute; past this the model is rambling.
pub const MAX_SENTENCES_PER_PART: usize = 24;

/// Parses a section's generated text. `given` are the cue numbers the prompt held.
pub fn parse_section(output: &str, given: &BTreeSet<usize>) -> ParsedSection {
    let mut parsed = ParsedSection::default();
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let line = line.trim_start_matches(['-', '*', '•']).trim();
        if line.trim_end_matches('.').eq_ignore_ascii_case("not discussed") {
            parsed.not_discussed = true;
            continue;
        }
        let Some((text, cited)) = split_citation(line) else {
            parsed.rejected_lines += 1;
            continue;
        };
        let evidence: Vec<usize> = cited.into_iter().filter(|c| given.contains(c)).collect::<BTreeSet<_>>().into_iter().collect();
        if evidence.is_empty() || text.split_whitespace().count() < 3 || parsed.sentences.len() >= MAX_SENTENCES_PER_PART {
            parsed.rejected_lines += 1;
            continue;
        }
        parsed.sentences.push((text, evidence));
    }
    if !parsed.sentences.is_empty() {
        parsed.not_discussed = false;
    }
    parsed
}

/// `Client reported X. [12, 14]` -> ("Client reported X.", [12, 14]). The bracket must end the
/// line and hold only numbers separated by commas.
fn split_citation(line: &str) -> Option<(String, Vec<usize>)> {
    let body = line.strip_suffix(']')?;
    let open = body.rfind('[')?;
    let numbers: Option<Vec<usize>> = body[open + 1..]
        .split(',')
        .map(|n| n.trim().parse::<usize>().ok())
        .collect();
    let numbers = numbers.filter(|n| !n.is_empty())?;
    let text = body[..open].trim();
    if text.is_empty() {
        return None;
    }
    Some((text.to_string(), numbers))
}

/// Drafts `format` with `generator`, section by section, from the lines the embedding analysis
/// placed in each section. `model` names the generator for the provenance.
pub fn draft_generative(
    analysis: &SessionAnalysis,
    transcript: &Transcript,
    format: &NoteFormat,
    generator: &mut dyn TextGenerator,
    embedder: &mut dyn Embedder,
    model: &str,
    options: &GenerativeOptions,
) -> Result<Draft> {
    let started = Instant::now();
    let plan = analysis.draft(format, embedder)?;
    let mut sections = Vec::with_capacity(plan.sections.len());
    let mut rejected = 0;
    for (planned, spec) in plan.sections.iter().zip(&format.sections) {
        let cues: BTreeSet<usize> = planned.sentences.iter().flat_map(|s| s.evidence.iter().copied()).collect();
        let mut section = DraftSection { key: spec.key.clone(), title: spec.title.clone(), sentences: Vec::new(), not_discussed: true };
        for part in parts(transcript, &cues, options.max_lines_chars) {
            let lines = part
                .iter()
                .filter_map(|&n| transcript.cue(n).map(|c| format!("[{n}] {}: {}", c.speaker.as_deref().unwrap_or("Speaker"), c.text.replace('\n', " "))))
                .collect::<Vec<_>>()
                .join("\n");
            let prompt = SECTION_DRAFT
                .render(&[
                    ("format_name", &format.name),
                    ("section_title", &spec.title),
                    ("section_key", &spec.key),
                    ("section_guidance", &spec.guidance),
                    ("cues", &lines),
                ])
                .map_err(|e| ScribeError::InvalidConfig(e.to_string()))?;
            let request = GenerateRequest {
                prompt: if options.chat {
                    Prompt::Chat(vec![Message { role: Role::User, content: prompt }])
                } else {
                    Prompt::Text(prompt)
                },
                max_tokens: options.max_tokens,
                sampling: options.sampling,
                stop: Vec::new(),
            };
            let generation = generator.generate(&request, &mut |_| ControlFlow::Continue(()))?;
            let given: BTreeSet<usize> = part.iter().copied().collect();
            let parsed = parse_section(&generation.text, &given);
            rejected += parsed.rejected_lines;
            for (text, evidence) in parsed.sentences {
                if !section.sentences.iter().any(|s: &DraftSentence| s.text == text) {
                    section.sentences.push(DraftSentence { text, evidence, grounded: false });
                }
            }
        }
        section.not_discussed = section.sentences.is_empty();
        sections.push(section);
    }
    // The same grounding check as embedding mode.
    let all: Vec<&mut DraftSentence> = sections.iter_mut().flat_map(|s| s.sentences.iter_mut()).collect();
    let texts: Vec<String> = all.iter().map(|s| s.text.clone()).collect();
    let evidence: Vec<String> = all.iter().map(|s| evidence_text(transcript, &s.evidence)).collect();
    let text_vecs = embed_all(embedder, &texts)?;
    let evidence_vecs = embed_all(embedder, &evidence)?;
    for (((sentence, t), e), ev) in all.into_iter().zip(&text_vecs).zip(&evidence_vecs).zip(&evidence) {
        let valid = sentence.evidence.iter().all(|&c| transcript.cue(c).is_some());
        sentence.grounded = ground::check(&sentence.text, ev, place::dot(t, e), valid).grounded();
    }
    let mut timings_ms = plan.timings_ms.clone();
    timings_ms.insert("generate".to_string(), super::ms(started));
    timings_ms.insert("total".to_string(), timings_ms.iter().filter(|(k, _)| *k != "total").map(|(_, v)| v).sum());
    let mut provenance = plan.provenance.clone();
    provenance.mode = DraftMode::Generative;
    provenance.models.insert(0, model.to_string());
    provenance.prompt_version = SECTION_DRAFT.version_tag();
    provenance.rejected_lines = Some(rejected);
    Ok(Draft { sections, timings_ms, provenance, ..plan })
}

/// Cue numbers cut into runs whose text fits `budget` characters, in order. A single cue
/// longer than the budget is a part of its own rather than cut.
fn parts(transcript: &Transcript, cues: &BTreeSet<usize>, budget: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut size = 0;
    for &n in cues {
        let len = transcript.cue(n).map_or(0, |c| c.text.len() + 24);
        if out.is_empty() || (size + len > budget && !out.last().is_some_and(Vec::is_empty)) {
            out.push(Vec::new());
            size = 0;
        }
        out.last_mut().expect("a part was just pushed").push(n);
        size += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Cue;

    fn given(n: &[usize]) -> BTreeSet<usize> {
        n.iter().copied().collect()
    }

    #[test]
    fn well_formed_lines_are_kept_with_their_citations() {
        let p = parse_section("Client reported three panic attacks. [10, 11]\n- Clinician reviewed the diary. [8]\n", &given(&[8, 10, 11]));
        assert_eq!(p.sentences, vec![("Client reported three panic attacks.".to_string(), vec![10, 11]), ("Clinician reviewed the diary.".to_string(), vec![8])]);
        assert_eq!(p.rejected_lines, 0);
        assert!(!p.not_discussed);
    }

    #[test]
    fn lines_without_citations_or_citing_lines_not_given_are_rejected() {
        let p = parse_section(
            "Here is the section:\nClient denies suicidal ideation.\nClient reported worry. [99]\nClient slept poorly. [3, 99]\nClient reported [x]\n",
            &given(&[3]),
        );
        assert_eq!(p.sentences, vec![("Client slept poorly.".to_string(), vec![3])]);
        assert_eq!(p.rejected_lines, 4);
    }

    #[test]
    fn not_discussed_is_understood() {
        let p = parse_section("Not discussed.", &given(&[1]));
        assert!(p.not_discussed && p.sentences.is_empty() && p.rejected_lines == 0);
    }

    #[test]
    fn long_sections_are_cut_into_parts_in_order_and_nothing_is_dropped() {
        let t = Transcript { cues: (0..10).map(|i| Cue { start_ms: i, end_ms: i + 1, speaker: None, text: "x".repeat(100) }).collect() };
        let cues: BTreeSet<usize> = (1..=10).collect();
        let p = parts(&t, &cues, 300);
        assert!(p.len() > 1);
        assert_eq!(p.concat(), (1..=10).collect::<Vec<_>>());
        assert_eq!(parts(&t, &cues, 10).len(), 10, "a cue over the budget is a part of its own");
    }
}
