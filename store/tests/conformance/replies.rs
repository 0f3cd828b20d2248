//! Reply turns on both backends: a turn is one transaction (dropped, it keeps neither the visit
//! change nor the reply), conversation state survives a restart, open slots honour exceptions,
//! and of two simultaneous acceptances of one waitlist offer exactly one books the slot.

use chrono::{DateTime, Duration, NaiveTime, Utc, Weekday};
use store::{
    ClientId, ClientScope, Store,
    appointments::{Appointment, AppointmentDetails, AppointmentStatus, Modality},
    availability::{ExceptionKind, NewAvailabilityException, NewWeeklySlot},
    outbox::{IdempotencyKey, NewOutbound, Purpose, Recipient, SenderKey},
    replies::{ConversationState, OfferedSlot, Sender, WaitlistAcceptance},
};

use crate::common::{Practice, both, client, phone, practice, tz};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 instant")
}

/// Monday 2027-06-07 08:00 EDT.
fn monday() -> DateTime<Utc> {
    at("2027-06-07T12:00:00Z")
}

async fn texted(store: &Store, p: &Practice, first: &str, number: &str) -> ClientId {
    let mut d = client(first, "Rivera", Some(p.clinician.user_id));
    d.phone = Some(phone(number));
    d.contacts = vec![];
    store.create_client(&p.admin, &d).await.expect("client").client_id
}

async fn visit(store: &Store, p: &Practice, c: ClientId, starts_at: DateTime<Utc>) -> Appointment {
    let d = AppointmentDetails {
        clinician_id: p.clinician.user_id,
        client_ids: vec![c],
        starts_at,
        ends_at: starts_at + Duration::minutes(50),
        time_zone: tz("America/New_York"),
        modality: Modality::InPerson,
        location: None,
        join_link: None,
        service_code: None,
    };
    store.create_appointment(&p.admin, ClientScope::Practice, &d).await.expect("appointment")
}

fn reply(c: Option<ClientId>, to: &Recipient, key: &str) -> NewOutbound {
    NewOutbound {
        client_id: c,
        recipient: to.clone(),
        body: "Thanks.".into(),
        purpose: Purpose::Reply,
        appointment_id: None,
        message_id: None,
        sender_key: SenderKey::parse("sms:default").expect("valid"),
        idempotency_key: IdempotencyKey::parse(key).expect("valid"),
        not_before: None,
    }
}

both! {
    async fn a_turn_dropped_before_commit_keeps_neither_the_change_nor_the_reply(db) {
        let p = practice(&db.store, "drop").await;
        let c = texted(&db.store, &p, "Ana", "+13105550111").await;
        let a = visit(&db.store, &p, c, at("2027-06-10T14:40:00Z")).await;
        let from = Recipient::Sms(phone("+13105550111"));
        let (mut turn, sender) = db.store.begin_reply(&p.admin, &from, monday()).await.expect("turn");
        let Sender::Client(who) = sender else { panic!("the client is recognised: {sender:?}") };
        assert_eq!(who.client_id, c);
        assert_eq!(turn.next_appointment(c).await.expect("next").map(|x| x.appointment_id), Some(a.appointment_id));
        turn.set_status(a.appointment_id, AppointmentStatus::Confirmed, "client_reply_confirm").await.expect("confirm");
        turn.send(&reply(Some(c), &from, "reply:dropped")).await.expect("reply");
        drop(turn);
        let after = db.store.get_appointment(&p.admin, ClientScope::Practice, a.appointment_id).await.expect("visit");
        assert_eq!(after.status, AppointmentStatus::Scheduled);
        assert!(db.store.list_client_outbound(&p.admin, ClientScope::Practice, c).await.expect("outbox").is_empty());

        // Committed, both are there.
        let (mut turn, _) = db.store.begin_reply(&p.admin, &from, monday()).await.expect("turn");
        turn.set_status(a.appointment_id, AppointmentStatus::Confirmed, "client_reply_confirm").await.expect("confirm");
        turn.send(&reply(Some(c), &from, "reply:kept")).await.expect("reply");
        turn.commit().await.expect("commit");
        assert_eq!(db.store.get_appointment(&p.admin, ClientScope::Practice, a.appointment_id).await.expect("visit").status, AppointmentStatus::Confirmed);
        assert_eq!(db.store.list_client_outbound(&p.admin, ClientScope::Practice, c).await.expect("outbox").len(), 1);
        // An unknown address matches nobody; another practice's client is unknown here too.
        let q = practice(&db.store, "other").await;
        let (turn, sender) = db.store.begin_reply(&q.admin, &from, monday()).await.expect("turn");
        assert_eq!(sender, Sender::Unknown);
        drop(turn);
    }

    async fn conversation_state_survives_a_restart_and_expires(db) {
        let p = practice(&db.store, "restart").await;
        let c = texted(&db.store, &p, "Bo", "+13105550112").await;
        let a = visit(&db.store, &p, c, at("2027-06-10T14:40:00Z")).await;
        let state = ConversationState::ChoosingSlot {
            appointment_id: a.appointment_id,
            slots: vec![OfferedSlot { starts_at: at("2027-06-08T13:00:00Z"), ends_at: at("2027-06-08T13:50:00Z") }],
        };
        let mut turn = db.store.begin_turn(&p.admin, monday()).await.expect("turn");
        turn.save_conversation(c, &state, monday() + Duration::hours(24)).await.expect("save");
        turn.commit().await.expect("commit");
        let again = db.reopen().await;
        assert_eq!(again.conversation_state(&p.admin, c, monday() + Duration::hours(1)).await.expect("read"), Some(state));
        assert_eq!(again.conversation_state(&p.admin, c, monday() + Duration::hours(24)).await.expect("read"), None);
        // More than nine slots is refused.
        let many = ConversationState::ChoosingSlot { appointment_id: a.appointment_id, slots: vec![OfferedSlot { starts_at: monday(), ends_at: monday() }; 10] };
        let mut turn = db.store.begin_turn(&p.admin, monday()).await.expect("turn");
        assert!(matches!(turn.save_conversation(c, &many, monday()).await, Err(store::StoreError::Invalid(_))));
        again.close().await;
    }

    async fn open_slots_skip_booked_visits_and_time_off_and_include_extra_hours(db) {
        let p = practice(&db.store, "slots").await;
        let clin = p.clinician.user_id;
        let slot = NewWeeklySlot { clinician_id: clin, weekday: Weekday::Tue, start: NaiveTime::from_hms_opt(9, 0, 0).expect("t"), end: NaiveTime::from_hms_opt(12, 0, 0).expect("t"), time_zone: tz("America/New_York") };
        db.store.add_weekly_slot(&p.admin, &slot).await.expect("slot");
        let c = texted(&db.store, &p, "Cy", "+13105550113").await;
        visit(&db.store, &p, c, at("2027-06-08T13:00:00Z")).await; // Tue 09:00 EDT booked
        db.store.add_availability_exception(&p.admin, &NewAvailabilityException { clinician_id: clin, starts_at: at("2027-06-08T14:40:00Z"), ends_at: at("2027-06-08T16:00:00Z"), kind: ExceptionKind::Unavailable }).await.expect("time off");
        db.store.add_availability_exception(&p.admin, &NewAvailabilityException { clinician_id: clin, starts_at: at("2027-06-09T18:00:00Z"), ends_at: at("2027-06-09T18:50:00Z"), kind: ExceptionKind::Available }).await.expect("extra");
        let mut turn = db.store.begin_turn(&p.admin, monday()).await.expect("turn");
        let slots = turn.open_slots(clin, Duration::minutes(50), 3).await.expect("slots");
        drop(turn);
        let starts: Vec<_> = slots.iter().map(|s| s.starts_at).collect();
        assert_eq!(starts, [at("2027-06-08T13:50:00Z"), at("2027-06-09T18:00:00Z"), at("2027-06-15T13:00:00Z")]);
    }

    async fn of_two_simultaneous_acceptances_of_a_waitlist_offer_exactly_one_books(db) {
        let p = practice(&db.store, "race").await;
        let owner = texted(&db.store, &p, "Di", "+13105550114").await;
        let a = visit(&db.store, &p, owner, at("2027-06-10T14:40:00Z")).await;
        let w1 = texted(&db.store, &p, "Ed", "+13105550115").await;
        let w2 = texted(&db.store, &p, "Flo", "+13105550116").await;
        for w in [w1, w2] {
            db.store.add_to_waitlist(&p.admin, ClientScope::Practice, p.clinician.user_id, w).await.expect("waitlist");
        }
        db.store.set_appointment_status(&p.admin, ClientScope::Practice, a.appointment_id, AppointmentStatus::Cancelled, Some("staff")).await.expect("cancel");
        let mut turn = db.store.begin_turn(&p.admin, monday()).await.expect("turn");
        let opening = turn.open_waitlist_offer(a.appointment_id, 3, monday() + Duration::hours(12)).await.expect("offer").expect("someone is waiting");
        turn.commit().await.expect("commit");
        assert_eq!(opening.recipients.iter().map(|r| r.client_id).collect::<Vec<_>>(), [w1, w2]);
        let accept = |w: ClientId| {
            let store = db.store.clone();
            let actor = p.admin.clone();
            let offer = opening.waitlist_offer_id;
            tokio::spawn(async move {
                let mut turn = store.begin_turn(&actor, monday()).await.expect("turn");
                let r = turn.accept_waitlist_offer(offer, w).await.expect("accept");
                turn.commit().await.expect("commit");
                r
            })
        };
        let (r1, r2) = tokio::join!(accept(w1), accept(w2));
        let results = [r1.expect("task"), r2.expect("task")];
        let booked: Vec<_> = results.iter().filter(|r| matches!(r, WaitlistAcceptance::Booked { .. })).collect();
        assert_eq!(booked.len(), 1, "{results:?}");
        assert_eq!(results.iter().filter(|r| **r == WaitlistAcceptance::Gone).count(), 1);
        let visits = db.store.list_appointments(&p.admin, ClientScope::Practice, at("2027-06-10T14:40:00Z"), at("2027-06-10T14:41:00Z")).await.expect("visits");
        assert_eq!(visits.iter().filter(|v| v.status == AppointmentStatus::Scheduled).count(), 1, "one booking in the slot");
    }
}
