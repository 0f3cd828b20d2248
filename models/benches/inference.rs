//! `cargo bench -p models --bench inference`: embeddings per second (batches of 32) and tokens
//! per second for stories260K, each with the peak resident memory (VmHWM) of a process that ran
//! only that part. The binary re-runs itself once per part so the peaks do not mix.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use models::embed::{Embedder, MiniLmEmbedder};
use models::textgen::{GenerateRequest, GgufGenerator, SamplingParams, TextGenerator};

const PART_ENV: &str = "HEARTH_BENCH_PART";

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models")
}

/// Peak resident set size in MiB, from /proc/self/status.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn embeddings() {
    let dir = shared().join("all-MiniLM-L6-v2");
    let mut model = MiniLmEmbedder::load(&dir).expect("../shared/models/all-MiniLM-L6-v2 loads");
    let corpus: Vec<String> = (0..32)
        .map(|i| format!("Session note {i}: the client described sleep, work stress and a plan to walk each evening."))
        .collect();
    let batch: Vec<&str> = corpus.iter().map(String::as_str).collect();
    model.embed(&batch).expect("warm-up");
    let rounds = 10;
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(model.embed(&batch).expect("embedding"));
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "embeddings: {:.1} sentences/s (batch 32, ~22 tokens each, {rounds} rounds), peak RSS {:.0} MiB",
        (rounds * batch.len()) as f64 / secs,
        peak_rss_mib()
    );
}

fn textgen() {
    let mut model =
        GgufGenerator::load(&shared().join("stories260K.gguf")).expect("stories260K loads");
    let req = GenerateRequest {
        sampling: SamplingParams {
            seed: 1,
            temperature: 0.8,
            top_p: Some(0.95),
        },
        ..GenerateRequest::text("Once upon a time", 256)
    };
    model
        .generate(&GenerateRequest::text("Hi", 8), &mut |_| {
            ControlFlow::Continue(())
        })
        .expect("warm-up");
    let mut tokens = 0;
    let start = Instant::now();
    for _ in 0..5 {
        tokens += model
            .generate(&req, &mut |_| ControlFlow::Continue(()))
            .expect("generation")
            .generated_tokens;
    }
    let secs = start.elapsed().as_secs_f64();
    let sample = model
        .generate(&GenerateRequest::text("Once upon a time", 40), &mut |_| {
            ControlFlow::Continue(())
        })
        .expect("greedy sample");
    println!("stories260K greedy sample: Once upon a time{}", sample.text);
    println!(
        "stories260K: {:.0} tokens/s ({tokens} generated tokens, sampled, 5 runs), peak RSS {:.0} MiB",
        tokens as f64 / secs,
        peak_rss_mib()
    );
}

fn main() {
    match std::env::var(PART_ENV).as_deref() {
        Ok("embeddings") => embeddings(),
        Ok("textgen") => textgen(),
        _ => {
            let exe = std::env::current_exe().expect("own path");
            for part in ["embeddings", "textgen"] {
                let status = std::process::Command::new(&exe)
                    .env(PART_ENV, part)
                    .status()
                    .expect("re-run self");
                assert!(status.success(), "bench part {part} failed");
            }
        }
    }
}
