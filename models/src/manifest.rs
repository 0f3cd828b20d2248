//! The models Hearth knows: files, sizes, SHA-256s, licences and where they come from; and
//! verified loading from the local models folder.
//!
//! This module never downloads (the crate has no HTTP client): a missing or damaged file is an
//! error that names the file and the command that fixes it, `hearth models pull NAME`, which
//! lives in the assistant. Hashing a 1 GB model on every start is slow, so a verified file's
//! (size, mtime, sha256) is remembered in `.hearth-verified` in the folder; a file whose size or
//! mtime changed is hashed again.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Environment variable naming the models folder.
pub const MODELS_DIR_ENV: &str = "HEARTH_MODELS_DIR";
/// Folder used when [`MODELS_DIR_ENV`] is unset.
pub const DEFAULT_MODELS_DIR: &str = "models";
/// Where files are fetched from; each [`ModelFile::remote`] is a path under it.
pub const DEFAULT_BASE_URL: &str = "https://huggingface.co";
/// The verification cache inside the models folder.
const CACHE_FILE: &str = ".hearth-verified";

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    SpeechToText,
    TextGeneration,
    Embedding,
}

/// One file of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// Path inside the models folder.
    pub path: &'static str,
    /// Path under the base URL (Hugging Face `owner/repo/resolve/REV/file`).
    pub remote: &'static str,
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: &'static str,
}

/// A known model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name used on the command line (`hearth models pull base.en`).
    pub name: &'static str,
    pub task: Task,
    pub description: &'static str,
    pub licence: &'static str,
    /// Human-readable origin (model card).
    pub source: &'static str,
    pub files: &'static [ModelFile],
}

impl ModelSpec {
    /// Total bytes of all files.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

// Whisper: whisper.cpp's ggml conversions on Hugging Face. whisper.cpp `models/README.md`
// publishes SHA-1s (tiny.en c78c86eb..., base.en 137c4040..., small.en db8a495a...); the SHA-256s
// and sizes below are the Hugging Face LFS object ids of ggerganov/whisper.cpp, as pinned by
// several independent projects.
const WHISPER_TINY_EN: &[ModelFile] = &[ModelFile {
    path: "ggml-tiny.en.bin",
    remote: "ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin",
    size: 77_704_715,
    sha256: "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f",
}];
const WHISPER_BASE_EN: &[ModelFile] = &[ModelFile {
    path: "ggml-base.en.bin",
    remote: "ggerganov/whisper.cpp/resolve/main/ggml-base.en.bin",
    size: 147_964_211,
    sha256: "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002",
}];
const WHISPER_SMALL_EN: &[ModelFile] = &[ModelFile {
    path: "ggml-small.en.bin",
    remote: "ggerganov/whisper.cpp/resolve/main/ggml-small.en.bin",
    size: 487_614_201,
    sha256: "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d",
}];
// Hashes of model.safetensors and tokenizer.json from ../shared/models/README.md; config.json
// hashed from that copy.
const MINILM: &[ModelFile] = &[
    ModelFile {
        path: "all-MiniLM-L6-v2/model.safetensors",
        remote: "sentence-transformers/all-MiniLM-L6-v2/resolve/main/model.safetensors",
        size: 90_868_376,
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    },
    ModelFile {
        path: "all-MiniLM-L6-v2/tokenizer.json",
        remote: "sentence-transformers/all-MiniLM-L6-v2/resolve/main/tokenizer.json",
        size: 466_247,
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    },
    ModelFile {
        path: "all-MiniLM-L6-v2/config.json",
        remote: "sentence-transformers/all-MiniLM-L6-v2/resolve/main/config.json",
        size: 612,
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
];
// Hugging Face x-linked-etag of Qwen/Qwen2.5-1.5B-Instruct-GGUF at commit 91cad511.
const QWEN25_1_5B: &[ModelFile] = &[ModelFile {
    path: "qwen2.5-1.5b-instruct-q4_k_m.gguf",
    remote: "Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/91cad51170dc346986eccefdc2dd33a9da36ead9/qwen2.5-1.5b-instruct-q4_k_m.gguf",
    size: 1_117_320_736,
    sha256: "6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e",
}];
// ../shared/models/README.md; llama.cpp's test-model repository (ggml-org/models, since renamed
// ggml-org/models-moved).
const STORIES260K: &[ModelFile] = &[ModelFile {
    path: "stories260K.gguf",
    remote: "ggml-org/models-moved/resolve/main/tinyllamas/stories260K.gguf",
    size: 1_185_376,
    sha256: "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d",
}];

/// Every model Hearth can pull and load.
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "tiny.en",
        task: Task::SpeechToText,
        description: "Whisper tiny, English only: fastest, least accurate",
        licence: "MIT",
        source: "https://huggingface.co/ggerganov/whisper.cpp",
        files: WHISPER_TINY_EN,
    },
    ModelSpec {
        name: "base.en",
        task: Task::SpeechToText,
        description: "Whisper base, English only: the default",
        licence: "MIT",
        source: "https://huggingface.co/ggerganov/whisper.cpp",
        files: WHISPER_BASE_EN,
    },
    ModelSpec {
        name: "small.en",
        task: Task::SpeechToText,
        description: "Whisper small, English only: more accurate, about 3x slower",
        licence: "MIT",
        source: "https://huggingface.co/ggerganov/whisper.cpp",
        files: WHISPER_SMALL_EN,
    },
    ModelSpec {
        name: "all-MiniLM-L6-v2",
        task: Task::Embedding,
        description: "Sentence embeddings, 384 dimensions",
        licence: "Apache-2.0",
        source: "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
        files: MINILM,
    },
    ModelSpec {
        name: "qwen2.5-1.5b-instruct",
        task: Task::TextGeneration,
        description: "Qwen2.5 1.5B Instruct, Q4_K_M: the recommended note-drafting model",
        licence: "Apache-2.0",
        source: "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        files: QWEN25_1_5B,
    },
    ModelSpec {
        name: "stories260K",
        task: Task::TextGeneration,
        description: "Tiny llama2.c story model for tests (not instruction-tuned)",
        licence: "MIT",
        source: "https://huggingface.co/karpathy/tinyllamas",
        files: STORIES260K,
    },
];

/// The model called `name`.
pub fn find(name: &str) -> Result<&'static ModelSpec> {
    MODELS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::UnknownModel(name.to_string()))
}

/// The models folder: `HEARTH_MODELS_DIR`, else `./models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os(MODELS_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MODELS_DIR))
}

/// The state of one file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Present with the right size and hash.
    Verified,
    Missing,
    WrongSize {
        actual: u64,
    },
    WrongHash {
        actual: String,
    },
}

/// The state of one model, file by file (for `hearth models list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStatus {
    pub spec: &'static ModelSpec,
    pub files: Vec<(PathBuf, FileState)>,
}

impl ModelStatus {
    /// Every file is present and verified.
    pub fn is_ready(&self) -> bool {
        self.files.iter().all(|(_, s)| *s == FileState::Verified)
    }
}

/// The state of every known model in `dir`. Unreadable files count as missing.
pub fn models_status(dir: &Path) -> Vec<ModelStatus> {
    let mut cache = VerifiedCache::load(dir);
    let statuses = MODELS
        .iter()
        .map(|spec| ModelStatus {
            spec,
            files: spec
                .files
                .iter()
                .map(|f| {
                    (
                        dir.join(f.path),
                        file_state(dir, f, &mut cache).unwrap_or(FileState::Missing),
                    )
                })
                .collect(),
        })
        .collect();
    cache.save(dir);
    statuses
}

/// Checks every file of `name` in `dir` and returns their paths in manifest order. A missing
/// or damaged file is an error naming it and `hearth models pull NAME`.
pub fn verified_paths(name: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let spec = find(name)?;
    let mut cache = VerifiedCache::load(dir);
    let mut paths = Vec::with_capacity(spec.files.len());
    for f in spec.files {
        let path = dir.join(f.path);
        match file_state(dir, f, &mut cache)? {
            FileState::Verified => paths.push(path),
            FileState::Missing => {
                return Err(Error::MissingModel {
                    name: spec.name.into(),
                    path,
                });
            }
            FileState::WrongSize { actual } => {
                return Err(Error::HashMismatch {
                    name: spec.name.into(),
                    path,
                    expected: format!("{} bytes", f.size),
                    actual: format!("{actual} bytes"),
                });
            }
            FileState::WrongHash { actual } => {
                return Err(Error::HashMismatch {
                    name: spec.name.into(),
                    path,
                    expected: f.sha256.into(),
                    actual,
                });
            }
        }
    }
    cache.save(dir);
    Ok(paths)
}

/// Lower-case hex SHA-256 of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn file_state(dir: &Path, f: &ModelFile, cache: &mut VerifiedCache) -> Result<FileState> {
    let path = dir.join(f.path);
    let meta = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Ok(FileState::Missing),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    if meta.len() != f.size {
        return Ok(FileState::WrongSize { actual: meta.len() });
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key = format!("{} {} {mtime}", f.path, meta.len());
    let actual = match cache.entries.get(&key) {
        Some(hash) => hash.clone(),
        None => {
            let hash = sha256_file(&path)?;
            cache.entries.insert(key, hash.clone());
            cache.dirty = true;
            hash
        }
    };
    Ok(if actual == f.sha256 {
        FileState::Verified
    } else {
        FileState::WrongHash { actual }
    })
}

/// `path size mtime_ns` -> sha256, one per line. Best effort: a read-only folder just means
/// hashing again next time.
struct VerifiedCache {
    entries: BTreeMap<String, String>,
    dirty: bool,
}

impl VerifiedCache {
    fn load(dir: &Path) -> Self {
        let entries = std::fs::read_to_string(dir.join(CACHE_FILE))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                line.rsplit_once('\t')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        Self {
            entries,
            dirty: false,
        }
    }

    fn save(&self, dir: &Path) {
        if !self.dirty {
            return;
        }
        let body: String = self
            .entries
            .iter()
            .map(|(k, v)| format!("{k}\t{v}\n"))
            .collect();
        let tmp = dir.join(format!("{CACHE_FILE}.tmp"));
        if std::fs::write(&tmp, body).is_ok()
            && std::fs::rename(&tmp, dir.join(CACHE_FILE)).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_entry_is_well_formed_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for m in MODELS {
            assert!(names.insert(m.name), "duplicate model name {}", m.name);
            assert!(
                !m.files.is_empty() && !m.licence.is_empty() && m.source.starts_with("https://")
            );
            for f in m.files {
                assert_eq!(f.sha256.len(), 64, "{}: sha256 is 64 hex digits", f.path);
                assert!(
                    f.sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                );
                assert!(f.size > 0 && f.remote.contains("/resolve/"), "{}", f.path);
            }
        }
    }

    #[test]
    fn an_unknown_name_says_how_to_list_models() {
        let err = find("gpt-5").unwrap_err();
        assert!(err.to_string().contains("hearth models list"), "{err}");
    }
}
