//! Placing each selected unit in a section of the chosen format: the unit's similarity to the
//! section's own text (guidance, cue utterances and example phrasings), the kinds of content the
//! section holds against the kind the unit seems to be, and the section's speaker hint.

use prompts::{NoteFormat, SpeakerHint};

use crate::risk::SpeakerRole;

/// Weight of the content-kind match against the embedding similarity.
const KIND_WEIGHT: f32 = 0.6;
/// A section's speaker hint nudges, never decides.
const SPEAKER_NUDGE: f32 = 0.04;
/// Similarity to a section is the mean of its best anchors.
const TOP_ANCHORS: usize = 3;

/// The texts a format's sections are recognised by, with the section each belongs to.
pub fn anchors(format: &NoteFormat) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, s) in format.sections.iter().enumerate() {
        out.push((i, format!("{}: {}", s.title, s.guidance)));
        out.extend(s.cues.iter().map(|c| (i, c.clone())));
        out.extend(s.examples.iter().map(|e| (i, e.clone())));
    }
    out
}

/// The index of the section a unit belongs in.
pub fn place(
    format: &NoteFormat,
    unit_embedding: &[f32],
    anchor_embeddings: &[(usize, Vec<f32>)],
    kinds: &[f32; 7],
    role: SpeakerRole,
) -> usize {
    let mut best = (0, f32::MIN);
    for (i, section) in format.sections.iter().enumerate() {
        let mut sims: Vec<f32> =
            anchor_embeddings.iter().filter(|(s, _)| *s == i).map(|(_, e)| dot(unit_embedding, e)).collect();
        sims.sort_by(|a, b| b.total_cmp(a));
        let top = &sims[..sims.len().min(TOP_ANCHORS)];
        let similarity = if top.is_empty() { 0.0 } else { top.iter().sum::<f32>() / top.len() as f32 };
        let kind_match: f32 = section.holds.iter().map(|k| kinds[k.index()]).sum();
        let nudge = match (section.speaker, role) {
            (SpeakerHint::Any, _) => 0.0,
            (SpeakerHint::Clinician, SpeakerRole::Clinician) => SPEAKER_NUDGE,
            (SpeakerHint::Client, SpeakerRole::Client | SpeakerRole::Other) => SPEAKER_NUDGE,
            _ => -SPEAKER_NUDGE,
        };
        let score = similarity + KIND_WEIGHT * kind_match + nudge;
        if score > best.1 {
            best = (i, score);
        }
    }
    best.0
}

/// Dot product: the cosine of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
