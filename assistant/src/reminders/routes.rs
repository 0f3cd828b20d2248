//! Staff routes for reminders: the practice's rules, templates (list, preview, save), clinicians'
//! telehealth links, and a visit's planned reminders. Saving is for administrators only
//! ([`Capability::ManageMessaging`]); templates and rules hold no PHI.

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use store::reminders::{ReminderChannel, ReminderRules, TemplateKind};
use store::{AppointmentId, UserId};

use super::telehealth::{JoinLink, parse_jitsi_base};
use super::template::{CHANNELS, KINDS, Template, Values, default_source};
use crate::app::AppState;
use crate::authz::Capability;
use crate::http::extract::{ApiJson, Staff, Target, store_error};
use crate::http::{ApiResult, Error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/reminder-rules", get(read_rules).put(save_rules))
        .route("/api/templates", get(list_templates))
        .route("/api/templates/preview", post(preview))
        .route("/api/templates/{channel}/{kind}", put(save_template))
        .route("/api/clinicians/{user_id}/join-link", put(set_join_link))
        .route("/api/appointments/{appointment_id}/reminders", get(appointment_reminders))
}

fn channel(s: &str) -> ApiResult<ReminderChannel> {
    ReminderChannel::parse(s).map_err(|_| Error::field("channel", "use sms or telegram"))
}

fn kind(s: &str) -> ApiResult<TemplateKind> {
    TemplateKind::parse(s).map_err(|_| Error::field("kind", "use reminder, reminder_virtual or join"))
}

async fn read_rules(State(state): State<AppState>, staff: Staff) -> ApiResult<Json<ReminderRules>> {
    staff.authorize(&state.store, Capability::ReadMessaging, "reminder_rule.read", Target::Collection).await?;
    Ok(Json(state.store.reminder_rules(&staff.actor).await.map_err(store_error)?))
}

async fn save_rules(State(state): State<AppState>, staff: Staff, ApiJson(mut rules): ApiJson<ReminderRules>) -> ApiResult<Json<ReminderRules>> {
    staff.authorize(&state.store, Capability::ManageMessaging, "reminder_rule.update", Target::Collection).await?;
    if let Some(base) = &rules.jitsi_base_url {
        rules.jitsi_base_url = Some(parse_jitsi_base(base).map_err(|e| Error::field("jitsi_base_url", e.to_string()))?);
    }
    rules.check().map_err(|e| Error::field("reminders", e.to_string()))?;
    Ok(Json(state.store.set_reminder_rules(&staff.actor, &rules).await.map_err(store_error)?))
}

/// One template as staff see it.
#[derive(Debug, Serialize)]
pub struct TemplateView {
    pub channel: ReminderChannel,
    pub kind: TemplateKind,
    pub body: String,
    /// True when the practice has not saved its own.
    pub is_default: bool,
}

async fn list_templates(State(state): State<AppState>, staff: Staff) -> ApiResult<Json<Vec<TemplateView>>> {
    staff.authorize(&state.store, Capability::ReadMessaging, "template.list", Target::Collection).await?;
    let saved = state.store.list_message_templates(&staff.actor).await.map_err(store_error)?;
    let mut out = Vec::new();
    for c in CHANNELS {
        for k in KINDS {
            let own = saved.iter().find(|t| t.channel == c && t.kind == k);
            out.push(TemplateView { channel: c, kind: k, body: own.map_or_else(|| default_source(c, k).to_owned(), |t| t.body.clone()), is_default: own.is_none() });
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    pub channel: String,
    pub kind: String,
    pub body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    pub body: String,
}

/// What a template renders to for a sample visit, and what it costs to send.
#[derive(Debug, Serialize)]
pub struct Preview {
    pub text: String,
    /// `gsm7` or `ucs2`.
    pub encoding: &'static str,
    pub segments: usize,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub characters: usize,
}

fn check_template(state: &AppState, body: &str, kind: TemplateKind) -> ApiResult<Template> {
    Template::parse(body, kind, state.settings.public_url.is_some()).map_err(|e| Error::field("body", e.to_string()))
}

async fn preview_of(state: &AppState, staff: &Staff, t: &Template, ch: ReminderChannel) -> ApiResult<Preview> {
    let practice = state.store.get_practice(&staff.actor).await.map_err(store_error)?;
    // A sample visit next Tuesday at 3:30 pm in the practice's zone.
    let tz = practice.details.time_zone.tz();
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let days = (7 + chrono::Weekday::Tue.num_days_from_monday() as i64 - chrono::Datelike::weekday(&today).num_days_from_monday() as i64) % 7;
    let day = today + chrono::Duration::days(if days == 0 { 7 } else { days });
    let local = day.and_hms_opt(15, 30, 0).expect("15:30 is a time");
    let starts = chrono::TimeZone::from_local_datetime(&tz, &local).earliest().map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc));
    let mut v = Values::for_visit("Alex", starts, tz, &practice.details.name, practice.details.phone.as_ref().map(|p| p.as_str()));
    v.join_link = "https://meet.google.com/abc-defg-hij".to_owned();
    v.portal_link = super::scheduler::portal_link(state.settings.public_url.as_deref()).unwrap_or_default();
    let text = t.render(&v);
    let count = channels::sms::count_segments(&text);
    if ch == ReminderChannel::Sms && channels::sms::SmsBody::parse(text.clone()).is_err() {
        return Err(Error::field("body", format!("the rendered text is longer than {} characters; shorten it", channels::sms::MAX_BODY_UNITS)));
    }
    Ok(Preview {
        encoding: match count.encoding {
            channels::sms::Encoding::Gsm7 => "gsm7",
            channels::sms::Encoding::Ucs2 => "ucs2",
        },
        segments: count.segments,
        units: count.units,
        characters: text.chars().count(),
        text,
    })
}

async fn preview(State(state): State<AppState>, staff: Staff, ApiJson(input): ApiJson<PreviewInput>) -> ApiResult<Json<Preview>> {
    staff.authorize(&state.store, Capability::ReadMessaging, "template.preview", Target::Collection).await?;
    let (ch, k) = (channel(&input.channel)?, kind(&input.kind)?);
    let t = check_template(&state, &input.body, k)?;
    Ok(Json(preview_of(&state, &staff, &t, ch).await?))
}

async fn save_template(State(state): State<AppState>, staff: Staff, Path((c, k)): Path<(String, String)>, ApiJson(input): ApiJson<TemplateInput>) -> ApiResult<Json<Preview>> {
    staff.authorize(&state.store, Capability::ManageMessaging, "template.update", Target::Collection).await?;
    let (ch, k) = (channel(&c)?, kind(&k)?);
    let t = check_template(&state, &input.body, k)?;
    let p = preview_of(&state, &staff, &t, ch).await?;
    state.store.save_message_template(&staff.actor, ch, k, t.source()).await.map_err(store_error)?;
    Ok(Json(p))
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JoinLinkInput {
    pub join_link: Option<String>,
}

async fn set_join_link(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>, ApiJson(input): ApiJson<JoinLinkInput>) -> ApiResult<Json<JoinLinkInput>> {
    let target = Target::Object { object_type: "staff_user", object_id: &raw };
    staff.authorize(&state.store, Capability::ManageMessaging, "join_link.update", target).await?;
    let id: UserId = raw.parse().map_err(|_| Error::NotFound)?;
    let link = input.join_link.as_deref().map(JoinLink::parse).transpose().map_err(|e| Error::field("join_link", e.to_string()))?;
    let r = state.store.set_clinician_join_link(&staff.actor, id, link.as_ref().map(JoinLink::as_str)).await;
    staff.found(&state.store, "join_link.update", target, r).await?;
    Ok(Json(JoinLinkInput { join_link: link.map(|l| l.as_str().to_owned()) }))
}

async fn appointment_reminders(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>) -> ApiResult<Json<Vec<store::reminders::Reminder>>> {
    let target = Target::Object { object_type: "appointment", object_id: &raw };
    let scope = staff.authorize(&state.store, Capability::ReadSchedule, "reminder.list", target).await?;
    let id: AppointmentId = raw.parse().map_err(|_| Error::NotFound)?;
    let r = state.store.list_appointment_reminders(&staff.actor, scope, id).await;
    Ok(Json(staff.found(&state.store, "reminder.list", target, r).await?))
}
