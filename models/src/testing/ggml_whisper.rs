//! A generator of random-weight ggml Whisper models, for pipeline tests and speed benchmarks
//! where no real weights may be shipped.
//!
//! The file layout follows whisper.cpp's `whisper_model_load` (src/whisper.cpp, vendored in
//! whisper-rs-sys 0.15): magic `ggml` (0x67676d6c, little endian), eleven `i32` hyper-parameters
//! (n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, n_text_state,
//! n_text_head, n_text_layer, n_mels, ftype), the mel filter bank (`i32` n_mel, `i32` n_fft,
//! then n_mel*n_fft `f32`), the vocabulary (`i32` count, then per token `u32` length + bytes),
//! then tensors until end of file, each `i32` n_dims, `i32` name length, `i32` type (0 = f32,
//! 1 = f16), n_dims `i32` extents (innermost first, ggml `ne`), the name, then the data.
//!
//! The header, mel filters and vocabulary are copied from whisper.cpp's "for-tests" tiny.en file
//! (`ggml-vocab-tiny.en.bin`, which has no tensors); only the sizes and the weights are ours.
//! Weights are seeded and small (uniform in ±1/sqrt(fan_in)), layer-norm gains are 1 and biases
//! 0, so activations stay finite and the decoder produces arbitrary but valid tokens.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// `GGML_FILE_MAGIC` in ggml/include/ggml.h.
const GGML_MAGIC: u32 = 0x6767_6d6c;
/// ggml type ids (`enum ggml_type`).
const TYPE_F32: i32 = 0;
const TYPE_F16: i32 = 1;
/// Byte length of magic + 11 hyper-parameters.
const HEADER_LEN: usize = 4 + 11 * 4;

/// The sizes of a Whisper model (whisper.cpp `whisper_hparams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhisperDims {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
}

impl WhisperDims {
    /// OpenAI Whisper tiny.en (model card / whisper.cpp `MODEL_TINY`).
    pub const TINY_EN: Self = Self {
        n_vocab: 51864,
        n_audio_ctx: 1500,
        n_audio_state: 384,
        n_audio_head: 6,
        n_audio_layer: 4,
        n_text_ctx: 448,
        n_text_state: 384,
        n_text_head: 6,
        n_text_layer: 4,
        n_mels: 80,
    };

    /// OpenAI Whisper base.en.
    pub const BASE_EN: Self = Self {
        n_audio_state: 512,
        n_audio_head: 8,
        n_audio_layer: 6,
        n_text_state: 512,
        n_text_head: 8,
        n_text_layer: 6,
        ..Self::TINY_EN
    };

    /// A size by its name (`tiny.en`, `base.en`).
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "tiny.en" => Some(Self::TINY_EN),
            "base.en" => Some(Self::BASE_EN),
            _ => None,
        }
    }

    fn as_header(&self) -> [i32; 10] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
        ]
    }
}

/// One tensor to write: name, ggml extents (innermost first), and how to fill it.
struct TensorSpec {
    name: String,
    ne: Vec<i32>,
    f16: bool,
    fill: Fill,
}

#[derive(Clone, Copy)]
enum Fill {
    Zeros,
    Ones,
    /// Uniform in ±scale.
    Random(f32),
}

/// The tensor list of whisper.cpp's `whisper_model_load` for `dims`, with ftype 1 (f16 for
/// matrices and convolution kernels, f32 for biases, norms and positional embeddings).
fn tensor_specs(d: &WhisperDims) -> Vec<TensorSpec> {
    let mut out = Vec::new();
    let mut push = |name: String, ne: Vec<i32>, f16: bool, fill: Fill| {
        out.push(TensorSpec { name, ne, f16, fill });
    };
    let rand_for = |fan_in: i32| Fill::Random(1.0 / (fan_in as f32).sqrt());
    let (sa, st) = (d.n_audio_state, d.n_text_state);

    push("encoder.positional_embedding".into(), vec![sa, d.n_audio_ctx], false, Fill::Random(0.02));
    push("encoder.conv1.weight".into(), vec![3, d.n_mels, sa], true, rand_for(3 * d.n_mels));
    push("encoder.conv1.bias".into(), vec![1, sa], false, Fill::Zeros);
    push("encoder.conv2.weight".into(), vec![3, sa, sa], true, rand_for(3 * sa));
    push("encoder.conv2.bias".into(), vec![1, sa], false, Fill::Zeros);
    push("encoder.ln_post.weight".into(), vec![sa], false, Fill::Ones);
    push("encoder.ln_post.bias".into(), vec![sa], false, Fill::Zeros);
    for i in 0..d.n_audio_layer {
        block(&mut push, &format!("encoder.blocks.{i}"), sa, false);
    }

    push("decoder.positional_embedding".into(), vec![st, d.n_text_ctx], false, Fill::Random(0.02));
    push("decoder.token_embedding.weight".into(), vec![st, d.n_vocab], true, Fill::Random(0.02));
    push("decoder.ln.weight".into(), vec![st], false, Fill::Ones);
    push("decoder.ln.bias".into(), vec![st], false, Fill::Zeros);
    for i in 0..d.n_text_layer {
        block(&mut push, &format!("decoder.blocks.{i}"), st, true);
    }
    out
}

/// One transformer block: self-attention, optional cross-attention, MLP (whisper.cpp
/// `ASR_TENSOR_NAMES`; note there is no key bias).
fn block(push: &mut impl FnMut(String, Vec<i32>, bool, Fill), prefix: &str, n: i32, cross: bool) {
    let rand_for = |fan_in: i32| Fill::Random(1.0 / (fan_in as f32).sqrt());
    let mut attention = |kind: &str| {
        push(format!("{prefix}.{kind}_ln.weight"), vec![n], false, Fill::Ones);
        push(format!("{prefix}.{kind}_ln.bias"), vec![n], false, Fill::Zeros);
        for proj in ["query", "key", "value", "out"] {
            push(format!("{prefix}.{kind}.{proj}.weight"), vec![n, n], true, rand_for(n));
            if proj != "key" {
                push(format!("{prefix}.{kind}.{proj}.bias"), vec![n], false, Fill::Zeros);
            }
        }
    };
    attention("attn");
    if cross {
        attention("cross_attn");
    }
    push(format!("{prefix}.mlp_ln.weight"), vec![n], false, Fill::Ones);
    push(format!("{prefix}.mlp_ln.bias"), vec![n], false, Fill::Zeros);
    push(format!("{prefix}.mlp.0.weight"), vec![n, 4 * n], true, rand_for(n));
    push(format!("{prefix}.mlp.0.bias"), vec![4 * n], false, Fill::Zeros);
    push(format!("{prefix}.mlp.2.weight"), vec![4 * n, n], true, rand_for(4 * n));
    push(format!("{prefix}.mlp.2.bias"), vec![n], false, Fill::Zeros);
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, and good enough for test weights.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn next_signed(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Writes a random-weight model of size `dims` to `out`, taking header, mel filters and
/// vocabulary from `vocab_file` (whisper.cpp's `for-tests-ggml-tiny.en.bin`). Same seed, same
/// bytes.
pub fn write_random_model(vocab_file: &Path, dims: &WhisperDims, seed: u64, out: &Path) -> Result<()> {
    let mut source = Vec::new();
    File::open(vocab_file)
        .and_then(|mut f| f.read_to_end(&mut source))
        .map_err(|e| Error::io(format!("reading the Whisper vocabulary file {}", vocab_file.display()), e))?;
    let context = || format!("Whisper vocabulary file {}", vocab_file.display());
    if source.len() < HEADER_LEN || u32::from_le_bytes(source[0..4].try_into().expect("4 bytes")) != GGML_MAGIC {
        return Err(Error::bad_model(context(), "not a ggml Whisper file (bad magic)"));
    }
    let n_mels_in_file = i32::from_le_bytes(source[HEADER_LEN..HEADER_LEN + 4].try_into().expect("4 bytes"));
    if n_mels_in_file != dims.n_mels {
        return Err(Error::bad_model(context(), format!("has {n_mels_in_file} mel filters, the model needs {}", dims.n_mels)));
    }

    let create = |e| Error::io(format!("writing the random Whisper model {}", out.display()), e);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(out).map_err(create)?);
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&GGML_MAGIC.to_le_bytes());
    for v in dims.as_header() {
        header.extend_from_slice(&v.to_le_bytes());
    }
    header.extend_from_slice(&1i32.to_le_bytes()); // ftype 1: mostly f16
    w.write_all(&header).map_err(create)?;
    // Mel filters and vocabulary, byte for byte.
    w.write_all(&source[HEADER_LEN..]).map_err(create)?;

    let mut rng = SplitMix64(seed);
    let mut buf = Vec::new();
    for t in tensor_specs(dims) {
        w.write_all(&(t.ne.len() as i32).to_le_bytes()).map_err(create)?;
        w.write_all(&(t.name.len() as i32).to_le_bytes()).map_err(create)?;
        w.write_all(&(if t.f16 { TYPE_F16 } else { TYPE_F32 }).to_le_bytes()).map_err(create)?;
        for n in &t.ne {
            w.write_all(&n.to_le_bytes()).map_err(create)?;
        }
        w.write_all(t.name.as_bytes()).map_err(create)?;
        let count: usize = t.ne.iter().map(|&n| n as usize).product();
        buf.clear();
        for _ in 0..count {
            let v = match t.fill {
                Fill::Zeros => 0.0,
                Fill::Ones => 1.0,
                Fill::Random(scale) => rng.next_signed() * scale,
            };
            if t.f16 {
                buf.extend_from_slice(&half::f16::from_f32(v).to_le_bytes());
            } else {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        w.write_all(&buf).map_err(create)?;
    }
    w.flush().map_err(create)?;
    Ok(())
}

/// Returns the path of a cached random model named `ggml-random-<size>.bin` under `dir`,
/// generating it first if it is not there. Generation writes to a temporary name and renames,
/// so concurrent tests never see a half-written file.
pub fn cached_random_model(vocab_file: &Path, size: &str, dir: &Path) -> Result<std::path::PathBuf> {
    let dims = WhisperDims::by_name(size)
        .ok_or_else(|| Error::InvalidConfig(format!("unknown Whisper size `{size}`; use tiny.en or base.en")))?;
    // One writer per process (test threads race here); other processes use other temp names.
    static GENERATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = GENERATING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join(format!("ggml-random-{size}.bin"));
    if path.exists() {
        return Ok(path);
    }
    let tmp = dir.join(format!(".ggml-random-{size}.{}.tmp", std::process::id()));
    write_random_model(vocab_file, &dims, 0x4845_4152_5448, &tmp)?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(format!("renaming into {}", path.display()), e))?;
    Ok(path)
}

/// Where the shared test models live: `$HEARTH_MODELS_DIR`, else `../shared/models` from the
/// workspace root. Fails with what to do when the vocabulary file is not there.
pub fn vocab_file() -> Result<std::path::PathBuf> {
    let dir = match std::env::var_os("HEARTH_MODELS_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models"),
    };
    let path = dir.join("ggml-vocab-tiny.en.bin");
    if !path.is_file() {
        return Err(Error::InvalidConfig(format!(
            "the Whisper vocabulary file is not at {}: put whisper.cpp's \
             models/for-tests-ggml-tiny.en.bin there as ggml-vocab-tiny.en.bin, or set \
             HEARTH_MODELS_DIR to the folder that holds it",
            path.display()
        )));
    }
    Ok(path)
}

/// The cache folder for generated models: `target/test-models` of this workspace.
pub fn cache_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => std::path::PathBuf::from(t).join("test-models"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-models"),
    }
}
