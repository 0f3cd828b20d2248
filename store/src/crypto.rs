//! Envelope encryption of PHI at rest. Each record gets a random 256-bit data key (DEK), stored
//! in `data_key` wrapped by the active master key (KEK) from the key file. Fields are sealed with
//! XChaCha20-Poly1305 (random 24-byte nonce, draft-irtf-cfrg-xchacha) and associated data that
//! binds table, column and row id, so ciphertext moved to another row or column fails to open.
//! Wire format of a sealed value: version byte 1 || nonce (24) || ciphertext+tag.

use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use rand::RngCore;
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use crate::{
    db::{Sql, Tx},
    error::{Result, StoreError},
    keyfile::{Key32, Keyring},
};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Seals `plaintext` under `key` with associated data `aad`.
pub(crate) fn seal(key: &Key32, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let ct = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .expect("XChaCha20-Poly1305 encryption cannot fail for inputs under 256 GiB");
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens a sealed value; `None` when it does not authenticate (wrong key, wrong AAD, tampered).
pub(crate) fn open(key: &Key32, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
        return None;
    }
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    cipher
        .decrypt(XNonce::from_slice(&sealed[1..1 + NONCE_LEN]), Payload { msg: &sealed[1 + NONCE_LEN..], aad })
        .ok()
        .map(Zeroizing::new)
}

/// `/`-separated, which is injective because table and column names are crate constants of
/// `[a-z_]` (checked here) and the row id is a fixed-length hyphenated UUID.
fn field_aad(table: &str, column: &str, row_id: &Uuid) -> Vec<u8> {
    debug_assert!(is_identifier(table) && is_identifier(column), "table and column names are [a-z_] constants");
    format!("hearth/v1/field/{table}/{column}/{row_id}").into_bytes()
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

pub(crate) fn wrap_aad(data_key_id: &Uuid) -> Vec<u8> {
    format!("hearth/v1/dek/{data_key_id}").into_bytes()
}

/// A record's data key, ready to seal and open that record's fields.
pub(crate) struct RecordKey {
    pub(crate) data_key_id: Uuid,
    dek: Key32,
}

impl RecordKey {
    /// Creates a fresh data key, wraps it with the active KEK and stores it.
    pub(crate) async fn create(tx: &mut Tx, keys: &Keyring) -> Result<Self> {
        let data_key_id = Uuid::now_v7();
        let dek = Key32::random();
        // Another process may have rotated the master key since this one loaded the key file:
        // then wrap with the file's current KEK, never with one that is being retired.
        // PostgreSQL: `FOR SHARE` holds the row until this transaction commits, so a rotation's
        // update of `key_state` waits for data keys wrapped under the old KEK to commit, and its
        // rewrap pass then sees them. Without it, a data key committed after the rewrap pass
        // would name a KEK the rotation then deletes from the file: that record would be lost.
        // SQLite: BEGIN IMMEDIATE already serialises this with the rotation.
        let active_sql = if tx.is_postgres() {
            "SELECT active_kek_id FROM key_state WHERE key_state_id = 1 FOR SHARE"
        } else {
            "SELECT active_kek_id FROM key_state WHERE key_state_id = 1"
        };
        let fresh;
        let keys = match tx.fetch_optional(Sql::new(active_sql), "reading the active master key").await? {
            Some(row) if row.get::<String>("active_kek_id")? != keys.active().0 => {
                fresh = Keyring::load_or_create(&keys.path, false)?;
                if fresh.active().0 != row.get::<String>("active_kek_id")? {
                    return Err(StoreError::Key { path: keys.path.clone(), reason: "does not hold the master key the database says is active; use this database's key file".to_owned() });
                }
                &fresh
            }
            _ => keys,
        };
        let (kek_id, kek) = keys.active();
        let wrapped = seal(kek, &wrap_aad(&data_key_id), dek.bytes());
        tx.execute(
            Sql::new("INSERT INTO data_key (data_key_id, kek_id, wrapped, created_at) VALUES ($1, $2, $3, $4)")
                .bind(data_key_id)
                .bind(kek_id)
                .bind(wrapped)
                .bind(crate::types::now()),
            "storing a data key",
        )
        .await?;
        Ok(Self { data_key_id, dek })
    }

    /// Loads and unwraps a record's data key.
    pub(crate) async fn load(tx: &mut Tx, keys: &Keyring, data_key_id: Uuid) -> Result<Self> {
        let row = tx
            .fetch_one(
                Sql::new("SELECT kek_id, wrapped FROM data_key WHERE data_key_id = $1").bind(data_key_id),
                "loading a data key",
            )
            .await?;
        let kek_id: String = row.get("kek_id")?;
        let wrapped: Vec<u8> = row.get("wrapped")?;
        Self::unwrap(keys, data_key_id, &kek_id, &wrapped)
    }

    pub(crate) fn unwrap(keys: &Keyring, data_key_id: Uuid, kek_id: &str, wrapped: &[u8]) -> Result<Self> {
        // An unknown KEK may be a rotation by another process: re-read the file once.
        let fresh;
        let kek = match keys.kek(kek_id) {
            Some(k) => k,
            None => {
                fresh = Keyring::load_or_create(&keys.path, false)?;
                fresh.kek(kek_id).ok_or_else(|| StoreError::Key {
                    path: keys.path.clone(),
                    reason: format!("has no master key {kek_id}, which wraps stored data; restore the key file from backup"),
                })?
            }
        };
        let raw = open(kek, &wrap_aad(&data_key_id), wrapped).ok_or(StoreError::Decrypt {
            table: "data_key",
            column: "wrapped",
            row_id: data_key_id.to_string(),
        })?;
        let mut arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| StoreError::Decrypt {
            table: "data_key",
            column: "wrapped",
            row_id: data_key_id.to_string(),
        })?;
        let dek = Key32::from_bytes(arr);
        arr.zeroize(); // `[u8; 32]` is Copy: the stack copy would otherwise outlive the key
        Ok(Self { data_key_id, dek })
    }

    pub(crate) fn wrap_with(&self, kek: &Key32) -> Vec<u8> {
        seal(kek, &wrap_aad(&self.data_key_id), self.dek.bytes())
    }

    pub(crate) fn seal(&self, table: &str, column: &str, row_id: Uuid, plaintext: &str) -> Vec<u8> {
        self.seal_bytes(table, column, row_id, plaintext.as_bytes())
    }

    /// [`Self::seal`] for binary fields (scribe audio).
    pub(crate) fn seal_bytes(&self, table: &str, column: &str, row_id: Uuid, plaintext: &[u8]) -> Vec<u8> {
        seal(&self.dek, &field_aad(table, column, &row_id), plaintext)
    }

    /// [`Self::open`] for binary fields.
    pub(crate) fn open_bytes(&self, table: &'static str, column: &'static str, row_id: Uuid, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        open(&self.dek, &field_aad(table, column, &row_id), sealed).ok_or_else(|| StoreError::Decrypt { table, column, row_id: row_id.to_string() })
    }

    pub(crate) fn seal_opt(&self, table: &str, column: &str, row_id: Uuid, plaintext: Option<&str>) -> Option<Vec<u8>> {
        plaintext.map(|p| self.seal(table, column, row_id, p))
    }

    pub(crate) fn open(&self, table: &'static str, column: &'static str, row_id: Uuid, sealed: &[u8]) -> Result<String> {
        let err = || StoreError::Decrypt { table, column, row_id: row_id.to_string() };
        let pt = open(&self.dek, &field_aad(table, column, &row_id), sealed).ok_or_else(err)?;
        String::from_utf8(pt.to_vec()).map_err(|_| err())
    }

    pub(crate) fn open_opt(&self, table: &'static str, column: &'static str, row_id: Uuid, sealed: Option<Vec<u8>>) -> Result<Option<String>> {
        sealed.map(|s| self.open(table, column, row_id, &s)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_key_and_aad() {
        let k = Key32::random();
        let s = seal(&k, b"a", b"Margarethe");
        assert_eq!(open(&k, b"a", &s).expect("opens").as_slice(), b"Margarethe");
    }

    #[test]
    fn a_different_aad_or_key_or_a_flipped_bit_fails() {
        let k = Key32::random();
        let mut s = seal(&k, b"client/first_name/1", b"x");
        assert!(open(&k, b"client/first_name/2", &s).is_none());
        assert!(open(&Key32::random(), b"client/first_name/1", &s).is_none());
        let last = s.len() - 1;
        s[last] ^= 1;
        assert!(open(&k, b"client/first_name/1", &s).is_none());
    }

    #[test]
    fn two_seals_of_the_same_text_differ() {
        let k = Key32::random();
        assert_ne!(seal(&k, b"a", b"same"), seal(&k, b"a", b"same"), "nonces are random");
    }

    #[test]
    fn every_table_and_column_name_sealed_by_the_store_is_a_plain_identifier() {
        // The field AAD is injective only while no name contains the `/` separator: scan the
        // sources for every literal passed as a table or column and check it.
        let src = concat!(
            include_str!("clients.rs"), include_str!("consents.rs"), include_str!("messages.rs"),
            include_str!("notes.rs"), include_str!("second_factor.rs"), include_str!("users.rs"),
            include_str!("practice.rs"), include_str!("appointments.rs"), include_str!("outbox.rs"), include_str!("outbox/enqueue.rs"),
            include_str!("jobs.rs"), include_str!("psychotherapy_notes.rs"),
        );
        let mut names = 0;
        let mut check = |lit: &str, line: &str| {
            assert!(is_identifier(lit), "{lit:?} in {line:?} would make the field AAD ambiguous");
            names += 1;
        };
        for line in src.lines() {
            if line.contains("const T: &str") || line.contains("const CT: &str") {
                line.split('"').skip(1).step_by(2).for_each(|lit| check(lit, line));
            }
            // The first two arguments of each seal/open call: table and column.
            for call in [".seal(", ".seal_opt(", ".open(", ".open_opt(", ".seal_bytes(", ".open_bytes("] {
                for (at, _) in line.match_indices(call) {
                    let args = &line[at + call.len()..];
                    for arg in args.split(',').take(2).map(str::trim).filter(|a| a.starts_with('"')) {
                        check(arg.trim_matches('"'), line);
                    }
                }
            }
        }
        assert!(names > 10, "the scan found the sealed names ({names})");
    }

    #[test]
    fn field_aad_binds_table_column_and_row() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_ne!(field_aad("client", "first_name", &a), field_aad("client", "first_name", &b));
        assert_ne!(field_aad("client", "first_name", &a), field_aad("client", "last_name", &a));
    }
}
