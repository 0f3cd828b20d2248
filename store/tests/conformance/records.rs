//! Practices, users, sessions, throttle, availability, appointments, consents, messages.

use chrono::{Duration, NaiveTime, TimeZone, Utc, Weekday};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use store::{
    Actor, ClientScope, StoreError,
    appointments::{AppointmentDetails, AppointmentStatus, Modality},
    availability::{ExceptionKind, NewAvailabilityException, NewWeeklySlot},
    clients::Channel,
    consents::{ConsentKind, NewConsent, Part2Disclosure},
    messages::{Direction, MessageStatus, NewMessage},
    practice::PracticeDetails,
    sessions::SessionLookup,
    users::{RecoveryCode, Role, RoleSet, StaffUserUpdate, TotpStep},
};

use crate::common::{both, client, email, new_user, phone, practice, tz, Practice};

fn token(c: char) -> SecretString {
    SecretString::from(std::iter::repeat_n(c, 43).collect::<String>())
}

both! {
    async fn a_practice_round_trips_and_updates(db) {
        let p = practice(&db.store, "rt").await;
        let got = db.store.get_practice(&p.admin).await.expect("get");
        assert_eq!(got.details.name, "Practice rt");
        let upd = PracticeDetails { name: "Renamed".into(), phone: Some(phone("+15550000001")), time_zone: tz("Europe/Berlin"), settings: serde_json::json!({"quiet_hours": [21, 8]}) };
        let after = db.store.update_practice(&p.admin, &upd).await.expect("update");
        assert_eq!(after.details, upd);
        assert_eq!(db.store.get_practice(&p.admin).await.expect("get").details, upd);
        assert!(db.store.list_practices().await.expect("list").iter().any(|x| x.practice_id == p.id));
        let bad = PracticeDetails { settings: serde_json::json!([1]), ..upd };
        assert!(matches!(db.store.update_practice(&p.admin, &bad).await, Err(StoreError::Invalid(_))));
    }

    async fn users_round_trip_and_a_duplicate_login_email_is_a_conflict_on_that_field(db) {
        let p = practice(&db.store, "users").await;
        let got = db.store.get_user(&p.admin, p.trainee.user_id).await.expect("get");
        assert_eq!(got, p.trainee);
        assert_eq!(got.supervisor_id, Some(p.supervisor.user_id));
        assert_eq!(db.store.list_users(&p.admin).await.expect("list").len(), 5);
        let dup = db.store.create_user(&p.admin, &new_user("clin@users.example.org", "Dup", &[Role::Biller], None)).await;
        match dup {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "login_email"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        let no_sup = db.store.create_user(&p.admin, &new_user("t2@users.example.org", "T2", &[Role::Trainee], None)).await;
        assert!(matches!(no_sup, Err(StoreError::Invalid(_))), "a trainee needs a supervisor");
        let upd = StaffUserUpdate { display_name: "Clinician Renamed".into(), roles: RoleSet::new([Role::Clinician, Role::Biller]), supervisor_id: None, disabled: true };
        let after = db.store.update_user(&p.admin, p.clinician.user_id, &upd).await.expect("update");
        assert!(after.disabled && after.roles.contains(Role::Biller) && after.display_name == "Clinician Renamed");
        db.store.set_password_hash(&p.admin, p.clinician.user_id, "$argon2id$new").await.expect("password");
        let login = db.store.find_login(&email("CLIN@users.example.org")).await.expect("login").expect("found");
        assert_eq!(login.password_hash, "$argon2id$new");
        assert!(db.store.find_login(&email("nobody@users.example.org")).await.expect("login").is_none());
    }

    async fn another_practice_sees_none_of_this_practices_users(db) {
        let a = practice(&db.store, "pa").await;
        let b = practice(&db.store, "pb").await;
        assert!(matches!(db.store.get_user(&b.admin, a.clinician.user_id).await, Err(StoreError::NotFound)));
        let upd = StaffUserUpdate { display_name: "x".into(), roles: RoleSet::new([Role::Clinician]), supervisor_id: None, disabled: false };
        assert!(matches!(db.store.update_user(&b.admin, a.clinician.user_id, &upd).await, Err(StoreError::NotFound)));
        assert!(db.store.list_users(&b.admin).await.expect("list").iter().all(|u| u.practice_id == b.id));
    }

    async fn totp_secrets_round_trip_and_a_time_step_is_accepted_once(db) {
        let p = practice(&db.store, "totp").await;
        let u = p.clinician.user_id;
        assert!(db.store.totp_secret(u).await.expect("read").is_none());
        let secret = SecretSlice::from(b"12345678901234567890".to_vec());
        db.store.set_totp_secret(&p.admin, u, Some(&secret)).await.expect("set");
        let back = db.store.totp_secret(u).await.expect("read").expect("enrolled");
        assert_eq!(back.expose_secret(), b"12345678901234567890");
        assert!(db.store.get_user(&p.admin, u).await.expect("get").has_totp);
        assert_eq!(db.store.accept_totp_step(u, 100).await.expect("step"), TotpStep::Accepted);
        assert_eq!(db.store.accept_totp_step(u, 100).await.expect("step"), TotpStep::Replayed);
        assert_eq!(db.store.accept_totp_step(u, 99).await.expect("step"), TotpStep::Replayed);
        assert_eq!(db.store.accept_totp_step(u, 101).await.expect("step"), TotpStep::Accepted);
        db.store.set_totp_secret(&p.admin, u, None).await.expect("remove");
        assert!(db.store.totp_secret(u).await.expect("read").is_none());
    }

    async fn each_recovery_code_works_once(db) {
        let p = practice(&db.store, "rc").await;
        let u = p.clinician.user_id;
        db.store.replace_recovery_codes(&p.admin, u, &["h1".into(), "h2".into()]).await.expect("codes");
        assert_eq!(db.store.unused_recovery_code_hashes(u).await.expect("list").len(), 2);
        assert_eq!(db.store.consume_recovery_code(u, "h1").await.expect("use"), RecoveryCode::Consumed);
        assert_eq!(db.store.consume_recovery_code(u, "h1").await.expect("use"), RecoveryCode::Unknown);
        assert_eq!(db.store.unused_recovery_code_hashes(u).await.expect("list"), vec!["h2".to_owned()]);
        db.store.replace_recovery_codes(&p.admin, u, &["h3".into()]).await.expect("codes");
        assert_eq!(db.store.consume_recovery_code(u, "h2").await.expect("use"), RecoveryCode::Unknown, "old codes are gone");
    }

    async fn sessions_resolve_by_token_and_revoke_singly_or_all_at_once(db) {
        let p = practice(&db.store, "sess").await;
        let me = p.as_user(&p.clinician);
        let later = Utc::now() + Duration::hours(8);
        let s1 = db.store.create_session(&me, p.clinician.user_id, &token('a'), later).await.expect("s1");
        let s2 = db.store.create_session(&me, p.clinician.user_id, &token('b'), later).await.expect("s2");
        match db.store.session_by_token(&token('a')).await.expect("lookup") {
            SessionLookup::Active(s) => assert_eq!(s, s1),
            other => panic!("expected active, got {other:?}"),
        }
        assert_eq!(db.store.session_by_token(&token('z')).await.expect("lookup"), SessionLookup::Unknown);
        db.store.touch_session(s1.session_id).await.expect("touch");
        db.store.revoke_session(&me, s1.session_id).await.expect("revoke");
        assert_eq!(db.store.session_by_token(&token('a')).await.expect("lookup"), SessionLookup::Revoked);
        assert!(matches!(db.store.session_by_token(&token('b')).await.expect("lookup"), SessionLookup::Active(s) if s.session_id == s2.session_id));
        db.store.create_session(&me, p.clinician.user_id, &token('c'), later).await.expect("s3");
        assert_eq!(db.store.revoke_user_sessions(&p.admin, p.clinician.user_id).await.expect("revoke all"), 2);
        assert_eq!(db.store.session_by_token(&token('c')).await.expect("lookup"), SessionLookup::Revoked);
        db.store.create_session(&me, p.clinician.user_id, &token('d'), Utc::now() - Duration::seconds(1)).await.expect("expired");
        assert_eq!(db.store.session_by_token(&token('d')).await.expect("lookup"), SessionLookup::Expired);
        let short = SecretString::from("short".to_owned());
        assert!(matches!(db.store.create_session(&me, p.clinician.user_id, &short, later).await, Err(StoreError::Invalid(_))));
    }

    async fn the_auth_throttle_is_shared_between_store_handles(db) {
        let other = db.reopen().await;
        let w = Duration::minutes(15);
        assert_eq!(db.store.record_auth_failure("ip:192.0.2.1", w).await.expect("fail"), 1);
        assert_eq!(other.record_auth_failure("ip:192.0.2.1", w).await.expect("fail"), 2);
        assert_eq!(db.store.auth_failures("ip:192.0.2.1", w).await.expect("count"), 2);
        assert_eq!(other.auth_failures("ip:192.0.2.2", w).await.expect("count"), 0);
        assert_eq!(db.store.auth_failures("ip:192.0.2.1", Duration::zero()).await.expect("count"), 0, "an elapsed window counts nothing");
        let (n, ends) = other.auth_failure_window("ip:192.0.2.1", w).await.expect("window");
        let ends = ends.expect("a window is open after a failure");
        assert_eq!(n, 2);
        assert!(ends > Utc::now() && ends <= Utc::now() + w, "the window ends within its length from now");
        assert_eq!(db.store.auth_failure_window("ip:192.0.2.2", w).await.expect("window"), (0, None));
        assert_eq!(db.store.auth_failure_window("ip:192.0.2.1", Duration::zero()).await.expect("window"), (0, None));
        other.clear_auth_failures("ip:192.0.2.1").await.expect("clear");
        assert_eq!(db.store.auth_failures("ip:192.0.2.1", w).await.expect("count"), 0);
        other.close().await;
    }

    async fn availability_slots_and_exceptions_round_trip(db) {
        let p = practice(&db.store, "avail").await;
        let c = p.clinician.user_id;
        let slot = NewWeeklySlot { clinician_id: c, weekday: Weekday::Tue, start: NaiveTime::from_hms_opt(9, 0, 0).expect("time"), end: NaiveTime::from_hms_opt(12, 30, 0).expect("time"), time_zone: tz("America/Chicago") };
        let s = db.store.add_weekly_slot(&p.admin, &slot).await.expect("slot");
        let listed = db.store.list_weekly_slots(&p.admin, c).await.expect("list");
        assert_eq!(listed, vec![s.clone()]);
        assert_eq!((listed[0].weekday, listed[0].end), (Weekday::Tue, slot.end));
        let bad = NewWeeklySlot { end: slot.start, ..slot.clone() };
        assert!(matches!(db.store.add_weekly_slot(&p.admin, &bad).await, Err(StoreError::Invalid(_))));
        let from = Utc.with_ymd_and_hms(2026, 12, 24, 0, 0, 0).single().expect("time");
        let e = db.store.add_availability_exception(&p.admin, &NewAvailabilityException { clinician_id: c, starts_at: from, ends_at: from + Duration::days(2), kind: ExceptionKind::Unavailable }).await.expect("exception");
        assert_eq!(db.store.list_availability_exceptions(&p.admin, c, from - Duration::days(1), from + Duration::hours(1)).await.expect("list"), vec![e.clone()]);
        assert!(db.store.list_availability_exceptions(&p.admin, c, from + Duration::days(3), from + Duration::days(4)).await.expect("list").is_empty());
        let q = practice(&db.store, "avail2").await;
        assert!(matches!(db.store.delete_weekly_slot(&q.admin, s.slot_id).await, Err(StoreError::NotFound)));
        db.store.delete_weekly_slot(&p.admin, s.slot_id).await.expect("delete");
        db.store.delete_availability_exception(&p.admin, e.exception_id).await.expect("delete");
        assert!(db.store.list_weekly_slots(&p.admin, c).await.expect("list").is_empty());
    }

    async fn appointments_round_trip_with_status_history_and_follow_client_visibility(db) {
        let p = practice(&db.store, "appt").await;
        let mine = db.store.create_client(&p.admin, &client("Ada", "One", Some(p.clinician.user_id))).await.expect("client");
        let theirs = db.store.create_client(&p.admin, &client("Bea", "Two", Some(p.other_clinician.user_id))).await.expect("client");
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).single().expect("time");
        let d = AppointmentDetails {
            clinician_id: p.clinician.user_id,
            client_ids: vec![mine.client_id],
            starts_at: start,
            ends_at: start + Duration::minutes(53),
            time_zone: tz("America/New_York"),
            modality: Modality::Telehealth,
            location: None,
            join_link: Some("https://meet.example.org/abc".into()),
            service_code: Some("90837".into()),
        };
        let a = db.store.create_appointment(&p.admin, ClientScope::Practice, &d).await.expect("create");
        assert_eq!(a.details, d);
        assert_eq!(a.status, AppointmentStatus::Scheduled);
        assert_eq!(db.store.get_appointment(&p.admin, ClientScope::Practice, a.appointment_id).await.expect("get"), a);
        let d2 = AppointmentDetails { starts_at: start + Duration::days(1), ends_at: start + Duration::days(1) + Duration::minutes(45), modality: Modality::InPerson, location: Some("Room 2".into()), join_link: None, ..d.clone() };
        let a2 = db.store.update_appointment(&p.admin, ClientScope::Practice, a.appointment_id, &d2).await.expect("update");
        assert_eq!(a2.details, d2);
        db.store.set_appointment_status(&p.admin, ClientScope::Practice, a.appointment_id, AppointmentStatus::Confirmed, Some("sms_confirm")).await.expect("confirm");
        let done = db.store.set_appointment_status(&p.admin, ClientScope::Practice, a.appointment_id, AppointmentStatus::Cancelled, None).await.expect("cancel");
        assert_eq!(done.status, AppointmentStatus::Cancelled);
        let hist = db.store.appointment_status_history(&p.admin, ClientScope::Practice, a.appointment_id).await.expect("history");
        assert_eq!(hist.iter().map(|h| h.status).collect::<Vec<_>>(), vec![AppointmentStatus::Scheduled, AppointmentStatus::Confirmed, AppointmentStatus::Cancelled]);
        assert_eq!(hist[1].reason.as_deref(), Some("sms_confirm"));
        let range = db.store.list_appointments(&p.admin, ClientScope::Practice, start, start + Duration::days(7)).await.expect("list");
        assert_eq!(range.len(), 1);
        assert!(db.store.list_appointments(&p.admin, ClientScope::Practice, start + Duration::days(2), start + Duration::days(7)).await.expect("list").is_empty());
        assert_eq!(db.store.list_client_appointments(&p.admin, ClientScope::Practice, mine.client_id).await.expect("list").len(), 1);
        // Visibility: the clinician sees it; a clinician outside the care team does not.
        let other = p.as_user(&p.other_clinician);
        assert!(matches!(db.store.get_appointment(&other, Practice::team(&p.other_clinician), a.appointment_id).await, Err(StoreError::NotFound)));
        assert!(db.store.list_appointments(&other, Practice::team(&p.other_clinician), start, start + Duration::days(7)).await.expect("list").is_empty());
        assert!(matches!(db.store.list_client_appointments(&other, Practice::team(&p.other_clinician), mine.client_id).await, Err(StoreError::NotFound)), "a list for an invisible client is NotFound, like a get");
        assert!(matches!(db.store.list_consents(&other, Practice::team(&p.other_clinician), mine.client_id).await, Err(StoreError::NotFound)));
        assert!(matches!(db.store.list_notes(&other, Practice::team(&p.other_clinician), mine.client_id).await, Err(StoreError::NotFound)));
        assert!(db.store.get_appointment(&p.as_user(&p.clinician), Practice::team(&p.clinician), a.appointment_id).await.is_ok());
        // Booking a client outside one's scope is refused as not found.
        let book_theirs = AppointmentDetails { client_ids: vec![theirs.client_id], ..d.clone() };
        assert!(matches!(db.store.create_appointment(&p.as_user(&p.clinician), Practice::team(&p.clinician), &book_theirs).await, Err(StoreError::NotFound)));
        let q = practice(&db.store, "appt2").await;
        assert!(matches!(db.store.get_appointment(&q.admin, ClientScope::Practice, a.appointment_id).await, Err(StoreError::NotFound)));
        let bad = AppointmentDetails { ends_at: d.starts_at, ..d };
        assert!(matches!(db.store.create_appointment(&p.admin, ClientScope::Practice, &bad).await, Err(StoreError::Invalid(_))));
    }

    async fn consents_record_revoke_and_answer_which_is_active(db) {
        let p = practice(&db.store, "consent").await;
        let c = db.store.create_client(&p.admin, &client("Cy", "Three", Some(p.clinician.user_id))).await.expect("client");
        let now = Utc::now();
        let texting = db.store.record_consent(&p.admin, ClientScope::Practice, &NewConsent { client_id: c.client_id, kind: ConsentKind::Texting, disclosure: None, granted_at: now - Duration::days(1), expires_at: None }).await.expect("texting");
        let d = Part2Disclosure { recipient: "County Probation Office".into(), purpose: "court-ordered treatment verification".into(), scope: "attendance only".into() };
        let p2 = db.store.record_consent(&p.admin, ClientScope::Practice, &NewConsent { client_id: c.client_id, kind: ConsentKind::Part2Disclosure, disclosure: Some(d.clone()), granted_at: now - Duration::days(1), expires_at: Some(now + Duration::days(90)) }).await.expect("part 2");
        assert_eq!(db.store.get_consent(&p.admin, ClientScope::Practice, p2.consent_id).await.expect("get").disclosure, Some(d));
        assert_eq!(db.store.list_consents(&p.admin, ClientScope::Practice, c.client_id).await.expect("list").len(), 2);
        assert_eq!(db.store.active_consent(&p.admin, ClientScope::Practice, c.client_id, ConsentKind::Texting).await.expect("active").map(|x| x.consent_id), Some(texting.consent_id));
        assert!(db.store.active_consent(&p.admin, ClientScope::Practice, c.client_id, ConsentKind::AiScribing).await.expect("active").is_none());
        let revoked = db.store.revoke_consent(&p.admin, ClientScope::Practice, texting.consent_id).await.expect("revoke");
        assert!(revoked.revoked_at.is_some());
        assert!(db.store.active_consent(&p.admin, ClientScope::Practice, c.client_id, ConsentKind::Texting).await.expect("active").is_none());
        assert!(matches!(db.store.revoke_consent(&p.admin, ClientScope::Practice, texting.consent_id).await, Err(StoreError::State(_))));
        let missing = NewConsent { client_id: c.client_id, kind: ConsentKind::Part2Disclosure, disclosure: None, granted_at: now, expires_at: None };
        assert!(matches!(db.store.record_consent(&p.admin, ClientScope::Practice, &missing).await, Err(StoreError::Invalid(_))));
        let q = practice(&db.store, "consent2").await;
        assert!(matches!(db.store.get_consent(&q.admin, ClientScope::Practice, p2.consent_id).await, Err(StoreError::NotFound)));
    }

    async fn messages_form_a_thread_and_provider_ids_deduplicate(db) {
        let p = practice(&db.store, "msg").await;
        let c = db.store.create_client(&p.admin, &client("Di", "Four", Some(p.clinician.user_id))).await.expect("client");
        let me = p.as_user(&p.clinician);
        let out = db.store.record_message(&me, Practice::team(&p.clinician), &NewMessage { client_id: c.client_id, direction: Direction::Outbound, channel: Channel::Portal, body: "See you Tuesday".into(), status: MessageStatus::Queued, provider_id: None }).await.expect("out");
        assert_eq!(out.sent_by, Some(p.clinician.user_id));
        let system = Actor::system(p.id);
        let inbound = NewMessage { client_id: c.client_id, direction: Direction::Inbound, channel: Channel::Sms, body: "Running late".into(), status: MessageStatus::Received, provider_id: Some("SM123".into()) };
        let inn = db.store.record_message(&system, ClientScope::Practice, &inbound).await.expect("in");
        match db.store.record_message(&system, ClientScope::Practice, &inbound).await {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "provider_id"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(db.store.find_message_by_provider_id(&system, Channel::Sms, "SM123").await.expect("find"), Some(inn.message_id));
        assert_eq!(db.store.find_message_by_provider_id(&system, Channel::Telegram, "SM123").await.expect("find"), None);
        db.store.set_message_status(&system, out.message_id, MessageStatus::Delivered, Some("portal-1")).await.expect("status");
        let thread = db.store.list_thread(&me, Practice::team(&p.clinician), c.client_id).await.expect("thread");
        assert_eq!(thread.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), vec!["See you Tuesday", "Running late"]);
        assert_eq!((thread[0].status, thread[0].provider_id.as_deref()), (MessageStatus::Delivered, Some("portal-1")));
        assert_eq!(db.store.get_message(&me, Practice::team(&p.clinician), inn.message_id).await.expect("get"), inn);
        let other = p.as_user(&p.other_clinician);
        assert!(matches!(db.store.list_thread(&other, Practice::team(&p.other_clinician), c.client_id).await, Err(StoreError::NotFound)));
        let q = practice(&db.store, "msg2").await;
        assert!(matches!(db.store.get_message(&q.admin, ClientScope::Practice, inn.message_id).await, Err(StoreError::NotFound)));
        assert!(matches!(db.store.set_message_status(&q.admin, inn.message_id, MessageStatus::Read, None).await, Err(StoreError::NotFound)));
    }
}
