//! The demo practice: entirely FICTIONAL people for trying Hearth out. Phone numbers come from
//! the 555-0100..555-0199 range that North American numbering reserves for fiction. Two weeks of
//! appointments include telehealth visits and a weekly group.

use crate::auth::password;
use crate::authz::Role;
use anyhow::Context;
use secrecy::SecretString;
use store::clients::{Channel, ClientDetails};
use store::practice::PracticeDetails;
use store::users::NewStaffUser;
use store::{Actor, Store};

/// Name of the demo practice.
pub const PRACTICE_NAME: &str = "Willow Creek Counseling (demo)";
/// Everyone in the demo signs in with this password (it is printed; it is a demo).
pub const DEMO_PASSWORD: &str = "willow-creek-demo";
/// How many demo clients are created.
pub const CLIENT_COUNT: usize = 20;

/// A demo sign-in to print.
pub struct DemoLogin {
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
}

const STAFF: &[(&str, &str, &[Role])] = &[
    ("admin@willowcreek.example", "Avery Admin", &[Role::Admin]),
    (
        "maya.okafor@willowcreek.example",
        "Dr. Maya Okafor",
        &[Role::Clinician, Role::Supervisor],
    ),
    (
        "sam.lindqvist@willowcreek.example",
        "Sam Lindqvist, LPC",
        &[Role::Clinician],
    ),
    (
        "jordan.ruiz@willowcreek.example",
        "Jordan Ruiz (trainee)",
        &[Role::Trainee],
    ),
    (
        "frontdesk@willowcreek.example",
        "Riley Front Desk",
        &[Role::FrontDesk],
    ),
    (
        "billing@willowcreek.example",
        "Casey Biller",
        &[Role::Biller],
    ),
];

const FIRST: [&str; 20] = [
    "Alex", "Bailey", "Cameron", "Dakota", "Emerson", "Finley", "Gray", "Harper", "Indigo",
    "Jules", "Kai", "Logan", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Reese", "Sage",
    "Tatum",
];
const LAST: [&str; 20] = [
    "Ashford",
    "Brightwater",
    "Calloway",
    "Dunmore",
    "Ellery",
    "Fairbank",
    "Galloway",
    "Holloway",
    "Ives",
    "Juniper",
    "Kestrel",
    "Larkspur",
    "Merriweather",
    "Northcott",
    "Oakridge",
    "Pemberton",
    "Quill",
    "Rowan",
    "Sterling",
    "Thistle",
];

/// Creates the demo practice, its staff and clients. Fails if a demo practice already exists.
pub async fn seed(store: &Store) -> anyhow::Result<Vec<DemoLogin>> {
    if store
        .list_practices()
        .await?
        .iter()
        .any(|p| p.details.name == PRACTICE_NAME)
    {
        anyhow::bail!(
            "the demo practice is already in this database; use a new --data-dir for a fresh one"
        );
    }
    let practice = store
        .create_practice(&PracticeDetails {
            name: PRACTICE_NAME.to_owned(),
            phone: Some(store::E164::parse("+12015550100").expect("a valid E.164 number")),
            time_zone: store::TimeZoneName::parse("America/New_York").expect("a valid IANA name"),
            settings: serde_json::json!({ "phone_region": "US" }),
        })
        .await
        .context("creating the demo practice")?;
    let actor = Actor::system(practice.practice_id);
    let hash = password::hash(SecretString::from(DEMO_PASSWORD.to_owned())).await?;
    let mut ids = Vec::new();
    let mut logins = Vec::new();
    for (email, name, roles) in STAFF {
        // The trainee is supervised by Dr. Okafor (created before them).
        let supervisor_id = roles.contains(&Role::Trainee).then(|| ids[1]);
        let user = store
            .create_user(
                &actor,
                &NewStaffUser {
                    email: store::EmailAddress::parse(email).expect("demo e-mails are valid"),
                    display_name: (*name).to_owned(),
                    roles: crate::http::users::store_roles(roles),
                    supervisor_id,
                    password_hash: hash.clone(),
                },
            )
            .await
            .with_context(|| format!("adding demo user {email}"))?;
        ids.push(user.user_id);
        logins.push(DemoLogin {
            email: (*email).to_owned(),
            name: (*name).to_owned(),
            roles: roles.to_vec(),
        });
    }
    // Clinicians with caseloads: Okafor, Lindqvist, and the trainee Ruiz.
    let caseload = [ids[1], ids[2], ids[3]];
    let mut clients = Vec::new();
    for i in 0..CLIENT_COUNT {
        let details = ClientDetails {
            first_name: FIRST[i].to_owned(),
            last_name: LAST[i].to_owned(),
            preferred_name: None,
            date_of_birth: chrono::NaiveDate::from_ymd_opt(
                1970 + i as i32,
                1 + (i % 12) as u32,
                1 + i as u32,
            ),
            phone: Some(
                store::E164::parse(&format!("+1201555{:04}", 100 + i))
                    .expect("555-01xx numbers are valid E.164"),
            ),
            email: Some(
                store::EmailAddress::parse(
                    &format!("{}.{}@example.com", FIRST[i], LAST[i]).to_lowercase(),
                )
                .expect("valid"),
            ),
            telegram_chat_id: None,
            time_zone: store::TimeZoneName::parse("America/New_York").expect("a valid IANA name"),
            channel_preferences: vec![Channel::Sms, Channel::Portal],
            texting_consent: i % 4 != 3,
            primary_clinician_id: Some(caseload[i % caseload.len()]),
            contacts: vec![],
        };
        let c = store
            .create_client(&actor, &details)
            .await
            .with_context(|| format!("adding demo client {}", i + 1))?;
        clients.push((c.client_id, caseload[i % caseload.len()]));
    }
    seed_schedule(store, &actor, &clients).await?;
    Ok(logins)
}

/// Two weeks of appointments from today: each client weekly (every third one by telehealth),
/// plus a weekly group session of four of Dr. Okafor's clients.
async fn seed_schedule(
    store: &Store,
    actor: &Actor,
    clients: &[(store::ClientId, store::UserId)],
) -> anyhow::Result<()> {
    use store::appointments::{AppointmentDetails, Modality};
    let tz = store::TimeZoneName::parse("America/New_York").expect("a valid IANA name");
    let today = chrono::Utc::now().date_naive();
    let at = |day: i64, hour: u32| {
        (today + chrono::Duration::days(day))
            .and_hms_opt(hour, 0, 0)
            .expect("a valid hour")
            .and_utc()
    };
    for week in 0..2 {
        for (i, (client, clinician)) in clients.iter().enumerate() {
            let telehealth = i % 3 == 0;
            let starts_at = at(week * 7 + (i % 5) as i64, 13 + (i / 5) as u32);
            let d = AppointmentDetails {
                clinician_id: *clinician,
                client_ids: vec![*client],
                starts_at,
                ends_at: starts_at + chrono::Duration::minutes(50),
                time_zone: tz.clone(),
                modality: if telehealth {
                    Modality::Telehealth
                } else {
                    Modality::InPerson
                },
                location: (!telehealth).then(|| "Room 2".to_owned()),
                join_link: telehealth.then(|| {
                    format!(
                        "https://telehealth.example/willow/{}",
                        uuid::Uuid::new_v4().simple()
                    )
                }),
                service_code: Some("90834".to_owned()),
            };
            store
                .create_appointment(actor, store::ClientScope::Practice, &d)
                .await
                .context("adding a demo appointment")?;
        }
        let group: Vec<_> = clients
            .iter()
            .filter(|(_, c)| *c == clients[0].1)
            .take(4)
            .map(|(id, _)| *id)
            .collect();
        let starts_at = at(week * 7 + 3, 18);
        let d = AppointmentDetails {
            clinician_id: clients[0].1,
            client_ids: group,
            starts_at,
            ends_at: starts_at + chrono::Duration::minutes(90),
            time_zone: tz.clone(),
            modality: Modality::InPerson,
            location: Some("Group room".to_owned()),
            join_link: None,
            service_code: Some("90853".to_owned()),
        };
        store
            .create_appointment(actor, store::ClientScope::Practice, &d)
            .await
            .context("adding the demo group session")?;
    }
    Ok(())
}

/// Prints the demo sign-ins.
pub fn print_logins(logins: &[DemoLogin]) {
    println!("Demo practice \"{PRACTICE_NAME}\" is ready. Every person in it is fictional.");
    println!(
        "Sign in with any of these (password: {DEMO_PASSWORD}); you will set up an authenticator app on first sign-in:"
    );
    for l in logins {
        let roles: Vec<_> = l.roles.iter().map(|r| r.as_str()).collect();
        println!("  {:<40} {:<28} {}", l.email, l.name, roles.join(", "));
    }
}
