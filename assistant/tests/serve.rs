//! `hearth serve` as a real process: first run with `--demo-if-empty`, a signed-in front-desk
//! session reads client records, then SIGTERM shuts it down gracefully. The log must show route
//! templates, statuses and request ids, and never a client's name, phone number, the password or
//! the session cookie.

use assistant::auth::totp::{TotpSecret, code_at};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

async fn call(
    http: &reqwest::Client,
    base: &str,
    cookie: &mut Option<String>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, format!("{base}{path}"));
    if let Some(c) = cookie.as_ref() {
        req = req.header("cookie", c.clone());
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("the server answers");
    if let Some(set) = r.headers().get("set-cookie") {
        *cookie = Some(set.to_str().unwrap().split(';').next().unwrap().to_owned());
    }
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[test]
fn serve_seeds_the_demo_answers_and_shuts_down_on_sigterm_without_logging_phi() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--demo-if-empty",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("HEARTH_DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hearth serve starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut base = None;
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        if let Some(addr) = line.trim().strip_prefix("Hearth is listening on ") {
            base = Some(addr.to_owned());
            break;
        }
        line.clear();
    }
    let base = base.expect("serve prints its address");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (names_seen, cookie_value) = rt.block_on(async {
        use reqwest::Method;
        let http = reqwest::Client::new();
        let mut cookie = None;
        let (s, b) = call(&http, &base, &mut cookie, Method::POST, "/api/auth/login", Some(json!({ "email": "frontdesk@willowcreek.example", "password": assistant::demo::DEMO_PASSWORD }))).await;
        assert_eq!(s, 200, "{b}");
        let (s, e) = call(&http, &base, &mut cookie, Method::POST, "/api/auth/totp/enroll", Some(json!({}))).await;
        assert_eq!(s, 200, "{e}");
        let secret = TotpSecret::from_base32(e["secret"].as_str().unwrap()).unwrap();
        let code = code_at(&secret, chrono::Utc::now().timestamp());
        let (s, b) = call(&http, &base, &mut cookie, Method::POST, "/api/auth/totp/verify", Some(json!({ "code": code }))).await;
        assert_eq!(s, 200, "{b}");
        let (s, found) = call(&http, &base, &mut cookie, Method::GET, "/api/clients?q=Ashford", None).await;
        assert_eq!(s, 200);
        let id = found[0]["client_id"].as_str().expect("the demo has client Alex Ashford").to_owned();
        let (s, c) = call(&http, &base, &mut cookie, Method::GET, &format!("/api/clients/{id}"), None).await;
        assert_eq!(s, 200);
        assert!(c["phone"].as_str().unwrap().starts_with("+1201555"));
        let (s, list) = call(&http, &base, &mut cookie, Method::GET, "/api/clients", None).await;
        assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(assistant::demo::CLIENT_COUNT)));
        let (s, appts) = call(&http, &base, &mut cookie, Method::GET, "/api/appointments", None).await;
        assert_eq!(s, 200);
        let appts = appts.as_array().unwrap().clone();
        assert!(appts.iter().any(|a| a["modality"] == "telehealth"), "the demo has telehealth visits");
        assert!(appts.iter().any(|a| a["client_ids"].as_array().unwrap().len() > 1), "the demo has a group");
        (vec![c["first_name"].as_str().unwrap().to_owned(), c["last_name"].as_str().unwrap().to_owned(), c["phone"].as_str().unwrap().to_owned()], cookie.unwrap())
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "graceful shutdown exits 0");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("/api/clients/{client_id}"),
        "the route template is logged:\n{log}"
    );
    assert!(log.contains("shutting down"), "{log}");
    for secret in names_seen.iter().map(String::as_str).chain([
        assistant::demo::DEMO_PASSWORD,
        cookie_value.split('=').nth(1).unwrap(),
        "q=Ashford",
    ]) {
        assert!(!log.contains(secret), "the log contains {secret:?}:\n{log}");
    }
}
