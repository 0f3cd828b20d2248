//! The audit chain: verification, tamper and truncation detection, and fail-closed writes.

use store::{Actor, AuditAction, AuditReport, Backend, ClientScope, Outcome, StoreError, TamperDetail};

use crate::common::{both, client, practice};

fn denied(i: usize) -> AuditAction {
    AuditAction { action: "client.read".into(), object_type: "client".into(), object_id: Some(format!("obj-{i}")), outcome: Outcome::Denied }
}

both! {
    async fn a_ten_thousand_event_chain_verifies(db) {
        let p = practice(&db.store, "chain").await;
        let base = match db.store.verify_audit().await.expect("verify") {
            AuditReport::Intact { events } => events,
            other => panic!("fresh chain should be intact: {other:?}"),
        };
        let actor = p.admin.clone().with_ip("192.0.2.7".parse().expect("ip")).with_request_id("req-1");
        // Appended in batches of 500 (one commit each), so the test spends its time on the
        // chain rather than on 10,000 fsyncs; single appends are exercised by the other tests.
        let actions: Vec<AuditAction> = (0..(10_000 - base as usize)).map(denied).collect();
        for chunk in actions.chunks(500) {
            db.store.append_audit_batch(&actor, chunk).await.expect("append");
        }
        assert_eq!(db.store.verify_audit().await.expect("verify"), AuditReport::Intact { events: 10_000 });
    }

    async fn one_flipped_byte_is_reported_at_exactly_that_event(db) {
        let p = practice(&db.store, "flip").await;
        for i in 0..50 {
            db.store.append_audit(&p.admin, &denied(i)).await.expect("append");
        }
        let target = 30;
        db.raw(&format!("UPDATE audit_event SET object_id = 'obj-X' WHERE seq = {target}")).await.expect("tamper");
        assert_eq!(db.store.verify_audit().await.expect("verify"), AuditReport::Tampered { seq: target, detail: TamperDetail::Content });
        // Deleting an earlier event from the middle is reported at the gap, the first fault.
        db.raw("DELETE FROM audit_event WHERE seq = 10").await.expect("delete");
        assert_eq!(db.store.verify_audit().await.expect("verify"), AuditReport::Tampered { seq: 10, detail: TamperDetail::Missing });
    }

    async fn deleting_the_newest_events_is_reported_as_truncation(db) {
        let p = practice(&db.store, "trunc").await;
        for i in 0..20 {
            db.store.append_audit(&p.admin, &denied(i)).await.expect("append");
        }
        let head = match db.store.verify_audit().await.expect("verify") {
            AuditReport::Intact { events } => events as i64,
            other => panic!("intact expected: {other:?}"),
        };
        db.raw(&format!("DELETE FROM audit_event WHERE seq > {}", head - 3)).await.expect("truncate");
        assert_eq!(db.store.verify_audit().await.expect("verify"), AuditReport::Truncated { head_seq: head, chain_end: head - 3 });
        db.raw("UPDATE audit_head SET seq = seq - 3").await.expect("forge head");
        assert_eq!(db.store.verify_audit().await.expect("verify"), AuditReport::HeadInvalid, "the head is MACed");
    }

    async fn when_audit_writes_fail_phi_reads_and_writes_fail_and_leave_no_change(db) {
        let p = practice(&db.store, "failclosed").await;
        let c = db.store.create_client(&p.admin, &client("Fail", "Closed", None)).await.expect("client");
        let events_before = match db.store.verify_audit().await.expect("verify") {
            AuditReport::Intact { events } => events,
            other => panic!("intact expected: {other:?}"),
        };
        let sql = match db.backend {
            Backend::Sqlite => "CREATE TRIGGER audit_fail BEFORE INSERT ON audit_event BEGIN SELECT RAISE(ABORT, 'audit disabled by test'); END;",
            Backend::Postgres => "CREATE FUNCTION audit_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit disabled by test'; END $$; \
                                  CREATE TRIGGER audit_fail BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION audit_fail();",
        };
        db.raw(sql).await.expect("install failing trigger");

        let read = db.store.get_client(&p.admin, ClientScope::Practice, c.client_id).await;
        assert!(matches!(read, Err(StoreError::Audit(_))), "a PHI read without its audit event fails: {read:?}");
        let upd = store::clients::ClientDetails { first_name: "Changed".into(), ..client("Fail", "Closed", None) };
        let write = db.store.update_client(&p.admin, ClientScope::Practice, c.client_id, &upd).await;
        assert!(matches!(write, Err(StoreError::Audit(_))), "a PHI write without its audit event fails: {write:?}");
        let create = db.store.create_client(&p.admin, &client("Never", "Stored", None)).await;
        assert!(matches!(create, Err(StoreError::Audit(_))));
        assert!(matches!(db.store.append_audit(&Actor::system(p.id), &AuditAction { action: "login".into(), object_type: "staff_user".into(), object_id: None, outcome: Outcome::Denied }).await, Err(StoreError::Audit(_))));

        let drop = match db.backend {
            Backend::Sqlite => "DROP TRIGGER audit_fail",
            Backend::Postgres => "DROP TRIGGER audit_fail ON audit_event",
        };
        db.raw(drop).await.expect("remove failing trigger");
        let after = db.store.get_client(&p.admin, ClientScope::Practice, c.client_id).await.expect("read");
        assert_eq!(after.first_name, "Fail", "the failed write left no change");
        assert!(db.store.search_clients(&p.admin, ClientScope::Practice, "never").await.expect("search").is_empty(), "the failed create left nothing");
        // The chain is still intact and holds exactly one more event: the read above.
        assert_eq!(db.store.verify_audit().await.expect("verify"), AuditReport::Intact { events: events_before + 1 + 1 }, "read + empty search");
        let events = db.store.audit_events_for_object(&p.admin, "client", &c.client_id.to_string()).await.expect("events");
        assert!(events.iter().all(|e| e.outcome == Outcome::Ok && e.practice_id == Some(p.id)));
        assert_eq!(events.iter().filter(|e| e.action == "client.update").count(), 0);
    }
}

both! {
    async fn concurrent_appends_from_two_processes_keep_one_intact_chain(db) {
        let p = practice(&db.store, "concurrent").await;
        let other = db.reopen().await;
        let base = match db.store.verify_audit().await.expect("verify") {
            AuditReport::Intact { events } => events,
            other => panic!("intact expected: {other:?}"),
        };
        let mut tasks = Vec::new();
        for (n, s) in [db.store.clone(), other.clone(), db.store.clone(), other.clone()].into_iter().enumerate() {
            let actor = p.admin.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    s.append_audit(&actor, &denied(n * 1000 + i)).await.expect("append");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(db.store.verify_audit().await.expect("verify"), AuditReport::Intact { events: base + 200 });
        other.close().await;
    }
}

both! {
    async fn a_batch_of_events_chains_exactly_like_single_appends(db) {
        let p = practice(&db.store, "batch").await;
        let first = db.store.append_audit(&p.admin, &denied(0)).await.expect("append");
        let batch: Vec<AuditAction> = (1..5).map(denied).collect();
        let seqs = db.store.append_audit_batch(&p.admin, &batch).await.expect("batch");
        assert_eq!(seqs, (first + 1..first + 5).collect::<Vec<_>>(), "consecutive seqs, in order");
        let last = db.store.append_audit(&p.admin, &denied(9)).await.expect("append after the batch");
        assert_eq!(last, first + 5);
        assert!(db.store.append_audit_batch(&p.admin, &[]).await.expect("empty batch").is_empty());
        // One bad code refuses the whole batch and appends nothing.
        let bad = vec![denied(1), AuditAction { action: "Jane Doe".into(), object_type: "client".into(), object_id: None, outcome: Outcome::Denied }];
        assert!(matches!(db.store.append_audit_batch(&p.admin, &bad).await, Err(StoreError::Invalid(_))));
        let too_many = vec![denied(1); store::audit::MAX_AUDIT_BATCH + 1];
        assert!(matches!(db.store.append_audit_batch(&p.admin, &too_many).await, Err(StoreError::Invalid(_))));
        assert_eq!(db.store.verify_audit().await.expect("verify"), AuditReport::Intact { events: last as u64 });
        let events = db.store.audit_events_for_object(&p.admin, "client", "obj-3").await.expect("events");
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].seq, events[0].outcome), (first + 3, Outcome::Denied));
    }

    async fn verifying_while_events_are_appended_still_reports_an_intact_chain(db) {
        // Regression: verification read the head once and then each page in a fresh snapshot,
        // so events committed during the walk lay beyond the head and looked inserted.
        let p = practice(&db.store, "liveverify").await;
        let batch: Vec<AuditAction> = (0..6000).map(denied).collect();
        db.store.append_audit_batch(&p.admin, &batch).await.expect("batch");
        let writer = db.reopen().await;
        let actor = p.admin.clone();
        let appends = tokio::spawn(async move {
            for i in 0..300 {
                writer.append_audit(&actor, &denied(100_000 + i)).await.expect("append during verify");
            }
            writer.close().await;
        });
        let mut checked = 0;
        while !appends.is_finished() || checked == 0 {
            match db.store.verify_audit().await.expect("verify") {
                AuditReport::Intact { events } => assert!(events >= 6000, "{events}"),
                other => panic!("a live chain must verify: {other:?}"),
            }
            checked += 1;
        }
        appends.await.expect("appends");
        assert!(matches!(db.store.verify_audit().await.expect("verify"), AuditReport::Intact { .. }));
    }

    async fn a_new_database_has_an_intact_empty_chain(db) {
        assert_eq!(db.store.verify_audit().await.expect("verify"), AuditReport::Intact { events: 0 });
        let again = db.reopen().await;
        assert_eq!(again.verify_audit().await.expect("verify"), AuditReport::Intact { events: 0 }, "migrating twice changes nothing");
        again.close().await;
    }

    async fn deleting_the_audit_head_with_every_event_is_detected_and_not_papered_over(db) {
        // Regression: a missing head read as an empty, intact chain, and the next append
        // started a fresh chain on top of the wiped one.
        let p = practice(&db.store, "wipe").await;
        db.store.append_audit(&p.admin, &denied(1)).await.expect("append");
        db.raw("DELETE FROM audit_event").await.expect("delete events");
        db.raw("DELETE FROM audit_head").await.expect("delete head");
        assert_eq!(db.store.verify_audit().await.expect("verify"), AuditReport::HeadInvalid);
        assert!(matches!(db.store.append_audit(&p.admin, &denied(2)).await, Err(StoreError::Audit(_))));
        let create = db.store.create_client(&p.admin, &client("Never", "Stored", None)).await;
        assert!(matches!(create, Err(StoreError::Audit(_))), "PHI access fails closed: {create:?}");
        let again = db.reopen().await;
        assert_eq!(again.verify_audit().await.expect("verify"), AuditReport::HeadInvalid, "migrate does not re-create the head of a used database");
        again.close().await;
    }
}
