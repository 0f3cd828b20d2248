//! Opening a store: no silent creation, and a key file that does not belong to the database is
//! refused before any PHI is touched.

use store::{ClientScope, Store, StoreConfig, StoreError};

use crate::common::{both, client, practice};

#[tokio::test]
async fn a_mistyped_sqlite_path_is_refused_without_create_if_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = StoreConfig { database_url: format!("sqlite://{}", dir.path().join("hearht.db").display()), key_file: dir.path().join("keys.json"), create_if_missing: false };
    // The key file check comes first; create it so the database check is what fails.
    store::keyfile::Keyring::load_or_create(&config.key_file, true).expect("key file");
    let err = Store::open(&config).await.expect_err("refused");
    assert!(matches!(err, StoreError::Open(_)) && err.to_string().contains("create_if_missing"), "{err}");
    assert!(!dir.path().join("hearht.db").exists(), "nothing was created");
}

#[tokio::test]
async fn an_unknown_database_url_scheme_is_refused_with_the_accepted_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = StoreConfig { database_url: "mysql://localhost/hearth".into(), key_file: dir.path().join("keys.json"), create_if_missing: true };
    let err = Store::open(&config).await.expect_err("refused");
    assert!(err.to_string().contains("sqlite://") && err.to_string().contains("postgres://"), "{err}");
}

both! {
    async fn a_fresh_key_file_next_to_an_existing_database_is_refused_at_migrate(db) {
        let p = practice(&db.store, "keys").await;
        db.store.create_client(&p.admin, &client("Kept", "Secret", None)).await.expect("client");
        let other_keys = db.dir.path().join("other-keys.json");
        let s = Store::open(&StoreConfig { database_url: db.url.clone(), key_file: other_keys, create_if_missing: true }).await.expect("open");
        let err = s.migrate().await.expect_err("refused");
        assert!(matches!(err, StoreError::Key { .. }) && err.to_string().contains("master key"), "{err}");
        s.close().await;
        assert_eq!(db.store.list_clients(&p.admin, ClientScope::Practice).await.expect("list").len(), 1);
    }
}
