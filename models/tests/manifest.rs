//! Verified loading: present, missing, damaged and replaced model files in a real folder.

use std::path::PathBuf;

use models::Error;
use models::manifest::{FileState, models_status, verified_paths};

fn stories_bytes() -> Vec<u8> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/stories260K.gguf");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): check out ../shared/models",
            path.display()
        )
    })
}

fn status_of(dir: &std::path::Path, name: &str) -> Vec<FileState> {
    models_status(dir)
        .into_iter()
        .find(|s| s.spec.name == name)
        .expect("known model")
        .files
        .into_iter()
        .map(|(_, state)| state)
        .collect()
}

#[test]
fn an_empty_folder_lists_every_model_as_missing() {
    let dir = tempfile::tempdir().unwrap();
    let all = models_status(dir.path());
    assert_eq!(all.len(), models::manifest::MODELS.len());
    assert!(
        all.iter()
            .all(|s| !s.is_ready() && s.files.iter().all(|(_, f)| *f == FileState::Missing))
    );
}

#[test]
fn a_missing_file_names_itself_and_the_pull_command() {
    let dir = tempfile::tempdir().unwrap();
    let err = verified_paths("stories260K", dir.path()).expect_err("missing");
    assert!(matches!(err, Error::MissingModel { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("stories260K.gguf") && msg.contains("run `hearth models pull stories260K`"),
        "{msg}"
    );
}

#[test]
fn a_good_copy_is_verified_and_listed_as_present() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stories260K.gguf"), stories_bytes()).unwrap();

    let paths = verified_paths("stories260K", dir.path()).expect("verifies");

    assert_eq!(paths, vec![dir.path().join("stories260K.gguf")]);
    assert_eq!(
        status_of(dir.path(), "stories260K"),
        vec![FileState::Verified]
    );
    assert!(
        dir.path().join(".hearth-verified").exists(),
        "the verification is remembered"
    );
}

#[test]
fn a_damaged_copy_of_the_right_size_is_caught_even_after_a_cached_verification() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stories260K.gguf");
    let mut bytes = stories_bytes();
    std::fs::write(&file, &bytes).unwrap();
    verified_paths("stories260K", dir.path()).expect("first verification");
    // Same size, one byte changed: the cache is keyed by size and mtime, and writing moves mtime.
    std::thread::sleep(std::time::Duration::from_millis(20));
    bytes[1000] ^= 0xFF;
    std::fs::write(&file, &bytes).unwrap();

    let err = verified_paths("stories260K", dir.path()).expect_err("damaged");

    assert!(matches!(err, Error::HashMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("run `hearth models pull stories260K`"),
        "{err}"
    );
    assert!(matches!(
        status_of(dir.path(), "stories260K")[0],
        FileState::WrongHash { .. }
    ));
}

#[test]
fn a_truncated_copy_is_reported_by_size_without_hashing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stories260K.gguf"),
        &stories_bytes()[..1000],
    )
    .unwrap();
    assert_eq!(
        status_of(dir.path(), "stories260K"),
        vec![FileState::WrongSize { actual: 1000 }]
    );
    let err = verified_paths("stories260K", dir.path()).expect_err("truncated");
    assert!(err.to_string().contains("1185376 bytes"), "{err}");
}

#[test]
fn the_shared_test_models_match_the_manifest() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models");
    for name in ["stories260K", "all-MiniLM-L6-v2"] {
        verified_paths(name, &shared).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn engines_refuse_to_load_unverified_files_and_say_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let gen_err = models::textgen::GgufGenerator::load_verified("stories260K", dir.path())
        .err()
        .expect("no model in an empty folder");
    let emb_err = models::embed::MiniLmEmbedder::load_verified(dir.path())
        .err()
        .expect("no model in an empty folder");
    assert!(
        gen_err
            .to_string()
            .contains("run `hearth models pull stories260K`"),
        "{gen_err}"
    );
    assert!(
        emb_err
            .to_string()
            .contains("run `hearth models pull all-MiniLM-L6-v2`"),
        "{emb_err}"
    );
}
