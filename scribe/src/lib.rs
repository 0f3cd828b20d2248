//! The scribe pipeline: audio decode and resample to 16 kHz mono, voice-activity detection,
//! transcription into timed speaker turns, section assignment, drafts with per-sentence evidence,
//! the grounding check, risk flags, CPT suggestion and long-session handling.
//!
//! It must not persist anything or reach the network: callers hand it audio or a transcript and
//! get a draft back; storing it is the assistant's job.

/// The audio front end: decode, resample, voice-activity detection, windows.
pub mod audio;
/// The CPT psychotherapy code suggested from session kind and time, with its reason.
pub mod cpt;
/// Progress-note drafts with per-sentence evidence, in any note format.
pub mod draft;
/// The crate's error type.
pub mod error;
/// Risk flags from the transcript: suicidal and homicidal ideation, self-harm, abuse, relapse.
pub mod risk;
/// Transcribing a recording file into a transcript.
pub mod transcribe;
/// Transcripts and their WebVTT form.
pub mod transcript;

pub use draft::{Draft, DraftMode, DraftOptions, DraftSection, DraftSentence, SessionAnalysis, draft_transcript};
pub use error::{Result, ScribeError};
pub use transcribe::{FileTranscribeOptions, Progress, Voices, transcribe_file};
pub use transcript::{Cue, Transcript};
