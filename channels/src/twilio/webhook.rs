//! Parsing Twilio's messaging webhooks: the form itself, within explicit limits, and an inbound
//! SMS (twilio.com/docs/messaging/guides/webhook-request). Status callbacks are in
//! [`super::status`].
//!
//! Every limit is explicit and any input yields a value or an [`Error`], never a panic. Verify the
//! signature (see [`super::signature`]) with the same decoded fields before trusting them.

use super::ids::{AccountSid, MessageSid};
use crate::Error;

/// Largest webhook body accepted. A Twilio SMS webhook is about 1 KiB; 10 media URLs and a
/// 1,600-character body stay well under this.
pub const MAX_WEBHOOK_BYTES: usize = 64 * 1024;
/// Most form fields accepted (an inbound MMS with 10 media has about 40).
pub const MAX_WEBHOOK_FIELDS: usize = 128;
/// Twilio delivers at most 10 media items per message.
pub const MAX_NUM_MEDIA: u8 = 10;
/// Longest address accepted in `From` / `To` (E.164 is 16 with '+'; channel prefixes such as
/// `whatsapp:` add a little).
const MAX_ADDRESS_CHARS: usize = 64;
/// Longest inbound body accepted: 10 concatenated segments of 160 characters is typical, but
/// Twilio concatenates long inbound texts, so allow generously.
const MAX_INBOUND_BODY_CHARS: usize = 16_000;

/// The decoded fields of a form-encoded webhook, in the order received.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookForm {
    fields: Vec<(String, String)>,
}

impl std::fmt::Debug for WebhookForm {
    // Fields include message bodies and phone numbers: show only their names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.fields.iter().map(|(k, _)| k))
            .finish()
    }
}

impl WebhookForm {
    /// Decodes an `application/x-www-form-urlencoded` body within the limits above.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        if body.len() > MAX_WEBHOOK_BYTES {
            return Err(Error::WebhookTooLarge {
                bytes: body.len(),
                max: MAX_WEBHOOK_BYTES,
            });
        }
        if std::str::from_utf8(body).is_err() {
            return Err(Error::WebhookNotAForm);
        }
        let mut fields = Vec::new();
        for (k, v) in form_urlencoded::parse(body) {
            if fields.len() == MAX_WEBHOOK_FIELDS {
                return Err(Error::WebhookTooManyFields {
                    max: MAX_WEBHOOK_FIELDS,
                });
            }
            fields.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self { fields })
    }

    /// All fields, for signature validation.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn require(&self, name: &'static str) -> Result<&str, Error> {
        self.get(name)
            .ok_or(Error::WebhookMissingField { field: name })
    }
}

/// A text a client sent to one of our numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundSms {
    pub message_sid: MessageSid,
    pub account_sid: AccountSid,
    /// The client's address (E.164 for SMS).
    pub from: String,
    /// Our number that received it.
    pub to: String,
    /// The text; empty for a picture-only MMS.
    pub body: String,
    /// Media items attached (0 for SMS).
    pub num_media: u8,
}

impl std::fmt::Debug for InboundSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundSms")
            .field("message_sid", &self.message_sid)
            .field("body_chars", &self.body.chars().count())
            .field("num_media", &self.num_media)
            .finish_non_exhaustive()
    }
}

impl InboundSms {
    /// Reads an inbound-message webhook.
    pub fn from_form(form: &WebhookForm) -> Result<Self, Error> {
        let message_sid =
            MessageSid::parse(form.require("MessageSid")?).ok_or(Error::WebhookInvalidField {
                field: "MessageSid",
                reason: "not SM or MM followed by 32 hex digits",
            })?;
        let account_sid =
            AccountSid::parse(form.require("AccountSid")?).ok_or(Error::WebhookInvalidField {
                field: "AccountSid",
                reason: "not AC followed by 32 hex digits",
            })?;
        let from = address(form, "From")?;
        let to = address(form, "To")?;
        // Body is absent or empty for a media-only message.
        let body = form.get("Body").unwrap_or_default().to_string();
        if body.chars().count() > MAX_INBOUND_BODY_CHARS {
            return Err(Error::WebhookInvalidField {
                field: "Body",
                reason: "longer than 16000 characters",
            });
        }
        let num_media = match form.get("NumMedia") {
            None => 0,
            Some(n) => n.parse::<u8>().ok().filter(|n| *n <= MAX_NUM_MEDIA).ok_or(
                Error::WebhookInvalidField {
                    field: "NumMedia",
                    reason: "not a whole number from 0 to 10",
                },
            )?,
        };
        Ok(Self {
            message_sid,
            account_sid,
            from,
            to,
            body,
            num_media,
        })
    }
}

fn address(form: &WebhookForm, field: &'static str) -> Result<String, Error> {
    let value = form.require(field)?.trim();
    if value.is_empty()
        || value.chars().count() > MAX_ADDRESS_CHARS
        || value.chars().any(char::is_control)
    {
        return Err(Error::WebhookInvalidField {
            field,
            reason: "not a phone number or channel address",
        });
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twilio::status::DeliveryStatus;
    use proptest::prelude::*;

    const INBOUND: &str = "ToCountry=US&ToState=CA&SmsMessageSid=SM0123456789abcdef0123456789abcdef\
        &NumMedia=0&SmsSid=SM0123456789abcdef0123456789abcdef&SmsStatus=received\
        &Body=Cancel+my+appt%21+%F0%9F%99%82&To=%2B15005550006&NumSegments=1\
        &MessageSid=SM0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef\
        &From=%2B14155550100&ApiVersion=2010-04-01";

    #[test]
    fn a_real_shaped_inbound_sms_parses() {
        let form = WebhookForm::parse(INBOUND.as_bytes()).expect("valid form");
        let sms = InboundSms::from_form(&form).expect("valid inbound SMS");
        assert_eq!(sms.body, "Cancel my appt! 🙂");
        assert_eq!(sms.from, "+14155550100");
        assert_eq!(sms.to, "+15005550006");
        assert_eq!(sms.num_media, 0);
        assert_eq!(
            sms.message_sid.as_str(),
            "SM0123456789abcdef0123456789abcdef"
        );
        assert!(
            !format!("{sms:?}").contains("Cancel"),
            "Debug must not show the body"
        );
    }

    #[test]
    fn a_missing_or_malformed_field_names_the_field() {
        let form =
            WebhookForm::parse(b"MessageSid=SM0123456789abcdef0123456789abcdef").expect("form");
        assert!(matches!(
            InboundSms::from_form(&form),
            Err(Error::WebhookMissingField {
                field: "AccountSid"
            })
        ));
        let form = WebhookForm::parse(INBOUND.replace("NumMedia=0", "NumMedia=11").as_bytes())
            .expect("form");
        assert!(matches!(
            InboundSms::from_form(&form),
            Err(Error::WebhookInvalidField {
                field: "NumMedia",
                ..
            })
        ));
        let form = WebhookForm::parse(b"MessageSid=XX1&MessageStatus=sent").expect("form");
        assert!(matches!(
            DeliveryStatus::from_form(&form),
            Err(Error::WebhookInvalidField {
                field: "MessageSid",
                ..
            })
        ));
    }

    #[test]
    fn oversized_and_overfull_forms_are_refused() {
        let big = vec![b'a'; MAX_WEBHOOK_BYTES + 1];
        assert!(matches!(
            WebhookForm::parse(&big),
            Err(Error::WebhookTooLarge { .. })
        ));
        let many = vec!["a=1"; MAX_WEBHOOK_FIELDS + 1].join("&");
        assert!(matches!(
            WebhookForm::parse(many.as_bytes()),
            Err(Error::WebhookTooManyFields { .. })
        ));
        assert!(matches!(
            WebhookForm::parse(&[0xff, 0xfe]),
            Err(Error::WebhookNotAForm)
        ));
    }

    fn form_pair() -> impl Strategy<Value = (String, String)> {
        let names = prop::sample::select(vec![
            "MessageSid",
            "AccountSid",
            "From",
            "To",
            "Body",
            "NumMedia",
            "MessageStatus",
            "ErrorCode",
            "x",
        ]);
        (names.prop_map(String::from), any::<String>())
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_parsers(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(form) = WebhookForm::parse(&bytes) {
                let _ = InboundSms::from_form(&form);
                let _ = DeliveryStatus::from_form(&form);
            }
        }

        #[test]
        fn arbitrary_forms_never_panic_the_parsers(pairs in prop::collection::vec(form_pair(), 0..20)) {
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
            let form = WebhookForm::parse(body.as_bytes());
            if body.len() <= MAX_WEBHOOK_BYTES {
                let form = form.expect("any encoded form within limits decodes");
                prop_assert_eq!(form.fields(), &pairs[..]);
                let _ = InboundSms::from_form(&form);
                let _ = DeliveryStatus::from_form(&form);
            }
        }
    }
}
