//! The staff web app in a real browser: headless Chromium (Debian `chromium`) driven over
//! WebDriver by `chromedriver` (Debian `chromium-driver`), both installed by scripts/deps.sh.
//! Screenshots are written to `target/test-artifacts/` (or `HEARTH_TEST_ARTIFACTS`).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use assistant::auth::totp;
use common::{Backend, PASSWORD, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A chromedriver child process on a free port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("an address").port()
}

async fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (Debian package chromium-driver; scripts/deps.sh installs it)");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Driver { child, url };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start listening on {port} within 10 s");
}

async fn browser(driver: &Driver) -> Client {
    browser_with(driver, &[]).await
}

async fn browser_with(driver: &Driver, extra: &[String]) -> Client {
    // Both rustls crypto back ends are compiled in (through different crates); choose one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args: Vec<String> = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900", "--no-first-run"].map(str::to_owned).to_vec();
    args.extend(extra.iter().cloned());
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), json!({ "binary": "/usr/bin/chromium", "args": args }));
    ClientBuilder::rustls().expect("a TLS setup for the WebDriver client").capabilities(caps).connect(&driver.url).await.expect("a Chromium session")
}

fn artifacts() -> std::path::PathBuf {
    let dir = std::env::var_os("HEARTH_TEST_ARTIFACTS").map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts"), std::path::PathBuf::from);
    std::fs::create_dir_all(&dir).expect("an artifacts folder");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(artifacts().join(format!("{name}.png")), png).expect("saved");
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.expect("cleared");
    e.send_keys(text).await.expect("typed");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.expect("clicked");
}

async fn text_of(c: &Client, css: &str) -> String {
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.expect("text")
}

/// Every visible form control has a label a screen reader announces (WCAG 2.1, 1.3.1 and 4.1.2).
async fn assert_labelled(c: &Client, page: &str) {
    let unlabelled = c
        .execute("return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea')).filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id || e.name || e.type);", vec![])
        .await
        .expect("runs");
    assert_eq!(unlabelled, json!([]), "{page}: form controls without a label");
}

/// Waits for the note page to show a status line starting with `prefix` (after a form post the
/// old page is still there for a moment, so waiting for the element alone is not enough).
async fn wait_status(c: &Client, prefix: &str) {
    let xpath = format!("//p[@id='note-status'][starts-with(normalize-space(.), '{prefix}')]");
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath(&xpath)).await.unwrap_or_else(|e| panic!("status {prefix:?}: {e}"));
}

async fn path_of(c: &Client) -> String {
    c.current_url().await.expect("a url").path().to_owned()
}

/// What enrolling through the page gave the test: the authenticator key, the last time step
/// whose code was used (the server refuses a step twice), and the recovery codes.
struct Enrolled {
    secret: Vec<u8>,
    last_step: i64,
    recovery_codes: Vec<String>,
}

impl Enrolled {
    /// A code the server has not seen: the next step, waiting for it if it is still too far
    /// ahead (the server accepts one step of drift).
    async fn next_code(&mut self) -> String {
        let step = (self.last_step + 1).max(totp::step_at(chrono::Utc::now().timestamp()));
        while totp::step_at(chrono::Utc::now().timestamp()) + 1 < step {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.last_step = step;
        totp::code_at(&totp::TotpSecret::from_bytes(self.secret.clone()), step * totp::STEP_SECONDS)
    }
}

/// Signs in through the pages: password, authenticator enrolment (QR code and key shown),
/// code. Returns the recovery codes the page showed.
async fn sign_in(c: &Client, app: &TestApp, email: &str) -> Vec<String> {
    enrol(c, app, email).await.recovery_codes
}

async fn enrol(c: &Client, app: &TestApp, email: &str) -> Enrolled {
    c.goto(&format!("{}/app", app.base)).await.expect("opens");
    assert_eq!(path_of(c).await, "/app/login", "signed-out visitors are sent to sign in");
    fill(c, "#email", email).await;
    fill(c, "#password", PASSWORD).await;
    click(c, "#sign-in").await;
    c.wait().at_most(Duration::from_secs(10)).for_url(&url::Url::parse(&format!("{}/app/two-factor", app.base)).expect("a url")).await.expect("the second step");
    click(c, "#enroll").await;
    let secret = text_of(c, "#totp-secret").await;
    let svg = c.find(Locator::Css(".qr svg")).await.expect("a QR code drawn in the page");
    assert!(svg.attr("viewBox").await.expect("reads").is_some() || svg.attr("width").await.expect("reads").is_some());
    let codes: Vec<String> = text_of(c, "#recovery-codes").await.split_whitespace().map(str::to_owned).collect();
    assert_eq!(codes.len(), 10, "ten recovery codes");
    screenshot(c, "sign-in-enrol").await;
    let raw = data_encoding::BASE32_NOPAD.decode(secret.trim().as_bytes()).expect("the key is base32");
    let mut enrolled = Enrolled { secret: raw, last_step: 0, recovery_codes: codes };
    let code = enrolled.next_code().await;
    fill(c, "#code", &code).await;
    click(c, "#verify").await;
    c.wait().at_most(Duration::from_secs(10)).for_url(&url::Url::parse(&format!("{}/app", app.base)).expect("a url")).await.expect("home after the code");
    enrolled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_signs_in_with_an_authenticator_and_signs_out() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;

    // A wrong password: the page says so, and no session starts.
    c.goto(&format!("{}/app/login", app.base)).await.expect("opens");
    assert_labelled(&c, "sign-in").await;
    fill(&c, "#email", &app.person("clinician").email).await;
    fill(&c, "#password", "not the password").await;
    click(&c, "#sign-in").await;
    let error = text_of(&c, "#error").await;
    assert!(error.contains("do not match"), "{error}");
    assert_eq!(path_of(&c).await, "/app/login");
    c.goto(&format!("{}/app", app.base)).await.expect("opens");
    assert_eq!(path_of(&c).await, "/app/login", "still signed out");

    let codes = sign_in(&c, &app, &app.person("clinician").email).await;
    assert_eq!(text_of(&c, "h1").await, "Home");
    assert_eq!(c.title().await.expect("a title"), "Home · Hearth");
    assert!(text_of(&c, "#alert-count").await.contains("No new client messages"));
    screenshot(&c, "home").await;

    // The page's security headers, fetched by the signed-in browser itself is not possible
    // through WebDriver, so the same request goes through reqwest with the browser's cookie.
    let cookie = c.get_all_cookies().await.expect("cookies").into_iter().find(|k| k.name() == "hearth_session").expect("the session cookie");
    assert!(cookie.http_only().unwrap_or(false), "HttpOnly");
    let r = reqwest::Client::new().get(format!("{}/app", app.base)).header("cookie", format!("hearth_session={}", cookie.value())).send().await.expect("answers");
    let csp = r.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["cache-control"], "no-store");

    // Sign out: the session ends; /app goes back to sign-in.
    click(&c, "header button[type=submit]").await;
    c.wait().at_most(Duration::from_secs(10)).for_url(&url::Url::parse(&format!("{}/app/login", app.base)).expect("a url")).await.expect("signed out");
    c.goto(&format!("{}/app", app.base)).await.expect("opens");
    assert_eq!(path_of(&c).await, "/app/login");
    let stale = reqwest::Client::new().get(format!("{}/app", app.base)).header("cookie", format!("hearth_session={}", cookie.value())).send().await.expect("answers");
    assert_eq!(stale.url().path(), "/app/login", "the old cookie no longer works");

    // A recovery code signs in once.
    c.goto(&format!("{}/app/login", app.base)).await.expect("opens");
    fill(&c, "#email", &app.person("clinician").email).await;
    fill(&c, "#password", PASSWORD).await;
    click(&c, "#sign-in").await;
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("details summary")).await.expect("the recovery option").click().await.expect("opens");
    fill(&c, "#recovery", &codes[0]).await;
    click(&c, "details button[type=submit]").await;
    c.wait().at_most(Duration::from_secs(10)).for_url(&url::Url::parse(&format!("{}/app", app.base)).expect("a url")).await.expect("home after a recovery code");

    c.close().await.expect("the browser closes");
    app.finish().await;
}

fn shared(path: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared").join(path).canonicalize().expect("../shared is beside the checkout")
}

/// A client of the clinician's with AI-scribe consent on file.
async fn consenting_client(app: &TestApp) -> store::ClientId {
    app.seed_scribe_client("clinician", true).await
}

fn running_worker(app: &TestApp) -> assistant::scribe_worker::RunningWorker {
    use models::testing::ggml_whisper::{cache_dir, cached_random_model, vocab_file};
    let model = cached_random_model(&vocab_file().expect("the Whisper vocabulary"), "tiny.en", &cache_dir()).expect("a random tiny.en model");
    let settings = assistant::scribe_worker::WorkerSettings {
        speech_model: model.display().to_string(),
        models_dir: std::path::PathBuf::from(std::env::var("HEARTH_MODELS_DIR").expect("HEARTH_MODELS_DIR (scripts/test.sh sets it)")),
        poll: Duration::from_millis(200),
        threads: 2,
        ..Default::default()
    };
    assistant::scribe_worker::RunningWorker::start(assistant::scribe_worker::ScribeWorker::new(app.store.clone(), settings).expect("a worker"))
}

/// Waits on a job page until its review link shows, then opens it.
async fn open_review_when_ready(c: &Client) {
    let link = c.wait().at_most(Duration::from_secs(120)).for_element(Locator::Css("#review-link:not([hidden])")).await.expect("the draft becomes ready");
    assert_eq!(text_of(c, "#status").await, "The draft is ready.");
    assert_eq!(c.execute("return document.getElementById('progress').value;", vec![]).await.expect("reads"), json!(100));
    link.click().await.expect("opens the review");
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#transcript")).await.expect("the review page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcript_and_a_recording_become_drafts_whose_sentences_lead_to_their_evidence() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = consenting_client(&app).await;
    let worker = running_worker(&app);
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app, &app.person("clinician").email).await;

    // 1. Paste a transcript from ../shared/corpus (set through the DOM: typing 10 KB is slow).
    c.goto(&format!("{}/app/scribe/new?client_id={client}", app.base)).await.expect("opens");
    let vtt = std::fs::read_to_string(shared("corpus/s01-panic-cbt.vtt")).expect("a corpus transcript");
    c.execute("document.getElementById('transcript').value = arguments[0];", vec![json!(vtt)]).await.expect("sets the transcript");
    c.find(Locator::Css("#format option[value=dap]")).await.expect("DAP").click().await.expect("chosen");
    assert_labelled(&c, "new draft").await;
    screenshot(&c, "scribe-new").await;
    click(&c, "#start-job").await;
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#job")).await.expect("the job page");
    open_review_when_ready(&c).await;
    assert_eq!(text_of(&c, "#draft-h").await, "DAP draft");
    assert_labelled(&c, "review").await;

    // Click a sentence: exactly its cues are highlighted, and the first is scrolled into view.
    let sentence = c.find(Locator::Css(".draft button.sentence")).await.expect("a sentence");
    let cited: Vec<String> = sentence.attr("data-evidence").await.expect("reads").expect("evidence").split(' ').map(str::to_owned).collect();
    assert!(!cited.is_empty());
    sentence.click().await.expect("clicked");
    let marked: Vec<String> = c
        .execute("return Array.from(document.querySelectorAll('.cues li.evidence')).map(li => li.dataset.cue);", vec![])
        .await
        .expect("reads the highlight")
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a cue").to_owned())
        .collect();
    assert_eq!(marked, cited, "the highlighted cues are the ones the sentence cites");
    assert_eq!(sentence.attr("aria-pressed").await.expect("reads").as_deref(), Some("true"));
    let in_view = c
        .execute("const r = document.getElementById('cue-' + arguments[0]).getBoundingClientRect(); const t = document.querySelector('.transcript').getBoundingClientRect(); return r.bottom > t.top && r.top < t.bottom;", vec![json!(cited[0])])
        .await
        .expect("reads");
    assert_eq!(in_view, json!(true), "the first cited cue is scrolled into view");
    screenshot(&c, "review-evidence").await;
    // The same page on a tablet held upright: the transcript stacks under the draft.
    c.set_window_size(768, 1024).await.expect("resized");
    screenshot(&c, "review-tablet").await;
    c.set_window_size(1280, 900).await.expect("resized back");

    // 2. Upload a recording as dictation (../shared/audio/jfk.wav) through the file picker.
    c.goto(&format!("{}/app/scribe/new?client_id={client}", app.base)).await.expect("opens");
    click(&c, "#from-dictation").await;
    c.find(Locator::Css("#audio")).await.expect("a file input").send_keys(&shared("audio/jfk.wav").display().to_string()).await.expect("chooses the file");
    click(&c, "#start-job").await;
    c.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("#job")).await.expect("the job page after the upload");
    screenshot(&c, "scribe-progress").await;
    open_review_when_ready(&c).await;
    assert!(c.find(Locator::Css(".cues li")).await.is_ok(), "the recording's transcript is shown");

    // The review queue lists both drafts, oldest first.
    c.goto(&format!("{}/app/review", app.base)).await.expect("opens");
    let rows = c.find_all(Locator::Css("#queue tbody tr")).await.expect("rows");
    assert_eq!(rows.len(), 2);
    assert!(c.title().await.expect("a title").starts_with("(2) "), "the count is in the title");
    let review_url = c.find(Locator::Css("#queue tbody tr a")).await.expect("a link").attr("href").await.expect("reads").expect("href");

    // The front desk cannot open a note's draft.
    c.delete_all_cookies().await.expect("signed out");
    sign_in(&c, &app, &app.person("front_desk").email).await;
    c.goto(&format!("{}{review_url}", app.base)).await.expect("opens");
    assert_eq!(text_of(&c, "h1").await, "Not found");
    assert!(c.find(Locator::Css("#transcript")).await.is_err(), "no transcript shown");
    screenshot(&c, "front-desk-refused").await;

    c.close().await.expect("the browser closes");
    worker.stop().await;
    app.finish().await;
}

/// Signs in a user who has enrolled already: password, then a fresh code; waits for home.
async fn sign_in_again(c: &Client, app: &TestApp, email: &str, enrolled: &mut Enrolled) {
    c.goto(&format!("{}/app/login", app.base)).await.expect("opens");
    fill(c, "#email", email).await;
    fill(c, "#password", PASSWORD).await;
    click(c, "#sign-in").await;
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#code")).await.expect("the code step");
    let code = enrolled.next_code().await;
    fill(c, "#code", &code).await;
    click(c, "#verify").await;
    c.wait().at_most(Duration::from_secs(10)).for_url(&url::Url::parse(&format!("{}/app", app.base)).expect("a url")).await.expect("home after the code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainee_signs_the_supervisor_returns_then_co_signs_and_signed_notes_take_only_addenda() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    use store::clients::{Channel, ClientDetails};
    let trainee = app.person("trainee").user_id;
    let d = ClientDetails {
        first_name: "Tomasz".into(), last_name: "Wierzbicki".into(), preferred_name: None, date_of_birth: None, phone: None, email: None, telegram_chat_id: None,
        time_zone: store::TimeZoneName::parse("America/Chicago").expect("zone"), channel_preferences: vec![Channel::Sms], texting_consent: false,
        primary_clinician_id: Some(trainee), contacts: vec![],
    };
    let client = app.store.create_client(&store::Actor::system(app.practice_a), &d).await.expect("a client").client_id;
    let draft = store::notes::NewNote { client_id: client, appointment_id: None, format: "DAP".into(), body: "Data:\nClient reported sleeping five hours a night.".into() };
    let note = app.store.create_note(&store::Actor::user(app.practice_a, trainee), store::ClientScope::Practice, &draft).await.expect("a draft").summary.note_id;
    let page = format!("{}/app/notes/{note}", app.base);
    let driver = start_driver().await;
    let c = browser(&driver).await;

    // Started two days ago: the draft is past the practice's 24-hour limit. (The date part of
    // the stored timestamp is moved back, keeping the store's own format.)
    {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&app.database_url).await.expect("the test database");
        let created: String = sqlx::query_scalar("SELECT created_at FROM note WHERE note_id = ?").bind(note.as_uuid()).fetch_one(&mut db).await.expect("the note row");
        let day: chrono::NaiveDate = created[..10].parse().expect("an ISO date first");
        let moved = format!("{}{}", day - chrono::Days::new(2), &created[10..]);
        sqlx::query("UPDATE note SET created_at = ? WHERE note_id = ?").bind(moved).bind(note.as_uuid()).execute(&mut db).await.expect("moved back");
    }

    // The trainee's home shows the overdue draft, and the count is in the tab title.
    let mut t = enrol(&c, &app, &app.person("trainee").email).await;
    assert!(text_of(&c, "#unsigned-count").await.contains("1 note unsigned for more than 24 hours"));
    assert!(c.title().await.expect("a title").starts_with("(1) "), "the count is in the title");

    // The trainee edits the draft and signs it with a fresh authenticator code.
    c.goto(&page).await.expect("opens");
    assert_labelled(&c, "note").await;
    let body = c.find(Locator::Css("#body")).await.expect("an editor");
    body.send_keys("\nAssessment: sleep is improving.").await.expect("typed");
    click(&c, "#save").await;
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#sign-code")).await.expect("back on the note");
    assert!(text_of(&c, "#note-status").await.contains("version 2"), "a save is a new version");
    fill(&c, "#sign-code", "000000").await;
    click(&c, "#sign").await;
    assert!(text_of(&c, "#error").await.starts_with("Not signed"), "a wrong code does not sign");
    let code = t.next_code().await;
    fill(&c, "#sign-code", &code).await;
    click(&c, "#sign").await;
    wait_status(&c, "Signed").await;
    assert!(c.find(Locator::Css("#body")).await.is_err(), "a signed note has no editor");
    screenshot(&c, "note-signed").await;

    // The supervisor finds it in the co-sign queue and returns it with a comment.
    c.delete_all_cookies().await.expect("signed out");
    let mut s = enrol(&c, &app, &app.person("supervisor").email).await;
    c.goto(&format!("{}/app/cosign", app.base)).await.expect("opens");
    assert_eq!(c.find_all(Locator::Css("#cosign-queue tbody tr")).await.expect("rows").len(), 1);
    click(&c, "#cosign-queue a").await;
    fill(&c, "#comment", "Please add how the client's sleep was measured.").await;
    click(&c, "#return").await;
    c.wait().at_most(Duration::from_secs(10)).for_url(&url::Url::parse(&format!("{}/app/cosign", app.base)).expect("a url")).await.expect("back on the queue");
    assert!(c.find(Locator::Css("#cosign-queue")).await.is_err(), "the returned note left the queue");

    // The trainee sees it returned, answers with an addendum; the note itself never changes.
    c.delete_all_cookies().await.expect("signed out");
    sign_in_again(&c, &app, &app.person("trainee").email, &mut t).await;
    assert!(text_of(&c, "#returned-list").await.contains("DAP note"), "home lists the returned note");
    click(&c, "#returned-list a").await;
    assert!(text_of(&c, "#returned").await.contains("how the client's sleep was measured"));
    fill(&c, "#addendum", "Sleep hours are from the client's sleep diary.").await;
    click(&c, "#add-addendum").await;
    assert!(text_of(&c, "#addenda").await.contains("sleep diary"));
    assert!(text_of(&c, "#note-body").await.contains("sleep is improving"), "the signed text is as signed");

    // The supervisor co-signs (code again).
    c.delete_all_cookies().await.expect("signed out");
    sign_in_again(&c, &app, &app.person("supervisor").email, &mut s).await;
    c.goto(&page).await.expect("opens");
    let code = s.next_code().await;
    fill(&c, "#cosign-code", &code).await;
    click(&c, "#cosign").await;
    wait_status(&c, "Signed and co-signed").await;
    click(&c, "#versions summary").await;
    assert_eq!(c.find_all(Locator::Css("#versions li")).await.expect("versions").len(), 2, "every version is kept");
    screenshot(&c, "note-cosigned").await;

    // The front desk cannot open the note.
    c.delete_all_cookies().await.expect("signed out");
    sign_in(&c, &app, &app.person("front_desk").email).await;
    c.goto(&page).await.expect("opens");
    assert_eq!(text_of(&c, "h1").await, "Not found");
    assert!(c.find(Locator::Css("#note-body")).await.is_err());

    c.close().await.expect("the browser closes");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_consent_the_draft_is_refused_until_consent_is_recorded_on_the_client_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    use store::clients::{Channel, ClientDetails};
    let d = ClientDetails {
        first_name: "Olu".into(), last_name: "Adeyemi".into(), preferred_name: None, date_of_birth: Some("1990-02-03".parse().expect("a date")), phone: None, email: None,
        telegram_chat_id: None, time_zone: store::TimeZoneName::parse("America/Chicago").expect("zone"), channel_preferences: vec![Channel::Sms], texting_consent: false,
        primary_clinician_id: Some(app.person("clinician").user_id), contacts: vec![],
    };
    let client = app.store.create_client(&store::Actor::system(app.practice_a), &d).await.expect("a client").client_id;
    let vtt = std::fs::read_to_string(shared("corpus/s01-panic-cbt.vtt")).expect("a corpus transcript");
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app, &app.person("clinician").email).await;

    c.goto(&format!("{}/app/scribe/new?client_id={client}", app.base)).await.expect("opens");
    c.execute("document.getElementById('transcript').value = arguments[0];", vec![json!(vtt)]).await.expect("sets the transcript");
    click(&c, "#start-job").await;
    let error = text_of(&c, "#error").await;
    assert!(error.contains("no AI-scribe consent on file") && error.contains("Consents"), "says why and how: {error}");
    let jobs = app.store.list_scribe_jobs(&store::Actor::system(app.practice_a), store::ClientScope::Practice, &store::jobs::ScribeJobFilter::default()).await.expect("jobs");
    assert!(jobs.is_empty(), "nothing was queued");
    screenshot(&c, "consent-refused").await;

    // The client page: consents, and the form to record one.
    c.goto(&format!("{}/app/clients/{client}", app.base)).await.expect("opens");
    assert_eq!(text_of(&c, "h1").await, "Olu Adeyemi");
    assert!(text_of(&c, "#consents").await.contains("No consents on file"));
    c.find(Locator::Css("#consent-kind option[value=ai_scribing]")).await.expect("the AI scribe kind").click().await.expect("chosen");
    click(&c, "#record-consent").await;
    assert!(text_of(&c, "#consent-list").await.contains("AI scribe: active"));

    c.goto(&format!("{}/app/scribe/new?client_id={client}", app.base)).await.expect("opens");
    c.execute("document.getElementById('transcript').value = arguments[0];", vec![json!(vtt)]).await.expect("sets the transcript");
    click(&c, "#start-job").await;
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#job")).await.expect("the job is queued now");

    // A biller sees the client's notes as metadata only, with no link into a note.
    c.delete_all_cookies().await.expect("signed out");
    sign_in(&c, &app, &app.person("biller").email).await;
    c.goto(&format!("{}/app/clients/{client}", app.base)).await.expect("opens");
    assert!(c.find(Locator::Css("#consents")).await.is_err(), "billers do not see consents");
    assert!(c.find(Locator::Css("#notes a")).await.is_err(), "no links into note text");

    c.close().await.expect("the browser closes");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dictation_recorded_in_the_browser_becomes_a_draft() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = consenting_client(&app).await;
    let worker = running_worker(&app);
    let driver = start_driver().await;
    // Chromium's fake microphone plays ../shared/audio/jfk.wav; the permission prompt is accepted.
    let mic = format!("--use-file-for-fake-audio-capture={}", shared("audio/jfk.wav").display());
    let c = browser_with(&driver, &["--use-fake-device-for-media-stream".to_owned(), "--use-fake-ui-for-media-stream".to_owned(), mic]).await;
    sign_in(&c, &app, &app.person("clinician").email).await;
    c.goto(&format!("{}/app/scribe/new?client_id={client}", app.base)).await.expect("opens");
    click(&c, "#record-start").await;
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#record-stop:not([disabled])")).await.expect("recording");
    tokio::time::sleep(Duration::from_secs(4)).await;
    click(&c, "#record-stop").await;
    let state = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//span[@id='record-state'][starts-with(., 'Recorded')]")).await.expect("a recording");
    assert!(state.text().await.expect("text").contains("KB"));
    assert_eq!(c.find(Locator::Css("#from-dictation")).await.expect("a radio").prop("checked").await.expect("reads").as_deref(), Some("true"));
    click(&c, "#start-job").await;
    c.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("#job")).await.expect("the job page after the upload");
    open_review_when_ready(&c).await;
    let jobs = app.store.list_scribe_jobs(&store::Actor::system(app.practice_a), store::ClientScope::Practice, &store::jobs::ScribeJobFilter::default()).await.expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, store::jobs::ScribeKind::Dictation);
    assert!(jobs[0].input.is_none(), "the recording was deleted once transcribed");
    screenshot(&c, "dictation-review").await;
    c.close().await.expect("the browser closes");
    worker.stop().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psychotherapy_notes_are_kept_apart_and_only_their_author_reads_them() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = consenting_client(&app).await;
    // The client is shared with a colleague: sharing the client does not share process notes.
    app.store.share_client(&store::Actor::system(app.practice_a), store::ClientScope::Practice, client, app.person("colleague").user_id).await.expect("shared");
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app, &app.person("clinician").email).await;
    c.goto(&format!("{}/app/clients/{client}", app.base)).await.expect("opens");
    click(&c, "#pnotes-link").await;
    fill(&c, "#pnote-body", "Countertransference: I felt protective when she described her father.").await;
    click(&c, "#save-pnote").await;
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#pnote-edit")).await.expect("the saved note");
    let note_url = c.current_url().await.expect("a url").path().to_owned();
    assert!(note_url.starts_with("/app/psychotherapy-notes/"));
    // Not on the client page, not among progress notes.
    c.goto(&format!("{}/app/clients/{client}", app.base)).await.expect("opens");
    let page = c.source().await.expect("the page");
    assert!(!page.contains("Countertransference"), "the client page never shows psychotherapy notes");
    screenshot(&c, "psychotherapy-tab").await;

    let mut colleague = None;
    for key in ["colleague", "front_desk"] {
        c.delete_all_cookies().await.expect("signed out");
        let enrolled = enrol(&c, &app, &app.person(key).email).await;
        if key == "colleague" {
            colleague = Some(enrolled);
        }
        c.goto(&format!("{}{note_url}", app.base)).await.expect("opens");
        assert_eq!(text_of(&c, "h1").await, "Not found", "{key}");
        assert!(!c.source().await.expect("the page").contains("Countertransference"), "{key}");
    }
    c.delete_all_cookies().await.expect("signed out");
    sign_in_again(&c, &app, &app.person("colleague").email, colleague.as_mut().expect("enrolled above")).await;
    c.goto(&format!("{}/app/clients/{client}/psychotherapy-notes", app.base)).await.expect("opens");
    assert!(c.find(Locator::Css("#pnotes")).await.is_err(), "the colleague's tab lists nothing");

    c.close().await.expect("the browser closes");
    app.finish().await;
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_change_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
    // Login without the double-submit cookie: refused, no session cookie.
    let r = http
        .post(format!("{}/app/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}&email={}&password={PASSWORD}", "a".repeat(64), app.person("clinician").email.replace('@', "%40")))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 403);
    assert!(!r.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap_or("").starts_with("hearth_session=")));

    // Signed in (through the API), a sign-out form with a forged token does not sign out.
    let mut s = app.sign_in_as("clinician").await;
    let cookie = s.cookie.clone().expect("a session cookie");
    let forged = http.post(format!("{}/app/logout", app.base)).header("cookie", &cookie).header("content-type", "application/x-www-form-urlencoded").body(format!("csrf={}", "0".repeat(64))).send().await.expect("answers");
    assert_eq!(forged.status(), 403);
    assert_eq!(s.get("/api/auth/me").await.0, reqwest::StatusCode::OK, "still signed in");
    app.finish().await;
}
