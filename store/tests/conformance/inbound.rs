//! Inbound messages on both backends: one row per provider message (webhook retries are
//! duplicates), matched to the practice's client by number, sealed at rest, scoped to the
//! practice, audited.

use store::{
    ClientScope,
    inbound::{InboundKind, NewInbound, Received},
    outbox::Recipient,
};

use crate::common::{both, client, phone, practice};

fn text(from: &str, sid: &str, body: &str) -> NewInbound {
    NewInbound { sender: Recipient::Sms(phone(from)), provider_id: sid.to_owned(), body: body.to_owned(), kind: InboundKind::Text }
}

both! {
    async fn a_provider_message_is_stored_once_and_matched_to_its_client(db) {
        let p = practice(&db.store, "in1").await;
        let mut details = client("Rowan", "Hale", Some(p.clinician.user_id));
        details.phone = Some(phone("+15550107001"));
        let c = db.store.create_client(&p.admin, &details).await.expect("client");

        let first = db.store.record_inbound(&p.admin, &text("+15550107001", "SMa", "see you then, the heron says hi")).await.expect("stored");
        let again = db.store.record_inbound(&p.admin, &text("+15550107001", "SMa", "see you then, the heron says hi")).await.expect("dedupe");
        let stranger = db.store.record_inbound(&p.admin, &text("+15550107002", "SMb", "who is this")).await.expect("stored");

        let Received::New { inbound_message_id, client_id } = first else { panic!("first delivery is new: {first:?}") };
        assert_eq!(client_id, Some(c.client_id));
        assert_eq!(again, Received::Duplicate { inbound_message_id });
        assert!(matches!(stranger, Received::New { client_id: None, .. }), "an unknown number matches nobody");
        let inbox = db.store.list_inbox(&p.admin, store::ClientScope::Practice, 10).await.expect("inbox");
        assert_eq!(inbox.len(), 2);
        let caseload = db.store.list_inbox(&p.admin, ClientScope::CareTeam(p.clinician.user_id), 10).await.expect("inbox");
        assert_eq!(caseload.iter().map(|m| m.client_id).collect::<Vec<_>>(), vec![Some(c.client_id)], "a caseload sees its client's text, not the unknown number's");
        let id = caseload[0].inbound_message_id;
        assert!(matches!(db.store.mark_inbound_read(&p.admin, ClientScope::CareTeam(store::UserId::from_uuid(uuid::Uuid::new_v4())), id).await, Err(store::StoreError::NotFound)), "outside the caseload");
        db.store.mark_inbound_read(&p.admin, ClientScope::CareTeam(p.clinician.user_id), id).await.expect("marked");
        assert_eq!(db.store.list_inbox(&p.admin, ClientScope::Practice, 10).await.expect("inbox").iter().find(|m| m.inbound_message_id == id).map(|m| m.status), Some(store::inbound::InboxStatus::Read));
        assert!(!db.raw_blobs("SELECT body FROM inbound_message").await.iter().any(|b| String::from_utf8_lossy(b).contains("heron")), "sealed at rest");

        let other = practice(&db.store, "in2").await;
        assert!(db.store.list_inbox(&other.admin, store::ClientScope::Practice, 10).await.expect("inbox").is_empty(), "another practice sees nothing");
        let _ = db.store.get_client(&p.admin, ClientScope::Practice, c.client_id).await.expect("still readable");
    }

    async fn bad_inbound_input_is_refused_with_a_reason(db) {
        let p = practice(&db.store, "in3").await;
        let mut long = text("+15550107001", "SMc", "x");
        long.body = "x".repeat(store::inbound::MAX_BODY_BYTES + 1);
        assert!(matches!(db.store.record_inbound(&p.admin, &long).await, Err(store::StoreError::Invalid(_))));
        assert!(matches!(db.store.record_inbound(&p.admin, &text("+15550107001", "", "x")).await, Err(store::StoreError::Invalid(_))));
        assert!(matches!(db.store.list_inbox(&p.admin, store::ClientScope::Practice, 0).await, Err(store::StoreError::Invalid(_))));
    }
}
