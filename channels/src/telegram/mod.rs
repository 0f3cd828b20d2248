//! The Telegram adapter: sending through the Bot API (teloxide), the webhook's secret-token check
//! and update parsing, deduplication of redelivered updates, and `/start` deep links that link a
//! client's chat to their record.
//!
//! What the assistant does with these: mount one webhook route; verify the secret, then parse
//! ([`verify_update`](crate::telegram::webhook::WebhookVerifier::verify_update)); drop repeats ([`RecentUpdates`](crate::telegram::dedupe::RecentUpdates), then the store's
//! durable record of update ids); on [`StartCommand::Link`](crate::telegram::deep_link::StartCommand::Link), redeem the token in the store
//! (single use, unexpired, bound to this chat); otherwise treat the text as a reply.

/// sendMessage, getMe and setWebhook, and the sorting of Telegram's errors.
pub mod client;
/// A bounded window of recent update ids.
pub mod dedupe;
/// `/start` tokens, links and commands.
pub mod deep_link;
/// Chat, user, update and message ids; the bot's username.
pub mod ids;
/// The secret-token header and `Update` parsing.
pub mod webhook;

pub use client::{TelegramClient, TelegramConfig, TelegramText};
pub use dedupe::{Delivery, RecentUpdates};
pub use deep_link::{StartCommand, StartToken};
pub use ids::{BotUsername, ChatId, MessageId, UpdateId, UserId};
pub use webhook::{
    Ignored, InboundText, SECRET_TOKEN_HEADER, Update, UpdateContent, WebhookSecret,
    WebhookVerifier,
};
