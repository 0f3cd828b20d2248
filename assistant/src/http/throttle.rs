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
    let mut checks = vec![(&keys.0, s.max_failures_per_account)];
    if let Some(k) = &keys.1 {
        checks.push((k, s.max_failures_per_ip));
    }
    // Retry-After is the time left until the last of the exceeded windows ends.
    let mut blocked_until = None;
    for (key, limit) in checks {
        let (failures, ends) = state
            .store
            .auth_failure_window(key, window)
            .await
            .map_err(store_error)?;
        if failures >= limit {
            blocked_until = blocked_until.max(ends);
        }
    }
    match blocked_until {
        Some(ends) => Err(Error::TooManyRequests {
            retry_after: retry_after(ends, chrono::Utc::now()),
        }),
        None => Ok(()),
    }
}

/// Whole seconds until `ends`, rounded up and at least 1 (RFC 9110 10.2.3: Retry-After is a
/// non-negative number of seconds; 0 would invite an immediate retry that is still refused).
fn retry_after(ends: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
    let ms = (ends - now).num_milliseconds().max(0) as u64;
    std::time::Duration::from_secs(ms.div_ceil(1000).max(1))
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


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_the_time_left_rounded_up_and_never_zero() {
        let now = chrono::Utc::now();
        assert_eq!(retry_after(now + chrono::Duration::milliseconds(90_100), now).as_secs(), 91);
        assert_eq!(retry_after(now + chrono::Duration::seconds(60), now).as_secs(), 60);
        assert_eq!(retry_after(now - chrono::Duration::seconds(5), now).as_secs(), 1);
    }
}
