//! One adapter per messaging channel (Twilio SMS, Telegram, the development console): send,
//! parse and verify inbound messages, delivery status, and the SMS rules (keywords, segments).
//!
//! It must not decide what to say to a client; the assistant does. Nothing here logs a message
//! body, a phone number or a Telegram chat id.

/// The crate's error type.
mod error;
/// Opt-out, opt-in and help keywords.
pub mod keywords;
/// SMS encodings, segments and the body limit.
pub mod sms;
/// The Telegram adapter: Bot API client, webhook secret and updates, deep links.
pub mod telegram;
/// Local fake Twilio and Telegram Bot API servers speaking the providers' wire formats, for
/// tests (feature `testing`).
#[cfg(feature = "testing")]
pub mod testing;
/// The Twilio SMS adapter.
pub mod twilio;

pub use error::Error;
pub use keywords::Keyword;
pub use secrecy::SecretString;
pub use sms::{SegmentCount, SmsBody};
