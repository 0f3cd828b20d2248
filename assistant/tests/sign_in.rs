//! Two-step sign-in against the real app on SQLite and PostgreSQL: TOTP replay, session
//! revocation (logout, account disabled, 2FA change), throttling per account and per IP,
//! single-use recovery codes, and no account enumeration.

mod common;

use common::{Backend, PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::json;

async fn a_totp_code_is_never_accepted_twice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = app.person("clinician").email.clone();
    let _first = app.sign_in(&email).await;
    // A second sign-in with a fresh code (the next step) succeeds…
    let mut s = app.session();
    assert_eq!(
        s.post(
            "/api/auth/login",
            json!({ "email": email, "password": PASSWORD })
        )
        .await
        .0,
        StatusCode::OK
    );
    let used_step_code = app.next_code(&email);
    let ok = s
        .post("/api/auth/totp/verify", json!({ "code": used_step_code }))
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    // …and a third session replaying that same code is refused.
    let mut replay = app.session();
    assert_eq!(
        replay
            .post(
                "/api/auth/login",
                json!({ "email": email, "password": PASSWORD })
            )
            .await
            .0,
        StatusCode::OK
    );
    let r = replay
        .post("/api/auth/totp/verify", json!({ "code": used_step_code }))
        .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.1);
    assert_eq!(r.1["error"]["field"], "code");
    assert_eq!(replay.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

async fn a_pending_session_cannot_read_anything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.session();
    let r = s
        .post(
            "/api/auth/login",
            json!({ "email": app.person("front_desk").email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.1["next"], "enroll_totp");
    let me = s.get("/api/clients").await;
    assert_eq!(me.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me.1["error"]["code"], "second_factor_required");
    app.finish().await;
}

async fn logout_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sign_in_as("clinician").await;
    let cookie = s.cookie.clone().expect("a session cookie");
    assert_eq!(s.get("/api/auth/me").await.0, StatusCode::OK);
    assert_eq!(
        s.post("/api/auth/logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    s.cookie = Some(cookie); // a copied cookie must not come back to life
    assert_eq!(s.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

async fn disabling_an_account_ends_its_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut victim = app.sign_in_as("biller").await;
    assert_eq!(victim.get("/api/auth/me").await.0, StatusCode::OK);
    let mut admin = app.sign_in_as("admin").await;
    let id = app.person("biller").user_id;
    let r = admin.put(&format!("/api/users/{id}"), json!({ "display_name": "biller", "roles": ["biller"], "supervisor_id": null, "disabled": true })).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.3);
    assert_eq!(victim.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    let again = app
        .session()
        .post(
            "/api/auth/login",
            json!({ "email": app.person("biller").email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        again.0,
        StatusCode::UNAUTHORIZED,
        "a disabled account cannot sign in"
    );
    app.finish().await;
}

async fn changing_two_factor_ends_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut first = app.sign_in_as("supervisor").await;
    let mut second = app.sign_in_as("supervisor").await;
    let r = first.delete("/api/auth/totp").await;
    assert_eq!(r.0, StatusCode::NO_CONTENT, "{}", r.3);
    assert_eq!(second.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(first.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

async fn too_many_wrong_passwords_for_one_account_get_429(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("HEARTH_MAX_FAILURES_PER_ACCOUNT", "3"),
            ("HEARTH_MAX_FAILURES_PER_IP", "50"),
        ],
    )
    .await;
    let email = app.person("clinician").email.clone();
    for _ in 0..3 {
        let r = app
            .session()
            .post(
                "/api/auth/login",
                json!({ "email": email, "password": "wrong password here" }),
            )
            .await;
        assert_eq!(r.0, StatusCode::UNAUTHORIZED);
    }
    let mut s = app.session();
    let r = s
        .send(
            reqwest::Method::POST,
            "/api/auth/login",
            Some(json!({ "email": email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(
        r.0,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let wait: u64 = r.2.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&wait), "Retry-After {wait}s is the time left in the window");
    // Another account from the same IP is unaffected.
    let other = app
        .session()
        .post(
            "/api/auth/login",
            json!({ "email": app.person("biller").email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(other.0, StatusCode::OK);
    app.finish().await;
}

async fn too_many_failures_from_one_ip_get_429(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("HEARTH_MAX_FAILURES_PER_IP", "3")]).await;
    for i in 0..3 {
        let r = app.session().post("/api/auth/login", json!({ "email": format!("nobody{i}@example.org"), "password": "wrong password here" })).await;
        assert_eq!(r.0, StatusCode::UNAUTHORIZED);
    }
    let mut s = app.session();
    let r = s
        .send(
            reqwest::Method::POST,
            "/api/auth/login",
            Some(json!({ "email": app.person("clinician").email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.0, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.2.get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    app.finish().await;
}

async fn an_unknown_email_gets_the_same_answer_as_a_wrong_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let unknown = app
        .session()
        .post(
            "/api/auth/login",
            json!({ "email": "nobody@example.org", "password": "whatever it is" }),
        )
        .await;
    let wrong = app
        .session()
        .post(
            "/api/auth/login",
            json!({ "email": app.person("clinician").email, "password": "whatever it is" }),
        )
        .await;
    assert_eq!(unknown.0, wrong.0);
    assert_eq!(unknown.1["error"]["message"], wrong.1["error"]["message"]);
    assert_eq!(unknown.1["error"]["code"], wrong.1["error"]["code"]);
    app.finish().await;
}

async fn a_recovery_code_works_exactly_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = app.person("trainee").email.clone();
    let enrolled = app.sign_in(&email).await;
    let code = enrolled.recovery_codes[0].clone();
    assert_eq!(enrolled.recovery_codes.len(), 10);
    let mut s = app.session();
    assert_eq!(
        s.post(
            "/api/auth/login",
            json!({ "email": email, "password": PASSWORD })
        )
        .await
        .0,
        StatusCode::OK
    );
    let r = s.post("/api/auth/recovery", json!({ "code": code })).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(s.get("/api/auth/me").await.0, StatusCode::OK);
    let mut again = app.session();
    assert_eq!(
        again
            .post(
                "/api/auth/login",
                json!({ "email": email, "password": PASSWORD })
            )
            .await
            .0,
        StatusCode::OK
    );
    let r = again
        .post("/api/auth/recovery", json!({ "code": code }))
        .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

async fn a_new_session_id_is_issued_at_each_sign_in_step(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.session();
    s.post(
        "/api/auth/login",
        json!({ "email": app.person("admin").email, "password": PASSWORD }),
    )
    .await;
    let pending = s.cookie.clone().unwrap();
    s.post("/api/auth/totp/enroll", json!({})).await;
    let code = {
        // Enrolment happened outside the helper: read the secret back through the store.
        let raw = app
            .store
            .totp_secret(app.person("admin").user_id)
            .await
            .unwrap()
            .unwrap();
        let secret = assistant::auth::totp::TotpSecret::from_bytes(
            secrecy::ExposeSecret::expose_secret(&raw).to_vec(),
        );
        assistant::auth::totp::code_at(&secret, chrono::Utc::now().timestamp())
    };
    assert_eq!(
        s.post("/api/auth/totp/verify", json!({ "code": code }))
            .await
            .0,
        StatusCode::OK
    );
    let full = s.cookie.clone().unwrap();
    assert_ne!(pending, full);
    assert_eq!(s.get("/api/auth/me").await.0, StatusCode::OK);
    s.cookie = Some(pending);
    assert_eq!(
        s.get("/api/auth/me").await.0,
        StatusCode::UNAUTHORIZED,
        "the pending id was retired"
    );
    app.finish().await;
}

/// Moves every session's clock back, through a raw second connection.
async fn age_sessions(app: &TestApp, column: &str, by: chrono::Duration) {
    use sqlx::Connection;
    let t = chrono::Utc::now() - by;
    let sql = format!("UPDATE auth_session SET {column} = $1");
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(t).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(t).execute(&mut c).await.unwrap();
        }
    }
}

async fn a_session_idle_longer_than_the_limit_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sign_in_as("front_desk").await;
    assert_eq!(s.get("/api/auth/me").await.0, StatusCode::OK);
    age_sessions(&app, "last_seen_at", chrono::Duration::minutes(31)).await;
    assert_eq!(s.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

async fn a_session_older_than_the_absolute_limit_is_refused_even_if_busy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sign_in_as("biller").await;
    age_sessions(&app, "created_at", chrono::Duration::hours(12)).await;
    assert_eq!(s.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

on_both_backends!(
    a_session_idle_longer_than_the_limit_is_refused,
    a_session_older_than_the_absolute_limit_is_refused_even_if_busy,
);
on_both_backends!(
    a_totp_code_is_never_accepted_twice,
    a_pending_session_cannot_read_anything,
    logout_revokes_the_session,
    disabling_an_account_ends_its_sessions,
    changing_two_factor_ends_every_session,
    too_many_wrong_passwords_for_one_account_get_429,
    too_many_failures_from_one_ip_get_429,
    an_unknown_email_gets_the_same_answer_as_a_wrong_password,
    a_recovery_code_works_exactly_once,
    a_new_session_id_is_issued_at_each_sign_in_step,
);
