//! The crate's one error type. Messages never contain a message body, a phone number or a
//! Telegram chat id (they may be PHI); they say "the recipient" and give the provider's error
//! code instead.
//!
//! The sending variants are shared by every channel, so the outbox dispatcher handles Twilio and
//! Telegram alike; where a channel has its own meaning (a Twilio opt-out, a blocked Telegram bot)
//! it has its own variant.

use std::time::Duration;

/// Everything that can go wrong in `channels`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- SMS rules -------------------------------------------------------------------------
    /// The message text is empty or only whitespace.
    #[error("the message body is empty: write some text before sending")]
    EmptyBody,
    /// Longer than the channel accepts (Twilio 1,600 characters, Telegram 4,096).
    #[error(
        "the message body is {units} UTF-16 units long; the channel accepts at most {max}: shorten it"
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
    /// Nothing was sent; try again after `retry_after` (Twilio's Retry-After, Telegram's
    /// `parameters.retry_after`) or a backoff.
    #[error("the provider asked us to retry later (HTTP {status:?}, code {code:?})")]
    RetryLater {
        status: Option<u16>,
        code: Option<u32>,
        retry_after: Option<Duration>,
    },
    /// The provider refused this message for good; retrying will fail the same way.
    #[error("the provider refused the message (HTTP {status:?}, code {code:?}): do not retry")]
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
    /// Our credentials or sender are wrong (Twilio 401 / 20003, 21606...; Telegram 401); an
    /// operator must fix the configuration.
    #[error("the provider rejected our configuration (HTTP {status:?}, code {code:?}): {hint}")]
    Misconfigured {
        status: Option<u16>,
        code: Option<u32>,
        hint: &'static str,
    },
    /// The request may have reached the provider but no answer came back. Twilio: look the
    /// message up (`list_messages`) before sending again, or the client may get it twice.
    /// Telegram has no way to list a bot's sent messages, so there the dispatcher's policy decides.
    #[error("the send outcome is unknown ({0}); reconcile with the provider before retrying")]
    OutcomeUnknown(&'static str),
    /// The client could not be built (TLS setup) or configured.
    #[error("the channel client configuration is invalid: {0}")]
    ClientConfig(String),
    /// Twilio answered 2xx with JSON we cannot read (listing messages, where no send is at stake).
    #[error("Twilio's response could not be read: {0}")]
    UnexpectedResponse(String),

    // --- Telegram ----------------------------------------------------------------------------
    /// Telegram will not deliver to this chat: the client blocked the bot, deleted their account,
    /// or never started it (403 Forbidden). Like an opt-out: stop messaging the chat until the
    /// client opens the bot again with `/start`.
    #[error(
        "Telegram refuses to deliver to the recipient's chat (the bot was blocked, the account \
         deleted, or the chat never started): stop messaging it until the client sends /start"
    )]
    TelegramBlocked,
    /// Telegram does not know the chat (400 "chat not found"); the stored chat id is wrong.
    #[error(
        "Telegram does not know the recipient's chat (chat not found): link the client again \
         with a new /start link"
    )]
    TelegramChatNotFound,
    /// The configured webhook secret is not what Telegram's setWebhook accepts.
    #[error(
        "the Telegram webhook secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -: \
         generate one with WebhookSecret::generate"
    )]
    InvalidWebhookSecret,
    /// The webhook request has no `X-Telegram-Bot-Api-Secret-Token` header.
    #[error(
        "the request has no X-Telegram-Bot-Api-Secret-Token header; it did not come from \
         Telegram, or the webhook was registered without a secret_token"
    )]
    TelegramSecretMissing,
    /// The header does not match our secret: a forged request, or a webhook registered with an
    /// old secret.
    #[error(
        "the X-Telegram-Bot-Api-Secret-Token does not match; if the secret was rotated, call \
         setWebhook again with the current one"
    )]
    TelegramSecretMismatch,
    /// The webhook body is not a Telegram `Update` we can read. Says nothing of the content.
    #[error("the webhook body is not a Telegram Update object ({reason})")]
    InvalidUpdate { reason: &'static str },
    /// A `/start` deep-link payload outside Telegram's alphabet or length.
    #[error(
        "the /start link token must be 1-64 characters of A-Z, a-z, 0-9, _ and -: ask the \
         client to use the link they were sent, or send a new one"
    )]
    InvalidStartToken,
    /// A bot username outside Telegram's rules.
    #[error(
        "the Telegram bot username must be 5-32 characters of A-Z, a-z, 0-9 and _ ending in \
         \"bot\", without the @: copy it from @BotFather"
    )]
    InvalidBotUsername,
}

impl Error {
    /// Whether the same request may be sent again later without reconciling first.
    pub fn may_retry(&self) -> bool {
        matches!(self, Self::RetryLater { .. })
    }
}
