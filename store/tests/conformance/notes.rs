//! Notes: drafts with versions, signing locks the body (API and trigger), addenda, co-signing.

use store::{
    Actor, ClientScope, StoreError,
    notes::{NewNote, NoteStatus},
};

use crate::common::{both, client, practice, Practice};

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
}
