//! Recovery codes: ten single-use codes shown once at 2FA enrolment, stored only as SHA-256
//! digests. Each code carries 80 random bits, so a fast hash is enough (a slow password hash is
//! for low-entropy secrets; NIST SP 800-63B §5.1.2.2 look-up secrets need ≥ 64 bits).

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// How many codes a user gets.
pub const CODE_COUNT: usize = 10;
/// Random bytes per code (80 bits → 16 base32 characters).
const CODE_BYTES: usize = 10;

/// Ten fresh codes, for showing once, and their digests, for storing.
pub struct RecoveryCodes {
    /// `xxxx-xxxx-xxxx-xxxx`, lowercase base32.
    pub plain: Vec<SecretString>,
    /// Hex SHA-256 of each normalised code.
    pub digests: Vec<String>,
}

/// Makes a new set of codes.
pub fn generate() -> RecoveryCodes {
    let mut plain = Vec::with_capacity(CODE_COUNT);
    let mut digests = Vec::with_capacity(CODE_COUNT);
    for _ in 0..CODE_COUNT {
        let mut bytes = [0u8; CODE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let raw = data_encoding::BASE32_NOPAD
            .encode(&bytes)
            .to_ascii_lowercase();
        let shown = raw
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
            .collect::<Vec<_>>()
            .join("-");
        digests.push(digest(&raw).expect("a generated code is well-formed"));
        plain.push(SecretString::from(shown));
    }
    RecoveryCodes { plain, digests }
}

/// The digest of a code as a person typed it (dashes, spaces and case ignored), or `None` if it
/// cannot be a recovery code.
pub fn digest(typed: &str) -> Option<String> {
    let normalised: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let well_formed = normalised.len() == 16
        && normalised
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '2'..='7'));
    well_formed.then(|| hex::encode(Sha256::digest(normalised.as_bytes())))
}

/// The digest of a code held as a secret.
pub fn digest_secret(code: &SecretString) -> Option<String> {
    digest(code.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ten_distinct_codes_are_made_and_each_matches_its_digest() {
        let codes = generate();
        assert_eq!(codes.plain.len(), CODE_COUNT);
        let unique: HashSet<_> = codes.digests.iter().collect();
        assert_eq!(unique.len(), CODE_COUNT);
        for (p, d) in codes.plain.iter().zip(&codes.digests) {
            assert_eq!(p.expose_secret().len(), 19, "xxxx-xxxx-xxxx-xxxx");
            assert_eq!(digest_secret(p).as_deref(), Some(d.as_str()));
        }
    }

    #[test]
    fn a_code_typed_in_capitals_or_without_dashes_has_the_same_digest() {
        let codes = generate();
        let shown = codes.plain[0].expose_secret();
        let typed = shown.replace('-', " ").to_uppercase();
        assert_eq!(digest(&typed), digest(shown));
    }

    #[test]
    fn text_that_cannot_be_a_code_has_no_digest() {
        for bad in ["", "123456", "abcd-efgh-ijkl-mno1", "abcd-efgh-ijkl-mnopq"] {
            assert_eq!(digest(bad), None, "{bad:?}");
        }
    }
}
