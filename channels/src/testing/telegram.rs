//! A fake Telegram Bot API for tests: a real HTTP server on 127.0.0.1 that speaks the Bot API's
//! wire format (core.telegram.org/bots/api#making-requests): `POST /bot{token}/{method}` with a
//! JSON body, answers `{"ok":true,"result":...}` or `{"ok":false,"error_code":...,
//! "description":...,"parameters":{...}}`, 401 "Unauthorized" for a wrong token and 404 "Not
//! Found" for an unknown method. Tests script its next sendMessage answers and inspect what it
//! accepted; [`deliver_update`](crate::testing::telegram::deliver_update) posts an update to a webhook with the secret-token header as
//! Telegram does.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest as _, Multipart, Path, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::telegram::webhook::SECRET_TOKEN_HEADER;
use crate::telegram::{ChatId, MessageId};

/// The fake bot's username (getMe).
pub const FAKE_BOT_USERNAME: &str = "HearthTestBot";

/// What the fake does with the next sendMessage request, instead of its normal handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelegramScripted {
    /// 429 "Too Many Requests: retry after N" with `parameters.retry_after` and `Retry-After`.
    RateLimited { retry_after_secs: u32 },
    /// 403 "Forbidden: bot was blocked by the user".
    Blocked,
    /// 403 "Forbidden: user is deactivated".
    Deactivated,
    /// 400 "Bad Request: chat not found".
    ChatNotFound,
    /// 500 "Internal Server Error".
    ServerError,
    /// Accept and record the message, then wait this long before answering (so the client
    /// times out after the request was sent).
    AcceptThenHang(Duration),
}

/// A message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTelegram {
    pub message_id: MessageId,
    pub chat_id: ChatId,
    pub text: String,
}

/// What setWebhook registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRegistration {
    pub url: String,
    pub secret_token: Option<String>,
    pub allowed_updates: Option<Vec<String>>,
}

#[derive(Debug)]
struct State {
    token: String,
    bot_id: i64,
    blocked: HashSet<i64>,
    script: VecDeque<TelegramScripted>,
    sent: Vec<SentTelegram>,
    webhook: Option<WebhookRegistration>,
    next_message_id: i32,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panic in one handler must not hide every later assertion behind a poisoned lock.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake Bot API; stops when dropped.
pub struct FakeTelegram {
    addr: SocketAddr,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeTelegram {
    /// Starts a fake on a free port with a fresh bot token.
    pub async fn start() -> std::io::Result<Self> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let bot_id = 100_000_000 + i64::try_from(seed % 900_000_000).unwrap_or(0);
        let state = Arc::new(Mutex::new(State {
            token: format!(
                "{bot_id}:AAH{:032x}",
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ),
            bot_id,
            blocked: HashSet::new(),
            script: VecDeque::new(),
            sent: Vec::new(),
            webhook: None,
            next_message_id: 1,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/{bot}/{method}", post(method))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            state,
            server,
        })
    }

    /// Base URL for [`crate::telegram::TelegramConfig::api_url`].
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token the fake accepts.
    pub fn bot_token(&self) -> SecretString {
        SecretString::from(lock(&self.state).token.clone())
    }

    /// Makes sends to `chat` fail with 403, as after the client blocked the bot.
    pub fn block(&self, chat: ChatId) {
        lock(&self.state).blocked.insert(chat.get());
    }

    /// Queues an answer for the next sendMessage request that passes authentication.
    pub fn script(&self, answer: TelegramScripted) {
        lock(&self.state).script.push_back(answer);
    }

    /// Every message accepted so far, oldest first.
    pub fn sent(&self) -> Vec<SentTelegram> {
        lock(&self.state).sent.clone()
    }

    /// The last setWebhook registration.
    pub fn webhook(&self) -> Option<WebhookRegistration> {
        lock(&self.state).webhook.clone()
    }

    /// Posts `update` to the registered webhook with its secret, as Telegram does.
    pub async fn deliver(&self, update: &Value) -> Result<u16, String> {
        let hook = self
            .webhook()
            .ok_or("no webhook was registered with setWebhook")?;
        deliver_update(&hook.url, hook.secret_token.as_deref(), update).await
    }
}

/// An `Update` with a text message from a person in a private chat, as Telegram sends it.
pub fn text_update(update_id: i64, chat: ChatId, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id % 1_000_000 + 1,
            "from": {"id": chat.get(), "is_bot": false, "first_name": "Client", "language_code": "en"},
            "chat": {"id": chat.get(), "first_name": "Client", "type": "private"},
            "date": chrono::Utc::now().timestamp(),
            "text": text,
        }
    })
}

/// POSTs an update to a webhook URL as Telegram does: JSON body, and the
/// `X-Telegram-Bot-Api-Secret-Token` header when `secret` is given. Returns the HTTP status.
pub async fn deliver_update(
    url: &str,
    secret: Option<&str>,
    update: &Value,
) -> Result<u16, String> {
    let mut request = reqwest::Client::new()
        .post(url)
        .header(header::CONTENT_TYPE.as_str(), "application/json")
        .body(update.to_string());
    if let Some(secret) = secret {
        request = request.header(SECRET_TOKEN_HEADER, secret);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("posting the update: {e}"))?;
    Ok(response.status().as_u16())
}

/// The Bot API's error shape; `error_code` is the HTTP status.
fn error(status: StatusCode, description: &str) -> Response {
    let body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"ok": true, "result": result}).to_string(),
    )
        .into_response()
}

/// The Bot API takes parameters as JSON or as multipart/form-data (teloxide uses the latter for
/// methods that can upload files, such as setWebhook). In a form, arrays and objects are JSON
/// text.
async fn parameters(headers: &HeaderMap, body: Bytes) -> Option<Value> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if body.is_empty() {
        return Some(json!({}));
    }
    if !content_type.starts_with("multipart/form-data") {
        return serde_json::from_slice(&body).ok();
    }
    let request = axum::http::Request::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(axum::body::Body::from(body))
        .ok()?;
    let mut form = Multipart::from_request(request, &()).await.ok()?;
    let mut params = serde_json::Map::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name()?.to_string();
        let text = field.text().await.ok()?;
        let value = match serde_json::from_str::<Value>(&text) {
            Ok(v @ (Value::Array(_) | Value::Object(_))) => v,
            _ => Value::String(text),
        };
        params.insert(name, value);
    }
    Some(Value::Object(params))
}

async fn method(
    AxumState(state): AxumState<Shared>,
    Path((bot, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    if token != lock(&state).token {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let Some(params) = parameters(&headers, body).await else {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request: can't parse parameters",
        );
    };
    // Telegram's method names are case-insensitive.
    match method.to_ascii_lowercase().as_str() {
        "getme" => get_me(&state),
        "setwebhook" => set_webhook(&state, &params),
        "sendmessage" => send_message(&state, &params).await,
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn get_me(state: &Shared) -> Response {
    let bot_id = lock(state).bot_id;
    ok(json!({
        "id": bot_id, "is_bot": true, "first_name": "Hearth", "username": FAKE_BOT_USERNAME,
        "can_join_groups": false, "can_read_all_group_messages": false,
        "supports_inline_queries": false, "can_connect_to_business": false,
        "has_main_web_app": false,
    }))
}

fn set_webhook(state: &Shared, params: &Value) -> Response {
    let Some(url) = params.get("url").and_then(Value::as_str) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request: bad webhook: URL must be provided",
        );
    };
    let secret = params
        .get("secret_token")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(s) = &secret
        && crate::telegram::webhook::WebhookSecret::parse(SecretString::from(s.clone())).is_err()
    {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request: secret token contains unallowed characters",
        );
    }
    let allowed_updates = params.get("allowed_updates").and_then(|a| {
        a.as_array().map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
    });
    lock(state).webhook = Some(WebhookRegistration {
        url: url.to_string(),
        secret_token: secret,
        allowed_updates,
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"ok": true, "result": true, "description": "Webhook was set"}).to_string(),
    )
        .into_response()
}

async fn send_message(state: &Shared, params: &Value) -> Response {
    let chat_id = match params.get("chat_id") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        _ => return error(StatusCode::BAD_REQUEST, "Bad Request: chat_id is empty"),
    };
    let Some(chat_id) = chat_id else {
        return error(StatusCode::BAD_REQUEST, "Bad Request: chat not found");
    };
    let text = params.get("text").and_then(Value::as_str).unwrap_or("");
    if text.trim().is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request: message text is empty",
        );
    }
    if text.encode_utf16().count() > crate::telegram::client::MAX_TEXT_UTF16_UNITS {
        return error(StatusCode::BAD_REQUEST, "Bad Request: message is too long");
    }
    let scripted = {
        let mut s = lock(state);
        if s.blocked.contains(&chat_id) {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden: bot was blocked by the user",
            );
        }
        s.script.pop_front()
    };
    match scripted {
        Some(TelegramScripted::RateLimited { retry_after_secs }) => {
            let body = json!({
                "ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {retry_after_secs}"),
                "parameters": {"retry_after": retry_after_secs},
            });
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (header::RETRY_AFTER, retry_after_secs.to_string()),
                ],
                body.to_string(),
            )
                .into_response();
        }
        Some(TelegramScripted::Blocked) => {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden: bot was blocked by the user",
            );
        }
        Some(TelegramScripted::Deactivated) => {
            return error(StatusCode::FORBIDDEN, "Forbidden: user is deactivated");
        }
        Some(TelegramScripted::ChatNotFound) => {
            return error(StatusCode::BAD_REQUEST, "Bad Request: chat not found");
        }
        Some(TelegramScripted::ServerError) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
        Some(TelegramScripted::AcceptThenHang(_)) | None => {}
    }
    let (message, bot_id) = {
        let mut s = lock(state);
        let id = s.next_message_id;
        s.next_message_id += 1;
        let m = SentTelegram {
            message_id: MessageId::new(id),
            chat_id: ChatId::new(chat_id),
            text: text.to_string(),
        };
        s.sent.push(m.clone());
        (m, s.bot_id)
    };
    if let Some(TelegramScripted::AcceptThenHang(delay)) = scripted {
        tokio::time::sleep(delay).await;
    }
    ok(json!({
        "message_id": message.message_id.get(),
        "from": {"id": bot_id, "is_bot": true, "first_name": "Hearth", "username": FAKE_BOT_USERNAME},
        "chat": {"id": chat_id, "first_name": "Client", "type": "private"},
        "date": chrono::Utc::now().timestamp(),
        "text": message.text,
    }))
}
