//! Telehealth join links, bring your own platform: a per-visit or per-clinician link is accepted
//! only on a known platform's host over https, so a typo or a look-alike domain never reaches
//! a client. A practice can instead have Hearth generate a Jitsi room whose name carries 128
//! random bits (Jitsi rooms admit whoever knows the name).

use std::fmt;

/// A video platform we accept links for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Zoom,
    GoogleMeet,
    Teams,
    Webex,
}

/// A checked join link.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinLink {
    url: String,
    platform: Platform,
}

impl fmt::Debug for JoinLink {
    // The path can hold a meeting password: show only the platform.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinLink({:?})", self.platform)
    }
}

/// Why a link was refused; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinLinkError {
    #[error("a join link must start with https://")]
    NotHttps,
    #[error("a join link must be a plain https URL without spaces, a user name or a port, at most 500 characters")]
    Malformed,
    #[error("use a link from Zoom (*.zoom.us), Google Meet (meet.google.com), Microsoft Teams (teams.microsoft.com, teams.live.com) or Webex (*.webex.com)")]
    UnknownHost,
}

/// `host` is `domain` or a subdomain of it (a label boundary, so `evilzoom.us` does not pass).
fn is_under(host: &str, domain: &str) -> bool {
    host == domain || host.strip_suffix(domain).is_some_and(|p| p.ends_with('.') && p.len() > 1)
}

impl JoinLink {
    pub fn parse(raw: &str) -> Result<Self, JoinLinkError> {
        let raw = raw.trim();
        let rest = raw.strip_prefix("https://").ok_or(JoinLinkError::NotHttps)?;
        if raw.len() > store::reminders::MAX_JOIN_LINK || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(JoinLinkError::Malformed);
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        // A user-info part ("zoom.us@evil.example") or a port would let the real host differ
        // from what a reader sees.
        if authority.is_empty() || authority.contains(['@', ':', '\\', '%']) {
            return Err(JoinLinkError::Malformed);
        }
        let host = authority.to_ascii_lowercase();
        if host.split('.').any(str::is_empty) {
            return Err(JoinLinkError::Malformed);
        }
        let platform = if is_under(&host, "zoom.us") {
            Platform::Zoom
        } else if host == "meet.google.com" {
            Platform::GoogleMeet
        } else if host == "teams.microsoft.com" || host == "teams.live.com" {
            Platform::Teams
        } else if is_under(&host, "webex.com") {
            Platform::Webex
        } else {
            return Err(JoinLinkError::UnknownHost);
        };
        Ok(Self { url: raw.to_owned(), platform })
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    pub fn platform(&self) -> Platform {
        self.platform
    }
}

/// Checks a Jitsi server base URL for generated rooms: https, a host, nothing after it.
pub fn parse_jitsi_base(raw: &str) -> Result<String, JoinLinkError> {
    let raw = raw.trim().trim_end_matches('/');
    let host = raw.strip_prefix("https://").ok_or(JoinLinkError::NotHttps)?;
    if host.is_empty() || raw.len() > 200 || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') || !host.contains('.') {
        return Err(JoinLinkError::Malformed);
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn links_on_the_four_platforms_are_accepted() {
        for (url, p) in [
            ("https://us02web.zoom.us/j/123456789?pwd=abc", Platform::Zoom),
            ("https://zoom.us/j/1", Platform::Zoom),
            ("https://meet.google.com/abc-defg-hij", Platform::GoogleMeet),
            ("https://teams.microsoft.com/l/meetup-join/19%3a", Platform::Teams),
            ("https://teams.live.com/meet/123", Platform::Teams),
            ("https://acme.webex.com/meet/dr.lee", Platform::Webex),
        ] {
            assert_eq!(JoinLink::parse(url).map(|l| l.platform()), Ok(p), "{url}");
        }
    }

    #[test]
    fn look_alike_hosts_plain_http_and_user_info_are_refused() {
        assert_eq!(JoinLink::parse("http://zoom.us/j/1"), Err(JoinLinkError::NotHttps));
        assert_eq!(JoinLink::parse("https://evilzoom.us/j/1"), Err(JoinLinkError::UnknownHost));
        assert_eq!(JoinLink::parse("https://zoom.us.evil.example/j/1"), Err(JoinLinkError::UnknownHost));
        assert_eq!(JoinLink::parse("https://zoom.us@evil.example/j/1"), Err(JoinLinkError::Malformed));
        assert_eq!(JoinLink::parse("https://meet.google.com:8443/x"), Err(JoinLinkError::Malformed));
        assert_eq!(JoinLink::parse("https://google.com/meet"), Err(JoinLinkError::UnknownHost));
        assert_eq!(JoinLink::parse("https://teams.microsoft.com.evil.example/"), Err(JoinLinkError::UnknownHost));
    }

    #[test]
    fn a_generated_jitsi_room_has_128_random_bits_and_differs_each_time() {
        let base = parse_jitsi_base("https://meet.jit.si/").expect("valid base");
        let a = store::reminders::jitsi_room(&base);
        let b = store::reminders::jitsi_room(&base);
        let name = a.strip_prefix("https://meet.jit.si/hearth-").expect("under the base");
        assert_eq!(name.len(), 32, "16 bytes in hex");
        assert!(name.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    proptest! {
        #[test]
        fn an_accepted_links_host_is_always_one_of_the_platforms(s in "https://[a-z.@:]{1,30}(/[a-z0-9]{0,10})?") {
            if let Ok(l) = JoinLink::parse(&s) {
                let host = l.as_str()["https://".len()..].split('/').next().unwrap_or_default().to_owned();
                prop_assert!(host == "zoom.us" || host.ends_with(".zoom.us") || host == "meet.google.com" || host == "teams.microsoft.com"
                    || host == "teams.live.com" || host == "webex.com" || host.ends_with(".webex.com"), "{host}");
            }
        }
    }
}
