//! Evaluation of the scribe and benchmarks of the service: the corpus format, metrics (word
//! error rate, section accuracy, grounding, omissions, risk recall), benchmarks and reports.
//!
//! It never ships in the service binary.
