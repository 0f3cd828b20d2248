//! The crate's one error type. Messages never contain a message body or a phone number (they may
//! be PHI); they say "the recipient" and give Twilio's error code instead.

use std::time::Duration;

/// Everything that can go wrong in `channels`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- SMS rules -------------------------------------------------------------------------
    /// The message text is empty or only whitespace.
    #[error("the message body is empty: write some text before sending")]
    EmptyBody,
    /// Longer than Twilio accepts.
    #[error(
        "the message body is {units} UTF-16 units long; Twilio accepts at most {max}: shorten it"
    )]
    BodyTooLong { units: usize, max: usize },

    // --- Inbound webhooks ------------------------------------------------------------------
    /// The webhook body exceeds the size limit.
    #[error("the webhook body is {bytes} bytes; at most {max} are accepted")]
    WebhookTooLarge { bytes: usize, max: usize },
    /// The webhook form has too many fields.
    #[error("the webhook form has more than {max} fields")]
    WebhookTooManyFields { max: usize },
    /// The webhook body is not `application/x-www-form-urlencoded` UTF-8.
    #[error("the webhook body is not a UTF-8 form (application/x-www-form-urlencoded)")]
    WebhookNotAForm,
    /// A required field is missing.
    #[error(
        "the webhook has no `{field}` field; is this endpoint configured for the right Twilio webhook?"
    )]
    WebhookMissingField { field: &'static str },
    /// A field has a value outside what Twilio documents.
    #[error("the webhook field `{field}` is invalid: {reason}")]
    WebhookInvalidField {
        field: &'static str,
        reason: &'static str,
    },

    // --- Webhook signatures ----------------------------------------------------------------
    /// The request carries no `X-Twilio-Signature` header.
    #[error("the request has no X-Twilio-Signature header; it did not come from Twilio")]
    SignatureMissing,
    /// The signature does not match: wrong URL, wrong auth token, or a forged request.
    #[error(
        "the X-Twilio-Signature does not match; check that the configured public URL is exactly \
         the one Twilio calls and that the auth token is current"
    )]
    SignatureMismatch,
    /// A JSON webhook's URL has no `bodySHA256` query parameter.
    #[error("the webhook URL has no bodySHA256 parameter, which Twilio adds to JSON webhooks")]
    BodyHashMissing,
    /// The URL's `bodySHA256` does not match the JSON body.
    #[error("the bodySHA256 in the webhook URL does not match the request body")]
    BodyHashMismatch,
    /// The URL given for validation cannot be parsed.
    #[error("the webhook URL is not a valid absolute URL: {0}")]
    InvalidUrl(#[from] url::ParseError),

    // --- Sending: each variant says what the caller does next -------------------------------
    /// Nothing was sent; try again after `retry_after` (Twilio's Retry-After) or a backoff.
    #[error("Twilio asked us to retry later (HTTP {status:?}, code {code:?})")]
    RetryLater {
        status: Option<u16>,
        code: Option<u32>,
        retry_after: Option<Duration>,
    },
    /// Twilio refused this message for good; retrying will fail the same way.
    #[error("Twilio refused the message (HTTP {status:?}, code {code:?}): do not retry")]
    NeverRetry {
        status: Option<u16>,
        code: Option<u32>,
    },
    /// The recipient has opted out (Twilio 21610); record it and stop texting them until START.
    #[error(
        "the recipient has opted out (Twilio 21610); do not text them again until they reply START"
    )]
    OptedOut,
    /// The recipient's number cannot receive SMS (Twilio 21211, 21614, 30005, 30006).
    #[error("the recipient's number cannot receive SMS (Twilio code {code}); correct the number")]
    BadNumber { code: u32 },
    /// Our credentials or sender are wrong (401 / 20003, 21606...); an operator must fix config.
    #[error("Twilio rejected our configuration (HTTP {status:?}, code {code:?}): {hint}")]
    Misconfigured {
        status: Option<u16>,
        code: Option<u32>,
        hint: &'static str,
    },
    /// The request may have reached Twilio but no answer came back: look the message up
    /// (`list_messages`) before sending again, or the client may get it twice.
    #[error("the send outcome is unknown ({0}); reconcile with Twilio before retrying")]
    OutcomeUnknown(&'static str),
    /// The client could not be built (TLS setup) or configured.
    #[error("the Twilio client configuration is invalid: {0}")]
    ClientConfig(String),
    /// Twilio answered 2xx with JSON we cannot read (listing messages, where no send is at stake).
    #[error("Twilio's response could not be read: {0}")]
    UnexpectedResponse(String),
}

impl Error {
    /// Whether the same request may be sent again later without reconciling first.
    pub fn may_retry(&self) -> bool {
        matches!(self, Self::RetryLater { .. })
    }
}
