//! The evaluation corpus format (`../shared/corpus/README.md`): one WebVTT transcript and one
//! `<stem>.gold.json` annotation per session.

use anyhow::{Context, bail};
use scribe::Transcript;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A key fact a note should contain, with the section it belongs in for each format.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyFact {
    pub id: String,
    pub fact: String,
    /// Format name ("SOAP") to section key ("S").
    pub section: BTreeMap<String, String>,
    pub evidence_cues: Vec<usize>,
    pub must_include: bool,
}

/// A risk the session contains.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldRisk {
    pub category: String,
    pub severity: String,
    pub evidence_cues: Vec<usize>,
    pub quote: String,
}

/// A session's gold annotation.
#[derive(Debug, Clone, Deserialize)]
pub struct Gold {
    pub stem: String,
    pub kind: String,
    pub duration_minutes: u32,
    pub expected_cpt: Option<String>,
    pub key_facts: Vec<KeyFact>,
    pub risk: Vec<GoldRisk>,
    pub must_not_claim: Vec<String>,
    #[serde(default)]
    pub forbidden_patterns: Vec<String>,
}

impl Gold {
    /// Every cue a key fact or a risk cites.
    pub fn gold_cues(&self) -> std::collections::BTreeSet<usize> {
        self.key_facts
            .iter()
            .flat_map(|f| f.evidence_cues.iter().copied())
            .chain(self.risk.iter().flat_map(|r| r.evidence_cues.iter().copied()))
            .collect()
    }
}

/// One session of a corpus.
#[derive(Debug, Clone)]
pub struct Session {
    pub stem: String,
    pub transcript: Transcript,
    pub gold: Gold,
}

/// Reads every `*.gold.json` in `dir` with its `.vtt`, in name order.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Session>> {
    let mut golds: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing the corpus folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".gold.json"))
        .collect();
    golds.sort();
    if golds.is_empty() {
        bail!("no *.gold.json sessions in {}: is this a corpus folder?", dir.display());
    }
    golds
        .iter()
        .map(|path| {
            let gold: Gold = serde_json::from_str(
                &std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("parsing {}", path.display()))?;
            let vtt = path.with_file_name(format!("{}.vtt", gold.stem));
            let transcript = Transcript::parse(
                &std::fs::read_to_string(&vtt).with_context(|| format!("reading {}", vtt.display()))?,
            )
            .with_context(|| format!("parsing {}", vtt.display()))?;
            Ok(Session { stem: gold.stem.clone(), transcript, gold })
        })
        .collect()
}
