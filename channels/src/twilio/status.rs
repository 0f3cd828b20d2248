//! Message status callbacks (twilio.com/docs/messaging/guides/track-outbound-message-status):
//! where a message we sent stands, and what to do when it failed.

use super::codes::{FailureClass, classify_error_code};
use super::ids::{AccountSid, MessageSid};
use super::webhook::WebhookForm;
use crate::Error;

/// Where a message stands, as Twilio's `MessageStatus` reports it
/// (twilio.com/docs/messaging/api/message-resource#message-status-values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Read,
    Accepted,
    Scheduled,
    Canceled,
    Receiving,
    Received,
    PartiallyDelivered,
}

impl MessageStatus {
    /// Parses Twilio's lowercase status name.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// Whether no further status will follow for an outbound message.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::Read | Self::Canceled
        )
    }
}

/// A status callback for a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub message_sid: MessageSid,
    pub account_sid: Option<AccountSid>,
    pub status: MessageStatus,
    /// Twilio's error code when the status is `failed` or `undelivered`.
    pub error_code: Option<u32>,
}

impl DeliveryStatus {
    /// Reads a status-callback webhook.
    pub fn from_form(form: &WebhookForm) -> Result<Self, Error> {
        let message_sid =
            MessageSid::parse(form.require("MessageSid")?).ok_or(Error::WebhookInvalidField {
                field: "MessageSid",
                reason: "not SM or MM followed by 32 hex digits",
            })?;
        let account_sid = match form.get("AccountSid") {
            None => None,
            Some(s) => Some(AccountSid::parse(s).ok_or(Error::WebhookInvalidField {
                field: "AccountSid",
                reason: "not AC followed by 32 hex digits",
            })?),
        };
        let status = MessageStatus::parse(form.require("MessageStatus")?).ok_or(
            Error::WebhookInvalidField {
                field: "MessageStatus",
                reason: "not a status Twilio documents",
            },
        )?;
        let error_code = match form.get("ErrorCode").map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(c.parse::<u32>().map_err(|_| Error::WebhookInvalidField {
                field: "ErrorCode",
                reason: "not a whole number",
            })?),
        };
        Ok(Self {
            message_sid,
            account_sid,
            status,
            error_code,
        })
    }

    /// For a failed or undelivered message, what to do about it; `None` otherwise.
    pub fn failure(&self) -> Option<FailureClass> {
        match self.status {
            MessageStatus::Failed | MessageStatus::Undelivered => Some(
                self.error_code
                    .map_or(FailureClass::NeverRetry, classify_error_code),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_callbacks_parse_with_and_without_an_error_code() {
        let sid = "SM0123456789abcdef0123456789abcdef";
        let form =
            WebhookForm::parse(format!("MessageSid={sid}&MessageStatus=delivered").as_bytes())
                .expect("form");
        let status = DeliveryStatus::from_form(&form).expect("delivered");
        assert_eq!(
            (status.status, status.error_code, status.failure()),
            (MessageStatus::Delivered, None, None)
        );
        let form = WebhookForm::parse(
            format!("MessageSid={sid}&MessageStatus=undelivered&ErrorCode=30007").as_bytes(),
        )
        .expect("form");
        let status = DeliveryStatus::from_form(&form).expect("undelivered");
        assert_eq!(status.error_code, Some(30007));
        assert_eq!(status.failure(), Some(FailureClass::NeverRetry));
        for s in [
            "queued",
            "sending",
            "sent",
            "delivered",
            "undelivered",
            "failed",
            "read",
            "partially_delivered",
        ] {
            assert!(MessageStatus::parse(s).is_some(), "{s}");
        }
        assert_eq!(MessageStatus::parse("lost"), None);
    }
}
