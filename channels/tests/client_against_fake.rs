//! The Twilio REST client against the fake Twilio (a real HTTP server speaking Twilio's wire
//! format): every error class, and reconciliation by listing.

use std::time::Duration;

use channels::testing::{FakeTwilio, Scripted};
use channels::twilio::{MessageStatus, Sender, TwilioClient, TwilioConfig};
use channels::{Error, SecretString, SmsBody};

const CLIENT: &str = "+14155550100";
const OUR_NUMBER: &str = "+15005550006";

fn config(fake: &FakeTwilio) -> TwilioConfig {
    let mut config = TwilioConfig::new(fake.credentials(), Sender::From(OUR_NUMBER.into()));
    config.base_url = fake.base_url();
    config.request_timeout = Duration::from_secs(2);
    config
}

fn body(text: &str) -> SmsBody {
    SmsBody::parse(text).expect("test bodies are valid")
}

async fn fake() -> FakeTwilio {
    FakeTwilio::start()
        .await
        .expect("binding 127.0.0.1:0 for the fake Twilio")
}

#[tokio::test]
async fn a_message_is_accepted_and_recorded_with_the_real_response_shape() {
    let fake = fake().await;
    let client = TwilioClient::new(config(&fake)).expect("client");
    let sent = client
        .send(CLIENT, &body("See you Tuesday at 3pm €"))
        .await
        .expect("accepted");
    assert_eq!(sent.status, MessageStatus::Queued);
    assert_eq!(sent.error_code, None);
    assert_eq!(sent.num_segments.as_deref(), Some("1"));
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].sid, sent.sid);
    assert_eq!(
        (accepted[0].to.as_str(), accepted[0].from.as_deref()),
        (CLIENT, Some(OUR_NUMBER))
    );
    assert_eq!(accepted[0].body, "See you Tuesday at 3pm €");
}

#[tokio::test]
async fn a_messaging_service_and_an_api_key_can_be_used_instead() {
    let fake = fake().await;
    let mut config = config(&fake);
    config.credentials = fake.api_key_credentials();
    config.sender = Sender::MessagingService("MG0123456789abcdef0123456789abcdef".into());
    let sent = TwilioClient::new(config)
        .expect("client")
        .send(CLIENT, &body("hi"))
        .await
        .expect("accepted");
    assert_eq!(sent.status, MessageStatus::Accepted);
    assert_eq!(
        fake.accepted()[0].messaging_service_sid.as_deref(),
        Some("MG0123456789abcdef0123456789abcdef")
    );
}

#[tokio::test]
async fn wrong_credentials_are_a_configuration_error_that_names_no_secret() {
    let fake = fake().await;
    let mut config = config(&fake);
    config.credentials = channels::twilio::Credentials::AuthToken {
        account_sid: fake.account_sid(),
        auth_token: SecretString::from("not-the-token"),
    };
    let err = TwilioClient::new(config)
        .expect("client")
        .send(CLIENT, &body("hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Misconfigured {
                status: Some(401),
                code: Some(20003),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("not-the-token"));
    assert!(fake.accepted().is_empty());
}

#[tokio::test]
async fn an_opted_out_recipient_is_reported_as_opted_out_without_their_number() {
    let fake = fake().await;
    fake.opt_out(CLIENT);
    let err = TwilioClient::new(config(&fake))
        .expect("client")
        .send(CLIENT, &body("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OptedOut), "{err:?}");
    assert!(
        !err.to_string().contains("555"),
        "errors must not contain phone numbers"
    );
    assert!(!err.may_retry());
}

#[tokio::test]
async fn invalid_and_non_mobile_numbers_are_bad_numbers() {
    let fake = fake().await;
    let client = TwilioClient::new(config(&fake)).expect("client");
    let err = client.send("555-0100", &body("hi")).await.unwrap_err();
    assert!(matches!(err, Error::BadNumber { code: 21211 }), "{err:?}");
    fake.mark_not_mobile(CLIENT);
    let err = client.send(CLIENT, &body("hi")).await.unwrap_err();
    assert!(matches!(err, Error::BadNumber { code: 21614 }), "{err:?}");
}

#[tokio::test]
async fn a_rate_limit_is_retry_later_and_honours_retry_after() {
    let fake = fake().await;
    fake.script(Scripted::RateLimited {
        retry_after_secs: Some(9),
    });
    fake.script(Scripted::RateLimited {
        retry_after_secs: None,
    });
    let client = TwilioClient::new(config(&fake)).expect("client");
    let err = client.send(CLIENT, &body("hi")).await.unwrap_err();
    assert!(
        matches!(err, Error::RetryLater { status: Some(429), code: Some(20429), retry_after: Some(d) } if d == Duration::from_secs(9)),
        "{err:?}"
    );
    let err = client.send(CLIENT, &body("hi")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RetryLater {
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.may_retry());
    client
        .send(CLIENT, &body("hi"))
        .await
        .expect("the script is used up: accepted");
}

#[tokio::test]
async fn a_server_error_is_retry_later() {
    let fake = fake().await;
    fake.script(Scripted::ServerError);
    let err = TwilioClient::new(config(&fake))
        .expect("client")
        .send(CLIENT, &body("hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::RetryLater {
                status: Some(500),
                code: Some(20500),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(fake.accepted().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_retry_later_because_nothing_was_sent() {
    let fake = fake().await;
    let mut config = config(&fake);
    // Bind then drop a listener: the port is free and nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    config.base_url = format!("http://127.0.0.1:{port}");
    let err = TwilioClient::new(config)
        .expect("client")
        .send(CLIENT, &body("hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RetryLater { status: None, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_timeout_after_twilio_accepted_is_outcome_unknown_and_listing_reconciles_it() {
    let fake = fake().await;
    fake.script(Scripted::AcceptThenHang(Duration::from_secs(30)));
    let mut config = config(&fake);
    config.request_timeout = Duration::from_millis(500);
    let client = TwilioClient::new(config).expect("client");
    let err = client.send(CLIENT, &body("hi")).await.unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown(_)), "{err:?}");
    assert!(
        !err.may_retry(),
        "an unknown outcome must be reconciled first"
    );
    let today = chrono::Utc::now().date_naive();
    let found = client.list_messages(CLIENT, today).await.expect("list");
    assert_eq!(
        found.len(),
        1,
        "the message Twilio accepted is found, so it is not sent twice"
    );
    assert_eq!(found[0].sid, fake.accepted()[0].sid);
}

#[tokio::test]
async fn listing_filters_by_recipient_and_date_and_follows_pages() {
    let fake = fake().await;
    fake.cap_page_size(2);
    let client = TwilioClient::new(config(&fake)).expect("client");
    for i in 0..5 {
        client
            .send(CLIENT, &body(&format!("reminder {i}")))
            .await
            .expect("accepted");
    }
    client
        .send("+14155550199", &body("someone else"))
        .await
        .expect("accepted");
    let today = chrono::Utc::now().date_naive();
    let found = client.list_messages(CLIENT, today).await.expect("list");
    assert_eq!(found.len(), 5, "three pages of at most 2");
    let tomorrow = today.succ_opt().expect("tomorrow exists");
    assert!(
        client
            .list_messages(CLIENT, tomorrow)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn a_permanent_refusal_is_never_retry_and_a_bad_sender_is_misconfigured() {
    let fake = fake().await;
    fake.script(Scripted::Refuse {
        status: 400,
        code: 21612,
    });
    fake.script(Scripted::Refuse {
        status: 400,
        code: 21606,
    });
    let client = TwilioClient::new(config(&fake)).expect("client");
    let err = client.send(CLIENT, &body("hi")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NeverRetry {
                status: Some(400),
                code: Some(21612)
            }
        ),
        "{err:?}"
    );
    assert!(!err.may_retry());
    let err = client.send(CLIENT, &body("hi")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Misconfigured {
                code: Some(21606),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_fake_answers_missing_fields_with_twilios_codes_and_error_shape() {
    let fake = fake().await;
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        fake.base_url(),
        fake.account_sid()
    );
    let http = reqwest::Client::new();
    let token = {
        use secrecy::ExposeSecret;
        fake.auth_token().expose_secret().to_string()
    };
    for (form, code) in [
        (vec![("From", OUR_NUMBER), ("Body", "hi")], 21604),
        (vec![("To", CLIENT), ("From", OUR_NUMBER)], 21602),
        (vec![("To", CLIENT), ("Body", "hi")], 21603),
    ] {
        let response = http
            .post(&url)
            .basic_auth(fake.account_sid().as_str(), Some(&token))
            .form(&form)
            .send()
            .await
            .expect("the fake answers");
        assert_eq!(response.status().as_u16(), 400);
        let json: serde_json::Value = response.json().await.expect("JSON error body");
        assert_eq!(json["code"], code);
        assert_eq!(json["status"], 400);
        assert_eq!(
            json["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
    }
    let response = http
        .post(&url)
        .form(&[("To", CLIENT)])
        .send()
        .await
        .expect("the fake answers");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.json::<serde_json::Value>().await.expect("JSON")["code"],
        20003
    );
}
