//! Provider webhooks against the running server: signatures checked before anything happens,
//! keywords first (STOP, CANCEL, START, HELP), other texts stored encrypted for staff with no
//! reply, status callbacks applied monotonically, Telegram's secret and duplicate updates.

mod gateway_support;

use channels::twilio::signature::form_signature;
use gateway_support::{Backend, Place, Server, outbox_purposes, raw_inbound_bodies, webhook_toml};
use secrecy::SecretString;
use store::inbound::InboundKind;
use store::outbox::Recipient;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "2bd9e9638872de601313dc77410d3b23";
const TG_SECRET: &str = "tg-secret_0123456789";
const CLIENT: &str = "+15550104242";

fn sid(n: u32) -> String {
    format!("SM{n:032x}")
}

fn inbound_form(message_sid: &str, body: &str) -> Vec<(String, String)> {
    [
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("Body", body),
        ("From", CLIENT),
        ("MessageSid", message_sid),
        ("NumMedia", "0"),
        ("SmsSid", message_sid),
        ("To", "+15550100000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Posts a form to `path`, signed with `token` as Twilio signs (or unsigned).
async fn post_twilio(server: &Server, path: &str, params: &[(String, String)], token: Option<&str>) -> reqwest::Response {
    let url = format!("{}{path}", server.base);
    let mut request = reqwest::Client::new().post(&url).form(params);
    if let Some(token) = token {
        request = request.header("X-Twilio-Signature", form_signature(&SecretString::from(token.to_owned()), &url, params));
    }
    request.send().await.expect("the server answers")
}

async fn text(server: &Server, n: u32, body: &str) -> reqwest::Response {
    post_twilio(server, "/webhooks/twilio/sms", &inbound_form(&sid(n), body), Some(TOKEN)).await
}

fn client_number() -> Recipient {
    Recipient::Sms(store::E164::parse(CLIENT).expect("valid"))
}

async fn an_unsigned_or_forged_webhook_is_refused_and_changes_nothing(backend: Backend) {
    let place = Place::new(backend).await;
    let server = place.serve(&webhook_toml(ACCOUNT, TOKEN, TG_SECRET)).await;
    let form = inbound_form(&sid(1), "STOP");

    let unsigned = post_twilio(&server, "/webhooks/twilio/sms", &form, None).await;
    let forged = post_twilio(&server, "/webhooks/twilio/sms", &form, Some("00000000000000000000000000000000")).await;
    let mut tampered = form.clone();
    tampered[2].1 = "STOP!".into();
    let url = format!("{}/webhooks/twilio/sms", server.base);
    let good_signature = form_signature(&SecretString::from(TOKEN.to_owned()), &url, &form);
    let altered = reqwest::Client::new().post(&url).header("X-Twilio-Signature", good_signature).form(&tampered).send().await.expect("answers");
    let status_forged = post_twilio(&server, "/webhooks/twilio/status", &[("MessageSid".into(), sid(9)), ("MessageStatus".into(), "delivered".into())], Some("wrong")).await;

    for r in [unsigned, forged, altered, status_forged] {
        assert_eq!(r.status(), 403);
    }
    assert!(!place.store.is_opted_out(&place.actor(), &client_number()).await.expect("reads"), "no opt-out recorded");
    assert!(place.store.list_inbox(&place.actor(), store::ClientScope::Practice, 10).await.expect("inbox").is_empty(), "nothing stored");
    assert!(outbox_purposes(&place.database_url).await.is_empty(), "nothing queued");
}

async fn stop_opts_out_with_exactly_one_confirmation_even_when_twilio_retries(backend: Backend) {
    let place = Place::new(backend).await;
    let server = place.serve(&webhook_toml(ACCOUNT, TOKEN, TG_SECRET)).await;

    for _ in 0..3 {
        let r = text(&server, 1, "STOP").await; // Twilio retrying one delivery
        assert_eq!(r.status(), 200);
        assert!(r.text().await.expect("body").contains("<Response></Response>"), "no TwiML reply");
    }
    assert_eq!(text(&server, 2, " stop. ").await.status(), 200); // a second STOP message

    assert!(place.store.is_opted_out(&place.actor(), &client_number()).await.expect("reads"));
    assert_eq!(outbox_purposes(&place.database_url).await.get("opt_out_confirmation"), Some(&1), "exactly one confirmation");
    let inbox = place.store.list_inbox(&place.actor(), store::ClientScope::Practice, 10).await.expect("inbox");
    assert_eq!(inbox.len(), 2, "one row per provider message");
    assert!(inbox.iter().all(|m| m.kind == InboundKind::OptOut));
}

async fn cancel_alone_is_an_opt_out_and_start_opts_back_in(backend: Backend) {
    let place = Place::new(backend).await;
    let server = place.serve(&webhook_toml(ACCOUNT, TOKEN, TG_SECRET)).await;

    assert_eq!(text(&server, 1, "Cancel").await.status(), 200);
    assert!(place.store.is_opted_out(&place.actor(), &client_number()).await.expect("reads"), "CANCEL is an opt-out");
    assert_eq!(text(&server, 2, "START").await.status(), 200);
    assert!(!place.store.is_opted_out(&place.actor(), &client_number()).await.expect("reads"), "START opts back in");
    assert_eq!(text(&server, 3, "cancel my appointment please").await.status(), 200);
    assert!(!place.store.is_opted_out(&place.actor(), &client_number()).await.expect("reads"), "a sentence with cancel is not a keyword");

    let kinds: Vec<InboundKind> = place.store.list_inbox(&place.actor(), store::ClientScope::Practice, 10).await.expect("inbox").iter().rev().map(|m| m.kind).collect();
    assert_eq!(kinds, vec![InboundKind::OptOut, InboundKind::OptIn, InboundKind::Text]);
    let purposes = outbox_purposes(&place.database_url).await;
    assert_eq!(purposes.get("opt_out_confirmation"), Some(&1));
    // The sentence is an ordinary text for the conversation (which never cancels a visit on a
    // word): the opt-in confirmation and one neutral answer to it.
    assert_eq!(purposes.get("reply"), Some(&2), "one opt-in confirmation and one neutral answer");
}

async fn help_names_the_practice_rates_and_how_to_stop(backend: Backend) {
    let place = Place::new(backend).await;
    let server = place.serve(&webhook_toml(ACCOUNT, TOKEN, TG_SECRET)).await;
    assert_eq!(text(&server, 1, "help").await.status(), 200);
    assert_eq!(text(&server, 1, "help").await.status(), 200);
    assert_eq!(outbox_purposes(&place.database_url).await.get("help_reply"), Some(&1), "one reply per message, retries included");

    let id = {
        use store::outbox::WorkerId;
        let rows = place.store.claim_due(&WorkerId::parse("t").expect("valid"), store::types::now(), 10, chrono::TimeDelta::seconds(5)).await.expect("claims");
        assert_eq!(rows.len(), 1);
        let body = &rows[0].body;
        for needed in ["Lakeside Counseling", "+15550100999", "Msg & data rates may apply", "STOP", "frequency"] {
            assert!(body.contains(needed), "help text lacks {needed:?}: {body}");
        }
        assert_eq!(rows[0].recipient, client_number());
        rows[0].claim.outbox_message_id()
    };
    assert!(place.store.get_outbound(&place.actor(), id).await.is_ok());
}

async fn an_ordinary_text_is_stored_encrypted_and_an_unknown_sender_learns_nothing(backend: Backend) {
    let place = Place::new(backend).await;
    let server = place.serve(&webhook_toml(ACCOUNT, TOKEN, TG_SECRET)).await;
    let words = "Running late, the violet bus broke down";
    let r = text(&server, 1, words).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>");

    let inbox = place.store.list_inbox(&place.actor(), store::ClientScope::Practice, 10).await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!((inbox[0].body.as_str(), inbox[0].kind, &inbox[0].sender), (words, InboundKind::Text, &client_number()));
    assert!(inbox[0].client_id.is_none(), "an unknown number matches no client");
    // The conversation answers an unknown number with one neutral text: no practice, no
    // person, nothing of what they wrote; just to call the office, and the emergency numbers.
    assert_eq!(outbox_purposes(&place.database_url).await.get("reply"), Some(&1), "one neutral answer");
    {
        use store::outbox::WorkerId;
        let rows = place.store.claim_due(&WorkerId::parse("t").expect("valid"), store::types::now(), 10, chrono::TimeDelta::seconds(5)).await.expect("claims");
        assert_eq!(rows.len(), 1);
        let body = &rows[0].body;
        assert!(body.contains("not recognised") && body.contains("988"), "{body}");
        for secret in ["violet", "Lakeside", "+15550100999"] {
            assert!(!body.contains(secret), "the answer reveals {secret:?}: {body}");
        }
    }
    for raw in raw_inbound_bodies(&place.database_url).await {
        assert!(!String::from_utf8_lossy(&raw).contains("violet"), "the body is sealed at rest");
    }
    let audited = place.store.audit_events_for_object(&place.actor(), "inbound_message", &inbox[0].inbound_message_id.to_string()).await.expect("audit");
    let actions: Vec<&str> = audited.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"inbound.create") && actions.contains(&"inbound.read"), "{actions:?}");
}

async fn status_callbacks_from_twilio_move_a_row_forward_only(backend: Backend) {
    use channels::testing::FakeTwilio;
    use channels::twilio::MessageStatus;
    use store::outbox::OutboundStatus;
    let fake = FakeTwilio::start().await.expect("fake twilio");
    let place = Place::new(backend).await;
    let toml = format!(
        "{}[dispatch]\nin_serve = false\n",
        gateway_support::twilio_toml(&fake, 2000)
    );
    let server = place.serve(&toml).await;
    let d = assistant::gateway::dispatcher(place.store.clone(), &server.settings).expect("dispatcher");
    let id = place.enqueue_sms(1, "sms:+15550100000").await;
    let mut rows = place.store.claim_due(d.worker(), store::types::now(), 10, chrono::TimeDelta::seconds(5)).await.expect("claims");
    d.deliver(rows.pop().expect("one")).await;
    let sid = fake.accepted()[0].sid.clone();
    assert_eq!(fake.accepted()[0].status_callback.as_deref(), Some(format!("{}/webhooks/twilio/status", server.base).as_str()));

    assert_eq!(fake.send_status_callback(&sid, MessageStatus::Delivered, None).await.expect("posted"), 204);
    assert_eq!(fake.send_status_callback(&sid, MessageStatus::Sent, None).await.expect("posted"), 204);
    let row = place.store.get_outbound(&place.actor(), id).await.expect("row");
    assert_eq!(row.status, OutboundStatus::Delivered, "a late 'sent' never undoes 'delivered'");
}

async fn telegram_updates_need_the_secret_and_repeats_are_ignored(backend: Backend) {
    let place = Place::new(backend).await;
    let server = place.serve(&webhook_toml(ACCOUNT, TOKEN, TG_SECRET)).await;
    let update = serde_json::json!({
        "update_id": 7001,
        "message": {"message_id": 5, "date": 1_780_000_000, "chat": {"id": 4242, "type": "private"},
                    "from": {"id": 4242, "is_bot": false, "first_name": "Sam"}, "text": "can we move thursday?"}
    });
    let post = |secret: Option<&'static str>| {
        let mut r = reqwest::Client::new().post(format!("{}/webhooks/telegram", server.base)).json(&update);
        if let Some(s) = secret {
            r = r.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        r.send()
    };
    assert_eq!(post(None).await.expect("answers").status(), 403);
    assert_eq!(post(Some("tg-secret_0123456788")).await.expect("answers").status(), 403);
    assert!(place.store.list_inbox(&place.actor(), store::ClientScope::Practice, 10).await.expect("inbox").is_empty());
    assert_eq!(post(Some(TG_SECRET)).await.expect("answers").status(), 200);
    assert_eq!(post(Some(TG_SECRET)).await.expect("answers").status(), 200);
    let inbox = place.store.list_inbox(&place.actor(), store::ClientScope::Practice, 10).await.expect("inbox");
    assert_eq!(inbox.len(), 1, "a redelivered update is stored once");
    assert_eq!(inbox[0].sender, Recipient::Telegram(4242));
}

async fn a_telegram_start_link_connects_one_chat_once(backend: Backend) {
    let place = Place::new(backend).await;
    let server = place.serve(&webhook_toml(ACCOUNT, TOKEN, TG_SECRET)).await;
    let client = place
        .store
        .create_client(
            &place.actor(),
            &store::clients::ClientDetails {
                first_name: "Robin".into(),
                last_name: "Ash".into(),
                preferred_name: None,
                date_of_birth: None,
                phone: None,
                email: None,
                telegram_chat_id: None,
                time_zone: store::TimeZoneName::parse("America/Chicago").expect("valid"),
                channel_preferences: vec![store::clients::Channel::Telegram],
                texting_consent: true,
                primary_clinician_id: None,
                contacts: vec![],
            },
        )
        .await
        .expect("client");
    let token = channels::telegram::StartToken::generate();
    place
        .store
        .create_telegram_link(&place.actor(), store::ClientScope::Practice, client.client_id, token.as_str(), store::types::now() + chrono::TimeDelta::hours(1))
        .await
        .expect("link");
    let start = |update_id: i64, chat: i64| {
        let update = serde_json::json!({
            "update_id": update_id,
            "message": {"message_id": 1, "date": 1_780_000_000, "chat": {"id": chat, "type": "private"},
                        "from": {"id": chat, "is_bot": false, "first_name": "R"}, "text": format!("/start {}", token.as_str())}
        });
        reqwest::Client::new().post(format!("{}/webhooks/telegram", server.base)).header("X-Telegram-Bot-Api-Secret-Token", TG_SECRET).json(&update).send()
    };

    assert_eq!(start(9001, 5151).await.expect("answers").status(), 200);
    assert_eq!(start(9002, 6262).await.expect("answers").status(), 200); // someone else with the same link

    let linked = place.store.get_client(&place.actor(), store::ClientScope::Practice, client.client_id).await.expect("client");
    assert_eq!(linked.telegram_chat_id, Some(5151), "the first chat is linked, the second is refused");
    assert!(place.store.list_inbox(&place.actor(), store::ClientScope::Practice, 10).await.expect("inbox").is_empty(), "the token is never stored as a message");
    assert_eq!(outbox_purposes(&place.database_url).await.get("reply"), Some(&2), "each chat gets one answer");
}

gateway_on_both_backends!(
    a_telegram_start_link_connects_one_chat_once,
    an_unsigned_or_forged_webhook_is_refused_and_changes_nothing,
    stop_opts_out_with_exactly_one_confirmation_even_when_twilio_retries,
    cancel_alone_is_an_opt_out_and_start_opts_back_in,
    help_names_the_practice_rates_and_how_to_stop,
    an_ordinary_text_is_stored_encrypted_and_an_unknown_sender_learns_nothing,
    status_callbacks_from_twilio_move_a_row_forward_only,
    telegram_updates_need_the_secret_and_repeats_are_ignored,
);
