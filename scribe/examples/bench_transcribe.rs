//! The Rust side of the speech benchmark (evals/bench/whisper_raw/run.sh): a whole file through
//! the scribe front end and whisper-rs with the same fixed-work parameters as the C driver.
//!
//!   bench_transcribe MODEL AUDIO THREADS MAX_TOKENS [--no-vad]
//!
//! Prints one JSON line: audio seconds, wall seconds (model load included, as in the C driver),
//! real-time factor, windows sent to the model, and peak RSS (VmHWM from /proc/self/status).

use std::path::PathBuf;
use std::time::Instant;

use models::speech::{Language, TranscribeOptions, WhisperConfig, WhisperSpeech};
use scribe::audio::PipelineConfig;
use scribe::{FileTranscribeOptions, transcribe_file};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err("usage: bench_transcribe MODEL AUDIO THREADS MAX_TOKENS [--no-vad]".into());
    }
    let (model, audio) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let threads: usize = args[2].parse()?;
    let max_tokens: u32 = args[3].parse()?;
    let vad = !args.iter().any(|a| a == "--no-vad");

    let started = Instant::now();
    let mut engine = WhisperSpeech::load(&WhisperConfig::new(&model, threads))?;
    let options = FileTranscribeOptions {
        pipeline: PipelineConfig { voice_activity_detection: vad, ..PipelineConfig::default() },
        speech: TranscribeOptions {
            language: Language::Code("en".into()),
            timestamps: false,
            max_tokens_per_segment: Some(max_tokens),
            temperature_fallback: false,
            no_speech_threshold: 1.0,
            ..TranscribeOptions::default()
        },
        ..FileTranscribeOptions::default()
    };
    let mut windows = 0;
    let mut audio_ms = 0;
    let transcript = transcribe_file(&audio, &mut engine, &options, &mut |p| {
        windows = p.windows_done;
        audio_ms = p.total_ms.unwrap_or(p.processed_ms);
    })?;
    let wall = started.elapsed().as_secs_f64();
    let audio_s = audio_ms as f64 / 1000.0;
    println!(
        "{{\"side\":\"hearth{}\",\"audio_s\":{audio_s:.1},\"wall_s\":{wall:.2},\"rtf\":{:.4},\"windows\":{windows},\"cues\":{},\"peak_rss_mib\":{:.1}}}",
        if vad { "" } else { "-no-vad" },
        wall / audio_s.max(0.001),
        transcript.cues.len(),
        peak_rss_mib()
    );
    Ok(())
}
