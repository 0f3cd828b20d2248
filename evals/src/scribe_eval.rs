//! `hearth-evals scribe`: drafts every session of one or more corpora in every built-in progress
//! format, in embedding mode, and reports per session and overall.

use crate::corpus::{self, Session};
use crate::metrics::{DraftScore, RiskCounts, ratio, score_draft, score_risks};
use models::embed::{Embedder, MiniLmEmbedder};
use prompts::NoteFormat;
use scribe::{DraftOptions, SessionAnalysis};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The formats the targets are set for.
pub const FORMATS: [&str; 4] = ["soap", "dap", "birp", "girp"];

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub struct ScribeReport {
    pub corpora: Vec<String>,
    pub drafts: Vec<DraftScore>,
    pub risk: BTreeMap<String, RiskCounts>,
    /// Per session: every unit's salience and whether it cites a gold cue (for tuning).
    #[serde(skip)]
    pub units: Vec<UnitRow>,
    /// Every draft, by session and format (written with `--drafts`).
    #[serde(skip)]
    pub texts: Vec<(String, String, scribe::Draft)>,
}

/// One unit of one session, for fitting the salience weights.
#[derive(Debug, Clone, Serialize)]
pub struct UnitRow {
    pub stem: String,
    pub evidence: Vec<usize>,
    pub features: [f32; 10],
    pub salience: f32,
    pub kind_features: [f32; 16],
    pub kept: bool,
    pub gold: bool,
    /// The unit's sentence embedding (for fitting tools that work on it).
    pub embedding: Vec<f32>,
}

/// Totals over a set of drafts.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Totals {
    pub drafts: usize,
    pub recall: f64,
    pub recall_strict: f64,
    pub gold_cue_rate: f64,
    pub placement: f64,
    pub sentences_per_fact: f64,
    pub ungrounded: usize,
    pub without_evidence: usize,
    pub violations: usize,
    pub cpt_exact: usize,
}

impl ScribeReport {
    /// Pooled totals over the drafts `keep` selects.
    pub fn totals(&self, keep: impl Fn(&DraftScore) -> bool) -> Totals {
        let d: Vec<&DraftScore> = self.drafts.iter().filter(|d| keep(d)).collect();
        let sum = |f: &dyn Fn(&DraftScore) -> usize| d.iter().map(|x| f(x)).sum::<usize>();
        Totals {
            drafts: d.len(),
            recall: ratio(sum(&|x| x.covered), sum(&|x| x.must_include)),
            recall_strict: ratio(sum(&|x| x.covered_strict), sum(&|x| x.must_include)),
            gold_cue_rate: ratio(sum(&|x| x.gold_cue_sentences), sum(&|x| x.sentences)),
            placement: ratio(sum(&|x| x.placed_right), sum(&|x| x.placeable)),
            sentences_per_fact: sum(&|x| x.sentences) as f64 / sum(&|x| x.key_facts).max(1) as f64,
            ungrounded: sum(&|x| x.ungrounded),
            without_evidence: sum(&|x| x.without_evidence),
            violations: sum(&|x| x.violations.len()),
            cpt_exact: sum(&|x| usize::from(x.cpt_exact())),
        }
    }

    /// Risk counts over every category.
    pub fn risk_total(&self) -> RiskCounts {
        let mut t = RiskCounts::default();
        for c in self.risk.values() {
            t.add(c);
        }
        t
    }

    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Scribe evaluation (embedding mode)\n\nCorpora: {}\n", self.corpora.join(", "));
        let _ = writeln!(out, "| format | drafts | key-fact recall | strict recall | gold-cue rate | placement | sentences/fact | ungrounded | no evidence | must_not_claim hits | CPT exact |");
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
        for f in FORMATS.iter().map(|f| f.to_uppercase()).chain(["all".to_string()]) {
            let t = self.totals(|d| f == "all" || d.format == f);
            let _ = writeln!(
                out,
                "| {f} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {} | {} | {} | {}/{} |",
                t.drafts, t.recall, t.recall_strict, t.gold_cue_rate, t.placement, t.sentences_per_fact, t.ungrounded,
                t.without_evidence, t.violations, t.cpt_exact, t.drafts
            );
        }
        let _ = writeln!(out, "\n## Risk flags\n\n| category | gold | recalled | recall | flags right | flags wrong | precision |\n|---|---|---|---|---|---|---|");
        for (cat, c) in self.risk.iter().chain([(&"all".to_string(), &self.risk_total())]) {
            let _ = writeln!(
                out,
                "| {cat} | {} | {} | {:.2} | {} | {} | {:.2} |",
                c.gold, c.recalled, c.recall(), c.true_positives, c.false_positives, c.precision()
            );
        }
        let _ = writeln!(out, "\n## Per session\n\n| session | format | recall | strict | gold-cue rate | placement | sentences (facts) | missed | must_not_claim | CPT (expected) | ms |\n|---|---|---|---|---|---|---|---|---|---|---|");
        for d in &self.drafts {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} ({}) | {} | {} | {} ({}) | {} |",
                d.stem, d.format, d.recall(), d.recall_strict(), d.gold_cue_rate(), d.placement(), d.sentences, d.key_facts,
                d.missed.join(" "), d.violations.len(), d.cpt.as_deref().unwrap_or("none"),
                d.cpt_expected.as_deref().unwrap_or("none"), d.draft_ms
            );
        }
        out
    }
}

/// Loads the embedding model from `models_dir`, checked against the manifest.
pub fn load_embedder(models_dir: &Path) -> anyhow::Result<MiniLmEmbedder> {
    Ok(MiniLmEmbedder::load_verified(models_dir)?)
}

/// Runs the scribe over every session of `corpora` in each of `formats`.
pub fn run(corpora: &[PathBuf], formats: &[&NoteFormat], embedder: &mut dyn Embedder) -> anyhow::Result<ScribeReport> {
    let mut sessions: Vec<Session> = Vec::new();
    for dir in corpora {
        sessions.extend(corpus::load(dir)?);
    }
    let mut report = ScribeReport {
        corpora: corpora.iter().map(|p| p.display().to_string()).collect(),
        drafts: Vec::new(),
        risk: BTreeMap::new(),
        units: Vec::new(),
        texts: Vec::new(),
    };
    for session in &sessions {
        let analysis = SessionAnalysis::new(&session.transcript, &DraftOptions::default(), embedder, MiniLmEmbedder::MANIFEST_NAME)?;
        for (category, counts) in score_risks(session, analysis.risk_flags()) {
            report.risk.entry(category).or_default().add(&counts);
        }
        let gold = session.gold.gold_cues();
        report.units.extend(analysis.unit_reports().iter().zip(analysis.unit_embeddings()).map(|(u, e)| UnitRow {
            stem: session.stem.clone(),
            evidence: u.evidence.clone(),
            features: u.features,
            salience: u.salience,
            kind_features: u.kind_features,
            kept: u.kept,
            gold: u.evidence.iter().any(|c| gold.contains(c)),
            embedding: e.clone(),
        }));
        for format in formats {
            let draft = analysis.draft(format, embedder)?;
            report.drafts.push(score_draft(session, &format.name, &draft)?);
            report.texts.push((session.stem.clone(), format.key().to_string(), draft));
        }
    }
    Ok(report)
}
