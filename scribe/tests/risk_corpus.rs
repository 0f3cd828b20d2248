//! Risk flags against every session of both corpora: the public examples in
//! `../shared/corpus` and the evaluation set in `evals/corpus`. Targets: recall 100% and
//! precision >= 0.8, per session and overall; every quote verbatim.
//!
//! Scoring (as the evaluation defines it): a predicted flag is a true positive when its category
//! matches a gold risk and one of its evidence cues is among that risk's `evidence_cues`; a gold
//! risk is recalled when some flag of its category shares a cue with it.

use scribe::risk::{RiskCategory, RiskFlag, detect_risks, role_of_voice};
use scribe::{Cue, Transcript};
use serde_json::Value;
use std::path::{Path, PathBuf};

struct GoldRisk {
    category: RiskCategory,
    cues: Vec<usize>,
}

struct Session {
    stem: String,
    transcript: Transcript,
    gold: Vec<GoldRisk>,
}

fn corpus_dirs() -> Vec<PathBuf> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    vec![
        crate_dir.join("../../shared/corpus"),
        crate_dir.join("../evals/corpus"),
    ]
}

fn load(dir: &Path) -> Vec<Session> {
    assert!(
        dir.is_dir(),
        "corpus folder {} is missing: check out the shared corpus (see shared/corpus/README.md) and evals/corpus",
        dir.display()
    );
    let mut stems: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".gold.json"))
        .collect();
    stems.sort();
    assert!(
        !stems.is_empty(),
        "no *.gold.json sessions in {}",
        dir.display()
    );
    stems
        .iter()
        .map(|gold_path| read_session(gold_path))
        .collect()
}

fn read_session(gold_path: &Path) -> Session {
    let name = gold_path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name");
    let stem = name.trim_end_matches(".gold.json").to_string();
    let vtt_path = gold_path.with_file_name(format!("{stem}.vtt"));
    let vtt = std::fs::read_to_string(&vtt_path)
        .unwrap_or_else(|e| panic!("{}: {e}", vtt_path.display()));
    let transcript =
        Transcript::parse(&vtt).unwrap_or_else(|e| panic!("{stem}.vtt does not parse: {e}"));
    let gold: Value =
        serde_json::from_str(&std::fs::read_to_string(gold_path).expect("a readable gold file"))
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
    let risks = gold["risk"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} has no `risk` list"));
    let gold = risks
        .iter()
        .map(|r| {
            let category = r["category"].as_str().and_then(RiskCategory::parse);
            GoldRisk {
                category: category
                    .unwrap_or_else(|| panic!("{name}: unknown risk category {}", r["category"])),
                cues: r["evidence_cues"]
                    .as_array()
                    .expect("evidence_cues is a list")
                    .iter()
                    .filter_map(Value::as_u64)
                    .map(|c| c as usize)
                    .collect(),
            }
        })
        .collect();
    Session {
        stem,
        transcript,
        gold,
    }
}

fn shares_cue(flag: &RiskFlag, gold: &GoldRisk) -> bool {
    flag.category == gold.category && flag.evidence.iter().any(|c| gold.cues.contains(c))
}

fn all_sessions() -> Vec<Session> {
    corpus_dirs().iter().flat_map(|d| load(d)).collect()
}

#[test]
fn every_session_has_full_recall_and_precision_of_at_least_0_8() {
    let sessions = all_sessions();
    let (mut tp_all, mut pred_all, mut hit_all, mut gold_all) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    eprintln!(
        "{:<32} {:>5} {:>5} {:>8} {:>9}",
        "session", "gold", "flags", "recall", "precision"
    );
    for s in &sessions {
        let flags = detect_risks(&s.transcript, &role_of_voice);
        let tp = flags
            .iter()
            .filter(|f| s.gold.iter().any(|g| shares_cue(f, g)))
            .count();
        let hit = s
            .gold
            .iter()
            .filter(|g| flags.iter().any(|f| shares_cue(f, g)))
            .count();
        let recall = if s.gold.is_empty() {
            1.0
        } else {
            hit as f64 / s.gold.len() as f64
        };
        let precision = if flags.is_empty() {
            1.0
        } else {
            tp as f64 / flags.len() as f64
        };
        eprintln!(
            "{:<32} {:>5} {:>5} {:>8.2} {:>9.2}",
            s.stem,
            s.gold.len(),
            flags.len(),
            recall,
            precision
        );
        for f in &flags {
            eprintln!(
                "    {:<18} {:?} {:?} — {}",
                f.category.as_str(),
                f.evidence,
                f.quote,
                f.severity
            );
        }
        if recall < 1.0 || precision < 0.8 {
            let missed: Vec<String> = s
                .gold
                .iter()
                .filter(|g| !flags.iter().any(|f| shares_cue(f, g)))
                .map(|g| format!("{} {:?}", g.category, g.cues))
                .collect();
            failures.push(format!(
                "{}: recall {recall:.2} (missed {missed:?}), precision {precision:.2}",
                s.stem
            ));
        }
        (tp_all, pred_all, hit_all, gold_all) = (
            tp_all + tp,
            pred_all + flags.len(),
            hit_all + hit,
            gold_all + s.gold.len(),
        );
    }
    let recall = hit_all as f64 / gold_all.max(1) as f64;
    let precision = if pred_all == 0 {
        1.0
    } else {
        tp_all as f64 / pred_all as f64
    };
    eprintln!(
        "{:<32} {:>5} {:>5} {:>8.2} {:>9.2}",
        "overall", gold_all, pred_all, recall, precision
    );
    assert!(
        gold_all > 0,
        "the corpora have no gold risks at all: the test would prove nothing"
    );
    assert!(
        failures.is_empty(),
        "sessions below target:\n{}",
        failures.join("\n")
    );
    assert!(
        recall == 1.0 && precision >= 0.8,
        "overall recall {recall:.2}, precision {precision:.2}"
    );
}

#[test]
fn every_quote_is_verbatim_in_its_first_evidence_cue() {
    for s in all_sessions() {
        for f in detect_risks(&s.transcript, &role_of_voice) {
            let first = f
                .evidence
                .first()
                .copied()
                .unwrap_or_else(|| panic!("{}: a flag with no evidence: {f:?}", s.stem));
            let cue: &Cue = s
                .transcript
                .cue(first)
                .unwrap_or_else(|| panic!("{}: evidence cue {first} out of range", s.stem));
            assert!(
                !f.quote.is_empty() && cue.text.contains(&f.quote),
                "{}: quote {:?} is not in cue {first}",
                s.stem,
                f.quote
            );
            assert!(
                f.evidence.windows(2).all(|w| w[0] < w[1]),
                "{}: evidence not ascending: {:?}",
                s.stem,
                f.evidence
            );
        }
    }
}

#[test]
fn sessions_without_gold_risks_get_no_flags() {
    for s in all_sessions().into_iter().filter(|s| s.gold.is_empty()) {
        let flags = detect_risks(&s.transcript, &role_of_voice);
        assert!(flags.is_empty(), "{}: unexpected flags {flags:?}", s.stem);
    }
}
