//! The reminder scheduler's tick: claim due reminder rows, resolve their recipients, have the
//! assistant render the text, and write the outbox rows in the same transaction that marks the
//! reminder handled — so a crash either did all of it or none, and a reminder is never queued
//! twice. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent ticks take disjoint rows; SQLite:
//! `BEGIN IMMEDIATE` makes each tick the only writer. Scale-out runs one leader, elected with a
//! session advisory lock ([`Store::try_lead_reminders`]).

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use sqlx::Connection as _;
use uuid::Uuid;

use super::{ReminderChannel, ReminderKind, TemplateKind, is_active, plan};
use crate::{
    Actor, Result, Store, StoreError,
    appointments::{AppointmentStatus, Modality},
    audit::{AuditAction, Outcome},
    clients::ClientScope,
    db::{Pool, Sql, Tx},
    error::db,
    ids::{AppointmentId, ClientId, PracticeId},
    outbox::{Enqueued, IdempotencyKey, NewOutbound, Purpose, Recipient, SenderKey, enqueue_tx},
    types::{E164, TimeZoneName, truncate},
};

/// Everything a template may draw on for one due reminder. `Debug` hides the name.
#[derive(Clone)]
pub struct DueReminder {
    pub reminder_id: Uuid,
    pub practice_id: PracticeId,
    pub appointment_id: AppointmentId,
    pub client_id: ClientId,
    pub kind: ReminderKind,
    pub channel: ReminderChannel,
    /// Which template renders it.
    pub template_kind: TemplateKind,
    /// The practice's saved template of that kind and channel, if any.
    pub template: Option<String>,
    /// Preferred name if the client gave one, else first name.
    pub first_name: String,
    pub time_zone: TimeZoneName,
    pub starts_at: DateTime<Utc>,
    pub practice_name: String,
    pub practice_phone: Option<E164>,
    /// Telehealth visits only: the visit's link, else the clinician's.
    pub join_link: Option<String>,
}

impl fmt::Debug for DueReminder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DueReminder").field("reminder_id", &self.reminder_id).field("kind", &self.kind).field("channel", &self.channel).finish_non_exhaustive()
    }
}

/// The assistant's answer for one due reminder.
#[derive(Clone, Debug)]
pub enum ReminderRender {
    /// Queue this text, from this sender.
    Send { body: String, sender_key: SenderKey },
    /// Queue nothing; the short reason code is kept on the reminder (no PHI).
    Skip(&'static str),
}

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Due rows taken.
    pub claimed: usize,
    /// Outbox rows written.
    pub queued: usize,
    /// Reminders that sent nothing (opted out, caps, no recipient, render refused).
    pub skipped: usize,
    /// Reminders of visits that were cancelled or already started.
    pub withdrawn: usize,
    /// Reminders found due in the recipient's quiet hours (the scheduler was down): moved to
    /// the next morning.
    pub deferred: usize,
}

/// Most reminders one tick handles.
pub const MAX_TICK_BATCH: usize = 500;

pub(crate) async fn last_inbound_in(tx: &mut Tx, actor: &Actor, channel: &str, index: &[u8]) -> Result<Option<DateTime<Utc>>> {
    let row = tx
        .fetch_optional(
            Sql::new("SELECT last_inbound_at FROM recipient_inbound WHERE practice_id = $1 AND channel = $2 AND address_index = $3").bind(actor.practice_id).bind(channel).bind(index.to_vec()),
            "reading the last inbound time",
        )
        .await?;
    row.map(|r| r.get("last_inbound_at")).transpose()
}

async fn opted_out(tx: &mut Tx, actor: &Actor, channel: &str, index: &[u8]) -> Result<bool> {
    let row = tx
        .fetch_optional(
            Sql::new("SELECT 1 AS one FROM channel_opt_out WHERE practice_id = $1 AND channel = $2 AND address_index = $3").bind(actor.practice_id).bind(channel).bind(index.to_vec()),
            "checking opt-out",
        )
        .await?;
    Ok(row.is_some())
}

/// Times of this recipient's automated reminders in the last 8 days that were not withdrawn.
async fn recent_reminders(tx: &mut Tx, actor: &Actor, index: &[u8], now: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>> {
    tx.fetch_all(
        Sql::new(
            "SELECT created_at FROM outbox_message WHERE practice_id = $1 AND recipient_index = $2 AND purpose = 'reminder' \
             AND status NOT IN ('cancelled', 'failed') AND created_at > $3",
        )
        .bind(actor.practice_id)
        .bind(index.to_vec())
        .bind(now - Duration::days(8)),
        "reading recent reminders",
    )
    .await?
    .iter()
    .map(|r| r.get("created_at"))
    .collect()
}

async fn finish(tx: &mut Tx, id: Uuid, status: &str, outcome: &str, queued: i64, now: DateTime<Utc>) -> Result<()> {
    tx.execute(
        Sql::new("UPDATE reminder SET status = $2, outcome = $3, queued = $4, updated_at = $5 WHERE reminder_id = $1").bind(id).bind(status).bind(outcome).bind(queued).bind(now),
        "recording a reminder outcome",
    )
    .await
    .map(|_| ())
}

/// A leadership lock held for as long as this value lives (PostgreSQL: a session advisory lock
/// on a connection of its own; SQLite, the one-process embedded setup: always granted).
pub struct SchedulerLeadership {
    conn: Option<sqlx::PgConnection>,
}

impl fmt::Debug for SchedulerLeadership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerLeadership").field("postgres", &self.conn.is_some()).finish()
    }
}

/// The advisory lock key: per schema, so two installations sharing a database (or the tests'
/// schemas) each elect their own leader.
const LOCK_KEY: &str = "('x' || substr(md5(current_schema() || ':hearth-reminder-scheduler'), 1, 16))::bit(64)::bigint";

impl SchedulerLeadership {
    /// Whether the lock is still held (its connection is alive). A leader that lost it must
    /// stop ticking and try to lead again.
    pub async fn still_leading(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(c) => c.ping().await.is_ok(),
        }
    }

    /// Gives the lock up now (dropping it closes the connection, which releases it too).
    pub async fn release(self) {
        if let Some(mut c) = self.conn {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT pg_advisory_unlock({LOCK_KEY})"))).execute(&mut c).await;
            let _ = c.close().await;
        }
    }
}

impl Store {
    /// Tries to become the one reminder scheduler: `None` while another process leads.
    pub async fn try_lead_reminders(&self) -> Result<Option<SchedulerLeadership>> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(Some(SchedulerLeadership { conn: None })),
            Pool::Pg(p) => {
                // Detached: the lock belongs to this session, which must not return to the pool.
                let mut conn = p.acquire().await.map_err(db("connecting for the scheduler lock"))?.detach();
                let got: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT pg_try_advisory_lock({LOCK_KEY})")))
                    .fetch_one(&mut conn)
                    .await
                    .map_err(db("taking the scheduler lock"))?;
                if got {
                    Ok(Some(SchedulerLeadership { conn: Some(conn) }))
                } else {
                    let _ = conn.close().await;
                    Ok(None)
                }
            }
        }
    }

    /// Handles up to `limit` reminders due at `now`, in one transaction: each is withdrawn (visit
    /// cancelled or started), deferred (quiet hours), skipped, or rendered by `render` and
    /// queued to every recipient — the client and contacts who asked for reminders — who has
    /// not opted out and whose caps allow it. Audited as the system of each reminder's practice.
    pub async fn run_due_reminders(&self, now: DateTime<Utc>, limit: usize, render: &(dyn Fn(&DueReminder) -> ReminderRender + Sync)) -> Result<TickReport> {
        if limit == 0 || limit > MAX_TICK_BATCH {
            return Err(StoreError::Invalid(format!("tick limit must be 1-{MAX_TICK_BATCH}")));
        }
        let now = truncate(now);
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let lock = if tx.is_postgres() { " FOR UPDATE OF r SKIP LOCKED" } else { "" };
        let rows = tx
            .fetch_all(
                Sql::dynamic(format!(
                    "SELECT r.reminder_id, r.practice_id, r.appointment_id, r.client_id, r.kind, r.channel, r.is_last, \
                     a.starts_at, a.status AS appointment_status, a.modality, a.join_link, a.clinician_id \
                     FROM reminder r JOIN appointment a ON a.appointment_id = r.appointment_id \
                     WHERE r.status = 'planned' AND r.due_at <= $1 ORDER BY r.due_at LIMIT $2{lock}"
                ))
                .bind(now)
                .bind(limit as i64),
                "claiming due reminders",
            )
            .await?;
        let mut report = TickReport { claimed: rows.len(), ..TickReport::default() };
        for r in &rows {
            let id: Uuid = r.get("reminder_id")?;
            let actor = Actor::system(PracticeId::from_uuid(r.get("practice_id")?)).with_request_id("reminder-scheduler");
            let starts_at: DateTime<Utc> = r.get("starts_at")?;
            if !is_active(AppointmentStatus::parse(&r.get::<String>("appointment_status")?)?) {
                finish(&mut tx, id, "withdrawn", "appointment_cancelled", 0, now).await?;
                report.withdrawn += 1;
                continue;
            }
            if starts_at <= now {
                finish(&mut tx, id, "skipped", "too_late", 0, now).await?;
                report.skipped += 1;
                continue;
            }
            let client_id = ClientId::from_uuid(r.get("client_id")?);
            let client = self.read_client(&mut tx, &keys, &actor, ClientScope::Practice, client_id).await?;
            let tz = client.time_zone.tz();
            if !plan::is_waking(now, tz) {
                let next = plan::next_waking(now, tz);
                if next < starts_at {
                    tx.execute(Sql::new("UPDATE reminder SET due_at = $2, updated_at = $3 WHERE reminder_id = $1").bind(id).bind(truncate(next)).bind(now), "deferring a reminder").await?;
                    report.deferred += 1;
                } else {
                    finish(&mut tx, id, "skipped", "quiet_hours", 0, now).await?;
                    report.skipped += 1;
                }
                continue;
            }
            let kind = ReminderKind::parse(&r.get::<String>("kind")?)?;
            // Found late (the scheduler was down) with a nearer reminder of the visit also due:
            // only the nearer one goes, so a stale one does not use up the day's text.
            if kind == ReminderKind::Reminder {
                let nearer = tx
                    .fetch_optional(
                        Sql::new(
                            "SELECT 1 AS one FROM reminder WHERE appointment_id = $1 AND client_id = $2 AND kind = 'reminder' AND status = 'planned' \
                             AND reminder_id <> $3 AND due_at > (SELECT due_at FROM reminder WHERE reminder_id = $3) AND due_at <= $4",
                        )
                        .bind(r.get::<Uuid>("appointment_id")?)
                        .bind(client_id)
                        .bind(id)
                        .bind(now),
                        "looking for a nearer due reminder",
                    )
                    .await?;
                if nearer.is_some() {
                    finish(&mut tx, id, "skipped", "superseded", 0, now).await?;
                    report.skipped += 1;
                    continue;
                }
            }
            let channel = ReminderChannel::parse(&r.get::<String>("channel")?)?;
            let telehealth = Modality::parse(&r.get::<String>("modality")?)? == Modality::Telehealth;
            let mut recipients: Vec<Recipient> = Vec::new();
            match channel {
                ReminderChannel::Sms if client.texting_consent => {
                    let contacts = client.contacts.iter().filter(|c| c.details.receives_reminders).filter_map(|c| c.details.phone.clone());
                    for p in client.phone.clone().into_iter().chain(contacts) {
                        let to = Recipient::Sms(p);
                        if !recipients.contains(&to) {
                            recipients.push(to);
                        }
                    }
                }
                ReminderChannel::Sms => {}
                ReminderChannel::Telegram => recipients.extend(client.telegram_chat_id.map(Recipient::Telegram)),
            }
            if recipients.is_empty() {
                finish(&mut tx, id, "skipped", "no_recipient", 0, now).await?;
                report.skipped += 1;
                continue;
            }
            let practice = tx.fetch_one(Sql::new("SELECT name, phone FROM practice WHERE practice_id = $1").bind(actor.practice_id), "reading the practice").await?;
            let join_link = if telehealth {
                match r.get::<Option<String>>("join_link")? {
                    Some(l) => Some(l),
                    None => tx
                        .fetch_optional(Sql::new("SELECT join_link FROM clinician_join_link WHERE staff_user_id = $1").bind(r.get::<Uuid>("clinician_id")?), "reading the clinician's link")
                        .await?
                        .map(|row| row.get("join_link"))
                        .transpose()?,
                }
            } else {
                None
            };
            let template_kind = match kind {
                ReminderKind::Join => TemplateKind::Join,
                ReminderKind::Reminder if telehealth && r.get::<bool>("is_last")? => TemplateKind::ReminderVirtual,
                ReminderKind::Reminder => TemplateKind::Reminder,
            };
            let template = tx
                .fetch_optional(
                    Sql::new("SELECT body FROM message_template WHERE practice_id = $1 AND channel = $2 AND kind = $3").bind(actor.practice_id).bind(channel.as_str()).bind(template_kind.as_str()),
                    "reading a template",
                )
                .await?
                .map(|row| row.get("body"))
                .transpose()?;
            let due = DueReminder {
                reminder_id: id,
                practice_id: actor.practice_id,
                appointment_id: AppointmentId::from_uuid(r.get("appointment_id")?),
                client_id,
                kind,
                channel,
                template_kind,
                template,
                first_name: client.preferred_name.clone().unwrap_or_else(|| client.first_name.clone()),
                time_zone: client.time_zone.clone(),
                starts_at,
                practice_name: practice.get("name")?,
                practice_phone: practice.get::<Option<String>>("phone")?.map(|p| E164::parse(&p)).transpose()?,
                join_link,
            };
            crate::audit::append(&mut tx, &keys, &actor, &AuditAction { action: "reminder.render".into(), object_type: "reminder".into(), object_id: Some(id.to_string()), outcome: Outcome::Ok }).await?;
            let (body, sender_key) = match render(&due) {
                ReminderRender::Send { body, sender_key } => (body, sender_key),
                ReminderRender::Skip(why) => {
                    finish(&mut tx, id, "skipped", why, 0, now).await?;
                    report.skipped += 1;
                    continue;
                }
            };
            let (mut queued, mut reasons): (i64, Vec<&'static str>) = (0, Vec::new());
            for (i, to) in recipients.iter().enumerate() {
                let index = to.index(&keys.index_key);
                let ch = to.channel().as_str();
                if opted_out(&mut tx, &actor, ch, &index).await? {
                    reasons.push("opted_out");
                    continue;
                }
                if kind == ReminderKind::Reminder {
                    let sent = recent_reminders(&mut tx, &actor, &index, now).await?;
                    let replied = last_inbound_in(&mut tx, &actor, ch, &index).await?;
                    let decision = plan::cap_allows(&sent, replied, now, tz);
                    if decision != plan::CapDecision::Allowed {
                        reasons.push(decision.as_str());
                        continue;
                    }
                }
                let new = NewOutbound {
                    client_id: Some(client_id),
                    recipient: to.clone(),
                    body: body.clone(),
                    purpose: if kind == ReminderKind::Join { Purpose::JoinLink } else { Purpose::Reminder },
                    appointment_id: Some(due.appointment_id),
                    message_id: None,
                    sender_key: sender_key.clone(),
                    idempotency_key: IdempotencyKey::parse(&format!("reminder:{id}:{i}"))?,
                    not_before: None,
                };
                if let Enqueued::Created(_) = enqueue_tx(&mut tx, &keys, &actor, &new, now).await? {
                    queued += 1;
                }
            }
            if queued > 0 {
                finish(&mut tx, id, "done", "queued", queued, now).await?;
                report.queued += queued as usize;
            } else {
                reasons.dedup();
                finish(&mut tx, id, "skipped", reasons.first().copied().unwrap_or("nothing_queued"), 0, now).await?;
                report.skipped += 1;
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}
