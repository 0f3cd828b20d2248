//! The Twilio SMS adapter: webhook signatures, inbound and status webhooks, the REST client, and
//! the classification of Twilio's error codes.

/// The REST client: send, and list for reconciliation.
pub mod client;
/// Twilio error codes sorted by what the sender does next.
pub mod codes;
/// Twilio SIDs as their own types.
pub mod ids;
/// `X-Twilio-Signature` validation.
pub mod signature;
/// Message status callbacks.
pub mod status;
/// Webhook forms and inbound SMS.
pub mod webhook;

pub use client::{Credentials, MessageRecord, Sender, TwilioClient, TwilioConfig};
pub use codes::{FailureClass, classify_error_code};
pub use ids::{AccountSid, MessageSid};
pub use signature::{SIGNATURE_HEADER, WebhookValidator};
pub use status::{DeliveryStatus, MessageStatus};
pub use webhook::{InboundSms, WebhookForm};
