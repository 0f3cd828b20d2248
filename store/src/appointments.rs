//! Appointments: a clinician with one client or a group, start and end as UTC instants plus the
//! IANA zone they were booked in (so reminders render local time correctly across DST), in
//! person or telehealth, and a status whose every change is kept in `appointment_status_history`.
//! An appointment is visible when any of its clients is visible in the scope, or when the scope's
//! user is its clinician.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    clients::{ClientScope, SCOPE, require_visible, scoped},
    db::{Row, Sql, Tx},
    ids::{AppointmentId, ClientId, PracticeId, UserId},
    types::{TimeZoneName, now, truncate},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    InPerson,
    Telehealth,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Scheduled,
    Confirmed,
    Cancelled,
    NoShow,
    Completed,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident = $s:literal),* }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            pub fn parse(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok(Self::$v),)*
                    _ => Err(StoreError::Invalid(format!("unknown {} '{s}'", stringify!($t)))),
                }
            }
        }
    };
}
#[allow(unused_imports)] // used by sibling modules through `crate::appointments::text_enum`
pub(crate) use text_enum;

text_enum!(Modality { InPerson = "in_person", Telehealth = "telehealth" });
text_enum!(AppointmentStatus { Scheduled = "scheduled", Confirmed = "confirmed", Cancelled = "cancelled", NoShow = "no_show", Completed = "completed" });

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentDetails {
    pub clinician_id: UserId,
    /// One client, or several for a group session.
    pub client_ids: Vec<ClientId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: TimeZoneName,
    pub modality: Modality,
    pub location: Option<String>,
    pub join_link: Option<String>,
    /// CPT or practice service code, e.g. 90837.
    pub service_code: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Appointment {
    pub appointment_id: AppointmentId,
    pub practice_id: PracticeId,
    #[serde(flatten)]
    pub details: AppointmentDetails,
    pub status: AppointmentStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub status: AppointmentStatus,
    pub reason: Option<String>,
    pub changed_by: Option<UserId>,
    pub changed_at: DateTime<Utc>,
}

pub const MAX_GROUP_SIZE: usize = 30;
pub const MAX_TEXT: usize = 500;
pub const MAX_LISTED: i64 = 5000;

fn check(d: &AppointmentDetails) -> Result<()> {
    if d.client_ids.is_empty() || d.client_ids.len() > MAX_GROUP_SIZE {
        return Err(StoreError::Invalid(format!("an appointment needs 1-{MAX_GROUP_SIZE} clients")));
    }
    if d.ends_at <= d.starts_at {
        return Err(StoreError::Invalid("ends_at must be after starts_at".to_owned()));
    }
    for s in [&d.location, &d.join_link, &d.service_code].into_iter().flatten() {
        if s.len() > MAX_TEXT {
            return Err(StoreError::Invalid(format!("location, join_link and service_code are at most {MAX_TEXT} bytes")));
        }
    }
    Ok(())
}

/// Visibility of `appointment a`; binds `$1` practice and `$2` scope user like [`SCOPE`].
const VISIBLE: &str = "a.practice_id = $1 AND ($2 IS NULL OR a.clinician_id = $2 OR EXISTS (SELECT 1 FROM appointment_client ac \
    JOIN client c ON c.client_id = ac.client_id WHERE ac.appointment_id = a.appointment_id AND SCOPE_HERE))";
const COLUMNS: &str = "a.appointment_id, a.practice_id, a.clinician_id, a.starts_at, a.ends_at, a.time_zone, a.modality, a.location, \
    a.join_link, a.service_code, a.status, a.created_at, a.updated_at";

fn visible() -> String {
    VISIBLE.replace("SCOPE_HERE", SCOPE)
}

async fn from_row(tx: &mut Tx, r: &Row) -> Result<Appointment> {
    let id: Uuid = r.get("appointment_id")?;
    let clients = tx
        .fetch_all(Sql::new("SELECT client_id FROM appointment_client WHERE appointment_id = $1 ORDER BY client_id").bind(id), "reading appointment clients")
        .await?
        .iter()
        .map(|c| Ok(ClientId::from_uuid(c.get("client_id")?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Appointment {
        appointment_id: AppointmentId::from_uuid(id),
        practice_id: PracticeId::from_uuid(r.get("practice_id")?),
        details: AppointmentDetails {
            clinician_id: UserId::from_uuid(r.get("clinician_id")?),
            client_ids: clients,
            starts_at: r.get("starts_at")?,
            ends_at: r.get("ends_at")?,
            time_zone: TimeZoneName::parse(&r.get::<String>("time_zone")?)?,
            modality: Modality::parse(&r.get::<String>("modality")?)?,
            location: r.get("location")?,
            join_link: r.get("join_link")?,
            service_code: r.get("service_code")?,
        },
        status: AppointmentStatus::parse(&r.get::<String>("status")?)?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

impl Store {
    pub(crate) async fn appointment_in(tx: &mut Tx, actor: &Actor, scope: ClientScope, id: AppointmentId) -> Result<Appointment> {
        let row = tx.fetch_one(scoped(format!("SELECT {COLUMNS} FROM appointment a WHERE {} AND a.appointment_id = $3", visible()), actor, scope).bind(id), "reading an appointment").await?;
        from_row(tx, &row).await
    }

    /// Checks the clinician and every client, then writes the client links.
    pub(crate) async fn write_appointment_clients(&self, tx: &mut Tx, actor: &Actor, scope: ClientScope, id: AppointmentId, d: &AppointmentDetails) -> Result<()> {
        Self::user_in(tx, actor.practice_id, d.clinician_id).await?;
        tx.execute(Sql::new("DELETE FROM appointment_client WHERE appointment_id = $1").bind(id), "replacing appointment clients").await?;
        let mut ids = d.client_ids.clone();
        ids.sort();
        ids.dedup();
        for c in ids {
            require_visible(tx, actor, scope, c).await?;
            tx.execute(Sql::new("INSERT INTO appointment_client (appointment_id, client_id) VALUES ($1,$2)").bind(id).bind(c), "linking an appointment client").await?;
        }
        Ok(())
    }

    pub(crate) async fn record_status(tx: &mut Tx, actor: &Actor, id: AppointmentId, status: AppointmentStatus, reason: Option<&str>, t: DateTime<Utc>) -> Result<()> {
        tx.execute(
            Sql::new("INSERT INTO appointment_status_history (appointment_status_history_id, appointment_id, status, reason, changed_by, changed_at) VALUES ($1,$2,$3,$4,$5,$6)")
                .bind(Uuid::now_v7())
                .bind(id)
                .bind(status.as_str())
                .bind(reason)
                .bind(actor.user_id)
                .bind(t),
            "recording an appointment status",
        )
        .await
        .map(|_| ())
    }

    pub async fn create_appointment(&self, actor: &Actor, scope: ClientScope, d: &AppointmentDetails) -> Result<Appointment> {
        check(d)?;
        let keys = self.keys();
        let id = AppointmentId::new();
        let t = now();
        let mut tx = self.begin().await?;
        tx.execute(
            Sql::new(
                "INSERT INTO appointment (appointment_id, practice_id, clinician_id, starts_at, ends_at, time_zone, modality, location, join_link, \
                 service_code, status, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'scheduled',$11,$11)",
            )
            .bind(id)
            .bind(actor.practice_id)
            .bind(d.clinician_id)
            .bind(truncate(d.starts_at))
            .bind(truncate(d.ends_at))
            .bind(d.time_zone.as_str())
            .bind(d.modality.as_str())
            .bind(d.location.clone())
            .bind(d.join_link.clone())
            .bind(d.service_code.clone())
            .bind(t),
            "creating an appointment",
        )
        .await?;
        self.write_appointment_clients(&mut tx, actor, scope, id, d).await?;
        Self::record_status(&mut tx, actor, id, AppointmentStatus::Scheduled, None, t).await?;
        self.audit(&mut tx, &keys, actor, "appointment.create", "appointment", Some(id.to_string())).await?;
        crate::reminders::replan_tx(&mut tx, &keys, actor, id, false).await?;
        let a = Self::appointment_in(&mut tx, actor, ClientScope::Practice, id).await?;
        tx.commit().await?;
        Ok(a)
    }

    pub async fn get_appointment(&self, actor: &Actor, scope: ClientScope, id: AppointmentId) -> Result<Appointment> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let a = Self::appointment_in(&mut tx, actor, scope, id).await?;
        self.audit(&mut tx, &keys, actor, "appointment.read", "appointment", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Runs a listing; with `client`, that client must be visible (else `NotFound`, so a list
    /// for an id outside the scope answers like a get would).
    async fn read_appointments(&self, actor: &Actor, client: Option<(ClientScope, ClientId)>, q: Sql) -> Result<Vec<Appointment>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        if let Some((scope, id)) = client {
            require_visible(&mut tx, actor, scope, id).await?;
        }
        let rows = tx.fetch_all(q, "listing appointments").await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(from_row(&mut tx, r).await?);
        }
        self.audit_each(&mut tx, &keys, actor, "appointment.list", "appointment", out.iter().map(|a| a.appointment_id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Appointments starting in `[from, to)`, by start time.
    pub async fn list_appointments(&self, actor: &Actor, scope: ClientScope, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Appointment>> {
        let q = scoped(format!("SELECT {COLUMNS} FROM appointment a WHERE {} AND a.starts_at >= $3 AND a.starts_at < $4 ORDER BY a.starts_at, a.appointment_id LIMIT $5", visible()), actor, scope)
            .bind(truncate(from))
            .bind(truncate(to))
            .bind(MAX_LISTED);
        self.read_appointments(actor, None, q).await
    }

    /// A client's appointments, by start time; `NotFound` if the client is not visible.
    pub async fn list_client_appointments(&self, actor: &Actor, scope: ClientScope, client: ClientId) -> Result<Vec<Appointment>> {
        let q = scoped(
            format!("SELECT {COLUMNS} FROM appointment a WHERE {} AND EXISTS (SELECT 1 FROM appointment_client x WHERE x.appointment_id = a.appointment_id AND x.client_id = $3) ORDER BY a.starts_at LIMIT $4", visible()),
            actor,
            scope,
        )
        .bind(client)
        .bind(MAX_LISTED);
        self.read_appointments(actor, Some((scope, client)), q).await
    }

    /// Reschedules or edits an appointment (status unchanged).
    pub async fn update_appointment(&self, actor: &Actor, scope: ClientScope, id: AppointmentId, d: &AppointmentDetails) -> Result<Appointment> {
        check(d)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let before = Self::appointment_in(&mut tx, actor, scope, id).await?;
        tx.execute(
            Sql::new(
                "UPDATE appointment SET clinician_id = $2, starts_at = $3, ends_at = $4, time_zone = $5, modality = $6, location = $7, join_link = $8, \
                 service_code = $9, updated_at = $10 WHERE appointment_id = $1",
            )
            .bind(id)
            .bind(d.clinician_id)
            .bind(truncate(d.starts_at))
            .bind(truncate(d.ends_at))
            .bind(d.time_zone.as_str())
            .bind(d.modality.as_str())
            .bind(d.location.clone())
            .bind(d.join_link.clone())
            .bind(d.service_code.clone())
            .bind(now()),
            "updating an appointment",
        )
        .await?;
        self.write_appointment_clients(&mut tx, actor, scope, id, d).await?;
        self.audit(&mut tx, &keys, actor, "appointment.update", "appointment", Some(id.to_string())).await?;
        // Moved, or attendees changed: reminders already queued for the old plan are withdrawn.
        let mut clients = d.client_ids.clone();
        clients.sort();
        clients.dedup();
        let moved = before.details.starts_at != truncate(d.starts_at) || before.details.client_ids != clients;
        crate::reminders::replan_tx(&mut tx, &keys, actor, id, moved).await?;
        let a = Self::appointment_in(&mut tx, actor, ClientScope::Practice, id).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Changes the status and records the change in the history. `reason` is a short code or
    /// staff note without PHI (e.g. "client_sms_cancel").
    pub async fn set_appointment_status(&self, actor: &Actor, scope: ClientScope, id: AppointmentId, status: AppointmentStatus, reason: Option<&str>) -> Result<Appointment> {
        if reason.is_some_and(|r| r.len() > MAX_TEXT) {
            return Err(StoreError::Invalid(format!("reason is at most {MAX_TEXT} bytes")));
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let before = Self::appointment_in(&mut tx, actor, scope, id).await?;
        let t = now();
        tx.execute(Sql::new("UPDATE appointment SET status = $2, updated_at = $3 WHERE appointment_id = $1").bind(id).bind(status.as_str()).bind(t), "changing an appointment status")
            .await?;
        Self::record_status(&mut tx, actor, id, status, reason, t).await?;
        self.audit(&mut tx, &keys, actor, "appointment.status", "appointment", Some(id.to_string())).await?;
        crate::reminders::on_status_change(&mut tx, &keys, actor, id, before.status, status).await?;
        let a = Self::appointment_in(&mut tx, actor, ClientScope::Practice, id).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Every status the appointment has had, oldest first.
    pub async fn appointment_status_history(&self, actor: &Actor, scope: ClientScope, id: AppointmentId) -> Result<Vec<StatusChange>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        Self::appointment_in(&mut tx, actor, scope, id).await?;
        let rows = tx
            .fetch_all(
                Sql::new("SELECT status, reason, changed_by, changed_at FROM appointment_status_history WHERE appointment_id = $1 ORDER BY appointment_status_history_id").bind(id),
                "reading appointment history",
            )
            .await?;
        self.audit(&mut tx, &keys, actor, "appointment.history", "appointment", Some(id.to_string())).await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(StatusChange {
                    status: AppointmentStatus::parse(&r.get::<String>("status")?)?,
                    reason: r.get("reason")?,
                    changed_by: r.get::<Option<Uuid>>("changed_by")?.map(UserId::from_uuid),
                    changed_at: r.get("changed_at")?,
                })
            })
            .collect()
    }
}
