//! Test helpers: spawn the real app on port 0 with a fresh database (SQLite file or a new
//! PostgreSQL database per test), seed two practices with one user per role, and sign in
//! through the real two-step flow, computing TOTP codes with the app's RFC 6238 code.
#![allow(dead_code)]

use assistant::app::{self, AppState, OnMissing};
use assistant::auth::password;
use assistant::auth::totp::{self, TotpSecret};
use assistant::authz::Role;
use reqwest::{StatusCode, header};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use store::{Actor, ClientId, Store, UserId};

pub const PASSWORD: &str = "correct horse battery staple";
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from an async fn taking a `Backend`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() { super::$name($crate::common::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() { super::$name($crate::common::Backend::Postgres).await }
        }
    )*};
}

/// One seeded user.
#[derive(Debug, Clone)]
pub struct Person {
    pub email: String,
    pub user_id: UserId,
    pub roles: Vec<Role>,
}

/// A running app and what was seeded.
pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub database_url: String,
    pub backend: Backend,
    pub _dir: tempfile::TempDir,
    pg_db: Option<String>,
    /// Practice A: one user per role, plus a second clinician.
    pub a: HashMap<&'static str, Person>,
    pub practice_a: store::PracticeId,
    /// Practice B: one clinician.
    pub b_clinician: Person,
    pub practice_b: store::PracticeId,
    /// Last TOTP step used per e-mail, so a second sign-in in the same 30 s uses the next step.
    steps: Mutex<HashMap<String, i64>>,
    secrets: Mutex<HashMap<String, Vec<u8>>>,
}

async fn fresh_database(backend: Backend, dir: &std::path::Path) -> (String, Option<String>) {
    match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.join("hearth.db").display()),
            None,
        ),
        Backend::Postgres => {
            use sqlx::Connection;
            let admin_url =
                std::env::var("HEARTH_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.to_owned());
            let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("PostgreSQL tests need a server at {admin_url} ({e}). Install and start one: apt-get install -y postgresql && pg_ctlcluster 15 main start, or set HEARTH_TEST_DATABASE_URL")
            });
            let name = format!("hearth_t_{}", uuid::Uuid::new_v4().simple());
            sqlx::Connection::ping(&mut conn)
                .await
                .expect("PostgreSQL answers");
            // The name is our own uuid: no injection possible.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("the test role may create databases");
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .expect("a database URL has a path");
            (format!("{base}/{name}"), Some(name))
        }
    }
}

impl TestApp {
    /// Spawns the app with extra `HEARTH_*` settings.
    pub async fn spawn_with(backend: Backend, env: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (database_url, pg_db) = fresh_database(backend, dir.path()).await;
        let mut vars: Vec<(String, String)> = vec![
            ("HEARTH_DATABASE_URL".into(), database_url.clone()),
            ("HEARTH_LISTEN".into(), "127.0.0.1:0".into()),
        ];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let settings =
            assistant::config::load(dir.path(), None, vars).expect("test settings are valid");
        let store = app::open_store(&settings, OnMissing::Create)
            .await
            .expect("the store opens");

        let hash = password::hash(SecretString::from(PASSWORD.to_owned()))
            .await
            .expect("hashing works");
        let mk_practice = |name: &str| store::practice::PracticeDetails {
            name: name.to_owned(),
            phone: None,
            time_zone: store::TimeZoneName::parse("America/New_York").unwrap(),
            settings: json!({}),
        };
        let pa = store
            .create_practice(&mk_practice("Practice A"))
            .await
            .expect("practice A");
        let pb = store
            .create_practice(&mk_practice("Practice B"))
            .await
            .expect("practice B");
        let add = |practice: store::PracticeId,
                   key: &'static str,
                   roles: Vec<Role>,
                   supervisor: Option<UserId>| {
            let store = store.clone();
            let hash = hash.clone();
            let email = format!("{key}.{}@example.org", uuid::Uuid::new_v4().simple());
            async move {
                let u = store
                    .create_user(
                        &Actor::system(practice),
                        &store::users::NewStaffUser {
                            email: store::EmailAddress::parse(&email).unwrap(),
                            display_name: key.to_owned(),
                            roles: assistant::http::users::store_roles(&roles),
                            supervisor_id: supervisor,
                            password_hash: hash,
                        },
                    )
                    .await
                    .expect("seeding a user");
                Person {
                    email,
                    user_id: u.user_id,
                    roles,
                }
            }
        };
        let mut a = HashMap::new();
        a.insert(
            "admin",
            add(pa.practice_id, "admin", vec![Role::Admin], None).await,
        );
        a.insert(
            "clinician",
            add(pa.practice_id, "clinician", vec![Role::Clinician], None).await,
        );
        a.insert(
            "colleague",
            add(pa.practice_id, "colleague", vec![Role::Clinician], None).await,
        );
        let sup = add(
            pa.practice_id,
            "supervisor",
            vec![Role::Supervisor, Role::Clinician],
            None,
        )
        .await;
        a.insert(
            "trainee",
            add(
                pa.practice_id,
                "trainee",
                vec![Role::Trainee],
                Some(sup.user_id),
            )
            .await,
        );
        a.insert("supervisor", sup);
        a.insert(
            "front_desk",
            add(pa.practice_id, "front_desk", vec![Role::FrontDesk], None).await,
        );
        a.insert(
            "biller",
            add(pa.practice_id, "biller", vec![Role::Biller], None).await,
        );
        let b_clinician = add(pb.practice_id, "b_clinician", vec![Role::Clinician], None).await;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("port 0 binds");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(store.clone(), settings);
        tokio::spawn(async move { app::serve(listener, state).await.expect("the server runs") });
        TestApp {
            base,
            store,
            database_url,
            backend,
            _dir: dir,
            pg_db,
            a,
            practice_a: pa.practice_id,
            b_clinician,
            practice_b: pb.practice_id,
            steps: Mutex::new(HashMap::new()),
            secrets: Mutex::new(HashMap::new()),
        }
    }

    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, &[]).await
    }

    pub fn person(&self, key: &str) -> &Person {
        self.a
            .get(key)
            .unwrap_or_else(|| panic!("no seeded user {key}"))
    }

    /// Creates a client directly through the store in `practice`, assigned to `clinician`.
    pub async fn seed_client(
        &self,
        practice: store::PracticeId,
        first: &str,
        last: &str,
        phone: &str,
        clinician: Option<UserId>,
    ) -> ClientId {
        let d = store::clients::ClientDetails {
            first_name: first.into(),
            last_name: last.into(),
            preferred_name: None,
            date_of_birth: None,
            phone: Some(store::E164::parse(phone).unwrap()),
            email: None,
            telegram_chat_id: None,
            time_zone: store::TimeZoneName::parse("America/Chicago").unwrap(),
            channel_preferences: vec![],
            texting_consent: false,
            primary_clinician_id: clinician,
            contacts: vec![],
        };
        self.store
            .create_client(&Actor::system(practice), &d)
            .await
            .expect("seeding a client")
            .client_id
    }

    /// A client of the seeded user `clinician` in practice A, with an AI-scribe consent on file
    /// when `consent` (what scribe jobs for a session need).
    pub async fn seed_scribe_client(&self, clinician: &str, consent: bool) -> ClientId {
        let c = self.seed_client(self.practice_a, "Nadia", "Ferreira", "+12015550190", Some(self.person(clinician).user_id)).await;
        if consent {
            let new = store::consents::NewConsent { client_id: c, kind: store::consents::ConsentKind::AiScribing, disclosure: None, granted_at: chrono::Utc::now(), expires_at: None };
            self.store.record_consent(&Actor::system(self.practice_a), store::ClientScope::Practice, &new).await.expect("consent");
        }
        c
    }

    /// A signed-out API session.
    pub fn session(&self) -> Session {
        Session {
            base: self.base.clone(),
            http: reqwest::Client::new(),
            cookie: None,
            recovery_codes: vec![],
        }
    }

    /// The next TOTP code for this user that the server has not seen yet.
    pub fn next_code(&self, email: &str) -> String {
        let secret = TotpSecret::from_bytes(
            self.secrets
                .lock()
                .unwrap()
                .get(email)
                .expect("enrolled")
                .clone(),
        );
        let now = chrono::Utc::now().timestamp();
        let mut steps = self.steps.lock().unwrap();
        let step = steps.get(email).map_or(totp::step_at(now), |last| {
            (last + 1).max(totp::step_at(now))
        });
        assert!(
            step <= totp::step_at(now) + 1,
            "a test signed in more than twice in 30 s; the server would rightly refuse the code"
        );
        steps.insert(email.to_owned(), step);
        totp::code_at(&secret, step * totp::STEP_SECONDS)
    }

    /// Signs in through password, TOTP enrolment (first time) and TOTP verification.
    pub async fn sign_in(&self, email: &str) -> Session {
        let mut s = self.session();
        let r = s
            .post(
                "/api/auth/login",
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.0, StatusCode::OK, "login: {}", r.1);
        if r.1["next"] == "enroll_totp" {
            let e = s.post("/api/auth/totp/enroll", json!({})).await;
            assert_eq!(e.0, StatusCode::OK, "enroll: {}", e.1);
            let raw = data_encoding::BASE32_NOPAD
                .decode(e.1["secret"].as_str().unwrap().as_bytes())
                .expect("the secret is base32");
            self.secrets.lock().unwrap().insert(email.to_owned(), raw);
            s.recovery_codes = e.1["recovery_codes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
        }
        let code = self.next_code(email);
        let v = s
            .post("/api/auth/totp/verify", json!({ "code": code }))
            .await;
        assert_eq!(v.0, StatusCode::OK, "verify: {}", v.1);
        s
    }

    /// Signs in the seeded user `key` of practice A.
    pub async fn sign_in_as(&self, key: &str) -> Session {
        let email = self.person(key).email.clone();
        self.sign_in(&email).await
    }

    /// Drops the per-test PostgreSQL database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some(name) = self.pg_db {
            use sqlx::Connection;
            let admin_url =
                std::env::var("HEARTH_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.to_owned());
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
            }
        }
    }
}

/// A browser-like API session holding one cookie.
pub struct Session {
    base: String,
    http: reqwest::Client,
    pub cookie: Option<String>,
    /// Recovery codes shown at enrolment, if this session enrolled.
    pub recovery_codes: Vec<String>,
}

/// Status, JSON body (Null when empty or not JSON) and headers.
pub struct Reply(
    pub StatusCode,
    pub Value,
    pub reqwest::header::HeaderMap,
    pub String,
);

impl Session {
    pub async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c.clone());
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("the server answers");
        let status = r.status();
        let headers = r.headers().clone();
        if let Some(set) = headers.get(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = if pair.ends_with('=') {
                None
            } else {
                Some(pair)
            };
        }
        let text = r.text().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply(status, json, headers, text)
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&mut self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.send(reqwest::Method::POST, path, Some(body)).await;
        (r.0, r.1)
    }
    pub async fn put(&mut self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&mut self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Sends raw bytes as JSON (for oversize bodies).
    pub async fn post_raw(&mut self, path: &str, body: Vec<u8>) -> Reply {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c.clone());
        }
        let r = req.send().await.expect("the server answers");
        let (status, headers) = (r.status(), r.headers().clone());
        let text = r.text().await.unwrap_or_default();
        Reply(
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
            text,
        )
    }
}
