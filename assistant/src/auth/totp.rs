//! Time-based one-time passwords: RFC 6238 (TOTP) over RFC 4226 (HOTP), with the parameters
//! every authenticator app supports: HMAC-SHA-1, 30-second steps, 6 digits, and one step of
//! clock drift either way (RFC 6238 §5.2). A step is never accepted twice: the caller passes the
//! last accepted step, which the store keeps per user.

use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// RFC 6238 §4: X, the step size in seconds.
pub const STEP_SECONDS: i64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Steps of drift tolerated either side of now (RFC 6238 §5.2 recommends at most one).
pub const DRIFT_STEPS: i64 = 1;
/// RFC 4226 §4 R6: the shared secret is at least 128 bits; 160 matches the HMAC-SHA-1 output.
pub const SECRET_BYTES: usize = 20;

/// A user's TOTP shared secret. `Debug` never shows it.
pub struct TotpSecret(SecretBox<Vec<u8>>);

impl TotpSecret {
    /// A fresh random secret from the OS generator.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Reads the base32 form an authenticator app shows (RFC 4648 §6, padding optional).
    pub fn from_base32(s: &str) -> Option<Self> {
        let cleaned: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .collect();
        let bytes = data_encoding::BASE32_NOPAD
            .decode(cleaned.to_ascii_uppercase().as_bytes())
            .ok()?;
        (bytes.len() >= 16).then(|| Self(SecretBox::new(Box::new(bytes))))
    }

    /// Raw bytes, e.g. from the test vectors.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Base32 without padding, as typed into an authenticator app.
    pub fn to_base32(&self) -> SecretString {
        SecretString::from(data_encoding::BASE32_NOPAD.encode(self.0.expose_secret()))
    }

    /// The `otpauth://` URI (Google Authenticator key-URI format) for a QR code. The label is
    /// the practice name and the user's e-mail; neither is PHI.
    pub fn provisioning_uri(&self, issuer: &str, account: &str) -> SecretString {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect()
        };
        SecretString::from(format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            enc(issuer),
            enc(account),
            self.to_base32().expose_secret(),
            enc(issuer)
        ))
    }

    fn bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

/// RFC 6238 §4.2: T = floor((unix time - T0) / X), T0 = 0.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// RFC 4226 §5.3: HOTP with dynamic truncation, reduced to `digits` decimal digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(&counter.to_be_bytes());
    let hs = mac.finalize().into_bytes();
    let offset = (hs[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        hs[offset] & 0x7f,
        hs[offset + 1],
        hs[offset + 2],
        hs[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// The 6-digit code for `secret` at time `unix_seconds`, zero-padded.
pub fn code_at(secret: &TotpSecret, unix_seconds: i64) -> String {
    let step = u64::try_from(step_at(unix_seconds)).unwrap_or(0);
    format!(
        "{:0width$}",
        hotp(secret.bytes(), step, DIGITS),
        width = DIGITS as usize
    )
}

/// What a submitted code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpOutcome {
    /// Accepted; record `step` as the user's last accepted step.
    Accepted { step: i64 },
    /// Correct, but its step was already used: a replay.
    Replayed,
    /// Not a code for any step in the window.
    Wrong,
}

/// Checks `code` against the steps around `unix_seconds`. `last_accepted_step` is the step of
/// the last code this user got through; that step and earlier ones are replays.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    unix_seconds: i64,
    last_accepted_step: Option<i64>,
) -> TotpOutcome {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return TotpOutcome::Wrong;
    }
    let now = step_at(unix_seconds);
    let mut matched = None;
    // Check every step in the window, in constant time per step, so timing says nothing about
    // which step matched.
    for step in (now - DRIFT_STEPS)..=(now + DRIFT_STEPS) {
        let Ok(counter) = u64::try_from(step) else {
            continue;
        };
        let expected = format!(
            "{:0width$}",
            hotp(secret.bytes(), counter, DIGITS),
            width = DIGITS as usize
        );
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && matched.is_none() {
            matched = Some(step);
        }
    }
    match (matched, last_accepted_step) {
        (None, _) => TotpOutcome::Wrong,
        (Some(step), Some(last)) if step <= last => TotpOutcome::Replayed,
        (Some(step), _) => TotpOutcome::Accepted { step },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn hotp_matches_the_rfc_4226_appendix_d_test_values() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(
                hotp(RFC_SEED, counter as u64, 6),
                *want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn totp_matches_the_rfc_6238_appendix_b_sha1_vectors() {
        let vectors: [(i64, u32); 6] = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (t, want) in vectors {
            assert_eq!(hotp(RFC_SEED, step_at(t) as u64, 8), want, "T = {t}");
        }
    }

    #[test]
    fn six_digit_codes_are_the_last_six_digits_of_the_rfc_vectors() {
        let secret = TotpSecret::from_bytes(RFC_SEED.to_vec());
        assert_eq!(code_at(&secret, 59), "287082");
        assert_eq!(code_at(&secret, 1111111109), "081804");
    }

    #[test]
    fn a_code_is_accepted_within_one_step_of_drift_and_refused_beyond() {
        let s = TotpSecret::generate();
        let now = 1_800_000_000;
        for offset in [-30, 0, 30] {
            let code = code_at(&s, now + offset);
            assert!(
                matches!(verify(&s, &code, now, None), TotpOutcome::Accepted { .. }),
                "offset {offset}"
            );
        }
        for offset in [-90, 90] {
            let code = code_at(&s, now + offset);
            assert_eq!(
                verify(&s, &code, now, None),
                TotpOutcome::Wrong,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn a_code_whose_step_was_already_accepted_is_a_replay() {
        let s = TotpSecret::generate();
        let now = 1_800_000_000;
        let code = code_at(&s, now);
        let TotpOutcome::Accepted { step } = verify(&s, &code, now, None) else {
            panic!("first use is accepted")
        };
        assert_eq!(
            verify(&s, &code, now + 5, Some(step)),
            TotpOutcome::Replayed
        );
        // An older code from the drift window is also refused once a later step was used.
        let previous = code_at(&s, now - 30);
        assert_eq!(
            verify(&s, &previous, now, Some(step)),
            TotpOutcome::Replayed
        );
    }

    #[test]
    fn malformed_codes_are_wrong_not_errors() {
        let s = TotpSecret::generate();
        for bad in ["", "12345", "1234567", "abcdef", "12 456"] {
            assert_eq!(
                verify(&s, bad, 1_800_000_000, None),
                TotpOutcome::Wrong,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_base32_form_round_trips_and_the_uri_names_the_parameters() {
        let s = TotpSecret::generate();
        let b32 = s.to_base32();
        let back = TotpSecret::from_base32(b32.expose_secret()).unwrap();
        assert_eq!(code_at(&s, 1_800_000_000), code_at(&back, 1_800_000_000));
        let uri = s.provisioning_uri("Hearth Demo Practice", "dana@example.org");
        let uri = uri.expose_secret();
        assert!(
            uri.starts_with("otpauth://totp/Hearth%20Demo%20Practice:dana%40example.org?secret=")
        );
        assert!(uri.contains("algorithm=SHA1&digits=6&period=30"));
        assert_eq!(format!("{s:?}"), "TotpSecret([REDACTED])");
    }
}
