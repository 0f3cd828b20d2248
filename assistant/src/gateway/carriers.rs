//! The channels a dispatcher sends through: Twilio SMS, Telegram, and the console channel of
//! the embedded default, where a message is recorded as sent and shown to staff (it stays in
//! the outbox, readable through the staff API) without leaving the machine.

use std::time::Duration;

use anyhow::Context;
use chrono::TimeDelta;
use sha2::Digest as _;
use store::outbox::{ClaimedOutbound, Recipient, Unreconciled};

use super::settings::GatewaySettings;
use crate::config::ChannelKind;

/// The clients this process sends with.
pub struct Carriers {
    /// Every message goes to the console, whatever its recipient (the embedded default).
    console_only: bool,
    twilio: Option<(channels::twilio::TwilioClient, Duration)>,
    telegram: Option<(channels::telegram::TelegramClient, Duration)>,
}

fn not_configured(what: &'static str) -> channels::Error {
    channels::Error::Misconfigured {
        status: None,
        code: None,
        hint: what,
    }
}

/// The provider id recorded for a console message: no provider, so our own row id.
pub fn console_provider_id(row: store::OutboxMessageId) -> String {
    format!("console-{row}")
}

impl Carriers {
    /// Builds the clients the settings name. `status_callback`: where Twilio reports delivery.
    pub fn new(
        channel: ChannelKind,
        gateway: &GatewaySettings,
        status_callback: Option<String>,
    ) -> anyhow::Result<Self> {
        let twilio = match &gateway.twilio {
            Some(t) if channel != ChannelKind::Console => {
                let mut config = channels::twilio::TwilioConfig::new(
                    channels::twilio::Credentials::AuthToken {
                        account_sid: t.account_sid.clone(),
                        auth_token: t.auth_token.clone(),
                    },
                    t.sender.clone(),
                );
                config.base_url = t.api_base_url.clone();
                config.request_timeout = t.request_timeout;
                config.connect_timeout = t.request_timeout.min(Duration::from_secs(5));
                config.status_callback = status_callback;
                let client = channels::twilio::TwilioClient::new(config)
                    .context("setting up the Twilio client (check [twilio] api_base_url)")?;
                Some((client, t.request_timeout))
            }
            _ => None,
        };
        let telegram = match &gateway.telegram {
            Some(t) if channel != ChannelKind::Console => {
                let mut config = channels::telegram::TelegramConfig::new(t.bot_token.clone());
                config.api_url = t.api_url.clone();
                let timeout = config.request_timeout;
                let client = channels::telegram::TelegramClient::new(config)
                    .context("setting up the Telegram client (check [telegram] bot_token and api_url)")?;
                Some((client, timeout))
            }
            _ => None,
        };
        Ok(Self {
            console_only: channel == ChannelKind::Console,
            twilio,
            telegram,
        })
    }

    /// How long one send to this recipient may take.
    pub fn request_timeout(&self, to: &Recipient) -> Duration {
        match (to, &self.twilio, &self.telegram) {
            _ if self.console_only => Duration::ZERO,
            (Recipient::Sms(_), Some((_, t)), _) | (Recipient::Telegram(_), _, Some((_, t))) => *t,
            _ => Duration::ZERO,
        }
    }

    /// Sends one row; `Ok` carries the provider's id for it.
    pub async fn send(&self, row: &ClaimedOutbound) -> Result<String, channels::Error> {
        if self.console_only || matches!(row.recipient, Recipient::Console(_)) {
            // The console channel: no provider; staff read the message in the outbox. The
            // log names the row, never the text or the address.
            tracing::info!(outbox_message_id = %row.claim.outbox_message_id(), purpose = row.purpose.as_str(), "console channel: message recorded for staff");
            return Ok(console_provider_id(row.claim.outbox_message_id()));
        }
        match &row.recipient {
            Recipient::Sms(to) => {
                let (client, _) = self.twilio.as_ref().ok_or_else(|| {
                    not_configured("an SMS is queued but no [twilio] settings are configured")
                })?;
                let body = channels::sms::SmsBody::parse(row.body.clone())?;
                Ok(client.send(to.as_str(), &body).await?.sid.to_string())
            }
            Recipient::Telegram(chat) => {
                let (client, _) = self.telegram.as_ref().ok_or_else(|| {
                    not_configured("a Telegram message is queued but no [telegram] settings are configured")
                })?;
                let text = channels::telegram::TelegramText::parse(&row.body)?;
                let sent = client.send(channels::telegram::ChatId::new(*chat), &text).await?;
                Ok(telegram_provider_id(*chat, sent))
            }
            Recipient::Console(_) => unreachable!("console rows were handled above"),
        }
    }

    /// The provider's ids for messages that may be the unknown attempt `u`, most likely first.
    /// Empty when the provider has none (or, for Telegram and the console, cannot have one).
    pub async fn look_up(&self, u: &Unreconciled, skew: TimeDelta) -> Result<Vec<String>, channels::Error> {
        if self.console_only {
            // A console send is the store write itself: unknown means it never happened.
            return Ok(Vec::new());
        }
        match &u.recipient {
            Recipient::Sms(to) => {
                let (client, _) = self.twilio.as_ref().ok_or_else(|| {
                    not_configured("an SMS needs reconciling but no [twilio] settings are configured")
                })?;
                let since = u.attempt_started_at - skew;
                // Twilio Messages list: filter `To` and `DateSent>` (day resolution, UTC),
                // newest first (twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources).
                let listed = client.list_messages(to.as_str(), since.date_naive()).await?;
                let mut matches: Vec<_> = listed
                    .into_iter()
                    .filter(|m| m.to.as_deref().is_none_or(|t| t == to.as_str()))
                    .filter(|m| m.body.as_deref() == Some(u.body.as_str()))
                    .filter(|m| m.sent_at().is_none_or(|t| t >= since))
                    .collect();
                // Oldest first: the earliest match after the attempt began is the attempt.
                matches.sort_by_key(|m| m.sent_at());
                Ok(matches.into_iter().map(|m| m.sid.to_string()).collect())
            }
            // Telegram cannot list a bot's sent messages: the policy is at-least-once (a lost
            // reminder is worse than a repeated one), so the row is sent again.
            Recipient::Telegram(_) => Ok(Vec::new()),
            Recipient::Console(_) => Ok(Vec::new()),
        }
    }
}

/// Telegram message ids are per chat; the stored provider id must be unique per channel and
/// must not reveal the chat id, so it is a hash of both.
fn telegram_provider_id(chat: i64, message: channels::telegram::MessageId) -> String {
    let digest = sha2::Sha256::digest(format!("{chat}:{}", message.get()).as_bytes());
    format!("tg-{}", hex::encode(&digest[..16]))
}
