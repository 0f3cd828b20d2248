//! `/app`: the signed-in home page. Today's visits in the practice's time zone (a clinician's
//! caseload, or every visit for the front desk), and how many client messages wait for the
//! user. The count is in the page title too, so it shows on the browser tab.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{NaiveTime, TimeZone, Utc};
use minijinja::context;

use super::{WebStaff, error_page, render};
use crate::app::AppState;
use crate::authz::{self, Access, Capability};

pub fn router() -> Router<AppState> {
    Router::new().route("/app", get(home))
}

async fn home(State(state): State<AppState>, web: WebStaff) -> Response {
    match build(&state, &web).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the home page failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR, "Home", "Your home page could not be loaded. Try again in a moment.")
        }
    }
}

async fn build(state: &AppState, web: &WebStaff) -> anyhow::Result<Response> {
    let staff = &web.staff;
    let practice = state.store.get_practice(&staff.actor).await?;
    let tz: chrono_tz::Tz = practice.details.time_zone.as_str().parse().unwrap_or(chrono_tz::UTC);
    let today = Utc::now().with_timezone(&tz).date_naive();
    let start = tz.from_local_datetime(&today.and_time(NaiveTime::MIN)).earliest().map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let end = start + chrono::Duration::days(1);

    let can_schedule = matches!(authz::check(&staff.roles, Capability::ReadSchedule), Access::Granted(_));
    let mut schedule = Vec::new();
    if can_schedule {
        let scope = staff.authorize(&state.store, Capability::ReadSchedule, "appointment.list", crate::http::extract::Target::Collection).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let visits = state.store.list_appointments(&staff.actor, scope, start, end).await?;
        let clients = state.store.list_clients(&staff.actor, scope).await?;
        for a in visits {
            let names: Vec<String> = a
                .details
                .client_ids
                .iter()
                .map(|id| clients.iter().find(|c| c.client_id == *id).map_or_else(|| "(not in your caseload)".to_owned(), |c| format!("{} {}", c.preferred_name.as_deref().unwrap_or(&c.first_name), c.last_name)))
                .collect();
            schedule.push(context! {
                time => a.details.starts_at.with_timezone(&tz).format("%H:%M").to_string(),
                clients => names.join(", "),
                modality => format!("{:?}", a.details.modality).to_lowercase(),
                status => format!("{:?}", a.status).to_lowercase(),
            });
        }
    }
    let alerts = state.store.list_staff_alerts(&staff.actor, staff.user.user_id).await?.len();

    // Compliance: drafts unsigned past the practice's limit (default 24 h), the user's own and,
    // for a supervisor, their trainees'; notes returned to the user; notes to co-sign.
    let mut unsigned = Vec::new();
    let mut returned = Vec::new();
    let mut cosign = 0usize;
    let hours = practice.details.settings.get("unsigned_alert_hours").and_then(serde_json::Value::as_u64).filter(|h| (1..=24 * 30).contains(h)).unwrap_or(24);
    if let Access::Granted(_) = authz::check(&staff.roles, Capability::ReadNoteText) {
        let scope = staff.authorize(&state.store, Capability::ReadNoteText, "note.list", crate::http::extract::Target::Collection).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let me = staff.user.user_id;
        let mut authors = vec![me];
        authors.extend(state.store.supervisees(&staff.actor, me).await?);
        let users = state.store.list_users(&staff.actor).await?;
        let name = |id: store::UserId| users.iter().find(|u| u.user_id == id).map_or_else(String::new, |u| u.display_name.clone());
        let cutoff = Utc::now() - chrono::Duration::hours(hours as i64);
        for n in state.store.unsigned_notes(&staff.actor, scope, &authors, cutoff).await? {
            unsigned.push(context! { id => n.note_id.to_string(), format => n.format.clone(), author => name(n.author_id), created => n.created_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string() });
        }
        for n in state.store.returned_notes(&staff.actor, scope, me).await? {
            returned.push(context! { id => n.note_id.to_string(), format => n.format.clone(), signed => n.signed_at.map(|t| t.with_timezone(&tz).format("%Y-%m-%d").to_string()).unwrap_or_default() });
        }
        cosign = state.store.cosign_queue(&staff.actor, scope, me).await?.len();
    }
    let badge = alerts + unsigned.len() + returned.len();
    Ok(render(
        StatusCode::OK,
        "home.html",
        context! {
            title => "Home", badge => badge, me => web.me(), csrf => web.csrf.clone(), schedule => schedule, can_schedule => can_schedule, alerts => alerts,
            unsigned => unsigned, unsigned_hours => hours, returned => returned, cosign => cosign,
        },
    ))
}
