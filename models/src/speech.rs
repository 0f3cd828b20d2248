//! Speech to text behind a small synchronous trait, [`SpeechToText`], with a whisper.cpp
//! implementation ([`WhisperSpeech`], via whisper-rs) and an adapter that runs any
//! implementation on a dedicated engine thread ([`SpeechEngine`]).
//!
//! Input is always 16 kHz mono `f32` in [-1, 1] (whisper's `WHISPER_SAMPLE_RATE`); decoding,
//! resampling and voice-activity detection belong to the scribe crate. Outputs carry times in
//! milliseconds from the start of the samples given. No text from a transcription is ever
//! logged or put in an error message: it is PHI.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// The whisper.cpp implementation.
mod whisper;
/// Running a speech model on its own engine thread.
mod engine_adapter;

pub use engine_adapter::{SpeechEngine, spawn_speech_engine};
pub use whisper::{WhisperConfig, WhisperSpeech, route_whisper_logs_to_tracing};

/// Whisper's input rate (`WHISPER_SAMPLE_RATE` in whisper.h).
pub const SAMPLE_RATE: u32 = 16_000;

/// The longest input one call accepts: 3 hours. Longer recordings must be windowed by the
/// caller (the scribe cuts at pauses into ≤30 s windows anyway); this bound keeps one request
/// from holding the engine for most of a day.
pub const MAX_SAMPLES: usize = 3 * 60 * 60 * SAMPLE_RATE as usize;

/// Which language the audio is in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Language {
    /// Let the model detect it (multilingual models; English-only models always say `en`).
    #[default]
    Detect,
    /// An ISO 639-1 code whisper knows (`en`, `de`, ...).
    Code(String),
}

/// How to transcribe one piece of audio.
#[derive(Debug, Clone)]
pub struct TranscribeOptions {
    pub language: Language,
    /// Segment-level timestamps from the model. Off: one segment per call, spanning the input.
    pub timestamps: bool,
    /// Per-token times (whisper's `token_timestamps`); needs `timestamps`.
    pub token_timestamps: bool,
    /// A segment whose no-speech probability is above this is dropped (whisper's own
    /// `no_speech_thold` only drops when the log-probability is also low, which lets confident
    /// hallucinations on silence through).
    pub no_speech_threshold: f32,
    /// At most this many tokens per segment (whisper `max_tokens`); `None` for the model's limit.
    pub max_tokens_per_segment: Option<u32>,
    /// Retry at higher temperatures when decoding looks degenerate (whisper's fallback). Off
    /// makes the work per window fixed, which benchmarks need.
    pub temperature_fallback: bool,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        Self {
            language: Language::Detect,
            timestamps: true,
            token_timestamps: false,
            no_speech_threshold: 0.6,
            max_tokens_per_segment: None,
            temperature_fallback: true,
        }
    }
}

impl TranscribeOptions {
    /// Checks the combination; an error says which setting to change.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.no_speech_threshold) {
            return Err(Error::InvalidConfig(format!(
                "no_speech_threshold must be between 0 and 1, got {}",
                self.no_speech_threshold
            )));
        }
        if self.token_timestamps && !self.timestamps {
            return Err(Error::InvalidConfig("token_timestamps needs timestamps on".into()));
        }
        if let Language::Code(code) = &self.language {
            let known = code.len() <= 3 && code.chars().all(|c| c.is_ascii_lowercase());
            if !known {
                return Err(Error::InvalidConfig(format!(
                    "language must be an ISO 639-1 code such as `en`, got {} characters",
                    code.len()
                )));
            }
        }
        Ok(())
    }
}

/// One token with its time span (when token timestamps were asked for).
#[derive(Debug, Clone, PartialEq)]
pub struct TimedToken {
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub probability: f32,
}

/// A stretch of transcribed speech.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechSegment {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    /// The model's probability that this stretch holds no speech.
    pub no_speech_probability: f32,
    /// Empty unless token timestamps were asked for.
    pub tokens: Vec<TimedToken>,
}

/// The result of one call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcription {
    /// The language the model used (detected or given), if it reported one.
    pub language: Option<String>,
    pub segments: Vec<SpeechSegment>,
    /// Segments dropped for a high no-speech probability.
    pub dropped_no_speech: usize,
}

/// Progress in percent (0..=100) of the current call.
pub type ProgressFn = Arc<dyn Fn(u8) + Send + Sync>;

/// Cancels running work when set; cheap to clone and share between threads.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the work to stop at its next check (whisper checks between graph computations).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How a caller follows and stops a call.
#[derive(Clone, Default)]
pub struct RunControl {
    pub cancel: CancelFlag,
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for RunControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunControl")
            .field("cancelled", &self.cancel.is_cancelled())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Speech to text, synchronously. Implementations own their model and are driven by one thread
/// at a time.
pub trait SpeechToText {
    /// Transcribes 16 kHz mono samples into timed segments.
    fn transcribe(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
        control: &RunControl,
    ) -> Result<Transcription>;
}

/// Checks input samples: not empty, not over [`MAX_SAMPLES`], all finite.
pub fn check_samples(samples: &[f32]) -> Result<()> {
    if samples.is_empty() {
        return Err(Error::InvalidRequest("no audio samples to transcribe".into()));
    }
    if samples.len() > MAX_SAMPLES {
        return Err(Error::InvalidRequest(format!(
            "{} s of audio in one call is over the limit of {} s; split it into windows",
            samples.len() / SAMPLE_RATE as usize,
            MAX_SAMPLES / SAMPLE_RATE as usize
        )));
    }
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(Error::InvalidRequest(format!(
            "audio sample {i} is not a finite number; the decoder produced invalid audio"
        )));
    }
    Ok(())
}
