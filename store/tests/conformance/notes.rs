//! Notes: drafts with versions, signing locks the body (API and trigger), addenda, co-signing,
//! returning a signed note with comments, and the review lists.

use store::{
    Actor, Backend, ClientId, ClientScope, NoteId, Store, StoreError, UserId,
    notes::{MAX_UNSIGNED_AUTHORS, NewNote, Note, NoteStatus, NoteSummary},
    users::{Role, StaffUser},
};

use crate::common::{both, client, new_user, practice, Practice};

async fn draft(store: &Store, p: &Practice, by: &StaffUser, client: ClientId, body: &str) -> Note {
    store
        .create_note(&p.as_user(by), ClientScope::Practice, &NewNote { client_id: client, appointment_id: None, format: "DAP".into(), body: body.into() })
        .await
        .expect("create note")
}

async fn signed(store: &Store, p: &Practice, by: &StaffUser, client: ClientId, body: &str) -> NoteId {
    let id = draft(store, p, by, client, body).await.summary.note_id;
    store.sign_note(&p.as_user(by), ClientScope::Practice, id).await.expect("sign note");
    id
}

fn ids(notes: &[NoteSummary]) -> Vec<NoteId> {
    notes.iter().map(|n| n.note_id).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn actions(store: &Store, p: &Practice, note: NoteId) -> Vec<String> {
    store.audit_events_for_object(&p.admin, "note", &note.to_string()).await.expect("audit events").into_iter().map(|e| e.action).collect()
}

fn state_or_not_found<T: std::fmt::Debug>(r: store::Result<T>) -> bool {
    matches!(r, Err(StoreError::State(_)) | Err(StoreError::NotFound))
}

both! {
    async fn a_draft_keeps_every_version_and_a_signed_note_cannot_change(db) {
        let p = practice(&db.store, "notes").await;
        let c = db.store.create_client(&p.admin, &client("Nora", "Note", Some(p.clinician.user_id))).await.expect("client");
        let me = p.as_user(&p.clinician);
        let scope = Practice::team(&p.clinician);
        let n = db.store.create_note(&me, scope, &NewNote { client_id: c.client_id, appointment_id: None, format: "SOAP".into(), body: "S: first draft".into() }).await.expect("create");
        assert_eq!((n.summary.status, n.summary.version, n.summary.author_id), (NoteStatus::Draft, 1, p.clinician.user_id));
        let n2 = db.store.update_note_body(&me, scope, n.summary.note_id, "S: second draft", 1).await.expect("edit");
        assert_eq!(n2.summary.version, 2);
        match db.store.update_note_body(&me, scope, n.summary.note_id, "S: stale", 1).await {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "version"),
            other => panic!("expected a version conflict, got {other:?}"),
        }
        let versions = db.store.note_versions(&me, scope, n.summary.note_id).await.expect("versions");
        assert_eq!(versions.iter().map(|v| (v.version, v.body.as_str())).collect::<Vec<_>>(), vec![(1, "S: first draft"), (2, "S: second draft")]);
        let signed = db.store.sign_note(&me, scope, n.summary.note_id).await.expect("sign");
        assert_eq!((signed.summary.status, signed.summary.signed_by), (NoteStatus::Signed, Some(p.clinician.user_id)));
        assert_eq!(db.store.get_note(&me, scope, n.summary.note_id).await.expect("get"), signed);

        // The API refuses to edit or re-sign.
        assert!(matches!(db.store.update_note_body(&me, scope, n.summary.note_id, "S: rewritten", 2).await, Err(StoreError::State(_))));
        assert!(matches!(db.store.sign_note(&me, scope, n.summary.note_id).await, Err(StoreError::State(_))));
        // The database refuses a raw UPDATE of the body, even with valid ciphertext from another row.
        let err = db.raw_ids("UPDATE note SET body = (SELECT body FROM note_version WHERE note_id = $1 AND version = 1) WHERE note_id = $1", &[n.summary.note_id.as_uuid()]).await.expect_err("trigger refuses");
        assert!(err.to_string().contains("signed note is immutable"), "{err}");
        let err = db.raw_ids("UPDATE note SET status = 'draft' WHERE note_id = $1", &[n.summary.note_id.as_uuid()]).await.expect_err("trigger refuses");
        assert!(err.to_string().contains("immutable"), "{err}");
        assert!(db.raw_ids("UPDATE note_version SET version = 9 WHERE note_id = $1", &[n.summary.note_id.as_uuid()]).await.is_err(), "versions are append-only");
        assert_eq!(db.store.get_note(&me, scope, n.summary.note_id).await.expect("get").body, "S: second draft");

        // Addenda append.
        let a1 = db.store.add_addendum(&me, scope, n.summary.note_id, "Correction: session was 53 minutes.").await.expect("addendum");
        let a2 = db.store.add_addendum(&me, scope, n.summary.note_id, "Client called afterwards.").await.expect("addendum");
        let addenda = db.store.list_addenda(&me, scope, n.summary.note_id).await.expect("list");
        assert_eq!(addenda, vec![a1, a2]);
    }

    async fn only_the_trainees_supervisor_can_cosign_and_the_system_never_signs(db) {
        let p = practice(&db.store, "cosign").await;
        let c = db.store.create_client(&p.admin, &client("Tess", "Trainee", Some(p.trainee.user_id))).await.expect("client");
        let trainee = p.as_user(&p.trainee);
        let n = db.store.create_note(&trainee, Practice::team(&p.trainee), &NewNote { client_id: c.client_id, appointment_id: None, format: "DAP".into(), body: "D: draft".into() }).await.expect("create");
        let id = n.summary.note_id;
        assert!(matches!(db.store.cosign_note(&p.as_user(&p.supervisor), Practice::team(&p.supervisor), id).await, Err(StoreError::State(_))), "a draft cannot be co-signed");
        let system = Actor::system(p.id);
        assert!(matches!(db.store.sign_note(&system, ClientScope::Practice, id).await, Err(StoreError::Invalid(_))), "the system never signs");
        db.store.sign_note(&trainee, Practice::team(&p.trainee), id).await.expect("sign");
        assert!(matches!(db.store.cosign_note(&p.as_user(&p.clinician), ClientScope::Practice, id).await, Err(StoreError::State(_))), "not the supervisor");
        let done = db.store.cosign_note(&p.as_user(&p.supervisor), Practice::team(&p.supervisor), id).await.expect("cosign");
        assert_eq!((done.summary.status, done.summary.cosigned_by), (NoteStatus::Cosigned, Some(p.supervisor.user_id)));
        // Listing returns metadata without bodies, scoped like clients.
        let listed = db.store.list_notes(&p.admin, ClientScope::Practice, c.client_id).await.expect("list");
        assert_eq!(listed, vec![done.summary.clone()]);
        assert_eq!(db.store.get_note_summary(&p.admin, ClientScope::Practice, id).await.expect("summary"), done.summary);
        assert!(matches!(db.store.get_note(&p.as_user(&p.other_clinician), Practice::team(&p.other_clinician), id).await, Err(StoreError::NotFound)));
        let q = practice(&db.store, "cosign2").await;
        assert!(matches!(db.store.get_note(&q.admin, ClientScope::Practice, id).await, Err(StoreError::NotFound)));
    }

    async fn a_supervisor_returns_a_signed_note_with_comments_and_cosigns_after_the_trainees_addendum(db) {
        // Arrange: a trainee's client, two signed notes by the trainee and one by a clinician
        // with no supervisor.
        let p = practice(&db.store, "return").await;
        let c = db.store.create_client(&p.admin, &client("Rhea", "Return", Some(p.trainee.user_id))).await.expect("client");
        let trainee = p.as_user(&p.trainee);
        let sup = p.as_user(&p.supervisor);
        let (t_scope, s_scope) = (Practice::team(&p.trainee), Practice::team(&p.supervisor));
        let body = "D: client described the violet lighthouse dream again.";
        let comment = "Please document the safety screen you did for the lighthouse dream.";
        let id = draft(&db.store, &p, &p.trainee, c.client_id, body).await.summary.note_id;
        assert!(matches!(db.store.return_note(&sup, s_scope, id, comment).await, Err(StoreError::State(_))), "a draft cannot be returned");
        let at_signing = db.store.sign_note(&trainee, t_scope, id).await.expect("sign").summary;
        let later = signed(&db.store, &p, &p.trainee, c.client_id, "D: a later session.").await;
        let other_client = db.store.create_client(&p.admin, &client("Cleo", "Clinician", Some(p.clinician.user_id))).await.expect("client");
        let not_a_trainees = signed(&db.store, &p, &p.clinician, other_client.client_id, "D: not a trainee's note.").await;
        assert_eq!(ids(&db.store.cosign_queue(&sup, s_scope, p.supervisor.user_id).await.expect("queue")), vec![id, later], "oldest signed first, only the supervisor's trainees");
        assert_eq!(ids(&db.store.cosign_queue(&p.admin, ClientScope::Practice, p.supervisor.user_id).await.expect("queue")), vec![id, later]);

        // Not the supervisor: refused whether or not the note is in the actor's scope.
        let other = p.as_user(&p.other_clinician);
        assert!(state_or_not_found(db.store.return_note(&other, ClientScope::Practice, id, comment).await), "another clinician cannot return it");
        assert!(state_or_not_found(db.store.return_note(&other, Practice::team(&p.other_clinician), id, comment).await));
        assert!(state_or_not_found(db.store.return_note(&trainee, t_scope, id, comment).await), "nor can its author");
        assert!(matches!(db.store.return_note(&Actor::system(p.id), ClientScope::Practice, id, comment).await, Err(StoreError::Invalid(_))), "the system never reviews");
        assert!(matches!(db.store.return_note(&sup, s_scope, id, "  ").await, Err(StoreError::Invalid(_))), "a comment is required");
        assert!(db.store.note_returns(&sup, s_scope, id).await.expect("returns").is_empty(), "nothing was recorded by refused calls");

        // Act: the supervisor returns it.
        let r = db.store.return_note(&sup, s_scope, id, comment).await.expect("return");
        assert_eq!((r.note_id, r.reviewer_id, r.comment.as_str(), r.resolved_at), (id, p.supervisor.user_id, comment, None));
        assert!(!format!("{r:?}").contains("safety screen"), "Debug hides the comment");
        assert!(matches!(db.store.return_note(&sup, s_scope, id, "And another thing.").await, Err(StoreError::State(_))), "one open return at a time");
        assert_eq!(db.store.note_returns(&trainee, t_scope, id).await.expect("returns"), vec![r.clone()]);

        // The returned note leaves the queue and waits in the trainee's list; co-signing waits.
        assert_eq!(ids(&db.store.cosign_queue(&sup, s_scope, p.supervisor.user_id).await.expect("queue")), vec![later]);
        assert_eq!(ids(&db.store.returned_notes(&trainee, t_scope, p.trainee.user_id).await.expect("returned")), vec![id]);
        assert!(db.store.returned_notes(&sup, s_scope, p.clinician.user_id).await.expect("returned").is_empty());
        match db.store.cosign_note(&sup, s_scope, id).await {
            Err(StoreError::State(m)) => assert!(m.contains("returned"), "{m}"),
            other => panic!("co-signing a returned note must wait, got {other:?}"),
        }
        let err = db.raw_ids("UPDATE note SET status = 'cosigned' WHERE note_id = $1", &[id.as_uuid()]).await.expect_err("trigger refuses");
        assert!(err.to_string().contains("returned"), "{err}");

        // The comment is sealed at rest, and a return is append-only.
        let stored = db.raw_blobs("SELECT comment FROM note_return").await;
        assert_eq!(stored.len(), 1);
        assert!(!contains(&stored[0], b"safety screen"), "the comment is sealed");
        let err = db.raw_ids("UPDATE note_return SET comment = comment || comment WHERE note_id = $1", &[id.as_uuid()]).await.expect_err("the comment cannot be rewritten");
        assert!(err.to_string().contains("append-only"), "{err}");

        // The supervisor's own addendum does not answer the return; the author's does.
        db.store.add_addendum(&sup, s_scope, id, "Supervisor: see my comment.").await.expect("supervisor addendum");
        assert_eq!(ids(&db.store.returned_notes(&trainee, t_scope, p.trainee.user_id).await.expect("returned")), vec![id]);
        let answer = db.store.add_addendum(&trainee, t_scope, id, "Addendum: C-SSRS screen negative; safety plan reviewed.").await.expect("addendum");
        let returns = db.store.note_returns(&sup, s_scope, id).await.expect("returns");
        assert_eq!(returns.len(), 1);
        assert_eq!(returns[0].resolved_at, Some(answer.created_at), "resolved by the author's addendum");
        assert!(db.store.returned_notes(&trainee, t_scope, p.trainee.user_id).await.expect("returned").is_empty());
        assert_eq!(ids(&db.store.cosign_queue(&sup, s_scope, p.supervisor.user_id).await.expect("queue")), vec![id, later], "back in the queue");
        let err = db.raw_ids("UPDATE note_return SET resolved_at = NULL, resolving_addendum_id = NULL WHERE note_id = $1", &[id.as_uuid()]).await.expect_err("resolved once");
        assert!(err.to_string().contains("append-only"), "{err}");

        // Co-signing now works, and the note itself never changed.
        let done = db.store.cosign_note(&sup, s_scope, id).await.expect("cosign");
        assert_eq!((done.summary.status, done.summary.version, done.body.as_str()), (NoteStatus::Cosigned, 1, body));
        assert_eq!(db.store.note_versions(&sup, s_scope, id).await.expect("versions").iter().map(|v| (v.version, v.body.as_str())).collect::<Vec<_>>(), vec![(1, body)]);
        assert_eq!((done.summary.signed_by, done.summary.signed_at, done.summary.format.as_str()), (at_signing.signed_by, at_signing.signed_at, "DAP"));
        assert!(matches!(db.store.return_note(&sup, s_scope, id, comment).await, Err(StoreError::State(_))), "a co-signed note cannot be returned");
        assert!(!ids(&db.store.cosign_queue(&sup, s_scope, p.supervisor.user_id).await.expect("queue")).contains(&not_a_trainees));

        // Audited in order.
        let acts = actions(&db.store, &p, id).await;
        let pos = |a: &str| acts.iter().position(|x| x == a).unwrap_or_else(|| panic!("{a} not audited in {acts:?}"));
        assert!(pos("note.sign") < pos("note.return") && pos("note.return") < pos("note.return_resolved") && pos("note.return_resolved") < pos("note.cosign"), "{acts:?}");
        assert!(acts.iter().filter(|a| *a == "note.read_returns").count() >= 3, "{acts:?}");
        assert!(acts.iter().filter(|a| *a == "note.list").count() >= 5, "each listing audits the note: {acts:?}");
        assert_eq!(acts.iter().filter(|a| *a == "note.return_resolved").count(), 1, "{acts:?}");
    }

    async fn the_database_refuses_a_return_of_a_note_that_is_not_awaiting_cosignature(db) {
        let p = practice(&db.store, "rawreturn").await;
        let c = db.store.create_client(&p.admin, &client("Dana", "Draft", Some(p.trainee.user_id))).await.expect("client");
        let d = draft(&db.store, &p, &p.trainee, c.client_id, "D: draft").await.summary.note_id;
        let insert = match db.backend {
            Backend::Sqlite => "INSERT INTO note_return (note_return_id, note_id, reviewer_id, comment, created_at) VALUES ($1, $2, $3, X'00', '2025-01-01T00:00:00+00:00')",
            Backend::Postgres => "INSERT INTO note_return (note_return_id, note_id, reviewer_id, comment, created_at) VALUES ($1, $2, $3, decode('00', 'hex'), '2025-01-01T00:00:00+00:00')",
        };
        let err = db.raw_ids(insert, &[uuid::Uuid::now_v7(), d.as_uuid(), p.supervisor.user_id.as_uuid()]).await.expect_err("trigger refuses a draft");
        assert!(err.to_string().contains("only a signed"), "{err}");
        db.store.sign_note(&p.as_user(&p.trainee), ClientScope::Practice, d).await.expect("sign");
        db.raw_ids(insert, &[uuid::Uuid::now_v7(), d.as_uuid(), p.supervisor.user_id.as_uuid()]).await.expect("a signed note can be returned");
        assert!(db.raw_ids(insert, &[uuid::Uuid::now_v7(), d.as_uuid(), p.supervisor.user_id.as_uuid()]).await.is_err(), "at most one open return per note");
    }

    async fn unsigned_notes_lists_only_the_given_authors_drafts_older_than_the_cutoff(db) {
        let p = practice(&db.store, "unsigned").await;
        let c = db.store.create_client(&p.admin, &client("Una", "Signed", Some(p.trainee.user_id))).await.expect("client");
        let old_trainee = draft(&db.store, &p, &p.trainee, c.client_id, "D: old trainee draft").await.summary.note_id;
        let old_clinician = draft(&db.store, &p, &p.clinician, c.client_id, "D: old clinician draft").await.summary.note_id;
        let old_other = draft(&db.store, &p, &p.other_clinician, c.client_id, "D: someone else's draft").await.summary.note_id;
        let old_signed = signed(&db.store, &p, &p.trainee, c.client_id, "D: signed in time").await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let cutoff = chrono::Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let recent = draft(&db.store, &p, &p.trainee, c.client_id, "D: written just now").await.summary.note_id;
        let authors = [p.trainee.user_id, p.clinician.user_id];

        let listed = db.store.unsigned_notes(&p.admin, ClientScope::Practice, &authors, cutoff).await.expect("unsigned");
        assert_eq!(ids(&listed), vec![old_trainee, old_clinician], "oldest first; not other authors, signed notes or recent drafts");
        assert!(listed.iter().all(|n| n.status == NoteStatus::Draft));
        let all = db.store.unsigned_notes(&p.admin, ClientScope::Practice, &authors, chrono::Utc::now() + chrono::Duration::seconds(1)).await.expect("unsigned");
        assert_eq!(ids(&all), vec![old_trainee, old_clinician, recent]);
        assert!(!ids(&all).contains(&old_other) && !ids(&all).contains(&old_signed));
        assert!(db.store.unsigned_notes(&p.admin, ClientScope::Practice, &authors, cutoff - chrono::Duration::hours(24)).await.expect("unsigned").is_empty());
        assert!(db.store.unsigned_notes(&p.admin, ClientScope::Practice, &[], cutoff).await.expect("unsigned").is_empty());
        // Scoped like every note query: the other clinician does not see the trainee's client.
        assert!(db.store.unsigned_notes(&p.as_user(&p.other_clinician), Practice::team(&p.other_clinician), &authors, cutoff).await.expect("unsigned").is_empty());
        let many: Vec<UserId> = (0..=MAX_UNSIGNED_AUTHORS).map(|_| UserId::new()).collect();
        assert!(matches!(db.store.unsigned_notes(&p.admin, ClientScope::Practice, &many, cutoff).await, Err(StoreError::Invalid(_))));
        // Another practice sees none of them.
        let q = practice(&db.store, "unsigned2").await;
        assert!(db.store.unsigned_notes(&q.admin, ClientScope::Practice, &authors, cutoff).await.expect("unsigned").is_empty());

        assert!(actions(&db.store, &p, old_trainee).await.contains(&"note.list".to_owned()), "each listed note is audited");
        assert!(!actions(&db.store, &p, old_other).await.contains(&"note.list".to_owned()), "unlisted notes are not");
    }

    async fn supervisees_are_the_users_a_supervisor_supervises_in_the_practice(db) {
        let p = practice(&db.store, "supervisees").await;
        let second = db.store.create_user(&p.admin, &new_user("trainee2@supervisees.example.org", "Another Trainee", &[Role::Trainee], Some(p.supervisor.user_id))).await.expect("trainee");
        let mut got = db.store.supervisees(&p.admin, p.supervisor.user_id).await.expect("supervisees");
        got.sort();
        let mut want = vec![p.trainee.user_id, second.user_id];
        want.sort();
        assert_eq!(got, want);
        assert!(db.store.supervisees(&p.admin, p.clinician.user_id).await.expect("supervisees").is_empty());
        assert!(matches!(db.store.supervisees(&p.admin, UserId::new()).await, Err(StoreError::NotFound)));
        let q = practice(&db.store, "supervisees2").await;
        assert!(matches!(db.store.supervisees(&q.admin, p.supervisor.user_id).await, Err(StoreError::NotFound)), "another practice's supervisor");
    }
}
