//! `hearth models list|pull` and `hearth scribe transcribe`: the commands that fetch the local
//! models and turn a recording into a transcript on this machine. Downloading lives here, never
//! in the `models` crate, which has no network access at all.

use crate::cli::{ModelsCommand, ScribeCommand, TranscribeArgs};
use crate::model_download::{PullOptions, PullProgress, pull_model};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use models::manifest::{self, FileState, Task};
use models::speech::{Language, WhisperConfig, WhisperSpeech};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// The speech model `scribe transcribe` uses when none is named.
pub const DEFAULT_SPEECH_MODEL: &str = "base.en";

pub async fn run_models(command: ModelsCommand) -> anyhow::Result<()> {
    match command {
        ModelsCommand::List { models_dir } => {
            let dir = models_dir.unwrap_or_else(manifest::models_dir);
            print!("{}", render_list(&dir));
            Ok(())
        }
        ModelsCommand::Pull { name, models_dir } => {
            let mut options = PullOptions::from_env();
            if let Some(dir) = models_dir {
                options.dir = dir;
            }
            std::fs::create_dir_all(&options.dir)
                .with_context(|| format!("creating the models folder {}", options.dir.display()))?;
            let bar = new_bar();
            let mut on_progress = |p: PullProgress| match p {
                PullProgress::AlreadyPresent { file } => bar.println(format!("{file}: already present and verified")),
                PullProgress::Started { file, from, total } => {
                    bar.set_message(file);
                    bar.set_length(total);
                    bar.set_position(from);
                }
                PullProgress::Advanced { done, .. } => bar.set_position(done),
                PullProgress::Retrying { file, done, attempt } => {
                    bar.println(format!("{file}: connection lost at {done} bytes; resuming (attempt {attempt})"))
                }
                PullProgress::Verified { file } => bar.println(format!("{file}: checksum verified")),
            };
            let paths = pull_model(&name, &options, &mut on_progress).await;
            bar.finish_and_clear();
            let paths = paths?;
            for path in paths {
                println!("{}", path.display());
            }
            Ok(())
        }
    }
}

/// The table `hearth models list` prints.
pub fn render_list(dir: &Path) -> String {
    let mut out = format!("Models folder: {}\n", dir.display());
    out.push_str(&format!("{:<24} {:<16} {:>9}  {:<10} {}\n", "NAME", "TASK", "SIZE", "STATE", "LICENCE"));
    for status in manifest::models_status(dir) {
        let state = if status.is_ready() {
            "ready".to_string()
        } else if status.files.iter().all(|(_, s)| *s == FileState::Missing) {
            "missing".to_string()
        } else {
            "damaged".to_string()
        };
        let task = match status.spec.task {
            Task::SpeechToText => "speech to text",
            Task::TextGeneration => "text generation",
            Task::Embedding => "embeddings",
        };
        out.push_str(&format!(
            "{:<24} {:<16} {:>9}  {:<10} {}\n",
            status.spec.name,
            task,
            human_size(status.spec.size()),
            state,
            status.spec.licence
        ));
        for (path, s) in &status.files {
            match s {
                FileState::Verified | FileState::Missing => {}
                FileState::WrongSize { actual } => {
                    out.push_str(&format!("    {} has {actual} bytes, not the published size\n", path.display()))
                }
                FileState::WrongHash { .. } => {
                    out.push_str(&format!("    {} does not match its published SHA-256\n", path.display()))
                }
            }
        }
    }
    out.push_str("Fetch one with `hearth models pull NAME`.\n");
    out
}

pub async fn run_scribe(command: ScribeCommand) -> anyhow::Result<()> {
    match command {
        // Decoding and inference are blocking CPU work: keep them off the async runtime.
        ScribeCommand::Transcribe(args) => tokio::task::spawn_blocking(move || transcribe(args))
            .await
            .context("the transcription thread stopped unexpectedly")?,
        ScribeCommand::Draft(args) => tokio::task::spawn_blocking(move || crate::scribe_commands::draft(args))
            .await
            .context("the drafting thread stopped unexpectedly")?,
        ScribeCommand::Run(args) => tokio::task::spawn_blocking(move || crate::scribe_commands::run(args))
            .await
            .context("the scribe thread stopped unexpectedly")?,
    }
}

fn transcribe(args: TranscribeArgs) -> anyhow::Result<()> {
    let transcript = transcribe_recording(&args.file, &args.model, args.models_dir.as_deref(), args.language, &args.speakers, args.threads)?;
    if args.vtt {
        print!("{}", transcript.to_webvtt());
    } else {
        for cue in &transcript.cues {
            let who = cue.speaker.as_deref().map(|s| format!("{s}: ")).unwrap_or_default();
            println!("[{}] {who}{}", clock(cue.start_ms), cue.text);
        }
    }
    Ok(())
}

/// Transcribes `file` with the speech model `model` (a manifest name or a ggml file), showing a
/// progress bar on a terminal. `speakers` names the channels of a stereo recording.
pub(crate) fn transcribe_recording(
    file: &Path,
    model: &str,
    models_dir: Option<&Path>,
    language: Option<String>,
    speakers: &[String],
    threads: Option<usize>,
) -> anyhow::Result<scribe::Transcript> {
    let model_path = resolve_speech_model(model, models_dir)?;
    if !file.is_file() {
        bail!("no recording at {}: give the path of an audio file (WAV, MP3, FLAC, OGG/Opus or M4A)", file.display());
    }
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut engine = WhisperSpeech::load(&WhisperConfig::new(&model_path, threads))?;
    let mut options = scribe::FileTranscribeOptions::default();
    if let Some(code) = language {
        options.speech.language = Language::Code(code);
    }
    if !speakers.is_empty() {
        options.voices = scribe::Voices::PerChannel(speakers.to_vec());
    }
    let bar = if std::io::stderr().is_terminal() { new_bar() } else { ProgressBar::hidden() };
    bar.set_length(1000);
    bar.set_message("transcribing");
    let mut on_progress = |p: scribe::Progress| {
        if let Some(f) = p.fraction {
            bar.set_position((f.clamp(0.0, 1.0) * 1000.0) as u64);
        }
    };
    let transcript = scribe::transcribe_file(file, &mut engine, &options, &mut on_progress);
    bar.finish_and_clear();
    Ok(transcript?)
}

/// `--model` is a manifest name (checked against its published hash) or a path to a ggml file.
pub(crate) fn resolve_speech_model(model: &str, models_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Ok(spec) = manifest::find(model) {
        if spec.task != Task::SpeechToText {
            bail!("`{model}` is not a speech model; speech models: {}", speech_model_names());
        }
        let dir = models_dir.map(Path::to_path_buf).unwrap_or_else(manifest::models_dir);
        let paths = manifest::verified_paths(model, &dir)?;
        return paths.into_iter().next().context("the manifest lists no file for this model");
    }
    let path = PathBuf::from(model);
    if path.is_file() {
        return Ok(path);
    }
    bail!(
        "`{model}` is neither a known speech model ({}) nor a model file; run `hearth models list` to see what is installed",
        speech_model_names()
    )
}

fn speech_model_names() -> String {
    manifest::MODELS.iter().filter(|m| m.task == Task::SpeechToText).map(|m| m.name).collect::<Vec<_>>().join(", ")
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {percent:>3}% {bytes}/{total_bytes} eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

fn human_size(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= 1024.0 * MB {
        format!("{:.1} GiB", bytes as f64 / (1024.0 * MB))
    } else {
        format!("{:.1} MiB", bytes as f64 / MB)
    }
}

fn clock(ms: u64) -> String {
    format!("{:02}:{:02}:{:02}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_marks_missing_models_and_says_how_to_fetch_them() {
        let dir = tempfile::tempdir().unwrap();
        let text = render_list(dir.path());
        assert!(text.contains("base.en"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("base.en") && l.contains("missing")), "{text}");
        assert!(text.contains("hearth models pull NAME"));
    }

    #[test]
    fn an_unknown_model_name_lists_the_speech_models() {
        let err = resolve_speech_model("huge.en", None).unwrap_err().to_string();
        assert!(err.contains("tiny.en") && err.contains("base.en"), "{err}");
    }

    #[test]
    fn a_text_model_is_refused_for_speech() {
        let err = resolve_speech_model("stories260K", None).unwrap_err().to_string();
        assert!(err.contains("not a speech model"), "{err}");
    }

    #[test]
    fn clock_formats_hours_minutes_seconds() {
        assert_eq!(clock(3_723_000), "01:02:03");
    }
}
