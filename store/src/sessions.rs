//! Login sessions and the shared auth throttle. Only SHA-256 of a session token is stored, so a
//! leaked database does not yield usable cookies (OWASP Session Management Cheat Sheet). The
//! throttle counts failures per key (account or IP) in a fixed window in the database, so every
//! `serve` process sees the same counts.

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    Actor, Result, Store, StoreError,
    db::{Row, Sql},
    ids::{SessionId, UserId},
    types::{now, truncate},
};

/// A stored session (never the token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Session {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a presented token turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionLookup {
    /// Valid: proceed as this session's user.
    Active(Session),
    /// Past its absolute expiry: sign in again.
    Expired,
    /// Revoked (logout, password change, admin action): sign in again.
    Revoked,
    /// No such token.
    Unknown,
}

fn token_hash(token: &SecretString) -> Vec<u8> {
    Sha256::digest(token.expose_secret().as_bytes()).to_vec()
}

fn from_row(r: &Row) -> Result<Session> {
    Ok(Session {
        session_id: SessionId::from_uuid(r.get("auth_session_id")?),
        user_id: UserId::from_uuid(r.get("staff_user_id")?),
        created_at: r.get("created_at")?,
        last_seen_at: r.get("last_seen_at")?,
        expires_at: r.get("expires_at")?,
        revoked_at: r.get("revoked_at")?,
    })
}

const COLUMNS: &str = "auth_session_id, staff_user_id, created_at, last_seen_at, expires_at, revoked_at";

/// Longest throttle key (e.g. `ip:2001:db8::1`, `account:<uuid>`).
pub const MAX_THROTTLE_KEY: usize = 100;

impl Store {
    /// Starts a session for `user_id` (in the actor's practice) with the random `token` the
    /// assistant put in the cookie; only its SHA-256 is stored.
    pub async fn create_session(&self, actor: &Actor, user_id: UserId, token: &SecretString, expires_at: DateTime<Utc>) -> Result<Session> {
        if token.expose_secret().len() < 32 {
            return Err(StoreError::Invalid("session token must be at least 32 characters of randomness".to_owned()));
        }
        let keys = self.keys();
        let t = now();
        let s = Session { session_id: SessionId::new(), user_id, created_at: t, last_seen_at: t, expires_at: truncate(expires_at), revoked_at: None };
        let mut tx = self.begin().await?;
        Self::user_in(&mut tx, actor.practice_id, user_id).await?;
        tx.execute(
            Sql::new("INSERT INTO auth_session (auth_session_id, staff_user_id, token_hash, created_at, last_seen_at, expires_at) VALUES ($1,$2,$3,$4,$4,$5)")
                .bind(s.session_id)
                .bind(user_id)
                .bind(token_hash(token))
                .bind(t)
                .bind(s.expires_at),
            "creating a session",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "session.create", "auth_session", Some(s.session_id.to_string())).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Resolves a presented token.
    pub async fn session_by_token(&self, token: &SecretString) -> Result<SessionLookup> {
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_optional(Sql::dynamic(format!("SELECT {COLUMNS} FROM auth_session WHERE token_hash = $1")).bind(token_hash(token)), "looking up a session")
            .await?;
        let Some(row) = row else { return Ok(SessionLookup::Unknown) };
        let s = from_row(&row)?;
        Ok(if s.revoked_at.is_some() {
            SessionLookup::Revoked
        } else if s.expires_at <= Utc::now() {
            SessionLookup::Expired
        } else {
            SessionLookup::Active(s)
        })
    }

    /// Records activity (for idle timeouts computed by the assistant).
    pub async fn touch_session(&self, id: SessionId) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.execute(Sql::new("UPDATE auth_session SET last_seen_at = $2 WHERE auth_session_id = $1").bind(id).bind(now()), "touching a session").await?;
        tx.commit().await
    }

    /// Revokes one session (logout).
    pub async fn revoke_session(&self, actor: &Actor, id: SessionId) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                Sql::new(
                    "UPDATE auth_session SET revoked_at = $2 WHERE auth_session_id = $1 AND revoked_at IS NULL \
                     AND staff_user_id IN (SELECT staff_user_id FROM staff_user WHERE practice_id = $3)",
                )
                .bind(id)
                .bind(now())
                .bind(actor.practice_id),
                "revoking a session",
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.audit(&mut tx, &keys, actor, "session.revoke", "auth_session", Some(id.to_string())).await?;
        tx.commit().await
    }

    /// Revokes every live session of a user (password change, disable); returns how many.
    pub async fn revoke_user_sessions(&self, actor: &Actor, user_id: UserId) -> Result<u64> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        Self::user_in(&mut tx, actor.practice_id, user_id).await?;
        let n = tx
            .execute(
                Sql::new("UPDATE auth_session SET revoked_at = $2 WHERE staff_user_id = $1 AND revoked_at IS NULL").bind(user_id).bind(now()),
                "revoking sessions",
            )
            .await?;
        self.audit(&mut tx, &keys, actor, "session.revoke_all", "staff_user", Some(user_id.to_string())).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Counts one failed attempt for `key` and returns the failures in the current window
    /// (a fixed window of `window` starting at the first failure).
    pub async fn record_auth_failure(&self, key: &str, window: Duration) -> Result<u32> {
        check_key(key)?;
        let t = now();
        let mut tx = self.begin().await?;
        // Lock the row (PostgreSQL) so concurrent failures from several processes all count.
        let select = if tx.is_postgres() {
            "SELECT window_start, failures FROM auth_throttle WHERE throttle_key = $1 FOR UPDATE"
        } else {
            "SELECT window_start, failures FROM auth_throttle WHERE throttle_key = $1"
        };
        let row = tx.fetch_optional(Sql::new(select).bind(key), "reading the auth throttle").await?;
        let (start, failures) = match row {
            Some(r) => {
                let start: DateTime<Utc> = r.get("window_start")?;
                let n: i64 = r.get("failures")?;
                if start + window <= t { (t, 1) } else { (start, n + 1) }
            }
            None => (t, 1),
        };
        tx.execute(
            Sql::new(
                "INSERT INTO auth_throttle (throttle_key, window_start, failures, updated_at) VALUES ($1,$2,$3,$4) \
                 ON CONFLICT (throttle_key) DO UPDATE SET window_start = excluded.window_start, failures = excluded.failures, updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(start)
            .bind(failures)
            .bind(t),
            "counting an auth failure",
        )
        .await?;
        tx.commit().await?;
        Ok(u32::try_from(failures).unwrap_or(u32::MAX))
    }

    /// Failures for `key` in its current window (0 when the window has passed).
    pub async fn auth_failures(&self, key: &str, window: Duration) -> Result<u32> {
        check_key(key)?;
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_optional(Sql::new("SELECT window_start, failures FROM auth_throttle WHERE throttle_key = $1").bind(key), "reading the auth throttle")
            .await?;
        Ok(match row {
            Some(r) if r.get::<DateTime<Utc>>("window_start")? + window > Utc::now() => u32::try_from(r.get::<i64>("failures")?).unwrap_or(u32::MAX),
            _ => 0,
        })
    }

    /// Failures for `key` in its current window and when that window ends (`None` when there
    /// is no current window), so a throttled caller can be told exactly when to retry.
    pub async fn auth_failure_window(&self, key: &str, window: Duration) -> Result<(u32, Option<DateTime<Utc>>)> {
        check_key(key)?;
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_optional(Sql::new("SELECT window_start, failures FROM auth_throttle WHERE throttle_key = $1").bind(key), "reading the auth throttle")
            .await?;
        let Some(r) = row else { return Ok((0, None)) };
        let ends = r.get::<DateTime<Utc>>("window_start")? + window;
        if ends <= Utc::now() {
            return Ok((0, None));
        }
        Ok((u32::try_from(r.get::<i64>("failures")?).unwrap_or(u32::MAX), Some(ends)))
    }

    /// Forgets failures for `key` (after a successful login).
    pub async fn clear_auth_failures(&self, key: &str) -> Result<()> {
        check_key(key)?;
        let mut tx = self.begin().await?;
        tx.execute(Sql::new("DELETE FROM auth_throttle WHERE throttle_key = $1").bind(key), "clearing the auth throttle").await?;
        tx.commit().await
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_THROTTLE_KEY {
        return Err(StoreError::Invalid(format!("throttle key must be 1-{MAX_THROTTLE_KEY} bytes")));
    }
    Ok(())
}
