//! Reply conversations on SQLite and PostgreSQL, through `assistant::replies::handle_reply`
//! as the webhook calls it: confirm, reschedule across time zones, a slot taken meanwhile,
//! cancelling only by the menu number (never by the word CANCEL) with the waitlist offered the
//! slot and the first acceptance winning, unknown numbers learning nothing, distress filed for
//! staff with an alert, no clinical content in any reply, and the waitlist staff routes.

mod common;

use assistant::replies::{Handled, Inbound, Intent, ReplyOutcome, handle_reply, texts};
use chrono::{DateTime, Duration, NaiveTime, Utc, Weekday};
use common::{Backend, TestApp};
use proptest::prelude::*;
use reqwest::StatusCode;
use store::appointments::{Appointment, AppointmentDetails, AppointmentStatus, Modality};
use store::availability::NewWeeklySlot;
use store::outbox::{OutboundMessage, Purpose, Recipient};
use store::{Actor, ClientId, ClientScope, E164, Store, TimeZoneName, UserId};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 instant")
}

/// Monday 2027-06-07, 08:00 EDT: when the client texts.
fn monday() -> DateTime<Utc> {
    at("2027-06-07T12:00:00Z")
}

/// The visit: Thursday 2027-06-10 10:40-11:30 EDT (07:40 PDT for the client).
fn visit_start() -> DateTime<Utc> {
    at("2027-06-10T14:40:00Z")
}

struct Scene {
    app: TestApp,
    actor: Actor,
    clinician: UserId,
    client: ClientId,
    phone: E164,
    visit: Appointment,
}

async fn client_in(store: &Store, actor: &Actor, first: &str, phone: &str, zone: &str, clinician: UserId) -> ClientId {
    let d = store::clients::ClientDetails {
        first_name: first.into(),
        last_name: "Whitfield".into(),
        preferred_name: None,
        date_of_birth: None,
        phone: Some(E164::parse(phone).expect("phone")),
        email: None,
        telegram_chat_id: None,
        time_zone: TimeZoneName::parse(zone).expect("zone"),
        channel_preferences: vec![store::clients::Channel::Sms],
        texting_consent: true,
        primary_clinician_id: Some(clinician),
        contacts: vec![],
    };
    store.create_client(actor, &d).await.expect("client").client_id
}

async fn book(store: &Store, actor: &Actor, clinician: UserId, client: ClientId, starts_at: DateTime<Utc>) -> Appointment {
    let d = AppointmentDetails {
        clinician_id: clinician,
        client_ids: vec![client],
        starts_at,
        ends_at: starts_at + Duration::minutes(50),
        time_zone: TimeZoneName::parse("America/New_York").expect("zone"),
        modality: Modality::InPerson,
        location: Some("Anxiety and Trauma Clinic, Suite 4".into()),
        join_link: None,
        service_code: Some("90837".into()),
    };
    store.create_appointment(actor, ClientScope::Practice, &d).await.expect("appointment")
}

/// A clinician who works Tuesdays and Thursdays 09:00-12:00 New York time, and a client in
/// Los Angeles with a visit on Thursday at 10:40 EDT.
async fn scene(backend: Backend) -> Scene {
    let app = TestApp::spawn(backend).await;
    let actor = Actor::system(app.practice_a);
    let clinician = app.person("clinician").user_id;
    for weekday in [Weekday::Tue, Weekday::Thu] {
        let slot = NewWeeklySlot {
            clinician_id: clinician,
            weekday,
            start: NaiveTime::from_hms_opt(9, 0, 0).expect("time"),
            end: NaiveTime::from_hms_opt(12, 0, 0).expect("time"),
            time_zone: TimeZoneName::parse("America/New_York").expect("zone"),
        };
        app.store.add_weekly_slot(&actor, &slot).await.expect("weekly slot");
    }
    let phone = E164::parse("+13105550101").expect("phone");
    let client = client_in(&app.store, &actor, "Rowan", phone.as_str(), "America/Los_Angeles", clinician).await;
    let visit = book(&app.store, &actor, clinician, client, visit_start()).await;
    Scene { app, actor, clinician, client, phone, visit }
}

impl Scene {
    async fn text_from(&self, from: &Recipient, text: &str, id: &str, now: DateTime<Utc>) -> Handled {
        let inbound = Inbound { practice_id: self.app.practice_a, from, text, provider_id: id, received_at: now };
        handle_reply(&self.app.store, &inbound).await.expect("reply handled")
    }

    async fn text(&self, text: &str, id: &str) -> Handled {
        self.text_from(&Recipient::Sms(self.phone.clone()), text, id, monday()).await
    }

    async fn body(&self, h: &Handled) -> OutboundMessage {
        self.app.store.get_outbound(&self.actor, h.reply).await.expect("the reply is in the outbox")
    }

    async fn visit_now(&self) -> Appointment {
        self.app.store.get_appointment(&self.actor, ClientScope::Practice, self.visit.appointment_id).await.expect("visit")
    }
}

/// Nothing a reply says may name the client, the clinician, the service or the place, or use a
/// clinical word (the template deny list).
fn assert_no_clinical_content(body: &str) {
    assert_eq!(assistant::reminders::template::denied_term(body), None, "{body}");
    for secret in ["Rowan", "Whitfield", "90837", "Anxiety", "Trauma", "Suite", "clinician", "Practice A"] {
        assert!(!body.contains(secret), "{secret:?} in {body:?}");
    }
}

async fn a_yes_confirms_the_next_visit_and_names_only_its_time(backend: Backend) {
    let s = scene(backend).await;
    let h = s.text("  Yes! ", "SM-confirm-1").await;
    assert_eq!(h.outcome, ReplyOutcome::Confirmed(s.visit.appointment_id));
    assert_eq!(s.visit_now().await.status, AppointmentStatus::Confirmed);
    let reply = s.body(&h).await;
    assert_eq!(reply.body, "Thanks, your visit on Thu Jun 10, 7:40 AM PDT is confirmed.");
    assert_eq!((reply.purpose, &reply.recipient), (Purpose::Reply, &Recipient::Sms(s.phone.clone())));
    assert_no_clinical_content(&reply.body);
    let history = s.app.store.appointment_status_history(&s.actor, ClientScope::Practice, s.visit.appointment_id).await.expect("history");
    assert_eq!(history.last().and_then(|c| c.reason.as_deref()), Some("client_reply_confirm"));
    // The provider redelivers the same message: no second reply is queued.
    let again = s.text("yes", "SM-confirm-1").await;
    assert_eq!(again.reply, h.reply);
    s.app.finish().await;
}

async fn reschedule_offers_three_local_times_and_2_books_the_second(backend: Backend) {
    let s = scene(backend).await;
    let h = s.text("can we move it?", "SM-r-1").await;
    assert_eq!(h.outcome, ReplyOutcome::SlotsOffered { appointment_id: s.visit.appointment_id, slots: 3 });
    // Tuesday 09:00, 09:50 and 10:40 in New York are 06:00, 06:50 and 07:40 in Los Angeles.
    assert_eq!(
        s.body(&h).await.body,
        "To move your visit: Reply with a number:\n1 = Tue Jun 8, 6:00 AM PDT\n2 = Tue Jun 8, 6:50 AM PDT\n3 = Tue Jun 8, 7:40 AM PDT\n4 = cancel the visit"
    );
    // The offer is in the database (a restart loses nothing): a fresh store handle reads it.
    let state = s.app.store.conversation_state(&s.actor, s.client, monday()).await.expect("state");
    assert!(matches!(state, Some(store::replies::ConversationState::ChoosingSlot { slots, .. }) if slots.len() == 3));
    // Expired after 24 hours.
    assert_eq!(s.app.store.conversation_state(&s.actor, s.client, monday() + Duration::hours(25)).await.expect("state"), None);

    let h = s.text("2", "SM-r-2").await;
    assert_eq!(h.outcome, ReplyOutcome::Rescheduled(s.visit.appointment_id));
    let moved = s.visit_now().await;
    assert_eq!((moved.details.starts_at, moved.details.ends_at), (at("2027-06-08T13:50:00Z"), at("2027-06-08T14:40:00Z")));
    assert_eq!(moved.status, AppointmentStatus::Scheduled);
    assert_eq!(s.body(&h).await.body, "Done: your visit is now Tue Jun 8, 6:50 AM PDT.");
    assert_eq!(s.app.store.conversation_state(&s.actor, s.client, monday()).await.expect("state"), None, "the question is answered");
    // The old Thursday time is free again: another client asking now is offered it.
    let other_phone = "+12125550133";
    let other = client_in(&s.app.store, &s.actor, "Sam", other_phone, "America/New_York", s.clinician).await;
    let thursday_0940 = at("2027-06-10T13:50:00Z");
    book(&s.app.store, &s.actor, s.clinician, other, thursday_0940).await;
    for (i, t) in [at("2027-06-08T13:00:00Z"), at("2027-06-08T14:40:00Z"), at("2027-06-10T13:00:00Z")].into_iter().enumerate() {
        // Fill Tuesday 09:00, 10:40 and Thursday 09:00 so the next free time is the old one.
        let filler = client_in(&s.app.store, &s.actor, "Filler", &format!("+1212555014{i}"), "America/New_York", s.clinician).await;
        book(&s.app.store, &s.actor, s.clinician, filler, t).await;
    }
    let h = s.text_from(&Recipient::Sms(E164::parse(other_phone).expect("phone")), "R", "SM-r-3", monday()).await;
    assert!(matches!(h.outcome, ReplyOutcome::SlotsOffered { slots: 3, .. }), "{:?}", h.outcome);
    assert!(s.body(&h).await.body.contains("1 = Thu Jun 10, 10:40 AM EDT"), "the released slot comes first");
    s.app.finish().await;
}

async fn a_slot_taken_meanwhile_is_refused_and_fresh_times_are_offered(backend: Backend) {
    let s = scene(backend).await;
    s.text("R", "SM-t-1").await;
    // Staff book Tuesday 09:50 EDT for someone else before the client answers.
    let other = client_in(&s.app.store, &s.actor, "Sam", "+12125550144", "America/New_York", s.clinician).await;
    book(&s.app.store, &s.actor, s.clinician, other, at("2027-06-08T13:50:00Z")).await;
    let h = s.text("2", "SM-t-2").await;
    assert_eq!(h.outcome, ReplyOutcome::SlotTaken { appointment_id: s.visit.appointment_id, slots: 3 });
    let body = s.body(&h).await.body;
    assert!(body.starts_with("Sorry, that time was just taken."), "{body}");
    assert!(!body.contains("6:50 AM"), "the taken time is not offered again: {body}");
    assert!(body.contains("2 = Tue Jun 8, 7:40 AM PDT"), "{body}");
    assert_eq!(s.visit_now().await.details.starts_at, visit_start(), "the visit did not move");
    // The fresh offer is the one answered next.
    let h = s.text("2", "SM-t-3").await;
    assert_eq!(h.outcome, ReplyOutcome::Rescheduled(s.visit.appointment_id));
    assert_eq!(s.visit_now().await.details.starts_at, at("2027-06-08T14:40:00Z"));
    s.app.finish().await;
}

async fn the_word_cancel_never_cancels_a_visit_but_the_menu_number_does_and_the_waitlist_is_offered_it(backend: Backend) {
    let s = scene(backend).await;
    // Five waitlisted clients; the first three are offered the slot.
    let mut waiting = Vec::new();
    for i in 0..5 {
        let phone = format!("+1415555020{i}");
        let c = client_in(&s.app.store, &s.actor, "Wait", &phone, "America/Chicago", s.clinician).await;
        s.app.store.add_to_waitlist(&s.actor, ClientScope::Practice, s.clinician, c).await.expect("waitlist");
        waiting.push((c, Recipient::Sms(E164::parse(&phone).expect("phone"))));
    }
    // CANCEL (should the keyword layer ever let it through) and sentences about cancelling
    // change nothing: staff read them.
    for (i, t) in ["CANCEL", "cancel.", "Cancel my appointment", "stop", "opt out"].into_iter().enumerate() {
        let h = s.text(t, &format!("SM-c-{i}")).await;
        assert!(matches!(h.outcome, ReplyOutcome::ToInbox(_)), "{t}: {:?}", h.outcome);
    }
    assert_eq!(s.visit_now().await.status, AppointmentStatus::Scheduled);
    // Outside a menu, 4 is not a cancellation either.
    assert!(matches!(s.text("4", "SM-c-9").await.outcome, ReplyOutcome::ToInbox(_)));
    assert_eq!(s.visit_now().await.status, AppointmentStatus::Scheduled);

    s.text("R", "SM-c-10").await;
    let h = s.text("4", "SM-c-11").await;
    assert_eq!(h.outcome, ReplyOutcome::Cancelled { appointment_id: s.visit.appointment_id, waitlist_offered: 3 });
    assert_eq!(s.visit_now().await.status, AppointmentStatus::Cancelled);
    assert_eq!(s.body(&h).await.body, "Your visit on Thu Jun 10, 7:40 AM PDT is cancelled. Please call the office to book again.");
    let outbound = |c: ClientId| {
        let store = s.app.store.clone();
        let actor = s.actor.clone();
        async move { store.list_client_outbound(&actor, ClientScope::Practice, c).await.expect("outbox") }
    };
    for (c, _) in &waiting[..3] {
        let out = outbound(*c).await;
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].purpose, out[0].body.as_str()), (Purpose::WaitlistOffer, "An earlier visit opened: Thu Jun 10, 9:40 AM CDT. Reply 1 to take it; the first reply gets it."));
    }
    assert!(outbound(waiting[3].0).await.is_empty() && outbound(waiting[4].0).await.is_empty(), "a few at a time");

    // The second one answers first and gets it; the others are told it is gone.
    let h = s.text_from(&waiting[1].1, "1", "SM-w-1", monday() + Duration::minutes(5)).await;
    let ReplyOutcome::WaitlistBooked { appointment_id, told_gone } = h.outcome else { panic!("{:?}", h.outcome) };
    assert_eq!(told_gone, 2);
    let booked = s.app.store.get_appointment(&s.actor, ClientScope::Practice, appointment_id).await.expect("booked");
    assert_eq!((booked.details.client_ids.clone(), booked.details.starts_at, booked.status), (vec![waiting[1].0], visit_start(), AppointmentStatus::Scheduled));
    assert_eq!(s.body(&h).await.body, "You're booked for Thu Jun 10, 9:40 AM CDT. Reply R to reschedule.");
    for i in [0, 2] {
        let out = outbound(waiting[i].0).await;
        assert_eq!(out.last().map(|m| m.body.as_str()), Some("Sorry, the Thu Jun 10, 9:40 AM CDT opening has been taken. You stay on the waitlist."));
    }
    // A late acceptance loses.
    let late = s.text_from(&waiting[0].1, "yes", "SM-w-2", monday() + Duration::minutes(6)).await;
    assert_eq!(late.outcome, ReplyOutcome::WaitlistGone);
    let list = s.app.store.list_waitlist(&s.actor, ClientScope::Practice, s.clinician).await.expect("waitlist");
    assert_eq!(list.len(), 4, "the client who got the slot left the waitlist");
    assert!(list.iter().all(|e| e.client_id != waiting[1].0));
    s.app.finish().await;
}

async fn a_visit_cancelled_by_staff_is_offered_to_the_waitlist(backend: Backend) {
    let s = scene(backend).await;
    let w = client_in(&s.app.store, &s.actor, "Wait", "+14155550299", "America/New_York", s.clinician).await;
    s.app.store.add_to_waitlist(&s.actor, ClientScope::Practice, s.clinician, w).await.expect("waitlist");
    // The front desk cancels through the API.
    let mut desk = s.app.sign_in_as("front_desk").await;
    let (status, body) = desk.post(&format!("/api/appointments/{}/status", s.visit.appointment_id), serde_json::json!({ "status": "cancelled" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let out = s.app.store.list_client_outbound(&s.actor, ClientScope::Practice, w).await.expect("outbox");
    assert_eq!(out.iter().map(|m| m.purpose).collect::<Vec<_>>(), [Purpose::WaitlistOffer]);
    assert_eq!(out[0].body, "An earlier visit opened: Thu Jun 10, 10:40 AM EDT. Reply 1 to take it; the first reply gets it.");
    // Offered once: cancelling again, or offering again, texts nobody twice.
    let (status, _) = desk.post(&format!("/api/appointments/{}/status", s.visit.appointment_id), serde_json::json!({ "status": "cancelled" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(assistant::replies::offer_cancelled_slot(&s.app.store, &s.actor, s.visit.appointment_id, monday()).await.expect("offer"), 0);
    assert_eq!(s.app.store.list_client_outbound(&s.actor, ClientScope::Practice, w).await.expect("outbox").len(), 1);
    // A visit that is not cancelled is never offered.
    let other = book(&s.app.store, &s.actor, s.clinician, s.client, at("2027-06-15T13:00:00Z")).await;
    assert_eq!(assistant::replies::offer_cancelled_slot(&s.app.store, &s.actor, other.appointment_id, monday()).await.expect("offer"), 0);
    s.app.finish().await;
}

async fn an_unknown_number_gets_a_neutral_reply_that_reveals_nothing(backend: Backend) {
    let s = scene(backend).await;
    let stranger = Recipient::Sms(E164::parse("+19175550123").expect("phone"));
    for (i, t) in ["yes", "R", "who is this?", "2"].into_iter().enumerate() {
        let h = s.text_from(&stranger, t, &format!("SM-u-{i}"), monday()).await;
        assert_eq!(h.outcome, ReplyOutcome::UnknownSender);
        let reply = s.body(&h).await;
        assert_eq!(reply.body, texts::UNKNOWN_SENDER);
        assert_eq!((reply.client_id, reply.appointment_id, &reply.recipient), (None, None, &stranger));
        assert!(!reply.body.chars().any(|c| c.is_ascii_digit() && !"911988".contains(c)), "no times: {}", reply.body);
        assert_no_clinical_content(&reply.body);
    }
    // Nothing happened to anyone's visit, and no one was alerted.
    assert_eq!(s.visit_now().await.status, AppointmentStatus::Scheduled);
    assert!(s.app.store.list_staff_alerts(&s.actor, s.clinician).await.expect("alerts").is_empty());
    s.app.finish().await;
}

async fn distress_goes_to_the_inbox_with_an_alert_and_a_neutral_reply(backend: Backend) {
    let s = scene(backend).await;
    let text = "I'm not doing well and don't know if I can keep going";
    let h = s.text(text, "SM-d-1").await;
    let ReplyOutcome::ToInbox(ids) = h.outcome.clone() else { panic!("{:?}", h.outcome) };
    assert_eq!(ids.len(), 1);
    let alerts = s.app.store.list_staff_alerts(&s.actor, s.clinician).await.expect("alerts");
    assert_eq!((alerts.len(), alerts[0].message_id, alerts[0].client_id), (1, ids[0], s.client));
    let thread = s.app.store.list_thread(&s.actor, ClientScope::Practice, s.client).await.expect("thread");
    assert_eq!(thread.iter().map(|m| (m.body.as_str(), m.direction)).collect::<Vec<_>>(), [(text, store::messages::Direction::Inbound)]);
    let reply = s.body(&h).await;
    assert_eq!(reply.body, "Thanks, the office will get back to you. If this is an emergency call 911 or 988.");
    assert_no_clinical_content(&reply.body);
    assert_eq!(s.visit_now().await.status, AppointmentStatus::Scheduled, "nothing about the visit changed");
    s.app.finish().await;
}

async fn no_reply_in_a_whole_conversation_carries_clinical_content(backend: Backend) {
    let s = scene(backend).await;
    let mut bodies = Vec::new();
    for (i, t) in ["what should I bring?", "R", "7", "3", "👍🏽", "R", "4"].into_iter().enumerate() {
        let h = s.text(t, &format!("SM-n-{i}")).await;
        bodies.push(s.body(&h).await.body);
    }
    assert_eq!(bodies.len(), 7);
    assert!(bodies[2].starts_with("Please reply 1-3"), "{}", bodies[2]);
    assert!(bodies[4].contains("is confirmed"), "{}", bodies[4]);
    for b in &bodies {
        assert_no_clinical_content(b);
    }
    s.app.finish().await;
}

async fn staff_keep_a_clinicians_waitlist_within_their_reach(backend: Backend) {
    let s = scene(backend).await;
    let path = format!("/api/clinicians/{}/waitlist", s.clinician);
    let mut desk = s.app.sign_in_as("front_desk").await;
    let r = desk.put(&format!("{path}/{}", s.client), serde_json::json!({})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.3);
    let r = desk.get(&path).await;
    assert_eq!(r.1.as_array().map(|a| a.iter().map(|e| e["client_id"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>()), Some(vec![s.client.to_string()]));
    let mut biller = s.app.sign_in_as("biller").await;
    let r = biller.put(&format!("{path}/{}", s.client), serde_json::json!({})).await;
    assert!(matches!(r.0, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{}", r.0);
    let r = desk.delete(&format!("{path}/{}", s.client)).await;
    assert_eq!(r.0, StatusCode::NO_CONTENT);
    let r = desk.delete(&format!("{path}/{}", s.client)).await;
    assert_eq!(r.0, StatusCode::NOT_FOUND, "not on it any more");
    assert_eq!(desk.get(&path).await.1.as_array().map(Vec::len), Some(0));
    s.app.finish().await;
}

on_both_backends!(
    a_yes_confirms_the_next_visit_and_names_only_its_time,
    reschedule_offers_three_local_times_and_2_books_the_second,
    a_slot_taken_meanwhile_is_refused_and_fresh_times_are_offered,
    the_word_cancel_never_cancels_a_visit_but_the_menu_number_does_and_the_waitlist_is_offered_it,
    a_visit_cancelled_by_staff_is_offered_to_the_waitlist,
    an_unknown_number_gets_a_neutral_reply_that_reveals_nothing,
    distress_goes_to_the_inbox_with_an_alert_and_a_neutral_reply,
    no_reply_in_a_whole_conversation_carries_clinical_content,
    staff_keep_a_clinicians_waitlist_within_their_reach,
);

proptest! {
    /// Any spelling of an opt-out keyword (case, spaces, trailing punctuation) is an opt-out to
    /// the keyword layer and never a visit action to the conversation.
    #[test]
    fn the_intent_parser_never_acts_on_an_opt_out_keyword(
        word in prop::sample::select(vec!["stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out"]),
        upper in prop::collection::vec(any::<bool>(), 11),
        pre in "[ \t\n]{0,3}",
        post in "[.!?,;:]{0,3}[ \t]{0,2}",
    ) {
        let cased: String = word.chars().zip(upper.iter()).map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c }).collect();
        let text = format!("{pre}{cased}{post}");
        prop_assert_eq!(channels::Keyword::parse(&text), channels::Keyword::OptOut);
        prop_assert_eq!(Intent::parse(&text), Intent::Other);
    }
}
