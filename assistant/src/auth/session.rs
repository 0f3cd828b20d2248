//! Staff sessions: 256-bit random ids in a cookie (OWASP Session Management Cheat Sheet: at
//! least 64 bits of entropy; we use 256), of which the database keeps only the SHA-256 digest so
//! a copy of the database cannot be replayed as a login. Cookies are `HttpOnly; SameSite=Strict`
//! and `Secure` whenever the service is reached over https.

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The cookie's name. The `__Host-` prefix (RFC 6265bis §4.1.3.2) would pin it to https, which
/// the embedded loopback default does not have, so it is used only with `Secure`.
pub const COOKIE_NAME: &str = "hearth_session";
const SECURE_COOKIE_NAME: &str = "__Host-hearth_session";
/// Bytes of randomness in a session id.
const TOKEN_BYTES: usize = 32;

/// How far through sign-in a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Password accepted; only TOTP enrolment, a TOTP code or a recovery code may follow.
    Pending,
    /// Both factors done.
    Full,
}

impl Stage {
    fn tag(self) -> &'static str {
        match self {
            Stage::Pending => "p",
            Stage::Full => "f",
        }
    }
}

/// A session token as the browser holds it: `STAGE.PRACTICE.RANDOM`. The whole string is what
/// the store hashes, so the stage and practice id are bound to the random part: changing either
/// yields a token the store has never seen. (The practice id is not PHI; it lets us build the
/// audit actor before reading the user.)
pub struct SessionToken {
    pub stage: Stage,
    pub practice: uuid::Uuid,
    whole: SecretString,
}

impl SessionToken {
    /// A fresh token from the OS generator; a new one is issued at every sign-in step.
    pub fn generate(stage: Stage, practice: uuid::Uuid) -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let random = data_encoding::BASE64URL_NOPAD.encode(&bytes);
        let whole = SecretString::from(format!("{}.{}.{random}", stage.tag(), practice.simple()));
        Self {
            stage,
            practice,
            whole,
        }
    }

    /// Reads a token from a cookie value; `None` if it is not shaped like one of ours.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.splitn(3, '.');
        let stage = match parts.next()? {
            "p" => Stage::Pending,
            "f" => Stage::Full,
            _ => return None,
        };
        let practice = uuid::Uuid::try_parse(parts.next()?).ok()?;
        let random = parts.next()?;
        if random.len() != 43
            || data_encoding::BASE64URL_NOPAD
                .decode(random.as_bytes())
                .is_err()
        {
            return None;
        }
        Some(Self {
            stage,
            practice,
            whole: SecretString::from(value.to_owned()),
        })
    }

    /// What the store hashes and looks sessions up by.
    pub fn secret(&self) -> &SecretString {
        &self.whole
    }

    /// SHA-256 of the token, hex (for tests and diagnostics; never log the token itself).
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.whole.expose_secret().as_bytes()))
    }

    pub fn expose(&self) -> &str {
        self.whole.expose_secret()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken([REDACTED])")
    }
}

/// How session cookies are written.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    /// Adds `Secure` and the `__Host-` prefix; on when the public URL is https.
    pub secure: bool,
}

impl CookiePolicy {
    fn name(&self) -> &'static str {
        if self.secure {
            SECURE_COOKIE_NAME
        } else {
            COOKIE_NAME
        }
    }

    /// `Set-Cookie` for a new session. No `Max-Age`: the cookie ends with the browser session
    /// and the server enforces the idle and absolute timeouts.
    pub fn set(&self, token: &SessionToken) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
            self.name(),
            token.expose()
        ))
        .expect("base64url and fixed attributes are valid header characters")
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
            self.name()
        ))
        .expect("fixed attributes are valid header characters")
    }

    /// The session id from the request's `Cookie` headers, if any (RFC 6265 §5.4).
    pub fn read(&self, headers: &HeaderMap) -> Option<SessionToken> {
        let want = self.name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, value)| *name == want && value.len() <= 128)
            .and_then(|(_, value)| SessionToken::parse(value))
    }
}

/// Idle and absolute limits (OWASP: 15–30 min idle for sensitive apps; absolute a working day).
#[derive(Debug, Clone, Copy)]
pub struct SessionTimeouts {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }
}

/// Whether a stored session may still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFreshness {
    /// Use it, and record `now` as its last activity.
    Active,
    /// Unused for longer than the idle limit: sign in again.
    IdleExpired,
    /// Older than the absolute limit: sign in again.
    AbsoluteExpired,
}

impl SessionTimeouts {
    pub fn check(
        &self,
        created_at: DateTime<Utc>,
        last_seen_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> SessionFreshness {
        if now - created_at >= self.absolute {
            SessionFreshness::AbsoluteExpired
        } else if now - last_seen_at >= self.idle {
            SessionFreshness::IdleExpired
        } else {
            SessionFreshness::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_has_256_bits_and_differs_each_time() {
        let p = uuid::Uuid::new_v4();
        let a = SessionToken::generate(Stage::Full, p);
        let b = SessionToken::generate(Stage::Full, p);
        let random = a.expose().rsplit('.').next().unwrap();
        assert_eq!(
            data_encoding::BASE64URL_NOPAD
                .decode(random.as_bytes())
                .unwrap()
                .len(),
            32
        );
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.digest(), a.expose());
        assert_eq!(format!("{a:?}"), "SessionToken([REDACTED])");
    }

    #[test]
    fn the_cookie_is_httponly_strict_and_secure_only_over_https() {
        let t = SessionToken::generate(Stage::Pending, uuid::Uuid::new_v4());
        let plain = CookiePolicy { secure: false }.set(&t);
        let plain = plain.to_str().unwrap();
        assert!(
            plain.contains("HttpOnly")
                && plain.contains("SameSite=Strict")
                && !plain.contains("Secure")
        );
        let tls = CookiePolicy { secure: true }.set(&t);
        let tls = tls.to_str().unwrap();
        assert!(tls.starts_with("__Host-hearth_session=") && tls.ends_with("; Secure"));
    }

    #[test]
    fn the_token_is_read_back_from_a_cookie_header_among_others() {
        let policy = CookiePolicy { secure: false };
        let t = SessionToken::generate(Stage::Full, uuid::Uuid::new_v4());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {COOKIE_NAME}={}; x=y", t.expose()))
                .unwrap(),
        );
        assert_eq!(policy.read(&headers).unwrap().digest(), t.digest());
        assert!(
            CookiePolicy { secure: true }.read(&headers).is_none(),
            "the https cookie name differs"
        );
    }

    #[test]
    fn a_token_parses_back_with_its_stage_and_practice_and_junk_does_not() {
        let p = uuid::Uuid::new_v4();
        let t = SessionToken::generate(Stage::Pending, p);
        let back = SessionToken::parse(t.expose()).unwrap();
        assert_eq!((back.stage, back.practice), (Stage::Pending, p));
        for bad in [
            "",
            "x.y.z",
            "f.not-a-uuid.AAAA",
            &t.expose().replacen("p.", "q.", 1),
            &t.expose()[..t.expose().len() - 1],
        ] {
            assert!(SessionToken::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn sessions_expire_after_idle_or_absolute_limits() {
        let limits = SessionTimeouts::default();
        let t0 = Utc::now();
        assert_eq!(
            limits.check(t0, t0, t0 + Duration::minutes(29)),
            SessionFreshness::Active
        );
        assert_eq!(
            limits.check(t0, t0, t0 + Duration::minutes(30)),
            SessionFreshness::IdleExpired
        );
        let busy = t0 + Duration::hours(12) - Duration::minutes(1);
        assert_eq!(
            limits.check(t0, busy, t0 + Duration::hours(12)),
            SessionFreshness::AbsoluteExpired
        );
    }
}
