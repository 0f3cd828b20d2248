//! The CPT suggestion against every corpus session's gold `expected_cpt`, with the kind
//! inferred from the voices and the time read from the transcript (session start to the last
//! cue's end, so a late partner's waiting silence still counts: s06-couples codes 90847).

use scribe::Transcript;
use scribe::cpt::{SessionKind, infer_kind, psychotherapy_minutes, suggest_for_transcript};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn gold_files() -> Vec<PathBuf> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        crate_dir.join("../../shared/corpus"),
        crate_dir.join("../evals/corpus"),
    ] {
        assert!(
            dir.is_dir(),
            "corpus folder {} is missing: check out shared/corpus and evals/corpus",
            dir.display()
        );
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|e| e.expect("a readable directory entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".gold.json"))
            .collect();
        assert!(
            !found.is_empty(),
            "no *.gold.json sessions in {}",
            dir.display()
        );
        found.sort();
        out.extend(found);
    }
    out
}

fn read(gold_path: &Path) -> (String, Transcript, Value) {
    let name = gold_path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name");
    let stem = name.trim_end_matches(".gold.json").to_string();
    let vtt = std::fs::read_to_string(gold_path.with_file_name(format!("{stem}.vtt")))
        .unwrap_or_else(|e| panic!("{stem}.vtt: {e}"));
    let transcript =
        Transcript::parse(&vtt).unwrap_or_else(|e| panic!("{stem}.vtt does not parse: {e}"));
    let gold: Value =
        serde_json::from_str(&std::fs::read_to_string(gold_path).expect("a readable gold file"))
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
    (stem, transcript, gold)
}

fn kind_name(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Individual => "individual",
        SessionKind::Couples => "couples",
        SessionKind::Family { .. } => "family",
        SessionKind::Group => "group",
        SessionKind::Dictation => "dictation",
    }
}

#[test]
fn every_corpus_session_gets_its_expected_cpt_code() {
    let mut wrong = Vec::new();
    for path in gold_files() {
        let (stem, transcript, gold) = read(&path);
        let expected = gold["expected_cpt"].as_str().map(str::to_string);
        let got = suggest_for_transcript(&transcript, None);
        eprintln!(
            "{stem:<32} {:>6} min {:<10} {:?} — {}",
            psychotherapy_minutes(&transcript),
            kind_name(infer_kind(&transcript)),
            got.code,
            got.reason
        );
        if got.code != expected {
            wrong.push(format!(
                "{stem}: expected {expected:?}, got {:?} ({})",
                got.code, got.reason
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_inferred_kind_and_minutes_match_the_gold_annotation() {
    for path in gold_files() {
        let (stem, transcript, gold) = read(&path);
        let kind = infer_kind(&transcript);
        assert_eq!(Some(kind_name(kind)), gold["kind"].as_str(), "{stem}: kind");
        if let SessionKind::Family { client_present } = kind {
            let gold_present = gold["client_present"].as_bool().unwrap_or(true);
            assert_eq!(client_present, gold_present, "{stem}: client_present");
        }
        assert_eq!(
            Some(u64::from(psychotherapy_minutes(&transcript))),
            gold["duration_minutes"].as_u64(),
            "{stem}: minutes"
        );
    }
}

#[test]
fn a_family_session_without_the_client_codes_90846() {
    let with_parents_only = gold_files()
        .into_iter()
        .map(|p| read(&p))
        .filter(|(_, _, gold)| gold["client_present"].as_bool() == Some(false))
        .collect::<Vec<_>>();
    assert!(
        !with_parents_only.is_empty(),
        "the corpora should hold a family session without the client (e10-parents-only)"
    );
    for (stem, transcript, _) in with_parents_only {
        assert_eq!(
            infer_kind(&transcript),
            SessionKind::Family {
                client_present: false
            },
            "{stem}"
        );
        assert_eq!(
            suggest_for_transcript(&transcript, None).code.as_deref(),
            Some("90846"),
            "{stem}"
        );
    }
}
