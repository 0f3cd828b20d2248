//! Second factors: the TOTP secret (encrypted under a per-user data key; RFC 6238), the last
//! accepted time step as a replay guard (RFC 6238 §5.2: a code is accepted at most once), and
//! single-use recovery codes stored as hashes computed by the assistant.

use secrecy::{ExposeSecret, SecretSlice};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    crypto::RecordKey,
    db::Sql,
    ids::UserId,
    types::now,
};

/// Outcome of offering a TOTP time step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TotpStep {
    /// The step is newer than any accepted before; it is now recorded.
    Accepted,
    /// The step (or a later one) was already used: a replay, refuse the code.
    Replayed,
}

/// Outcome of using a recovery code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryCode {
    /// The code was unused and is now spent.
    Consumed,
    /// No unused code with this hash.
    Unknown,
}

pub const MAX_RECOVERY_CODES: usize = 20;

impl Store {
    /// Stores (or with `None` removes) a user's TOTP secret, encrypted under the user's data key.
    /// Also resets the replay guard.
    pub async fn set_totp_secret(&self, actor: &Actor, id: UserId, secret: Option<&SecretSlice<u8>>) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let user = Self::user_in(&mut tx, actor.practice_id, id).await?;
        let old_key: Option<Uuid> = tx
            .fetch_one(Sql::new("SELECT data_key_id FROM staff_user WHERE staff_user_id = $1").bind(id), "reading the TOTP key")
            .await?
            .get("data_key_id")?;
        let (data_key_id, sealed) = match secret {
            None => (None, None),
            Some(s) => {
                let key = RecordKey::create(&mut tx, &keys).await?;
                let hexed = zeroize::Zeroizing::new(hex::encode(s.expose_secret()));
                (Some(key.data_key_id), Some(key.seal("staff_user", "totp_secret", user.user_id.as_uuid(), &hexed)))
            }
        };
        tx.execute(
            Sql::new("UPDATE staff_user SET data_key_id = $2, totp_secret = $3, totp_last_step = NULL, updated_at = $4 WHERE staff_user_id = $1")
                .bind(id)
                .bind(data_key_id)
                .bind(sealed)
                .bind(now()),
            "storing a TOTP secret",
        )
        .await?;
        // The replaced secret's data key wraps nothing any more.
        if let Some(k) = old_key {
            tx.execute(Sql::new("DELETE FROM data_key WHERE data_key_id = $1").bind(k), "deleting the old TOTP key").await?;
        }
        self.audit(&mut tx, &keys, actor, "user.totp", "staff_user", Some(id.to_string())).await?;
        tx.commit().await
    }

    /// The user's TOTP secret, if enrolled (pre-auth: second factor check).
    pub async fn totp_secret(&self, id: UserId) -> Result<Option<SecretSlice<u8>>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_one(Sql::new("SELECT data_key_id, totp_secret FROM staff_user WHERE staff_user_id = $1").bind(id), "reading a TOTP secret")
            .await?;
        let (Some(dk), Some(sealed)) = (row.get::<Option<Uuid>>("data_key_id")?, row.get::<Option<Vec<u8>>>("totp_secret")?) else {
            return Ok(None);
        };
        let key = RecordKey::load(&mut tx, &keys, dk).await?;
        let hexed = zeroize::Zeroizing::new(key.open("staff_user", "totp_secret", id.as_uuid(), &sealed)?);
        let raw = hex::decode(hexed.as_str()).map_err(|_| StoreError::Decrypt { table: "staff_user", column: "totp_secret", row_id: id.to_string() })?;
        Ok(Some(SecretSlice::from(raw)))
    }

    /// Records `step` as used if it is newer than the last accepted one; atomic, so two
    /// processes racing on the same code cannot both accept it.
    pub async fn accept_totp_step(&self, id: UserId, step: i64) -> Result<TotpStep> {
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                Sql::new("UPDATE staff_user SET totp_last_step = $2 WHERE staff_user_id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)")
                    .bind(id)
                    .bind(step),
                "recording a TOTP step",
            )
            .await?;
        tx.commit().await?;
        Ok(if n == 1 { TotpStep::Accepted } else { TotpStep::Replayed })
    }

    /// Replaces all recovery codes with new hashes (computed by the assistant).
    pub async fn replace_recovery_codes(&self, actor: &Actor, id: UserId, code_hashes: &[String]) -> Result<()> {
        if code_hashes.len() > MAX_RECOVERY_CODES {
            return Err(StoreError::Invalid(format!("at most {MAX_RECOVERY_CODES} recovery codes")));
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        Self::user_in(&mut tx, actor.practice_id, id).await?;
        tx.execute(Sql::new("DELETE FROM recovery_code WHERE staff_user_id = $1").bind(id), "removing recovery codes").await?;
        let t = now();
        for h in code_hashes {
            tx.execute(
                Sql::new("INSERT INTO recovery_code (recovery_code_id, staff_user_id, code_hash, created_at) VALUES ($1,$2,$3,$4)")
                    .bind(Uuid::now_v7())
                    .bind(id)
                    .bind(h.as_str())
                    .bind(t),
                "storing a recovery code",
            )
            .await?;
        }
        self.audit(&mut tx, &keys, actor, "user.recovery_codes", "staff_user", Some(id.to_string())).await?;
        tx.commit().await
    }

    /// Hashes of the user's unused recovery codes (for salted-hash verification).
    pub async fn unused_recovery_code_hashes(&self, id: UserId) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(Sql::new("SELECT code_hash FROM recovery_code WHERE staff_user_id = $1 AND used_at IS NULL").bind(id), "reading recovery codes")
            .await?;
        rows.iter().map(|r| r.get("code_hash")).collect()
    }

    /// Spends one recovery code; each works once.
    pub async fn consume_recovery_code(&self, id: UserId, code_hash: &str) -> Result<RecoveryCode> {
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                Sql::new("UPDATE recovery_code SET used_at = $3 WHERE staff_user_id = $1 AND code_hash = $2 AND used_at IS NULL")
                    .bind(id)
                    .bind(code_hash)
                    .bind(now()),
                "spending a recovery code",
            )
            .await?;
        tx.commit().await?;
        Ok(if n == 1 { RecoveryCode::Consumed } else { RecoveryCode::Unknown })
    }
}
