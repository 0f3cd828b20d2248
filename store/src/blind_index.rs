//! Keyed blind indexes, so clients can be found by name or phone without storing either in
//! clear: HMAC-SHA256 under the index key (kept apart from the KEKs and not rotated with them)
//! over normalised tokens. Names are lowercased, accents folded (NFKD, combining marks removed),
//! split on anything not alphanumeric; each token is indexed whole and by every prefix of at
//! least `MIN_PREFIX` characters, so "mar" finds "Margarethe".

use hmac::{Hmac, Mac};
use sha2::Sha256;
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use crate::{keyfile::Key32, types::E164};

/// Shortest prefix that is indexed (and so the shortest search term accepted).
pub const MIN_PREFIX: usize = 3;
/// Longest token indexed, in characters; longer names are truncated for the index only.
const MAX_TOKEN: usize = 40;

/// Lowercased, accent-folded tokens of a name.
pub fn name_tokens(text: &str) -> Vec<String> {
    let folded: String = text.nfkd().filter(|c| !is_combining_mark(*c)).collect::<String>().to_lowercase();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(MAX_TOKEN).collect())
        .collect()
}

/// Every indexed form of the tokens: each whole token and each prefix of 3+ characters.
pub fn index_terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for token in name_tokens(text) {
        let chars: Vec<char> = token.chars().collect();
        for n in MIN_PREFIX..chars.len() {
            out.push(chars[..n].iter().collect());
        }
        out.push(token);
    }
    out.sort();
    out.dedup();
    out
}

fn mac(key: &Key32, domain: &str, value: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key.bytes()).expect("HMAC accepts any key length");
    m.update(domain.as_bytes());
    m.update(&[0]);
    m.update(value.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// Blind index of one name term.
pub(crate) fn name_term(key: &Key32, term: &str) -> Vec<u8> {
    mac(key, "hearth/v1/name", term)
}

/// Blind index of a phone number.
pub(crate) fn phone(key: &Key32, phone: &E164) -> Vec<u8> {
    mac(key, "hearth/v1/phone", phone.as_str())
}

/// Blind index of a Telegram chat id (outbox recipients and opt-outs).
pub(crate) fn telegram_chat(key: &Key32, chat_id: i64) -> Vec<u8> {
    mac(key, "hearth/v1/telegram_chat", &chat_id.to_string())
}

/// Blind index of a console-channel address (development only, still treated as PHI).
pub(crate) fn console_address(key: &Key32, address: &str) -> Vec<u8> {
    mac(key, "hearth/v1/console_address", address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased_and_accents_folded() {
        assert_eq!(name_tokens("Zoë  O'Brien-Łukasz"), vec!["zoe", "o", "brien", "łukasz"]);
        assert_eq!(name_tokens("JOSÉ"), vec!["jose"]);
    }

    #[test]
    fn prefixes_of_three_or_more_characters_are_indexed() {
        let terms = index_terms("Margo");
        assert_eq!(terms, vec!["mar", "marg", "margo"]);
        assert_eq!(index_terms("Al"), vec!["al"], "short tokens are indexed whole only");
    }

    #[test]
    fn the_index_depends_on_the_key_and_the_domain() {
        let (a, b) = (Key32::random(), Key32::random());
        assert_eq!(name_term(&a, "mar"), name_term(&a, "mar"));
        assert_ne!(name_term(&a, "mar"), name_term(&b, "mar"));
        let p = E164::parse("+15551234567").expect("valid");
        assert_ne!(phone(&a, &p), name_term(&a, "+15551234567"));
    }
}
