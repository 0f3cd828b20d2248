//! Reply conversations (DESIGN flow 2): what a client's text about their next visit does.
//! The webhook code calls [`handle_reply`] after it has verified the request, deduplicated it by
//! provider id and handled the opt-out and help keywords (STOP, CANCEL, START, HELP… never
//! reach this module as visit actions: see [`intent`]).
//!
//! One inbound message is one store transaction ([`store::replies::ReplyTurn`]): the visit
//! change, the conversation state, the inbox entry and alert, and every reply it causes are
//! committed together, so a crash loses nothing and sends nothing that did not happen.
//! Replies carry dates and times only ([`texts`]); an unknown number learns nothing.

/// Reading a reply: confirm, reschedule, a numbered choice, or anything else.
pub mod intent;
/// Staff routes: a clinician's waitlist.
pub mod routes;
/// The wording of every reply.
pub mod texts;

use chrono::{DateTime, Duration, Utc};
use store::appointments::{Appointment, AppointmentStatus};
use store::clients::Channel;
use store::outbox::{IdempotencyKey, NewOutbound, Purpose, Recipient, SenderKey};
use store::replies::{Booking, ConversationState, ReplyClient, ReplyTurn, Sender, WaitlistAcceptance};
use store::{Actor, AppointmentId, ClientId, MessageId, OutboxMessageId, PracticeId, Store, StoreError};

pub use intent::Intent;
pub use routes::router;

/// Slots offered after "R".
pub const SLOTS_OFFERED: usize = 3;
/// How long an offer of slots stays answerable.
pub const CHOICE_TTL: Duration = Duration::hours(24);
/// Waitlisted clients offered a freed slot at once.
pub const WAITLIST_BATCH: usize = 3;
/// How long a waitlist offer stays answerable (at most until the slot starts).
pub const WAITLIST_TTL: Duration = Duration::hours(12);

/// What handling a reply did; every variant also queued exactly one reply to the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// No client has this address: the neutral reply went out, nothing else happened.
    UnknownSender,
    Confirmed(AppointmentId),
    /// Up to three slots (possibly none) offered for this visit, with the cancel choice.
    SlotsOffered { appointment_id: AppointmentId, slots: usize },
    Rescheduled(AppointmentId),
    /// The chosen slot was gone; fresh ones were offered.
    SlotTaken { appointment_id: AppointmentId, slots: usize },
    /// A number outside the menu: the menu was explained again.
    ChoiceNotOnMenu,
    /// Cancelled by the menu's cancel number; `waitlist_offered` clients were offered the slot.
    Cancelled { appointment_id: AppointmentId, waitlist_offered: usize },
    /// A waitlisted client took a freed slot; `told_gone` others were told it is gone.
    WaitlistBooked { appointment_id: AppointmentId, told_gone: usize },
    WaitlistGone,
    WaitlistDeclined,
    /// Filed in the staff inbox (the client's thread) with an alert to the clinician.
    ToInbox(Vec<MessageId>),
}

/// What [`handle_reply`] did and the outbox row of its one reply to the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handled {
    pub outcome: ReplyOutcome,
    /// The reply (first row if the provider redelivered the message: the key is its id).
    pub reply: OutboxMessageId,
}

/// One inbound message, as the webhook has it after verification.
#[derive(Clone, Copy)]
pub struct Inbound<'a> {
    pub practice_id: PracticeId,
    pub from: &'a Recipient,
    pub text: &'a str,
    /// The provider's message id (Twilio `MessageSid`, Telegram `update_id`): replies are
    /// keyed by it, so a redelivered webhook never queues a second reply.
    pub provider_id: &'a str,
    pub received_at: DateTime<Utc>,
}

impl std::fmt::Debug for Inbound<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound").field("practice_id", &self.practice_id).field("provider_id", &self.provider_id).finish_non_exhaustive()
    }
}

/// Handles one client reply: see the module docs. Errors carry no PHI; on error nothing was
/// changed or queued (the transaction rolled back), so the webhook may answer 500 and let the
/// provider retry.
pub async fn handle_reply(store: &Store, inbound: &Inbound<'_>) -> store::Result<Handled> {
    let actor = Actor::system(inbound.practice_id);
    let senders = Senders::of(store, &actor).await?;
    let key = |suffix: &str| IdempotencyKey::parse(&format!("reply:{}:{suffix}", inbound.provider_id));
    let reply_key = key("reply").map_err(|_| StoreError::Invalid("provider_id must be 1-150 characters of [A-Za-z0-9._:-]".to_owned()))?;
    let (mut turn, sender) = store.begin_reply(&actor, inbound.from, inbound.received_at).await?;
    let mut c = Conversation { turn: &mut turn, senders: &senders, to: inbound.from, reply_key, provider_id: inbound.provider_id, sent: None };
    let outcome = match sender {
        Sender::Unknown => {
            c.reply(None, None, texts::UNKNOWN_SENDER.to_owned(), Purpose::Reply).await?;
            ReplyOutcome::UnknownSender
        }
        Sender::Several(clients) => c.file_for_staff(&clients, inbound.text, None).await?,
        Sender::Client(client) => c.handle(&client, inbound.text).await?,
    };
    let reply = c.sent.ok_or_else(|| StoreError::State("a reply turn ended without a reply".to_owned()))?;
    turn.commit().await?;
    Ok(Handled { outcome, reply })
}

/// Offers a visit that staff cancelled to the clinician's waitlist (replies cancel through
/// [`handle_reply`], which does this itself). Returns how many clients were offered it.
pub async fn offer_cancelled_slot(store: &Store, actor: &Actor, appointment: AppointmentId, now: DateTime<Utc>) -> store::Result<usize> {
    let senders = Senders::of(store, actor).await?;
    let mut turn = store.begin_turn(actor, now).await?;
    let n = offer_to_waitlist(&mut turn, &senders, appointment).await?;
    turn.commit().await?;
    Ok(n)
}

/// The sending identities replies are rate-limited under (as the reminder scheduler's).
struct Senders {
    sms: SenderKey,
    telegram: SenderKey,
}

impl Senders {
    async fn of(store: &Store, actor: &Actor) -> store::Result<Self> {
        let practice = store.get_practice(actor).await?;
        let sms = practice.details.phone.map(|p| format!("sms:{}", p.as_str())).unwrap_or_else(|| "sms:default".to_owned());
        Ok(Self { sms: SenderKey::parse(&sms)?, telegram: SenderKey::parse("telegram:bot")? })
    }

    fn for_recipient(&self, to: &Recipient) -> SenderKey {
        match to {
            Recipient::Telegram(_) => self.telegram.clone(),
            Recipient::Sms(_) | Recipient::Console(_) => self.sms.clone(),
        }
    }
}

fn channel_of(to: &Recipient) -> Channel {
    match to {
        Recipient::Telegram(_) => Channel::Telegram,
        Recipient::Sms(_) | Recipient::Console(_) => Channel::Sms,
    }
}

fn is_open(a: &Appointment, now: DateTime<Utc>) -> bool {
    matches!(a.status, AppointmentStatus::Scheduled | AppointmentStatus::Confirmed) && a.details.starts_at > now
}

async fn offer_to_waitlist(turn: &mut ReplyTurn, senders: &Senders, cancelled: AppointmentId) -> store::Result<usize> {
    let a = turn.appointment(cancelled).await?;
    let expires = (turn.now() + WAITLIST_TTL).min(a.details.starts_at);
    let Some(opening) = turn.open_waitlist_offer(cancelled, WAITLIST_BATCH, expires).await? else { return Ok(0) };
    for w in &opening.recipients {
        let new = NewOutbound {
            client_id: Some(w.client_id),
            recipient: w.recipient.clone(),
            body: texts::waitlist_offer(opening.starts_at, w.time_zone.tz()),
            purpose: Purpose::WaitlistOffer,
            appointment_id: None,
            message_id: None,
            sender_key: senders.for_recipient(&w.recipient),
            idempotency_key: IdempotencyKey::parse(&format!("waitlist:{}:{}:offer", opening.waitlist_offer_id, w.client_id))?,
            not_before: None,
        };
        turn.send(&new).await?;
    }
    Ok(opening.recipients.len())
}

/// One turn of the conversation with a known sender.
struct Conversation<'t, 'a> {
    turn: &'t mut ReplyTurn,
    senders: &'a Senders,
    to: &'a Recipient,
    reply_key: IdempotencyKey,
    provider_id: &'a str,
    sent: Option<OutboxMessageId>,
}

impl Conversation<'_, '_> {
    async fn reply(&mut self, client: Option<ClientId>, appointment: Option<AppointmentId>, body: String, purpose: Purpose) -> store::Result<()> {
        let new = NewOutbound {
            client_id: client,
            recipient: self.to.clone(),
            body,
            purpose,
            appointment_id: appointment,
            message_id: None,
            sender_key: self.senders.for_recipient(self.to),
            idempotency_key: self.reply_key.clone(),
            not_before: None,
        };
        self.sent = Some(self.turn.send(&new).await?.id());
        Ok(())
    }

    async fn file_for_staff(&mut self, clients: &[ReplyClient], text: &str, about: Option<&Appointment>) -> store::Result<ReplyOutcome> {
        let mut ids = Vec::with_capacity(clients.len());
        for c in clients {
            // The visit's clinician, else the client's own.
            let alert = about.map(|a| a.details.clinician_id).or(c.primary_clinician_id);
            ids.push(self.turn.file_in_inbox(c.client_id, channel_of(self.to), text, alert).await?);
        }
        let client = (clients.len() == 1).then(|| clients[0].client_id);
        self.reply(client, None, texts::TO_STAFF.to_owned(), Purpose::Reply).await?;
        Ok(ReplyOutcome::ToInbox(ids))
    }

    async fn handle(&mut self, client: &ReplyClient, text: &str) -> store::Result<ReplyOutcome> {
        let tz = client.time_zone.tz();
        let id = client.client_id;
        let state = self.turn.conversation(id).await?;
        let intent = Intent::parse(text);
        match (state, intent) {
            (Some(ConversationState::WaitlistOffer { waitlist_offer_id }), Intent::Confirm | Intent::Choose(1)) => {
                match self.turn.accept_waitlist_offer(waitlist_offer_id, id).await? {
                    WaitlistAcceptance::Booked { appointment, others } => {
                        for (i, o) in others.iter().enumerate() {
                            let new = NewOutbound {
                                client_id: Some(o.client_id),
                                recipient: o.recipient.clone(),
                                body: texts::waitlist_gone(appointment.details.starts_at, o.time_zone.tz()),
                                purpose: Purpose::WaitlistOffer,
                                appointment_id: None,
                                message_id: None,
                                sender_key: self.senders.for_recipient(&o.recipient),
                                idempotency_key: IdempotencyKey::parse(&format!("reply:{}:gone:{i}", self.provider_id))?,
                                not_before: None,
                            };
                            self.turn.send(&new).await?;
                        }
                        let a = appointment.appointment_id;
                        self.reply(Some(id), Some(a), texts::waitlist_booked(appointment.details.starts_at, tz), Purpose::Reply).await?;
                        Ok(ReplyOutcome::WaitlistBooked { appointment_id: a, told_gone: others.len() })
                    }
                    WaitlistAcceptance::Gone => {
                        self.reply(Some(id), None, texts::WAITLIST_GONE.to_owned(), Purpose::Reply).await?;
                        Ok(ReplyOutcome::WaitlistGone)
                    }
                }
            }
            (Some(ConversationState::WaitlistOffer { .. }), Intent::Decline) => {
                self.turn.end_conversation(id).await?;
                self.reply(Some(id), None, texts::STAY_ON_WAITLIST.to_owned(), Purpose::Reply).await?;
                Ok(ReplyOutcome::WaitlistDeclined)
            }
            (Some(ConversationState::ChoosingSlot { appointment_id, slots }), Intent::Choose(n)) => {
                let a = self.turn.appointment(appointment_id).await?;
                if !is_open(&a, self.turn.now()) {
                    self.turn.end_conversation(id).await?;
                    return self.file_for_staff(std::slice::from_ref(client), text, Some(&a)).await;
                }
                if n == texts::CANCEL_CHOICE {
                    return self.cancel(client, &a).await;
                }
                let Some(slot) = slots.get(usize::from(n) - 1).copied() else {
                    self.reply(Some(id), Some(appointment_id), texts::invalid_choice(slots.len()), Purpose::Reply).await?;
                    return Ok(ReplyOutcome::ChoiceNotOnMenu);
                };
                match self.turn.book(appointment_id, slot).await? {
                    Booking::Booked(moved) => {
                        self.turn.end_conversation(id).await?;
                        self.reply(Some(id), Some(appointment_id), texts::rescheduled(moved.details.starts_at, tz), Purpose::Reply).await?;
                        Ok(ReplyOutcome::Rescheduled(appointment_id))
                    }
                    Booking::Taken => {
                        let fresh = self.offer_slots(client, &a).await?;
                        self.reply(Some(id), Some(appointment_id), texts::taken(&fresh, tz), Purpose::Reply).await?;
                        Ok(ReplyOutcome::SlotTaken { appointment_id, slots: fresh.len() })
                    }
                }
            }
            (Some(ConversationState::ChoosingSlot { appointment_id, .. }), Intent::Reschedule) => {
                let a = self.turn.appointment(appointment_id).await?;
                if !is_open(&a, self.turn.now()) {
                    self.turn.end_conversation(id).await?;
                    return self.file_for_staff(std::slice::from_ref(client), text, Some(&a)).await;
                }
                let slots = self.offer_slots(client, &a).await?;
                self.reply(Some(id), Some(appointment_id), texts::offer(&slots, tz), Purpose::Reply).await?;
                Ok(ReplyOutcome::SlotsOffered { appointment_id, slots: slots.len() })
            }
            (_, Intent::Confirm) => {
                let Some(a) = self.turn.next_appointment(id).await? else { return self.file_for_staff(std::slice::from_ref(client), text, None).await };
                if a.status == AppointmentStatus::Scheduled {
                    self.turn.set_status(a.appointment_id, AppointmentStatus::Confirmed, "client_reply_confirm").await?;
                }
                self.turn.end_conversation(id).await?;
                self.reply(Some(id), Some(a.appointment_id), texts::confirmed(a.details.starts_at, tz), Purpose::Reply).await?;
                Ok(ReplyOutcome::Confirmed(a.appointment_id))
            }
            (_, Intent::Reschedule) => {
                let Some(a) = self.turn.next_appointment(id).await? else { return self.file_for_staff(std::slice::from_ref(client), text, None).await };
                let slots = self.offer_slots(client, &a).await?;
                self.reply(Some(id), Some(a.appointment_id), texts::offer(&slots, tz), Purpose::Reply).await?;
                Ok(ReplyOutcome::SlotsOffered { appointment_id: a.appointment_id, slots: slots.len() })
            }
            // Questions, distress, a number with no menu open, "cancel my appointment": staff read it.
            _ => {
                let next = self.turn.next_appointment(id).await?;
                self.file_for_staff(std::slice::from_ref(client), text, next.as_ref()).await
            }
        }
    }

    /// Finds fresh slots for visit `a` and saves them as the client's open question.
    async fn offer_slots(&mut self, client: &ReplyClient, a: &Appointment) -> store::Result<Vec<store::replies::OfferedSlot>> {
        let duration = a.details.ends_at - a.details.starts_at;
        let slots = self.turn.open_slots(a.details.clinician_id, duration, SLOTS_OFFERED).await?;
        let state = ConversationState::ChoosingSlot { appointment_id: a.appointment_id, slots: slots.clone() };
        let expires = self.turn.now() + CHOICE_TTL;
        self.turn.save_conversation(client.client_id, &state, expires).await?;
        Ok(slots)
    }

    async fn cancel(&mut self, client: &ReplyClient, a: &Appointment) -> store::Result<ReplyOutcome> {
        let id = a.appointment_id;
        self.turn.set_status(id, AppointmentStatus::Cancelled, "client_reply_cancel").await?;
        self.turn.end_conversation(client.client_id).await?;
        self.reply(Some(client.client_id), Some(id), texts::cancelled(a.details.starts_at, client.time_zone.tz()), Purpose::Reply).await?;
        let offered = offer_to_waitlist(self.turn, self.senders, id).await?;
        Ok(ReplyOutcome::Cancelled { appointment_id: id, waitlist_offered: offered })
    }
}
