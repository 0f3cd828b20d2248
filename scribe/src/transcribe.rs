//! Transcribing a recording file end to end: the streaming audio front end feeds speech
//! windows to a [`SpeechToText`] (a loaded model or the shared engine), and the segments come
//! back as cues on the recording's own timeline. A stereo recording with one speaker per
//! channel can be transcribed channel by channel, each with its own voice name.

use std::path::Path;

use models::speech::{CancelFlag, RunControl, SpeechToText, TranscribeOptions};

use crate::audio::{ChannelMode, PipelineConfig, SpeechWindows};
use crate::error::{Result, ScribeError};
use crate::transcript::{Cue, Transcript};

/// Who speaks where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Voices {
    /// All channels mixed; every cue gets this voice (or none).
    Mixed(Option<String>),
    /// One speaker per channel, named in channel order (`["Clinician", "Client"]`).
    PerChannel(Vec<String>),
}

impl Default for Voices {
    fn default() -> Self {
        Voices::Mixed(None)
    }
}

/// How to transcribe a file.
#[derive(Debug, Clone, Default)]
pub struct FileTranscribeOptions {
    pub pipeline: PipelineConfig,
    pub speech: TranscribeOptions,
    pub voices: Voices,
    /// Set it from another thread to stop between windows and inside the model.
    pub cancel: CancelFlag,
}

/// Where a transcription is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Audio covered so far on the recording's timeline (per channel pass), in ms.
    pub processed_ms: u64,
    /// The recording's declared length, when the file declares one.
    pub total_ms: Option<u64>,
    /// Overall fraction done (0..=1), when the length is known.
    pub fraction: Option<f32>,
    pub windows_done: u64,
}

/// Transcribes the file at `path` with `engine`, calling `progress` after every window.
pub fn transcribe_file(
    path: &Path,
    engine: &mut dyn SpeechToText,
    options: &FileTranscribeOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Transcript> {
    options.speech.validate()?;
    let passes: Vec<(ChannelMode, Option<String>)> = match &options.voices {
        Voices::Mixed(name) => vec![(options.pipeline.channel, name.clone())],
        Voices::PerChannel(names) => {
            if names.is_empty() {
                return Err(ScribeError::InvalidConfig("per-channel voices need at least one name".into()));
            }
            names.iter().enumerate().map(|(i, n)| (ChannelMode::Channel(i), Some(n.clone()))).collect()
        }
    };
    let control = RunControl { cancel: options.cancel.clone(), progress: None };
    let mut cues = Vec::new();
    let mut windows_done = 0;
    for (pass, (channel, voice)) in passes.iter().enumerate() {
        let config = PipelineConfig { channel: *channel, ..options.pipeline.clone() };
        let mut windows = SpeechWindows::open(path, &config)?;
        if let Voices::PerChannel(names) = &options.voices
            && names.len() != windows.channels()
        {
            return Err(ScribeError::InvalidConfig(format!(
                "{} voice names were given for a recording with {} channels",
                names.len(),
                windows.channels()
            )));
        }
        let total_ms = windows.declared_duration_ms();
        while let Some(window) = windows.next() {
            let window = window?;
            if options.cancel.is_cancelled() {
                return Err(ScribeError::Speech(models::Error::Cancelled("transcription".into())));
            }
            let result = engine.transcribe(&window.samples, &options.speech, &control)?;
            for segment in result.segments {
                if segment.text.trim().is_empty() {
                    continue;
                }
                let start_ms = window.to_original_ms(segment.start_ms);
                let end_ms = window.to_original_ms(segment.end_ms).max(start_ms);
                cues.push(Cue { start_ms, end_ms, speaker: voice.clone(), text: segment.text });
            }
            windows_done += 1;
            let processed_ms = windows.position_ms();
            let fraction = total_ms.filter(|&t| t > 0).map(|t| {
                ((pass as f32 + (processed_ms as f32 / t as f32).min(1.0)) / passes.len() as f32).min(1.0)
            });
            progress(Progress { processed_ms, total_ms, fraction, windows_done });
        }
        tracing::debug!(stats = ?windows.stats(), "audio front end finished a pass");
    }
    // Channel passes interleave in time; a stable sort keeps each pass's order for equal starts.
    cues.sort_by_key(|c| c.start_ms);
    Ok(Transcript { cues })
}
