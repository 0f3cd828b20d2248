//! Appointment reminders: each practice's rules (several reminders per visit, chosen channels,
//! a join message for telehealth), the reminder rows planned for every visit in the same
//! transaction that creates, moves or cancels it, message templates, per-clinician telehealth
//! links, and when each recipient last wrote to us (a reply lifts the automated-text caps).
//!
//! Reminder rows hold no PHI: who receives a reminder (the client, and guardians or extra
//! contacts who asked for reminders) is resolved from the client record when it is sent, so a
//! changed phone number is honoured. The scheduler's tick lives in `tick`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    appointments::{AppointmentStatus, Modality, text_enum},
    audit::{self, AuditAction, Outcome},
    clients::{Channel, ClientScope, require_visible},
    db::{Row, Sql, Tx},
    ids::{AppointmentId, ClientId, OutboxMessageId, UserId},
    keyfile::Keyring,
    outbox::Recipient,
    types::{TimeZoneName, now, truncate},
};

/// Pure timing: waking hours, the plan for one visit, the caps.
pub mod plan;
/// The scheduler's tick and its leadership lock.
mod tick;

pub use tick::{DueReminder, ReminderRender, SchedulerLeadership, TickReport};

/// Channels reminders go out on (those the outbox can send to a client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderChannel {
    Sms,
    Telegram,
}

/// A reminder before the visit, or the join message of a telehealth visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    Reminder,
    Join,
}

/// Which template renders a message: an ordinary reminder, the last reminder of a telehealth
/// visit (it carries the join link), or the join message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    Reminder,
    ReminderVirtual,
    Join,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderStatus {
    /// Waiting for its due time.
    Planned,
    /// Handled by the scheduler: `queued` outbox rows were written.
    Done,
    /// Due, but nothing was sent (`outcome` says why: opted out, caps, no recipient…).
    Skipped,
    /// The visit was moved or cancelled before it was due.
    Withdrawn,
}

text_enum!(ReminderChannel { Sms = "sms", Telegram = "telegram" });
text_enum!(ReminderKind { Reminder = "reminder", Join = "join" });
text_enum!(TemplateKind { Reminder = "reminder", ReminderVirtual = "reminder_virtual", Join = "join" });
text_enum!(ReminderStatus { Planned = "planned", Done = "done", Skipped = "skipped", Withdrawn = "withdrawn" });

impl ReminderChannel {
    fn of(c: Channel) -> Option<Self> {
        match c {
            Channel::Sms => Some(Self::Sms),
            Channel::Telegram => Some(Self::Telegram),
            Channel::Email | Channel::Portal => None,
        }
    }
}

/// One reminder of every visit: this long before it, on the first of these channels the client
/// prefers and can be reached on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderOffset {
    pub minutes_before: u32,
    pub channels: Vec<ReminderChannel>,
}

impl ReminderOffset {
    pub fn sms(minutes_before: u32) -> Self {
        Self { minutes_before, channels: vec![ReminderChannel::Sms] }
    }
}

/// A practice's reminder rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderRules {
    pub reminders: Vec<ReminderOffset>,
    /// A telehealth visit's join message goes out this long before it; `None`: no join message.
    pub join_message_minutes_before: Option<u32>,
    /// When set, a telehealth visit with no per-visit or per-clinician link gets a generated
    /// Jitsi room under this base (e.g. `https://meet.jit.si`), with an unguessable name.
    pub jitsi_base_url: Option<String>,
}

/// Most reminders per visit a practice may configure.
pub const MAX_REMINDERS_PER_VISIT: usize = 5;
/// Furthest ahead a reminder may be: 14 days.
pub const MAX_MINUTES_BEFORE: u32 = 14 * 24 * 60;
/// Longest template body and join link, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 2000;
pub const MAX_JOIN_LINK: usize = 500;

impl Default for ReminderRules {
    /// 48 hours and 2 hours before, by SMS; the join message 10 minutes before.
    fn default() -> Self {
        Self { reminders: vec![ReminderOffset::sms(48 * 60), ReminderOffset::sms(120)], join_message_minutes_before: Some(10), jitsi_base_url: None }
    }
}

impl ReminderRules {
    /// Checks limits; the assistant validates the Jitsi base URL's form before saving.
    pub fn check(&self) -> Result<()> {
        if self.reminders.len() > MAX_REMINDERS_PER_VISIT {
            return Err(StoreError::Invalid(format!("at most {MAX_REMINDERS_PER_VISIT} reminders per visit")));
        }
        for r in &self.reminders {
            if r.minutes_before == 0 || r.minutes_before > MAX_MINUTES_BEFORE {
                return Err(StoreError::Invalid(format!("minutes_before must be 1-{MAX_MINUTES_BEFORE}")));
            }
            if r.channels.is_empty() {
                return Err(StoreError::Invalid("each reminder needs at least one channel".to_owned()));
            }
        }
        if self.join_message_minutes_before.is_some_and(|m| m == 0 || m > 24 * 60) {
            return Err(StoreError::Invalid("join_message_minutes_before must be 1-1440".to_owned()));
        }
        if self.jitsi_base_url.as_ref().is_some_and(|u| !u.starts_with("https://") || u.len() > 200) {
            return Err(StoreError::Invalid("jitsi_base_url must be an https:// URL of at most 200 bytes".to_owned()));
        }
        Ok(())
    }
}

/// A planned or handled reminder (no PHI: recipients are resolved when it is sent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reminder {
    pub reminder_id: Uuid,
    pub appointment_id: AppointmentId,
    pub client_id: ClientId,
    pub kind: ReminderKind,
    pub minutes_before: i64,
    pub channel: ReminderChannel,
    pub due_at: DateTime<Utc>,
    pub is_last: bool,
    pub status: ReminderStatus,
    /// Why it was skipped or withdrawn, or `queued`.
    pub outcome: Option<String>,
    /// Outbox rows written (client and contacts).
    pub queued: i64,
}

/// A practice's saved template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredTemplate {
    pub channel: ReminderChannel,
    pub kind: TemplateKind,
    pub body: String,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

const REMINDER_COLUMNS: &str = "reminder_id, appointment_id, client_id, kind, minutes_before, channel, due_at, is_last, status, outcome, queued";

fn reminder_from_row(r: &Row) -> Result<Reminder> {
    Ok(Reminder {
        reminder_id: r.get("reminder_id")?,
        appointment_id: AppointmentId::from_uuid(r.get("appointment_id")?),
        client_id: ClientId::from_uuid(r.get("client_id")?),
        kind: ReminderKind::parse(&r.get::<String>("kind")?)?,
        minutes_before: r.get("minutes_before")?,
        channel: ReminderChannel::parse(&r.get::<String>("channel")?)?,
        due_at: r.get("due_at")?,
        is_last: r.get("is_last")?,
        status: ReminderStatus::parse(&r.get::<String>("status")?)?,
        outcome: r.get("outcome")?,
        queued: r.get("queued")?,
    })
}

fn is_active(s: AppointmentStatus) -> bool {
    matches!(s, AppointmentStatus::Scheduled | AppointmentStatus::Confirmed)
}

async fn rules_in(tx: &mut Tx, actor: &Actor) -> Result<ReminderRules> {
    let row = tx.fetch_optional(Sql::new("SELECT rules FROM reminder_rule WHERE practice_id = $1").bind(actor.practice_id), "reading reminder rules").await?;
    match row {
        None => Ok(ReminderRules::default()),
        Some(r) => serde_json::from_str(&r.get::<String>("rules")?).map_err(|e| StoreError::Invalid(format!("stored reminder rules: {e}"))),
    }
}

async fn append(tx: &mut Tx, keys: &Keyring, actor: &Actor, action: &str, object_type: &str, id: String) -> Result<()> {
    audit::append(tx, keys, actor, &AuditAction { action: action.to_owned(), object_type: object_type.to_owned(), object_id: Some(id), outcome: Outcome::Ok }).await.map(|_| ())
}

/// Marks the visit's planned reminders withdrawn and, with `outbox`, cancels its reminder and
/// join-link messages still waiting in the outbox (claimed ones are on their way), with the
/// outbox's own reasons: `withdrawn` for a moved visit, `appointment_cancelled` as its claim
/// would record for a cancelled one.
async fn withdraw_tx(tx: &mut Tx, keys: &Keyring, actor: &Actor, id: AppointmentId, why: &'static str, outbox: bool) -> Result<()> {
    let cancel_reason = if why == "appointment_cancelled" { why } else { "withdrawn" };
    let t = now();
    tx.execute(
        Sql::new("UPDATE reminder SET status = 'withdrawn', outcome = $2, updated_at = $3 WHERE appointment_id = $1 AND status = 'planned'").bind(id).bind(why).bind(t),
        "withdrawing planned reminders",
    )
    .await?;
    if outbox {
        let rows = tx
            .fetch_all(
                Sql::new(
                    "UPDATE outbox_message SET status = 'cancelled', cancel_reason = $4, updated_at = $3 \
                     WHERE practice_id = $1 AND appointment_id = $2 AND status = 'pending' AND purpose IN ('reminder', 'join_link') RETURNING outbox_message_id",
                )
                .bind(actor.practice_id)
                .bind(id)
                .bind(t)
                .bind(cancel_reason),
                "withdrawing queued reminders",
            )
            .await?;
        let actions = rows
            .iter()
            .map(|r| {
                Ok(AuditAction { action: "outbox.cancel".into(), object_type: "outbox_message".into(), object_id: Some(OutboxMessageId::from_uuid(r.get("outbox_message_id")?).to_string()), outcome: Outcome::Ok })
            })
            .collect::<Result<Vec<_>>>()?;
        if !actions.is_empty() {
            audit::append_many(tx, keys, actor, &actions).await?;
        }
    }
    Ok(())
}

/// A fresh Jitsi room: 128 random bits from the OS generator, hex-encoded, so the room name
/// cannot be guessed (Jitsi rooms are open to whoever knows the name).
pub fn jitsi_room(base: &str) -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{}/hearth-{}", base.trim_end_matches('/'), hex::encode(b))
}

/// Re-plans a visit's reminders inside the transaction that created or changed it: withdraws
/// the planned ones (and, with `withdraw_queued`, its reminders still waiting in the outbox),
/// then plans anew from the practice's rules for each client of an active visit.
pub(crate) async fn replan_tx(tx: &mut Tx, keys: &Keyring, actor: &Actor, id: AppointmentId, withdraw_queued: bool) -> Result<()> {
    let a = tx
        .fetch_one(
            Sql::new("SELECT starts_at, status, modality, join_link, clinician_id FROM appointment WHERE appointment_id = $1 AND practice_id = $2").bind(id).bind(actor.practice_id),
            "reading the appointment to plan",
        )
        .await?;
    let status = AppointmentStatus::parse(&a.get::<String>("status")?)?;
    withdraw_tx(tx, keys, actor, id, if is_active(status) { "replanned" } else { "appointment_cancelled" }, withdraw_queued).await?;
    if !is_active(status) {
        return Ok(());
    }
    let starts_at: DateTime<Utc> = a.get("starts_at")?;
    let telehealth = Modality::parse(&a.get::<String>("modality")?)? == Modality::Telehealth;
    let rules = rules_in(tx, actor).await?;
    if telehealth && a.get::<Option<String>>("join_link")?.is_none() && let Some(base) = &rules.jitsi_base_url {
        let clinician: Uuid = a.get("clinician_id")?;
        let own = tx.fetch_optional(Sql::new("SELECT join_link FROM clinician_join_link WHERE staff_user_id = $1").bind(clinician), "reading the clinician's link").await?;
        if own.is_none() {
            tx.execute(Sql::new("UPDATE appointment SET join_link = $2 WHERE appointment_id = $1").bind(id).bind(jitsi_room(base)), "saving a generated room").await?;
        }
    }
    let clients = tx
        .fetch_all(
            Sql::new(
                "SELECT c.client_id, c.time_zone, c.channel_preferences, c.texting_consent, c.phone_index, c.telegram_chat_id, \
                 (SELECT COUNT(*) FROM client_contact cc WHERE cc.client_id = c.client_id AND cc.receives_reminders AND cc.phone IS NOT NULL) AS contact_phones \
                 FROM appointment_client ac JOIN client c ON c.client_id = ac.client_id WHERE ac.appointment_id = $1 ORDER BY c.client_id",
            )
            .bind(id),
            "reading the visit's clients",
        )
        .await?;
    let t = now();
    for c in &clients {
        let tz = TimeZoneName::parse(&c.get::<String>("time_zone")?)?.tz();
        let prefs: Vec<Channel> = serde_json::from_str(&c.get::<String>("channel_preferences")?).map_err(|e| StoreError::Invalid(format!("stored channel_preferences: {e}")))?;
        let consent: bool = c.get("texting_consent")?;
        let sms_ok = consent && (c.get::<Option<Vec<u8>>>("phone_index")?.is_some() || c.get::<i64>("contact_phones")? > 0);
        let telegram_ok = c.get::<Option<Vec<u8>>>("telegram_chat_id")?.is_some();
        let reachable = |ch: ReminderChannel| match ch {
            ReminderChannel::Sms => sms_ok,
            ReminderChannel::Telegram => telegram_ok,
        };
        for p in plan::plan_times(&rules, starts_at, tz, telehealth, t) {
            // The client's preferred order first, then the practice's.
            let preferred = prefs.iter().filter_map(|c| ReminderChannel::of(*c)).filter(|c| p.channels.contains(c));
            let Some(channel) = preferred.chain(p.channels.iter().copied()).find(|c| reachable(*c)) else { continue };
            tx.execute(
                Sql::new(
                    "INSERT INTO reminder (reminder_id, practice_id, appointment_id, client_id, kind, minutes_before, channel, due_at, is_last, status, queued, created_at, updated_at) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'planned',0,$10,$10)",
                )
                .bind(Uuid::now_v7())
                .bind(actor.practice_id)
                .bind(id)
                .bind(c.get::<Uuid>("client_id")?)
                .bind(p.kind.as_str())
                .bind(p.minutes_before)
                .bind(channel.as_str())
                .bind(truncate(p.due_at))
                .bind(p.is_last)
                .bind(t),
                "planning a reminder",
            )
            .await?;
        }
    }
    append(tx, keys, actor, "reminder.plan", "appointment", id.to_string()).await
}

/// After a status change: an inactive visit (cancelled, no-show, completed) loses its unsent
/// reminders; one made active again is planned afresh.
pub(crate) async fn on_status_change(tx: &mut Tx, keys: &Keyring, actor: &Actor, id: AppointmentId, before: AppointmentStatus, after: AppointmentStatus) -> Result<()> {
    match (is_active(before), is_active(after)) {
        (true, false) => {
            withdraw_tx(tx, keys, actor, id, "appointment_cancelled", true).await?;
            append(tx, keys, actor, "reminder.withdraw", "appointment", id.to_string()).await
        }
        (false, true) => replan_tx(tx, keys, actor, id, false).await,
        _ => Ok(()),
    }
}

impl Store {
    /// The practice's reminder rules, or the defaults when none were saved.
    pub async fn reminder_rules(&self, actor: &Actor) -> Result<ReminderRules> {
        let mut tx = self.begin().await?;
        let r = rules_in(&mut tx, actor).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Saves the practice's reminder rules and re-plans the unsent reminders of every upcoming
    /// active visit by them, in the same transaction (reminders already queued are kept).
    pub async fn set_reminder_rules(&self, actor: &Actor, rules: &ReminderRules) -> Result<ReminderRules> {
        rules.check()?;
        let keys = self.keys();
        let json = serde_json::to_string(rules).map_err(|e| StoreError::Invalid(format!("reminder rules: {e}")))?;
        let t = now();
        let mut tx = self.begin().await?;
        tx.execute(
            Sql::new(
                "INSERT INTO reminder_rule (practice_id, rules, updated_by, created_at, updated_at) VALUES ($1,$2,$3,$4,$4) \
                 ON CONFLICT (practice_id) DO UPDATE SET rules = excluded.rules, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .bind(actor.practice_id)
            .bind(json)
            .bind(actor.user_id)
            .bind(t),
            "saving reminder rules",
        )
        .await?;
        append(&mut tx, &keys, actor, "reminder_rule.update", "practice", actor.practice_id.to_string()).await?;
        let upcoming = tx
            .fetch_all(
                Sql::new("SELECT appointment_id FROM appointment WHERE practice_id = $1 AND status IN ('scheduled', 'confirmed') AND starts_at > $2").bind(actor.practice_id).bind(t),
                "listing upcoming visits",
            )
            .await?;
        for a in &upcoming {
            replan_tx(&mut tx, &keys, actor, AppointmentId::from_uuid(a.get("appointment_id")?), false).await?;
        }
        tx.commit().await?;
        Ok(rules.clone())
    }

    /// A visit's reminders, planned and handled, by due time; `NotFound` outside the scope.
    pub async fn list_appointment_reminders(&self, actor: &Actor, scope: ClientScope, id: AppointmentId) -> Result<Vec<Reminder>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        Self::appointment_in(&mut tx, actor, scope, id).await?;
        let rows = tx
            .fetch_all(
                Sql::dynamic(format!("SELECT {REMINDER_COLUMNS} FROM reminder WHERE appointment_id = $1 AND practice_id = $2 ORDER BY due_at, reminder_id")).bind(id).bind(actor.practice_id),
                "listing reminders",
            )
            .await?;
        let out = rows.iter().map(reminder_from_row).collect::<Result<Vec<_>>>()?;
        append(&mut tx, &keys, actor, "reminder.list", "appointment", id.to_string()).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// A client's reminders across visits, by due time; `NotFound` if the client is not visible.
    pub async fn list_client_reminders(&self, actor: &Actor, scope: ClientScope, client: ClientId) -> Result<Vec<Reminder>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, client).await?;
        let rows = tx
            .fetch_all(
                Sql::dynamic(format!("SELECT {REMINDER_COLUMNS} FROM reminder WHERE client_id = $1 AND practice_id = $2 ORDER BY due_at, reminder_id LIMIT 5000")).bind(client).bind(actor.practice_id),
                "listing a client's reminders",
            )
            .await?;
        let out = rows.iter().map(reminder_from_row).collect::<Result<Vec<_>>>()?;
        append(&mut tx, &keys, actor, "reminder.list", "client", client.to_string()).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The practice's saved templates (kinds without one use the assistant's defaults).
    pub async fn list_message_templates(&self, actor: &Actor) -> Result<Vec<StoredTemplate>> {
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                Sql::new("SELECT channel, kind, body, updated_by, updated_at FROM message_template WHERE practice_id = $1 ORDER BY channel, kind").bind(actor.practice_id),
                "listing templates",
            )
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(StoredTemplate {
                    channel: ReminderChannel::parse(&r.get::<String>("channel")?)?,
                    kind: TemplateKind::parse(&r.get::<String>("kind")?)?,
                    body: r.get("body")?,
                    updated_by: r.get::<Option<Uuid>>("updated_by")?.map(UserId::from_uuid),
                    updated_at: r.get("updated_at")?,
                })
            })
            .collect()
    }

    /// Saves a template. The store only bounds its size: which fields and words a template may
    /// contain is the assistant's check (it must run before this).
    pub async fn save_message_template(&self, actor: &Actor, channel: ReminderChannel, kind: TemplateKind, body: &str) -> Result<()> {
        if body.trim().is_empty() || body.len() > MAX_TEMPLATE_BYTES {
            return Err(StoreError::Invalid(format!("a template must be 1-{MAX_TEMPLATE_BYTES} bytes")));
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        tx.execute(
            Sql::new(
                "INSERT INTO message_template (practice_id, channel, kind, body, updated_by, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$6) \
                 ON CONFLICT (practice_id, channel, kind) DO UPDATE SET body = excluded.body, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .bind(actor.practice_id)
            .bind(channel.as_str())
            .bind(kind.as_str())
            .bind(body)
            .bind(actor.user_id)
            .bind(now()),
            "saving a template",
        )
        .await?;
        append(&mut tx, &keys, actor, "template.update", "message_template", format!("{}:{}", channel.as_str(), kind.as_str())).await?;
        tx.commit().await
    }

    /// Sets (or with `None` clears) a clinician's standing telehealth link; the assistant
    /// validates its host first.
    pub async fn set_clinician_join_link(&self, actor: &Actor, clinician: UserId, link: Option<&str>) -> Result<()> {
        if link.is_some_and(|l| !l.starts_with("https://") || l.len() > MAX_JOIN_LINK) {
            return Err(StoreError::Invalid(format!("a join link must be an https:// URL of at most {MAX_JOIN_LINK} bytes")));
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        Self::user_in(&mut tx, actor.practice_id, clinician).await?;
        match link {
            Some(l) => {
                tx.execute(
                    Sql::new(
                        "INSERT INTO clinician_join_link (staff_user_id, practice_id, join_link, updated_at) VALUES ($1,$2,$3,$4) \
                         ON CONFLICT (staff_user_id) DO UPDATE SET join_link = excluded.join_link, updated_at = excluded.updated_at",
                    )
                    .bind(clinician)
                    .bind(actor.practice_id)
                    .bind(l)
                    .bind(now()),
                    "saving a join link",
                )
                .await?
            }
            None => tx.execute(Sql::new("DELETE FROM clinician_join_link WHERE staff_user_id = $1").bind(clinician), "clearing a join link").await?,
        };
        append(&mut tx, &keys, actor, "join_link.update", "staff_user", clinician.to_string()).await?;
        tx.commit().await
    }

    /// A clinician's standing telehealth link, if any.
    pub async fn clinician_join_link(&self, actor: &Actor, clinician: UserId) -> Result<Option<String>> {
        let mut tx = self.begin().await?;
        Self::user_in(&mut tx, actor.practice_id, clinician).await?;
        let row = tx.fetch_optional(Sql::new("SELECT join_link FROM clinician_join_link WHERE staff_user_id = $1").bind(clinician), "reading a join link").await?;
        tx.commit().await?;
        row.map(|r| r.get("join_link")).transpose()
    }

    /// Records that a message arrived from `from` at `at` (the inbound webhook calls this after
    /// verifying and deduplicating it). Only the keyed blind index of the address is stored. It
    /// lifts the automated-text caps for that recipient: texts sent before `at` no longer count.
    pub async fn record_reply_time(&self, actor: &Actor, from: &Recipient, at: DateTime<Utc>) -> Result<()> {
        from.check()?;
        let keys = self.keys();
        let index = from.index(&keys.index_key);
        let mut tx = self.begin().await?;
        tx.execute(
            Sql::new(
                "INSERT INTO recipient_inbound (practice_id, channel, address_index, last_inbound_at) VALUES ($1,$2,$3,$4) \
                 ON CONFLICT (practice_id, channel, address_index) DO UPDATE SET last_inbound_at = \
                 CASE WHEN excluded.last_inbound_at > recipient_inbound.last_inbound_at THEN excluded.last_inbound_at ELSE recipient_inbound.last_inbound_at END",
            )
            .bind(actor.practice_id)
            .bind(from.channel().as_str())
            .bind(index.clone())
            .bind(truncate(at)),
            "recording an inbound message",
        )
        .await?;
        append(&mut tx, &keys, actor, "inbound.record", "recipient_inbound", hex::encode(&index)).await?;
        tx.commit().await
    }

    /// When `from` last wrote to the practice, if ever.
    pub async fn last_inbound(&self, actor: &Actor, from: &Recipient) -> Result<Option<DateTime<Utc>>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let t = tick::last_inbound_in(&mut tx, actor, from.channel().as_str(), &from.index(&keys.index_key)).await?;
        tx.commit().await?;
        Ok(t)
    }
}
