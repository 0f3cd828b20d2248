//! Whole files through the front end and a real whisper.cpp model (random weights of tiny.en
//! size, so the words are meaningless; times, voices, counts and errors are what is checked).

mod common;

use std::path::PathBuf;

use common::{fixture, shared_audio, write_wav};
use models::speech::{
    Language, RunControl, SpeechToText, TranscribeOptions, Transcription, WhisperConfig, WhisperSpeech,
};
use models::testing::ggml_whisper::{cache_dir, cached_random_model, vocab_file};
use scribe::{FileTranscribeOptions, Progress, ScribeError, Transcript, Voices, transcribe_file};

fn model() -> WhisperSpeech {
    let vocab = vocab_file().expect("the Whisper vocabulary file is needed for these tests");
    let path = cached_random_model(&vocab, "tiny.en", &cache_dir()).expect("generating the random tiny.en model");
    WhisperSpeech::load(&WhisperConfig::new(path, 2)).expect("loading the random model")
}

/// A real model, counting the windows it is given and checking each is at most 30 s.
struct Counting {
    inner: WhisperSpeech,
    calls: usize,
}

impl SpeechToText for Counting {
    fn transcribe(&mut self, samples: &[f32], options: &TranscribeOptions, control: &RunControl) -> models::Result<Transcription> {
        assert!(samples.len() <= 30 * 16_000, "a window of {} samples is over 30 s", samples.len());
        self.calls += 1;
        self.inner.transcribe(samples, options, control)
    }
}

/// Random weights never emit end-of-text: cap the tokens so each window costs the same.
fn options() -> FileTranscribeOptions {
    FileTranscribeOptions {
        speech: TranscribeOptions {
            language: Language::Code("en".into()),
            timestamps: false,
            max_tokens_per_segment: Some(12),
            temperature_fallback: false,
            no_speech_threshold: 1.0,
            ..TranscribeOptions::default()
        },
        ..FileTranscribeOptions::default()
    }
}

#[test]
fn real_clips_in_each_container_are_transcribed_into_cues_inside_the_clip() {
    let mut engine = Counting { inner: model(), calls: 0 };
    let clips: [(PathBuf, u64); 4] = [
        (shared_audio("jfk.wav"), 11_000),
        (shared_audio("note-22khz.wav"), 10_300),
        (shared_audio("jfk.mp3"), 11_100),
        (fixture("jfk.m4a"), 11_100),
    ];
    for (path, clip_ms) in clips {
        let mut updates: Vec<Progress> = Vec::new();
        let transcript = transcribe_file(&path, &mut engine, &options(), &mut |p| updates.push(p))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!transcript.cues.is_empty(), "{}: the random model still produces tokens", path.display());
        for cue in &transcript.cues {
            assert!(cue.start_ms < cue.end_ms && cue.end_ms <= clip_ms, "{}: {cue:?}", path.display());
        }
        assert!(!updates.is_empty());
        let vtt = transcript.to_webvtt();
        let back = Transcript::parse(&vtt).expect("our WebVTT parses");
        assert_eq!(back.cues.len(), transcript.cues.len());
        assert_eq!(back.cues[0].start_ms, transcript.cues[0].start_ms);
    }
    assert!(engine.calls >= 4);
}

#[test]
fn silence_never_reaches_the_model_so_nothing_is_hallucinated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silence.wav");
    write_wav(&path, 16_000, 1, &vec![0.0; 16_000 * 45]);
    let mut engine = Counting { inner: model(), calls: 0 };
    let transcript = transcribe_file(&path, &mut engine, &options(), &mut |_| {}).expect("silence is not an error");
    assert!(transcript.cues.is_empty());
    assert_eq!(engine.calls, 0);
}

#[test]
fn a_stereo_session_is_transcribed_per_channel_with_each_voice() {
    let mut engine = model();
    let opts = FileTranscribeOptions { voices: Voices::PerChannel(vec!["Clinician".into(), "Client".into()]), ..options() };
    let transcript = transcribe_file(&fixture("two-voices-stereo.opus"), &mut engine, &opts, &mut |_| {}).expect("transcribing");
    let clinician: Vec<_> = transcript.cues.iter().filter(|c| c.speaker.as_deref() == Some("Clinician")).collect();
    let client: Vec<_> = transcript.cues.iter().filter(|c| c.speaker.as_deref() == Some("Client")).collect();
    assert!(!clinician.is_empty() && !client.is_empty(), "{transcript:?}");
    assert!(clinician.iter().all(|c| c.start_ms < 5_700));
    assert!(client.iter().all(|c| c.start_ms >= 5_300));
    assert!(transcript.cues.windows(2).all(|w| w[0].start_ms <= w[1].start_ms), "cues are in time order");
    assert!(transcript.to_webvtt().contains("<v Client>"));

    let wrong = FileTranscribeOptions { voices: Voices::PerChannel(vec!["Only one".into()]), ..options() };
    let err = transcribe_file(&fixture("two-voices-stereo.opus"), &mut engine, &wrong, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("1 voice names were given for a recording with 2 channels"), "{err}");
}

#[test]
fn a_cancelled_transcription_stops_with_a_cancelled_error() {
    let mut engine = model();
    let opts = options();
    opts.cancel.cancel();
    let err = transcribe_file(&shared_audio("jfk.wav"), &mut engine, &opts, &mut |_| {}).unwrap_err();
    assert!(matches!(err, ScribeError::Speech(models::Error::Cancelled(_))), "{err}");
}

#[test]
fn a_bad_file_fails_before_the_model_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.docx");
    std::fs::write(&path, b"PK\x03\x04 not audio").unwrap();
    let mut engine = Counting { inner: model(), calls: 0 };
    let err = transcribe_file(&path, &mut engine, &options(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, ScribeError::UnsupportedFormat), "{err}");
    assert_eq!(engine.calls, 0);
}
