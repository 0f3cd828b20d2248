//! The crate's one error type. Messages never carry input text (it can be PHI): they name the
//! engine, the file or the limit, and say what to do.

use std::path::PathBuf;

/// Everything that can go wrong loading or running a local model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine's bounded queue is full; the caller should answer 429/503 and retry later.
    #[error("the {engine} engine is overloaded ({capacity} requests already queued); retry later")]
    Overloaded { engine: String, capacity: usize },

    /// The engine is still loading its model.
    #[error("the {engine} engine is still loading its model; retry shortly")]
    NotReady { engine: String },

    /// The engine failed to load or stopped after a fault; it will not answer again.
    #[error("the {engine} engine is not available: {reason}")]
    EngineFailed { engine: String, reason: String },

    /// A health ping got no answer in time (the engine is busy or stuck).
    #[error("the {engine} engine did not answer a health ping within {millis} ms")]
    PingTimeout { engine: String, millis: u128 },

    /// A setting is out of range (queue capacity, token limits, sampling parameters...).
    #[error("invalid setting: {0}")]
    InvalidConfig(String),

    /// A model file is not where the manifest says it should be.
    #[error("model file {} is missing; run `hearth models pull {name}`", path.display())]
    MissingModel { name: String, path: PathBuf },

    /// A model file's checksum does not match the manifest.
    #[error(
        "model file {} has sha256 {actual}, expected {expected}; it is damaged or a different \
         version: run `hearth models pull {name}`",
        path.display()
    )]
    HashMismatch {
        name: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// The manifest does not know a model by this name.
    #[error("unknown model `{0}`; run `hearth models list` to see the known models")]
    UnknownModel(String),

    /// Reading a file failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A model file is readable but not in the expected format.
    #[error("{context}: {reason}")]
    BadModel { context: String, reason: String },

    /// Tokenising or detokenising failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The request itself is unusable (empty batch, prompt longer than the context...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The caller cancelled the work (e.g. a transcription) before it finished.
    #[error("{0} was cancelled")]
    Cancelled(String),

    /// The inference backend failed while running.
    #[error("{context}: {reason}")]
    Inference { context: String, reason: String },
}

impl Error {
    /// An I/O error with what was being done when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A backend error (candle, whisper) with what was being done when it happened.
    pub fn inference(context: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Inference {
            context: context.into(),
            reason: reason.to_string(),
        }
    }

    /// A malformed model file, with what was being read.
    pub fn bad_model(context: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::BadModel {
            context: context.into(),
            reason: reason.to_string(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
