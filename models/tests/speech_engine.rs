//! The speech engine thread and the random-model generator, with real whisper.cpp.

use std::path::PathBuf;

use models::speech::{
    Language, RunControl, SpeechToText, TranscribeOptions, WhisperConfig, spawn_speech_engine,
};
use models::testing::ggml_whisper::{WhisperDims, cache_dir, cached_random_model, vocab_file, write_random_model};

fn tiny_model() -> PathBuf {
    let vocab = vocab_file().expect("the Whisper vocabulary file is needed for these tests");
    cached_random_model(&vocab, "tiny.en", &cache_dir()).expect("generating the random tiny.en model")
}

fn options() -> TranscribeOptions {
    TranscribeOptions {
        language: Language::Code("en".into()),
        timestamps: false,
        max_tokens_per_segment: Some(8),
        temperature_fallback: false,
        no_speech_threshold: 1.0,
        ..TranscribeOptions::default()
    }
}

/// Two seconds of a 220 Hz tone with a slow tremolo: not speech, but real, non-silent input.
fn tone() -> Vec<f32> {
    (0..32_000)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin() * (0.6 + 0.4 * (6.0 * t).sin())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_thread_loads_the_model_and_transcribes() {
    let engine = spawn_speech_engine(WhisperConfig::new(tiny_model(), 2), 4).expect("spawning");
    engine.handle().wait_ready().await.expect("the model loads on the engine thread");
    let result = engine.transcribe(tone(), options(), RunControl::default()).await.expect("transcribing");
    assert_eq!(result.segments.len(), 1);
    assert_eq!(result.segments[0].end_ms, 2_000);
}

#[test]
fn the_engine_can_be_driven_synchronously_as_a_speech_to_text() {
    let mut engine = spawn_speech_engine(WhisperConfig::new(tiny_model(), 2), 4).expect("spawning");
    let as_trait: &mut dyn SpeechToText = &mut engine;
    let result = as_trait.transcribe(&tone(), &options(), &RunControl::default()).expect("transcribing");
    assert_eq!(result.segments.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_whose_model_is_missing_reports_failed_health_with_advice() {
    let engine = spawn_speech_engine(WhisperConfig::new("/nonexistent/ggml-base.en.bin", 2), 4).expect("spawning");
    let err = engine.handle().wait_ready().await.unwrap_err();
    assert!(err.to_string().contains("hearth models pull"), "{err}");
}

#[test]
fn the_generator_is_deterministic_per_seed() {
    let vocab = vocab_file().expect("vocabulary file");
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a.bin"), dir.path().join("b.bin"), dir.path().join("c.bin"));
    write_random_model(&vocab, &WhisperDims::TINY_EN, 7, &a).unwrap();
    write_random_model(&vocab, &WhisperDims::TINY_EN, 7, &b).unwrap();
    write_random_model(&vocab, &WhisperDims::TINY_EN, 8, &c).unwrap();
    let (a, b, c) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), std::fs::read(c).unwrap());
    assert_eq!(a.len(), c.len());
    assert!(a == b, "same seed, same bytes");
    assert!(a != c, "another seed, other weights");
}

#[test]
fn a_base_en_model_loads_with_the_real_base_dimensions() {
    let vocab = vocab_file().expect("vocabulary file");
    let path = cached_random_model(&vocab, "base.en", &cache_dir()).expect("generating base.en");
    let ctx = whisper_rs::WhisperContext::new_with_params(&path, whisper_rs::WhisperContextParameters::default())
        .expect("whisper.cpp loads the generated base.en model");
    assert_eq!(ctx.model_n_audio_state(), 512);
    assert_eq!(ctx.model_n_audio_head(), 8);
    assert_eq!(ctx.model_n_audio_layer(), 6);
    assert_eq!(ctx.model_n_text_layer(), 6);
    assert_eq!(ctx.model_n_vocab(), WhisperDims::BASE_EN.n_vocab);
}

#[test]
fn a_vocabulary_file_that_is_not_ggml_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("vocab.bin");
    std::fs::write(&bogus, b"definitely not ggml, but long enough to hold a header......").unwrap();
    let err = write_random_model(&bogus, &WhisperDims::TINY_EN, 1, &dir.path().join("out.bin")).unwrap_err();
    assert!(err.to_string().contains("bad magic"), "{err}");
}
