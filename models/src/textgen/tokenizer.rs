//! The text-generation tokenizer: read from GGUF metadata (`tokenizer.ggml.*`, see the GGUF
//! spec's "Tokenizer" section) or from a Hugging Face `tokenizer.json`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;

use super::gpt2::{ByteLevelBpe, GPT2_PATTERN, QWEN2_PATTERN};
use super::spm::{PieceKind, SentencePiece};
use super::template::Segment;
use crate::error::{Error, Result};

/// One of the supported vocabularies.
#[derive(Debug)]
pub enum Vocabulary {
    /// `tokenizer.ggml.model = "llama"`: SentencePiece pieces with scores.
    SentencePiece(Box<SentencePiece>),
    /// `tokenizer.ggml.model = "gpt2"`: byte-level BPE with merges.
    ByteLevel(Box<ByteLevelBpe>),
    /// A Hugging Face `tokenizer.json` supplied next to the model.
    HuggingFace(Box<tokenizers::Tokenizer>),
}

/// A vocabulary plus the special ids generation needs.
#[derive(Debug)]
pub struct TextTokenizer {
    vocab: Vocabulary,
    /// Prepended to prompts when the model expects it (`tokenizer.ggml.add_bos_token`).
    pub bos: Option<u32>,
    /// Ends generation. Chat models may have several (ChatML's `<|im_end|>` too).
    pub eos: Vec<u32>,
}

impl TextTokenizer {
    /// Reads the tokenizer from GGUF metadata.
    pub fn from_gguf(md: &HashMap<String, Value>) -> Result<Self> {
        let ctx = "reading the tokenizer from GGUF metadata";
        let get = |key: &str| md.get(key);
        let model = get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .ok_or_else(|| {
                Error::bad_model(
                    ctx,
                    "tokenizer.ggml.model is missing; supply a tokenizer.json",
                )
            })?;
        let tokens = strings(get("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens")?;
        let kinds: Vec<PieceKind> = match get("tokenizer.ggml.token_type") {
            Some(v) => ints(v, "tokenizer.ggml.token_type")?
                .into_iter()
                .map(PieceKind::from_gguf)
                .collect(),
            None => Vec::new(),
        };
        let id = |key: &str| {
            get(key)
                .and_then(|v| v.to_u32().ok())
                .filter(|&id| (id as usize) < tokens.len())
        };
        let (vocab, default_add_bos) = match model.as_str() {
            "llama" => {
                let scores = match get("tokenizer.ggml.scores") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|v| v.to_f32().map_err(|e| Error::bad_model(ctx, e)))
                        .collect::<Result<Vec<f32>>>()?,
                    _ => return Err(Error::bad_model(ctx, "tokenizer.ggml.scores is missing")),
                };
                let unk = id("tokenizer.ggml.unknown_token_id").unwrap_or(0);
                let sp = SentencePiece::new(tokens.clone(), scores, kinds, unk)
                    .map_err(|e| Error::bad_model(ctx, e))?;
                (Vocabulary::SentencePiece(Box::new(sp)), true)
            }
            "gpt2" => {
                let merges = strings(get("tokenizer.ggml.merges"), "tokenizer.ggml.merges")?;
                let specials: Vec<u32> = kinds
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| matches!(k, PieceKind::Control | PieceKind::UserDefined))
                    .map(|(i, _)| i as u32)
                    .collect();
                let pre = get("tokenizer.ggml.pre")
                    .and_then(|v| v.to_string().ok())
                    .map(String::as_str);
                let pattern = if pre == Some("qwen2") {
                    QWEN2_PATTERN
                } else {
                    GPT2_PATTERN
                };
                let bpe = ByteLevelBpe::new(tokens.clone(), &merges, &specials, pattern)
                    .map_err(|e| Error::bad_model(ctx, e))?;
                (Vocabulary::ByteLevel(Box::new(bpe)), false)
            }
            other => {
                return Err(Error::bad_model(
                    ctx,
                    format!(
                        "tokenizer model `{other}` is not supported (llama or gpt2); supply a tokenizer.json"
                    ),
                ));
            }
        };
        let add_bos = get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(default_add_bos);
        let mut eos: Vec<u32> = id("tokenizer.ggml.eos_token_id").into_iter().collect();
        // ChatML turns end with <|im_end|>; Qwen2 GGUFs name <|endoftext|> as EOS.
        for end in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>"] {
            if let Some(i) = tokens.iter().position(|t| t == end)
                && !eos.contains(&(i as u32))
            {
                eos.push(i as u32);
            }
        }
        Ok(Self {
            vocab,
            bos: if add_bos {
                id("tokenizer.ggml.bos_token_id")
            } else {
                None
            },
            eos,
        })
    }

    /// Reads a Hugging Face `tokenizer.json`; `eos` names the end tokens (e.g. `<|im_end|>`).
    pub fn from_tokenizer_json(path: &Path, eos_tokens: &[&str]) -> Result<Self> {
        let mut tok = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| Error::bad_model(format!("parsing {}", path.display()), e))?;
        // A prompt is one sequence: padding it, or silently cutting it, would corrupt generation
        // (the context check reports prompts that are too long).
        tok.with_padding(None);
        tok.with_truncation(None)
            .map_err(|e| Error::Tokenizer(format!("disabling truncation: {e}")))?;
        let eos = eos_tokens
            .iter()
            .filter_map(|t| tok.token_to_id(t))
            .collect();
        Ok(Self {
            vocab: Vocabulary::HuggingFace(Box::new(tok)),
            bos: None,
            eos,
        })
    }

    /// Builds one from a vocabulary directly (tests, custom models).
    pub fn new(vocab: Vocabulary, bos: Option<u32>, eos: Vec<u32>) -> Self {
        Self { vocab, bos, eos }
    }

    /// The vocabulary.
    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocab
    }

    /// Token ids for a caller-built prompt: BOS (if the model uses one) then the text. The text
    /// is trusted: control-token strings in it (`<|im_start|>`) become control tokens for
    /// byte-level vocabularies. Conversations go through [`TextTokenizer::encode_segments`].
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids: Vec<u32> = self.bos.into_iter().collect();
        match &self.vocab {
            Vocabulary::SentencePiece(sp) => ids.extend(sp.encode(text)),
            Vocabulary::ByteLevel(bpe) => {
                ids.extend(bpe.encode(text, true).map_err(Error::Tokenizer)?)
            }
            Vocabulary::HuggingFace(tok) => ids.extend(hf_encode(tok, text)?),
        }
        Ok(ids)
    }

    /// Token ids for a templated conversation: BOS, then each segment. Control markers become
    /// their token ids; text is tokenized with special-token recognition off, so message content
    /// can never produce a control token.
    pub fn encode_segments(&self, segments: &[Segment]) -> Result<Vec<u32>> {
        let mut ids: Vec<u32> = self.bos.into_iter().collect();
        for segment in segments {
            match (segment, &self.vocab) {
                (Segment::Special(t), Vocabulary::SentencePiece(sp)) => match sp.piece_id(t) {
                    Some(id) => ids.push(id),
                    None => ids.extend(sp.encode(t)),
                },
                (Segment::Special(t), Vocabulary::ByteLevel(bpe)) => match bpe.token_id(t) {
                    Some(id) => ids.push(id),
                    None => ids.extend(bpe.encode(t, false).map_err(Error::Tokenizer)?),
                },
                (Segment::Text(t), Vocabulary::SentencePiece(sp)) => ids.extend(sp.encode(t)),
                (Segment::Text(t), Vocabulary::ByteLevel(bpe)) => {
                    ids.extend(bpe.encode(t, false).map_err(Error::Tokenizer)?)
                }
                (Segment::Special(t), Vocabulary::HuggingFace(tok)) => match tok.token_to_id(t) {
                    Some(id) => ids.push(id),
                    None => ids.extend(hf_encode(tok, t)?),
                },
                // tokenizer.json "added tokens" are always recognised by the `tokenizers` crate.
                (Segment::Text(t), Vocabulary::HuggingFace(tok)) => ids.extend(hf_encode(tok, t)?),
            }
        }
        Ok(ids)
    }

    /// The bytes one token stands for (for streaming, which may split UTF-8 characters).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        match &self.vocab {
            Vocabulary::SentencePiece(sp) => sp.token_bytes(id),
            Vocabulary::ByteLevel(bpe) => bpe.token_bytes(id),
            Vocabulary::HuggingFace(tok) => {
                tok.decode(&[id], false).unwrap_or_default().into_bytes()
            }
        }
    }

    /// Text for a sequence of ids (special tokens dropped for SentencePiece).
    pub fn decode(&self, ids: &[u32]) -> String {
        match &self.vocab {
            Vocabulary::SentencePiece(sp) => sp.decode(ids),
            Vocabulary::ByteLevel(bpe) => bpe.decode(ids),
            Vocabulary::HuggingFace(tok) => tok.decode(ids, true).unwrap_or_default(),
        }
    }
}

fn hf_encode(tok: &tokenizers::Tokenizer, text: &str) -> Result<Vec<u32>> {
    let enc = tok
        .encode(text, false)
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    Ok(enc.get_ids().to_vec())
}

fn strings(v: Option<&Value>, key: &str) -> Result<Vec<String>> {
    let ctx = "reading the tokenizer from GGUF metadata";
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.to_string()
                    .cloned()
                    .map_err(|e| Error::bad_model(ctx, format!("{key}: {e}")))
            })
            .collect(),
        _ => Err(Error::bad_model(ctx, format!("{key} is missing"))),
    }
}

fn ints(v: &Value, key: &str) -> Result<Vec<i32>> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|v| match v {
                Value::I32(i) => Ok(*i),
                Value::U32(u) => Ok(*u as i32),
                other => other
                    .to_i32()
                    .map_err(|e| Error::bad_model("reading GGUF tokenizer", format!("{key}: {e}"))),
            })
            .collect(),
        _ => Err(Error::bad_model(
            "reading GGUF tokenizer",
            format!("{key} is not an array"),
        )),
    }
}
