//! Status callbacks end to end: the fake Twilio posts signed callbacks for a message it accepted
//! to a real HTTP receiver standing in for the assistant's webhook route, which verifies the
//! signature and parses the status.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use channels::testing::FakeTwilio;
use channels::twilio::{
    DeliveryStatus, FailureClass, MessageStatus, SIGNATURE_HEADER, Sender, TwilioClient,
    TwilioConfig, WebhookValidator,
};
use channels::{SecretString, SmsBody};

type Log = Arc<Mutex<Vec<Result<DeliveryStatus, String>>>>;

/// Starts a receiver that checks signatures with `token`; returns its callback URL and log.
async fn receiver(token: SecretString) -> (String, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the receiver on 127.0.0.1:0");
    let url = format!(
        "http://{}/twilio/status?practice=7",
        listener
            .local_addr()
            .expect("bound listener has an address")
    );
    let log: Log = Arc::default();
    let validator = WebhookValidator::new(token);
    let (seen, public_url) = (log.clone(), url.clone());
    let app = axum::Router::new().route(
        "/twilio/status",
        axum::routing::post(move |headers: HeaderMap, raw: Bytes| async move {
            let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
            let outcome = validator
                .verify_form(&public_url, &raw, signature)
                .and_then(|form| DeliveryStatus::from_form(&form))
                .map_err(|e| e.to_string());
            let code = if outcome.is_ok() {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::FORBIDDEN
            };
            seen.lock().expect("receiver log lock").push(outcome);
            code
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, log)
}

async fn send_one(fake: &FakeTwilio, callback: &str) -> channels::twilio::MessageRecord {
    let mut config = TwilioConfig::new(fake.credentials(), Sender::From("+15005550006".into()));
    config.base_url = fake.base_url();
    config.request_timeout = Duration::from_secs(2);
    config.status_callback = Some(callback.to_string());
    let body = SmsBody::parse("See you Tuesday").expect("valid body");
    TwilioClient::new(config)
        .expect("client")
        .send("+14155550100", &body)
        .await
        .expect("the fake accepts the message")
}

#[tokio::test]
async fn signed_status_callbacks_validate_and_parse() {
    let fake = FakeTwilio::start().await.expect("fake Twilio");
    let (url, log) = receiver(fake.auth_token()).await;
    let sent = send_one(&fake, &url).await;

    let first = fake.send_status_callback(&sent.sid, MessageStatus::Undelivered, Some(30003));
    assert_eq!(first.await.expect("posted"), 204);
    let second = fake.send_status_callback(&sent.sid, MessageStatus::Delivered, None);
    assert_eq!(second.await.expect("posted"), 204);

    let log = log.lock().expect("receiver log lock");
    let undelivered = log[0].as_ref().expect("a valid callback");
    assert_eq!(undelivered.message_sid, sent.sid);
    assert_eq!(
        (undelivered.status, undelivered.error_code),
        (MessageStatus::Undelivered, Some(30003))
    );
    assert_eq!(undelivered.failure(), Some(FailureClass::NeverRetry));
    assert_eq!(
        log[1].as_ref().expect("a valid callback").status,
        MessageStatus::Delivered
    );
}

#[tokio::test]
async fn a_callback_signed_with_another_token_is_refused() {
    let fake = FakeTwilio::start().await.expect("fake Twilio");
    let (url, log) = receiver(SecretString::from("some-other-account-token")).await;
    let sent = send_one(&fake, &url).await;

    let status = fake.send_status_callback(&sent.sid, MessageStatus::Delivered, None);
    assert_eq!(status.await.expect("posted"), 403);
    let log = log.lock().expect("receiver log lock");
    let err = log[0].as_ref().expect_err("a forged callback");
    assert!(err.contains("does not match"), "{err}");
}
