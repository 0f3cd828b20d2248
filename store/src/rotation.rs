//! Master key (KEK) rotation, crash-safe: (1) add a new KEK to the key file as the active one
//! (atomic write) — the old KEK stays; (2) rewrap every data key under the new KEK, in batches;
//! (3) only when no data key still names an old KEK, rewrite the file without it. A crash at
//! any point leaves a file that opens every data key, and running rotation again finishes the
//! job (it reuses a new KEK that is already active instead of adding another).

use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use crate::{
    Result, Store, StoreError,
    crypto::RecordKey,
    db::Sql,
    keyfile::{Key32, Keyring, new_kek_id},
};

/// What a rotation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    pub new_kek_id: String,
    pub rewrapped: u64,
    pub retired: Vec<String>,
}

const BATCH: i64 = 500;

impl Store {
    /// Rotates the master key; see the module docs. Other processes sharing the key file must
    /// be restarted afterwards to load the new key.
    pub async fn rotate_master_key(&self) -> Result<RotationReport> {
        // Step 1: a new active KEK, unless an interrupted rotation already added one. Start
        // from the file on disk, not this process's copy: another process may have rotated
        // since this one loaded it, and saving a stale list would delete the KEK that process
        // rewrapped every data key under.
        let current = Arc::new(Keyring::load_or_create(&self.keys().path, false)?);
        let ring = if current.keks.len() > 1 {
            self.set_keys(current.clone());
            current
        } else {
            let mut next = (*current).clone();
            next.keks.insert(0, (new_kek_id(), Key32::random()));
            next.save()?;
            let next = Arc::new(next);
            self.set_keys(next.clone());
            next
        };
        let (new_id, new_kek) = ring.active();
        let (new_id, new_kek) = (new_id.to_owned(), new_kek.clone());
        // Tell other processes which KEK new data keys must use (they re-read the file).
        let mut tx = self.begin().await?;
        tx.execute(
            Sql::new(
                "INSERT INTO key_state (key_state_id, active_kek_id, updated_at) VALUES (1, $1, $2) \
                 ON CONFLICT (key_state_id) DO UPDATE SET active_kek_id = excluded.active_kek_id, updated_at = excluded.updated_at",
            )
            .bind(new_id.as_str())
            .bind(crate::types::now()),
            "recording the active master key",
        )
        .await?;
        tx.commit().await?;

        // Step 2: rewrap in batches; each batch commits on its own.
        let mut rewrapped = 0u64;
        loop {
            let mut tx = self.begin().await?;
            let rows = tx
                .fetch_all(
                    Sql::new("SELECT data_key_id, kek_id, wrapped FROM data_key WHERE kek_id <> $1 ORDER BY data_key_id LIMIT $2").bind(new_id.as_str()).bind(BATCH),
                    "listing data keys to rewrap",
                )
                .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let id: Uuid = r.get("data_key_id")?;
                let key = RecordKey::unwrap(&ring, id, &r.get::<String>("kek_id")?, &r.get::<Vec<u8>>("wrapped")?)?;
                tx.execute(
                    Sql::new("UPDATE data_key SET kek_id = $2, wrapped = $3 WHERE data_key_id = $1").bind(id).bind(new_id.as_str()).bind(key.wrap_with(&new_kek)),
                    "rewrapping a data key",
                )
                .await?;
                rewrapped += 1;
            }
            tx.commit().await?;
        }

        // Step 3: retire the old KEKs once nothing names them.
        let mut tx = self.begin().await?;
        let left: i64 = tx
            .fetch_one(Sql::new("SELECT COUNT(*) AS n FROM data_key WHERE kek_id <> $1").bind(new_id.as_str()), "counting unwrapped data keys")
            .await?
            .get("n")?;
        drop(tx);
        if left != 0 {
            return Err(StoreError::State(format!("{left} data keys were added under an old master key during rotation; run the rotation again")));
        }
        let retired: Vec<String> = ring.keks.iter().skip(1).map(|(id, _)| id.clone()).collect();
        let final_ring = Keyring { keks: vec![(new_id.clone(), new_kek)], ..(*ring).clone() };
        final_ring.save()?;
        self.set_keys(Arc::new(final_ring));
        Ok(RotationReport { new_kek_id: new_id, rewrapped, retired })
    }

    /// Re-reads the key file, e.g. in a process that kept running while another rotated the
    /// master key (its old KEK is gone from the file, so data keys it wraps anew must use the
    /// new one).
    pub fn reload_keys(&self) -> Result<()> {
        let path = self.keys().path.clone();
        let ring = Keyring::load_or_create(&path, false)?;
        self.set_keys(Arc::new(ring));
        Ok(())
    }

    fn set_keys(&self, ring: Arc<Keyring>) {
        *self.keys.write().expect("keyring lock is never held across a panic") = ring;
    }
}
