//! Encryption at rest: no PHI in the database bytes, ciphertext bound to its row and column,
//! and everything still readable after master key rotation.

use chrono::NaiveDate;
use store::{
    Backend, ClientScope, StoreError,
    clients::{ClientDetails, ContactDetails},
    messages::{Direction, MessageStatus, NewMessage},
    notes::NewNote,
};

use crate::common::{both, client, email, phone, practice};

const PHI: &[&str] = &[
    "Zebulonia", "Threepwood", "Marguerite", "1979-03-28", "+15559876543", "zebulonia@example.org", "424242421",
    "Hildegunde Threepwood", "the violet lighthouse dream", "persistent rumination about the violet lighthouse",
];

fn phi_client() -> ClientDetails {
    ClientDetails {
        preferred_name: Some("Marguerite".into()),
        date_of_birth: NaiveDate::from_ymd_opt(1979, 3, 28),
        phone: Some(phone("+15559876543")),
        email: Some(email("zebulonia@example.org")),
        telegram_chat_id: Some(424242421),
        contacts: vec![ContactDetails { name: "Hildegunde Threepwood".into(), relation: "sister".into(), phone: None, email: None, receives_reminders: false }],
        ..client("Zebulonia", "Threepwood", None)
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

both! {
    async fn known_phi_never_appears_in_the_stored_bytes(db) {
        let p = practice(&db.store, "enc").await;
        let c = db.store.create_client(&p.admin, &phi_client()).await.expect("client");
        db.store.record_message(&p.admin, ClientScope::Practice, &NewMessage { client_id: c.client_id, direction: Direction::Inbound, channel: store::clients::Channel::Sms, body: "I keep having the violet lighthouse dream".into(), status: MessageStatus::Received, provider_id: None }).await.expect("message");
        db.store.create_note(&p.admin, ClientScope::Practice, &NewNote { client_id: c.client_id, appointment_id: None, format: "SOAP".into(), body: "A: persistent rumination about the violet lighthouse".into() }).await.expect("note");
        // Sanity: the values really are there, decrypted.
        assert_eq!(db.store.get_client(&p.admin, ClientScope::Practice, c.client_id).await.expect("get").first_name, "Zebulonia");
        match db.backend {
            Backend::Sqlite => {
                db.store.close().await;
                let mut scanned = 0;
                for suffix in ["", "-wal", "-shm"] {
                    let path = db.dir.path().join(format!("hearth.db{suffix}"));
                    if let Ok(bytes) = std::fs::read(&path) {
                        scanned += bytes.len();
                        for phi in PHI {
                            assert!(!contains(&bytes, phi.as_bytes()), "{phi:?} found in {}", path.display());
                            assert!(!contains(&bytes, phi.to_lowercase().as_bytes()), "{phi:?} (lowercase) found in {}", path.display());
                        }
                    }
                }
                assert!(scanned > 10_000, "the database files were read ({scanned} bytes)");
            }
            Backend::Postgres => {
                let tables = ["practice", "staff_user", "client", "client_contact", "client_name_token", "message", "note", "note_version", "audit_event", "data_key"];
                let mut rows = 0;
                for t in tables {
                    for row in db.pg_rows_as_text(t).await {
                        rows += 1;
                        let lower = row.to_lowercase();
                        for phi in PHI {
                            assert!(!lower.contains(&phi.to_lowercase()), "{phi:?} found in {t}");
                            assert!(!lower.contains(&hex::encode(phi.as_bytes())), "{phi:?} (hex) found in {t}");
                        }
                    }
                }
                assert!(rows > 10, "rows were dumped ({rows})");
            }
        }
    }

    async fn ciphertext_moved_to_another_row_or_column_fails_to_decrypt_with_a_clear_error(db) {
        let p = practice(&db.store, "swap").await;
        let victim = db.store.create_client(&p.admin, &client("Victim", "Row", None)).await.expect("victim");
        let donor = db.store.create_client(&p.admin, &client("Donor", "Row", None)).await.expect("donor");
        // Same column, other row (and its data key id too, so only the AAD can catch it).
        db.raw_ids(
            "UPDATE client SET first_name = (SELECT first_name FROM client WHERE client_id = $1), data_key_id = (SELECT data_key_id FROM client WHERE client_id = $1) WHERE client_id = $2",
            &[donor.client_id.as_uuid(), victim.client_id.as_uuid()],
        )
        .await
        .expect("raw swap");
        let err = db.store.get_client(&p.admin, ClientScope::Practice, victim.client_id).await.expect_err("must not decrypt");
        match &err {
            StoreError::Decrypt { table, column, .. } => assert_eq!((*table, *column), ("client", "first_name")),
            other => panic!("expected Decrypt, got {other:?}"),
        }
        assert!(!err.to_string().contains("Donor"), "the error has no PHI");
        // Other column, same row.
        db.raw_ids("UPDATE client SET first_name = last_name WHERE client_id = $1", &[donor.client_id.as_uuid()]).await.expect("raw swap");
        assert!(matches!(db.store.get_client(&p.admin, ClientScope::Practice, donor.client_id).await, Err(StoreError::Decrypt { column: "first_name", .. })));
    }

    async fn every_record_still_reads_after_master_key_rotation_and_the_old_key_is_gone(db) {
        let p = practice(&db.store, "rot").await;
        let c = db.store.create_client(&p.admin, &phi_client()).await.expect("client");
        let m = db.store.record_message(&p.admin, ClientScope::Practice, &NewMessage { client_id: c.client_id, direction: Direction::Outbound, channel: store::clients::Channel::Portal, body: "message before rotation".into(), status: MessageStatus::Queued, provider_id: None }).await.expect("message");
        let n = db.store.create_note(&p.admin, ClientScope::Practice, &NewNote { client_id: c.client_id, appointment_id: None, format: "SOAP".into(), body: "note before rotation".into() }).await.expect("note");
        db.store.set_totp_secret(&p.admin, p.clinician.user_id, Some(&secrecy::SecretSlice::from(b"totp-secret-bytes".to_vec()))).await.expect("totp");
        let before: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&db.key_file).expect("key file")).expect("json");
        let old_id = before["keks"][0]["id"].as_str().expect("kek id").to_owned();
        let old_key = before["keks"][0]["key"].as_str().expect("kek").to_owned();

        let report = db.store.rotate_master_key().await.expect("rotate");
        assert!(report.rewrapped >= 4, "client, message, note and TOTP keys were rewrapped ({})", report.rewrapped);
        assert_eq!(report.retired, vec![old_id.clone()]);
        let after = std::fs::read_to_string(&db.key_file).expect("key file");
        assert!(!after.contains(&old_key) && !after.contains(&old_id), "the old KEK is gone from the key file");
        assert_eq!(before["index_key"], serde_json::from_str::<serde_json::Value>(&after).expect("json")["index_key"], "the index key is not rotated");

        // Read everything back through a fresh handle that only knows the new key file.
        let fresh = db.reopen().await;
        let got = fresh.get_client(&p.admin, ClientScope::Practice, c.client_id).await.expect("client after rotation");
        assert_eq!(got, c);
        assert_eq!(fresh.get_message(&p.admin, ClientScope::Practice, m.message_id).await.expect("message").body, "message before rotation");
        assert_eq!(fresh.get_note(&p.admin, ClientScope::Practice, n.summary.note_id).await.expect("note").body, "note before rotation");
        assert_eq!(fresh.note_versions(&p.admin, ClientScope::Practice, n.summary.note_id).await.expect("versions").len(), 1);
        assert!(fresh.totp_secret(p.clinician.user_id).await.expect("totp").is_some());
        assert_eq!(fresh.search_clients(&p.admin, ClientScope::Practice, "zebu").await.expect("search").len(), 1, "blind index survives");
        fresh.close().await;
    }
}

both! {
    async fn a_process_that_missed_a_rotation_wraps_new_data_under_the_new_key(db) {
        let p = practice(&db.store, "stale").await;
        let stale = db.reopen().await;
        let before = stale.create_client(&p.admin, &client("Before", "Rotation", None)).await.expect("client");
        db.store.rotate_master_key().await.expect("rotate");
        // The stale handle still holds only the retired KEK in memory.
        let after = stale.create_client(&p.admin, &client("After", "Rotation", None)).await.expect("client from the stale process");
        assert_eq!(stale.get_client(&p.admin, ClientScope::Practice, before.client_id).await.expect("read rewrapped").first_name, "Before");
        stale.close().await;
        // Everything reads with only the current key file.
        let fresh = db.reopen().await;
        for (id, name) in [(before.client_id, "Before"), (after.client_id, "After")] {
            assert_eq!(fresh.get_client(&p.admin, ClientScope::Practice, id).await.expect("read").first_name, name);
        }
        let report = fresh.rotate_master_key().await.expect("second rotation");
        assert!(report.rewrapped >= 2);
        fresh.close().await;
    }
}

fn active_kek_id(db: &crate::common::TestDb) -> String {
    let text = std::fs::read_to_string(&db.key_file).expect("key file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    json["keks"][0]["id"].as_str().expect("active kek id").to_owned()
}

both! {
    async fn migrate_records_the_active_master_key_for_other_processes(db) {
        let id = active_kek_id(&db);
        assert!(id.starts_with("kek-") && id[4..].bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        let n = db.raw(&format!("UPDATE key_state SET updated_at = updated_at WHERE key_state_id = 1 AND active_kek_id = '{id}'")).await.expect("query");
        assert_eq!(n, 1, "key_state names the key file's active KEK right after migrate");
    }

    async fn records_created_by_other_processes_during_a_rotation_all_read_afterwards(db) {
        let p = practice(&db.store, "rotrace").await;
        let mut writers = Vec::new();
        for w in 0..3 {
            let s = db.reopen().await;
            let actor = p.admin.clone();
            writers.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..25 {
                    let c = s.create_client(&actor, &client(&format!("Writer{w}"), &format!("Row{i}"), None)).await.expect("create during rotation");
                    ids.push(c.client_id);
                }
                s.close().await;
                ids
            }));
        }
        // Rotations may report that keys were added under the old KEK meanwhile; rerun as told.
        let mut report = db.store.rotate_master_key().await;
        for _ in 0..20 {
            if report.is_ok() {
                break;
            }
            assert!(matches!(report, Err(StoreError::State(_))), "{report:?}");
            report = db.store.rotate_master_key().await;
        }
        let mut ids = Vec::new();
        for w in writers {
            ids.extend(w.await.expect("writer"));
        }
        let finish = db.store.rotate_master_key().await.expect("a final rotation completes");
        assert_eq!(finish.retired.len(), 1);
        let fresh = db.reopen().await;
        for id in ids {
            fresh.get_client(&p.admin, ClientScope::Practice, id).await.expect("every record reads after the rotation");
        }
        fresh.close().await;
    }
}

/// PostgreSQL only (SQLite's `BEGIN IMMEDIATE` already serialises every writer): wrapping a
/// new data key holds a share lock on `key_state` until commit, so a rotation's switch of the
/// active KEK waits for it and its rewrap pass sees the new key. Regression: the plain read let
/// a data key commit under the old KEK after the rewrap, and the old KEK was then deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_switching_the_active_key_holds_off_new_data_keys_until_it_commits() {
    use sqlx::Connection;
    let db = crate::common::TestDb::postgres().await;
    let p = practice(&db.store, "rotlock").await;
    let mut rotation = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::raw_sql("BEGIN; SELECT * FROM key_state WHERE key_state_id = 1 FOR UPDATE;").execute(&mut rotation).await.expect("lock key_state");
    let store = db.store.clone();
    let actor = p.admin.clone();
    let create = tokio::spawn(async move { store.create_client(&actor, &client("Held", "Off", None)).await });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!create.is_finished(), "creating a data key must wait for the rotation holding key_state");
    sqlx::raw_sql("COMMIT").execute(&mut rotation).await.expect("release");
    let c = create.await.expect("task").expect("create after the rotation committed");
    assert_eq!(db.store.get_client(&p.admin, ClientScope::Practice, c.client_id).await.expect("read").first_name, "Held");
    rotation.close().await.ok();
    db.cleanup().await;
}

both! {
    async fn a_rotation_run_by_a_process_that_missed_an_earlier_rotation_keeps_every_record_readable(db) {
        // Regression: the stale process added its new KEK to the key list it had in memory
        // and saved that, deleting the KEK the first rotation had just rewrapped everything
        // under: every record became unreadable.
        let p = practice(&db.store, "stalerot").await;
        let c = db.store.create_client(&p.admin, &client("Stale", "Rotation", None)).await.expect("client");
        let stale = db.reopen().await;
        db.store.rotate_master_key().await.expect("first rotation");
        let report = stale.rotate_master_key().await.expect("a stale process can rotate too");
        assert_eq!(report.retired.len(), 1);
        let fresh = db.reopen().await;
        assert_eq!(fresh.get_client(&p.admin, ClientScope::Practice, c.client_id).await.expect("readable").last_name, "Rotation");
        stale.close().await;
        fresh.close().await;
    }
}
