//! The practice's records policy, set by its administrator:
//!
//! - `audio_retention_days`: keep scribe recordings this many days after transcription
//!   (absent or 0: delete as soon as the transcript exists, the default);
//! - `transcript_retention_days`: delete scribe transcripts after this many days (absent: keep);
//! - `unsigned_alert_hours`: a draft unsigned this long shows as overdue on the author's and
//!   their supervisor's home (default 24).
//!
//! `GET /api/practice/records-policy` and `PUT` with the three keys (each a whole number or
//! `null` for the default). Stored in the practice settings beside the reminder rules, which a
//! PUT here leaves untouched. Audited by the store (`practice.update`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::extract::{ApiJson, Staff, Target, store_error};
use super::{ApiResult, Error};
use crate::app::AppState;
use crate::authz::Capability;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/practice/records-policy", get(read).put(save))
}

/// The longest any of the three may be: ten years of days, thirty days of hours.
const MAX_DAYS: u32 = 3650;
const MAX_ALERT_HOURS: u32 = 720;

#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecordsPolicy {
    pub audio_retention_days: Option<u32>,
    pub transcript_retention_days: Option<u32>,
    pub unsigned_alert_hours: Option<u32>,
}

const KEYS: [&str; 3] = ["audio_retention_days", "transcript_retention_days", "unsigned_alert_hours"];

fn from_settings(s: &serde_json::Value) -> RecordsPolicy {
    let get = |k: &str| s.get(k).and_then(serde_json::Value::as_u64).and_then(|v| u32::try_from(v).ok());
    RecordsPolicy { audio_retention_days: get(KEYS[0]), transcript_retention_days: get(KEYS[1]), unsigned_alert_hours: get(KEYS[2]) }
}

async fn read(State(state): State<AppState>, staff: Staff) -> ApiResult<Json<RecordsPolicy>> {
    staff.authorize(&state.store, Capability::ManagePractice, "practice.read", Target::Collection).await?;
    let practice = state.store.get_practice(&staff.actor).await.map_err(store_error)?;
    Ok(Json(from_settings(&practice.details.settings)))
}

async fn save(State(state): State<AppState>, staff: Staff, ApiJson(input): ApiJson<RecordsPolicy>) -> ApiResult<Json<RecordsPolicy>> {
    staff.authorize(&state.store, Capability::ManagePractice, "practice.update", Target::Collection).await?;
    for (field, value, max) in [
        ("audio_retention_days", input.audio_retention_days, MAX_DAYS),
        ("transcript_retention_days", input.transcript_retention_days, MAX_DAYS),
        ("unsigned_alert_hours", input.unsigned_alert_hours, MAX_ALERT_HOURS),
    ] {
        if value.is_some_and(|v| v > max) {
            return Err(Error::field(field, format!("use 0 to {max}, or null for the default")));
        }
    }
    if input.unsigned_alert_hours == Some(0) {
        return Err(Error::field("unsigned_alert_hours", format!("use 1 to {MAX_ALERT_HOURS}, or null for 24")));
    }
    let mut practice = state.store.get_practice(&staff.actor).await.map_err(store_error)?;
    let settings = practice.details.settings.as_object_mut().ok_or_else(|| Error::Internal(anyhow::anyhow!("practice settings are not a JSON object")))?;
    for (key, value) in KEYS.iter().zip([input.audio_retention_days, input.transcript_retention_days, input.unsigned_alert_hours]) {
        match value {
            Some(v) => settings.insert((*key).to_owned(), serde_json::json!(v)),
            None => settings.remove(*key),
        };
    }
    // The scribe store reads the same keys; check them its way before saving.
    store::jobs::RetentionPolicy::from_settings(&practice.details.settings).map_err(store_error)?;
    let saved = state.store.update_practice(&staff.actor, &practice.details).await.map_err(store_error)?;
    Ok(Json(from_settings(&saved.details.settings)))
}
