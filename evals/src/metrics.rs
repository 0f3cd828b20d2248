//! Scoring a draft against its session's gold annotation, as `../shared/corpus/README.md` and
//! the scribe issue define it.
//!
//! - A must-include key fact is **covered** when a sentence in its expected section cites at
//!   least one of its evidence cues; **covered strictly** when that sentence also shares content
//!   words with the fact (two stems, or one for a fact of four content words or fewer).
//! - **Placement**: of the sentences citing a key fact's cue, the share placed in (one of) the
//!   sections those facts belong in.
//! - **Gold-cue rate**: the share of sentences citing a cue some key fact or risk uses.
//! - **must_not_claim**: each `forbidden_patterns` regex (case-insensitive, Python syntax with
//!   lookbehind, hence `fancy-regex`) run over all sentences joined by newlines.
//! - **Risk**: a flag is a true positive when its category matches a gold risk and one of its
//!   evidence cues is among that risk's cues; a gold risk is recalled when a flag of its
//!   category shares a cue with it (the rule `scribe/tests/risk_corpus.rs` uses).

use crate::corpus::Session;
use scribe::Draft;
use scribe::draft::text::content_stems;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// How one draft scored.
#[derive(Debug, Clone, Serialize)]
pub struct DraftScore {
    pub stem: String,
    pub format: String,
    pub must_include: usize,
    pub covered: usize,
    pub covered_strict: usize,
    pub missed: Vec<String>,
    pub key_facts: usize,
    pub sentences: usize,
    pub gold_cue_sentences: usize,
    pub placeable: usize,
    pub placed_right: usize,
    pub ungrounded: usize,
    pub without_evidence: usize,
    /// Indexes of the forbidden patterns that matched.
    pub violations: Vec<usize>,
    pub cpt_expected: Option<String>,
    pub cpt: Option<String>,
    pub draft_ms: u64,
}

impl DraftScore {
    pub fn recall(&self) -> f64 {
        ratio(self.covered, self.must_include)
    }
    pub fn recall_strict(&self) -> f64 {
        ratio(self.covered_strict, self.must_include)
    }
    pub fn gold_cue_rate(&self) -> f64 {
        ratio(self.gold_cue_sentences, self.sentences)
    }
    pub fn placement(&self) -> f64 {
        ratio(self.placed_right, self.placeable)
    }
    pub fn sentences_per_fact(&self) -> f64 {
        if self.key_facts == 0 { 0.0 } else { self.sentences as f64 / self.key_facts as f64 }
    }
    pub fn cpt_exact(&self) -> bool {
        self.cpt_expected == self.cpt
    }
}

/// `n / d`, and 1 when there is nothing to count.
pub fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 1.0 } else { n as f64 / d as f64 }
}

/// Scores `draft` (in the format named `format`, e.g. "SOAP") against `session`'s gold.
pub fn score_draft(session: &Session, format: &str, draft: &Draft) -> anyhow::Result<DraftScore> {
    let gold = &session.gold;
    let gold_cues = gold.gold_cues();
    let mut covered = 0;
    let mut covered_strict = 0;
    let mut missed = Vec::new();
    for fact in gold.key_facts.iter().filter(|f| f.must_include) {
        let section = fact.section.get(format).map(String::as_str);
        let fact_stems: HashSet<String> = content_stems(&fact.fact).into_iter().collect();
        let need = if fact_stems.len() <= 4 { 1 } else { 2 };
        let mut hit = false;
        let mut strict = false;
        for (s, sentence) in draft.sentences() {
            if Some(s.key.as_str()) != section || !sentence.evidence.iter().any(|c| fact.evidence_cues.contains(c)) {
                continue;
            }
            hit = true;
            let shared = content_stems(&sentence.text).into_iter().collect::<HashSet<_>>().intersection(&fact_stems).count();
            strict |= shared >= need;
        }
        covered += usize::from(hit);
        covered_strict += usize::from(strict);
        if !hit {
            missed.push(fact.id.clone());
        }
    }
    let mut sentences = 0;
    let mut gold_cue_sentences = 0;
    let mut placeable = 0;
    let mut placed_right = 0;
    let mut ungrounded = 0;
    let mut without_evidence = 0;
    for (s, sentence) in draft.sentences() {
        sentences += 1;
        ungrounded += usize::from(!sentence.grounded);
        without_evidence += usize::from(sentence.evidence.is_empty());
        gold_cue_sentences += usize::from(sentence.evidence.iter().any(|c| gold_cues.contains(c)));
        let homes: HashSet<&str> = gold
            .key_facts
            .iter()
            .filter(|f| sentence.evidence.iter().any(|c| f.evidence_cues.contains(c)))
            .filter_map(|f| f.section.get(format).map(String::as_str))
            .collect();
        if !homes.is_empty() {
            placeable += 1;
            placed_right += usize::from(homes.contains(s.key.as_str()));
        }
    }
    let note: String = draft.sentences().map(|(_, s)| s.text.as_str()).collect::<Vec<_>>().join("\n");
    let mut violations = Vec::new();
    for (i, pattern) in gold.forbidden_patterns.iter().enumerate() {
        let re = fancy_regex::RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .map_err(|e| anyhow::anyhow!("{}: forbidden pattern {} does not compile: {e}", session.stem, i + 1))?;
        if re.is_match(&note).map_err(|e| anyhow::anyhow!("{}: forbidden pattern {}: {e}", session.stem, i + 1))? {
            violations.push(i);
        }
    }
    Ok(DraftScore {
        stem: session.stem.clone(),
        format: format.to_string(),
        must_include: gold.key_facts.iter().filter(|f| f.must_include).count(),
        covered,
        covered_strict,
        missed,
        key_facts: gold.key_facts.len(),
        sentences,
        gold_cue_sentences,
        placeable,
        placed_right,
        ungrounded,
        without_evidence,
        violations,
        cpt_expected: gold.expected_cpt.clone(),
        cpt: draft.cpt.code.clone(),
        draft_ms: draft.timings_ms.get("total").copied().unwrap_or(0),
    })
}

/// True and false positives and misses for one risk category.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RiskCounts {
    pub true_positives: usize,
    pub false_positives: usize,
    pub gold: usize,
    pub recalled: usize,
}

impl RiskCounts {
    pub fn recall(&self) -> f64 {
        ratio(self.recalled, self.gold)
    }
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }
    pub fn add(&mut self, other: &RiskCounts) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.gold += other.gold;
        self.recalled += other.recalled;
    }
}

/// Risk scores by category for one session's flags.
pub fn score_risks(session: &Session, flags: &[scribe::risk::RiskFlag]) -> BTreeMap<String, RiskCounts> {
    let mut out: BTreeMap<String, RiskCounts> = BTreeMap::new();
    for gold in &session.gold.risk {
        let c = out.entry(gold.category.clone()).or_default();
        c.gold += 1;
        let recalled = flags
            .iter()
            .any(|f| f.category.as_str() == gold.category && f.evidence.iter().any(|e| gold.evidence_cues.contains(e)));
        c.recalled += usize::from(recalled);
    }
    for flag in flags {
        let c = out.entry(flag.category.as_str().to_string()).or_default();
        let hit = session
            .gold
            .risk
            .iter()
            .any(|g| g.category == flag.category.as_str() && flag.evidence.iter().any(|e| g.evidence_cues.contains(e)));
        if hit {
            c.true_positives += 1;
        } else {
            c.false_positives += 1;
        }
    }
    out
}
