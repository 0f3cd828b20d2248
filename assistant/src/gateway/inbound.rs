//! What the gateway does with a text a client sends, on any channel: compliance keywords first
//! (STOP and its synonyms, START, HELP), then everything else is stored for the staff inbox and
//! handed to the reply conversation ([`on_client_reply`]).
//!
//! The single word CANCEL is an opt-out, never "cancel my appointment" (DESIGN invariant;
//! CTIA Messaging Principles §5 and Twilio's keyword list, see `channels::keywords`). Replies
//! never reveal clinical content, and a sender we do not know learns nothing: the keyword
//! replies name only the practice, and ordinary texts are answered by the conversation
//! (`crate::replies`), which tells an unknown number only to call the office.

use anyhow::Context;
use channels::Keyword;
use store::inbound::{InboundKind, NewInbound, Received};
use store::opt_out::{OptInChange, OptOutSource};
use store::outbox::{IdempotencyKey, NewOutbound, Purpose, Recipient, SenderKey};
use store::{Actor, ClientId, InboundMessageId, PracticeId, Store};

/// One inbound text, already verified as coming from the provider.
pub struct InboundText<'a> {
    pub practice: PracticeId,
    pub sender: Recipient,
    /// Unique per message on its channel (Twilio MessageSid, `tg-update-<id>`).
    pub provider_id: &'a str,
    pub body: &'a str,
    /// The outbox sender key replies go out under.
    pub reply_sender: SenderKey,
}

/// What happened to an inbound text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    OptedOut,
    OptedIn,
    HelpSent,
    /// Stored and answered by the conversation (which files what it cannot act on for staff).
    Answered,
    /// The provider sent this message before; the keyword actions were re-applied (they are
    /// idempotent), nothing else was done.
    Repeat,
    /// A Telegram `/start` link connected the chat to its client.
    Linked,
    /// A `/start` without a valid link: told to ask the practice for one.
    LinkRefused,
}

/// A stored client reply for the conversation (confirm / reschedule / cancel-by-number).
#[derive(Debug, Clone, Copy)]
pub struct ClientReply<'a> {
    pub practice: PracticeId,
    pub inbound_message_id: InboundMessageId,
    /// The client, when exactly one client of the practice has the sender's number.
    pub client_id: Option<ClientId>,
    pub sender: &'a Recipient,
    pub body: &'a str,
    pub provider_id: &'a str,
}

/// The appointment conversation (confirm, reschedule, cancel by a numbered choice, the
/// waitlist, anything else to the staff inbox with an alert): [`crate::replies::handle_reply`].
/// It runs after the message is stored, so nothing is lost whatever it does; its replies go
/// through the outbox, and a sender it does not know learns nothing.
pub async fn on_client_reply(store: &Store, reply: ClientReply<'_>) -> anyhow::Result<crate::replies::ReplyOutcome> {
    let handled = crate::replies::handle_reply(
        store,
        &crate::replies::Inbound {
            practice_id: reply.practice,
            from: reply.sender,
            text: reply.body,
            provider_id: reply.provider_id,
            received_at: chrono::Utc::now(),
        },
    )
    .await
    .context("answering a client's reply")?;
    tracing::debug!(inbound_message_id = %reply.inbound_message_id, matched = reply.client_id.is_some(), "client reply answered");
    Ok(handled.outcome)
}

/// The reply to HELP / INFO (CTIA Messaging Principles §5.1: program name, contact,
/// frequency, "Msg & data rates may apply", how to opt out). Names the practice only.
pub fn help_text(practice_name: &str, practice_phone: Option<&str>) -> String {
    let contact = practice_phone.map_or_else(|| "call the office".to_owned(), |p| format!("call {p}"));
    format!(
        "{practice_name}: appointment reminders and messages. For help, {contact}. Msg frequency varies. Msg & data rates may apply. Reply STOP to opt out."
    )
}

/// The one confirmation after an opt-out (CTIA §5.1.1: confirm, no further messages).
pub fn opt_out_text(practice_name: &str) -> String {
    format!("{practice_name}: you are unsubscribed and will get no more messages. Reply START to subscribe again.")
}

/// The confirmation after START / UNSTOP.
pub fn opt_in_text(practice_name: &str) -> String {
    format!("{practice_name}: you are subscribed again. Msg & data rates may apply. Reply HELP for help, STOP to opt out.")
}

fn reply(text: &InboundText<'_>, purpose: Purpose, key: &str, body: String) -> anyhow::Result<NewOutbound> {
    // The idempotency key is built from the provider's id (a short code, no PHI), so a
    // webhook retry never queues a second reply.
    let idempotency_key = IdempotencyKey::parse(&format!("{key}:{}", text.provider_id)).context("building a reply key")?;
    Ok(NewOutbound {
        client_id: None,
        recipient: text.sender.clone(),
        body,
        purpose,
        appointment_id: None,
        message_id: None,
        sender_key: text.reply_sender.clone(),
        idempotency_key,
        not_before: None,
    })
}

/// Handles one inbound text: keywords first, then the staff inbox and the conversation.
pub async fn handle(store: &Store, text: InboundText<'_>) -> anyhow::Result<Handled> {
    let actor = Actor::system(text.practice);
    let mut keyword = Keyword::parse(text.body);
    if keyword == Keyword::OptIn && !store.is_opted_out(&actor, &text.sender).await.context("reading the opt-out")? {
        // YES / START from someone who never opted out is an ordinary reply ("yes, I'll come").
        keyword = Keyword::NotAKeyword;
    }
    let kind = match keyword {
        Keyword::OptOut => InboundKind::OptOut,
        Keyword::OptIn => InboundKind::OptIn,
        Keyword::Help => InboundKind::Help,
        Keyword::NotAKeyword => InboundKind::Text,
    };
    let received = store
        .record_inbound(
            &actor,
            &NewInbound { sender: text.sender.clone(), provider_id: text.provider_id.to_owned(), body: text.body.to_owned(), kind },
        )
        .await
        .context("storing an inbound message")?;
    // Keyword actions are idempotent, so they run on a repeat too: a crash after storing the
    // message and before opting out must not lose the STOP when the provider retries.
    // The practice's name and phone are read only for a keyword reply (ordinary texts, the
    // common case, cost one transaction).
    let practice = match keyword {
        Keyword::NotAKeyword => None,
        _ => Some(store.get_practice(&actor).await.context("reading the practice")?),
    };
    let name = practice.as_ref().map_or("", |p| p.details.name.as_str());
    let done = match keyword {
        Keyword::OptOut => {
            let confirmation = reply(&text, Purpose::OptOutConfirmation, "optout", opt_out_text(name))?;
            store.opt_out_and_confirm(&actor, OptOutSource::Keyword, &confirmation).await.context("recording an opt-out")?;
            Handled::OptedOut
        }
        Keyword::OptIn => {
            if store.clear_opt_out(&actor, &text.sender).await.context("clearing an opt-out")? == OptInChange::Cleared {
                store.enqueue(&actor, &reply(&text, Purpose::Reply, "optin", opt_in_text(name))?).await.context("queuing the opt-in confirmation")?;
            }
            Handled::OptedIn
        }
        Keyword::Help => {
            let phone = practice.as_ref().and_then(|p| p.details.phone.as_ref()).map(|p| p.as_str().to_owned());
            store
                .enqueue(&actor, &reply(&text, Purpose::HelpReply, "help", help_text(name, phone.as_deref()))?)
                .await
                .context("queuing the help reply")?;
            Handled::HelpSent
        }
        Keyword::NotAKeyword => match received {
            Received::New { inbound_message_id, client_id } => {
                // A reply lifts the daily and weekly caps on automated texts to this sender.
                store.record_reply_time(&actor, &text.sender, chrono::Utc::now()).await.context("recording the reply time")?;
                on_client_reply(
                    store,
                    ClientReply {
                        practice: text.practice,
                        inbound_message_id,
                        client_id,
                        sender: &text.sender,
                        body: text.body,
                        provider_id: text.provider_id,
                    },
                )
                .await?;
                Handled::Answered
            }
            Received::Duplicate { .. } => Handled::Repeat,
        },
    };
    Ok(match received {
        Received::Duplicate { .. } => Handled::Repeat,
        Received::New { .. } => done,
    })
}

/// Answers a Telegram `/start`: with a link token, connects the chat to the token's client
/// (single use, unexpired, bound to the first chat); the reply names only the practice.
pub async fn start(
    store: &Store,
    practice: PracticeId,
    text: &channels::telegram::InboundText,
    command: &channels::telegram::StartCommand,
    update: channels::telegram::UpdateId,
) -> anyhow::Result<Handled> {
    use channels::telegram::StartCommand;
    use store::telegram_link::LinkRedemption;
    let actor = Actor::system(practice);
    let name = store.get_practice(&actor).await.context("reading the practice")?.details.name;
    let (handled, body) = match command {
        StartCommand::Link(token) => match store.redeem_telegram_link(&actor, token.as_str(), text.chat_id.get()).await.context("redeeming a telegram link")? {
            LinkRedemption::Linked { .. } | LinkRedemption::AlreadyLinked { .. } => {
                (Handled::Linked, format!("You're connected to {name}. Your appointment reminders will arrive here. Send STOP to turn them off."))
            }
            LinkRedemption::Refused => (Handled::LinkRefused, format!("This link is not valid any more. Ask {name} for a new one.")),
        },
        _ => (Handled::LinkRefused, format!("Hello! To get messages from {name} here, open the link they sent you.")),
    };
    let provider_id = format!("tg-update-{}", update.get());
    let reply_to = InboundText {
        practice,
        sender: Recipient::Telegram(text.chat_id.get()),
        provider_id: &provider_id,
        body: "",
        reply_sender: SenderKey::parse("telegram:bot").expect("a valid constant"),
    };
    store.enqueue(&actor, &reply(&reply_to, Purpose::Reply, "tgstart", body)?).await.context("queuing the /start reply")?;
    Ok(handled)
}
