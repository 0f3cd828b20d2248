//! Writes a random-weight ggml Whisper model (real tiny.en or base.en sizes) for pipeline tests
//! and speed benchmarks: `make-ggml-whisper tiny.en|base.en OUT.bin [VOCAB_FILE] [SEED]`.
//! The vocabulary file defaults to `$HEARTH_MODELS_DIR/ggml-vocab-tiny.en.bin`.

use std::path::PathBuf;
use std::process::ExitCode;

use models::testing::ggml_whisper::{WhisperDims, vocab_file, write_random_model};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: make-ggml-whisper tiny.en|base.en OUT.bin [VOCAB_FILE] [SEED]";
    let (Some(size), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let Some(dims) = WhisperDims::by_name(size) else {
        eprintln!("unknown size `{size}`; {usage}");
        return ExitCode::from(2);
    };
    let vocab = match args.get(2) {
        Some(p) => Ok(PathBuf::from(p)),
        None => vocab_file(),
    };
    let seed = match args.get(3).map(|s| s.parse::<u64>()) {
        None => 0x4845_4152_5448,
        Some(Ok(seed)) => seed,
        Some(Err(_)) => {
            eprintln!("the seed must be a whole number; {usage}");
            return ExitCode::from(2);
        }
    };
    match vocab.and_then(|v| write_random_model(&v, &dims, seed, PathBuf::from(out).as_path())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make-ggml-whisper: {e}");
            ExitCode::FAILURE
        }
    }
}
