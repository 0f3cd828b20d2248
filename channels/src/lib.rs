//! One adapter per messaging channel (Twilio SMS, Telegram, the development console): send,
//! parse and verify inbound messages, delivery status, and the SMS rules (keywords, segments).
//!
//! It must not decide what to say to a client; the assistant does.
