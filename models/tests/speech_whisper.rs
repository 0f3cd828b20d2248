//! Speech to text with a random-weight ggml Whisper model of real tiny.en size, on real speech.
//! The text is meaningless (random weights); what is checked is that the real whisper.cpp
//! pipeline loads the file, runs, reports progress, honours cancellation and limits, and gives
//! well-formed, timed output. Needs `../shared/models/ggml-vocab-tiny.en.bin` (or
//! HEARTH_MODELS_DIR) and the real clips in `../shared/audio`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use models::Error;
use models::speech::{
    CancelFlag, Language, RunControl, SpeechToText, TranscribeOptions, WhisperConfig, WhisperSpeech,
};
use models::testing::ggml_whisper::{WhisperDims, cache_dir, cached_random_model, vocab_file};

fn tiny_model() -> PathBuf {
    let vocab = vocab_file().expect("the Whisper vocabulary file is needed for these tests");
    cached_random_model(&vocab, "tiny.en", &cache_dir()).expect("generating the random tiny.en model")
}

fn audio_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/audio");
    assert!(dir.join("jfk.wav").is_file(), "the real speech clips must be in {} (see its README)", dir.display());
    dir
}

/// Reads a 16-bit PCM WAV file (RIFF, `fmt ` + `data` chunks) to f32, for 16 kHz mono clips.
fn read_wav_16k_mono(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).expect("reading the test clip");
    assert_eq!(&bytes[..4], b"RIFF");
    let mut at = 12;
    let (mut rate, mut channels, mut data) = (0u32, 0u16, None);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            channels = u16::from_le_bytes(body[2..4].try_into().unwrap());
            rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
        } else if id == b"data" {
            data = Some(body);
        }
        at += 8 + len + (len & 1);
    }
    assert_eq!((rate, channels), (16_000, 1), "this helper reads 16 kHz mono clips only");
    data.expect("a data chunk").chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0).collect()
}

/// Bounded work per call: random weights never emit end-of-text.
fn bounded_options() -> TranscribeOptions {
    TranscribeOptions {
        language: Language::Code("en".into()),
        timestamps: false,
        max_tokens_per_segment: Some(16),
        temperature_fallback: false,
        no_speech_threshold: 1.0,
        ..TranscribeOptions::default()
    }
}

#[test]
fn the_generated_model_has_the_real_tiny_en_dimensions() {
    let path = tiny_model();
    let ctx = whisper_rs::WhisperContext::new_with_params(&path, whisper_rs::WhisperContextParameters::default())
        .expect("whisper.cpp loads the generated model");
    let d = WhisperDims::TINY_EN;
    assert_eq!(ctx.model_n_vocab(), d.n_vocab);
    assert_eq!(ctx.model_n_audio_ctx(), d.n_audio_ctx);
    assert_eq!(ctx.model_n_audio_state(), d.n_audio_state);
    assert_eq!(ctx.model_n_audio_head(), d.n_audio_head);
    assert_eq!(ctx.model_n_audio_layer(), d.n_audio_layer);
    assert_eq!(ctx.model_n_text_ctx(), d.n_text_ctx);
    assert_eq!(ctx.model_n_text_layer(), d.n_text_layer);
    assert_eq!(ctx.model_n_mels(), d.n_mels);
    assert!(!ctx.is_multilingual(), "tiny.en's vocabulary is English-only");
}

#[test]
fn a_real_clip_is_transcribed_into_segments_inside_the_clip() {
    let samples = read_wav_16k_mono(&audio_dir().join("jfk.wav"));
    let mut speech = WhisperSpeech::load(&WhisperConfig::new(tiny_model(), 2)).expect("loading");
    let result = speech.transcribe(&samples, &bounded_options(), &RunControl::default()).expect("transcribing");
    let clip_ms = samples.len() as u64 * 1000 / 16_000;
    assert_eq!(result.language.as_deref(), Some("en"));
    assert_eq!(result.segments.len(), 1, "timestamps off gives one segment per call");
    let seg = &result.segments[0];
    assert_eq!((seg.start_ms, seg.end_ms), (0, clip_ms));
    assert!((0.0..=1.0).contains(&seg.no_speech_probability));
}

#[test]
fn timestamps_and_token_times_stay_within_the_clip() {
    let samples = read_wav_16k_mono(&audio_dir().join("churchill.wav"));
    let mut speech = WhisperSpeech::load(&WhisperConfig::new(tiny_model(), 2)).expect("loading");
    let options = TranscribeOptions { timestamps: true, token_timestamps: true, ..bounded_options() };
    let result = speech.transcribe(&samples, &options, &RunControl::default()).expect("transcribing");
    let clip_ms = samples.len() as u64 * 1000 / 16_000;
    for seg in &result.segments {
        assert!(seg.start_ms <= seg.end_ms && seg.end_ms <= clip_ms, "{seg:?}");
        for token in &seg.tokens {
            assert!(token.start_ms <= token.end_ms, "{token:?}");
        }
    }
}

#[test]
fn progress_is_reported_up_to_one_hundred_percent() {
    let samples = read_wav_16k_mono(&audio_dir().join("jfk.wav"));
    let mut speech = WhisperSpeech::load(&WhisperConfig::new(tiny_model(), 2)).expect("loading");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let control = RunControl {
        cancel: CancelFlag::new(),
        progress: Some(Arc::new(move |p| sink.lock().expect("not poisoned").push(p))),
    };
    speech.transcribe(&samples, &bounded_options(), &control).expect("transcribing");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.last(), Some(&100));
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "progress never goes back: {seen:?}");
}

#[test]
fn cancelling_stops_a_transcription_with_a_cancelled_error() {
    let samples = read_wav_16k_mono(&audio_dir().join("jfk.wav"));
    let mut speech = WhisperSpeech::load(&WhisperConfig::new(tiny_model(), 2)).expect("loading");
    // Cancelled from inside whisper's own progress callback: the abort callback must stop it.
    let cancel = CancelFlag::new();
    let trigger = cancel.clone();
    let calls = Arc::new(AtomicU8::new(0));
    let counter = calls.clone();
    let control = RunControl {
        cancel: cancel.clone(),
        progress: Some(Arc::new(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            trigger.cancel();
        })),
    };
    let options = TranscribeOptions { max_tokens_per_segment: None, ..bounded_options() };
    let err = speech.transcribe(&samples, &options, &control).unwrap_err();
    assert!(matches!(err, Error::Cancelled(_)), "{err}");
    assert!(calls.load(Ordering::SeqCst) >= 1);

    // The engine is still usable afterwards.
    let again = speech.transcribe(&samples, &bounded_options(), &RunControl::default());
    assert!(again.is_ok(), "{:?}", again.err());
}

#[test]
fn empty_or_invalid_samples_are_refused_with_a_clear_error() {
    let mut speech = WhisperSpeech::load(&WhisperConfig::new(tiny_model(), 1)).expect("loading");
    let err = speech.transcribe(&[], &bounded_options(), &RunControl::default()).unwrap_err();
    assert!(err.to_string().contains("no audio samples"), "{err}");
    let err = speech.transcribe(&[0.0, f32::NAN], &bounded_options(), &RunControl::default()).unwrap_err();
    assert!(err.to_string().contains("sample 1 is not a finite number"), "{err}");
    let bad = TranscribeOptions { token_timestamps: true, timestamps: false, ..bounded_options() };
    let err = speech.transcribe(&[0.0; 16_000], &bad, &RunControl::default()).unwrap_err();
    assert!(err.to_string().contains("token_timestamps needs timestamps"), "{err}");
}

#[test]
fn a_missing_model_says_how_to_get_one() {
    let err = WhisperSpeech::load(&WhisperConfig::new("/nonexistent/ggml-base.en.bin", 2)).unwrap_err();
    assert!(err.to_string().contains("hearth models pull"), "{err}");
}

#[test]
fn a_file_that_is_not_a_whisper_model_is_refused_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-model.bin");
    std::fs::write(&path, b"this is not a ggml file at all").unwrap();
    let err = WhisperSpeech::load(&WhisperConfig::new(&path, 2)).unwrap_err();
    assert!(err.to_string().contains("not a ggml Whisper model"), "{err}");
    // A truncated real model is refused as well.
    let whole = std::fs::read(tiny_model()).unwrap();
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    assert!(WhisperSpeech::load(&WhisperConfig::new(&path, 2)).is_err());
}

#[test]
fn thread_counts_outside_the_limit_are_refused() {
    for threads in [0, 65] {
        let err = WhisperSpeech::load(&WhisperConfig::new(tiny_model(), threads)).unwrap_err();
        assert!(err.to_string().contains("between 1 and 64"), "{err}");
    }
}
