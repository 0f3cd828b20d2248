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
        for i in 0..(10_000 - base as usize) {
            db.store.append_audit(&actor, &denied(i)).await.expect("append");
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
