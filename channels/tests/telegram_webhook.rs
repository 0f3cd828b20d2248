//! The Telegram webhook as the assistant will mount it: an axum route that checks the secret
//! token, parses the update and drops repeats, driven by the fake Bot API's deliveries.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use channels::telegram::{
    BotUsername, ChatId, Delivery, RecentUpdates, SECRET_TOKEN_HEADER, StartCommand, StartToken,
    TelegramClient, TelegramConfig, Update, UpdateContent, WebhookSecret, WebhookVerifier,
};
use channels::testing::FakeTelegram;
use channels::testing::telegram::{deliver_update, text_update};
use channels::{Error, SecretString};
use serde_json::json;

const SECRET: &str = "hearth-webhook_Secret-0123456789";
const CHAT: ChatId = ChatId::new(555_000_111);

#[derive(Clone)]
struct Hook {
    verifier: WebhookVerifier,
    recent: Arc<Mutex<RecentUpdates>>,
    handled: Arc<Mutex<Vec<Update>>>,
}

/// The route the assistant mounts: 401 without the header, 403 with a wrong one, 200 otherwise
/// (also for repeats, ignored kinds and unreadable bodies, so Telegram stops redelivering them).
async fn webhook(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = headers.get(SECRET_TOKEN_HEADER).map(|v| v.as_bytes());
    let update = match hook.verifier.verify_update(secret, &body) {
        Ok(update) => update,
        Err(Error::TelegramSecretMissing) => return StatusCode::UNAUTHORIZED,
        Err(Error::TelegramSecretMismatch) => return StatusCode::FORBIDDEN,
        Err(_) => return StatusCode::OK,
    };
    let delivery = hook
        .recent
        .lock()
        .expect("no panics hold the lock")
        .record(update.update_id);
    if delivery == Delivery::First {
        hook.handled
            .lock()
            .expect("no panics hold the lock")
            .push(update);
    }
    StatusCode::OK
}

struct App {
    url: String,
    handled: Arc<Mutex<Vec<Update>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl App {
    fn handled(&self) -> Vec<Update> {
        self.handled
            .lock()
            .expect("no panics hold the lock")
            .clone()
    }
}

async fn spawn_app() -> App {
    let secret = WebhookSecret::parse(SecretString::from(SECRET)).expect("a valid secret");
    let handled = Arc::new(Mutex::new(Vec::new()));
    let hook = Hook {
        verifier: WebhookVerifier::new(&secret),
        recent: Arc::new(Mutex::new(RecentUpdates::default())),
        handled: handled.clone(),
    };
    let app = Router::new()
        .route("/telegram/webhook", post(webhook))
        .with_state(hook);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let addr = listener.local_addr().expect("bound address");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    App {
        url: format!("http://{addr}/telegram/webhook"),
        handled,
        server,
    }
}

#[tokio::test]
async fn a_webhook_with_the_right_secret_is_parsed() {
    let app = spawn_app().await;

    let status = deliver_update(
        &app.url,
        Some(SECRET),
        &text_update(700, CHAT, "yes, confirmed"),
    )
    .await
    .expect("delivered");

    assert_eq!(status, 200);
    let handled = app.handled();
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].update_id.get(), 700);
    let UpdateContent::Text(message) = &handled[0].content else {
        panic!("expected a text message: {:?}", handled[0].content);
    };
    assert_eq!(message.chat_id, CHAT);
    assert_eq!(message.from.get(), CHAT.get());
    assert_eq!(message.text, "yes, confirmed");
}

#[tokio::test]
async fn a_missing_wrong_or_one_character_off_secret_is_refused_with_no_side_effect() {
    let app = spawn_app().await;
    let update = text_update(701, CHAT, "hello");
    let mut one_off = SECRET.to_string();
    one_off.pop();
    one_off.push('0');

    let missing = deliver_update(&app.url, None, &update).await.expect("sent");
    let wrong = deliver_update(&app.url, Some("another-secret"), &update)
        .await
        .expect("sent");
    let off_by_one = deliver_update(&app.url, Some(&one_off), &update)
        .await
        .expect("sent");
    let truncated = deliver_update(&app.url, Some(&SECRET[..SECRET.len() - 1]), &update)
        .await
        .expect("sent");

    assert_eq!(missing, 401);
    assert_eq!((wrong, off_by_one, truncated), (403, 403, 403));
    assert!(app.handled().is_empty(), "nothing was handled");
    // The real delivery afterwards is still new: the refused ones left no trace.
    assert_eq!(
        deliver_update(&app.url, Some(SECRET), &update)
            .await
            .expect("sent"),
        200
    );
    assert_eq!(app.handled().len(), 1);
}

#[tokio::test]
async fn a_redelivered_update_is_handled_once() {
    let app = spawn_app().await;
    let update = text_update(702, CHAT, "C");

    for _ in 0..3 {
        let status = deliver_update(&app.url, Some(SECRET), &update)
            .await
            .expect("sent");
        assert_eq!(status, 200, "repeats are acknowledged so Telegram stops");
    }
    deliver_update(&app.url, Some(SECRET), &text_update(703, CHAT, "D"))
        .await
        .expect("sent");

    let ids: Vec<i64> = app.handled().iter().map(|u| u.update_id.get()).collect();
    assert_eq!(ids, vec![702, 703]);
}

#[tokio::test]
async fn non_text_updates_and_malformed_bodies_are_acknowledged_without_effect() {
    let app = spawn_app().await;
    let sticker = json!({"update_id": 704, "message": {"message_id": 9, "date": 1_700_000_000,
        "chat": {"id": CHAT.get(), "type": "private"},
        "from": {"id": CHAT.get(), "is_bot": false, "first_name": "C"},
        "sticker": {"file_id": "x"}}});
    let malformed = json!({"update_id": "seven hundred"});

    let ok = deliver_update(&app.url, Some(SECRET), &sticker)
        .await
        .expect("sent");
    let bad = deliver_update(&app.url, Some(SECRET), &malformed)
        .await
        .expect("sent");

    assert_eq!((ok, bad), (200, 200));
    let handled = app.handled();
    assert_eq!(handled.len(), 1);
    assert!(matches!(handled[0].content, UpdateContent::Ignored(_)));
}

#[tokio::test]
async fn a_deep_link_tap_reaches_the_webhook_as_its_start_token() {
    // Arrange: the bot registers its webhook with the fake, and a client is sent a link.
    let fake = FakeTelegram::start().await.expect("fake Bot API");
    let app = spawn_app().await;
    let mut config = TelegramConfig::new(fake.bot_token());
    config.api_url = fake.api_url();
    let client = TelegramClient::new(config).expect("client");
    let secret = WebhookSecret::parse(SecretString::from(SECRET)).expect("valid");
    client
        .set_webhook(&app.url, &secret)
        .await
        .expect("setWebhook");
    let bot: BotUsername = client.bot_username().await.expect("getMe");
    let token = StartToken::generate();
    let link = token.link(&bot);
    let payload = link
        .split_once("?start=")
        .map(|(_, t)| t.to_string())
        .expect("the link has a start parameter");

    // Act: Telegram delivers "/start <payload>" when the client taps the link.
    let status = fake
        .deliver(&text_update(705, CHAT, &format!("/start {payload}")))
        .await
        .expect("delivered");

    // Assert
    assert_eq!(status, 200);
    let handled = app.handled();
    let UpdateContent::Text(message) = &handled[0].content else {
        panic!("expected a text message");
    };
    assert_eq!(
        StartCommand::parse(&message.text),
        StartCommand::Link(token)
    );
    assert_eq!(message.chat_id, CHAT);
}
