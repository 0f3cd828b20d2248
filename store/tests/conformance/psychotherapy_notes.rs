//! Psychotherapy notes (45 CFR 164.501): readable only by the author and the author's
//! supervisor whatever the client scope, edited only by the author with every version kept,
//! sealed under their own keys, never in progress-note queries, and audited.

use chrono::{Duration, TimeZone, Utc};
use store::{
    Actor, Backend, ClientId, ClientScope, NoteId, PsychotherapyNoteId, StoreError,
    appointments::{AppointmentDetails, Modality},
    notes::NewNote,
    psychotherapy_notes::{MAX_PSYCHOTHERAPY_NOTE_BYTES, PsychotherapyNote, PsychotherapyNoteSummary},
    users::{Role, StaffUser},
};

use crate::common::{TestDb, both, client, new_user, practice, tz, Practice};

/// A practice, a front-desk user, and a client of its trainee shared with both clinicians.
struct Setting {
    p: Practice,
    front_desk: StaffUser,
    client: ClientId,
}

async fn setting(db: &TestDb, tag: &str) -> Setting {
    let p = practice(&db.store, tag).await;
    let front_desk = db.store.create_user(&p.admin, &new_user(&format!("desk@{tag}.example.org"), "Desk", &[Role::FrontDesk], None)).await.expect("front desk");
    let c = db.store.create_client(&p.admin, &client("Piet", "Process", Some(p.trainee.user_id))).await.expect("client");
    for u in [&p.clinician, &p.other_clinician] {
        db.store.share_client(&p.admin, ClientScope::Practice, c.client_id, u.user_id).await.expect("share");
    }
    Setting { p, front_desk, client: c.client_id }
}

async fn write(db: &TestDb, p: &Practice, by: &StaffUser, client: ClientId, body: &str) -> PsychotherapyNote {
    db.store.create_psychotherapy_note(&p.as_user(by), Practice::team(by), client, None, body).await.expect("create psychotherapy note")
}

fn ids(notes: &[PsychotherapyNoteSummary]) -> Vec<PsychotherapyNoteId> {
    notes.iter().map(|n| n.psychotherapy_note_id).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn actions(db: &TestDb, p: &Practice, id: PsychotherapyNoteId) -> Vec<(String, Option<store::UserId>)> {
    db.store
        .audit_events_for_object(&p.admin, "psychotherapy_note", &id.to_string())
        .await
        .expect("audit events")
        .into_iter()
        .filter(|e| e.action != "audit.read") // reading the log is logged too
        .map(|e| (e.action, e.user_id))
        .collect()
}

both! {
    async fn only_the_author_and_the_authors_supervisor_can_read_a_psychotherapy_note(db) {
        // Arrange: the trainee's note and a clinician's note about the same client, which is
        // shared with both clinicians.
        let s = setting(&db, "pn-read").await;
        let p = &s.p;
        let tn = write(&db, p, &p.trainee, s.client, "Trainee: my own reaction to the client's silence.").await;
        let cn = write(&db, p, &p.clinician, s.client, "Clinician: hypotheses about the family system.").await;
        assert_eq!(tn.author_id, p.trainee.user_id);

        // The author, and the author's supervisor (who needs no care-team scope for it).
        assert_eq!(db.store.get_psychotherapy_note(&p.as_user(&p.trainee), tn.psychotherapy_note_id).await.expect("author reads"), tn);
        assert_eq!(db.store.get_psychotherapy_note(&p.as_user(&p.supervisor), tn.psychotherapy_note_id).await.expect("supervisor reads"), tn);
        assert_eq!(db.store.get_psychotherapy_note(&p.as_user(&p.clinician), cn.psychotherapy_note_id).await.expect("author reads"), cn);
        assert_eq!(ids(&db.store.list_psychotherapy_notes(&p.as_user(&p.trainee), s.client).await.expect("list")), vec![tn.psychotherapy_note_id]);
        assert_eq!(ids(&db.store.list_psychotherapy_notes(&p.as_user(&p.supervisor), s.client).await.expect("list")), vec![tn.psychotherapy_note_id]);
        assert_eq!(ids(&db.store.list_psychotherapy_notes(&p.as_user(&p.clinician), s.client).await.expect("list")), vec![cn.psychotherapy_note_id]);

        // Everyone else in the practice, though each of them can see the client: the trainee
        // (not the clinician's supervisee in reverse), the supervisor for a non-supervisee, a
        // colleague the client is shared with, front desk and the admin with practice scope,
        // and the system.
        let colleague = p.as_user(&p.other_clinician);
        db.store.get_client(&colleague, Practice::team(&p.other_clinician), s.client).await.expect("the colleague sees the client");
        let refused = [
            (p.as_user(&p.trainee), cn.psychotherapy_note_id),
            (p.as_user(&p.supervisor), cn.psychotherapy_note_id),
            (colleague.clone(), tn.psychotherapy_note_id),
            (colleague.clone(), cn.psychotherapy_note_id),
            (p.as_user(&s.front_desk), tn.psychotherapy_note_id),
            (p.admin.clone(), tn.psychotherapy_note_id),
            (p.admin.clone(), cn.psychotherapy_note_id),
            (Actor::system(p.id), tn.psychotherapy_note_id),
        ];
        for (actor, id) in &refused {
            assert!(matches!(db.store.get_psychotherapy_note(actor, *id).await, Err(StoreError::NotFound)), "{actor:?} must not read {id}");
        }
        for actor in [colleague, p.as_user(&s.front_desk), p.admin.clone(), Actor::system(p.id)] {
            assert_eq!(db.store.list_psychotherapy_notes(&actor, s.client).await.expect("list"), vec![], "{actor:?} sees none");
        }

        // Another practice: not its notes, not its client.
        let q = practice(&db.store, "pn-read-other").await;
        for actor in [q.admin.clone(), q.as_user(&q.supervisor)] {
            assert!(matches!(db.store.get_psychotherapy_note(&actor, tn.psychotherapy_note_id).await, Err(StoreError::NotFound)));
            assert!(matches!(db.store.list_psychotherapy_notes(&actor, s.client).await, Err(StoreError::NotFound)));
            assert!(matches!(db.store.update_psychotherapy_note(&actor, tn.psychotherapy_note_id, "overwritten", 1).await, Err(StoreError::NotFound)));
        }
    }

    async fn the_supervisor_reads_but_only_the_author_edits_and_every_version_is_kept(db) {
        let s = setting(&db, "pn-edit").await;
        let p = &s.p;
        let (trainee, sup) = (p.as_user(&p.trainee), p.as_user(&p.supervisor));
        let n = write(&db, p, &p.trainee, s.client, "First impressions.").await;
        let id = n.psychotherapy_note_id;

        // The supervisor may read but not edit; nobody else even finds it.
        assert!(matches!(db.store.update_psychotherapy_note(&sup, id, "Supervisor's rewrite.", 1).await, Err(StoreError::State(_))));
        for actor in [p.as_user(&p.other_clinician), p.as_user(&s.front_desk), p.admin.clone()] {
            assert!(matches!(db.store.update_psychotherapy_note(&actor, id, "Not theirs.", 1).await, Err(StoreError::NotFound)));
        }
        assert!(matches!(db.store.update_psychotherapy_note(&Actor::system(p.id), id, "Machine text.", 1).await, Err(StoreError::Invalid(_))));
        assert_eq!(db.store.get_psychotherapy_note(&trainee, id).await.expect("get"), n, "refused edits changed nothing");

        // The author edits with the version they read; a stale version conflicts.
        let n2 = db.store.update_psychotherapy_note(&trainee, id, "Second thoughts.", 1).await.expect("edit");
        assert_eq!((n2.version, n2.body.as_str(), n2.created_at), (2, "Second thoughts.", n.created_at));
        assert!(n2.updated_at >= n.updated_at);
        match db.store.update_psychotherapy_note(&trainee, id, "Lost update.", 1).await {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "version"),
            other => panic!("expected a version conflict, got {other:?}"),
        }
        assert!(matches!(db.store.update_psychotherapy_note(&trainee, id, "  ", 2).await, Err(StoreError::Invalid(_))));
        assert_eq!(db.store.get_psychotherapy_note(&sup, id).await.expect("supervisor reads the edit"), n2);
        assert_eq!(db.store.list_psychotherapy_notes(&sup, s.client).await.expect("list")[0].version, 2);

        // Every version is kept, and the history and the ownership cannot be rewritten.
        let uuid = id.as_uuid();
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM psychotherapy_note_version WHERE version IN (1, 2)").await, 2, "one note, both versions");
        assert!(db.raw_ids("UPDATE psychotherapy_note_version SET version = 9 WHERE psychotherapy_note_id = $1", &[uuid]).await.is_err(), "versions are append-only");
        assert!(db.raw_ids("DELETE FROM psychotherapy_note_version WHERE psychotherapy_note_id = $1", &[uuid]).await.is_err(), "versions are kept");
        let err = db.raw_ids("UPDATE psychotherapy_note SET author_id = $2 WHERE psychotherapy_note_id = $1", &[uuid, p.other_clinician.user_id.as_uuid()]).await.expect_err("trigger refuses");
        assert!(err.to_string().contains("author, client and key are fixed"), "{err}");
        assert!(matches!(db.store.get_psychotherapy_note(&p.as_user(&p.other_clinician), id).await, Err(StoreError::NotFound)));
    }

    async fn a_psychotherapy_note_needs_a_person_a_visible_client_and_sane_text(db) {
        let s = setting(&db, "pn-new").await;
        let p = &s.p;
        let stranger = db.store.create_client(&p.admin, &client("Una", "Seen", Some(p.clinician.user_id))).await.expect("client");
        let me = p.as_user(&p.trainee);
        let team = Practice::team(&p.trainee);
        assert!(matches!(db.store.create_psychotherapy_note(&Actor::system(p.id), ClientScope::Practice, s.client, None, "text").await, Err(StoreError::Invalid(_))));
        assert!(matches!(db.store.create_psychotherapy_note(&me, team, s.client, None, " \n ").await, Err(StoreError::Invalid(_))));
        let huge = "x".repeat(MAX_PSYCHOTHERAPY_NOTE_BYTES + 1);
        assert!(matches!(db.store.create_psychotherapy_note(&me, team, s.client, None, &huge).await, Err(StoreError::Invalid(_))));
        assert!(matches!(db.store.create_psychotherapy_note(&me, team, stranger.client_id, None, "not my client").await, Err(StoreError::NotFound)));
        // An appointment must be one of this client's.
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).single().expect("time");
        let d = |c: ClientId| AppointmentDetails {
            clinician_id: p.trainee.user_id,
            client_ids: vec![c],
            starts_at: start,
            ends_at: start + Duration::minutes(53),
            time_zone: tz("America/New_York"),
            modality: Modality::InPerson,
            location: None,
            join_link: None,
            service_code: Some("90837".into()),
        };
        let other_visit = db.store.create_appointment(&p.admin, ClientScope::Practice, &d(stranger.client_id)).await.expect("appointment");
        assert!(matches!(db.store.create_psychotherapy_note(&me, team, s.client, Some(other_visit.appointment_id), "wrong visit").await, Err(StoreError::NotFound)));
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM psychotherapy_note").await, 0, "nothing refused was written");
        let visit = db.store.create_appointment(&p.admin, ClientScope::Practice, &d(s.client)).await.expect("appointment");
        let n = db.store.create_psychotherapy_note(&me, team, s.client, Some(visit.appointment_id), "About this session.").await.expect("create");
        assert_eq!(db.store.get_psychotherapy_note(&me, n.psychotherapy_note_id).await.expect("get").appointment_id, Some(visit.appointment_id));
    }

    async fn psychotherapy_notes_are_sealed_under_their_own_keys_and_never_listed_as_progress_notes(db) {
        let s = setting(&db, "pn-apart").await;
        let p = &s.p;
        let phrase = "the quietly furious cartographer";
        let n = write(&db, p, &p.trainee, s.client, &format!("I notice {phrase} in myself.")).await;
        let n = db.store.update_psychotherapy_note(&p.as_user(&p.trainee), n.psychotherapy_note_id, &format!("Again: {phrase}."), 1).await.expect("edit");
        let other = write(&db, p, &p.trainee, s.client, "Another session.").await;
        let progress = db
            .store
            .create_note(&p.as_user(&p.trainee), Practice::team(&p.trainee), &NewNote { client_id: s.client, appointment_id: None, format: "DAP".into(), body: "D: attended.".into() })
            .await
            .expect("progress note");

        // Progress-note queries know nothing of them, whoever asks.
        for (actor, scope) in [(p.as_user(&p.trainee), Practice::team(&p.trainee)), (p.admin.clone(), ClientScope::Practice)] {
            let listed = db.store.list_notes(&actor, scope, s.client).await.expect("list notes");
            assert_eq!(listed.iter().map(|n| n.note_id).collect::<Vec<_>>(), vec![progress.summary.note_id]);
            let as_note = NoteId::from_uuid(n.psychotherapy_note_id.as_uuid());
            assert!(matches!(db.store.get_note(&actor, scope, as_note).await, Err(StoreError::NotFound)));
        }

        // Each note has its own data key: not the client's, not another note's.
        assert_eq!(db.raw_i64("SELECT COUNT(DISTINCT data_key_id) FROM psychotherapy_note").await, 2);
        assert_eq!(
            db.raw_i64("SELECT COUNT(*) FROM psychotherapy_note p WHERE p.data_key_id IN (SELECT data_key_id FROM client UNION SELECT data_key_id FROM note)").await,
            0
        );

        // Sealed at rest, current text and every version.
        let stored = [db.raw_blobs("SELECT body FROM psychotherapy_note").await, db.raw_blobs("SELECT body FROM psychotherapy_note_version").await].concat();
        assert_eq!(stored.len(), 2 + 3, "two notes, three versions");
        for b in &stored {
            assert!(!contains(b, phrase.as_bytes()) && !contains(b, b"cartographer"), "a body is sealed");
        }
        assert!(db.store.get_psychotherapy_note(&p.as_user(&p.trainee), n.psychotherapy_note_id).await.expect("get").body.contains(phrase), "and opens again");
        let _ = other;
        match db.backend {
            Backend::Sqlite => {
                db.store.close().await;
                let mut scanned = 0;
                for suffix in ["", "-wal", "-shm"] {
                    if let Ok(bytes) = std::fs::read(db.dir.path().join(format!("hearth.db{suffix}"))) {
                        scanned += bytes.len();
                        assert!(!contains(&bytes, b"cartographer"), "the phrase is in hearth.db{suffix}");
                    }
                }
                assert!(scanned > 10_000, "the database files were read ({scanned} bytes)");
            }
            Backend::Postgres => {
                for t in ["psychotherapy_note", "psychotherapy_note_version", "audit_event", "data_key"] {
                    for row in db.pg_rows_as_text(t).await {
                        assert!(!row.contains("cartographer") && !row.contains(&hex::encode("cartographer")), "the phrase is in {t}");
                    }
                }
            }
        }
    }

    async fn every_psychotherapy_note_access_is_audited_and_a_refused_one_writes_nothing(db) {
        let s = setting(&db, "pn-audit").await;
        let p = &s.p;
        let (trainee, sup) = (p.as_user(&p.trainee), p.as_user(&p.supervisor));
        let n = write(&db, p, &p.trainee, s.client, "Audited thoughts.").await;
        let id = n.psychotherapy_note_id;
        db.store.get_psychotherapy_note(&trainee, id).await.expect("read");
        db.store.list_psychotherapy_notes(&trainee, s.client).await.expect("list");
        db.store.update_psychotherapy_note(&trainee, id, "Audited second thoughts.", 1).await.expect("update");
        db.store.get_psychotherapy_note(&sup, id).await.expect("supervisor reads");
        let (t, u) = (Some(p.trainee.user_id), Some(p.supervisor.user_id));
        let expected = vec![
            ("psychotherapy_note.create".to_owned(), t),
            ("psychotherapy_note.read".to_owned(), t),
            ("psychotherapy_note.list".to_owned(), t),
            ("psychotherapy_note.update".to_owned(), t),
            ("psychotherapy_note.read".to_owned(), u),
        ];
        assert_eq!(actions(&db, p, id).await, expected);

        // Refused calls return nothing and write no event of their own about the note (the
        // HTTP layer records denials); a listing that finds none is recorded against the client.
        let _ = db.store.get_psychotherapy_note(&p.admin, id).await.expect_err("refused");
        let _ = db.store.update_psychotherapy_note(&sup, id, "Supervisor's rewrite.", 2).await.expect_err("refused");
        assert_eq!(actions(&db, p, id).await, expected);
        let colleague = p.as_user(&p.other_clinician);
        assert_eq!(db.store.list_psychotherapy_notes(&colleague, s.client).await.expect("list"), vec![]);
        let on_client = db.store.audit_events_for_object(&p.admin, "client", &s.client.to_string()).await.expect("events");
        assert!(on_client.iter().any(|e| e.action == "psychotherapy_note.list" && e.user_id == Some(p.other_clinician.user_id)), "the empty listing is recorded");
        assert!(matches!(db.store.verify_audit().await.expect("verify"), store::AuditReport::Intact { .. }));
    }
}
