//! Reminders through the running service: templates refused for fields or clinical words with
//! the reason, previews with segments and encoding, admin-only saving (audited), rules, join
//! links checked by host, and the scheduler's tick rendering the default template into the
//! outbox with only the allow-listed fields.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use store::{Actor, ClientScope};

async fn templates_with_other_fields_or_clinical_words_are_refused_with_the_reason(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut admin = app.sign_in_as("admin").await;
    for (body, says) in [
        ("Hi {first_name}, your {diagnosis} visit is {date}", "{diagnosis} is not an allowed field"),
        ("Hi {last_name}, see you {date}", "{last_name} is not an allowed field"),
        ("Your Anxiety group meets {date} at {time}", "\"anxiety\""),
        ("Couples therapy with {practice_name} on {date}", "\"couples therapy\""),
        ("Dr. Lee (psychiatrist) sees you {date}", "\"psychiatrist\""),
        ("Your visit {date", "has no partner"),
    ] {
        let r = admin.put("/api/templates/sms/reminder", json!({ "body": body })).await;
        assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.3);
        assert_eq!(r.1["error"]["field"], "body");
        let msg = r.1["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{body}: {msg}");
    }
    let r = admin.put("/api/templates/sms/reminder", json!({ "body": "Join {join_link}" })).await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "a join link only in telehealth templates");
    let r = admin.put("/api/templates/sms/join", json!({ "body": "See you at {time}" })).await;
    assert!(r.1["error"]["message"].as_str().unwrap_or_default().contains("must include {join_link}"), "{}", r.3);
    // Nothing was saved: every template is still the default.
    let list = admin.get("/api/templates").await;
    assert_eq!(list.0, StatusCode::OK);
    assert!(list.1.as_array().expect("a list").iter().all(|t| t["is_default"] == true));
    assert_eq!(list.1.as_array().map(Vec::len), Some(6), "2 channels × 3 kinds");
    app.finish().await;
}

async fn an_admin_saves_a_template_and_the_preview_shows_segments_and_encoding(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut admin = app.sign_in_as("admin").await;
    let body = "Hi {first_name}, see you {date} at {time} at {practice_name}. {confirm_instructions}";
    let r = admin.put("/api/templates/sms/reminder", json!({ "body": body })).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.3);
    assert_eq!((r.1["encoding"].as_str(), r.1["segments"].as_u64()), (Some("gsm7"), Some(1)));
    let text = r.1["text"].as_str().expect("text");
    assert!(text.starts_with("Hi Alex, see you ") && text.contains("at 3:30 PM") && text.ends_with("at Practice A. Reply YES to confirm."), "{text}");
    let list = admin.get("/api/templates").await;
    let saved: Vec<_> = list.1.as_array().expect("list").iter().filter(|t| t["is_default"] == false).collect();
    assert_eq!(saved.len(), 1);
    assert_eq!((saved[0]["channel"].as_str(), saved[0]["kind"].as_str(), saved[0]["body"].as_str()), (Some("sms"), Some("reminder"), Some(body)));
    // The save is in the audit log.
    let events = app.store.audit_events_for_object(&Actor::system(app.practice_a), "message_template", "sms:reminder").await.expect("audit");
    assert!(events.iter().any(|e| e.action == "template.update" && e.user_id == Some(app.person("admin").user_id)));
    // An emoji makes it UCS-2, and a long text several segments.
    let (status, p) = admin.post("/api/templates/preview", json!({ "channel": "sms", "kind": "reminder", "body": "🙂 Hi {first_name}, see you {date} at {time}. {reschedule_instructions}" })).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["encoding"], "ucs2");
    assert!(p["segments"].as_u64() >= Some(1));
    let long = "See you {date} at {time}. ".repeat(12);
    let (_, p) = admin.post("/api/templates/preview", json!({ "channel": "sms", "kind": "reminder", "body": long })).await;
    assert!(p["segments"].as_u64() > Some(2), "{p}");
    app.finish().await;
}

async fn only_an_administrator_may_change_templates_rules_and_join_links(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let clinician = app.person("clinician").user_id;
    for who in ["clinician", "front_desk", "supervisor"] {
        let mut s = app.sign_in_as(who).await;
        assert_eq!(s.put("/api/templates/sms/reminder", json!({ "body": "See you {date}" })).await.0, StatusCode::FORBIDDEN, "{who}");
        assert_eq!(s.put("/api/reminder-rules", json!({ "reminders": [], "join_message_minutes_before": null, "jitsi_base_url": null })).await.0, StatusCode::FORBIDDEN, "{who}");
        assert_eq!(s.put(&format!("/api/clinicians/{clinician}/join-link"), json!({ "join_link": "https://zoom.us/j/1" })).await.0, StatusCode::NOT_FOUND, "{who}");
        assert_eq!(s.get("/api/templates").await.0, StatusCode::OK, "{who} may read templates");
    }
    let mut biller = app.sign_in_as("biller").await;
    assert_eq!(biller.get("/api/templates").await.0, StatusCode::FORBIDDEN);
    let mut anon = app.session();
    assert_eq!(anon.get("/api/templates").await.0, StatusCode::UNAUTHORIZED);
    let denied = app.store.audit_events_for_object(&Actor::system(app.practice_a), "staff_user", &clinician.to_string()).await.expect("audit");
    assert!(denied.iter().filter(|e| e.action == "join_link.update" && e.outcome == store::Outcome::Denied).count() >= 3);
    app.finish().await;
}

async fn rules_and_join_links_are_checked_before_they_are_saved(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut admin = app.sign_in_as("admin").await;
    let defaults = admin.get("/api/reminder-rules").await;
    assert_eq!(defaults.1["reminders"], json!([{ "minutes_before": 2880, "channels": ["sms"] }, { "minutes_before": 120, "channels": ["sms"] }]));
    assert_eq!(defaults.1["join_message_minutes_before"], 10);
    let r = admin.put("/api/reminder-rules", json!({ "reminders": [{ "minutes_before": 1440, "channels": ["sms"] }], "join_message_minutes_before": 5, "jitsi_base_url": "http://meet.jit.si" })).await;
    assert_eq!((r.0, r.1["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("jitsi_base_url")));
    let r = admin.put("/api/reminder-rules", json!({ "reminders": [{ "minutes_before": 0, "channels": ["sms"] }], "join_message_minutes_before": 5, "jitsi_base_url": null })).await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin.put("/api/reminder-rules", json!({ "reminders": [{ "minutes_before": 1440, "channels": ["sms", "telegram"] }], "join_message_minutes_before": 5, "jitsi_base_url": "https://meet.jit.si/" })).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.3);
    assert_eq!(admin.get("/api/reminder-rules").await.1["jitsi_base_url"], "https://meet.jit.si");
    let clinician = app.person("clinician").user_id;
    for bad in ["http://zoom.us/j/1", "https://zoom.us.evil.example/j/1", "https://evil.example/zoom.us"] {
        let r = admin.put(&format!("/api/clinicians/{clinician}/join-link"), json!({ "join_link": bad })).await;
        assert_eq!((r.0, r.1["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("join_link")), "{bad}");
    }
    let r = admin.put(&format!("/api/clinicians/{clinician}/join-link"), json!({ "join_link": "https://teams.microsoft.com/l/meetup-join/abc" })).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.3);
    let other_practice = app.b_clinician.user_id;
    assert_eq!(admin.put(&format!("/api/clinicians/{other_practice}/join-link"), json!({ "join_link": "https://zoom.us/j/1" })).await.0, StatusCode::NOT_FOUND);
    app.finish().await;
}

async fn a_booked_visit_is_reminded_with_only_allow_listed_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut desk = app.sign_in_as("front_desk").await;
    let (status, c) = desk
        .post("/api/clients", json!({ "first_name": "Rowan", "last_name": "Whitfield", "phone": "+12015550142", "time_zone": "America/New_York", "texting_consent": true, "channel_preferences": ["sms"] }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let clinician = app.person("clinician").user_id;
    let booking = |link: &str| json!({
        "clinician_id": clinician, "client_ids": [c["client_id"]], "starts_at": "2027-06-10T18:00:00Z", "ends_at": "2027-06-10T18:50:00Z",
        "time_zone": "America/New_York", "modality": "telehealth", "location": null, "join_link": link, "service_code": "90837"
    });
    let (status, bad) = desk.post("/api/appointments", booking("https://zoom.evil.example/j/1")).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("join_link")));
    let (status, a) = desk.post("/api/appointments", booking("https://us02web.zoom.us/j/987")).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let id = a["appointment_id"].as_str().expect("id");
    let r = desk.get(&format!("/api/appointments/{id}/reminders")).await;
    let kinds: Vec<_> = r.1.as_array().expect("reminders").iter().map(|x| (x["kind"].as_str().unwrap_or_default().to_owned(), x["minutes_before"].as_i64())).collect();
    assert_eq!(kinds, [("reminder".to_owned(), Some(2880)), ("reminder".to_owned(), Some(120)), ("join".to_owned(), Some(10))]);

    // The scheduler's ticks two days before, and at 12:00 EDT on the day (the last reminder,
    // with the join link).
    for (at, kind) in [("2027-06-08T18:00:00Z", "48-hour"), ("2027-06-10T16:00:00Z", "2-hour")] {
        let at: chrono::DateTime<chrono::Utc> = at.parse().expect("instant");
        let report = assistant::reminders::scheduler::tick(&app.store, None, at).await.expect("tick");
        assert_eq!((report.queued, report.skipped), (1, 0), "the {kind} reminder");
    }
    let client_id = c["client_id"].as_str().expect("id").parse().expect("uuid");
    let out = app.store.list_client_outbound(&Actor::system(app.practice_a), ClientScope::Practice, client_id).await.expect("outbox");
    let last = out.last().expect("queued").body.clone();
    assert_eq!(last, "Hi Rowan, your video appointment with Practice A is Thursday, June 10 at 2:00 PM EDT. Join: https://us02web.zoom.us/j/987 Reply YES to confirm. Reply STOP to opt out.");
    for body in out.iter().map(|m| m.body.as_str()) {
        assert!(!body.contains("Whitfield") && !body.contains("90837"), "{body}");
    }
    app.finish().await;
}

on_both_backends!(
    templates_with_other_fields_or_clinical_words_are_refused_with_the_reason,
    an_admin_saves_a_template_and_the_preview_shows_segments_and_encoding,
    only_an_administrator_may_change_templates_rules_and_join_links,
    rules_and_join_links_are_checked_before_they_are_saved,
    a_booked_visit_is_reminded_with_only_allow_listed_fields,
);
