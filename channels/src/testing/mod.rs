//! Fake providers for tests. The Telegram Bot API fake is in [`telegram`]; the rest of this
//! module is the fake Twilio.
//!
//! A fake Twilio for tests: a real HTTP server on 127.0.0.1 that speaks Twilio's REST wire format
//! (basic auth, form bodies, its JSON success and error shapes and codes) and signs the status
//! callbacks it sends exactly as Twilio does. Tests script its next answers (429 with
//! Retry-After, 500, accept-then-hang) and inspect what it accepted.
//!
//! Available with the `testing` feature so other crates' tests can reuse it.

mod handlers;
/// A fake Telegram Bot API.
pub mod telegram;

pub use telegram::{FakeTelegram, TelegramScripted};

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use secrecy::SecretString;

use crate::twilio::signature::form_signature;
use crate::twilio::{AccountSid, Credentials, MessageSid, MessageStatus};

/// What the fake does with the next create-message request, instead of its normal handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scripted {
    /// 429 with Twilio's error 20429 and, if given, a `Retry-After` of that many seconds.
    RateLimited { retry_after_secs: Option<u64> },
    /// 500 with Twilio's error 20500.
    ServerError,
    /// Any other Twilio error: this HTTP status with this code (e.g. 400 / 21612, 400 / 21606).
    Refuse { status: u16, code: u32 },
    /// Accept and record the message, then wait this long before answering (so the client
    /// times out after the request was sent).
    AcceptThenHang(Duration),
}

/// Random faults for soak tests: each create-message request that passes authentication draws
/// one answer. Probabilities are fractions of all such requests; the rest are accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Chaos {
    /// 429 with Twilio's 20429 and a `Retry-After` of `retry_after_secs` (nothing recorded).
    pub rate_limited: f64,
    pub retry_after_secs: u64,
    /// 500 with 20500 (nothing recorded).
    pub server_error: f64,
    /// Accept and record, then hang for `hang` before answering (the client times out after
    /// the request left: the outcome is unknown to it).
    pub accept_then_hang: f64,
    pub hang: Duration,
}

/// What the fake answered to one create-message request, for assertions on the sender's
/// behaviour (did it wait out `Retry-After`?).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Accepted(MessageSid),
    AcceptedThenHung(MessageSid),
    RateLimited { retry_after_secs: Option<u64> },
    ServerError,
    Refused { status: u16, code: u32 },
}

/// One create-message request the fake answered (after authentication and validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub at: std::time::Instant,
    pub to: String,
    pub body: String,
    pub answer: Answer,
}

/// A message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedSms {
    pub sid: MessageSid,
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: String,
    pub status_callback: Option<String>,
    pub date_sent: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug)]
struct State {
    account_sid: AccountSid,
    auth_token: String,
    api_keys: Vec<(String, String)>,
    opted_out: HashSet<String>,
    not_mobile: HashSet<String>,
    script: VecDeque<Scripted>,
    accepted: Vec<AcceptedSms>,
    page_size_cap: usize,
    next_id: u64,
    chaos: Option<Chaos>,
    requests: Vec<CreateRequest>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panic in one handler must not hide every later assertion behind a poisoned lock.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake Twilio; stops when dropped.
pub struct FakeTwilio {
    addr: SocketAddr,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeTwilio {
    /// Starts a fake on a free port with a fresh account SID and auth token.
    pub async fn start() -> std::io::Result<Self> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let account_sid =
            AccountSid::parse(&format!("AC{:032x}", seed)).expect("AC plus 32 hex digits is a SID");
        let state = Arc::new(Mutex::new(State {
            account_sid,
            auth_token: format!("{:032x}", seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            api_keys: Vec::new(),
            opted_out: HashSet::new(),
            not_mobile: HashSet::new(),
            script: VecDeque::new(),
            accepted: Vec::new(),
            page_size_cap: 1000,
            next_id: 1,
            chaos: None,
            requests: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = handlers::router(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            state,
            server,
        })
    }

    /// Base URL for [`crate::twilio::TwilioConfig::base_url`].
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn account_sid(&self) -> AccountSid {
        lock(&self.state).account_sid.clone()
    }

    pub fn auth_token(&self) -> SecretString {
        SecretString::from(lock(&self.state).auth_token.clone())
    }

    /// Credentials the fake accepts (account SID and auth token).
    pub fn credentials(&self) -> Credentials {
        Credentials::AuthToken {
            account_sid: self.account_sid(),
            auth_token: self.auth_token(),
        }
    }

    /// Creates an API key the fake also accepts.
    pub fn api_key_credentials(&self) -> Credentials {
        let mut s = lock(&self.state);
        let n = s.api_keys.len();
        let key_sid = format!("SK{:032x}", n + 1);
        let secret = format!("secret-{n}-{}", s.auth_token);
        s.api_keys.push((key_sid.clone(), secret.clone()));
        Credentials::ApiKey {
            account_sid: s.account_sid.clone(),
            key_sid,
            secret: SecretString::from(secret),
        }
    }

    /// Makes sends to `number` fail with 21610, as after the recipient texted STOP.
    pub fn opt_out(&self, number: &str) {
        lock(&self.state).opted_out.insert(number.to_string());
    }

    /// Makes sends to `number` fail with 21614 ("not a valid mobile number").
    pub fn mark_not_mobile(&self, number: &str) {
        lock(&self.state).not_mobile.insert(number.to_string());
    }

    /// Queues an answer for the next create-message request that passes authentication.
    pub fn script(&self, answer: Scripted) {
        lock(&self.state).script.push_back(answer);
    }

    /// Answers every later create-message request (that has no scripted answer) at random
    /// with these faults.
    pub fn set_chaos(&self, chaos: Chaos) {
        lock(&self.state).chaos = Some(chaos);
    }

    /// Every create-message request answered so far, oldest first.
    pub fn requests(&self) -> Vec<CreateRequest> {
        lock(&self.state).requests.clone()
    }

    /// Caps the list endpoint's page size, to exercise pagination.
    pub fn cap_page_size(&self, n: usize) {
        lock(&self.state).page_size_cap = n.max(1);
    }

    /// Every message accepted so far, oldest first.
    pub fn accepted(&self) -> Vec<AcceptedSms> {
        lock(&self.state).accepted.clone()
    }

    /// Posts a status callback for an accepted message to its `StatusCallback` URL, signed
    /// with the account's auth token as Twilio signs it. Returns the HTTP status received.
    pub async fn send_status_callback(
        &self,
        sid: &MessageSid,
        status: MessageStatus,
        error_code: Option<u32>,
    ) -> Result<u16, String> {
        let (message, account_sid, token) = {
            let s = lock(&self.state);
            let m = s.accepted.iter().find(|m| &m.sid == sid).cloned();
            (
                m,
                s.account_sid.clone(),
                SecretString::from(s.auth_token.clone()),
            )
        };
        let message = message.ok_or("the fake accepted no message with that SID")?;
        let url = message
            .status_callback
            .clone()
            .ok_or("that message had no StatusCallback")?;
        let status_name = serde_json::to_value(status).map_err(|e| e.to_string())?;
        let status_name = status_name
            .as_str()
            .ok_or("status serialises as a string")?
            .to_string();
        let mut params = vec![
            ("AccountSid".to_string(), account_sid.to_string()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("MessageSid".into(), sid.to_string()),
            ("MessageStatus".into(), status_name.clone()),
            ("SmsSid".into(), sid.to_string()),
            ("SmsStatus".into(), status_name),
            ("To".into(), message.to.clone()),
        ];
        if let Some(from) = &message.from {
            params.push(("From".into(), from.clone()));
        }
        if let Some(code) = error_code {
            params.push(("ErrorCode".into(), code.to_string()));
        }
        let signature = form_signature(&token, &url, &params);
        let response = reqwest::Client::new()
            .post(&url)
            .header(crate::twilio::SIGNATURE_HEADER, signature)
            .form(&params)
            .send()
            .await
            .map_err(|e| format!("posting the status callback: {e}"))?;
        Ok(response.status().as_u16())
    }
}
