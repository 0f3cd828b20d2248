//! Cross-check with Twilio's own SDK: `twilio_sdk_sign.py` signs requests with
//! `twilio.request_validator.RequestValidator`; our validator must accept every one and reject
//! each with any single character changed. Needs `python3` with `pip install twilio`.

use std::process::Command;

use channels::twilio::WebhookValidator;
use channels::{Error, SecretString};
use serde_json::Value;

fn sdk_cases() -> (String, Vec<Value>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/twilio_sdk_sign.py");
    let output = Command::new("python3").arg(script).output().unwrap_or_else(|e| {
        panic!("could not run python3 ({e}); install Python 3 and then `python3 -m pip install twilio`")
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}): {stderr}\nIf the `twilio` package is missing: `python3 -m pip install twilio`",
        output.status
    );
    let doc: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    let token = doc["token"].as_str().expect("token").to_string();
    let cases = doc["cases"].as_array().expect("cases").clone();
    assert!(cases.len() >= 10, "expected the script's full case list");
    (token, cases)
}

fn params(case: &Value) -> Vec<(String, String)> {
    case["params"]
        .as_array()
        .expect("form cases have params")
        .iter()
        .map(|p| {
            (
                p[0].as_str().expect("name").to_string(),
                p[1].as_str().expect("value").to_string(),
            )
        })
        .collect()
}

fn check(
    v: &WebhookValidator,
    case: &Value,
    url: &str,
    params: &[(String, String)],
    body: &str,
    sig: &str,
) -> Result<(), Error> {
    if case["kind"] == "json" {
        v.validate_json(url, body.as_bytes(), Some(sig))
    } else {
        v.validate_form(url, params, Some(sig))
    }
}

/// `s` with the character at char index `i` replaced by a different one.
fn change_char(s: &str, i: usize) -> String {
    s.chars()
        .enumerate()
        .map(|(j, c)| {
            if j != i {
                c
            } else if c == 'A' {
                'B'
            } else {
                'A'
            }
        })
        .collect()
}

#[test]
fn every_signature_from_twilios_python_sdk_is_accepted() {
    let (token, cases) = sdk_cases();
    let v = WebhookValidator::new(SecretString::from(token));
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let url = case["validate_url"].as_str().expect("url");
        let sig = case["signature"].as_str().expect("signature");
        let params = if case["kind"] == "form" {
            params(case)
        } else {
            vec![]
        };
        let body = case["body"].as_str().unwrap_or_default();
        check(&v, case, url, &params, body, sig)
            .unwrap_or_else(|e| panic!("{name}: rejected a valid SDK signature: {e}"));
    }
}

#[test]
fn every_sdk_signed_request_with_one_character_changed_is_rejected() {
    let (token, cases) = sdk_cases();
    let v = WebhookValidator::new(SecretString::from(token));
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let url = case["validate_url"].as_str().expect("url");
        let sig = case["signature"].as_str().expect("signature");
        let params = if case["kind"] == "form" {
            params(case)
        } else {
            vec![]
        };
        let body = case["body"].as_str().unwrap_or_default();
        // The signature, at every position except base64 padding.
        for i in 0..sig.trim_end_matches('=').chars().count() {
            let bad = change_char(sig, i);
            assert!(
                check(&v, case, url, &params, body, &bad).is_err(),
                "{name}: accepted signature changed at {i}"
            );
        }
        // The URL: a character of the path (after the authority).
        let path_at = url.find("/twilio").expect("every case URL has /twilio") + 2;
        let bad_url = change_char(url, url[..path_at].chars().count());
        assert!(
            check(&v, case, &bad_url, &params, body, sig).is_err(),
            "{name}: accepted a changed URL"
        );
        // Each form value, and each name.
        for k in 0..params.len() {
            let mut bad = params.clone();
            bad[k].1 = format!("{}x", bad[k].1.chars().skip(1).collect::<String>());
            if bad[k].1 != params[k].1 {
                assert!(
                    check(&v, case, url, &bad, body, sig).is_err(),
                    "{name}: accepted changed value {k}"
                );
            }
            let mut bad = params.clone();
            bad[k].0 = change_char(&bad[k].0, 0);
            assert!(
                check(&v, case, url, &bad, body, sig).is_err(),
                "{name}: accepted changed name {k}"
            );
        }
        if case["kind"] == "json" {
            let bad_body = change_char(body, 2);
            let err = check(&v, case, url, &params, &bad_body, sig).expect_err("changed JSON body");
            assert!(matches!(err, Error::BodyHashMismatch), "{name}: {err:?}");
        }
    }
}
