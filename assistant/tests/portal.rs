//! Secure messages through the running service (DESIGN flow 3): a staff message is stored
//! encrypted and its notice carries only the practice name and a portal link; the link is
//! single use, expires, and opens the thread only after the date of birth (five wrong answers
//! lock it); reading sets read receipts and is audited; the client's reply reaches staff as
//! unread; front desk may write, billers and administrators may not; forged CSRF tokens fail.

mod common;

use common::{Backend, TestApp};
use reqwest::{StatusCode, header};
use serde_json::json;
use store::clients::{Channel, ClientDetails};
use store::portal::{FactorCheck, LinkState};
use store::{Actor, ClientId, ClientScope};

const BODY: &str = "Your lab results are fine; we can lower the sertraline dose at the next visit.";
const DOB: &str = "1988-03-14";

/// A client with texting consent, an SMS number and a date of birth, assigned to `clinician`.
async fn seed_reachable_client(app: &TestApp, phone: &str) -> ClientId {
    let d = ClientDetails {
        first_name: "Marisol".into(),
        last_name: "Quintero".into(),
        preferred_name: None,
        date_of_birth: Some(DOB.parse().expect("a date")),
        phone: Some(store::E164::parse(phone).expect("E.164")),
        email: None,
        telegram_chat_id: None,
        time_zone: store::TimeZoneName::parse("America/Chicago").expect("zone"),
        channel_preferences: vec![Channel::Sms],
        texting_consent: true,
        primary_clinician_id: Some(app.person("clinician").user_id),
        contacts: vec![],
    };
    app.store.create_client(&Actor::system(app.practice_a), &d).await.expect("a client").client_id
}

/// The portal token in the client's newest notice, and that notice's text.
async fn newest_notice(app: &TestApp, client: ClientId) -> (String, String) {
    let rows = app.store.list_client_outbound(&Actor::system(app.practice_a), ClientScope::Practice, client).await.expect("outbox");
    let n = rows.iter().rev().find(|r| r.purpose == store::outbox::Purpose::PortalNotice).expect("a portal notice");
    let token = n.body.split("/portal/m/").nth(1).and_then(|rest| rest.split(' ').next()).expect("a link in the notice").to_owned();
    (token, n.body.clone())
}

fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect::<String>();
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// A browser without JavaScript: holds the portal cookie, does not follow redirects.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: header::HeaderMap,
    html: String,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Self { base: app.base.clone(), http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client"), cookie: None }
    }
    async fn finish(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(c) => req.header(header::COOKIE, c.clone()),
            None => req,
        };
        let r = req.send().await.expect("the server answers");
        let (status, headers) = (r.status(), r.headers().clone());
        if let Some(set) = headers.get(header::SET_COOKIE) {
            let pair = set.to_str().expect("ascii").split(';').next().expect("a pair").to_owned();
            self.cookie = if pair.ends_with('=') { None } else { Some(pair) };
        }
        Page { status, headers, html: r.text().await.expect("a body") }
    }
    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.finish(req).await
    }
    async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(form(pairs));
        self.finish(req).await
    }
}

/// The hidden CSRF value in a page's first form.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("a csrf field").to_owned()
}

const PORTAL_ENV: &[(&str, &str)] = &[("HEARTH_PUBLIC_URL", "http://127.0.0.1:8080")];

async fn the_notice_carries_a_link_only_and_the_thread_opens_after_the_date_of_birth(backend: Backend) {
    let app = TestApp::spawn_with(backend, PORTAL_ENV).await;
    let client = seed_reachable_client(&app, "+12015550171").await;
    let mut clinician = app.sign_in_as("clinician").await;
    let (status, sent) = clinician.post(&format!("/api/clients/{client}/secure-messages"), json!({ "body": BODY })).await;
    assert_eq!((status, sent["notice"].as_str()), (StatusCode::CREATED, Some("sms")), "{sent}");

    // The notice: practice name and link, nothing of the message or the client.
    let (token, text) = newest_notice(&app, client).await;
    assert!(text.starts_with("Practice A: you have a new secure message. Read it at http://127.0.0.1:8080/portal/m/"), "{text}");
    for secret in ["lab", "sertraline", "dose", "Marisol", "Quintero"] {
        assert!(!text.contains(secret), "the notice leaks {secret:?}: {text}");
    }
    assert_eq!(token.len(), 43, "256 random bits, base64url");

    // The link asks for the second factor and shows nothing of the thread.
    let mut browser = Browser::new(&app);
    let ask = browser.get(&format!("/portal/m/{token}")).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.html.contains("<label for=\"dob\">") && !ask.html.contains("sertraline") && !ask.html.contains("Marisol"), "{}", ask.html);
    assert_eq!(ask.headers[header::CACHE_CONTROL], "no-store");
    assert!(ask.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap_or_default().contains("default-src 'none'"));
    let before = browser.get("/portal/thread").await;
    assert_eq!(before.status, StatusCode::UNAUTHORIZED);
    assert!(!before.html.contains("sertraline"));

    // A forged CSRF token is refused and spends nothing.
    let forged = browser.post(&format!("/portal/m/{token}"), &[("csrf", &"0".repeat(64)), ("dob", DOB)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(browser.cookie.is_none());

    // The right date of birth opens a short, HttpOnly, SameSite=Strict session.
    let ok = browser.post(&format!("/portal/m/{token}"), &[("csrf", &csrf_of(&ask.html)), ("dob", DOB)]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let cookie = ok.headers[header::SET_COOKIE].to_str().expect("ascii").to_owned();
    assert!(cookie.starts_with("hearth_portal=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Max-Age=900"), "{cookie}");
    let thread = browser.get("/portal/thread").await;
    assert_eq!(thread.status, StatusCode::OK);
    assert!(thread.html.contains("sertraline"), "{}", thread.html);
    assert_eq!(thread.headers[header::CACHE_CONTROL], "no-store");

    // Read receipt, and the read is audited.
    let list = clinician.get(&format!("/api/clients/{client}/secure-messages")).await;
    assert_eq!(list.0, StatusCode::OK, "{}", list.3);
    let first = &list.1.as_array().expect("a thread")[0];
    assert_eq!(first["body"], BODY);
    assert!(first["read_at"].is_string(), "read receipt: {first}");
    let message_id = first["message_id"].as_str().expect("an id");
    let events = app.store.audit_events_for_object(&Actor::system(app.practice_a), "message", message_id).await.expect("audit");
    assert!(events.iter().any(|e| e.action == "portal.read" && e.user_id.is_none()), "{events:?}");

    // Single use: the link no longer works, whatever is offered.
    let again = browser.get(&format!("/portal/m/{token}")).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let mut stranger = Browser::new(&app);
    let reuse = stranger.post(&format!("/portal/m/{token}"), &[("csrf", &csrf_of(&ask.html)), ("dob", DOB)]).await;
    assert_eq!(reuse.status, StatusCode::NOT_FOUND);
    assert!(stranger.cookie.is_none());
    // A made-up token gets the very same page.
    let unknown = stranger.get(&format!("/portal/m/{}", "A".repeat(43))).await;
    assert_eq!((unknown.status, unknown.html.as_str()), (StatusCode::NOT_FOUND, again.html.as_str()));
    app.finish().await;
}

async fn five_wrong_dates_of_birth_lock_the_link_and_an_expired_link_opens_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, PORTAL_ENV).await;
    let client = seed_reachable_client(&app, "+12015550172").await;
    let mut desk = app.sign_in_as("front_desk").await;
    for _ in 0..2 {
        let (status, sent) = desk.post(&format!("/api/clients/{client}/secure-messages"), json!({ "body": BODY })).await;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
    }
    let (token, _) = newest_notice(&app, client).await;
    let mut browser = Browser::new(&app);
    let ask = browser.get(&format!("/portal/m/{token}")).await;
    let csrf = csrf_of(&ask.html);
    for left in (1..5).rev() {
        let wrong = browser.post(&format!("/portal/m/{token}"), &[("csrf", &csrf), ("dob", "1990-01-01")]).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.html.contains(&format!("{left} tr")), "{}", wrong.html);
    }
    let fifth = browser.post(&format!("/portal/m/{token}"), &[("csrf", &csrf), ("dob", "1990-01-02")]).await;
    assert_eq!(fifth.status, StatusCode::FORBIDDEN);
    let right_too_late = browser.post(&format!("/portal/m/{token}"), &[("csrf", &csrf), ("dob", DOB)]).await;
    assert_eq!(right_too_late.status, StatusCode::FORBIDDEN, "locked stays locked");
    assert!(browser.cookie.is_none());
    assert_eq!(browser.get("/portal/thread").await.status, StatusCode::UNAUTHORIZED);
    let denied = app.store.audit_events_for_object(&Actor::system(app.practice_a), "client", &client.to_string()).await.expect("audit");
    assert_eq!(denied.iter().filter(|e| e.action == "portal.verify" && e.outcome == store::Outcome::Denied).count(), 5);

    // The other link: fine now, refused 31 minutes on (30-minute links).
    let rows = app.store.list_client_outbound(&Actor::system(app.practice_a), ClientScope::Practice, client).await.expect("outbox");
    let older = rows.iter().find(|r| r.purpose == store::outbox::Purpose::PortalNotice && !r.body.contains(&token)).expect("the first notice");
    let other = older.body.split("/portal/m/").nth(1).and_then(|r| r.split(' ').next()).expect("a token").to_owned();
    let now = chrono::Utc::now();
    assert!(matches!(app.store.portal_link(&other, now).await.expect("lookup"), LinkState::AskFactor { attempts_left: 5, .. }));
    let later = now + store::portal::LINK_TTL + chrono::Duration::minutes(1);
    assert_eq!(app.store.portal_link(&other, later).await.expect("lookup"), LinkState::Refused);
    let session = assistant::portal::random_token();
    assert_eq!(app.store.verify_portal_dob(&other, DOB.parse().expect("date"), &session, later).await.expect("verify"), FactorCheck::Refused);
    assert_eq!(app.store.portal_session(&session, now).await.expect("lookup"), None, "no session from an expired link");
    app.finish().await;
}

async fn a_client_reply_is_stored_and_staff_see_it_unread(backend: Backend) {
    let app = TestApp::spawn_with(backend, PORTAL_ENV).await;
    let client = seed_reachable_client(&app, "+12015550173").await;
    let mut clinician = app.sign_in_as("clinician").await;
    let (status, _) = clinician.post(&format!("/api/clients/{client}/secure-messages"), json!({ "body": BODY })).await;
    assert_eq!(status, StatusCode::CREATED);
    let (token, _) = newest_notice(&app, client).await;
    let mut browser = Browser::new(&app);
    let ask = browser.get(&format!("/portal/m/{token}")).await;
    assert_eq!(browser.post(&format!("/portal/m/{token}"), &[("csrf", &csrf_of(&ask.html)), ("dob", DOB)]).await.status, StatusCode::SEE_OTHER);
    let thread = browser.get("/portal/thread").await;
    let csrf = csrf_of(&thread.html);

    // A forged CSRF token stores nothing.
    let forged = browser.post("/portal/reply", &[("csrf", &"f".repeat(64)), ("body", "forged words")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let sent = browser.post("/portal/reply", &[("csrf", &csrf), ("body", "Thank you <b>so</b> much")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    let shown = browser.get("/portal/thread").await;
    assert!(shown.html.contains("Thank you &lt;b&gt;so&lt;/b&gt; much"), "escaped: {}", shown.html);

    // The client's clinician gets an alert (ids only), and no one else does.
    let alerts = clinician.get("/api/alerts").await;
    assert_eq!(alerts.1.as_array().map(Vec::len), Some(1), "{}", alerts.3);
    assert_eq!(alerts.1[0]["client_id"], json!(client.to_string()));
    assert!(!alerts.3.contains("Thank you"));
    assert_eq!(app.sign_in_as("colleague").await.get("/api/alerts").await.1, json!([]));

    // Staff are told: one unread reply for this client, gone once they read the thread.
    let unread = clinician.get("/api/portal/unread").await;
    assert_eq!(unread.1, json!([{ "client_id": client.to_string(), "unread": 1 }]), "{}", unread.3);
    let list = clinician.get(&format!("/api/clients/{client}/secure-messages")).await;
    let msgs = list.1.as_array().expect("a thread");
    assert_eq!(msgs.len(), 2);
    assert_eq!((msgs[1]["direction"].as_str(), msgs[1]["channel"].as_str(), msgs[1]["body"].as_str()), (Some("inbound"), Some("portal"), Some("Thank you <b>so</b> much")));
    assert!(!msgs.iter().any(|m| m["body"] == "forged words"));
    assert_eq!(clinician.get("/api/portal/unread").await.1, json!([]));

    // Signing out ends the session.
    assert_eq!(browser.post("/portal/sign-out", &[("csrf", &csrf)]).await.status, StatusCode::OK);
    assert_eq!(browser.get("/portal/thread").await.status, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

async fn front_desk_may_write_but_billers_admins_and_other_caseloads_may_not(backend: Backend) {
    let app = TestApp::spawn_with(backend, PORTAL_ENV).await;
    let client = seed_reachable_client(&app, "+12015550174").await;
    let path = format!("/api/clients/{client}/secure-messages");
    for who in ["biller", "admin", "colleague"] {
        let mut s = app.sign_in_as(who).await;
        assert_eq!(s.post(&path, json!({ "body": BODY })).await.0, StatusCode::NOT_FOUND, "{who} writes");
        assert_eq!(s.get(&path).await.0, StatusCode::NOT_FOUND, "{who} reads");
    }
    let mut biller = app.sign_in_as("biller").await;
    assert_eq!(biller.get("/api/portal/unread").await.0, StatusCode::FORBIDDEN);
    let events = app.store.audit_events_for_object(&Actor::system(app.practice_a), "client", &client.to_string()).await.expect("audit");
    assert!(events.iter().filter(|e| e.action == "message.create" && e.outcome == store::Outcome::Denied).count() >= 3, "{events:?}");
    let rows = app.store.list_client_outbound(&Actor::system(app.practice_a), ClientScope::Practice, client).await.expect("outbox");
    assert!(rows.is_empty(), "no notice from a refused write");

    let mut desk = app.sign_in_as("front_desk").await;
    let (status, sent) = desk.post(&path, json!({ "body": "Please call us to reschedule." })).await;
    assert_eq!((status, sent["notice"].as_str()), (StatusCode::CREATED, Some("sms")), "{sent}");
    let (status, bad) = desk.post(&path, json!({ "body": "   " })).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("body")));

    // Opted out of texts: the message is kept, no notice is queued.
    app.store.set_opt_out(&Actor::system(app.practice_a), &store::outbox::Recipient::Sms(store::E164::parse("+12015550174").expect("E.164")), store::opt_out::OptOutSource::Keyword).await.expect("opt out");
    let (status, sent) = desk.post(&path, json!({ "body": "Second note" })).await;
    assert_eq!((status, sent["notice"].as_str()), (StatusCode::CREATED, Some("none")), "{sent}");
    let rows = app.store.list_client_outbound(&Actor::system(app.practice_a), ClientScope::Practice, client).await.expect("outbox");
    assert_eq!(rows.len(), 1, "only the first message was announced");
    app.finish().await;
}

/// The newest texted code in the client's outbox, and its text.
async fn newest_code(app: &TestApp, client: ClientId) -> (String, String) {
    let rows = app.store.list_client_outbound(&Actor::system(app.practice_a), ClientScope::Practice, client).await.expect("outbox");
    let n = rows.iter().rev().find(|r| r.purpose == store::outbox::Purpose::VerificationCode).expect("a texted code");
    let code: String = n.body.split("code is ").nth(1).map(|r| r.chars().take_while(char::is_ascii_digit).collect()).unwrap_or_default();
    (code, n.body.clone())
}

async fn a_texted_code_opens_the_thread_expires_and_locks_after_five_wrong_tries(backend: Backend) {
    let app = TestApp::spawn_with(backend, PORTAL_ENV).await;
    let client = seed_reachable_client(&app, "+12015550175").await;
    let mut clinician = app.sign_in_as("clinician").await;
    for _ in 0..2 {
        assert_eq!(clinician.post(&format!("/api/clients/{client}/secure-messages"), json!({ "body": BODY })).await.0, StatusCode::CREATED);
    }
    let rows = app.store.list_client_outbound(&Actor::system(app.practice_a), ClientScope::Practice, client).await.expect("outbox");
    let tokens: Vec<String> = rows.iter().map(|r| r.body.split("/portal/m/").nth(1).and_then(|t| t.split(' ').next()).expect("a link").to_owned()).collect();

    // First link: ask for a code; the text holds the practice name and 6 digits only.
    let mut browser = Browser::new(&app);
    let ask = browser.get(&format!("/portal/m/{}", tokens[0])).await;
    let csrf = csrf_of(&ask.html);
    assert_eq!(browser.post(&format!("/portal/m/{}/code", tokens[0]), &[("csrf", &"0".repeat(64))]).await.status, StatusCode::FORBIDDEN, "forged CSRF");
    let sent = browser.post(&format!("/portal/m/{}/code", tokens[0]), &[("csrf", &csrf)]).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.html);
    assert!(sent.html.contains("<label for=\"code\">"));
    let (code, text) = newest_code(&app, client).await;
    assert_eq!(code.len(), 6, "{text}");
    assert_eq!(text, format!("Practice A: your code is {code}. It works for 10 minutes."));
    // A code is not valid 11 minutes on (store clock), and that try counts.
    let session = assistant::portal::random_token();
    let later = chrono::Utc::now() + store::portal::CODE_TTL + chrono::Duration::minutes(1);
    assert_eq!(app.store.verify_portal_factor(&tokens[0], store::portal::SecondFactor::Code(&code), &session, later).await.expect("verify"), FactorCheck::Wrong { attempts_left: 4 });
    let ok = browser.post(&format!("/portal/m/{}", tokens[0]), &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    assert!(browser.get("/portal/thread").await.html.contains("sertraline"));

    // Second link: five wrong codes lock it, and then the right one is refused too.
    let mut other = Browser::new(&app);
    let ask = other.get(&format!("/portal/m/{}", tokens[1])).await;
    let csrf = csrf_of(&ask.html);
    assert_eq!(other.post(&format!("/portal/m/{}/code", tokens[1]), &[("csrf", &csrf)]).await.status, StatusCode::OK);
    let (code, _) = newest_code(&app, client).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..5).rev() {
        let r = other.post(&format!("/portal/m/{}", tokens[1]), &[("csrf", &csrf), ("code", wrong)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.html.contains(&format!("{left} tr")), "{}", r.html);
    }
    assert_eq!(other.post(&format!("/portal/m/{}", tokens[1]), &[("csrf", &csrf), ("code", wrong)]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(other.post(&format!("/portal/m/{}", tokens[1]), &[("csrf", &csrf), ("code", &code)]).await.status, StatusCode::FORBIDDEN);
    assert!(other.cookie.is_none());
    app.finish().await;
}

on_both_backends!(
    a_texted_code_opens_the_thread_expires_and_locks_after_five_wrong_tries,
    the_notice_carries_a_link_only_and_the_thread_opens_after_the_date_of_birth,
    five_wrong_dates_of_birth_lock_the_link_and_an_expired_link_opens_nothing,
    a_client_reply_is_stored_and_staff_see_it_unread,
    front_desk_may_write_but_billers_admins_and_other_caseloads_may_not,
);
