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
    Ok(render(
        StatusCode::OK,
        "home.html",
        context! { title => "Home", badge => alerts, me => web.me(), csrf => web.csrf.clone(), schedule => schedule, can_schedule => can_schedule, alerts => alerts },
    ))
}
