//! Reminders on both backends: planned in the transaction that saves the visit (client's zone,
//! quiet hours, DST), re-planned on reschedule, withdrawn on cancel, one per member of a group,
//! copies to contacts who asked; the tick enqueues in the same transaction, skips opted-out
//! recipients, applies the caps until the client replies, defers out of quiet hours; one leader.

use chrono::{DateTime, Duration, Utc};
use store::{
    Backend, ClientId, ClientScope, Store,
    appointments::{Appointment, AppointmentDetails, AppointmentStatus, Modality},
    clients::ContactDetails,
    opt_out::OptOutSource,
    outbox::{OutboundStatus, Purpose, Recipient, SenderKey},
    reminders::{DueReminder, ReminderKind, ReminderOffset, ReminderRender, ReminderRules, ReminderStatus, TemplateKind, ReminderChannel},
};

use crate::common::{Practice, both, client, phone, practice, tz};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 instant")
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::America::New_York).format("%Y-%m-%d %H:%M %Z").to_string()
}

fn render(due: &DueReminder) -> ReminderRender {
    let link = due.join_link.clone().unwrap_or_default();
    ReminderRender::Send { body: format!("Hi {}, see you soon {link}", due.first_name), sender_key: SenderKey::parse("sms:+15550001111").expect("valid") }
}

async fn texted_client(store: &Store, p: &Practice, first: &str, number: &str, guardian: Option<&str>) -> ClientId {
    let mut d = client(first, "Rivera", Some(p.clinician.user_id));
    d.phone = Some(phone(number));
    d.contacts = guardian
        .map(|g| vec![ContactDetails { name: "Pat".into(), relation: "guardian".into(), phone: Some(phone(g)), email: None, receives_reminders: true }])
        .unwrap_or_default();
    store.create_client(&p.admin, &d).await.expect("client").client_id
}

async fn visit(store: &Store, p: &Practice, clients: Vec<ClientId>, starts_at: DateTime<Utc>, modality: Modality) -> Appointment {
    let d = AppointmentDetails {
        clinician_id: p.clinician.user_id,
        client_ids: clients,
        starts_at,
        ends_at: starts_at + Duration::minutes(50),
        time_zone: tz("America/New_York"),
        modality,
        location: None,
        join_link: None,
        service_code: None,
    };
    store.create_appointment(&p.admin, ClientScope::Practice, &d).await.expect("appointment")
}

async fn planned(store: &Store, p: &Practice, a: &Appointment) -> Vec<store::reminders::Reminder> {
    store.list_appointment_reminders(&p.admin, ClientScope::Practice, a.appointment_id).await.expect("reminders").into_iter().filter(|r| r.status == ReminderStatus::Planned).collect()
}

both! {
    async fn a_new_visit_gets_48_and_2_hour_reminders_in_the_clients_zone(db) {
        let p = practice(&db.store, "rm1").await;
        let c = texted_client(&db.store, &p, "Ana", "+15550100001", None).await;
        let a = visit(&db.store, &p, vec![c], at("2027-06-10T18:00:00Z"), Modality::InPerson).await; // 14:00 EDT
        let r = planned(&db.store, &p, &a).await;
        let times: Vec<_> = r.iter().map(|r| (local(r.due_at), r.minutes_before, r.is_last, r.channel)).collect();
        assert_eq!(times, [("2027-06-08 14:00 EDT".to_owned(), 2880, false, ReminderChannel::Sms), ("2027-06-10 12:00 EDT".to_owned(), 120, true, ReminderChannel::Sms)]);
    }

    async fn across_the_march_dst_change_an_early_reminder_moves_to_nine_the_evening_before(db) {
        let p = practice(&db.store, "rm2").await;
        let c = texted_client(&db.store, &p, "Ben", "+15550100002", None).await;
        // Monday 15 March 2027 09:00 EDT; clocks went forward on Sunday 14 March at 02:00.
        let a = visit(&db.store, &p, vec![c], at("2027-03-15T13:00:00Z"), Modality::InPerson).await;
        let r = planned(&db.store, &p, &a).await;
        let times: Vec<_> = r.iter().map(|r| local(r.due_at)).collect();
        assert_eq!(times, ["2027-03-13 08:00 EST", "2027-03-14 21:00 EDT"], "48 h before is 08:00 EST; 2 h before (07:00) is moved to 21:00 the evening before");
        assert_eq!(r[1].due_at, at("2027-03-15T01:00:00Z"));
    }

    async fn across_the_november_dst_change_the_48_hour_reminder_is_48_real_hours_before(db) {
        let p = practice(&db.store, "rm3").await;
        let c = texted_client(&db.store, &p, "Cy", "+15550100003", None).await;
        // Monday 8 November 2027 10:00 EST; clocks went back on Sunday 7 November.
        let start = at("2027-11-08T15:00:00Z");
        let a = visit(&db.store, &p, vec![c], start, Modality::InPerson).await;
        let r = planned(&db.store, &p, &a).await;
        assert_eq!(r.iter().map(|r| local(r.due_at)).collect::<Vec<_>>(), ["2027-11-06 11:00 EDT", "2027-11-08 08:00 EST"]);
        assert_eq!(start - r[0].due_at, Duration::hours(48));
    }

    async fn rescheduling_withdraws_unsent_reminders_and_plans_new_ones(db) {
        let p = practice(&db.store, "rm4").await;
        let c = texted_client(&db.store, &p, "Dee", "+15550100004", None).await;
        let a = visit(&db.store, &p, vec![c], at("2027-06-10T18:00:00Z"), Modality::InPerson).await;
        // The 48-hour reminder goes out; the 2-hour one is still planned.
        let rep = db.store.run_due_reminders(at("2027-06-08T18:01:00Z"), 100, &render).await.expect("tick");
        assert_eq!((rep.claimed, rep.queued), (1, 1));
        let mut d = a.details.clone();
        d.starts_at = at("2027-06-17T18:00:00Z");
        d.ends_at = d.starts_at + Duration::minutes(50);
        db.store.update_appointment(&p.admin, ClientScope::Practice, a.appointment_id, &d).await.expect("reschedule");
        let all = db.store.list_appointment_reminders(&p.admin, ClientScope::Practice, a.appointment_id).await.expect("reminders");
        let by = |s: ReminderStatus| all.iter().filter(|r| r.status == s).count();
        assert_eq!((by(ReminderStatus::Done), by(ReminderStatus::Withdrawn), by(ReminderStatus::Planned)), (1, 1, 2));
        assert!(all.iter().filter(|r| r.status == ReminderStatus::Planned).all(|r| r.due_at > at("2027-06-14T00:00:00Z")));
        // The queued one had not been sent: it is withdrawn from the outbox too.
        let out = db.store.list_client_outbound(&p.admin, ClientScope::Practice, c).await.expect("outbox");
        assert_eq!(out.iter().map(|m| m.status).collect::<Vec<_>>(), [OutboundStatus::Cancelled]);
    }

    async fn cancelling_withdraws_planned_and_queued_reminders(db) {
        let p = practice(&db.store, "rm5").await;
        let c = texted_client(&db.store, &p, "Eve", "+15550100005", None).await;
        let a = visit(&db.store, &p, vec![c], at("2027-06-10T18:00:00Z"), Modality::InPerson).await;
        db.store.run_due_reminders(at("2027-06-08T18:01:00Z"), 100, &render).await.expect("tick");
        db.store.set_appointment_status(&p.admin, ClientScope::Practice, a.appointment_id, AppointmentStatus::Cancelled, Some("client_called")).await.expect("cancel");
        assert!(planned(&db.store, &p, &a).await.is_empty());
        let out = db.store.list_client_outbound(&p.admin, ClientScope::Practice, c).await.expect("outbox");
        assert!(out.iter().all(|m| m.status == OutboundStatus::Cancelled) && out.len() == 1);
        let rep = db.store.run_due_reminders(at("2027-06-10T16:30:00Z"), 100, &render).await.expect("tick");
        assert_eq!(rep.claimed, 0, "nothing left to send for a cancelled visit");
        // Re-opened: planned again.
        db.store.set_appointment_status(&p.admin, ClientScope::Practice, a.appointment_id, AppointmentStatus::Scheduled, None).await.expect("reopen");
        assert_eq!(planned(&db.store, &p, &a).await.len(), 2);
    }

    async fn a_group_visit_reminds_each_member_and_contacts_who_asked(db) {
        let p = practice(&db.store, "rm6").await;
        let a1 = texted_client(&db.store, &p, "Fay", "+15550100006", Some("+15550100106")).await;
        let a2 = texted_client(&db.store, &p, "Gus", "+15550100007", None).await;
        let a = visit(&db.store, &p, vec![a1, a2], at("2027-06-10T18:00:00Z"), Modality::InPerson).await;
        assert_eq!(planned(&db.store, &p, &a).await.len(), 4, "two reminders for each of two members");
        let gus = db.store.list_client_reminders(&p.admin, ClientScope::Practice, a2).await.expect("client's reminders");
        assert!(gus.len() == 2 && gus.iter().all(|r| r.client_id == a2));
        let rep = db.store.run_due_reminders(at("2027-06-08T18:00:00Z"), 100, &render).await.expect("tick");
        assert_eq!((rep.claimed, rep.queued), (2, 3), "Fay, her guardian, and Gus");
        let fay = db.store.list_client_outbound(&p.admin, ClientScope::Practice, a1).await.expect("outbox");
        let to: Vec<_> = fay.iter().map(|m| m.recipient.clone()).collect();
        assert_eq!(to, [Recipient::Sms(phone("+15550100006")), Recipient::Sms(phone("+15550100106"))]);
        assert!(fay.iter().all(|m| m.body == "Hi Fay, see you soon " && m.purpose == Purpose::Reminder && m.appointment_id == Some(a.appointment_id)));
        // A second tick at the same moment finds nothing: each reminder is handled once.
        assert_eq!(db.store.run_due_reminders(at("2027-06-08T18:00:00Z"), 100, &render).await.expect("tick").claimed, 0);
    }

    async fn an_opted_out_recipient_is_skipped_and_the_others_still_reminded(db) {
        let p = practice(&db.store, "rm7").await;
        let c = texted_client(&db.store, &p, "Hal", "+15550100008", Some("+15550100108")).await;
        let a = visit(&db.store, &p, vec![c], at("2027-06-10T18:00:00Z"), Modality::InPerson).await;
        db.store.set_opt_out(&p.admin, &Recipient::Sms(phone("+15550100008")), OptOutSource::Keyword).await.expect("opt out");
        db.store.run_due_reminders(at("2027-06-08T18:00:00Z"), 100, &render).await.expect("tick");
        let out = db.store.list_client_outbound(&p.admin, ClientScope::Practice, c).await.expect("outbox");
        assert_eq!(out.iter().map(|m| m.recipient.clone()).collect::<Vec<_>>(), [Recipient::Sms(phone("+15550100108"))]);
        db.store.set_opt_out(&p.admin, &Recipient::Sms(phone("+15550100108")), OptOutSource::Keyword).await.expect("opt out");
        db.store.run_due_reminders(at("2027-06-10T16:00:00Z"), 100, &render).await.expect("tick");
        let r = db.store.list_appointment_reminders(&p.admin, ClientScope::Practice, a.appointment_id).await.expect("reminders");
        assert_eq!((r[1].status, r[1].outcome.as_deref()), (ReminderStatus::Skipped, Some("opted_out")));
    }

    async fn a_second_automated_text_the_same_day_waits_for_a_reply(db) {
        let p = practice(&db.store, "rm8").await;
        for (name, number, replies) in [("Ivy", "+15550100009", false), ("Jo", "+15550100010", true)] {
            let c = texted_client(&db.store, &p, name, number, None).await;
            // B at 15:00 EDT on 10 June (2-hour reminder 13:00); A at 14:00 EDT on 12 June (48-hour reminder 14:00 on 10 June).
            visit(&db.store, &p, vec![c], at("2027-06-10T19:00:00Z"), Modality::InPerson).await;
            let a = visit(&db.store, &p, vec![c], at("2027-06-12T18:00:00Z"), Modality::InPerson).await;
            db.store.run_due_reminders(at("2027-06-10T17:05:00Z"), 100, &render).await.expect("tick");
            if replies {
                db.store.record_reply_time(&p.admin, &Recipient::Sms(phone(number)), at("2027-06-10T17:30:00Z")).await.expect("inbound");
            }
            db.store.run_due_reminders(at("2027-06-10T18:05:00Z"), 100, &render).await.expect("tick");
            let r = db.store.list_appointment_reminders(&p.admin, ClientScope::Practice, a.appointment_id).await.expect("reminders");
            let first = &r[0];
            if replies {
                assert_eq!((first.status, first.queued), (ReminderStatus::Done, 1), "{name} replied, so the cap is lifted");
            } else {
                assert_eq!((first.status, first.outcome.as_deref()), (ReminderStatus::Skipped, Some("daily_cap")), "{name}");
            }
        }
        assert_eq!(db.store.last_inbound(&p.admin, &Recipient::Sms(phone("+15550100010"))).await.expect("read"), Some(at("2027-06-10T17:30:00Z")));
    }

    async fn a_reminder_found_due_in_quiet_hours_is_deferred_to_the_morning(db) {
        let p = practice(&db.store, "rm9").await;
        let c = texted_client(&db.store, &p, "Kai", "+15550100011", None).await;
        let a = visit(&db.store, &p, vec![c], at("2027-06-10T18:00:00Z"), Modality::InPerson).await;
        // The scheduler was down: it wakes at 23:30 EDT on 9 June.
        let rep = db.store.run_due_reminders(at("2027-06-10T03:30:00Z"), 100, &render).await.expect("tick");
        assert_eq!((rep.deferred, rep.queued), (1, 0));
        let r = planned(&db.store, &p, &a).await;
        assert_eq!(local(r[0].due_at), "2027-06-10 08:00 EDT");
    }

    async fn a_telehealth_visit_gets_a_generated_room_in_its_last_reminder_and_a_join_message(db) {
        let p = practice(&db.store, "rm10").await;
        let rules = ReminderRules { reminders: vec![ReminderOffset::sms(120)], join_message_minutes_before: Some(15), jitsi_base_url: Some("https://meet.jit.si".into()) };
        db.store.set_reminder_rules(&p.admin, &rules).await.expect("rules");
        assert_eq!(db.store.reminder_rules(&p.admin).await.expect("rules"), rules);
        let c = texted_client(&db.store, &p, "Lu", "+15550100012", None).await;
        let a = visit(&db.store, &p, vec![c], at("2027-06-10T18:00:00Z"), Modality::Telehealth).await;
        let link = a.details.join_link.clone().expect("a room was generated");
        assert!(link.starts_with("https://meet.jit.si/hearth-") && link.len() == "https://meet.jit.si/hearth-".len() + 32);
        let r = planned(&db.store, &p, &a).await;
        assert_eq!(r.iter().map(|r| (r.kind, r.minutes_before, r.is_last)).collect::<Vec<_>>(), [(ReminderKind::Reminder, 120, true), (ReminderKind::Join, 15, false)]);
        let seen = std::sync::Mutex::new(Vec::new());
        let capture = |due: &DueReminder| {
            seen.lock().expect("lock").push((due.template_kind, due.join_link.clone()));
            render(due)
        };
        db.store.run_due_reminders(at("2027-06-10T17:46:00Z"), 100, &capture).await.expect("tick");
        assert_eq!(*seen.lock().expect("lock"), [(TemplateKind::ReminderVirtual, Some(link.clone())), (TemplateKind::Join, Some(link.clone()))]);
        let out = db.store.list_client_outbound(&p.admin, ClientScope::Practice, c).await.expect("outbox");
        assert_eq!(out.iter().map(|m| m.purpose).collect::<Vec<_>>(), [Purpose::Reminder, Purpose::JoinLink]);
        assert!(out[1].body.ends_with(&link));
    }

    async fn a_clinicians_own_link_is_used_when_the_visit_has_none(db) {
        let p = practice(&db.store, "rm11").await;
        db.store.set_clinician_join_link(&p.admin, p.clinician.user_id, Some("https://acme.zoom.us/j/42")).await.expect("link");
        assert_eq!(db.store.clinician_join_link(&p.admin, p.clinician.user_id).await.expect("read").as_deref(), Some("https://acme.zoom.us/j/42"));
        let c = texted_client(&db.store, &p, "Max", "+15550100013", None).await;
        let a = visit(&db.store, &p, vec![c], at("2027-06-10T18:00:00Z"), Modality::Telehealth).await;
        assert_eq!(a.details.join_link, None, "no room generated without a Jitsi base");
        db.store.run_due_reminders(at("2027-06-10T16:00:00Z"), 100, &render).await.expect("tick");
        let out = db.store.list_client_outbound(&p.admin, ClientScope::Practice, c).await.expect("outbox");
        assert!(out.iter().any(|m| m.body.ends_with("https://acme.zoom.us/j/42")));
        assert!(db.store.set_clinician_join_link(&p.admin, p.clinician.user_id, Some("http://zoom.us/j/1")).await.is_err());
    }

    async fn templates_are_saved_per_channel_and_kind_and_reach_the_renderer(db) {
        let p = practice(&db.store, "rm12").await;
        db.store.save_message_template(&p.admin, ReminderChannel::Sms, TemplateKind::Reminder, "See you {date}, {first_name}").await.expect("save");
        db.store.save_message_template(&p.admin, ReminderChannel::Sms, TemplateKind::Reminder, "Reminder {date} {time}").await.expect("overwrite");
        let t = db.store.list_message_templates(&p.admin).await.expect("list");
        assert_eq!(t.iter().map(|t| (t.channel, t.kind, t.body.as_str())).collect::<Vec<_>>(), [(ReminderChannel::Sms, TemplateKind::Reminder, "Reminder {date} {time}")]);
        assert!(db.store.save_message_template(&p.admin, ReminderChannel::Sms, TemplateKind::Join, " ").await.is_err());
        let c = texted_client(&db.store, &p, "Ned", "+15550100014", None).await;
        visit(&db.store, &p, vec![c], at("2027-06-10T18:00:00Z"), Modality::InPerson).await;
        let seen = std::sync::Mutex::new(None);
        db.store.run_due_reminders(at("2027-06-08T18:00:00Z"), 100, &|d: &DueReminder| { *seen.lock().expect("lock") = d.template.clone(); render(d) }).await.expect("tick");
        assert_eq!(seen.lock().expect("lock").as_deref(), Some("Reminder {date} {time}"));
    }

    async fn changed_rules_re_plan_upcoming_visits(db) {
        let p = practice(&db.store, "rm14").await;
        let c = texted_client(&db.store, &p, "Pia", "+15550100015", None).await;
        let a = visit(&db.store, &p, vec![c], at("2027-06-10T18:00:00Z"), Modality::InPerson).await;
        let rules = ReminderRules { reminders: vec![ReminderOffset::sms(24 * 60)], ..ReminderRules::default() };
        db.store.set_reminder_rules(&p.admin, &rules).await.expect("rules");
        let r = planned(&db.store, &p, &a).await;
        assert_eq!(r.iter().map(|r| (local(r.due_at), r.minutes_before)).collect::<Vec<_>>(), [("2027-06-09 14:00 EDT".to_owned(), 1440)]);
        let bad = ReminderRules { reminders: vec![ReminderOffset { minutes_before: 60, channels: vec![] }], ..ReminderRules::default() };
        assert!(db.store.set_reminder_rules(&p.admin, &bad).await.is_err(), "a reminder with no channel is refused");
    }

    async fn only_one_process_leads_the_scheduler_on_postgres(db) {
        let first = db.store.try_lead_reminders().await.expect("try").expect("the first process leads");
        let other = db.reopen().await;
        let second = other.try_lead_reminders().await.expect("try");
        if db.backend == Backend::Postgres {
            assert!(second.is_none(), "the advisory lock is held");
            first.release().await;
            let mut again = other.try_lead_reminders().await.expect("try").expect("free after release");
            assert!(again.still_leading().await);
            again.release().await;
        } else {
            // SQLite is one process (the embedded setup); ticks are serialised by BEGIN IMMEDIATE.
            assert!(second.is_some());
        }
        other.close().await;
    }

    async fn concurrent_ticks_handle_each_reminder_exactly_once(db) {
        let p = practice(&db.store, "rm13").await;
        let mut n = 0;
        for i in 0..12 {
            let c = texted_client(&db.store, &p, "Ola", &format!("+155501002{i:02}"), None).await;
            visit(&db.store, &p, vec![c], at("2027-06-10T18:00:00Z") + Duration::minutes(i), Modality::InPerson).await;
            n += 1;
        }
        let other = db.reopen().await;
        let t = at("2027-06-08T19:00:00Z");
        let (a, b) = tokio::join!(db.store.run_due_reminders(t, 5, &render), other.run_due_reminders(t, 5, &render));
        let (c, d) = tokio::join!(db.store.run_due_reminders(t, 5, &render), other.run_due_reminders(t, 5, &render));
        let e = db.store.run_due_reminders(t, 5, &render).await.expect("tick");
        let claimed = [a, b, c, d].into_iter().map(|r| r.expect("tick").claimed).sum::<usize>() + e.claimed;
        assert_eq!(claimed, n, "every due reminder was claimed once");
        let rows = db.raw_i64("SELECT COUNT(*) FROM outbox_message").await;
        assert_eq!(rows, n as i64);
        other.close().await;
    }
}
