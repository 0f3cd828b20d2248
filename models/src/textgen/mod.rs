//! Text generation with quantized GGUF models on candle (llama and qwen2 architectures).
//!
//! [`GgufGenerator`] reads the weights with candle-transformers' `quantized_llama` /
//! `quantized_qwen2`, the tokenizer from the GGUF metadata ([`tokenizer`]), and a chat template
//! from the architecture ([`template`]). Sampling is candle's `LogitsProcessor`, seeded per
//! request so the same request gives the same text (evals must be reproducible). Tokens stream
//! through a callback that can stop generation; stop sequences are held back until they can no
//! longer match, so a caller never sees part of one.

pub mod gpt2;
pub mod spm;
mod stream;
pub mod template;
pub mod tokenizer;

use std::ops::ControlFlow;
use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::{quantized_llama, quantized_qwen2};

use crate::engine::EngineHandle;
use crate::error::{Error, Result};
pub use stream::StopScanner;
pub use template::{ChatTemplate, Message, Role, Segment};
pub use tokenizer::TextTokenizer;

/// What to generate from.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Trusted text used as is (base models, or a prompt the caller templated itself; control
    /// token strings in it are honoured).
    Text(String),
    /// A conversation, rendered with the model's chat template.
    Chat(Vec<Message>),
}

/// How to pick each next token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    /// Seeds the sampler: the same seed and request give the same text.
    pub seed: u64,
    /// 0 means greedy (always the most likely token); otherwise softmax temperature.
    pub temperature: f64,
    /// Nucleus sampling: sample only from the most likely tokens whose probabilities sum to this.
    /// `None` or 1.0 means all tokens.
    pub top_p: Option<f64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            seed: 299_792_458,
            temperature: 0.0,
            top_p: None,
        }
    }
}

/// One generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    /// Most new tokens to produce (1..=[`GenerateRequest::MAX_TOKENS_LIMIT`]).
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Generation ends before any of these strings; the string itself is not returned.
    pub stop: Vec<String>,
}

impl GenerateRequest {
    /// Upper bound for `max_tokens`, whatever the model's context.
    pub const MAX_TOKENS_LIMIT: usize = 8192;
    /// Most stop sequences per request, each at most 256 bytes.
    pub const MAX_STOP_SEQUENCES: usize = 16;

    /// A greedy request for plain text.
    pub fn text(prompt: impl Into<String>, max_tokens: usize) -> Self {
        Self {
            prompt: Prompt::Text(prompt.into()),
            max_tokens,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.max_tokens == 0 || self.max_tokens > Self::MAX_TOKENS_LIMIT {
            return Err(Error::InvalidRequest(format!(
                "max_tokens must be between 1 and {}, got {}",
                Self::MAX_TOKENS_LIMIT,
                self.max_tokens
            )));
        }
        let t = self.sampling.temperature;
        if !t.is_finite() || !(0.0..=5.0).contains(&t) {
            return Err(Error::InvalidRequest(format!(
                "temperature must be between 0 and 5, got {t}"
            )));
        }
        if let Some(p) = self.sampling.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(Error::InvalidRequest(format!(
                "top_p must be in (0, 1], got {p}"
            )));
        }
        if self.stop.len() > Self::MAX_STOP_SEQUENCES
            || self.stop.iter().any(|s| s.is_empty() || s.len() > 256)
        {
            return Err(Error::InvalidRequest(format!(
                "at most {} stop sequences, each 1 to 256 bytes",
                Self::MAX_STOP_SEQUENCES
            )));
        }
        Ok(())
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model produced an end-of-text token.
    EndOfText,
    /// A stop sequence appeared.
    StopSequence,
    /// `max_tokens` were produced.
    MaxTokens,
    /// The model's context window is full.
    ContextFull,
    /// The streaming callback asked to stop (e.g. the client went away).
    Cancelled,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The generated text, without the prompt and without any stop sequence.
    pub text: String,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub finish: FinishReason,
}

/// Generates text; runs on an engine thread (see [`crate::engine`]).
pub trait TextGenerator {
    /// Generates for `req`, calling `on_token` with each new piece of text as it is final.
    /// Returning `ControlFlow::Break` from `on_token` stops generation (`Cancelled`).
    fn generate(
        &mut self,
        req: &GenerateRequest,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation>;
}

/// Runs `req` on a text-generation engine thread, sending each piece of text to `tokens` as it
/// becomes final. If the receiver is dropped (the client went away), generation stops with
/// [`FinishReason::Cancelled`]. Overload is refused at once, as for any engine call.
pub async fn generate_streaming(
    engine: &EngineHandle<Box<dyn TextGenerator>>,
    req: GenerateRequest,
    tokens: tokio::sync::mpsc::Sender<String>,
) -> Result<Generation> {
    engine
        .call(move |model: &mut Box<dyn TextGenerator>| {
            model.generate(&req, &mut |piece| {
                // On the engine thread (not async), so a blocking send applies back-pressure.
                match tokens.blocking_send(piece.to_string()) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                }
            })
        })
        .await
}

/// The supported GGUF architectures.
enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
}

impl Weights {
    fn forward(&mut self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Weights::Llama(m) => m.forward(x, pos),
            Weights::Qwen2(m) => m.forward(x, pos),
        }
    }

    fn clear_kv_cache(&mut self) {
        match self {
            Weights::Llama(m) => m.clear_kv_cache(),
            Weights::Qwen2(m) => m.clear_kv_cache(),
        }
    }
}

/// A quantized GGUF model with its tokenizer and chat template.
pub struct GgufGenerator {
    weights: Weights,
    tokenizer: TextTokenizer,
    template: ChatTemplate,
    context_length: usize,
    architecture: String,
    device: Device,
}

impl GgufGenerator {
    /// Loads a GGUF file (llama or qwen2), its tokenizer and its template.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with_tokenizer(path, None)
    }

    /// Checks model `name`'s file in the models folder against the manifest (size and SHA-256),
    /// then loads it. A missing or damaged file is an error naming it and `hearth models pull`.
    pub fn load_verified(name: &str, models_dir: &Path) -> Result<Self> {
        let files = crate::manifest::verified_paths(name, models_dir)?;
        let gguf = files
            .first()
            .ok_or_else(|| Error::UnknownModel(name.to_string()))?;
        Self::load(gguf)
    }

    /// Loads a GGUF file with a tokenizer from elsewhere (e.g. a `tokenizer.json`, see
    /// [`TextTokenizer::from_tokenizer_json`]) instead of the one in its metadata.
    pub fn load_with_tokenizer(path: &Path, tokenizer: Option<TextTokenizer>) -> Result<Self> {
        let ctx = format!("loading GGUF model {}", path.display());
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(&ctx, e))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| Error::bad_model(&ctx, e))?;
        let md = &content.metadata;
        let architecture = md
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .ok_or_else(|| Error::bad_model(&ctx, "general.architecture is missing"))?;
        let context_length = md
            .get(&format!("{architecture}.context_length"))
            .and_then(|v| v.to_u32().ok())
            .map_or(2048, |n| n as usize);
        let tokenizer = match tokenizer {
            Some(t) => t,
            None => TextTokenizer::from_gguf(md)?,
        };
        let chat_template = md
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok());
        let template = ChatTemplate::detect(&architecture, chat_template.map(String::as_str));
        let device = Device::Cpu;
        let weights = match architecture.as_str() {
            "llama" => Weights::Llama(
                quantized_llama::ModelWeights::from_gguf(content, &mut file, &device)
                    .map_err(|e| Error::bad_model(&ctx, e))?,
            ),
            "qwen2" => Weights::Qwen2(
                quantized_qwen2::ModelWeights::from_gguf(content, &mut file, &device)
                    .map_err(|e| Error::bad_model(&ctx, e))?,
            ),
            other => {
                return Err(Error::bad_model(
                    &ctx,
                    format!("architecture `{other}` is not supported (llama, qwen2)"),
                ));
            }
        };
        Ok(Self {
            weights,
            tokenizer,
            template,
            context_length,
            architecture,
            device,
        })
    }

    /// The tokenizer (for counting tokens, tests).
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The chat template in use.
    pub fn template(&self) -> ChatTemplate {
        self.template
    }

    /// GGUF `general.architecture`.
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The model's context window in tokens.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Prompt token ids: trusted text as is, conversations through the template's segments.
    pub fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        match prompt {
            Prompt::Text(t) => self.tokenizer.encode_prompt(t),
            Prompt::Chat(messages) => self
                .tokenizer
                .encode_segments(&self.template.segments(messages)),
        }
    }
}

impl TextGenerator for GgufGenerator {
    fn generate(
        &mut self,
        req: &GenerateRequest,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation> {
        req.validate()?;
        let prompt = self.prompt_tokens(&req.prompt)?;
        if prompt.is_empty() {
            return Err(Error::InvalidRequest(
                "the prompt is empty and the model has no BOS token".into(),
            ));
        }
        if prompt.len() >= self.context_length {
            return Err(Error::InvalidRequest(format!(
                "the prompt is {} tokens; this model's context is {} — shorten it",
                prompt.len(),
                self.context_length
            )));
        }
        let candle = |e: candle_core::Error| Error::inference("generating text", e);
        let sampling = match (req.sampling.temperature, req.sampling.top_p) {
            (t, _) if t <= 0.0 => Sampling::ArgMax,
            (temperature, Some(p)) if p < 1.0 => Sampling::TopP { p, temperature },
            (temperature, _) => Sampling::All { temperature },
        };
        let mut sampler = LogitsProcessor::from_sampling(req.sampling.seed, sampling);
        self.weights.clear_kv_cache();
        let mut scanner = StopScanner::new(&req.stop);
        let mut input = Tensor::new(prompt.as_slice(), &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(candle)?;
        let mut pos = 0;
        let mut generated = 0;
        let finish = loop {
            if generated == req.max_tokens {
                break FinishReason::MaxTokens;
            }
            if pos + input.dim(1).map_err(candle)? >= self.context_length {
                break FinishReason::ContextFull;
            }
            let logits = self
                .weights
                .forward(&input, pos)
                .and_then(|l| l.squeeze(0))
                .map_err(candle)?;
            pos += input.dim(1).map_err(candle)?;
            let next = sampler.sample(&logits).map_err(candle)?;
            if self.tokenizer.eos.contains(&next) {
                break FinishReason::EndOfText;
            }
            generated += 1;
            let step = scanner.push(&self.tokenizer.token_bytes(next));
            if !step.emit.is_empty() && on_token(&step.emit).is_break() {
                break FinishReason::Cancelled;
            }
            if step.stopped {
                break FinishReason::StopSequence;
            }
            input = Tensor::new(&[next], &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(candle)?;
        };
        if finish != FinishReason::StopSequence && finish != FinishReason::Cancelled {
            let rest = scanner.finish();
            if !rest.is_empty() {
                // The answer is complete either way; a late cancel changes nothing.
                let _ = on_token(&rest);
            }
        }
        Ok(Generation {
            text: scanner.text().to_string(),
            prompt_tokens: prompt.len(),
            generated_tokens: generated,
            finish,
        })
    }
}
