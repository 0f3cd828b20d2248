//! The staff side of the gateway through the running service: the inbox of inbound texts is
//! limited to each role's reach (a clinician sees their caseload's texts; the front desk sees
//! every client's and unknown numbers'; billers and administrators none), marking read is
//! authorised per row, alerts are only ever the caller's own, and a Telegram link is issued
//! once, with only its hash stored, and links the chat that opens it.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::clients::{Channel, ClientDetails};
use store::inbound::{InboundKind, NewInbound, Received};
use store::outbox::Recipient;
use store::telegram_link::LinkRedemption;
use store::{Actor, ClientId, E164};

async fn seed(app: &TestApp, first: &str, phone: &str, clinician: &str) -> ClientId {
    let d = ClientDetails {
        first_name: first.into(),
        last_name: "Okafor".into(),
        preferred_name: None,
        date_of_birth: None,
        phone: Some(E164::parse(phone).expect("E.164")),
        email: None,
        telegram_chat_id: None,
        time_zone: store::TimeZoneName::parse("America/Chicago").expect("zone"),
        channel_preferences: vec![Channel::Sms],
        texting_consent: true,
        primary_clinician_id: Some(app.person(clinician).user_id),
        contacts: vec![],
    };
    app.store.create_client(&Actor::system(app.practice_a), &d).await.expect("a client").client_id
}

async fn text_in(app: &TestApp, from: &str, sid: &str, body: &str) -> Received {
    let new = NewInbound { sender: Recipient::Sms(E164::parse(from).expect("E.164")), provider_id: sid.into(), body: body.into(), kind: InboundKind::Text };
    app.store.record_inbound(&Actor::system(app.practice_a), &new).await.expect("stored")
}

fn bodies(list: &Value) -> Vec<String> {
    list.as_array().expect("a list").iter().map(|m| m["body"].as_str().expect("a body").to_owned()).collect()
}

async fn the_inbox_shows_each_role_only_what_it_may_see(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mine = seed(&app, "Ada", "+12015550181", "clinician").await;
    let _theirs = seed(&app, "Bea", "+12015550182", "colleague").await;
    text_in(&app, "+12015550181", "SM01", "Running ten minutes late").await;
    text_in(&app, "+12015550182", "SM02", "Can I bring my partner next time?").await;
    text_in(&app, "+12015550189", "SM03", "Who is this?").await; // no client has this number

    let mut clinician = app.sign_in_as("clinician").await;
    let r = clinician.get("/api/inbox").await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.3);
    assert_eq!(bodies(&r.1), vec!["Running ten minutes late"], "only the caseload's texts");
    assert_eq!(r.1[0]["client_id"], json!(mine.to_string()));
    assert_eq!(r.1[0]["status"], json!("new"));

    let mut front = app.sign_in_as("front_desk").await;
    let all = front.get("/api/inbox?limit=10").await;
    assert_eq!(bodies(&all.1), vec!["Who is this?", "Can I bring my partner next time?", "Running ten minutes late"], "newest first, unknown numbers included");
    assert_eq!(all.1[0]["client_id"], Value::Null);

    for key in ["biller", "admin"] {
        let mut s = app.sign_in_as(key).await;
        assert_eq!(s.get("/api/inbox").await.0, StatusCode::FORBIDDEN, "{key}");
    }
    assert_eq!(front.get("/api/inbox?limit=0").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(front.get("/api/inbox?limit=501").await.0, StatusCode::UNPROCESSABLE_ENTITY);

    // Marking read: the clinician may not touch a row outside their caseload (404, audited).
    let theirs_id = all.1[1]["inbound_message_id"].as_str().expect("an id").to_owned();
    let unknown_id = all.1[0]["inbound_message_id"].as_str().expect("an id").to_owned();
    let mine_id = r.1[0]["inbound_message_id"].as_str().expect("an id").to_owned();
    for id in [&theirs_id, &unknown_id, &"not-an-id".to_owned()] {
        assert_eq!(clinician.send(reqwest::Method::POST, &format!("/api/inbox/{id}/read"), None).await.0, StatusCode::NOT_FOUND, "{id}");
    }
    assert_eq!(clinician.send(reqwest::Method::POST, &format!("/api/inbox/{mine_id}/read"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(front.send(reqwest::Method::POST, &format!("/api/inbox/{unknown_id}/read"), None).await.0, StatusCode::NO_CONTENT);
    let after = front.get("/api/inbox").await;
    let statuses: Vec<&str> = after.1.as_array().expect("a list").iter().map(|m| m["status"].as_str().expect("status")).collect();
    assert_eq!(statuses, vec!["read", "new", "read"]);
    app.finish().await;
}

async fn alerts_are_the_callers_own_and_marking_one_seen_clears_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = seed(&app, "Cyd", "+12015550183", "clinician").await;
    // A client's ordinary text is filed in their thread with an alert to their clinician.
    let actor = Actor::system(app.practice_a);
    let (mut turn, _) = app.store.begin_reply(&actor, &Recipient::Sms(E164::parse("+12015550183").expect("E.164")), chrono::Utc::now()).await.expect("a turn");
    turn.file_in_inbox(client, Channel::Sms, "I had a rough week", Some(app.person("clinician").user_id)).await.expect("filed");
    turn.commit().await.expect("committed");

    let mut clinician = app.sign_in_as("clinician").await;
    let alerts = clinician.get("/api/alerts").await;
    assert_eq!(alerts.0, StatusCode::OK);
    let list = alerts.1.as_array().expect("a list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["client_id"], json!(client.to_string()));
    assert!(!alerts.3.contains("rough week"), "an alert carries ids, not the words");
    let id = list[0]["staff_alert_id"].as_str().expect("an id").to_owned();

    let mut colleague = app.sign_in_as("colleague").await;
    assert_eq!(colleague.get("/api/alerts").await.1, json!([]));
    assert_eq!(colleague.send(reqwest::Method::POST, &format!("/api/alerts/{id}/seen"), None).await.0, StatusCode::NOT_FOUND, "someone else's alert");
    assert_eq!(clinician.get("/api/alerts").await.1.as_array().map(Vec::len), Some(1), "still unseen");

    assert_eq!(clinician.send(reqwest::Method::POST, &format!("/api/alerts/{id}/seen"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(clinician.get("/api/alerts").await.1, json!([]));
    assert_eq!(clinician.send(reqwest::Method::POST, &format!("/api/alerts/{id}/seen"), None).await.0, StatusCode::NO_CONTENT, "seen twice is fine");

    let audit = app.store.audit_events_for_object(&Actor::system(app.practice_a), "staff_alert", &id).await.expect("audit");
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    for a in ["staff_alert.create", "staff_alert.read", "staff_alert.seen"] {
        assert!(actions.contains(&a), "{a} audited");
    }
    app.finish().await;
}

async fn a_telegram_link_works_once_for_the_chat_that_opens_it(backend: Backend) {
    let fake = channels::testing::FakeTelegram::start().await.expect("a fake Bot API");
    let token = secrecy::ExposeSecret::expose_secret(&fake.bot_token()).to_owned();
    let api = fake.api_url();
    let app = TestApp::spawn_with(backend, &[("HEARTH_TELEGRAM_BOT_TOKEN", &token), ("HEARTH_TELEGRAM_API_URL", &api)]).await;
    let client = seed(&app, "Dov", "+12015550184", "clinician").await;

    let mut clinician = app.sign_in_as("clinician").await;
    let (status, body) = clinician.post(&format!("/api/clients/{client}/telegram-link"), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let link = body["link"].as_str().expect("a link");
    let prefix = format!("https://t.me/{}?start=", channels::testing::telegram::FAKE_BOT_USERNAME);
    assert!(link.starts_with(&prefix), "{link}");
    let start = &link[prefix.len()..];
    assert_eq!(start.len(), 32, "192 random bits, base64url");
    assert!(body["expires_at"].is_string());

    // Another caseload and the biller cannot issue one (404, nothing revealed).
    for key in ["colleague", "biller"] {
        let mut s = app.sign_in_as(key).await;
        assert_eq!(s.post(&format!("/api/clients/{client}/telegram-link"), json!({})).await.0, StatusCode::NOT_FOUND, "{key}");
    }

    let actor = Actor::system(app.practice_a);
    assert_eq!(app.store.redeem_telegram_link(&actor, start, 777).await.expect("redeems"), LinkRedemption::Linked { client_id: client });
    assert_eq!(app.store.redeem_telegram_link(&actor, start, 888).await.expect("answers"), LinkRedemption::Refused, "single use");
    let c = app.store.get_client(&actor, store::ClientScope::Practice, client).await.expect("the client");
    assert_eq!(c.telegram_chat_id, Some(777));
    app.finish().await;
}

async fn a_telegram_link_without_telegram_set_up_says_what_to_configure(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = seed(&app, "Eli", "+12015550185", "clinician").await;
    let mut clinician = app.sign_in_as("clinician").await;
    let (status, body) = clinician.post(&format!("/api/clients/{client}/telegram-link"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.to_string().contains("[telegram]"), "{body}");
    app.finish().await;
}

on_both_backends!(
    the_inbox_shows_each_role_only_what_it_may_see,
    alerts_are_the_callers_own_and_marking_one_seen_clears_it,
    a_telegram_link_works_once_for_the_chat_that_opens_it,
    a_telegram_link_without_telegram_set_up_says_what_to_configure,
);
