//! Input validation (422 naming the field), oversize bodies (413), security headers on every
//! response, the OpenAPI document, and fail-closed auditing: if the audit log cannot be written,
//! a PHI request fails with 500 and shows no client data.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

fn client(phone: &str, tz: &str) -> serde_json::Value {
    json!({ "first_name": "Quinn", "last_name": "Validation", "phone": phone, "time_zone": tz })
}

async fn bad_phone_time_zone_and_email_are_422_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sign_in_as("front_desk").await;
    let cases = [
        (client("call me maybe", "America/Chicago"), "phone"),
        (client("201-555-0123", "Mars/Olympus_Mons"), "time_zone"),
        (
            json!({ "first_name": "Quinn", "last_name": "V", "time_zone": "America/Chicago", "email": "not-an-email" }),
            "email",
        ),
        (
            json!({ "first_name": "Quinn", "last_name": "V", "time_zone": "America/Chicago", "contacts": [{ "name": "Pat", "relation": "parent", "phone": "12" }] }),
            "contacts[0].phone",
        ),
        (
            json!({ "last_name": "V", "time_zone": "America/Chicago" }),
            "first_name",
        ),
    ];
    for (body, field) in cases {
        let (status, reply) = s.post("/api/clients", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{reply}");
        assert!(reply["error"]["request_id"].is_string());
    }
    // A good one is stored in E.164 and the time zone kept.
    let (status, reply) = s
        .post("/api/clients", client("(201) 555-0123", "America/Chicago"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["phone"], "+12015550123");
    app.finish().await;
}

async fn an_oversize_body_is_413_naming_the_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sign_in_as("front_desk").await;
    let mut big = br#"{"first_name":""#.to_vec();
    big.extend(std::iter::repeat_n(
        b'a',
        assistant::http::MAX_JSON_BODY_BYTES + 10,
    ));
    big.extend(br#"","last_name":"X","time_zone":"UTC"}"#);
    let r = s.post_raw("/api/clients", big).await;
    assert_eq!(r.0, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.3);
    assert_eq!(r.1["error"]["field"], "body");
    assert!(r.1["error"]["message"].as_str().unwrap().contains("65536"));
    app.finish().await;
}

async fn every_response_carries_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.session();
    for path in ["/api/clients", "/api/openapi.json", "/no/such/route"] {
        let r = s.get(path).await;
        assert_eq!(r.2["cache-control"], "no-store", "{path}");
        assert_eq!(r.2["x-content-type-options"], "nosniff", "{path}");
        assert!(
            r.2["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(r.2.get("x-request-id").is_some(), "{path}");
    }
    app.finish().await;
}

async fn the_openapi_document_describes_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app.session().get("/api/openapi.json").await;
    assert_eq!(r.0, StatusCode::OK);
    assert!(r.1["openapi"].as_str().unwrap().starts_with("3."));
    assert!(r.1["components"]["schemas"]["ClientInput"].is_object());
    for path in [
        "/api/auth/login",
        "/api/clients/{client_id}",
        "/api/appointments/{appointment_id}/status",
        "/api/notes/{note_id}",
        "/api/users/{user_id}",
    ] {
        assert!(r.1["paths"][path].is_object(), "{path} is documented");
    }
    assert!(r.1["paths"]["/api/clients/{client_id}"]["get"]["responses"]["404"].is_object());
    app.finish().await;
}

/// Makes every INSERT into audit_event fail, through a second raw connection.
async fn break_the_audit_log(app: &TestApp) {
    use sqlx::Connection;
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query("CREATE TRIGGER audit_down BEFORE INSERT ON audit_event BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END")
                .execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query("CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$ LANGUAGE plpgsql")
                .execute(&mut c).await.unwrap();
            sqlx::query("CREATE TRIGGER audit_down BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION audit_down()")
                .execute(&mut c).await.unwrap();
        }
    }
}

async fn a_failed_audit_write_fails_the_request_and_shows_no_client_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .seed_client(
            app.practice_a,
            "Marigold",
            "Auditfail",
            "+12015550177",
            Some(app.person("clinician").user_id),
        )
        .await;
    let mut s = app.sign_in_as("clinician").await;
    assert_eq!(s.get(&format!("/api/clients/{id}")).await.0, StatusCode::OK);
    break_the_audit_log(&app).await;
    let r = s.get(&format!("/api/clients/{id}")).await;
    assert_eq!(r.0, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.3);
    assert!(
        !r.3.contains("Marigold")
            && !r.3.contains("5550177")
            && !r.3.contains("audit log unavailable"),
        "{}",
        r.3
    );
    assert_eq!(r.1["error"]["code"], "internal");
    let list = s.get("/api/clients").await;
    assert_eq!(list.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!list.3.contains("Marigold"));
    app.finish().await;
}

on_both_backends!(
    bad_phone_time_zone_and_email_are_422_naming_the_field,
    an_oversize_body_is_413_naming_the_limit,
    every_response_carries_security_headers,
    the_openapi_document_describes_the_api,
    a_failed_audit_write_fails_the_request_and_shows_no_client_data,
);
