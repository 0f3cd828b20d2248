//! Clients: round trip, blind-index search, phone lookup, practice isolation, ClientScope.

use chrono::NaiveDate;
use store::{
    ClientScope, StoreError,
    clients::{ContactDetails, ClientDetails},
};

use crate::common::{both, client, email, phone, practice, Practice};

fn full(clinician: Option<store::UserId>) -> ClientDetails {
    ClientDetails {
        preferred_name: Some("Quill".into()),
        date_of_birth: NaiveDate::from_ymd_opt(1983, 7, 14),
        phone: Some(phone("+15557654321")),
        email: Some(email("quillonia@example.org")),
        telegram_chat_id: Some(987654321),
        contacts: vec![
            ContactDetails { name: "Ottoline Brackenbury".into(), relation: "mother".into(), phone: Some(phone("+15557650000")), email: None, receives_reminders: true },
            ContactDetails { name: "Ezra Brackenbury".into(), relation: "father".into(), phone: None, email: Some(email("ezra@example.org")), receives_reminders: false },
        ],
        ..client("Quillonia", "Brackenbury-Ótëz", clinician)
    }
}

both! {
    async fn a_client_round_trips_through_create_get_update_list_and_delete(db) {
        let p = practice(&db.store, "cl").await;
        let d = full(Some(p.clinician.user_id));
        let c = db.store.create_client(&p.admin, &d).await.expect("create");
        assert_eq!((c.first_name.as_str(), c.last_name.as_str(), c.preferred_name.as_deref()), ("Quillonia", "Brackenbury-Ótëz", Some("Quill")));
        assert_eq!(c.date_of_birth, d.date_of_birth);
        assert_eq!((c.phone.clone(), c.email.clone(), c.telegram_chat_id), (d.phone.clone(), d.email.clone(), d.telegram_chat_id));
        assert_eq!(c.contacts.iter().map(|x| x.details.clone()).collect::<Vec<_>>(), d.contacts);
        let got = db.store.get_client(&p.admin, ClientScope::Practice, c.client_id).await.expect("get");
        assert_eq!(got, c);
        let upd = ClientDetails { last_name: "Marchetti".into(), phone: None, contacts: vec![], texting_consent: false, ..d.clone() };
        let after = db.store.update_client(&p.admin, ClientScope::Practice, c.client_id, &upd).await.expect("update");
        assert_eq!((after.last_name.as_str(), after.phone.clone(), after.contacts.len(), after.texting_consent), ("Marchetti", None, 0, false));
        assert_eq!(db.store.get_client(&p.admin, ClientScope::Practice, c.client_id).await.expect("get"), after);
        let second = db.store.create_client(&p.admin, &client("Rupert", "Vane", None)).await.expect("second");
        let listed = db.store.list_clients(&p.admin, ClientScope::Practice).await.expect("list");
        assert_eq!(listed.iter().map(|x| x.client_id).collect::<Vec<_>>(), vec![c.client_id, second.client_id]);
        db.store.delete_client(&p.admin, ClientScope::Practice, second.client_id).await.expect("delete");
        assert!(matches!(db.store.get_client(&p.admin, ClientScope::Practice, second.client_id).await, Err(StoreError::NotFound)));
        let bad = ClientDetails { first_name: " ".into(), ..d };
        assert!(matches!(db.store.create_client(&p.admin, &bad).await, Err(StoreError::Invalid(_))));
    }

    async fn clients_are_found_by_whole_name_prefix_and_accent_folded_words(db) {
        let p = practice(&db.store, "search").await;
        let q = db.store.create_client(&p.admin, &full(None)).await.expect("create");
        let r = db.store.create_client(&p.admin, &client("Quentin", "Brack", None)).await.expect("create");
        let ids = |v: Vec<store::clients::Client>| v.into_iter().map(|c| c.client_id).collect::<Vec<_>>();
        let s = |query: &'static str| db.store.search_clients(&p.admin, ClientScope::Practice, query);
        assert_eq!(ids(s("Quillonia").await.expect("search")), vec![q.client_id]);
        assert_eq!(ids(s("qui").await.expect("search")), vec![q.client_id], "prefix of the first name");
        assert_eq!(ids(s("bra").await.expect("search")), vec![q.client_id, r.client_id], "both last names start with bra");
        assert_eq!(ids(s("brack QUE").await.expect("search")), vec![r.client_id], "every word must match");
        assert_eq!(ids(s("otez").await.expect("search")), vec![q.client_id], "accents are folded");
        assert_eq!(ids(s("Ótëz").await.expect("search")), vec![q.client_id]);
        assert!(s("zzz").await.expect("search").is_empty());
        assert!(matches!(s("  ").await, Err(StoreError::Invalid(_))));
        let upd = ClientDetails { first_name: "Winifred".into(), preferred_name: None, ..full(None) };
        db.store.update_client(&p.admin, ClientScope::Practice, q.client_id, &upd).await.expect("rename");
        assert!(s("quill").await.expect("search").is_empty(), "old name tokens are gone after a rename");
        assert_eq!(ids(s("winif").await.expect("search")), vec![q.client_id]);
    }

    async fn a_client_is_found_by_phone_number(db) {
        let p = practice(&db.store, "phone").await;
        let c = db.store.create_client(&p.admin, &full(None)).await.expect("create");
        let found = db.store.find_clients_by_phone(&p.admin, &phone("+15557654321")).await.expect("lookup");
        assert_eq!(found.iter().map(|x| x.client_id).collect::<Vec<_>>(), vec![c.client_id]);
        assert!(db.store.find_clients_by_phone(&p.admin, &phone("+15557654322")).await.expect("lookup").is_empty());
    }

    async fn another_practices_client_is_not_found_for_any_operation(db) {
        let a = practice(&db.store, "iso-a").await;
        let b = practice(&db.store, "iso-b").await;
        let c = db.store.create_client(&a.admin, &full(None)).await.expect("create");
        let s = ClientScope::Practice;
        assert!(matches!(db.store.get_client(&b.admin, s, c.client_id).await, Err(StoreError::NotFound)));
        assert!(matches!(db.store.update_client(&b.admin, s, c.client_id, &full(None)).await, Err(StoreError::NotFound)));
        assert!(matches!(db.store.delete_client(&b.admin, s, c.client_id).await, Err(StoreError::NotFound)));
        assert!(matches!(db.store.share_client(&b.admin, s, c.client_id, b.clinician.user_id).await, Err(StoreError::NotFound)));
        assert!(db.store.list_clients(&b.admin, s).await.expect("list").is_empty());
        assert!(db.store.search_clients(&b.admin, s, "quillonia").await.expect("search").is_empty());
        assert!(db.store.find_clients_by_phone(&b.admin, &phone("+15557654321")).await.expect("lookup").is_empty());
        // And a's own clinician cannot be made primary clinician in b.
        let cross = client("X", "Y", Some(a.clinician.user_id));
        assert!(matches!(db.store.create_client(&b.admin, &cross).await, Err(StoreError::Invalid(_))));
    }

    async fn care_team_scope_covers_primary_shared_and_supervised_clients_and_get_agrees_with_list(db) {
        let p = practice(&db.store, "scope").await;
        let own = db.store.create_client(&p.admin, &client("Own", "Client", Some(p.clinician.user_id))).await.expect("own");
        let shared = db.store.create_client(&p.admin, &client("Shared", "Client", Some(p.other_clinician.user_id))).await.expect("shared");
        let trainees = db.store.create_client(&p.admin, &client("Trainees", "Client", Some(p.trainee.user_id))).await.expect("trainee's");
        let unrelated = db.store.create_client(&p.admin, &client("Unrelated", "Client", Some(p.other_clinician.user_id))).await.expect("unrelated");
        db.store.share_client(&p.admin, ClientScope::Practice, shared.client_id, p.clinician.user_id).await.expect("share");
        assert_eq!(db.store.client_shares(&p.admin, ClientScope::Practice, shared.client_id).await.expect("shares"), vec![p.clinician.user_id]);

        let visible = |u: &store::users::StaffUser| {
            let (actor, scope) = (p.as_user(u), Practice::team(u));
            let store = db.store.clone();
            async move { store.list_clients(&actor, scope).await.expect("list").into_iter().map(|c| c.client_id).collect::<Vec<_>>() }
        };
        assert_eq!(visible(&p.clinician).await, vec![own.client_id, shared.client_id]);
        assert_eq!(visible(&p.supervisor).await, vec![trainees.client_id], "a supervisor sees their trainees' clients");
        assert_eq!(visible(&p.other_clinician).await, vec![shared.client_id, unrelated.client_id]);
        for c in [own.client_id, shared.client_id, trainees.client_id, unrelated.client_id] {
            let listed = visible(&p.clinician).await.contains(&c);
            let got = db.store.get_client(&p.as_user(&p.clinician), Practice::team(&p.clinician), c).await;
            assert_eq!(listed, got.is_ok(), "get and list agree for {c}");
            if !listed {
                assert!(matches!(got, Err(StoreError::NotFound)));
            }
        }
        let found = db.store.search_clients(&p.as_user(&p.clinician), Practice::team(&p.clinician), "client").await.expect("search");
        assert_eq!(found.len(), 2, "search is scoped too");
        db.store.unshare_client(&p.admin, ClientScope::Practice, shared.client_id, p.clinician.user_id).await.expect("unshare");
        assert_eq!(visible(&p.clinician).await, vec![own.client_id]);
    }

    async fn a_client_with_retained_records_cannot_be_deleted(db) {
        use store::messages::{Direction, MessageStatus, NewMessage};
        let p = practice(&db.store, "del").await;
        let c = db.store.create_client(&p.admin, &client("Keep", "Me", None)).await.expect("create");
        db.store.record_message(&p.admin, ClientScope::Practice, &NewMessage { client_id: c.client_id, direction: Direction::Outbound, channel: store::clients::Channel::Portal, body: "hello".into(), status: MessageStatus::Queued, provider_id: None }).await.expect("message");
        assert!(matches!(db.store.delete_client(&p.admin, ClientScope::Practice, c.client_id).await, Err(StoreError::State(_))));
        assert!(db.store.get_client(&p.admin, ClientScope::Practice, c.client_id).await.is_ok());
    }
}
