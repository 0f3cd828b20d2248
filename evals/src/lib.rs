//! Evaluation of the scribe and benchmarks of the service: the corpus format, metrics (word
//! error rate, section accuracy, grounding, omissions, risk recall), benchmarks and reports.
//!
//! It never ships in the service binary.

/// The corpus format: transcripts with gold annotations.
/// Speech-to-text word error rate for a model the user supplies.
pub mod asr;
pub mod corpus;
/// Draft time and peak memory against transcript length.
pub mod draft_bench;
/// The reminder scheduler's due scan over a large schedule.
pub mod reminder_bench;
/// Gateway load: inbound webhook latency and dispatch throughput against a fake Twilio.
pub mod gateway_bench;
/// Scores of a draft and of risk flags against gold.
pub mod metrics;
/// The committed report gathered from every eval and benchmark.
pub mod report;
/// Running the scribe over corpora and writing the report.
pub mod scribe_eval;
