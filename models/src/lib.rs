//! Local inference engines behind small synchronous traits: speech to text (whisper-rs), text
//! generation (candle, quantized GGUF) and sentence embeddings (candle BERT). Each engine runs on
//! a dedicated thread fed by a bounded queue. Also the model manifest (name, file, sha256,
//! licence, source) and loading with checksum verification.
//!
//! It must never open a network connection: downloading models is an explicit command in the
//! assistant, and this crate has no HTTP client in its dependency tree.

/// The crate's error type.
pub mod error;
pub use error::{Error, Result};

/// A dedicated thread per engine, fed by a bounded queue, with health reporting.
pub mod engine;
/// Sentence embeddings with candle's BERT (all-MiniLM-L6-v2).
pub mod embed;
/// Text generation with quantized GGUF models (llama, qwen2) and their tokenizers.
pub mod textgen;
/// Speech to text with whisper-rs.
pub mod speech;
/// Known models: files, sizes, checksums, licences and sources; verified loading.
pub mod manifest;
/// Random-weight ggml Whisper models for tests and benchmarks (feature `testing`).
#[cfg(feature = "testing")]
pub mod testing;
