//! Staff side of secure messages. Who may (see [`crate::authz`]): clinicians, trainees and
//! supervisors for their caseload, front desk for every client; billers and administrators not
//! at all. Every call is audited by the store; denials by [`Staff::authorize`].
//!
//! The notice goes by the client's first usable channel (their preference order; SMS only with
//! texting consent; never to an opted-out address) and says only the practice name and the
//! link: never the message (DESIGN invariant "No PHI in SMS or Telegram text").

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use store::clients::{Channel, Client};
use store::messages::{Direction, MessageStatus, NewMessage};
use store::outbox::{IdempotencyKey, NewOutbound, Purpose, Recipient, SenderKey};
use store::portal::{LINK_TTL, PortalLinkGrant, ThreadMessage, UnreadReplies};
use store::{ClientId, MessageId};

use crate::app::AppState;
use crate::authz::Capability;
use crate::http::extract::{ApiJson, Staff, Target, store_error};
use crate::http::{ApiResult, Error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/clients/{client_id}/secure-messages", get(thread).post(send))
        .route("/api/portal/unread", get(unread))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecureMessageInput {
    pub body: String,
}

/// What sending did.
#[derive(Debug, Serialize)]
pub struct SecureMessageSent {
    pub message_id: MessageId,
    /// `sms`, `telegram`, or `none` when no channel may reach the client (they can still be
    /// told in person; the message waits in the thread).
    pub notice: &'static str,
}

/// The notice text: practice name and link only.
pub fn notice_text(practice_name: &str, link: &str) -> String {
    format!("{practice_name}: you have a new secure message. Read it at {link} (the link works once, for {} minutes).", LINK_TTL.num_minutes())
}

/// The first channel the client may be reached on for a notice.
async fn notice_recipient(state: &AppState, staff: &Staff, client: &Client) -> ApiResult<Option<Recipient>> {
    let order = if client.channel_preferences.is_empty() { vec![Channel::Sms, Channel::Telegram] } else { client.channel_preferences.clone() };
    for ch in order {
        let r = match ch {
            Channel::Sms if client.texting_consent => client.phone.clone().map(Recipient::Sms),
            Channel::Telegram => client.telegram_chat_id.map(Recipient::Telegram),
            _ => None,
        };
        if let Some(r) = r
            && !state.store.is_opted_out(&staff.actor, &r).await.map_err(store_error)?
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

async fn send(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>, ApiJson(input): ApiJson<SecureMessageInput>) -> ApiResult<(StatusCode, Json<SecureMessageSent>)> {
    let target = Target::Object { object_type: "client", object_id: &raw };
    let scope = staff.authorize(&state.store, Capability::SendSecureMessages, "message.create", target).await?;
    let id: ClientId = raw.parse().map_err(|_| Error::NotFound)?;
    if input.body.trim().is_empty() || input.body.len() > store::messages::MAX_BODY_BYTES {
        return Err(Error::field("body", format!("write 1 to {} bytes", store::messages::MAX_BODY_BYTES)));
    }
    let client = staff.found(&state.store, "message.create", target, state.store.get_client(&staff.actor, scope, id).await).await?;
    let Some(base) = state.settings.public_url.as_deref() else {
        return Err(Error::conflict("public_url", "set public_url so the notice can carry a portal link"));
    };
    let practice = state.store.get_practice(&staff.actor).await.map_err(store_error)?;
    let new = NewMessage { client_id: id, direction: Direction::Outbound, channel: Channel::Portal, body: input.body, status: MessageStatus::Queued, provider_id: None };
    let token = super::random_token();
    let recipient = notice_recipient(&state, &staff, &client).await?;
    let notice = recipient.map(|r| {
        let link = format!("{}/portal/m/{token}", base.trim_end_matches('/'));
        let sender = match (&r, &practice.details.phone) {
            (Recipient::Telegram(_), _) => "telegram:bot".to_owned(),
            (_, Some(p)) => format!("sms:{}", p.as_str()),
            (_, None) => "sms:default".to_owned(),
        };
        NewOutbound {
            client_id: Some(id),
            body: notice_text(&practice.details.name, &link),
            purpose: Purpose::PortalNotice,
            appointment_id: None,
            message_id: None,
            sender_key: SenderKey::parse(&sender).unwrap_or_else(|_| SenderKey::parse("sms:default").expect("a fixed valid sender key")),
            idempotency_key: IdempotencyKey::parse(&format!("portal_notice:{}", uuid::Uuid::new_v4().simple())).expect("a fixed prefix and a uuid form a valid key"),
            not_before: None,
            recipient: r,
        }
    });
    let channel = match notice.as_ref().map(|n| n.recipient.channel()) {
        Some(store::outbox::OutboundChannel::Sms) => "sms",
        Some(store::outbox::OutboundChannel::Telegram) => "telegram",
        Some(store::outbox::OutboundChannel::Console) => "console",
        None => "none",
    };
    let grant = notice.map(|notice| PortalLinkGrant { token: &token, expires_at: chrono::Utc::now() + LINK_TTL, notice });
    let (m, _) = state.store.send_secure_message(&staff.actor, scope, &new, grant.as_ref()).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(SecureMessageSent { message_id: m.message_id, notice: channel })))
}

async fn thread(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>) -> ApiResult<Json<Vec<ThreadMessage>>> {
    let target = Target::Object { object_type: "client", object_id: &raw };
    let scope = staff.authorize(&state.store, Capability::ReadSecureMessages, "message.thread", target).await?;
    let id: ClientId = raw.parse().map_err(|_| Error::NotFound)?;
    let r = state.store.staff_thread(&staff.actor, scope, id).await;
    Ok(Json(staff.found(&state.store, "message.thread", target, r).await?))
}

async fn unread(State(state): State<AppState>, staff: Staff) -> ApiResult<Json<Vec<UnreadReplies>>> {
    let scope = staff.authorize(&state.store, Capability::ReadSecureMessages, "message.unread", Target::Collection).await?;
    Ok(Json(state.store.unread_portal_replies(&staff.actor, scope).await.map_err(store_error)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_the_practice_and_the_link_and_nothing_else() {
        let t = notice_text("Practice A", "https://h.example/portal/m/abc");
        assert_eq!(t, "Practice A: you have a new secure message. Read it at https://h.example/portal/m/abc (the link works once, for 30 minutes).");
    }
}
