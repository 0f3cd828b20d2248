//! One adapter per messaging channel (Twilio SMS, Telegram, the development console): send,
//! parse and verify inbound messages, delivery status, and the SMS rules (keywords, segments).
//!
//! It must not decide what to say to a client; the assistant does. Nothing here logs a message
//! body or a phone number.

/// The crate's error type.
mod error;
/// Opt-out, opt-in and help keywords.
pub mod keywords;
/// SMS encodings, segments and the body limit.
pub mod sms;
/// A local fake Twilio server speaking Twilio's wire format, for tests (feature `testing`).
#[cfg(feature = "testing")]
pub mod testing;
/// The Twilio SMS adapter.
pub mod twilio;

pub use error::Error;
pub use keywords::Keyword;
pub use secrecy::SecretString;
pub use sms::{SegmentCount, SmsBody};
