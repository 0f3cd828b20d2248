//! BOLA matrix: for every route that takes an id, each role × {own client, colleague's client,
//! trainee's client, another practice's client, random id} × {read, update, delete, share}
//! gets the status the access policy promises, and no body ever carries a name or phone number
//! of a client the role may not see. Adding a route is adding a row to `ROUTES`.

mod common;

use common::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use store::ClientId;

/// Whose client an id points at, from practice A's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whose {
    /// Primary clinician: `clinician`.
    Clinicians,
    /// Primary clinician: `colleague`.
    Colleagues,
    /// Primary clinician: `trainee` (supervised by `supervisor`).
    Trainees,
    /// A client of practice B.
    OtherPractice,
    /// An id that exists nowhere.
    Random,
}
use Whose::*;

const OBJECTS: [Whose; 5] = [Clinicians, Colleagues, Trainees, OtherPractice, Random];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Update,
    Delete,
    Share,
    ReadConsent,
    EditConsent,
    ReadNote,
}

/// Route rows: method, path (`{client}`, `{appointment}`, `{consent}`, `{note}` stand for the
/// object's id), kind, status on success. Rows that change state irreversibly (delete, revoke)
/// get a freshly seeded object each time.
#[rustfmt::skip]
const ROUTES: &[(&str, &str, Kind, u16)] = &[
    ("GET",    "/api/clients/{client}",                  Kind::Read,        200),
    ("PUT",    "/api/clients/{client}",                  Kind::Update,      200),
    ("GET",    "/api/clients/{client}/contacts",         Kind::Read,        200),
    ("PUT",    "/api/clients/{client}/contacts",         Kind::Update,      200),
    ("GET",    "/api/clients/{client}/shares",           Kind::Read,        200),
    ("POST",   "/api/clients/{client}/shares",           Kind::Share,       204),
    ("GET",    "/api/clients/{client}/appointments",     Kind::Read,        200),
    ("GET",    "/api/appointments/{appointment}",        Kind::Read,        200),
    ("PUT",    "/api/appointments/{appointment}",        Kind::Update,      200),
    ("POST",   "/api/appointments/{appointment}/status", Kind::Update,      200),
    ("GET",    "/api/appointments/{appointment}/history", Kind::Read,       200),
    ("GET",    "/api/clients/{client}/consents",         Kind::ReadConsent, 200),
    ("POST",   "/api/clients/{client}/consents",         Kind::EditConsent, 201),
    ("GET",    "/api/consents/{consent}",                Kind::ReadConsent, 200),
    ("POST",   "/api/consents/{consent}/revoke",         Kind::EditConsent, 200),
    ("GET",    "/api/clients/{client}/notes",            Kind::ReadNote,    200),
    ("GET",    "/api/notes/{note}",                      Kind::ReadNote,    200),
    ("DELETE", "/api/clients/{client}",                  Kind::Delete,      204),
];

const PRACTICE: &[Whose] = &[Clinicians, Colleagues, Trainees];

/// The policy as the tests expect it: which clients each role may read, update, delete, share,
/// read/record consents for, and read notes of (biller: metadata only).
type Allowed = &'static [Whose];
#[rustfmt::skip]
const EXPECT: &[(&str, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed)] = &[
    // role          read           update         delete          share           consents       notes
    ("admin",      &[],           &[],           &[],            &[],            &[],           &[]),
    ("clinician",  &[Clinicians], &[Clinicians], &[Clinicians],  &[Clinicians],  &[Clinicians], &[Clinicians]),
    ("trainee",    &[Trainees],   &[Trainees],   &[],            &[],            &[Trainees],   &[Trainees]),
    ("supervisor", &[Trainees],   &[Trainees],   &[Trainees],    &[Trainees],    &[Trainees],   &[Trainees]),
    ("front_desk", PRACTICE,      PRACTICE,      &[],            &[],            PRACTICE,      &[]),
    ("biller",     PRACTICE,      &[],           &[],            &[],            &[],           PRACTICE),
];

/// Words in every seeded note: they must reach only roles that may read note text.
const NOTE_TEXT: &str = "Discussed coping strategies for panic symptoms";
const TEXT_READERS: &[&str] = &["clinician", "trainee", "supervisor"];

struct Fixture {
    id: ClientId,
    clinician: store::UserId,
    appointment: store::AppointmentId,
    consent: store::ConsentId,
    note: store::NoteId,
    first: String,
    phone: String,
}

/// Seeds one client of `whose` with a unique name and a 555-01xx phone.
/// With `with_records`, also an appointment, a consent and a note.
async fn seed(app: &TestApp, whose: Whose, n: &mut u32, with_records: bool) -> Fixture {
    *n += 1;
    let first = format!(
        "Zed{}{}",
        ["Alpha", "Bravo", "Charlie", "Delta", "Echo"][*n as usize % 5],
        n
    );
    let phone = format!("+1201555{:04}", 100 + (*n % 100));
    let (practice, clinician) = match whose {
        Clinicians => (app.practice_a, Some(app.person("clinician").user_id)),
        Colleagues => (app.practice_a, Some(app.person("colleague").user_id)),
        Trainees => (app.practice_a, Some(app.person("trainee").user_id)),
        OtherPractice | Random => (app.practice_b, Some(app.b_clinician.user_id)),
    };
    let id = app
        .seed_client(practice, &first, "Fixture", &phone, clinician)
        .await;
    let clinician = clinician.expect("every fixture has a clinician");
    let appointment = if with_records {
        let starts_at = chrono::Utc::now() + chrono::Duration::days(1);
        let d = store::appointments::AppointmentDetails {
            clinician_id: clinician,
            client_ids: vec![id],
            starts_at,
            ends_at: starts_at + chrono::Duration::minutes(50),
            time_zone: store::TimeZoneName::parse("America/Chicago").unwrap(),
            modality: store::appointments::Modality::Telehealth,
            location: None,
            join_link: Some("https://telehealth.example/room".into()),
            service_code: Some("90834".into()),
        };
        app.store
            .create_appointment(
                &store::Actor::system(practice),
                store::ClientScope::Practice,
                &d,
            )
            .await
            .expect("seeding an appointment")
            .appointment_id
    } else {
        store::AppointmentId::from_uuid(uuid::Uuid::new_v4())
    };
    if !with_records {
        let r = || uuid::Uuid::new_v4();
        let id = if whose == Random {
            ClientId::from_uuid(r())
        } else {
            id
        };
        return Fixture {
            id,
            clinician,
            appointment,
            consent: store::ConsentId::from_uuid(r()),
            note: store::NoteId::from_uuid(r()),
            first,
            phone,
        };
    }
    let consent = app
        .store
        .record_consent(
            &store::Actor::system(practice),
            store::ClientScope::Practice,
            &store::consents::NewConsent {
                client_id: id,
                kind: store::consents::ConsentKind::Texting,
                disclosure: None,
                granted_at: chrono::Utc::now(),
                expires_at: None,
            },
        )
        .await
        .expect("seeding a consent")
        .consent_id;
    let note = app
        .store
        .create_note(
            &store::Actor::user(practice, clinician),
            store::ClientScope::Practice,
            &store::notes::NewNote {
                client_id: id,
                appointment_id: None,
                format: "SOAP".into(),
                body: format!("S: {NOTE_TEXT}."),
            },
        )
        .await
        .expect("seeding a note")
        .summary
        .note_id;
    if whose == Random {
        let r = || uuid::Uuid::new_v4();
        return Fixture {
            id: ClientId::from_uuid(r()),
            clinician,
            appointment: store::AppointmentId::from_uuid(r()),
            consent: store::ConsentId::from_uuid(r()),
            note: store::NoteId::from_uuid(r()),
            first,
            phone,
        };
    }
    Fixture {
        id,
        clinician,
        appointment,
        consent,
        note,
        first,
        phone,
    }
}

fn body_for(kind: Kind, path: &str, f: &Fixture, app: &TestApp, whose: Whose) -> Option<Value> {
    if path.starts_with("/api/appointments") {
        let starts_at = chrono::Utc::now() + chrono::Duration::days(2);
        return match (kind, path.ends_with("status")) {
            (Kind::Update, true) => {
                Some(json!({ "status": "confirmed", "reason": "confirmed by phone" }))
            }
            (Kind::Update, false) => Some(json!({
                "clinician_id": f.clinician, "client_ids": [f.id], "starts_at": starts_at,
                "ends_at": starts_at + chrono::Duration::minutes(50), "time_zone": "America/Chicago", "modality": "in_person",
                "location": "Room 1", "join_link": null, "service_code": "90834"
            })),
            _ => None,
        };
    }
    match (kind, path.ends_with("contacts")) {
        (Kind::Update, false) => {
            let clinician = match whose {
                Clinicians => Some(app.person("clinician").user_id),
                Colleagues => Some(app.person("colleague").user_id),
                Trainees => Some(app.person("trainee").user_id),
                _ => None,
            };
            Some(
                json!({ "first_name": f.first, "last_name": "Fixture", "phone": f.phone, "time_zone": "America/Chicago", "primary_clinician_id": clinician }),
            )
        }
        (Kind::Update, true) => Some(
            json!([{ "name": "Pat Guardian", "relation": "guardian", "phone": "201-555-0199" }]),
        ),
        (Kind::Share, _) => Some(json!({ "user_id": app.person("colleague").user_id })),
        (Kind::EditConsent, false) if path.ends_with("consents") => {
            Some(json!({ "kind": "ai_scribing" }))
        }
        _ => None,
    }
}

async fn every_role_gets_exactly_the_access_the_policy_promises(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut n = 0u32;
    // Long-lived objects for read/update/share rows; delete rows get fresh ones.
    let mut fixtures = Vec::new();
    for w in OBJECTS {
        fixtures.push((w, seed(&app, w, &mut n, true).await));
    }
    let mut failures = Vec::new();
    let mut rows = 0usize;
    for (role, read, update, delete, share, consents, notes) in EXPECT {
        let mut s = app.sign_in_as(role).await;
        for (method, template, kind, ok) in ROUTES {
            for w in OBJECTS {
                let fresh;
                let f = if *kind == Kind::Delete || template.ends_with("revoke") {
                    // A client with records cannot be deleted; revoking needs a consent.
                    fresh = seed(&app, w, &mut n, *kind != Kind::Delete).await;
                    &fresh
                } else {
                    &fixtures.iter().find(|(x, _)| *x == w).expect("seeded").1
                };
                let allowed = match kind {
                    Kind::Read => read,
                    Kind::Update => update,
                    Kind::Delete => delete,
                    Kind::Share => share,
                    Kind::ReadConsent | Kind::EditConsent => consents,
                    Kind::ReadNote => notes,
                };
                let want = if allowed.contains(&w) { *ok } else { 404 };
                let path = template
                    .replace("{client}", &f.id.to_string())
                    .replace("{appointment}", &f.appointment.to_string())
                    .replace("{consent}", &f.consent.to_string())
                    .replace("{note}", &f.note.to_string());
                rows += 1;
                let r = s
                    .send(
                        Method::from_bytes(method.as_bytes()).unwrap(),
                        &path,
                        body_for(*kind, template, f, &app, w),
                    )
                    .await;
                if r.0.as_u16() != want {
                    failures.push(format!(
                        "{role} {method} {template} on {w:?}: got {} want {want}: {}",
                        r.0, r.3
                    ));
                }
                if r.3.contains(NOTE_TEXT) && !TEXT_READERS.contains(role) {
                    failures.push(format!("{role} {method} {template} on {w:?}: note text reached a role that may not read it"));
                }
                if want == 404 && (r.3.contains(&f.first) || r.3.contains(&f.phone)) {
                    failures.push(format!(
                        "{role} {method} {template} on {w:?}: the refusal leaked the client's data"
                    ));
                }
            }
        }
        // The list shows exactly the readable clients and never another's.
        let list = s.get("/api/clients").await;
        let want_list = if read.is_empty() { 403 } else { 200 };
        if list.0.as_u16() != want_list {
            failures.push(format!(
                "{role} GET /api/clients: got {} want {want_list}",
                list.0
            ));
        }
        for (w, f) in &fixtures {
            let shown = list.3.contains(&f.first) || list.3.contains(&f.phone);
            if shown != read.contains(w) {
                failures.push(format!("{role} GET /api/clients: {w:?} shown = {shown}"));
            }
        }
        // Searching by a name the role may not see finds nothing.
        for (w, f) in &fixtures {
            let found = s.get(&format!("/api/clients?q={}", f.first)).await;
            if !read.contains(w) && (found.3.contains(&f.first) || found.3.contains(&f.phone)) {
                failures.push(format!("{role} search found {w:?}"));
            }
        }
    }
    assert_eq!(
        rows,
        EXPECT.len() * ROUTES.len() * OBJECTS.len(),
        "every row ran"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    app.finish().await;
}

async fn only_the_admin_reads_staff_accounts_and_only_in_their_practice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let own = app.person("biller").user_id.to_string();
    let other = app.b_clinician.user_id.to_string();
    let random = uuid::Uuid::new_v4().to_string();
    let mut failures = Vec::new();
    for role in [
        "admin",
        "clinician",
        "front_desk",
        "biller",
        "supervisor",
        "trainee",
    ] {
        let mut s = app.sign_in_as(role).await;
        for (target, is_own) in [(&own, true), (&other, false), (&random, false)] {
            let want = if role == "admin" && is_own {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            let r = s.get(&format!("/api/users/{target}")).await;
            if r.0 != want {
                failures.push(format!(
                    "{role} GET /api/users/{{id}} own={is_own}: got {} want {want}",
                    r.0
                ));
            }
            if r.3.contains(&app.b_clinician.email) {
                failures.push(format!("{role} saw practice B's user"));
            }
        }
        let list = s.get("/api/users").await;
        let want = if role == "admin" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        if list.0 != want || list.3.contains(&app.b_clinician.email) {
            failures.push(format!("{role} GET /api/users: got {}", list.0));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.finish().await;
}

/// Whose hours: one's own, a colleague's, another practice's clinician's, or a random id.
async fn working_hours_are_read_by_staff_and_edited_by_their_owner_or_the_office(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let colleague = app.person("colleague").user_id.to_string();
    let other = app.b_clinician.user_id.to_string();
    let random = uuid::Uuid::new_v4().to_string();
    // role, may read own+colleague's, may edit colleague's, may edit own
    let table = [
        ("admin", true, true, true),
        ("clinician", true, false, true),
        ("trainee", true, false, true),
        ("supervisor", true, false, true),
        ("front_desk", true, true, true),
        ("biller", false, false, false),
    ];
    let slot = json!({ "weekday": "Mon", "start": "09:00:00", "end": "12:00:00", "time_zone": "America/Chicago" });
    let mut failures = Vec::new();
    for (role, read, edit_colleague, edit_own) in table {
        let mut s = app.sign_in_as(role).await;
        let own = app.person(role).user_id.to_string();
        for (target, may_read, may_edit) in [
            (&own, read, edit_own),
            (&colleague, read, edit_colleague),
            (&other, false, false),
            (&random, false, false),
        ] {
            let r = s
                .get(&format!("/api/clinicians/{target}/availability"))
                .await;
            let want = if may_read {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            if r.0 != want {
                failures.push(format!(
                    "{role} read hours of {target}: got {} want {want}",
                    r.0
                ));
            }
            let (got, body) = s
                .post(
                    &format!("/api/clinicians/{target}/availability/slots"),
                    slot.clone(),
                )
                .await;
            let want = if may_edit {
                StatusCode::CREATED
            } else {
                StatusCode::NOT_FOUND
            };
            if got != want {
                failures.push(format!(
                    "{role} add a slot for {target}: got {got} want {want}: {body}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.finish().await;
}

async fn a_user_with_no_role_gets_403_everywhere_but_can_sign_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .seed_client(
            app.practice_a,
            "Norole",
            "Target",
            "+12015550166",
            Some(app.person("clinician").user_id),
        )
        .await;
    let mut admin = app.sign_in_as("admin").await;
    let id = app.person("front_desk").user_id;
    let r = admin.put(&format!("/api/users/{id}"), json!({ "display_name": "front_desk", "roles": [], "supervisor_id": null, "disabled": false })).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.3);
    let mut s = app.sign_in_as("front_desk").await;
    let paths = [
        format!("/api/clients/{client}"),
        "/api/clients".to_owned(),
        format!("/api/clients/{client}/appointments"),
        "/api/appointments".to_owned(),
        "/api/users".to_owned(),
        "/api/auth/me".to_owned(),
        format!("/api/clinicians/{id}/availability"),
        format!("/api/clients/{client}/notes"),
    ];
    for path in paths {
        let r = s.get(&path).await;
        assert_eq!(r.0, StatusCode::FORBIDDEN, "{path}: {}", r.3);
        assert!(!r.3.contains("Norole"));
    }
    let (status, _) = s.post("/api/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.finish().await;
}

async fn refused_and_successful_reads_are_audited_with_user_ip_and_request_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let foreign = app
        .seed_client(
            app.practice_b,
            "Foreign",
            "Client",
            "+12015550155",
            Some(app.b_clinician.user_id),
        )
        .await;
    let own = app
        .seed_client(
            app.practice_a,
            "Own",
            "Client",
            "+12015550156",
            Some(app.person("clinician").user_id),
        )
        .await;
    let mut s = app.sign_in_as("clinician").await;
    let refused = s.get(&format!("/api/clients/{foreign}")).await;
    assert_eq!(refused.0, StatusCode::NOT_FOUND);
    let read = s.get(&format!("/api/clients/{own}")).await;
    assert_eq!(read.0, StatusCode::OK);
    let me = app.person("clinician").user_id;
    let a = store::Actor::system(app.practice_a);
    let denied = app
        .store
        .audit_events_for_object(&a, "client", &foreign.to_string())
        .await
        .unwrap();
    let d = denied
        .iter()
        .find(|e| e.outcome == store::Outcome::Denied)
        .expect("the refused attempt is in the audit log");
    assert_eq!((d.user_id, d.action.as_str()), (Some(me), "client.read"));
    assert_eq!(
        d.request_id.as_deref(),
        refused.2["x-request-id"].to_str().ok()
    );
    assert_eq!(d.ip.as_deref(), Some("127.0.0.1"));
    let ok = app
        .store
        .audit_events_for_object(&a, "client", &own.to_string())
        .await
        .unwrap();
    assert!(ok.iter().any(|e| e.outcome == store::Outcome::Ok
        && e.action == "client.read"
        && e.user_id == Some(me)
        && e.request_id.as_deref() == read.2["x-request-id"].to_str().ok()));
    app.finish().await;
}

on_both_backends!(refused_and_successful_reads_are_audited_with_user_ip_and_request_id);
on_both_backends!(a_user_with_no_role_gets_403_everywhere_but_can_sign_out);
on_both_backends!(working_hours_are_read_by_staff_and_edited_by_their_owner_or_the_office);
on_both_backends!(
    every_role_gets_exactly_the_access_the_policy_promises,
    only_the_admin_reads_staff_accounts_and_only_in_their_practice
);
