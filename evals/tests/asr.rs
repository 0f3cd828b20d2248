//! `hearth-evals asr` end to end: it refuses to print a figure without real weights, and with a
//! model it runs espeak-ng speech and real clips through the whole transcription pipeline.

use std::path::PathBuf;
use std::process::Command;

use models::testing::ggml_whisper::{cache_dir, cached_random_model, vocab_file};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn evals() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hearth-evals"));
    c.current_dir(root());
    c
}

#[test]
fn without_a_published_model_it_says_so_and_prints_no_figure() {
    let out = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    // A vocabulary-only file and a random-weight model in the folder are not published models.
    std::fs::copy(vocab_file().unwrap(), models.path().join("ggml-tiny.en.bin")).unwrap();
    let run = evals().args(["asr", "--models-dir"]).arg(models.path()).arg("--out").arg(out.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("WER not measured") && stdout.contains("hearth models pull base.en"), "{stdout}");
    assert!(!stdout.contains('%'), "no figure may be printed: {stdout}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("asr.json")).unwrap()).unwrap();
    assert_eq!(json["measured"], false);
}

#[test]
fn a_supplied_model_is_run_on_espeak_speech_and_real_clips_and_labelled_honestly() {
    let out = tempfile::tempdir().unwrap();
    let model = cached_random_model(&vocab_file().unwrap(), "tiny.en", &cache_dir()).unwrap();
    let audio = root().join("..").join("shared").join("audio");
    let run = evals()
        .args(["asr", "--limit", "1", "--max-tokens", "8", "--model"])
        .arg(&model)
        .arg("--audio-dir")
        .arg(&audio)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("not a published Whisper model"), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("asr.json")).unwrap()).unwrap();
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "one espeak sentence and one real clip: {json}");
    assert_eq!(items[0]["name"], "espeak-01");
    assert_eq!(items[1]["name"], "jfk.wav");
    // The reference words are counted after normalisation ("five" stays one word).
    assert_eq!(items[0]["edits"]["reference_words"], 12);
    assert_eq!(items[1]["edits"]["reference_words"], 22);
    let pooled = &json["pooled"];
    let total = pooled["substitutions"].as_u64().unwrap() + pooled["deletions"].as_u64().unwrap() + pooled["insertions"].as_u64().unwrap();
    assert!(total > 0, "random weights cannot transcribe: {json}");
    assert_eq!(json["model"]["published_as"], serde_json::Value::Null);
}
