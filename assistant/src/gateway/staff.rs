//! Staff side of the gateway: the inbox of inbound texts, each staff member's alerts, and the
//! one-time Telegram link that connects a client's chat.
//!
//! - `GET /api/inbox?limit=N` (default 50, at most [`store::inbound::MAX_INBOX`]): inbound texts,
//!   newest first. Clinicians, trainees and supervisors see their caseload's; the front desk
//!   sees every client's and the texts from numbers no client has. Capability
//!   `ReadSecureMessages`; the store audits each row read.
//! - `POST /api/inbox/{id}/read`: marks one row dealt with (404 outside the caller's scope).
//! - `GET /api/alerts`: the caller's own unseen alerts (a client's text or portal reply),
//!   oldest first; `POST /api/alerts/{id}/seen` marks one seen. Only ever the caller's own.
//! - `POST /api/clients/{id}/telegram-link`: a `t.me/<bot>?start=<token>` link for the client,
//!   single use, for [`TELEGRAM_LINK_TTL`]; whoever may edit the client's contacts may issue one.
//!   Needs `[telegram]` configured. The token is returned once and only its hash is stored.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use store::inbound::{InboundMessage, MAX_INBOX};
use store::replies::StaffAlert;
use store::{ClientId, InboundMessageId};

use crate::app::AppState;
use crate::authz::Capability;
use crate::http::extract::{Staff, Target, store_error};
use crate::http::{ApiResult, Error};

/// How long a Telegram link works (once). Long enough to hand over at a visit and open at home.
pub const TELEGRAM_LINK_TTL: Duration = Duration::hours(72);
/// Rows an inbox listing returns when the request does not say.
pub const DEFAULT_INBOX: usize = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/inbox", get(inbox))
        .route("/api/inbox/{id}/read", post(mark_read))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/{id}/seen", post(mark_seen))
        .route("/api/clients/{client_id}/telegram-link", post(telegram_link))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    pub limit: Option<usize>,
}

async fn inbox(State(state): State<AppState>, staff: Staff, Query(q): Query<InboxQuery>) -> ApiResult<Json<Vec<InboundMessage>>> {
    let scope = staff.authorize(&state.store, Capability::ReadSecureMessages, "inbound.list", Target::Collection).await?;
    let limit = q.limit.unwrap_or(DEFAULT_INBOX);
    if !(1..=MAX_INBOX).contains(&limit) {
        return Err(Error::field("limit", format!("ask for 1 to {MAX_INBOX} messages")));
    }
    Ok(Json(state.store.list_inbox(&staff.actor, scope, limit).await.map_err(store_error)?))
}

async fn mark_read(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>) -> ApiResult<StatusCode> {
    let target = Target::Object { object_type: "inbound_message", object_id: &raw };
    let scope = staff.authorize(&state.store, Capability::ReadSecureMessages, "inbound.mark_read", target).await?;
    let id: InboundMessageId = raw.parse().map_err(|_| Error::NotFound)?;
    let r = state.store.mark_inbound_read(&staff.actor, scope, id).await;
    staff.found(&state.store, "inbound.mark_read", target, r).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn alerts(State(state): State<AppState>, staff: Staff) -> ApiResult<Json<Vec<StaffAlert>>> {
    Ok(Json(state.store.list_staff_alerts(&staff.actor, staff.user.user_id).await.map_err(store_error)?))
}

async fn mark_seen(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>) -> ApiResult<StatusCode> {
    let target = Target::Object { object_type: "staff_alert", object_id: &raw };
    let id: uuid::Uuid = match raw.parse() {
        Ok(id) => id,
        Err(_) => {
            staff.audit_denied(&state.store, "staff_alert.seen", target).await?;
            return Err(Error::NotFound);
        }
    };
    let r = state.store.mark_staff_alert_seen(&staff.actor, staff.user.user_id, id).await;
    staff.found(&state.store, "staff_alert.seen", target, r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A fresh Telegram link for a client.
#[derive(Debug, Serialize)]
pub struct TelegramLink {
    /// `https://t.me/<bot>?start=<token>`: give it to the client (in person, or in a message
    /// they asked for); it works once.
    pub link: String,
    pub expires_at: DateTime<Utc>,
}

async fn telegram_link(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>) -> ApiResult<(StatusCode, Json<TelegramLink>)> {
    let target = Target::Object { object_type: "client", object_id: &raw };
    let scope = staff.authorize(&state.store, Capability::EditContacts, "telegram_link.create", target).await?;
    let id: ClientId = raw.parse().map_err(|_| Error::NotFound)?;
    let Some(tg) = &state.settings.gateway.telegram else {
        return Err(Error::conflict("telegram", "Telegram is not set up: add a [telegram] table with bot_token to hearth.toml"));
    };
    let mut config = channels::telegram::TelegramConfig::new(tg.bot_token.clone());
    config.api_url = tg.api_url.clone();
    let client = channels::telegram::TelegramClient::new(config).map_err(|e| Error::Internal(anyhow::Error::new(e).context("setting up the Telegram client")))?;
    let bot = client.bot_username().await.map_err(|e| {
        tracing::warn!(error = %e, "getMe failed while issuing a Telegram link");
        Error::conflict("telegram", "Telegram did not confirm the bot's name; try again, or check [telegram] bot_token and api_url")
    })?;
    let token = channels::telegram::StartToken::generate();
    let expires_at = Utc::now() + TELEGRAM_LINK_TTL;
    let r = state.store.create_telegram_link(&staff.actor, scope, id, token.as_str(), expires_at).await;
    staff.found(&state.store, "telegram_link.create", target, r).await?;
    Ok((StatusCode::CREATED, Json(TelegramLink { link: token.link(&bot), expires_at })))
}
