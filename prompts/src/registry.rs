//! Built-in formats plus those a practice defines as `*.toml` files in a folder (by default
//! `formats/` in the data folder). A practice format may not take a built-in's key, so "SOAP"
//! always means the same thing in every Hearth install.

use crate::builtin;
use crate::format::{FormatError, NoteFormat};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read the practice formats folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("practice format {path}: {source}")]
    Format { path: PathBuf, source: FormatError },
    #[error("practice format {path}: the key `{key}` is already used by {by}; choose another key")]
    DuplicateKey { path: PathBuf, key: String, by: String },
}

#[derive(Debug, Clone, Default)]
pub struct FormatRegistry {
    custom: Vec<NoteFormat>,
}

impl FormatRegistry {
    /// Only the built-in formats.
    pub fn builtin_only() -> Self {
        Self::default()
    }

    /// Built-ins plus every `*.toml` in `dir`. A missing folder means no practice formats; any
    /// invalid file is an error naming the file, so a typo is never silently ignored.
    pub fn load(dir: &Path) -> Result<Self, RegistryError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(RegistryError::Folder { path: dir.into(), source }),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(|source| RegistryError::Folder { path: dir.into(), source })?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut custom: Vec<(PathBuf, NoteFormat)> = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| RegistryError::Folder { path: path.clone(), source })?;
            let format = NoteFormat::from_toml(&text)
                .map_err(|source| RegistryError::Format { path: path.clone(), source })?;
            let clash = builtin::get(format.key()).map(|_| "a built-in format".to_string()).or_else(|| {
                custom.iter().find(|(_, f)| f.key() == format.key()).map(|(p, _)| p.display().to_string())
            });
            if let Some(by) = clash {
                return Err(RegistryError::DuplicateKey { path, key: format.key().into(), by });
            }
            custom.push((path, format));
        }
        Ok(Self { custom: custom.into_iter().map(|(_, f)| f).collect() })
    }

    /// A format by key, case-insensitively: built-ins first, then the practice's.
    pub fn get(&self, key: &str) -> Option<&NoteFormat> {
        let lower = key.to_ascii_lowercase();
        builtin::get(&lower).or_else(|| self.custom.iter().find(|f| f.key() == lower))
    }

    /// Every format: built-ins, then the practice's in file-name order.
    pub fn all(&self) -> impl Iterator<Item = &NoteFormat> {
        builtin::all().iter().chain(self.custom.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUSTOM: &str = "key = \"intake\"\nname = \"Intake\"\nversion = \"1\"\nkind = \"progress\"\n\
        [[section]]\nkey = \"HISTORY\"\ntitle = \"History\"\nguidance = \"What the client reports about their history.\"\n";

    #[test]
    fn practice_formats_load_beside_the_built_ins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("intake.toml"), CUSTOM).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a format").unwrap();
        let reg = FormatRegistry::load(dir.path()).unwrap();
        assert_eq!(reg.get("INTAKE").unwrap().name, "Intake");
        assert_eq!(reg.get("soap").unwrap().name, "SOAP");
        assert_eq!(reg.all().count(), builtin::all().len() + 1);
    }

    #[test]
    fn a_missing_folder_means_only_built_ins() {
        let reg = FormatRegistry::load(Path::new("/nonexistent/hearth/formats")).unwrap();
        assert!(reg.get("intake").is_none());
        assert!(reg.get("dap").is_some());
    }

    #[test]
    fn a_practice_format_cannot_take_a_built_in_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("soap.toml"), CUSTOM.replace("\"intake\"", "\"soap\"")).unwrap();
        let err = FormatRegistry::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("built-in") && err.to_string().contains("soap.toml"), "{err}");
    }

    #[test]
    fn an_invalid_practice_format_names_its_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.toml"), CUSTOM.replace("HISTORY", "history")).unwrap();
        let err = FormatRegistry::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("section[1].key"), "{err}");
    }
}
