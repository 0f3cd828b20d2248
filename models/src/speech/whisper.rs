//! [`SpeechToText`] with whisper.cpp through whisper-rs 0.16.
//!
//! One context (the weights) and one decoding state are loaded once and reused for every call.
//! whisper.cpp writes its logs to stderr by default; [`route_whisper_logs_to_tracing`] (called
//! on load) sends them to `tracing` instead, under the `whisper_rs` target.

use std::path::{Path, PathBuf};

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

use super::{
    Language, RunControl, SpeechSegment, SpeechToText, TimedToken, TranscribeOptions, Transcription,
    check_samples,
};
use crate::error::{Error, Result};

/// The most threads one engine may use; more only adds contention on today's CPUs.
pub const MAX_THREADS: usize = 64;

/// How to load a Whisper model.
#[derive(Debug, Clone)]
pub struct WhisperConfig {
    /// A ggml Whisper model file (e.g. `ggml-base.en.bin`).
    pub model_path: PathBuf,
    /// Compute threads for encoder and decoder, 1..=[`MAX_THREADS`].
    pub threads: usize,
}

impl WhisperConfig {
    pub fn new(model_path: impl Into<PathBuf>, threads: usize) -> Self {
        Self { model_path: model_path.into(), threads }
    }
}

/// A loaded Whisper model and its decoding state.
pub struct WhisperSpeech {
    context: WhisperContext,
    state: WhisperState,
    threads: usize,
    multilingual: bool,
}

impl std::fmt::Debug for WhisperSpeech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperSpeech")
            .field("threads", &self.threads)
            .field("multilingual", &self.multilingual)
            .finish_non_exhaustive()
    }
}

/// Sends whisper.cpp's and ggml's log lines to `tracing` rather than stderr (whisper-rs
/// `install_logging_hooks` with its `tracing_backend` feature). Safe to call more than once.
pub fn route_whisper_logs_to_tracing() {
    whisper_rs::install_logging_hooks();
}

impl WhisperSpeech {
    /// Loads the model at `config.model_path`. Errors name the file and say what to do.
    pub fn load(config: &WhisperConfig) -> Result<Self> {
        route_whisper_logs_to_tracing();
        if config.threads == 0 || config.threads > MAX_THREADS {
            return Err(Error::InvalidConfig(format!(
                "speech threads must be between 1 and {MAX_THREADS}, got {}",
                config.threads
            )));
        }
        let path = config.model_path.as_path();
        check_model_file(path)?;
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        let context = WhisperContext::new_with_params(path, params).map_err(|e| {
            Error::bad_model(
                format!("loading the Whisper model {}", path.display()),
                format!("{e}; it is not a ggml Whisper model or is damaged: download it again"),
            )
        })?;
        let state = context
            .create_state()
            .map_err(|e| Error::inference("allocating the Whisper decoding state", e))?;
        let multilingual = context.is_multilingual();
        tracing::info!(threads = config.threads, multilingual, "whisper model loaded");
        Ok(Self { context, state, threads: config.threads, multilingual })
    }

    /// Whether the model knows languages other than English.
    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    fn params<'a>(&self, options: &'a TranscribeOptions, control: &RunControl) -> FullParams<'a, 'a> {
        let mut p = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        p.set_n_threads(self.threads as i32);
        match (&options.language, self.multilingual) {
            (Language::Code(code), _) => p.set_language(Some(code.as_str())),
            (Language::Detect, true) => p.set_language(Some("auto")),
            // An English-only model cannot detect (whisper.cpp returns -3); it speaks English.
            (Language::Detect, false) => p.set_language(Some("en")),
        }
        p.set_no_timestamps(!options.timestamps);
        p.set_single_segment(!options.timestamps);
        p.set_token_timestamps(options.token_timestamps);
        // Each call is independent: conditioning on earlier text carries hallucinations on.
        p.set_no_context(true);
        p.set_no_speech_thold(options.no_speech_threshold);
        if let Some(max) = options.max_tokens_per_segment {
            p.set_max_tokens(max.min(i32::MAX as u32) as i32);
        }
        if !options.temperature_fallback {
            p.set_temperature_inc(0.0);
        }
        p.set_print_special(false);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_timestamps(false);

        let cancel = control.cancel.clone();
        // whisper-rs 0.16's `set_abort_callback_safe` registers `trampoline::<F>` but passes a
        // pointer to a `Box<dyn FnMut() -> bool>`; the two agree only when F is itself that
        // boxed type, so we hand it one.
        let abort: Box<dyn FnMut() -> bool> = Box::new(move || cancel.is_cancelled());
        p.set_abort_callback_safe(abort);
        if let Some(progress) = control.progress.clone() {
            p.set_progress_callback_safe(move |percent: i32| progress(percent.clamp(0, 100) as u8));
        }
        p
    }

    fn collect(&self, options: &TranscribeOptions, total_ms: u64) -> Result<Transcription> {
        let mut out = Transcription::default();
        let lang_id = self.state.full_lang_id_from_state();
        out.language = whisper_rs::get_lang_str(lang_id).map(str::to_string);
        for segment in self.state.as_iter() {
            let no_speech = segment.no_speech_probability();
            if no_speech > options.no_speech_threshold {
                out.dropped_no_speech += 1;
                continue;
            }
            let text = segment
                .to_str_lossy()
                .map_err(|e| Error::inference("reading a Whisper segment", e))?
                .trim()
                .to_string();
            // Whisper timestamps are in centiseconds.
            let (start_ms, end_ms) = if options.timestamps {
                (cs_to_ms(segment.start_timestamp()), cs_to_ms(segment.end_timestamp()))
            } else {
                (0, total_ms)
            };
            let mut tokens = Vec::new();
            if options.token_timestamps {
                for i in 0..segment.n_tokens() {
                    let Some(token) = segment.get_token(i) else { continue };
                    let data = token.token_data();
                    if data.id >= self.context.token_eot() {
                        continue; // special and timestamp tokens carry no text
                    }
                    tokens.push(TimedToken {
                        text: token.to_str_lossy().map(|t| t.into_owned()).unwrap_or_default(),
                        start_ms: cs_to_ms(data.t0),
                        end_ms: cs_to_ms(data.t1),
                        probability: data.p,
                    });
                }
            }
            out.segments.push(SpeechSegment {
                start_ms: start_ms.min(total_ms),
                end_ms: end_ms.min(total_ms).max(start_ms.min(total_ms)),
                text,
                no_speech_probability: no_speech,
                tokens,
            });
        }
        Ok(out)
    }
}

fn cs_to_ms(cs: i64) -> u64 {
    cs.max(0) as u64 * 10
}

fn check_model_file(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::InvalidConfig(format!(
            "the speech model path {} is not a file; pass a ggml Whisper model file",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::InvalidConfig(format!(
            "no speech model at {}: run `hearth models pull base.en` or pass the path of a ggml \
             Whisper model",
            path.display()
        ))),
        Err(e) => Err(Error::io(format!("reading the speech model {}", path.display()), e)),
    }
}

impl SpeechToText for WhisperSpeech {
    fn transcribe(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
        control: &RunControl,
    ) -> Result<Transcription> {
        options.validate()?;
        check_samples(samples)?;
        if control.cancel.is_cancelled() {
            return Err(Error::Cancelled("transcription".into()));
        }
        let total_ms = samples.len() as u64 * 1000 / super::SAMPLE_RATE as u64;
        let params = self.params(options, control);
        let outcome = self.state.full(params, samples);
        if control.cancel.is_cancelled() {
            return Err(Error::Cancelled("transcription".into()));
        }
        outcome.map_err(|e| Error::inference("running Whisper", e))?;
        if let Some(progress) = &control.progress {
            progress(100);
        }
        self.collect(options, total_ms)
    }
}
