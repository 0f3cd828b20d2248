//! The outbox on both backends: enqueue in the causing transaction, claim (disjoint under
//! concurrency), outcomes with fencing, leases that expire to `unknown`, reconciliation,
//! retries, the opt-out guard, status callbacks, and encryption at rest.

use std::collections::HashSet;

use chrono::TimeDelta;
use store::{
    Backend, ClientId, ClientScope, StoreError,
    appointments::{AppointmentDetails, AppointmentStatus, Modality},
    clients::Channel,
    messages::{Direction, MessageStatus, NewMessage},
    opt_out::{OptInChange, OptOutChange, OptOutSource},
    outbox::{
        Backoff, CallbackOutcome, DeliveryReport, Enqueued, ErrorClass, IdempotencyKey, MAX_BODY_BYTES, MAX_CLAIM_BATCH, NewOutbound,
        OutboundChannel, OutboundStatus, Purpose, Reconciliation, Recipient, SenderKey, Withdrawal, WorkerId,
    },
    types::now,
};

use crate::common::{Practice, both, client, phone, practice, tz};

const LEASE: TimeDelta = TimeDelta::seconds(30);

fn sms(n: &str) -> Recipient {
    Recipient::Sms(phone(n))
}

fn worker(name: &str) -> WorkerId {
    WorkerId::parse(name).expect("valid worker id")
}

fn outbound(client_id: Option<ClientId>, to: Recipient, key: &str, body: &str) -> NewOutbound {
    NewOutbound {
        client_id,
        recipient: to,
        body: body.to_owned(),
        purpose: Purpose::Reminder,
        appointment_id: None,
        message_id: None,
        sender_key: SenderKey::parse("sms:+15550001111").expect("valid sender"),
        idempotency_key: IdempotencyKey::parse(key).expect("valid key"),
        not_before: None,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

both! {
    async fn an_enqueued_message_is_claimed_once_and_recorded_as_sent(db) {
        let p = practice(&db.store, "ob1").await;
        let c = db.store.create_client(&p.admin, &client("Ann", "Lee", None)).await.expect("client");
        let new = outbound(Some(c.client_id), sms("+15550100001"), "reminder:1", "Reminder: Tue 3 pm. Reply C to confirm.");
        let Enqueued::Created(id) = db.store.enqueue(&p.admin, &new).await.expect("enqueue") else { panic!("a new key creates a row") };
        let row = db.store.get_outbound(&p.admin, id).await.expect("read");
        assert_eq!((row.status, row.attempts, row.body.as_str()), (OutboundStatus::Pending, 0, new.body.as_str()));

        let t0 = now();
        let claimed = db.store.claim_due(&worker("w1"), t0, 10, LEASE).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        let m = &claimed[0];
        assert_eq!((m.claim.outbox_message_id(), m.claim.attempt()), (id, 1));
        assert_eq!((&m.recipient, m.body.as_str(), m.client_id), (&new.recipient, new.body.as_str(), Some(c.client_id)));
        assert_eq!((m.attempt_started_at, m.lease_expires_at), (t0, t0 + LEASE));
        assert!(db.store.claim_due(&worker("w2"), t0, 10, LEASE).await.expect("claim").is_empty(), "an in-flight row is not handed out twice");
        let row = db.store.get_outbound(&p.admin, id).await.expect("read");
        assert_eq!((row.status, row.attempts, row.claimed_by.as_deref()), (OutboundStatus::InFlight, 1, Some("w1")));

        db.store.mark_sent(m.claim, "SM0001").await.expect("sent");
        db.store.mark_sent(m.claim, "SM0001").await.expect("repeating the same outcome is a no-op");
        assert!(matches!(db.store.mark_sent(m.claim, "SM0002").await, Err(StoreError::State(_))), "a different provider id is refused");
        let row = db.store.get_outbound(&p.admin, id).await.expect("read");
        assert_eq!((row.status, row.provider_id.as_deref()), (OutboundStatus::Sent, Some("SM0001")));
        assert!(row.sent_at.is_some() && row.lease_expires_at.is_none());

        let events = db.store.audit_events_for_object(&p.admin, "outbox_message", &id.to_string()).await.expect("audit");
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(&actions[..4], ["outbox.create", "outbox.read", "outbox.claim", "outbox.read"]);
        assert!(actions.contains(&"outbox.sent"));
        let claim = events.iter().find(|e| e.action == "outbox.claim").expect("claim audited");
        assert_eq!((claim.user_id, claim.request_id.as_deref()), (None, Some("w1")), "the dispatcher decrypts as the system, named by its worker id");
    }

    async fn the_same_idempotency_key_enqueues_one_message_per_practice(db) {
        let a = practice(&db.store, "oba").await;
        let b = practice(&db.store, "obb").await;
        let first = db.store.enqueue(&a.admin, &outbound(None, sms("+15550100002"), "reminder:appt-7:48h", "first")).await.expect("enqueue");
        let again = db.store.enqueue(&a.admin, &outbound(None, sms("+15550100002"), "reminder:appt-7:48h", "second")).await.expect("enqueue again");
        let Enqueued::Created(id) = first else { panic!("first enqueue creates") };
        assert_eq!(again, Enqueued::AlreadyQueued(id));
        assert_eq!(db.store.get_outbound(&a.admin, id).await.expect("read").body, "first", "the first enqueue wins");
        let other = db.store.enqueue(&b.admin, &outbound(None, sms("+15550100002"), "reminder:appt-7:48h", "b")).await.expect("other practice");
        assert!(matches!(other, Enqueued::Created(x) if x != id), "keys are unique per practice only");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox_message").await, 2);
        let claimed = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim");
        assert_eq!(claimed.iter().map(|m| m.practice_id).collect::<HashSet<_>>(), HashSet::from([a.id, b.id]));
        assert!(matches!(db.store.get_outbound(&b.admin, id).await, Err(StoreError::NotFound)), "another practice cannot read the row");
    }

    async fn a_notice_is_written_with_the_message_that_caused_it_or_not_at_all(db) {
        let p = practice(&db.store, "obtx").await;
        let other = practice(&db.store, "obtx2").await;
        let c = db.store.create_client(&p.admin, &client("Bea", "Cole", None)).await.expect("client");
        let msg = |body: &str| NewMessage { client_id: c.client_id, direction: Direction::Outbound, channel: Channel::Portal, body: body.to_owned(), status: MessageStatus::Queued, provider_id: None };
        let notice = |key: &str| NewOutbound { purpose: Purpose::PortalNotice, ..outbound(Some(c.client_id), sms("+15550100003"), key, "You have a new message: https://portal.example.org/m") };

        // Success: both rows, linked.
        let (m, queued) = db.store.record_message_with_notice(&p.admin, ClientScope::Practice, &msg("hello"), &notice("notice:1")).await.expect("message and notice");
        let row = db.store.get_outbound(&p.admin, queued.id()).await.expect("notice row");
        assert_eq!(row.message_id, Some(m.message_id));

        // The causing change fails after the outbox row was written (its audit event, written
        // last, is refused): the transaction rolls back, taking the outbox row with it.
        let trigger = match db.backend {
            Backend::Sqlite => "CREATE TRIGGER refuse_message_audit BEFORE INSERT ON audit_event WHEN NEW.action = 'message.create' \
                BEGIN SELECT RAISE(ABORT, 'refused for the test'); END;",
            Backend::Postgres => "CREATE FUNCTION refuse_message_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                IF NEW.action = 'message.create' THEN RAISE EXCEPTION 'refused for the test'; END IF; RETURN NEW; END $$; \
                CREATE TRIGGER refuse_message_audit BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION refuse_message_audit();",
        };
        db.raw(trigger).await.expect("install trigger");
        let err = db.store.record_message_with_notice(&p.admin, ClientScope::Practice, &msg("second"), &notice("notice:2")).await.expect_err("the audit write fails");
        assert!(matches!(err, StoreError::Audit(_)), "{err:?}");
        let drop = match db.backend {
            Backend::Sqlite => "DROP TRIGGER refuse_message_audit",
            Backend::Postgres => "DROP TRIGGER refuse_message_audit ON audit_event; DROP FUNCTION refuse_message_audit();",
        };
        db.raw(drop).await.expect("drop trigger");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox_message").await, 1, "the second notice was rolled back");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM message").await, 1, "and so was its message");
        // Nothing blocks the key afterwards: it was never committed.
        let (_, retried) = db.store.record_message_with_notice(&p.admin, ClientScope::Practice, &msg("second"), &notice("notice:2")).await.expect("retry succeeds");
        assert!(matches!(retried, Enqueued::Created(_)));

        // The outbox write fails (a link to another practice's record): the message is not kept.
        let foreign = db.store.create_client(&other.admin, &client("Cy", "Dunn", None)).await.expect("foreign client");
        let (fm, _) = db.store.record_message_with_notice(&other.admin, ClientScope::Practice, &NewMessage { client_id: foreign.client_id, ..msg("x") }, &NewOutbound { client_id: Some(foreign.client_id), ..notice("notice:f") }).await.expect("other practice");
        let bad = NewOutbound { message_id: None, client_id: Some(foreign.client_id), ..notice("notice:3") };
        assert!(matches!(db.store.record_message_with_notice(&p.admin, ClientScope::Practice, &msg("third"), &bad).await, Err(StoreError::NotFound)));
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM message").await, 3, "only the committed messages remain (two here, one in the other practice)");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox_message").await, 3);
        assert_ne!(fm.message_id, m.message_id);
    }

    async fn concurrent_claimers_never_claim_the_same_message(db) {
        let p = practice(&db.store, "obcc").await;
        const N: usize = 60;
        for i in 0..N {
            db.store.enqueue(&p.admin, &outbound(None, sms(&format!("+1555020{i:04}")), &format!("k{i}"), "Reminder")).await.expect("enqueue");
        }
        // Three handles (as three processes would have), two claimers on each.
        let handles = [db.store.clone(), db.reopen().await, db.reopen().await];
        let t0 = now();
        let mut tasks = Vec::new();
        for i in 0..6 {
            let store = handles[i % 3].clone();
            tasks.push(tokio::spawn(async move {
                let w = WorkerId::parse(&format!("w{i}")).expect("valid");
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_due(&w, t0, 7, LEASE).await.expect("claim");
                    if batch.is_empty() {
                        break mine;
                    }
                    mine.extend(batch.into_iter().map(|m| m.claim.outbox_message_id()));
                    tokio::task::yield_now().await;
                }
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("claimer task"));
        }
        let distinct: HashSet<_> = all.iter().copied().collect();
        assert_eq!(all.len(), N, "every row was claimed exactly once in total");
        assert_eq!(distinct.len(), N, "no row was claimed by two claimers");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox_message WHERE status = 'in_flight' AND attempts = 1").await, N as i64);
    }

    async fn an_expired_lease_becomes_unknown_and_is_not_claimed_again_until_reconciled(db) {
        let p = practice(&db.store, "oblease").await;
        let Enqueued::Created(id) = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100005"), "k1", "Reminder")).await.expect("enqueue") else { panic!() };
        let t0 = now();
        let c1 = db.store.claim_due(&worker("crashy"), t0, 10, LEASE).await.expect("claim").remove(0).claim;
        // The worker dies without recording anything.
        assert!(db.store.claim_due(&worker("w2"), t0 + TimeDelta::seconds(10), 10, LEASE).await.expect("claim").is_empty());
        assert_eq!(db.store.get_outbound(&p.admin, id).await.expect("read").status, OutboundStatus::InFlight, "the lease still holds");
        assert!(db.store.claim_due(&worker("w2"), t0 + TimeDelta::seconds(31), 10, LEASE).await.expect("claim").is_empty(), "never handed out as pending");
        let row = db.store.get_outbound(&p.admin, id).await.expect("read");
        assert_eq!((row.status, row.last_error_class), (OutboundStatus::Unknown, Some(ErrorClass::LeaseExpired)));
        assert!(db.store.claim_due(&worker("w2"), t0 + TimeDelta::days(2), 10, LEASE).await.expect("claim").is_empty(), "unknown stays unknown");

        assert!(db.store.list_unreconciled(t0 - TimeDelta::seconds(1), 10).await.expect("list").is_empty(), "attempts newer than the grace are left alone");
        let open = db.store.list_unreconciled(t0, 10).await.expect("list");
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].claim, &open[0].recipient, open[0].body.as_str()), (c1, &sms("+15550100005"), "Reminder"));
        db.store.reconciled(open[0].claim, Reconciliation::NotSent).await.expect("reconcile");
        let c2 = db.store.claim_due(&worker("w2"), t0 + TimeDelta::days(2), 10, LEASE).await.expect("claim").remove(0).claim;
        assert_eq!((c2.outbox_message_id(), c2.attempt()), (id, 2));
        assert!(matches!(db.store.mark_sent(c1, "SM-late").await, Err(StoreError::State(_))), "the dead worker's claim is fenced off");
        db.store.mark_sent(c2, "SM-new").await.expect("sent");

        // A timeout after the request left, reconciled as found: sent, never sent again.
        let Enqueued::Created(id2) = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100006"), "k2", "Reminder")).await.expect("enqueue") else { panic!() };
        let t1 = now();
        let c = db.store.claim_due(&worker("w3"), t1, 10, LEASE).await.expect("claim").remove(0).claim;
        db.store.mark_unknown(c).await.expect("unknown");
        assert!(db.store.claim_due(&worker("w3"), t0 + TimeDelta::days(2), 10, LEASE).await.expect("claim").is_empty());
        assert!(matches!(db.store.mark_retry(c, ErrorClass::RetryLater, t0).await, Ok(())), "a definite refusal from the same attempt may still settle it");
        let c = db.store.claim_due(&worker("w3"), t0 + TimeDelta::days(2), 10, LEASE).await.expect("claim").remove(0).claim;
        db.store.mark_unknown(c).await.expect("unknown again");
        db.store.reconciled(c, Reconciliation::Found("SM-found".into())).await.expect("reconcile");
        db.store.reconciled(c, Reconciliation::Found("SM-found".into())).await.expect("repeating is a no-op");
        assert!(matches!(db.store.reconciled(c, Reconciliation::NotSent).await, Err(StoreError::State(_))), "a sent row cannot be reconciled back to pending");
        let row = db.store.get_outbound(&p.admin, id2).await.expect("read");
        assert_eq!((row.status, row.provider_id.as_deref(), row.attempts), (OutboundStatus::Sent, Some("SM-found"), 2));
        assert!(db.store.claim_due(&worker("w3"), t0 + TimeDelta::days(3), 10, LEASE).await.expect("claim").is_empty());
    }

    async fn a_retry_is_not_claimed_before_its_next_attempt_at(db) {
        let p = practice(&db.store, "obretry").await;
        let Enqueued::Created(id) = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100007"), "k1", "Reminder")).await.expect("enqueue") else { panic!() };
        let t0 = now();
        let c1 = db.store.claim_due(&worker("w1"), t0, 10, LEASE).await.expect("claim").remove(0).claim;
        // Twilio answered 429 with Retry-After: 60.
        let not_before = Backoff::default().next_attempt_at(t0, 1, Some(t0 + TimeDelta::seconds(60)), 1.0);
        assert_eq!(not_before, t0 + TimeDelta::seconds(60));
        db.store.mark_retry(c1, ErrorClass::RetryLater, not_before).await.expect("retry");
        let row = db.store.get_outbound(&p.admin, id).await.expect("read");
        assert_eq!((row.status, row.next_attempt_at, row.last_error_class), (OutboundStatus::Pending, not_before, Some(ErrorClass::RetryLater)));
        assert!(db.store.claim_due(&worker("w1"), not_before - TimeDelta::microseconds(1), 10, LEASE).await.expect("claim").is_empty(), "not a microsecond early");
        let c2 = db.store.claim_due(&worker("w1"), not_before, 10, LEASE).await.expect("claim").remove(0).claim;
        assert_eq!(c2.attempt(), 2);
        assert!(matches!(db.store.mark_retry(c1, ErrorClass::RetryLater, t0).await, Err(StoreError::State(_))), "a stale claim cannot reschedule");
        db.store.mark_failed(c2, ErrorClass::BadNumber).await.expect("failed");
        db.store.mark_failed(c2, ErrorClass::BadNumber).await.expect("repeating is a no-op");
        assert!(db.store.claim_due(&worker("w1"), t0 + TimeDelta::days(30), 10, LEASE).await.expect("claim").is_empty(), "failed is never retried");
        let row = db.store.get_outbound(&p.admin, id).await.expect("read");
        assert_eq!((row.status, row.last_error_class), (OutboundStatus::Failed, Some(ErrorClass::BadNumber)));

        // A message scheduled for later is not due before then.
        let mut later = outbound(None, sms("+15550100008"), "k2", "Join link");
        later.not_before = Some(t0 + TimeDelta::hours(1));
        db.store.enqueue(&p.admin, &later).await.expect("enqueue");
        assert!(db.store.claim_due(&worker("w1"), t0 + TimeDelta::minutes(59), 10, LEASE).await.expect("claim").is_empty());
        assert_eq!(db.store.claim_due(&worker("w1"), t0 + TimeDelta::hours(1), 10, LEASE).await.expect("claim").len(), 1);
    }

    async fn an_opted_out_recipient_is_never_claimed_until_they_opt_back_in(db) {
        let p = practice(&db.store, "obstop").await;
        let other = practice(&db.store, "obstop2").await;
        let (a, b) = (sms("+15550100010"), sms("+15550100011"));
        assert_eq!(db.store.set_opt_out(&p.admin, &a, OptOutSource::Keyword).await.expect("opt out"), OptOutChange::Recorded);
        assert_eq!(db.store.set_opt_out(&p.admin, &a, OptOutSource::Keyword).await.expect("opt out"), OptOutChange::AlreadyOptedOut);
        assert!(db.store.is_opted_out(&p.admin, &a).await.expect("read"));
        assert!(!db.store.is_opted_out(&p.admin, &b).await.expect("read"));
        assert!(!db.store.is_opted_out(&other.admin, &a).await.expect("read"), "opt-outs are per practice");

        let to_a = db.store.enqueue(&p.admin, &outbound(None, a.clone(), "k-a", "Reminder")).await.expect("enqueue").id();
        let to_b = db.store.enqueue(&p.admin, &outbound(None, b.clone(), "k-b", "Reminder")).await.expect("enqueue").id();
        let t0 = now();
        let claimed = db.store.claim_due(&worker("w1"), t0, 10, LEASE).await.expect("claim");
        assert_eq!(claimed.iter().map(|m| m.claim.outbox_message_id()).collect::<Vec<_>>(), vec![to_b]);
        let row = db.store.get_outbound(&p.admin, to_a).await.expect("read");
        assert_eq!((row.status, row.cancel_reason.as_deref()), (OutboundStatus::Cancelled, Some("opted_out")));

        // Opting out between enqueue and claim holds the message back too.
        let late = db.store.enqueue(&p.admin, &outbound(None, b.clone(), "k-b2", "Reminder")).await.expect("enqueue").id();
        db.store.set_opt_out(&p.admin, &b, OptOutSource::Staff).await.expect("opt out");
        assert!(db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim").is_empty());
        assert_eq!(db.store.get_outbound(&p.admin, late).await.expect("read").status, OutboundStatus::Cancelled);
        // Another channel is another opt-out.
        db.store.enqueue(&p.admin, &outbound(None, Recipient::Telegram(5550100010), "k-tg", "Reminder")).await.expect("enqueue");
        assert_eq!(db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim").len(), 1);

        // START: sent to again, but what was held back stays cancelled.
        assert_eq!(db.store.clear_opt_out(&p.admin, &a).await.expect("opt in"), OptInChange::Cleared);
        assert_eq!(db.store.clear_opt_out(&p.admin, &a).await.expect("opt in"), OptInChange::WasNotOptedOut);
        let again = db.store.enqueue(&p.admin, &outbound(None, a.clone(), "k-a2", "Reminder")).await.expect("enqueue").id();
        let claimed = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim");
        assert_eq!(claimed.iter().map(|m| m.claim.outbox_message_id()).collect::<Vec<_>>(), vec![again]);
        assert_eq!(db.store.get_outbound(&p.admin, to_a).await.expect("read").status, OutboundStatus::Cancelled);
    }

    async fn a_stop_gets_exactly_one_confirmation_and_nothing_else(db) {
        let p = practice(&db.store, "obconf").await;
        let a = sms("+15550100020");
        let confirm = |key: &str| NewOutbound { purpose: Purpose::OptOutConfirmation, ..outbound(None, a.clone(), key, "You are unsubscribed. Reply START to resubscribe.") };
        // A confirmation-purpose row written before the opt-out does not get through.
        let early = db.store.enqueue(&p.admin, &confirm("early")).await.expect("enqueue").id();
        let (change, queued) = db.store.opt_out_and_confirm(&p.admin, OptOutSource::Keyword, &confirm("stop:SM1")).await.expect("stop");
        assert_eq!(change, OptOutChange::Recorded);
        let conf = queued.expect("a confirmation is queued").id();
        db.store.enqueue(&p.admin, &outbound(None, a.clone(), "reminder", "Reminder")).await.expect("enqueue");
        let (change, queued) = db.store.opt_out_and_confirm(&p.admin, OptOutSource::Keyword, &confirm("stop:SM2")).await.expect("second stop");
        assert_eq!((change, queued), (OptOutChange::AlreadyOptedOut, None), "a repeated STOP gets no second confirmation");
        let claimed = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim");
        assert_eq!(claimed.iter().map(|m| m.claim.outbox_message_id()).collect::<Vec<_>>(), vec![conf]);
        assert_eq!(db.store.get_outbound(&p.admin, early).await.expect("read").status, OutboundStatus::Cancelled);
        assert!(matches!(db.store.opt_out_and_confirm(&p.admin, OptOutSource::Keyword, &outbound(None, a.clone(), "x", "Reminder")).await, Err(StoreError::Invalid(_))));

        // The provider's own opt-out error (Twilio 21610) records the opt-out as well.
        let b = sms("+15550100021");
        db.store.enqueue(&p.admin, &outbound(None, b.clone(), "b1", "Reminder")).await.expect("enqueue");
        let c = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim").remove(0).claim;
        db.store.mark_failed(c, ErrorClass::OptedOut).await.expect("failed");
        assert!(db.store.is_opted_out(&p.admin, &b).await.expect("read"));
        db.store.enqueue(&p.admin, &outbound(None, b.clone(), "b2", "Reminder")).await.expect("enqueue");
        assert!(db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim").is_empty());
    }

    async fn status_callbacks_are_idempotent_and_never_move_a_message_backwards(db) {
        let p = practice(&db.store, "obcb").await;
        let id = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100030"), "k1", "Reminder")).await.expect("enqueue").id();
        let id2 = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100031"), "k2", "Reminder")).await.expect("enqueue").id();
        let claimed = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim");
        let claim_of = |x| claimed.iter().find(|m| m.claim.outbox_message_id() == x).expect("claimed").claim;
        db.store.mark_sent(claim_of(id), "SMcb1").await.expect("sent");
        db.store.mark_sent(claim_of(id2), "SMcb2").await.expect("sent");

        let cb = |pid: &'static str, r| db.store.status_callback(OutboundChannel::Sms, pid, r);
        assert_eq!(cb("SMcb1", DeliveryReport::Delivered).await.expect("cb"), CallbackOutcome::Updated(OutboundStatus::Delivered));
        assert_eq!(cb("SMcb1", DeliveryReport::Delivered).await.expect("cb"), CallbackOutcome::Unchanged(OutboundStatus::Delivered));
        assert_eq!(cb("SMcb1", DeliveryReport::Sent).await.expect("cb"), CallbackOutcome::Unchanged(OutboundStatus::Delivered), "a late 'sent' does not undo 'delivered'");
        assert_eq!(cb("SMcb1", DeliveryReport::Failed(ErrorClass::NeverRetry)).await.expect("cb"), CallbackOutcome::Unchanged(OutboundStatus::Delivered));
        let row = db.store.get_outbound(&p.admin, id).await.expect("read");
        assert_eq!(row.status, OutboundStatus::Delivered);
        assert!(row.delivered_at.is_some());

        assert_eq!(cb("SMcb2", DeliveryReport::Sent).await.expect("cb"), CallbackOutcome::Unchanged(OutboundStatus::Sent));
        assert_eq!(cb("SMcb2", DeliveryReport::Failed(ErrorClass::NeverRetry)).await.expect("cb"), CallbackOutcome::Updated(OutboundStatus::Failed));
        assert_eq!(cb("SMcb2", DeliveryReport::Delivered).await.expect("cb"), CallbackOutcome::Unchanged(OutboundStatus::Failed));
        let row = db.store.get_outbound(&p.admin, id2).await.expect("read");
        assert_eq!((row.status, row.last_error_class), (OutboundStatus::Failed, Some(ErrorClass::NeverRetry)));

        assert_eq!(cb("SMnope", DeliveryReport::Delivered).await.expect("cb"), CallbackOutcome::Held);
        assert_eq!(db.store.status_callback(OutboundChannel::Telegram, "SMcb1", DeliveryReport::Delivered).await.expect("cb"), CallbackOutcome::Held, "provider ids are per channel");

        // A provider id belongs to one message per channel.
        db.store.enqueue(&p.admin, &outbound(None, sms("+15550100032"), "k3", "Reminder")).await.expect("enqueue");
        let c3 = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim").remove(0).claim;
        match db.store.mark_sent(c3, "SMcb1").await {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "provider_id"),
            other => panic!("expected a conflict on provider_id, got {other:?}"),
        }
    }

    async fn outbound_bodies_and_recipients_are_encrypted_at_rest(db) {
        let p = practice(&db.store, "obenc").await;
        let secrets: [(&str, Recipient, &str); 3] = [
            ("+15559876543", sms("+15559876543"), "Zebulonia, your visit about the violet lighthouse is at 3 pm"),
            ("424242421", Recipient::Telegram(424242421), "Threepwood portal notice"),
            ("Hildegunde desk", Recipient::Console("Hildegunde desk".into()), "Marguerite console body"),
        ];
        for (i, (_, to, body)) in secrets.iter().enumerate() {
            let id = db.store.enqueue(&p.admin, &outbound(None, to.clone(), &format!("k{i}"), body)).await.expect("enqueue").id();
            let back = db.store.get_outbound(&p.admin, id).await.expect("read");
            assert_eq!((&back.recipient, back.body.as_str()), (to, *body), "decrypts to what was written");
        }
        db.store.set_opt_out(&p.admin, &sms("+15559876543"), OptOutSource::Keyword).await.expect("opt out");
        let needles: Vec<&str> = secrets.iter().flat_map(|(addr, _, body)| [*addr, *body, "Zebulonia", "violet lighthouse", "Threepwood", "Marguerite", "Hildegunde"]).collect();

        let columns = db.raw_blobs("SELECT recipient FROM outbox_message UNION ALL SELECT body FROM outbox_message").await;
        assert_eq!(columns.len(), 6);
        for bytes in &columns {
            for n in &needles {
                assert!(!contains(bytes, n.as_bytes()), "{n:?} found in a raw column");
            }
        }
        match db.backend {
            Backend::Sqlite => {
                db.store.close().await;
                let mut scanned = 0;
                for suffix in ["", "-wal", "-shm"] {
                    if let Ok(bytes) = std::fs::read(db.dir.path().join(format!("hearth.db{suffix}"))) {
                        scanned += bytes.len();
                        for n in &needles {
                            assert!(!contains(&bytes, n.as_bytes()), "{n:?} found in hearth.db{suffix}");
                        }
                    }
                }
                assert!(scanned > 10_000, "the database files were read ({scanned} bytes)");
            }
            Backend::Postgres => {
                let mut rows = 0;
                for t in ["outbox_message", "channel_opt_out", "audit_event"] {
                    for row in db.pg_rows_as_text(t).await {
                        rows += 1;
                        for n in &needles {
                            assert!(!row.contains(n) && !row.contains(&hex::encode(n.as_bytes())), "{n:?} found in {t}");
                        }
                    }
                }
                assert!(rows >= 4, "rows were dumped ({rows})");
            }
        }
    }

    async fn a_message_that_does_not_decrypt_fails_alone_and_the_rest_are_claimed(db) {
        let p = practice(&db.store, "obpoison").await;
        let bad = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100040"), "k1", "first")).await.expect("enqueue").id();
        let good = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100041"), "k2", "second")).await.expect("enqueue").id();
        // Another row's ciphertext moved here: it no longer authenticates.
        db.raw_ids("UPDATE outbox_message SET body = (SELECT body FROM outbox_message WHERE outbox_message_id = $1) WHERE outbox_message_id = $2", &[good.as_uuid(), bad.as_uuid()])
            .await
            .expect("raw swap");
        let claimed = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("one bad row does not fail the claim");
        assert_eq!(claimed.iter().map(|m| m.claim.outbox_message_id()).collect::<Vec<_>>(), vec![good]);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox_message WHERE status = 'failed' AND last_error_class = 'undecryptable'").await, 1);
        assert!(matches!(db.store.get_outbound(&p.admin, bad).await, Err(StoreError::Decrypt { table: "outbox_message", column: "body", .. })));
    }

    async fn limits_and_links_are_checked_with_clear_errors(db) {
        let p = practice(&db.store, "oblim").await;
        let other = practice(&db.store, "oblim2").await;
        let foreign = db.store.create_client(&other.admin, &client("Dee", "Eve", None)).await.expect("client");
        let too_big = outbound(None, sms("+15550100050"), "k1", &"x".repeat(MAX_BODY_BYTES + 1));
        match db.store.enqueue(&p.admin, &too_big).await {
            Err(StoreError::Invalid(msg)) => assert!(msg.contains(&MAX_BODY_BYTES.to_string()), "{msg}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert!(matches!(db.store.enqueue(&p.admin, &outbound(None, sms("+15550100050"), "k1", "")).await, Err(StoreError::Invalid(_))));
        assert!(matches!(db.store.enqueue(&p.admin, &outbound(Some(foreign.client_id), sms("+15550100050"), "k1", "hi")).await, Err(StoreError::NotFound)), "another practice's client");
        for limit in [0, MAX_CLAIM_BATCH + 1] {
            assert!(matches!(db.store.claim_due(&worker("w1"), now(), limit, LEASE).await, Err(StoreError::Invalid(_))), "limit {limit}");
        }
        assert!(matches!(db.store.claim_due(&worker("w1"), now(), 1, TimeDelta::zero()).await, Err(StoreError::Invalid(_))));
        assert!(matches!(db.store.claim_due(&worker("w1"), now(), 1, TimeDelta::days(1)).await, Err(StoreError::Invalid(_))));
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox_message").await, 0, "nothing was written by refused calls");

        // Withdrawing: only while pending.
        let a = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100051"), "k2", "hi")).await.expect("enqueue").id();
        assert_eq!(db.store.cancel_outbound(&p.admin, a).await.expect("cancel"), Withdrawal::Cancelled);
        let b = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100052"), "k3", "hi")).await.expect("enqueue").id();
        assert_eq!(db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim").len(), 1, "the withdrawn one is not claimed");
        assert_eq!(db.store.cancel_outbound(&p.admin, b).await.expect("cancel"), Withdrawal::TooLate(OutboundStatus::InFlight));
        assert!(matches!(db.store.cancel_outbound(&other.admin, b).await, Err(StoreError::NotFound)));
    }

    async fn a_cancelled_visit_withdraws_its_unsent_reminders_and_staff_see_the_rest(db) {
        let p = practice(&db.store, "obappt").await;
        let c = db.store.create_client(&p.admin, &client("Flo", "Gray", Some(p.clinician.user_id))).await.expect("client");
        let start = now() + TimeDelta::days(3);
        let d = AppointmentDetails {
            clinician_id: p.clinician.user_id,
            client_ids: vec![c.client_id],
            starts_at: start,
            ends_at: start + TimeDelta::minutes(50),
            time_zone: tz("America/New_York"),
            modality: Modality::Telehealth,
            location: None,
            join_link: None,
            service_code: None,
        };
        let a = db.store.create_appointment(&p.admin, ClientScope::Practice, &d).await.expect("appointment");
        let reminder = |key: &str, at| NewOutbound { appointment_id: Some(a.appointment_id), not_before: Some(at), ..outbound(Some(c.client_id), sms("+15550100060"), key, "Reminder") };
        let sent = db.store.enqueue(&p.admin, &reminder("r:now", now())).await.expect("enqueue").id();
        let claim = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim").remove(0).claim;
        db.store.mark_sent(claim, "SMappt").await.expect("sent");
        let r48 = db.store.enqueue(&p.admin, &reminder("r:48h", start - TimeDelta::hours(48))).await.expect("enqueue").id();
        let r2 = db.store.enqueue(&p.admin, &reminder("r:2h", start - TimeDelta::hours(2))).await.expect("enqueue").id();

        assert_eq!(db.store.withdraw_appointment_messages(&p.admin, a.appointment_id).await.expect("withdraw"), 2);
        assert_eq!(db.store.withdraw_appointment_messages(&p.admin, a.appointment_id).await.expect("withdraw"), 0, "nothing left to withdraw");
        assert!(db.store.claim_due(&worker("w1"), start, 10, LEASE).await.expect("claim").is_empty(), "withdrawn reminders never go out");

        let seen = db.store.list_client_outbound(&p.admin, Practice::team(&p.clinician), c.client_id).await.expect("list");
        let states: Vec<_> = seen.iter().map(|m| (m.outbox_message_id, m.status, m.cancel_reason.as_deref())).collect();
        assert_eq!(states, vec![(sent, OutboundStatus::Sent, None), (r48, OutboundStatus::Cancelled, Some("withdrawn")), (r2, OutboundStatus::Cancelled, Some("withdrawn"))]);
        assert!(matches!(db.store.list_client_outbound(&p.admin, Practice::team(&p.other_clinician), c.client_id).await, Err(StoreError::NotFound)), "outside the care team");
        let other = practice(&db.store, "obappt2").await;
        assert!(matches!(db.store.withdraw_appointment_messages(&other.admin, a.appointment_id).await, Err(StoreError::NotFound)));

        // Cancelling the visit without withdrawing: its reminder still never goes out, while a
        // reply about it (the cancellation confirmed) does.
        let b = db.store.create_appointment(&p.admin, ClientScope::Practice, &AppointmentDetails { starts_at: start + TimeDelta::days(7), ends_at: start + TimeDelta::days(7) + TimeDelta::minutes(50), ..d.clone() }).await.expect("appointment");
        let linked = |key: &str, purpose| NewOutbound { appointment_id: Some(b.appointment_id), purpose, ..outbound(Some(c.client_id), sms("+15550100060"), key, "About your visit") };
        let reminder_b = db.store.enqueue(&p.admin, &linked("b:reminder", Purpose::Reminder)).await.expect("enqueue").id();
        let reply_b = db.store.enqueue(&p.admin, &linked("b:reply", Purpose::Reply)).await.expect("enqueue").id();
        db.store.set_appointment_status(&p.admin, ClientScope::Practice, b.appointment_id, AppointmentStatus::Cancelled, Some("client_reply")).await.expect("cancel visit");
        let claimed = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim");
        assert_eq!(claimed.iter().map(|m| m.claim.outbox_message_id()).collect::<Vec<_>>(), vec![reply_b]);
        let row = db.store.get_outbound(&p.admin, reminder_b).await.expect("read");
        assert_eq!((row.status, row.cancel_reason.as_deref()), (OutboundStatus::Cancelled, Some("appointment_cancelled")));
    }

    async fn queued_messages_still_decrypt_after_master_key_rotation(db) {
        let p = practice(&db.store, "obrot").await;
        let id = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100070"), "k1", "queued before rotation")).await.expect("enqueue").id();
        let report = db.store.rotate_master_key().await.expect("rotate");
        assert!(report.rewrapped >= 1 && !report.retired.is_empty());
        // Another process that only knows the new key file claims it.
        let fresh = db.reopen().await;
        let claimed = fresh.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].claim.outbox_message_id(), claimed[0].body.as_str()), (id, "queued before rotation"));
    }

    async fn a_sender_claim_takes_only_that_senders_messages(db) {
        let p = practice(&db.store, "obsender").await;
        let long_code = SenderKey::parse("sms:+15550001111").expect("valid");
        let short_code = SenderKey::parse("sms:12345").expect("valid");
        for i in 0..3 {
            db.store.enqueue(&p.admin, &outbound(None, sms(&format!("+1555030000{i}")), &format!("long{i}"), "Reminder")).await.expect("enqueue");
            db.store.enqueue(&p.admin, &NewOutbound { sender_key: short_code.clone(), ..outbound(None, sms(&format!("+1555040000{i}")), &format!("short{i}"), "Reminder") }).await.expect("enqueue");
        }
        let t = now();
        let first = db.store.claim_due_for_sender(&worker("w1"), &short_code, t, 2, LEASE).await.expect("claim");
        assert_eq!(first.len(), 2, "the limit applies");
        assert!(first.iter().all(|m| m.sender_key == short_code));
        let rest = db.store.claim_due_for_sender(&worker("w1"), &short_code, t, 10, LEASE).await.expect("claim");
        assert_eq!(rest.len(), 1);
        assert!(db.store.claim_due_for_sender(&worker("w1"), &short_code, t, 10, LEASE).await.expect("claim").is_empty());
        let long = db.store.claim_due(&worker("w1"), t, 10, LEASE).await.expect("claim");
        assert_eq!(long.len(), 3);
        assert!(long.iter().all(|m| m.sender_key == long_code));
    }

    async fn concurrent_enqueues_of_one_idempotency_key_write_one_row(db) {
        let p = practice(&db.store, "obrace").await;
        let keys_before = db.raw_i64("SELECT COUNT(*) FROM data_key").await;
        let handles = [db.store.clone(), db.reopen().await];
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = handles[i % 2].clone();
            let actor = p.admin.clone();
            tasks.push(tokio::spawn(async move { store.enqueue(&actor, &outbound(None, sms("+15550100080"), "reminder:race", &format!("copy {i}"))).await.expect("enqueue") }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.expect("task"));
        }
        let created: Vec<_> = outcomes.iter().filter(|o| matches!(o, Enqueued::Created(_))).collect();
        assert_eq!(created.len(), 1, "{outcomes:?}");
        assert!(outcomes.iter().all(|o| o.id() == created[0].id()), "every caller gets the one row's id");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox_message").await, 1);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM data_key").await, keys_before + 1, "losers leave no data key behind");
    }

    async fn a_status_callback_that_beats_the_recorded_send_is_applied_when_the_send_is_recorded(db) {
        let p = practice(&db.store, "obearly").await;
        let id = db.store.enqueue(&p.admin, &outbound(None, sms("+15550100090"), "k1", "Reminder")).await.expect("enqueue").id();
        let c = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim").remove(0).claim;
        // Twilio calls back before the dispatcher's mark_sent commits.
        for _ in 0..2 {
            assert_eq!(db.store.status_callback(OutboundChannel::Sms, "SMearly1", DeliveryReport::Delivered).await.expect("cb"), CallbackOutcome::Held);
        }
        assert_eq!(db.store.status_callback(OutboundChannel::Sms, "SMearly1", DeliveryReport::Sent).await.expect("cb"), CallbackOutcome::Held);
        assert_eq!(db.store.get_outbound(&p.admin, id).await.expect("read").status, OutboundStatus::InFlight);
        db.store.mark_sent(c, "SMearly1").await.expect("sent");
        let row = db.store.get_outbound(&p.admin, id).await.expect("read");
        assert_eq!((row.status, row.provider_id.as_deref()), (OutboundStatus::Delivered, Some("SMearly1")));
        assert!(row.delivered_at.is_some());
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM early_delivery_report").await, 0, "held reports are consumed");

        // An early opt-out failure, applied through reconciliation, records the opt-out too.
        let to = sms("+15550100091");
        let id2 = db.store.enqueue(&p.admin, &outbound(None, to.clone(), "k2", "Reminder")).await.expect("enqueue").id();
        let c2 = db.store.claim_due(&worker("w1"), now(), 10, LEASE).await.expect("claim").remove(0).claim;
        db.store.mark_unknown(c2).await.expect("unknown");
        assert_eq!(db.store.status_callback(OutboundChannel::Sms, "SMearly2", DeliveryReport::Failed(ErrorClass::OptedOut)).await.expect("cb"), CallbackOutcome::Held);
        db.store.reconciled(c2, Reconciliation::Found("SMearly2".into())).await.expect("reconcile");
        let row = db.store.get_outbound(&p.admin, id2).await.expect("read");
        assert_eq!((row.status, row.last_error_class), (OutboundStatus::Failed, Some(ErrorClass::OptedOut)));
        assert!(db.store.is_opted_out(&p.admin, &to).await.expect("read"));

        // Reports for ids that never show up expire.
        assert_eq!(db.store.status_callback(OutboundChannel::Sms, "SMforeign", DeliveryReport::Delivered).await.expect("cb"), CallbackOutcome::Held);
        // Older than outbox::EARLY_REPORT_RETENTION.
        db.raw("UPDATE early_delivery_report SET created_at = '2000-01-01T00:00:00+00:00'").await.expect("age the report");
        db.store.status_callback(OutboundChannel::Sms, "SMforeign2", DeliveryReport::Delivered).await.expect("cb");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM early_delivery_report WHERE provider_id = 'SMforeign'").await, 0, "expired");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM early_delivery_report").await, 1);
    }
}
