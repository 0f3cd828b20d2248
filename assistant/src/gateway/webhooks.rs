//! Provider webhooks, mounted in the HTTP server:
//! - `POST /webhooks/twilio/sms`: inbound SMS (twilio.com/docs/messaging/guides/webhook-request);
//! - `POST /webhooks/twilio/status`: delivery status callbacks for messages we sent;
//! - `POST /webhooks/telegram`: Bot API updates (core.telegram.org/bots/api#setwebhook).
//!
//! Every request is authenticated before anything else happens: Twilio's `X-Twilio-Signature`
//! over the configured public URL and the POST parameters, Telegram's secret token compared in
//! constant time. An unsigned or forged request gets 403 and changes nothing. Logs carry
//! provider ids and outcomes only, never a number, a chat id or a body.

use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use channels::telegram::{Delivery, RecentUpdates, StartCommand, UpdateContent, WebhookSecret, WebhookVerifier};
use channels::twilio::{DeliveryStatus, FailureClass, InboundSms, MessageStatus, WebhookValidator};
use store::outbox::{DeliveryReport, ErrorClass, OutboundChannel, Recipient, SenderKey};
use store::{PracticeId, Store};

use super::inbound::{self, InboundText};
use crate::app::AppState;

/// Twilio's header name (also `channels::twilio::SIGNATURE_HEADER`).
const TWILIO_SIGNATURE: &str = "x-twilio-signature";
/// Telegram's header for the `secret_token` given to setWebhook.
const TELEGRAM_SECRET: &str = "x-telegram-bot-api-secret-token";

/// What the webhooks remember between requests.
#[derive(Debug, Default)]
pub struct WebhookMemory {
    /// Telegram redelivers an update until it gets 200; recent ids are answered at once.
    telegram_updates: Mutex<RecentUpdates>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/twilio/sms", post(twilio_sms))
        .route("/webhooks/twilio/status", post(twilio_status))
        .route("/webhooks/telegram", post(telegram))
}

/// An empty TwiML answer: we reply (if at all) through the outbox, never in the response.
fn empty_twiml() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    )
        .into_response()
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "the request signature is missing or does not match").into_response()
}

fn failed(what: &'static str, e: &anyhow::Error) -> Response {
    // The provider retries a 5xx; our dedupe makes the retry safe.
    tracing::error!(error = format!("{e:#}"), what, "webhook handling failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "the webhook could not be handled; it will be retried").into_response()
}

/// The practice a provider account serves: as configured, or the database's only practice.
async fn practice(store: &Store, configured: Option<PracticeId>) -> anyhow::Result<PracticeId> {
    if let Some(p) = configured {
        return Ok(p);
    }
    let all = store.list_practices().await?;
    match all.as_slice() {
        [one] => Ok(one.practice_id),
        _ => anyhow::bail!("the database has {} practices: set practice_id in [twilio] / [telegram]", all.len()),
    }
}

/// The outbox sender key SMS replies go out under: the practice's Twilio sender.
pub fn sms_sender_key(sender: &channels::twilio::Sender) -> SenderKey {
    let key = match sender {
        channels::twilio::Sender::From(from) => format!("sms:{from}"),
        channels::twilio::Sender::MessagingService(sid) => format!("sms:{sid}"),
    };
    SenderKey::parse(&key).unwrap_or_else(|_| SenderKey::parse("sms:default").expect("a valid constant"))
}

/// Checks `X-Twilio-Signature` against the public URL Twilio called (the configured public URL,
/// this path and query: what Twilio signed, not what a proxy forwarded) and returns the form.
/// The refusal is boxed: a `Response` is large and this is the rare path.
fn verify_twilio(state: &AppState, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<channels::twilio::WebhookForm, Box<Response>> {
    let Some(twilio) = &state.settings.gateway.twilio else {
        return Err(Box::new(StatusCode::NOT_FOUND.into_response()));
    };
    let Some(public) = state.settings.public_url.as_deref() else {
        tracing::error!("a Twilio webhook arrived but public_url is not set, so its signature cannot be checked");
        return Err(Box::new(forbidden()));
    };
    let url = format!("{}{}", public.trim_end_matches('/'), uri.path_and_query().map_or(uri.path(), |p| p.as_str()));
    let signature = headers.get(TWILIO_SIGNATURE).and_then(|v| v.to_str().ok());
    let validator = WebhookValidator::new(twilio.auth_token.clone());
    let form = validator.verify_form(&url, body, signature).map_err(|e| {
        tracing::warn!(error = %e, "refused a Twilio webhook");
        Box::new(forbidden())
    })?;
    // A valid signature from another account of ours is still not for this one.
    if form.get("AccountSid").is_some_and(|a| a != twilio.account_sid.as_str()) {
        tracing::warn!("refused a Twilio webhook for another account");
        return Err(Box::new(forbidden()));
    }
    Ok(form)
}

async fn twilio_sms(State(state): State<AppState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let form = match verify_twilio(&state, &uri, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let sms = match InboundSms::from_form(&form) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let twilio = state.settings.gateway.twilio.as_ref().expect("verify_twilio checked it");
    let Ok(from) = store::E164::parse(&sms.from) else {
        // A short code or alphanumeric sender: nobody to answer, nothing of a client's.
        tracing::info!(message_sid = %sms.message_sid, "inbound SMS from a sender that is not a phone number: ignored");
        return empty_twiml();
    };
    let result = async {
        let practice = practice(&state.store, twilio.practice_id).await?;
        inbound::handle(
            &state.store,
            InboundText {
                practice,
                sender: Recipient::Sms(from),
                provider_id: sms.message_sid.as_str(),
                body: &sms.body,
                reply_sender: sms_sender_key(&twilio.sender),
            },
        )
        .await
    }
    .await;
    match result {
        Ok(handled) => {
            tracing::info!(message_sid = %sms.message_sid, outcome = ?handled, "inbound SMS handled");
            empty_twiml()
        }
        Err(e) => failed("inbound SMS", &e),
    }
}

async fn twilio_status(State(state): State<AppState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let form = match verify_twilio(&state, &uri, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let status = match DeliveryStatus::from_form(&form) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let report = match (status.status, status.failure()) {
        (MessageStatus::Sent, _) => DeliveryReport::Sent,
        (MessageStatus::Delivered | MessageStatus::Read, _) => DeliveryReport::Delivered,
        (_, Some(class)) => DeliveryReport::Failed(match class {
            FailureClass::RetryLater => ErrorClass::RetryLater,
            FailureClass::NeverRetry => ErrorClass::NeverRetry,
            FailureClass::OptedOut => ErrorClass::OptedOut,
            FailureClass::BadNumber => ErrorClass::BadNumber,
            FailureClass::Misconfigured => ErrorClass::Misconfigured,
        }),
        // queued, accepted, sending, scheduled, read…: nothing to record.
        _ => return StatusCode::NO_CONTENT.into_response(),
    };
    match state.store.status_callback(OutboundChannel::Sms, status.message_sid.as_str(), report).await {
        Ok(outcome) => {
            tracing::info!(message_sid = %status.message_sid, ?outcome, "status callback applied");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => failed("status callback", &anyhow::Error::new(e)),
    }
}

async fn telegram(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(tg) = &state.settings.gateway.telegram else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(secret) = tg.webhook_secret.clone().and_then(|s| WebhookSecret::parse(s).ok()) else {
        tracing::error!("a Telegram update arrived but no valid [telegram] webhook_secret is set");
        return forbidden();
    };
    let update = match WebhookVerifier::new(&secret).verify_update(headers.get(TELEGRAM_SECRET).map(|v| v.as_bytes()), &body) {
        Ok(u) => u,
        Err(channels::Error::TelegramSecretMissing | channels::Error::TelegramSecretMismatch) => {
            tracing::warn!("refused a Telegram update with a missing or wrong secret token");
            return forbidden();
        }
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let seen = state.webhooks.telegram_updates.lock().unwrap_or_else(|p| p.into_inner()).record(update.update_id);
    if seen == Delivery::Repeat {
        return StatusCode::OK.into_response();
    }
    let UpdateContent::Text(text) = update.content else {
        return StatusCode::OK.into_response();
    };
    let provider_id = format!("tg-update-{}", update.update_id.get());
    let result = async {
        let practice = practice(&state.store, tg.practice_id).await?;
        let start = StartCommand::parse(&text.text);
        if start != StartCommand::NotStart {
            // The token is a secret: a /start message is answered, never stored as a text.
            return inbound::start(&state.store, practice, &text, &start, update.update_id).await;
        }
        inbound::handle(
            &state.store,
            InboundText {
                practice,
                sender: Recipient::Telegram(text.chat_id.get()),
                provider_id: &provider_id,
                body: &text.text,
                reply_sender: SenderKey::parse("telegram:bot").expect("a valid constant"),
            },
        )
        .await
    }
    .await;
    match result {
        Ok(handled) => {
            tracing::info!(update_id = update.update_id.get(), outcome = ?handled, "telegram update handled");
            StatusCode::OK.into_response()
        }
        Err(e) => {
            // Let Telegram redeliver it.
            state.webhooks.telegram_updates.lock().unwrap_or_else(|p| p.into_inner()).forget(update.update_id);
            failed("telegram update", &e)
        }
    }
}
