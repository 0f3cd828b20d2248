//! The Telegram client (teloxide) against the fake Bot API (a real HTTP server speaking Telegram's
//! wire format): every error class, and the provider id of a sent message.

use std::time::Duration;

use channels::telegram::client::MIN_REQUEST_TIMEOUT;
use channels::telegram::{ChatId, TelegramClient, TelegramConfig, TelegramText, WebhookSecret};
use channels::testing::telegram::FAKE_BOT_USERNAME;
use channels::testing::{FakeTelegram, TelegramScripted};
use channels::{Error, SecretString};

const CLIENT_CHAT: ChatId = ChatId::new(424_242_424);

async fn fake() -> FakeTelegram {
    FakeTelegram::start()
        .await
        .expect("binding 127.0.0.1:0 for the fake Bot API")
}

fn config(fake: &FakeTelegram) -> TelegramConfig {
    let mut config = TelegramConfig::new(fake.bot_token());
    config.api_url = fake.api_url();
    config.request_timeout = MIN_REQUEST_TIMEOUT;
    config
}

fn client(fake: &FakeTelegram) -> TelegramClient {
    TelegramClient::new(config(fake)).expect("a valid client configuration")
}

fn text(s: &str) -> TelegramText {
    TelegramText::parse(s).expect("test texts are valid")
}

#[tokio::test]
async fn a_message_is_sent_and_its_message_id_returned() {
    let fake = fake().await;
    let client = client(&fake);

    let first = client
        .send(CLIENT_CHAT, &text("See you Tuesday at 3pm €"))
        .await
        .expect("accepted");
    let second = client
        .send(CLIENT_CHAT, &text("<b>not markup</b>"))
        .await
        .expect("accepted");

    let sent = fake.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!((sent[0].message_id, sent[1].message_id), (first, second));
    assert_ne!(first, second);
    assert_eq!(sent[0].chat_id, CLIENT_CHAT);
    assert_eq!(sent[0].text, "See you Tuesday at 3pm €");
    assert_eq!(
        sent[1].text, "<b>not markup</b>",
        "sent as plain text, unchanged"
    );
}

#[tokio::test]
async fn a_blocked_bot_or_deleted_account_means_stop_messaging_that_chat() {
    let fake = fake().await;
    let client = client(&fake);
    fake.block(CLIENT_CHAT);

    let err = client
        .send(CLIENT_CHAT, &text("hi"))
        .await
        .expect_err("blocked");
    assert!(matches!(err, Error::TelegramBlocked), "{err:?}");
    assert!(!err.may_retry());
    assert!(!err.to_string().contains("424242424"), "{err}");

    let other = ChatId::new(7);
    for script in [TelegramScripted::Blocked, TelegramScripted::Deactivated] {
        fake.script(script);
        let err = client.send(other, &text("hi")).await.expect_err("refused");
        assert!(matches!(err, Error::TelegramBlocked), "{err:?}");
    }
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn an_unknown_chat_is_reported_so_the_client_can_be_linked_again() {
    let fake = fake().await;
    fake.script(TelegramScripted::ChatNotFound);

    let err = client(&fake)
        .send(CLIENT_CHAT, &text("hi"))
        .await
        .expect_err("chat not found");

    assert!(matches!(err, Error::TelegramChatNotFound), "{err:?}");
    assert!(!err.may_retry());
}

#[tokio::test]
async fn flood_control_asks_to_retry_after_telegrams_delay() {
    let fake = fake().await;
    let client = client(&fake);
    fake.script(TelegramScripted::RateLimited {
        retry_after_secs: 9,
    });

    let err = client
        .send(CLIENT_CHAT, &text("hi"))
        .await
        .expect_err("429");

    assert!(
        matches!(err, Error::RetryLater { status: Some(429), retry_after: Some(d), .. } if d == Duration::from_secs(9)),
        "{err:?}"
    );
    assert!(err.may_retry());
    assert!(fake.sent().is_empty(), "nothing was sent");
    client
        .send(CLIENT_CHAT, &text("hi"))
        .await
        .expect("the next try goes through");
}

#[tokio::test]
async fn a_server_error_is_worth_retrying() {
    // teloxide pauses 10 s before reading a 5xx answer: this test takes that long.
    let fake = fake().await;
    fake.script(TelegramScripted::ServerError);

    let err = client(&fake)
        .send(CLIENT_CHAT, &text("hi"))
        .await
        .expect_err("500");

    assert!(
        matches!(
            err,
            Error::RetryLater {
                status: Some(500),
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_a_configuration_error_that_names_no_secret() {
    let fake = fake().await;
    let mut config = config(&fake);
    config.bot_token = SecretString::from("987654321:AAwrong-token_value");

    let client = TelegramClient::new(config).expect("well-formed token");
    let err = client
        .send(CLIENT_CHAT, &text("hi"))
        .await
        .expect_err("401");
    let err_me = client.bot_username().await.expect_err("401");

    for err in [err, err_me] {
        assert!(matches!(err, Error::Misconfigured { .. }), "{err:?}");
        assert!(!err.may_retry());
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("AAwrong-token_value"), "{shown}");
        assert!(
            shown.contains("bot token"),
            "the message says what to check: {shown}"
        );
    }
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn an_unreachable_api_is_retried_because_nothing_was_sent() {
    let fake = fake().await;
    let mut config = config(&fake);
    // A port that was free a moment ago: connecting is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    config.api_url = format!("http://{closed}");

    let err = TelegramClient::new(config)
        .expect("client")
        .send(CLIENT_CHAT, &text("hi"))
        .await
        .expect_err("connection refused");

    assert!(
        matches!(err, Error::RetryLater { status: None, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_timeout_after_the_request_left_leaves_the_outcome_unknown() {
    // Waits for the client's timeout (MIN_REQUEST_TIMEOUT, 12 s).
    let fake = fake().await;
    fake.script(TelegramScripted::AcceptThenHang(Duration::from_secs(60)));

    let err = client(&fake)
        .send(CLIENT_CHAT, &text("hi"))
        .await
        .expect_err("timed out");

    assert!(matches!(err, Error::OutcomeUnknown(_)), "{err:?}");
    assert!(
        !err.may_retry(),
        "an unknown outcome is not blindly retried"
    );
    assert_eq!(fake.sent().len(), 1, "Telegram did accept it");
}

#[tokio::test]
async fn get_me_gives_the_bot_username_for_links() {
    let fake = fake().await;

    let name = client(&fake).bot_username().await.expect("getMe");

    assert_eq!(name.as_str(), FAKE_BOT_USERNAME);
}

#[tokio::test]
async fn set_webhook_registers_the_url_the_secret_and_message_updates_only() {
    let fake = fake().await;
    let secret = WebhookSecret::generate();

    client(&fake)
        .set_webhook("https://hearth.example.org/telegram/webhook", &secret)
        .await
        .expect("setWebhook");

    let hook = fake.webhook().expect("registered");
    assert_eq!(hook.url, "https://hearth.example.org/telegram/webhook");
    assert_eq!(hook.secret_token.as_deref(), Some(secret.expose()));
    assert_eq!(hook.allowed_updates, Some(vec!["message".to_string()]));
}
