//! `hearth models pull NAME`: fetches a model's files from the manifest's source into the models
//! folder. This is the only place Hearth downloads models; the `models` crate has no HTTP client.
//!
//! Each file goes to `FILE.part` first. An interrupted download resumes from the `.part` file's
//! length with an HTTP `Range` request (RFC 9110 section 14.2); a server that ignores the range
//! (200 instead of 206) makes us start over. Only after the size and SHA-256 match the manifest is
//! the `.part` file renamed over the final name, so a model file is never half-written. A hash
//! mismatch deletes the `.part` file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use models::manifest::{self, ModelFile, ModelSpec};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};

/// Environment variable overriding where files are fetched from (tests, mirrors).
pub const BASE_URL_ENV: &str = "HEARTH_MODELS_BASE_URL";

/// What went wrong pulling a model. Every message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("unknown model `{0}`; run `hearth models list` to see the known models")]
    UnknownModel(String),
    #[error(
        "{url} answered HTTP {status}; check the address (HEARTH_MODELS_BASE_URL) and try again later"
    )]
    Http { url: String, status: u16 },
    #[error(
        "downloading {file} failed after {attempts} attempts ({reason}); run `hearth models pull {name}` again to resume"
    )]
    Interrupted {
        name: String,
        file: String,
        attempts: u32,
        reason: String,
    },
    #[error(
        "{file} downloaded with sha256 {actual}, expected {expected}; the partial file was removed. \
         Run `hearth models pull {name}` again; if it fails the same way, the source has changed"
    )]
    HashMismatch {
        name: String,
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("checking {file}: {reason}")]
    Verify { file: String, reason: String },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PullError {
    let context = context.into();
    move |source| PullError::Io { context, source }
}

/// Progress events for a bar (the CLI draws them with indicatif).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullProgress {
    /// The file is already present and verified; nothing to fetch.
    AlreadyPresent { file: String },
    /// Fetching starts (or resumes at `from`) for a file of `total` bytes.
    Started { file: String, from: u64, total: u64 },
    /// `done` of `total` bytes are on disk.
    Advanced { file: String, done: u64, total: u64 },
    /// The connection broke at `done` bytes; retrying from there.
    Retrying {
        file: String,
        done: u64,
        attempt: u32,
    },
    /// Size and SHA-256 matched; the file is in place.
    Verified { file: String },
}

/// Where and how to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Base URL; each manifest file's `remote` path is appended.
    pub base_url: String,
    /// The models folder.
    pub dir: PathBuf,
    /// Connection attempts per file (each resumes where the last stopped), at least 1.
    pub max_attempts: u32,
}

impl PullOptions {
    /// Base URL from `HEARTH_MODELS_BASE_URL` (else Hugging Face), folder from
    /// `HEARTH_MODELS_DIR` (else `./models`), 5 attempts.
    pub fn from_env() -> Self {
        Self {
            base_url: std::env::var(BASE_URL_ENV)
                .unwrap_or_else(|_| manifest::DEFAULT_BASE_URL.to_string()),
            dir: manifest::models_dir(),
            max_attempts: 5,
        }
    }
}

/// Downloads every file of model `name` that is not already present and verified. Returns the
/// final paths in manifest order.
pub async fn pull_model(
    name: &str,
    options: &PullOptions,
    progress: &mut (dyn FnMut(PullProgress) + Send),
) -> Result<Vec<PathBuf>, PullError> {
    let spec = manifest::find(name).map_err(|_| PullError::UnknownModel(name.to_string()))?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| PullError::Interrupted {
            name: name.into(),
            file: String::new(),
            attempts: 0,
            reason: format!("building the HTTP client: {e}"),
        })?;
    let mut paths = Vec::new();
    for file in spec.files {
        paths.push(pull_file(&client, spec, file, options, progress).await?);
    }
    Ok(paths)
}

async fn pull_file(
    client: &reqwest::Client,
    spec: &ModelSpec,
    file: &ModelFile,
    options: &PullOptions,
    progress: &mut (dyn FnMut(PullProgress) + Send),
) -> Result<PathBuf, PullError> {
    let dest = options.dir.join(file.path);
    let label = file.path.to_string();
    if dest.is_file() && std::fs::metadata(&dest).map(|m| m.len()).ok() == Some(file.size) {
        let actual = hash(&dest, &label).await?;
        if actual == file.sha256 {
            progress(PullProgress::AlreadyPresent { file: label });
            return Ok(dest);
        }
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    let part = PathBuf::from(format!("{}.part", dest.display()));
    let url = format!("{}/{}", options.base_url.trim_end_matches('/'), file.remote);
    let attempts = options.max_attempts.max(1);
    let mut last_error = String::new();
    for attempt in 1..=attempts {
        match fetch_into(client, &url, &part, file, &label, progress).await {
            Ok(()) => {
                last_error.clear();
                break;
            }
            Err(FetchError::Fatal(e)) => return Err(e),
            Err(FetchError::Retryable(reason)) => {
                let done = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                tracing::warn!(file = %label, done, attempt, %reason, "model download interrupted");
                last_error = reason;
                if attempt < attempts {
                    progress(PullProgress::Retrying {
                        file: label.clone(),
                        done,
                        attempt,
                    });
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
    }
    if !last_error.is_empty() {
        return Err(PullError::Interrupted {
            name: spec.name.into(),
            file: label,
            attempts,
            reason: last_error,
        });
    }
    let actual = hash(&part, &label).await?;
    if actual != file.sha256 {
        std::fs::remove_file(&part).map_err(io(format!("removing {}", part.display())))?;
        return Err(PullError::HashMismatch {
            name: spec.name.into(),
            file: label,
            expected: file.sha256.into(),
            actual,
        });
    }
    std::fs::rename(&part, &dest).map_err(io(format!("moving {} into place", part.display())))?;
    progress(PullProgress::Verified { file: label });
    Ok(dest)
}

enum FetchError {
    /// Worth another attempt from where we are (connection dropped, timeout, 5xx).
    Retryable(String),
    Fatal(PullError),
}

/// One request: resume `part` from its length until it holds `file.size` bytes.
async fn fetch_into(
    client: &reqwest::Client,
    url: &str,
    part: &Path,
    file: &ModelFile,
    label: &str,
    progress: &mut (dyn FnMut(PullProgress) + Send),
) -> Result<(), FetchError> {
    let fatal = FetchError::Fatal;
    let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have > file.size {
        std::fs::remove_file(part)
            .map_err(|e| fatal(io(format!("removing {}", part.display()))(e)))?;
        have = 0;
    }
    if have == file.size {
        return Ok(());
    }
    let mut request = client.get(url);
    if have > 0 {
        request = request.header(RANGE, format!("bytes={have}-"));
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| FetchError::Retryable(describe(&e)))?;
    let status = response.status();
    let resuming = match status {
        StatusCode::PARTIAL_CONTENT => {
            let start = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start != Some(have) {
                return Err(FetchError::Retryable(format!(
                    "server resumed at {start:?}, wanted {have}"
                )));
            }
            true
        }
        StatusCode::OK => false,
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            return Err(FetchError::Retryable(format!("HTTP {}", s.as_u16())));
        }
        s => {
            return Err(fatal(PullError::Http {
                url: url.to_string(),
                status: s.as_u16(),
            }));
        }
    };
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(resuming)
        .write(true)
        .truncate(!resuming)
        .open(part)
        .map_err(|e| fatal(io(format!("opening {}", part.display()))(e)))?;
    let mut done = if resuming { have } else { 0 };
    progress(PullProgress::Started {
        file: label.to_string(),
        from: done,
        total: file.size,
    });
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                out.flush().ok();
                return Err(FetchError::Retryable(describe(&e)));
            }
        };
        if done + chunk.len() as u64 > file.size {
            drop(out);
            std::fs::remove_file(part).ok();
            return Err(FetchError::Retryable(format!(
                "server sent more than the expected {} bytes",
                file.size
            )));
        }
        out.write_all(&chunk)
            .map_err(|e| fatal(io(format!("writing {}", part.display()))(e)))?;
        done += chunk.len() as u64;
        progress(PullProgress::Advanced {
            file: label.to_string(),
            done,
            total: file.size,
        });
    }
    out.sync_all()
        .map_err(|e| fatal(io(format!("flushing {}", part.display()))(e)))?;
    if done < file.size {
        return Err(FetchError::Retryable(format!(
            "connection closed at {done} of {} bytes",
            file.size
        )));
    }
    Ok(())
}

/// Hashes off the async runtime (a 1 GB model takes seconds).
async fn hash(path: &Path, label: &str) -> Result<String, PullError> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || manifest::sha256_file(&owned))
        .await
        .map_err(|e| PullError::Verify {
            file: label.into(),
            reason: e.to_string(),
        })?
        .map_err(|e| PullError::Verify {
            file: label.into(),
            reason: e.to_string(),
        })
}

/// A reqwest error with its causes, e.g. "error decoding response body: connection reset".
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
