//! Sign-in throttling (OWASP Authentication Cheat Sheet, "Login Throttling"): failures are
//! counted per account and per client IP in the store, so every `serve` process sees the same
//! counts; past the configured limit the answer is 429 with Retry-After.

use super::extract::store_error;
use super::{ApiResult, Error};
use crate::app::AppState;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Throttle keys: the account by a hash of its e-mail (bounded length, no address in the table)
/// and the client IP.
pub fn throttle_keys(email: &str, ip: Option<IpAddr>) -> (String, Option<String>) {
    let account = format!(
        "account:{}",
        &hex::encode(Sha256::digest(email.as_bytes()))[..40]
    );
    (account, ip.map(|ip| format!("ip:{ip}")))
}

pub async fn check_throttle(state: &AppState, keys: &(String, Option<String>)) -> ApiResult<()> {
    let s = &state.settings;
    let window = chrono::Duration::minutes(s.throttle_window_minutes.into());
    let account = state
        .store
        .auth_failures(&keys.0, window)
        .await
        .map_err(store_error)?;
    let ip = match &keys.1 {
        Some(k) => state
            .store
            .auth_failures(k, window)
            .await
            .map_err(store_error)?,
        None => 0,
    };
    if account >= s.max_failures_per_account || ip >= s.max_failures_per_ip {
        return Err(Error::TooManyRequests {
            retry_after: std::time::Duration::from_secs(u64::from(s.throttle_window_minutes) * 60),
        });
    }
    Ok(())
}

pub async fn record_failure(state: &AppState, keys: &(String, Option<String>)) -> ApiResult<()> {
    let window = chrono::Duration::minutes(state.settings.throttle_window_minutes.into());
    state
        .store
        .record_auth_failure(&keys.0, window)
        .await
        .map_err(store_error)?;
    if let Some(k) = &keys.1 {
        state
            .store
            .record_auth_failure(k, window)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

