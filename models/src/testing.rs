//! Test support shared by this crate's tests and other crates' tests (behind the `testing`
//! feature): nothing here ships in the service.

/// Random-weight ggml Whisper models with real tiny.en / base.en sizes.
pub mod ggml_whisper;
