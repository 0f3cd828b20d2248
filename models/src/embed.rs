//! Sentence embeddings: all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide) on candle, CPU.
//!
//! The pipeline is the one sentence-transformers runs for this model (`modules.json`):
//! WordPiece tokens with `[CLS]`/`[SEP]`, the BERT encoder, mean pooling over the attention mask
//! (`1_Pooling/config.json`: `pooling_mode_mean_tokens`), then L2 normalisation (`2_Normalize`).
//! The published `tokenizer.json` truncates at 128 and pads every input to 128, but
//! `sentence_bert_config.json` says `max_seq_length: 256`; we override both, truncating at 256
//! tokens (special tokens included) and padding only to the longest text of each batch.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{
    PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

use crate::error::{Error, Result};

/// Turns texts into unit-length vectors whose dot product is their cosine similarity.
pub trait Embedder {
    /// One vector per text, in order. Every vector has [`Embedder::dimension`] entries and
    /// L2 norm 1. An empty slice gives an empty result.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// The length of each vector.
    fn dimension(&self) -> usize;
}

/// all-MiniLM-L6-v2 on candle's BERT.
pub struct MiniLmEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    hidden_size: usize,
    batch_size: usize,
}

impl MiniLmEmbedder {
    /// Longest input in tokens, `[CLS]` and `[SEP]` included (`sentence_bert_config.json`).
    /// Longer texts are truncated, as sentence-transformers does.
    pub const MAX_TOKENS: usize = 256;
    /// Texts run through the encoder together; larger inputs are split into batches this big so
    /// memory stays bounded (activations grow with batch x longest text).
    pub const DEFAULT_BATCH_SIZE: usize = 32;
    /// Most texts one `embed` call accepts.
    pub const MAX_TEXTS_PER_CALL: usize = 4096;

    /// Name of this model in [`crate::manifest::MODELS`].
    pub const MANIFEST_NAME: &str = "all-MiniLM-L6-v2";

    /// Checks the model's files in the models folder against the manifest (size and SHA-256),
    /// then loads them. A missing or damaged file is an error that names it and says to run
    /// `hearth models pull all-MiniLM-L6-v2`.
    pub fn load_verified(models_dir: &Path) -> Result<Self> {
        let files = crate::manifest::verified_paths(Self::MANIFEST_NAME, models_dir)?;
        let dir = files[0]
            .parent()
            .expect("manifest paths of this model name a folder and a file");
        Self::load(dir)
    }

    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`. Checksums are
    /// the manifest's job ([`crate::manifest`]); this reads what it is given.
    pub fn load(dir: &Path) -> Result<Self> {
        let read = |file: &str| {
            std::fs::read(dir.join(file))
                .map_err(|e| Error::io(format!("reading {}", dir.join(file).display()), e))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| Error::bad_model(format!("parsing {}/config.json", dir.display()), e))?;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?).map_err(|e| {
            Error::bad_model(format!("parsing {}/tokenizer.json", dir.display()), e)
        })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: Self::MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| Error::Tokenizer(format!("setting truncation: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id: config.pad_token_id as u32,
            pad_token: "[PAD]".into(),
            ..PaddingParams::default()
        }));
        let device = Device::Cpu;
        let vb =
            VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &device)
                .map_err(|e| {
                    Error::bad_model(format!("reading {}/model.safetensors", dir.display()), e)
                })?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| Error::bad_model(format!("loading BERT from {}", dir.display()), e))?;
        Ok(Self {
            model,
            tokenizer,
            device,
            hidden_size: config.hidden_size,
            batch_size: Self::DEFAULT_BATCH_SIZE,
        })
    }

    /// Changes how many texts go through the encoder at once (1..=256).
    pub fn with_batch_size(mut self, batch_size: usize) -> Result<Self> {
        if !(1..=256).contains(&batch_size) {
            return Err(Error::InvalidConfig(format!(
                "embedding batch size must be between 1 and 256, got {batch_size}"
            )));
        }
        self.batch_size = batch_size;
        Ok(self)
    }

    /// Token count of `text` as the model will see it (after truncation, specials included).
    pub fn token_count(&self, text: &str) -> Result<usize> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::Tokenizer(format!("encoding a text: {e}")))?;
        Ok(encoding.get_ids().len())
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Tokenizer(format!("encoding a batch: {e}")))?;
        let rows = encodings.len();
        let cols = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(rows * cols);
        let mut mask = Vec::with_capacity(rows * cols);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        let candle = |e: candle_core::Error| Error::inference("running the embedding model", e);
        let ids = Tensor::from_vec(ids, (rows, cols), &self.device).map_err(candle)?;
        let mask = Tensor::from_vec(mask, (rows, cols), &self.device).map_err(candle)?;
        // One segment only: every token type is 0.
        let token_types = ids.zeros_like().map_err(candle)?;
        let hidden = self
            .model
            .forward(&ids, &token_types, Some(&mask))
            .map_err(candle)?;
        let pooled = mean_pool(&hidden, &mask).map_err(candle)?;
        let normalised = l2_normalise(&pooled).map_err(candle)?;
        normalised.to_vec2::<f32>().map_err(candle)
    }
}

impl Embedder for MiniLmEmbedder {
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.len() > Self::MAX_TEXTS_PER_CALL {
            return Err(Error::InvalidRequest(format!(
                "{} texts in one embedding call; the limit is {} — split the request",
                texts.len(),
                Self::MAX_TEXTS_PER_CALL
            )));
        }
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size) {
            out.extend(self.embed_batch(chunk)?);
        }
        Ok(out)
    }

    fn dimension(&self) -> usize {
        self.hidden_size
    }
}

/// Mean of the token vectors that the mask keeps (sentence-transformers `Pooling`,
/// `pooling_mode_mean_tokens`): sum(hidden * mask) / max(sum(mask), 1e-9).
fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (batch, tokens, 1)
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (batch, hidden)
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?; // (batch, 1)
    summed.broadcast_div(&counts)
}

/// Each row divided by its L2 norm (torch `F.normalize(p=2, dim=1)`, eps 1e-12).
fn l2_normalise(x: &Tensor) -> candle_core::Result<Tensor> {
    let norms = x.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    x.broadcast_div(&norms)
}

/// Cosine similarity of two vectors (for unit vectors, their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_ignores_padded_positions() {
        let dev = Device::Cpu;
        let hidden = Tensor::new(&[[[1f32, 2.], [3., 4.], [100., 100.]]], &dev).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0]], &dev).unwrap();
        let pooled = mean_pool(&hidden, &mask).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(pooled, vec![vec![2.0, 3.0]]);
    }

    #[test]
    fn normalised_rows_have_unit_length() {
        let x = Tensor::new(&[[3f32, 4.], [0., 2.]], &Device::Cpu).unwrap();
        let n = l2_normalise(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(n, vec![vec![0.6, 0.8], vec![0.0, 1.0]]);
    }

    #[test]
    fn cosine_of_orthogonal_and_parallel_vectors() {
        assert_eq!(cosine(&[1., 0.], &[0., 1.]), 0.0);
        assert!((cosine(&[1., 1.], &[2., 2.]) - 1.0).abs() < 1e-6);
        assert_eq!(
            cosine(&[0., 0.], &[1., 1.]),
            0.0,
            "a zero vector is similar to nothing"
        );
    }
}
