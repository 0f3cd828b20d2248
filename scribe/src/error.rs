//! The scribe's error type. Messages never carry transcript text, file names or paths (they
//! can name a client); they say what was wrong and what to do.

use crate::audio::decode::SUPPORTED_FORMATS;

/// Everything that can go wrong in the scribe pipeline.
#[derive(Debug, thiserror::Error)]
pub enum ScribeError {
    #[error("{context}: {source}")]
    Io { context: String, #[source] source: std::io::Error },

    #[error("the audio file is empty; record again or choose another file")]
    EmptyAudio,

    #[error("the file is not in a supported audio format; supported: {SUPPORTED_FORMATS}. Convert it, e.g. `ffmpeg -i INPUT -ar 16000 -ac 1 out.wav`")]
    UnsupportedFormat,

    #[error("the file's audio codec is not supported; supported: {SUPPORTED_FORMATS}")]
    UnsupportedCodec,

    #[error("the file has no audio track")]
    NoAudioTrack,

    #[error("the audio is damaged and cannot be decoded ({0}); re-export or re-record it")]
    CorruptAudio(String),

    #[error("{0} audio channels are not supported (at most 8, Opus at most 2)")]
    UnsupportedChannels(usize),

    #[error("a sample rate of {0} Hz is not supported (8,000 to 192,000 Hz)")]
    UnsupportedSampleRate(u32),

    #[error("channel {requested} was asked for but the recording has {available} (channels count from 0)")]
    NoSuchChannel { requested: usize, available: usize },

    #[error("resampling to 16 kHz failed: {0}")]
    Resample(String),

    #[error("the recording is {seconds} s long, over the limit of {limit} s; split it first")]
    TooLong { seconds: u64, limit: u64 },

    #[error("speech to text failed: {0}")]
    Speech(#[from] models::Error),

    #[error("the transcript is not valid WebVTT: line {line}: {reason}")]
    BadTranscript { line: usize, reason: String },

    #[error("invalid setting: {0}")]
    InvalidConfig(String),
}

impl ScribeError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ScribeError::Io { context: context.into(), source }
    }
}

/// The crate's result type.
pub type Result<T, E = ScribeError> = std::result::Result<T, E>;
