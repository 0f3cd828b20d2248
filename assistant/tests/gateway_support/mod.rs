//! Shared by the gateway tests: a fresh database per test (a SQLite file, or a new PostgreSQL
//! database at HEARTH_TEST_DATABASE_URL), a practice in it, settings written as a real
//! `hearth.toml`, and outbox rows shaped like reminders.
#![allow(dead_code)]

use assistant::app::{self, OnMissing};
use assistant::config::Settings;
use store::outbox::{IdempotencyKey, NewOutbound, Purpose, Recipient, SenderKey};
use store::{Actor, E164, PracticeId, Store};

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from an async fn taking a `Backend`.
#[macro_export]
macro_rules! gateway_on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() { super::$name($crate::gateway_support::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() { super::$name($crate::gateway_support::Backend::Postgres).await }
        }
    )*};
}

/// A data folder with a fresh database and one practice.
pub struct Place {
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub store: Store,
    pub practice: PracticeId,
}

pub async fn fresh_database_url(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("hearth.db").display()),
        Backend::Postgres => {
            use sqlx::Connection;
            let admin =
                std::env::var("HEARTH_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.to_owned());
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                panic!("PostgreSQL tests need a server at {admin} ({e}); set HEARTH_TEST_DATABASE_URL")
            });
            let name = format!("hearth_g_{}", uuid::Uuid::new_v4().simple());
            // The name is our own uuid: no injection possible.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("the test role may create databases");
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("a URL with a path");
            format!("{base}/{name}")
        }
    }
}

/// Loads settings for `dir` from a `hearth.toml` with `toml` in it.
pub fn settings(dir: &std::path::Path, database_url: &str, toml: &str) -> Settings {
    std::fs::write(dir.join("hearth.toml"), toml).expect("writing hearth.toml");
    assistant::config::load(
        dir,
        None,
        vec![("HEARTH_DATABASE_URL".to_owned(), database_url.to_owned())],
    )
    .expect("the test settings are valid")
}

impl Place {
    pub async fn new(backend: Backend) -> Place {
        let dir = tempfile::tempdir().expect("a temp dir");
        let database_url = fresh_database_url(backend, dir.path()).await;
        let s = settings(dir.path(), &database_url, "");
        let store = app::open_store(&s, OnMissing::Create).await.expect("the store opens");
        let practice = store
            .create_practice(&store::practice::PracticeDetails {
                name: "Lakeside Counseling".to_owned(),
                phone: Some(E164::parse("+15550100999").expect("valid")),
                time_zone: store::TimeZoneName::parse("America/Chicago").expect("valid"),
                settings: serde_json::json!({}),
            })
            .await
            .expect("a practice");
        Place { dir, database_url, store, practice: practice.practice_id }
    }

    pub fn settings(&self, toml: &str) -> Settings {
        settings(self.dir.path(), &self.database_url, toml)
    }

    pub fn actor(&self) -> Actor {
        Actor::system(self.practice)
    }

    /// Enqueues a reminder-like SMS `n` to its own number, with a body naming `n`.
    pub async fn enqueue_sms(&self, n: usize, sender: &str) -> store::OutboxMessageId {
        self.store
            .enqueue(&self.actor(), &reminder(n, sender))
            .await
            .expect("enqueued")
            .id()
    }
}

pub fn number(n: usize) -> String {
    format!("+1555{:07}", 100_000 + n)
}

pub fn body(n: usize) -> String {
    format!("Hi! Reminder {n}: your visit at Lakeside Counseling is Tue 3:00 PM. Reply C to confirm.")
}

pub fn reminder(n: usize, sender: &str) -> NewOutbound {
    NewOutbound {
        client_id: None,
        recipient: Recipient::Sms(E164::parse(&number(n)).expect("valid")),
        body: body(n),
        purpose: Purpose::Reminder,
        appointment_id: None,
        message_id: None,
        sender_key: SenderKey::parse(sender).expect("valid"),
        idempotency_key: IdempotencyKey::parse(&format!("test:{n}")).expect("valid"),
        not_before: None,
    }
}

/// The `[twilio]` table for a fake.
pub fn twilio_toml(fake: &channels::testing::FakeTwilio, request_timeout_ms: u64) -> String {
    use secrecy::ExposeSecret;
    format!(
        "channel = \"twilio\"\n[twilio]\naccount_sid = \"{}\"\nauth_token = \"{}\"\nfrom = \"+15550100000\"\napi_base_url = \"{}\"\nrequest_timeout_ms = {request_timeout_ms}\n",
        fake.account_sid(),
        fake.auth_token().expose_secret(),
        fake.base_url()
    )
}

/// The real HTTP app on a free port, with `public_url` set to where it listens (what a
/// provider signs) and `toml` as its settings.
pub struct Server {
    pub base: String,
    pub settings: Settings,
    _task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Place {
    pub async fn serve(&self, toml: &str) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let toml = format!("public_url = \"{base}\"\n{toml}");
        let settings = self.settings(&toml);
        let state = assistant::app::AppState::new(self.store.clone(), settings.clone());
        let task = tokio::spawn(assistant::app::serve(listener, state));
        Server { base, settings, _task: task }
    }
}

/// Settings for a Twilio account whose auth token is `token`, with the given `[telegram]` secret.
pub fn webhook_toml(account_sid: &str, token: &str, telegram_secret: &str) -> String {
    format!(
        "channel = \"twilio\"\n[twilio]\naccount_sid = \"{account_sid}\"\nauth_token = \"{token}\"\nfrom = \"+15550100000\"\napi_base_url = \"http://127.0.0.1:9\"\n[telegram]\nbot_token = \"123456:test-token\"\napi_url = \"http://127.0.0.1:9\"\nwebhook_secret = \"{telegram_secret}\"\n[dispatch]\nin_serve = false\n"
    )
}

/// Counts outbox rows per purpose with plain SQL (no audit events).
pub async fn outbox_purposes(database_url: &str) -> std::collections::HashMap<String, i64> {
    let sql = "SELECT purpose, COUNT(*) AS n FROM outbox_message GROUP BY purpose";
    let rows: Vec<(String, i64)> = if database_url.starts_with("sqlite:") {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(database_url).await.expect("sqlite opens");
        sqlx::query_as(sql).fetch_all(&mut c).await.expect("counts")
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(database_url).await.expect("postgres connects");
        sqlx::query_as(sql).fetch_all(&mut c).await.expect("counts")
    };
    rows.into_iter().collect()
}

/// The raw bytes of every inbound body column, to prove they are not plain text.
pub async fn raw_inbound_bodies(database_url: &str) -> Vec<Vec<u8>> {
    let sql = "SELECT body FROM inbound_message";
    if database_url.starts_with("sqlite:") {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(database_url).await.expect("sqlite opens");
        sqlx::query_scalar(sql).fetch_all(&mut c).await.expect("bodies")
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(database_url).await.expect("postgres connects");
        sqlx::query_scalar(sql).fetch_all(&mut c).await.expect("bodies")
    }
}
