//! Quality floors for the scribe, enforced so a regression fails CI: embedding-mode drafts of
//! every session of the public corpus (../shared/corpus) and the project's own
//! (evals/corpus), in SOAP, DAP, BIRP and GIRP, against their gold annotations.
//!
//! Targets (the scribe issue): key-fact recall >= 0.85 per format and corpus; at least 60% of
//! sentences cite a gold cue; at most 3 sentences per key fact; risk recall 100% with precision
//! >= 0.8; CPT exact; no must_not_claim statement; every sentence with evidence.

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

#[test]
fn key_fact_recall_is_at_least_0_85_in_every_format_on_each_corpus() {
    let r = report();
    for format in FORMATS {
        let f = format.to_uppercase();
        for (name, keep) in [("public", true), ("project", false)] {
            let t = r.totals(|d| d.format == f && public(&d.stem) == keep);
            assert!(t.recall >= 0.85, "{f} on the {name} corpus: recall {:.3}", t.recall);
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

#[test]
fn no_draft_states_what_the_session_does_not_support() {
    let r = report();
    let hits: Vec<String> = r
        .drafts
        .iter()
        .filter(|d| !d.violations.is_empty())
        .map(|d| format!("{} {}: forbidden patterns {:?}", d.stem, d.format, d.violations))
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
