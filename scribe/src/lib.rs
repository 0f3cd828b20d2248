//! The scribe pipeline: audio decode and resample to 16 kHz mono, voice-activity detection,
//! transcription into timed speaker turns, section assignment, drafts with per-sentence evidence,
//! the grounding check, risk flags, CPT suggestion and long-session handling.
//!
//! It must not persist anything or reach the network: callers hand it audio or a transcript and
//! get a draft back; storing it is the assistant's job.
