//! Twilio webhook signatures (`X-Twilio-Signature`), exactly as Twilio specifies in
//! <https://www.twilio.com/docs/usage/webhooks/webhooks-security>:
//!
//! 1. Take the full URL Twilio requested, query string included.
//! 2. For a form POST, sort the parameters by name and append each name immediately followed by
//!    its value (a repeated name: every value, sorted), with no separators.
//! 3. HMAC-SHA1 the result with the account auth token as key; base64 the digest.
//!
//! JSON webhooks instead carry `bodySHA256` (hex SHA-256 of the raw body) in the URL's query,
//! and the signature is over the URL alone.
//!
//! Twilio's SDKs accept the URL both with and without the scheme's default port (:443 / :80)
//! because Twilio's own signing is inconsistent about it; we try both forms too.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::webhook::WebhookForm;
use crate::Error;

/// The header Twilio puts its signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// Checks that webhook requests were signed by Twilio with our account's auth token.
#[derive(Clone)]
pub struct WebhookValidator {
    auth_token: SecretString,
}

impl std::fmt::Debug for WebhookValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookValidator { auth_token: [REDACTED] }")
    }
}

impl WebhookValidator {
    /// A validator for the account whose auth token is `auth_token`.
    pub fn new(auth_token: SecretString) -> Self {
        Self { auth_token }
    }

    /// Validates a form-encoded webhook (`application/x-www-form-urlencoded`). `url` is the full
    /// public URL Twilio called (as configured in Twilio, not as seen behind a proxy); `params`
    /// are the decoded form fields in any order.
    pub fn validate_form<K, V>(
        &self,
        url: &str,
        params: &[(K, V)],
        signature: Option<&str>,
    ) -> Result<(), Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let signature = signature.ok_or(Error::SignatureMissing)?;
        url::Url::parse(url)?;
        let mut payloads = vec![signed_params(params, false)];
        let deduplicated = signed_params(params, true);
        if deduplicated != payloads[0] {
            // Twilio's Python and Java SDKs sign a repeated identical value once; accept both.
            payloads.push(deduplicated);
        }
        for candidate in url_variants(url) {
            for payload in &payloads {
                if self.matches(&format!("{candidate}{payload}"), signature) {
                    return Ok(());
                }
            }
        }
        Err(Error::SignatureMismatch)
    }

    /// Decodes a form webhook body and validates its signature in one step, so a caller only
    /// ever sees fields whose signature held.
    pub fn verify_form(
        &self,
        url: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookForm, Error> {
        let form = WebhookForm::parse(body)?;
        self.validate_form(url, form.fields(), signature)?;
        Ok(form)
    }

    /// Validates a JSON webhook: the URL's `bodySHA256` must be the hex SHA-256 of `body`, and
    /// the signature covers the URL alone.
    pub fn validate_json(
        &self,
        url: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), Error> {
        let signature = signature.ok_or(Error::SignatureMissing)?;
        let parsed = url::Url::parse(url)?;
        let claimed = parsed
            .query_pairs()
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v.into_owned())
            .ok_or(Error::BodyHashMissing)?;
        let actual = hex::encode(Sha256::digest(body));
        if !bool::from(
            actual
                .as_bytes()
                .ct_eq(claimed.to_ascii_lowercase().as_bytes()),
        ) {
            return Err(Error::BodyHashMismatch);
        }
        if url_variants(url)
            .iter()
            .any(|candidate| self.matches(candidate, signature))
        {
            Ok(())
        } else {
            Err(Error::SignatureMismatch)
        }
    }

    fn matches(&self, payload: &str, signature: &str) -> bool {
        let expected = sign(&self.auth_token, payload);
        // Constant time, so response timing reveals nothing about the expected signature.
        bool::from(expected.as_bytes().ct_eq(signature.trim().as_bytes()))
    }
}

/// The signature Twilio would send for a form POST to `url` with `params`. Used by the fake
/// Twilio server to sign the status callbacks it sends.
pub fn form_signature<K, V>(auth_token: &SecretString, url: &str, params: &[(K, V)]) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    sign(
        auth_token,
        &format!("{url}{}", signed_params(params, false)),
    )
}

/// The signature Twilio would send for a JSON webhook to `url` (which carries `bodySHA256`).
pub fn json_signature(auth_token: &SecretString, url: &str) -> String {
    sign(auth_token, url)
}

/// Hex SHA-256 of a JSON body, the value of the `bodySHA256` query parameter.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn sign(auth_token: &SecretString, payload: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(payload.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Names sorted, each followed by its value; a repeated name contributes every value, sorted
/// (byte order of UTF-8, which is code-point order, as the SDKs' string sort).
fn signed_params<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)], deduplicate: bool) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    pairs.sort_unstable();
    if deduplicate {
        pairs.dedup();
    }
    pairs.iter().map(|(k, v)| format!("{k}{v}")).collect()
}

/// The URL as given, plus the same URL with the scheme's default port added (when it has no
/// port) or removed (when it names the default port). Other ports are signed as they are.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // A port follows the last ':' after any IPv6 literal's closing ']' and any userinfo '@'.
    let host_start = authority.rfind(['@', ']']).map_or(0, |i| i + 1);
    let port = authority[host_start..]
        .rfind(':')
        .map(|i| &authority[host_start + i + 1..]);
    let other = match port {
        None => format!("{scheme}://{authority}:{default_port}{tail}"),
        Some(p) if p == default_port => {
            format!(
                "{scheme}://{}{tail}",
                &authority[..authority.len() - p.len() - 1]
            )
        }
        Some(_) => return variants,
    };
    variants.push(other);
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn token() -> SecretString {
        SecretString::from("12345")
    }

    fn docs_params(caller: &str) -> Vec<(&'static str, String)> {
        vec![
            ("CallSid", "CA1234567890ABCDE".into()),
            ("Caller", caller.into()),
            ("Digits", "1234".into()),
            ("From", caller.into()),
            ("To", "+18005551212".into()),
        ]
    }

    #[test]
    fn twilios_documented_example_validates() {
        // twilio.com/docs/usage/webhooks/webhooks-security (current page, caller +14158675310).
        let v = WebhookValidator::new(token());
        v.validate_form(
            DOCS_URL,
            &docs_params("+14158675310"),
            Some("GvWf1cFY/Q7PnoempGyD5oXAezc="),
        )
        .expect("the documented signature validates");
        // The same example in the SDKs' tests and older docs (caller +14158675309).
        v.validate_form(
            DOCS_URL,
            &docs_params("+14158675309"),
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        )
        .expect("the SDK test-suite signature validates");
    }

    #[test]
    fn the_signed_string_is_the_url_then_sorted_names_and_values() {
        let params = [
            ("To", "+18005551212"),
            ("Digits", "1234"),
            ("CallSid", "CA1"),
        ];
        assert_eq!(
            signed_params(&params, false),
            "CallSidCA1Digits1234To+18005551212"
        );
        let repeated = [("b", "2"), ("a", "z"), ("a", "y"), ("a", "y")];
        assert_eq!(signed_params(&repeated, false), "ayayazb2");
        assert_eq!(signed_params(&repeated, true), "ayazb2");
    }

    #[test]
    fn a_changed_parameter_url_or_token_is_rejected() {
        let v = WebhookValidator::new(token());
        let sig = Some("GvWf1cFY/Q7PnoempGyD5oXAezc=");
        let mut params = docs_params("+14158675310");
        params[2].1 = "1235".into();
        assert!(matches!(
            v.validate_form(DOCS_URL, &params, sig),
            Err(Error::SignatureMismatch)
        ));
        let params = docs_params("+14158675310");
        let other_url = "https://mycompany.com/myapp.php?foo=1&bar=3";
        assert!(matches!(
            v.validate_form(other_url, &params, sig),
            Err(Error::SignatureMismatch)
        ));
        let wrong = WebhookValidator::new(SecretString::from("12346"));
        assert!(matches!(
            wrong.validate_form(DOCS_URL, &params, sig),
            Err(Error::SignatureMismatch)
        ));
        assert!(matches!(
            v.validate_form(DOCS_URL, &params, None),
            Err(Error::SignatureMissing)
        ));
    }

    #[test]
    fn the_default_port_may_be_present_or_absent() {
        assert_eq!(
            url_variants("https://a.example/x?y=1"),
            ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
        );
        assert_eq!(
            url_variants("http://a.example:80"),
            ["http://a.example:80", "http://a.example"]
        );
        assert_eq!(
            url_variants("https://a.example:8443/x"),
            ["https://a.example:8443/x"]
        );
        assert_eq!(
            url_variants("https://[::1]/x"),
            ["https://[::1]/x", "https://[::1]:443/x"]
        );
        let v = WebhookValidator::new(token());
        let params = [("Body", "hi")];
        let signed_with_port = form_signature(&token(), "https://a.example:443/sms", &params);
        v.validate_form("https://a.example/sms", &params, Some(&signed_with_port))
            .expect("port added");
        let signed_without = form_signature(&token(), "https://a.example/sms", &params);
        v.validate_form("https://a.example:443/sms", &params, Some(&signed_without))
            .expect("port removed");
    }

    #[test]
    fn a_json_webhook_checks_the_body_hash_and_signs_the_url_alone() {
        let body = br#"{"MessageSid":"SM1"}"#;
        let url = format!("https://a.example/status?bodySHA256={}", body_sha256(body));
        let sig = json_signature(&token(), &url);
        let v = WebhookValidator::new(token());
        v.validate_json(&url, body, Some(&sig))
            .expect("valid JSON webhook");
        assert!(matches!(
            v.validate_json(&url, b"{}", Some(&sig)),
            Err(Error::BodyHashMismatch)
        ));
        assert!(matches!(
            v.validate_json("https://a.example/status", body, Some(&sig)),
            Err(Error::BodyHashMissing)
        ));
    }

    #[test]
    fn a_relative_url_is_a_clear_error() {
        let v = WebhookValidator::new(token());
        let params: [(&str, &str); 0] = [];
        assert!(matches!(
            v.validate_form("/sms", &params, Some("x")),
            Err(Error::InvalidUrl(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_auth_token() {
        assert!(!format!("{:?}", WebhookValidator::new(token())).contains("12345"));
    }
}
