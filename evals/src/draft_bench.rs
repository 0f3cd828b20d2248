//! `hearth-evals draft-bench`: embedding-mode draft time and peak memory against transcript
//! length. Each length runs in its own process, so peak RSS (Linux `VmHWM`) is that length's
//! alone; the model load is timed apart from the draft.

use crate::corpus;
use anyhow::Context;
use scribe::{Cue, DraftOptions, Transcript};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One length's figures.
#[derive(Debug, Serialize, Deserialize)]
pub struct DraftRun {
    pub minutes: u64,
    pub cues: usize,
    pub load_ms: u64,
    /// Analysis plus the SOAP draft.
    pub draft_ms: u64,
    pub sentences: usize,
    pub peak_rss_mib: f64,
}

/// A transcript of `minutes`, made of the corpora's sessions back to back (times shifted), cut
/// at that length.
pub fn long_transcript(corpora: &[PathBuf], minutes: u64) -> anyhow::Result<Transcript> {
    let mut sessions = Vec::new();
    for dir in corpora {
        sessions.extend(corpus::load(dir)?);
    }
    anyhow::ensure!(!sessions.is_empty(), "the corpora hold no sessions");
    let limit = minutes * 60_000;
    let mut cues: Vec<Cue> = Vec::new();
    'fill: for session in sessions.iter().cycle() {
        let offset = cues.last().map_or(0, |c| c.end_ms + 2_000);
        for c in &session.transcript.cues {
            let cue = Cue { start_ms: c.start_ms + offset, end_ms: c.end_ms + offset, ..c.clone() };
            if cue.end_ms > limit {
                break 'fill;
            }
            cues.push(cue);
        }
    }
    Ok(Transcript { cues })
}

/// Drafts a `minutes`-long transcript once and measures it (run in a fresh process).
pub fn run_one(corpora: &[PathBuf], models_dir: &Path, minutes: u64) -> anyhow::Result<DraftRun> {
    let transcript = long_transcript(corpora, minutes)?;
    let started = Instant::now();
    let mut embedder = crate::scribe_eval::load_embedder(models_dir)?;
    let load_ms = started.elapsed().as_millis() as u64;
    let started = Instant::now();
    let format = prompts::builtin::get("soap").expect("SOAP is built in");
    let draft = scribe::draft_transcript(&transcript, format, &DraftOptions::default(), &mut embedder, "all-MiniLM-L6-v2")?;
    let draft_ms = started.elapsed().as_millis() as u64;
    Ok(DraftRun { minutes, cues: transcript.cues.len(), load_ms, draft_ms, sentences: draft.sentences().count(), peak_rss_mib: peak_rss_mib()? })
}

/// Peak resident memory of this process (Linux `/proc/self/status`, `VmHWM`).
pub fn peak_rss_mib() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status (Linux only)")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM line in /proc/self/status")?;
    Ok(kib / 1024.0)
}

/// The Markdown table for several runs.
pub fn table(runs: &[DraftRun], cores: usize) -> String {
    let mut out = format!(
        "Embedding-mode SOAP draft, all-MiniLM-L6-v2 on {cores} cores (one process per length):\n\n| minutes | cues | model load ms | draft ms | sentences | peak RSS MiB |\n|---|---|---|---|---|---|\n"
    );
    for r in runs {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.0} |\n",
            r.minutes, r.cues, r.load_ms, r.draft_ms, r.sentences, r.peak_rss_mib
        ));
    }
    out
}
