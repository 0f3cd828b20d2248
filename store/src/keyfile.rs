//! The key file: master keys (KEKs) that wrap per-record data keys, plus the blind-index key and
//! the audit-head key. Created on first run with mode 0600; a file readable by group or others is
//! refused. Writes are atomic (write a temp file, fsync, rename, fsync the directory) so a crash
//! leaves either the old or the new file, never a torn one.

use std::{
    fs,
    io::{Read, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Result, StoreError};

const FORMAT: &str = "hearth-keys/1";

/// 32 bytes of key material; zeroed on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key32([u8; 32]);

impl Key32 {
    pub(crate) fn random() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
    fn encode(&self) -> String {
        B64.encode(self.0)
    }
    fn decode(s: &str, path: &Path, what: &str) -> Result<Self> {
        let bytes = Zeroizing::new(B64.decode(s.trim()).map_err(|_| bad(path, what))?);
        let mut arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| bad(path, what))?;
        let key = Self(arr);
        arr.zeroize(); // `[u8; 32]` is Copy: clear the stack copy
        Ok(key)
    }
}

impl std::fmt::Debug for Key32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key32(redacted)")
    }
}

fn bad(path: &Path, what: &str) -> StoreError {
    StoreError::Key { path: path.to_owned(), reason: format!("{what} is not 32 base64-encoded bytes; restore the file from backup") }
}

/// All keys from the file. `keks[0]` is the active KEK; others are being retired.
#[derive(Clone, Debug)]
pub struct Keyring {
    pub(crate) path: PathBuf,
    pub(crate) keks: Vec<(String, Key32)>,
    pub(crate) index_key: Key32,
    pub(crate) audit_key: Key32,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct FileKek {
    id: String,
    key: String,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct FileFormat {
    format: String,
    /// Active first.
    keks: Vec<FileKek>,
    index_key: String,
    audit_key: String,
}

impl Keyring {
    /// Loads the key file, creating it when `create_if_missing` and it does not exist.
    pub fn load_or_create(path: &Path, create_if_missing: bool) -> Result<Self> {
        // Check the permissions of the very file that is read (fstat on the open handle), not
        // of whatever the path named a moment earlier.
        match fs::File::open(path) {
            Ok(mut file) => {
                let meta = file.metadata().map_err(|e| io(path, "cannot be read", e))?;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(StoreError::Key {
                        path: path.to_owned(),
                        reason: format!("is readable by group or others; run `chmod 600 {}`", path.display()),
                    });
                }
                Self::load(path, &mut file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !create_if_missing {
                    return Err(StoreError::Key {
                        path: path.to_owned(),
                        reason: "does not exist; restore it from backup, or pass create_if_missing for a new installation".to_owned(),
                    });
                }
                let ring = Self {
                    path: path.to_owned(),
                    keks: vec![(new_kek_id(), Key32::random())],
                    index_key: Key32::random(),
                    audit_key: Key32::random(),
                };
                ring.save()?;
                Ok(ring)
            }
            Err(e) => Err(io(path, "cannot be read", e)),
        }
    }

    fn load(path: &Path, file: &mut fs::File) -> Result<Self> {
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text).map_err(|e| io(path, "cannot be read", e))?;
        let file: FileFormat = serde_json::from_str(&text).map_err(|_| StoreError::Key {
            path: path.to_owned(),
            reason: "is not a Hearth key file (malformed JSON); restore it from backup".to_owned(),
        })?;
        if file.format != FORMAT || file.keks.is_empty() {
            return Err(StoreError::Key { path: path.to_owned(), reason: format!("unsupported format (expected {FORMAT} with at least one KEK)") });
        }
        let keks = file
            .keks
            .iter()
            .map(|k| Ok((k.id.clone(), Key32::decode(&k.key, path, "a KEK")?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            path: path.to_owned(),
            keks,
            index_key: Key32::decode(&file.index_key, path, "index_key")?,
            audit_key: Key32::decode(&file.audit_key, path, "audit_key")?,
        })
    }

    /// Writes the file atomically with mode 0600.
    pub(crate) fn save(&self) -> Result<()> {
        let file = FileFormat {
            format: FORMAT.to_owned(),
            keks: self.keks.iter().map(|(id, k)| FileKek { id: id.clone(), key: k.encode() }).collect(),
            index_key: self.index_key.encode(),
            audit_key: self.audit_key.encode(),
        };
        let text = Zeroizing::new(serde_json::to_string_pretty(&file).expect("key file struct always serialises"));
        let tmp = self.path.with_extension("tmp");
        let _ = fs::remove_file(&tmp); // a stale temp file from a crash is garbage
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io(&tmp, "cannot be created", e))?;
        f.write_all(text.as_bytes()).map_err(|e| io(&tmp, "cannot be written", e))?;
        f.sync_all().map_err(|e| io(&tmp, "cannot be synced", e))?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, "cannot be replaced", e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io(dir, "directory cannot be synced", e))?;
        }
        Ok(())
    }

    pub(crate) fn active(&self) -> (&str, &Key32) {
        let (id, k) = &self.keks[0];
        (id, k)
    }

    pub(crate) fn kek(&self, id: &str) -> Option<&Key32> {
        self.keks.iter().find(|(i, _)| i == id).map(|(_, k)| k)
    }

    /// Ids of all KEKs in the file, active first.
    pub fn kek_ids(&self) -> Vec<String> {
        self.keks.iter().map(|(id, _)| id.clone()).collect()
    }
}

pub(crate) fn new_kek_id() -> String {
    format!("kek-{}", uuid::Uuid::now_v7().simple())
}

fn io(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Key { path: path.to_owned(), reason: format!("{what}: {e}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_file_is_private_and_reloads_to_the_same_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys.json");
        let a = Keyring::load_or_create(&path, true).expect("created");
        assert_eq!(fs::metadata(&path).expect("exists").permissions().mode() & 0o777, 0o600);
        let b = Keyring::load_or_create(&path, false).expect("reloaded");
        assert_eq!(a.kek_ids(), b.kek_ids());
        assert_eq!(a.index_key.bytes(), b.index_key.bytes());
    }

    #[test]
    fn a_missing_key_file_is_not_created_without_the_flag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = Keyring::load_or_create(&dir.path().join("nope.json"), false).expect_err("missing");
        assert!(err.to_string().contains("create_if_missing"), "{err}");
    }

    #[test]
    fn a_group_readable_key_file_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys.json");
        Keyring::load_or_create(&path, true).expect("created");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        let err = Keyring::load_or_create(&path, false).expect_err("refused");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn debug_never_prints_key_material() {
        let k = Key32::random();
        let shown = format!("{k:?}");
        assert!(!shown.contains(&k.encode()) && shown.contains("redacted"));
    }
}
