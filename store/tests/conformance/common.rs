//! Test harness: a fresh store per test on SQLite (temp dir) or PostgreSQL (a new schema in the
//! database at HEARTH_TEST_DATABASE_URL, dropped afterwards), raw SQL access for tampering, and
//! fixtures. `both!` instantiates each test for both backends (atuin's tests-database style).

use std::path::PathBuf;

use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use store::{
    Actor, Backend, ClientScope, Store, StoreConfig, TimeZoneName,
    clients::{ClientDetails, ContactDetails},
    practice::PracticeDetails,
    users::{NewStaffUser, Role, RoleSet, StaffUser},
    E164, EmailAddress, PracticeId, UserId,
};
use uuid::Uuid;

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Declares each test twice: `name::sqlite` and `name::postgres`.
macro_rules! both {
    ($(async fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $db = crate::common::TestDb::sqlite().await;
                $body
                $db.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $db = crate::common::TestDb::postgres().await;
                $body
                $db.cleanup().await;
            }
        }
    )*};
}
pub(crate) use both;

pub struct TestDb {
    pub store: Store,
    pub backend: Backend,
    pub url: String,
    pub key_file: PathBuf,
    pub dir: tempfile::TempDir,
    schema: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("hearth.db").display());
        Self::open(url, dir, None).await
    }

    pub async fn postgres() -> Self {
        let base = std::env::var("HEARTH_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.to_owned());
        let mut admin = PgConnection::connect(&base).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required for the store tests and is unreachable at {base} ({e}). Start it \
                 (e.g. `pg_ctlcluster 15 main start` or `docker run -e POSTGRES_HOST_AUTH_METHOD=trust -p 5432:5432 postgres:15`) \
                 or set HEARTH_TEST_DATABASE_URL."
            )
        });
        let schema = format!("hearth_test_{}", Uuid::new_v4().simple());
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await.expect("create test schema");
        admin.close().await.ok();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        let dir = tempfile::tempdir().expect("temp dir");
        Self::open(url, dir, Some((base, schema))).await
    }

    async fn open(url: String, dir: tempfile::TempDir, schema: Option<(String, String)>) -> Self {
        let key_file = dir.path().join("keys.json");
        let store = Store::open(&StoreConfig { database_url: url.clone(), key_file: key_file.clone(), create_if_missing: true }).await.expect("open store");
        store.migrate().await.expect("migrate");
        let backend = store.backend();
        Self { store, backend, url, key_file, dir, schema }
    }

    pub fn config(&self) -> StoreConfig {
        StoreConfig { database_url: self.url.clone(), key_file: self.key_file.clone(), create_if_missing: false }
    }

    /// A second handle on the same database and key file (another `serve` process).
    pub async fn reopen(&self) -> Store {
        let s = Store::open(&self.config()).await.expect("reopen store");
        s.migrate().await.expect("migrate again");
        s
    }

    /// Runs raw SQL (possibly several statements), bypassing the store.
    pub async fn raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut c = SqliteConnection::connect(&self.url).await?;
                Ok(sqlx::raw_sql(sql).execute(&mut c).await?.rows_affected())
            }
            Backend::Postgres => {
                let mut c = PgConnection::connect(&self.url).await?;
                Ok(sqlx::raw_sql(sql).execute(&mut c).await?.rows_affected())
            }
        }
    }

    /// Runs one raw statement with uuid binds (`$1`, `$2`, …).
    pub async fn raw_ids(&self, sql: &str, ids: &[Uuid]) -> Result<u64, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut c = SqliteConnection::connect(&self.url).await?;
                let mut q = sqlx::query(sql);
                for id in ids {
                    q = q.bind(*id);
                }
                Ok(q.execute(&mut c).await?.rows_affected())
            }
            Backend::Postgres => {
                let mut c = PgConnection::connect(&self.url).await?;
                let mut q = sqlx::query(sql);
                for id in ids {
                    q = q.bind(*id);
                }
                Ok(q.execute(&mut c).await?.rows_affected())
            }
        }
    }

    /// One integer from a raw query (e.g. a `COUNT(*)`), bypassing the store.
    pub async fn raw_i64(&self, sql: &str) -> i64 {
        let sql = AssertSqlSafe(sql.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut c = SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut c).await.expect("raw scalar")
            }
            Backend::Postgres => {
                let mut c = PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut c).await.expect("raw scalar")
            }
        }
    }

    /// The first column of every row of a raw query, as stored bytes (BLOB / bytea).
    pub async fn raw_blobs(&self, sql: &str) -> Vec<Vec<u8>> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut c = SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar::<_, Vec<u8>>(sql).fetch_all(&mut c).await.expect("raw blobs")
            }
            Backend::Postgres => {
                let mut c = PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar::<_, Vec<u8>>(sql).fetch_all(&mut c).await.expect("raw blobs")
            }
        }
    }

    /// Every row of `table` rendered as text by the database (PostgreSQL only): bytea shows
    /// as hex, so callers search for both plain and hex forms.
    pub async fn pg_rows_as_text(&self, table: &str) -> Vec<String> {
        let mut c = PgConnection::connect(&self.url).await.expect("connect");
        sqlx::query_scalar::<_, String>(AssertSqlSafe(format!("SELECT CAST(t AS text) FROM {table} t")))
            .fetch_all(&mut c)
            .await
            .expect("dump rows")
    }

    pub async fn cleanup(mut self) {
        self.store.close().await;
        if let Some((base, schema)) = self.schema.take() {
            drop_schema(&base, &schema).await;
        }
    }
}

async fn drop_schema(base: &str, schema: &str) {
    let mut admin = PgConnection::connect(base).await.expect("reconnect to drop the test schema");
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await.expect("drop test schema");
}

/// A failed test never reaches `cleanup`; drop its schema anyway (on a fresh runtime, since
/// the test's runtime is unwinding).
impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = self.schema.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(drop_schema(&base, &schema));
            })
            .join();
        }
    }
}

/// A practice with an admin, two clinicians, a supervisor and a trainee under them.
pub struct Practice {
    pub id: PracticeId,
    pub admin: Actor,
    pub clinician: StaffUser,
    pub other_clinician: StaffUser,
    pub supervisor: StaffUser,
    pub trainee: StaffUser,
}

impl Practice {
    pub fn as_user(&self, u: &StaffUser) -> Actor {
        Actor::user(self.id, u.user_id)
    }
    pub fn team(u: &StaffUser) -> ClientScope {
        ClientScope::CareTeam(u.user_id)
    }
}

pub fn tz(s: &str) -> TimeZoneName {
    TimeZoneName::parse(s).expect("valid zone")
}

pub fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("valid email")
}

pub fn phone(s: &str) -> E164 {
    E164::parse(s).expect("valid phone")
}

pub fn new_user(mail: &str, name: &str, roles: &[Role], supervisor: Option<UserId>) -> NewStaffUser {
    NewStaffUser {
        email: email(mail),
        display_name: name.to_owned(),
        roles: RoleSet::new(roles.iter().copied()),
        supervisor_id: supervisor,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
    }
}

pub async fn practice(store: &Store, tag: &str) -> Practice {
    let p = store
        .create_practice(&PracticeDetails { name: format!("Practice {tag}"), phone: None, time_zone: tz("America/Chicago"), settings: serde_json::json!({}) })
        .await
        .expect("create practice");
    let system = Actor::system(p.practice_id);
    let admin = store.create_user(&system, &new_user(&format!("admin@{tag}.example.org"), "Admin", &[Role::Admin], None)).await.expect("admin");
    let admin = Actor::user(p.practice_id, admin.user_id);
    let clinician = store.create_user(&admin, &new_user(&format!("clin@{tag}.example.org"), "Clin", &[Role::Clinician], None)).await.expect("clinician");
    let other_clinician = store.create_user(&admin, &new_user(&format!("other@{tag}.example.org"), "Other", &[Role::Clinician], None)).await.expect("clinician");
    let supervisor = store
        .create_user(&admin, &new_user(&format!("sup@{tag}.example.org"), "Sup", &[Role::Clinician, Role::Supervisor], None))
        .await
        .expect("supervisor");
    let trainee = store
        .create_user(&admin, &new_user(&format!("trainee@{tag}.example.org"), "Trainee", &[Role::Trainee], Some(supervisor.user_id)))
        .await
        .expect("trainee");
    Practice { id: p.practice_id, admin, clinician, other_clinician, supervisor, trainee }
}

pub fn client(first: &str, last: &str, clinician: Option<UserId>) -> ClientDetails {
    ClientDetails {
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        preferred_name: None,
        date_of_birth: None,
        phone: None,
        email: None,
        telegram_chat_id: None,
        time_zone: tz("America/New_York"),
        channel_preferences: vec![store::clients::Channel::Sms],
        texting_consent: true,
        primary_clinician_id: clinician,
        contacts: vec![ContactDetails { name: "Pat Guardian".into(), relation: "guardian".into(), phone: None, email: None, receives_reminders: true }],
    }
}
