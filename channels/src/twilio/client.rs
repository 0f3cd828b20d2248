//! Twilio's REST API for messages (twilio.com/docs/messaging/api/message-resource): send one SMS,
//! and list messages for reconciliation after an unknown outcome.
//!
//! Why not a crate: `twilio-async` was evaluated and rejected. Its last release was in 2021, it
//! is built on hyper 0.14, forces OpenSSL, hard-codes the base URL (so it cannot talk to a local
//! fake Twilio in tests), and cannot verify webhooks. This client is small and uses reqwest with
//! rustls only.
//!
//! Every failure is an [`Error`] variant that says what the caller does next; see
//! [`super::codes`] for how Twilio's codes map to them. Nothing here logs a phone number or a
//! message body.

use std::time::Duration;

use chrono::NaiveDate;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::codes::{FailureClass, classify_http};
use super::ids::{AccountSid, MessageSid};
use super::status::MessageStatus;
use crate::Error;
use crate::sms::SmsBody;

/// Twilio's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// Most pages `list_messages` follows; reconciliation looks at one recipient over a few days.
pub const MAX_LIST_PAGES: usize = 20;
const PAGE_SIZE: &str = "100";

/// How we authenticate (twilio.com/docs/iam/api-keys): HTTP basic auth with the account SID and
/// auth token, or with an API key SID and its secret (the account SID still names the account).
#[derive(Clone)]
pub enum Credentials {
    AuthToken {
        account_sid: AccountSid,
        auth_token: SecretString,
    },
    ApiKey {
        account_sid: AccountSid,
        key_sid: String,
        secret: SecretString,
    },
}

impl Credentials {
    fn account_sid(&self) -> &AccountSid {
        match self {
            Self::AuthToken { account_sid, .. } | Self::ApiKey { account_sid, .. } => account_sid,
        }
    }

    fn basic_auth(&self) -> (&str, &str) {
        match self {
            Self::AuthToken {
                account_sid,
                auth_token,
            } => (account_sid.as_str(), auth_token.expose_secret()),
            Self::ApiKey {
                key_sid, secret, ..
            } => (key_sid.as_str(), secret.expose_secret()),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AuthToken { account_sid, .. } => {
                write!(f, "AuthToken({account_sid}, [REDACTED])")
            }
            Self::ApiKey {
                account_sid,
                key_sid,
                ..
            } => write!(f, "ApiKey({account_sid}, {key_sid}, [REDACTED])"),
        }
    }
}

/// Who a message is sent from: one of our numbers, or a Messaging Service that picks one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    From(String),
    MessagingService(String),
}

/// Everything the client needs; built once from the service's configuration.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// `https://api.twilio.com`, or a local fake in tests (plain http only on loopback).
    pub base_url: String,
    pub credentials: Credentials,
    pub sender: Sender,
    /// Where Twilio posts status callbacks for messages we send.
    pub status_callback: Option<String>,
    /// Time to open the connection; a timeout here means nothing was sent.
    pub connect_timeout: Duration,
    /// Time for the whole request; a timeout after connecting leaves the outcome unknown.
    pub request_timeout: Duration,
}

impl TwilioConfig {
    /// Production defaults: Twilio's API, 5 s to connect, 15 s per request.
    pub fn new(credentials: Credentials, sender: Sender) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            credentials,
            sender,
            status_callback: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// Twilio's answer to a successful create or a listed message (only the fields we use).
/// `Debug` hides the body and the number.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct MessageRecord {
    pub sid: MessageSid,
    pub status: MessageStatus,
    /// The recipient (E.164); reconciliation matches it with the body.
    #[serde(default)]
    pub to: Option<String>,
    /// The text as Twilio stored it; reconciliation matches an unknown attempt by it.
    #[serde(default)]
    pub body: Option<String>,
    pub error_code: Option<u32>,
    /// Segments billed, as a string in Twilio's JSON ("1").
    pub num_segments: Option<String>,
    /// RFC 2822 date, e.g. "Thu, 26 Nov 2026 19:20:00 +0000"; null while queued.
    pub date_sent: Option<String>,
}

impl std::fmt::Debug for MessageRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageRecord")
            .field("sid", &self.sid)
            .field("status", &self.status)
            .field("error_code", &self.error_code)
            .field("num_segments", &self.num_segments)
            .field("date_sent", &self.date_sent)
            .finish_non_exhaustive()
    }
}

impl MessageRecord {
    /// `date_sent` as a UTC instant, when Twilio has set it (RFC 2822).
    pub fn sent_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let d = self.date_sent.as_deref()?;
        chrono::DateTime::parse_from_rfc2822(d)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

#[derive(Deserialize)]
struct TwilioErrorBody {
    code: Option<u32>,
}

#[derive(Deserialize)]
struct MessagePage {
    messages: Vec<MessageRecord>,
    next_page_uri: Option<String>,
}

/// A client for one Twilio account.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    config: TwilioConfig,
    base: url::Url,
}

impl TwilioClient {
    /// Builds the client; refuses a base URL that would send credentials in clear text.
    pub fn new(config: TwilioConfig) -> Result<Self, Error> {
        let base = url::Url::parse(config.base_url.trim_end_matches('/')).map_err(|_| {
            Error::ClientConfig("the Twilio base URL is not an absolute URL".into())
        })?;
        let loopback = matches!(base.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if base.scheme() != "https" && !(base.scheme() == "http" && loopback) {
            return Err(Error::ClientConfig(
                "the Twilio base URL must use https (plain http only on loopback)".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // Never follow a redirect with our credentials attached.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::ClientConfig(format!("building the HTTP client: {e}")))?;
        Ok(Self { http, config, base })
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base.as_str().trim_end_matches('/'),
            self.config.credentials.account_sid()
        )
    }

    /// Sends one SMS to `to` (E.164). On success Twilio has accepted (queued) it; delivery is
    /// reported later by status callback.
    pub async fn send(&self, to: &str, body: &SmsBody) -> Result<MessageRecord, Error> {
        let mut form: Vec<(&str, &str)> = vec![("To", to), ("Body", body.as_str())];
        match &self.config.sender {
            Sender::From(from) => form.push(("From", from.as_str())),
            Sender::MessagingService(sid) => form.push(("MessagingServiceSid", sid.as_str())),
        }
        if let Some(callback) = &self.config.status_callback {
            form.push(("StatusCallback", callback.as_str()));
        }
        let (user, pass) = self.config.credentials.basic_auth();
        let response = self
            .http
            .post(self.messages_url())
            .basic_auth(user, Some(pass))
            .form(&form)
            .send()
            .await
            .map_err(send_transport_error)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = match response.bytes().await {
            Ok(b) => b,
            // Twilio answered but the body was cut off: for a 2xx the message exists.
            Err(_) if status.is_success() => {
                return Err(Error::OutcomeUnknown("the response body was cut off"));
            }
            Err(_) => Default::default(),
        };
        if status.is_success() {
            let record: MessageRecord = serde_json::from_slice(&bytes).map_err(|_| {
                Error::OutcomeUnknown("Twilio accepted the request but its answer was unreadable")
            })?;
            tracing::debug!(sid = %record.sid, status = ?record.status, "twilio accepted a message");
            return Ok(record);
        }
        let code = serde_json::from_slice::<TwilioErrorBody>(&bytes)
            .ok()
            .and_then(|b| b.code);
        tracing::debug!(
            http_status = status.as_u16(),
            code,
            "twilio refused a message"
        );
        Err(failure_error(status.as_u16(), code, retry_after))
    }

    /// Messages sent to `to` on or after `date_sent_after` (a UTC date: Twilio's `DateSent>=`
    /// filter has day resolution), newest first, following at most [`MAX_LIST_PAGES`] pages.
    pub async fn list_messages(
        &self,
        to: &str,
        date_sent_after: NaiveDate,
    ) -> Result<Vec<MessageRecord>, Error> {
        let date = date_sent_after.format("%Y-%m-%d").to_string();
        let mut url =
            url::Url::parse(&self.messages_url()).expect("messages_url is built from a parsed URL");
        // `DateSent>=2026-11-20` in Twilio's docs is the parameter `DateSent>` (as its SDKs send it).
        url.query_pairs_mut()
            .append_pair("To", to)
            .append_pair("DateSent>", &date)
            .append_pair("PageSize", PAGE_SIZE);
        let mut next = Some(url.to_string());
        let mut all = Vec::new();
        for _ in 0..MAX_LIST_PAGES {
            let Some(page_url) = next.take() else { break };
            let (user, pass) = self.config.credentials.basic_auth();
            let response = self
                .http
                .get(&page_url)
                .basic_auth(user, Some(pass))
                .send()
                .await
                // A GET changes nothing, so any transport failure is simply worth retrying.
                .map_err(|_| Error::RetryLater {
                    status: None,
                    code: None,
                    retry_after: None,
                })?;
            let status = response.status();
            let retry = retry_after(response.headers());
            let bytes = response.bytes().await.map_err(|_| Error::RetryLater {
                status: Some(status.as_u16()),
                code: None,
                retry_after: None,
            })?;
            if !status.is_success() {
                let code = serde_json::from_slice::<TwilioErrorBody>(&bytes)
                    .ok()
                    .and_then(|b| b.code);
                return Err(failure_error(status.as_u16(), code, retry));
            }
            let page: MessagePage = serde_json::from_slice(&bytes)
                .map_err(|e| Error::UnexpectedResponse(format!("message list: {e}")))?;
            all.extend(page.messages);
            next = page
                .next_page_uri
                .map(|uri| format!("{}{uri}", self.base.origin().ascii_serialization()));
        }
        Ok(all)
    }
}

/// A transport error while sending: only a failure to connect proves nothing was sent.
fn send_transport_error(e: reqwest::Error) -> Error {
    if e.is_connect() {
        Error::RetryLater {
            status: None,
            code: None,
            retry_after: None,
        }
    } else if e.is_timeout() {
        Error::OutcomeUnknown("Twilio did not answer in time after the request was sent")
    } else {
        Error::OutcomeUnknown("the connection failed after the request was sent")
    }
}

fn failure_error(status: u16, code: Option<u32>, retry_after: Option<Duration>) -> Error {
    let status_opt = Some(status);
    match classify_http(status, code) {
        FailureClass::RetryLater => Error::RetryLater {
            status: status_opt,
            code,
            retry_after,
        },
        FailureClass::OptedOut => Error::OptedOut,
        FailureClass::BadNumber => Error::BadNumber {
            code: code.expect("only a Twilio code classifies as BadNumber"),
        },
        FailureClass::Misconfigured => Error::Misconfigured {
            status: status_opt,
            code,
            hint: "check the account SID, credentials and sender (From / Messaging Service) in the configuration",
        },
        FailureClass::NeverRetry => Error::NeverRetry {
            status: status_opt,
            code,
        },
    }
}

/// RFC 9110 §10.2.3: `Retry-After` is either delay-seconds or an HTTP-date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
        .or(Some(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().expect("ascii"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("ascii"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().expect("ascii"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        let account_sid =
            AccountSid::parse("AC0123456789abcdef0123456789abcdef").expect("valid sid");
        let creds = Credentials::AuthToken {
            account_sid,
            auth_token: SecretString::from("tok-secret-123"),
        };
        let mut config = TwilioConfig::new(creds, Sender::From("+15005550006".into()));
        config.base_url = "http://api.example.com".into();
        assert!(matches!(
            TwilioClient::new(config.clone()),
            Err(Error::ClientConfig(_))
        ));
        config.base_url = "http://127.0.0.1:9".into();
        assert!(TwilioClient::new(config.clone()).is_ok());
        assert!(
            !format!("{config:?}").contains("tok-secret-123"),
            "Debug must redact the token"
        );
    }
}
