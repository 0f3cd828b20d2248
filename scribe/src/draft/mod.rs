//! Progress-note drafts that are grounded by construction: every sentence carries the
//! transcript cues it rests on, and a grounding check marks any sentence its cues do not
//! support.
//!
//! Embedding mode (always available, all-MiniLM-L6-v2) works in two steps:
//! 1. [`SessionAnalysis::new`] reads the session once, whatever the format: it cuts the
//!    transcript into units (speaker turns, or dictated sentences), scores how much clinically
//!    relevant content each carries, keeps the salient ones, recognises their kind of content
//!    (report, intervention, assessment, plan...), writes each as a third-person sentence from
//!    the speaker's own words, and reads risk flags and the CPT suggestion;
//! 2. [`SessionAnalysis::draft`] places the kept sentences in the sections of a format, by
//!    embedding similarity to the section's text and the kinds of content it holds.
//!
//! Nothing is written that was not said: sentences are reported speech, so there is no
//! "denies SI" unless someone said it, no mental-status finding, medication or homework the
//! transcript lacks, and a section with nothing to support it is marked "Not discussed".
//! Generative mode ([`generative`]) writes sections with a local instruct model instead, and
//! the same grounding check runs on its output.

/// Generative drafting with a local instruct model, section by section, cited and checked.
pub mod generative;
/// The grounding check every drafted sentence goes through.
pub mod ground;
/// Reported-speech sentences from a speaker's words.
mod phrase;
/// Section placement.
mod place;
/// Salience and kinds of content.
pub mod select;
/// Words, stems and sentence splitting.
pub mod text;
/// Which units a draft keeps.
mod keep;
/// Units of a transcript a sentence can be written from.
mod units;

use std::collections::BTreeMap;
use std::time::Instant;

use models::embed::Embedder;
use prompts::NoteFormat;
use serde::{Deserialize, Serialize};

use crate::cpt::{CptSuggestion, SessionKind, infer_kind, suggest_cpt, psychotherapy_minutes};
use crate::error::{Result, ScribeError};
use crate::risk::{RiskFlag, SpeakerRole, detect_risks};
use crate::transcript::{Cue, Transcript};
use units::Unit;

/// The version of the embedding-mode drafting rules, recorded in every draft's provenance in
/// place of a prompt version. Bump it when selection, placement or phrasing changes.
pub const EMBEDDING_RULES_VERSION: &str = "embedding-draft@1";

/// Most cues one transcript may have (about 10 hours of conversation).
pub const MAX_CUES: usize = 20_000;
/// Texts per embedding call, so memory stays flat however long the session.
const EMBED_BATCH: usize = 256;

/// How a draft was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftMode {
    Embedding,
    Generative,
}

/// One sentence of a draft with the cues it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftSentence {
    pub text: String,
    /// 1-based cue numbers in the order of the input transcript, ascending.
    pub evidence: Vec<usize>,
    /// False when the grounding check found the cues do not support the sentence.
    pub grounded: bool,
}

/// One section of a draft, in the format's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftSection {
    pub key: String,
    pub title: String,
    pub sentences: Vec<DraftSentence>,
    /// Nothing in the session supports this section: shown as "Not discussed", never filled.
    pub not_discussed: bool,
}

/// Which models, format and rules wrote a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub mode: DraftMode,
    pub models: Vec<String>,
    pub format_version: String,
    pub prompt_version: String,
    /// Generative mode: model output lines the strict parser rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_lines: Option<usize>,
}

/// A progress-note draft for a person to review, edit and sign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// The format's name ("SOAP").
    pub format: String,
    pub sections: Vec<DraftSection>,
    pub risk_flags: Vec<RiskFlag>,
    pub cpt: CptSuggestion,
    pub provenance: Provenance,
    pub timings_ms: BTreeMap<String, u64>,
}

impl Draft {
    /// Every sentence, section by section.
    pub fn sentences(&self) -> impl Iterator<Item = (&DraftSection, &DraftSentence)> {
        self.sections.iter().flat_map(|s| s.sentences.iter().map(move |x| (s, x)))
    }
}

/// What the caller knows about the session beyond the transcript.
#[derive(Debug, Clone, Default)]
pub struct DraftOptions {
    /// The session kind, when known; otherwise read from the voices.
    pub kind: Option<SessionKind>,
    /// The clinician's voice, when voices are names ("Dr. Reyes") rather than roles.
    pub clinician_voice: Option<String>,
    /// The identified client's voice, likewise.
    pub client_voice: Option<String>,
}

impl DraftOptions {
    /// Who speaks a cue, by its voice.
    pub fn role(&self, cue: &Cue) -> SpeakerRole {
        let voice = cue.speaker.as_deref().unwrap_or_default().trim();
        let named = |n: &Option<String>| n.as_deref().is_some_and(|n| n.trim().eq_ignore_ascii_case(voice));
        if named(&self.clinician_voice) {
            SpeakerRole::Clinician
        } else if named(&self.client_voice) {
            SpeakerRole::Client
        } else {
            SpeakerRole::from_voice(cue.speaker.as_deref())
        }
    }
}

/// A unit as the analysis saw it (for evals and tuning).
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub evidence: Vec<usize>,
    pub features: [f32; 10],
    pub salience: f32,
    pub kind_features: [f32; 16],
    pub kinds: [f32; 7],
    pub kept: bool,
}

/// A kept unit with its sentence.
#[derive(Debug, Clone)]
struct Kept {
    unit: usize,
    sentence: DraftSentence,
}

/// A session read once, ready to be drafted in any format.
pub struct SessionAnalysis {
    units: Vec<Unit>,
    embeddings: Vec<Vec<f32>>,
    reports: Vec<UnitReport>,
    kept: Vec<Kept>,
    risk_flags: Vec<RiskFlag>,
    cpt: CptSuggestion,
    model: String,
    timings_ms: BTreeMap<String, u64>,
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Embeds any number of texts, [`EMBED_BATCH`] at a time.
fn embed_all(embedder: &mut dyn Embedder, texts: &[String]) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(EMBED_BATCH) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        out.extend(embedder.embed(&refs)?);
    }
    Ok(out)
}

/// Anchor texts (format sections, clinical and small-talk examples) never change: their
/// embeddings are kept for the life of the process, per model.
static ANCHORS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<(String, String), Vec<f32>>>> =
    std::sync::LazyLock::new(Default::default);

/// Most anchor embeddings kept (a few hundred exist: built-in and practice formats).
const MAX_CACHED_ANCHORS: usize = 10_000;

/// Embeds anchor texts, from the cache where it can.
fn embed_anchors(embedder: &mut dyn Embedder, model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>> {
    let missing: Vec<String> = {
        let cache = ANCHORS.lock().unwrap_or_else(|p| p.into_inner());
        texts.iter().filter(|t| !cache.contains_key(&(model.to_string(), (*t).clone()))).cloned().collect()
    };
    let fresh = embed_all(embedder, &missing)?;
    let mut cache = ANCHORS.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() + fresh.len() > MAX_CACHED_ANCHORS {
        cache.clear();
    }
    for (t, v) in missing.into_iter().zip(fresh) {
        cache.insert((model.to_string(), t), v);
    }
    let mut out = Vec::with_capacity(texts.len());
    for t in texts {
        match cache.get(&(model.to_string(), t.clone())) {
            Some(v) => out.push(v.clone()),
            None => out.extend(embed_all(embedder, std::slice::from_ref(t))?),
        }
    }
    Ok(out)
}

fn best_similarity(v: &[f32], anchors: &[Vec<f32>]) -> f32 {
    anchors.iter().map(|a| place::dot(v, a)).fold(0.0, f32::max)
}

impl SessionAnalysis {
    /// Reads `transcript`: units, salience, kinds of content, sentences, risk flags and CPT.
    /// `model` names the embedding model for the provenance.
    pub fn new(transcript: &Transcript, options: &DraftOptions, embedder: &mut dyn Embedder, model: &str) -> Result<Self> {
        let started = Instant::now();
        if transcript.cues.len() > MAX_CUES {
            return Err(ScribeError::InvalidConfig(format!(
                "the transcript has {} cues; the limit is {MAX_CUES}: split the recording into parts",
                transcript.cues.len()
            )));
        }
        let kind = options.kind.unwrap_or_else(|| infer_kind(transcript));
        let dictation = kind == SessionKind::Dictation;
        let roles: Vec<SpeakerRole> = transcript
            .cues
            .iter()
            .map(|c| if dictation { SpeakerRole::Clinician } else { options.role(c) })
            .collect();
        let risk_flags = detect_risks(transcript, &|cue: &Cue| if dictation { SpeakerRole::Clinician } else { options.role(cue) });
        let cpt = suggest_cpt(kind, psychotherapy_minutes(transcript));
        let units = if dictation { units::dictation_units(transcript, &roles) } else { units::conversation_units(transcript, &roles) };
        let read_ms = ms(started);

        let embed_started = Instant::now();
        let texts: Vec<String> = units
            .iter()
            .map(|u| match &u.question {
                Some(q) => format!("{q} {}", u.said),
                None => u.said.clone(),
            })
            .collect();
        let embeddings = embed_all(embedder, &texts)?;
        let clinical: Vec<String> = prompts::builtin::all()
            .iter()
            .filter(|f| f.kind == prompts::FormatKind::Progress)
            .flat_map(|f| f.sections.iter().flat_map(|s| s.cues.iter().chain(&s.examples).cloned()))
            .collect();
        let clinical = embed_anchors(embedder, model, &clinical)?;
        let small_talk: Vec<String> = select::SMALL_TALK_ANCHORS.iter().map(|s| s.to_string()).collect();
        let small_talk = embed_anchors(embedder, model, &small_talk)?;
        let embed_ms = ms(embed_started);

        let select_started = Instant::now();
        let risk_cues: Vec<usize> = risk_flags.iter().flat_map(|f| f.evidence.iter().copied()).collect();
        let mut reports = Vec::with_capacity(units.len());
        let mut after_intervention = false;
        let cue_count = transcript.cues.len().max(1) as f32;
        for (unit, embedding) in units.iter().zip(&embeddings) {
            let is_risk = unit.evidence.iter().any(|c| risk_cues.contains(c));
            let features = select::features(unit, best_similarity(embedding, &clinical), best_similarity(embedding, &small_talk), is_risk);
            let position = *unit.evidence.last().expect("a unit cites its own cue") as f32 / cue_count;
            let kind_features = select::kind_features(unit, after_intervention, position);
            let kinds = select::content_kinds(unit, &kind_features);
            if unit.role == SpeakerRole::Clinician {
                after_intervention = select::is_intervention(unit, &kinds);
            }
            reports.push(UnitReport {
                evidence: unit.evidence.clone(),
                salience: select::salience(&features),
                features,
                kind_features,
                kinds,
                kept: false,
            });
        }
        keep::smooth_kinds(&units, &mut reports);
        let self_harm_flagged = risk_flags
            .iter()
            .any(|f| matches!(f.category, crate::risk::RiskCategory::SuicidalIdeation | crate::risk::RiskCategory::SelfHarm));
        let keep = keep::choose(&units, &reports, transcript.cues.len(), transcript.duration_ms() / 60_000, dictation, self_harm_flagged);
        for &i in &keep {
            reports[i].kept = true;
        }
        let select_ms = ms(select_started);

        let phrase_started = Instant::now();
        let mut kept: Vec<Kept> = keep
            .iter()
            .map(|&i| {
                let u = &units[i];
                let text = match &u.question {
                    Some(q) => phrase::answer(&u.speaker, q, &u.said),
                    None => phrase::report(&u.speaker, &u.said, dictation),
                };
                Kept { unit: i, sentence: DraftSentence { text, evidence: u.evidence.clone(), grounded: false } }
            })
            .filter(|k| !k.sentence.text.is_empty())
            .collect();
        let sentence_texts: Vec<String> = kept.iter().map(|k| k.sentence.text.clone()).collect();
        let sentence_vecs = embed_all(embedder, &sentence_texts)?;
        for (k, s) in kept.iter_mut().zip(&sentence_vecs) {
            // The unit's embedding is of the words the sentence reports (and its question).
            let text = evidence_text(transcript, &k.sentence.evidence);
            let valid = k.sentence.evidence.iter().all(|&c| c >= 1 && c <= transcript.cues.len());
            k.sentence.grounded = ground::check(&k.sentence.text, &text, place::dot(s, &embeddings[k.unit]), valid).grounded();
        }
        let phrase_ms = ms(phrase_started);

        let mut timings_ms = BTreeMap::new();
        timings_ms.insert("read".to_string(), read_ms);
        timings_ms.insert("embed".to_string(), embed_ms);
        timings_ms.insert("select".to_string(), select_ms);
        timings_ms.insert("phrase_and_ground".to_string(), phrase_ms);
        Ok(Self { units, embeddings, reports, kept, risk_flags, cpt, model: model.to_string(), timings_ms })
    }

    /// How each unit was scored (for evals and tuning).
    pub fn unit_reports(&self) -> &[UnitReport] {
        &self.reports
    }

    /// Each unit's embedding, in the order of [`Self::unit_reports`] (for fitting).
    pub fn unit_embeddings(&self) -> &[Vec<f32>] {
        &self.embeddings
    }

    pub fn risk_flags(&self) -> &[RiskFlag] {
        &self.risk_flags
    }

    /// The draft in `format`.
    pub fn draft(&self, format: &NoteFormat, embedder: &mut dyn Embedder) -> Result<Draft> {
        let started = Instant::now();
        let anchors = place::anchors(format);
        let anchor_texts: Vec<String> = anchors.iter().map(|(_, t)| t.clone()).collect();
        let anchor_vecs = embed_anchors(embedder, &self.model, &anchor_texts)?;
        let anchor_embeddings: Vec<(usize, Vec<f32>)> = anchors.iter().map(|(i, _)| *i).zip(anchor_vecs).collect();
        let mut sections: Vec<DraftSection> = format
            .sections
            .iter()
            .map(|s| DraftSection { key: s.key.clone(), title: s.title.clone(), sentences: Vec::new(), not_discussed: true })
            .collect();
        for k in &self.kept {
            let unit = &self.units[k.unit];
            let at = place::place(format, &self.embeddings[k.unit], &anchor_embeddings, &self.reports[k.unit].kinds, unit.role);
            sections[at].sentences.push(k.sentence.clone());
        }
        for s in &mut sections {
            s.not_discussed = s.sentences.is_empty();
        }
        let mut timings_ms = self.timings_ms.clone();
        timings_ms.insert("place".to_string(), ms(started));
        timings_ms.insert("total".to_string(), timings_ms.values().sum());
        Ok(Draft {
            format: format.name.clone(),
            sections,
            risk_flags: self.risk_flags.clone(),
            cpt: self.cpt.clone(),
            provenance: Provenance {
                mode: DraftMode::Embedding,
                models: vec![self.model.clone()],
                format_version: format.version_tag(),
                prompt_version: EMBEDDING_RULES_VERSION.to_string(),
                rejected_lines: None,
            },
            timings_ms,
        })
    }
}

/// The text of the cues a sentence cites, joined.
fn evidence_text(transcript: &Transcript, evidence: &[usize]) -> String {
    evidence.iter().filter_map(|&c| transcript.cue(c)).map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ")
}

/// Drafts `transcript` in `format` in embedding mode.
pub fn draft_transcript(
    transcript: &Transcript,
    format: &NoteFormat,
    options: &DraftOptions,
    embedder: &mut dyn Embedder,
    model: &str,
) -> Result<Draft> {
    SessionAnalysis::new(transcript, options, embedder, model)?.draft(format, embedder)
}
