//! Proof with Twilio's own SDK: a request signed by `twilio.request_validator.RequestValidator`
//! (Python, `pip install twilio`) is accepted by the running server, and the same request with
//! one character changed — in the body or in the signature — is refused with 403 and changes
//! nothing.

mod gateway_support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use gateway_support::{Backend, Place, webhook_toml};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "9f1c2b7a4e3d5c6b8a9f0e1d2c3b4a59";

fn sdk_signature(url: &str, params: &[(String, String)]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/twilio_sdk_sign_request.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run python3 ({e}); install Python 3 and `python3 -m pip install twilio`"));
    let request = serde_json::json!({"token": TOKEN, "url": url, "params": params});
    child.stdin.take().expect("stdin").write_all(request.to_string().as_bytes()).expect("writes");
    let out = child.wait_with_output().expect("python3 runs");
    assert!(out.status.success(), "{script} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("ascii").trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_signed_by_twilios_sdk_is_accepted_and_one_changed_character_is_refused() {
    // Arrange: the running server, and a request signed by Twilio's SDK for its public URL.
    let place = Place::new(Backend::Sqlite).await;
    let server = place.serve(&webhook_toml(ACCOUNT, TOKEN, "tg-secret_0123456789")).await;
    let url = format!("{}/webhooks/twilio/sms", server.base);
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT),
        ("Body", "Can I come at 4 instead? Ça va 👍"),
        ("From", "+15550107777"),
        ("MessageSid", "SM00000000000000000000000000000abc"),
        ("NumMedia", "0"),
        ("To", "+15550100000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = sdk_signature(&url, &params);
    let post = |params: Vec<(String, String)>, signature: String| {
        reqwest::Client::new().post(&url).header("X-Twilio-Signature", signature).form(&params).send()
    };

    // Act + Assert: one character changed in the body, then in the signature: 403, no effect.
    let mut changed_body = params.clone();
    changed_body[1].1 = changed_body[1].1.replacen('4', "5", 1);
    assert_eq!(post(changed_body, signature.clone()).await.expect("answers").status(), 403);
    let mut changed_signature = signature.clone().into_bytes();
    changed_signature[3] = if changed_signature[3] == b'A' { b'B' } else { b'A' };
    let changed_signature = String::from_utf8(changed_signature).expect("ascii");
    assert_eq!(post(params.clone(), changed_signature).await.expect("answers").status(), 403);
    assert!(place.store.list_inbox(&place.actor(), store::ClientScope::Practice, 10).await.expect("inbox").is_empty(), "refused requests change nothing");

    // The SDK-signed request itself is accepted and stored.
    assert_eq!(post(params.clone(), signature).await.expect("answers").status(), 200);
    let inbox = place.store.list_inbox(&place.actor(), store::ClientScope::Practice, 10).await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].body, params[1].1);
}
