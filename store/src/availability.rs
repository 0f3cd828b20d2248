//! Clinician availability: weekly recurring slots in the clinician's local time (ISO weekday,
//! minutes from midnight, IANA zone — so "Mondays 9-12" stays 9-12 across DST) and exceptions
//! as UTC intervals (time off, or extra hours). No PHI, so not audited; still practice-scoped.

use chrono::{DateTime, NaiveTime, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    appointments::text_enum,
    db::{Row, Sql},
    ids::{ExceptionId, SlotId, UserId},
    types::{TimeZoneName, now, truncate},
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWeeklySlot {
    pub clinician_id: UserId,
    pub weekday: Weekday,
    pub start: NaiveTime,
    /// Exclusive; `23:59` or earlier (a slot ends the same day it starts).
    pub end: NaiveTime,
    pub time_zone: TimeZoneName,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WeeklySlot {
    pub slot_id: SlotId,
    pub clinician_id: UserId,
    pub weekday: Weekday,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub time_zone: TimeZoneName,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    Unavailable,
    Available,
}
text_enum!(ExceptionKind { Unavailable = "unavailable", Available = "available" });

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAvailabilityException {
    pub clinician_id: UserId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub kind: ExceptionKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AvailabilityException {
    pub exception_id: ExceptionId,
    pub clinician_id: UserId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub kind: ExceptionKind,
}

fn minutes(t: NaiveTime) -> i64 {
    i64::from(t.hour() * 60 + t.minute())
}

fn from_minutes(m: i64) -> Result<NaiveTime> {
    NaiveTime::from_hms_opt((m / 60) as u32, (m % 60) as u32, 0).ok_or_else(|| StoreError::Invalid(format!("stored minute {m} is out of range")))
}

fn slot_row(r: &Row) -> Result<WeeklySlot> {
    let wd: i64 = r.get("weekday")?;
    Ok(WeeklySlot {
        slot_id: SlotId::from_uuid(r.get("availability_slot_id")?),
        clinician_id: UserId::from_uuid(r.get("clinician_id")?),
        weekday: Weekday::try_from((wd - 1) as u8).map_err(|_| StoreError::Invalid(format!("stored weekday {wd} is out of range")))?,
        start: from_minutes(r.get("start_minute")?)?,
        end: from_minutes(r.get("end_minute")?)?,
        time_zone: TimeZoneName::parse(&r.get::<String>("time_zone")?)?,
    })
}

impl Store {
    pub async fn add_weekly_slot(&self, actor: &Actor, s: &NewWeeklySlot) -> Result<WeeklySlot> {
        if minutes(s.end) <= minutes(s.start) {
            return Err(StoreError::Invalid("a slot's end must be after its start on the same day (minute precision)".to_owned()));
        }
        let id = SlotId::new();
        let t = now();
        let mut tx = self.begin().await?;
        Self::user_in(&mut tx, actor.practice_id, s.clinician_id).await?;
        tx.execute(
            Sql::new(
                "INSERT INTO availability_slot (availability_slot_id, practice_id, clinician_id, weekday, start_minute, end_minute, time_zone, created_at, updated_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$8)",
            )
            .bind(id)
            .bind(actor.practice_id)
            .bind(s.clinician_id)
            .bind(i64::from(s.weekday.number_from_monday()))
            .bind(minutes(s.start))
            .bind(minutes(s.end))
            .bind(s.time_zone.as_str())
            .bind(t),
            "adding an availability slot",
        )
        .await?;
        tx.commit().await?;
        Ok(WeeklySlot {
            slot_id: id,
            clinician_id: s.clinician_id,
            weekday: s.weekday,
            start: from_minutes(minutes(s.start))?,
            end: from_minutes(minutes(s.end))?,
            time_zone: s.time_zone.clone(),
        })
    }

    /// A clinician's weekly slots, Monday first.
    pub async fn list_weekly_slots(&self, actor: &Actor, clinician: UserId) -> Result<Vec<WeeklySlot>> {
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                Sql::new(
                    "SELECT availability_slot_id, clinician_id, weekday, start_minute, end_minute, time_zone FROM availability_slot \
                     WHERE practice_id = $1 AND clinician_id = $2 ORDER BY weekday, start_minute",
                )
                .bind(actor.practice_id)
                .bind(clinician),
                "listing availability slots",
            )
            .await?;
        rows.iter().map(slot_row).collect()
    }

    pub async fn delete_weekly_slot(&self, actor: &Actor, id: SlotId) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = tx
            .execute(Sql::new("DELETE FROM availability_slot WHERE availability_slot_id = $1 AND practice_id = $2").bind(id).bind(actor.practice_id), "deleting a slot")
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }

    pub async fn add_availability_exception(&self, actor: &Actor, e: &NewAvailabilityException) -> Result<AvailabilityException> {
        if e.ends_at <= e.starts_at {
            return Err(StoreError::Invalid("ends_at must be after starts_at".to_owned()));
        }
        let x = AvailabilityException { exception_id: ExceptionId::new(), clinician_id: e.clinician_id, starts_at: truncate(e.starts_at), ends_at: truncate(e.ends_at), kind: e.kind };
        let mut tx = self.begin().await?;
        Self::user_in(&mut tx, actor.practice_id, e.clinician_id).await?;
        tx.execute(
            Sql::new(
                "INSERT INTO availability_exception (availability_exception_id, practice_id, clinician_id, starts_at, ends_at, kind, created_at, updated_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$7)",
            )
            .bind(x.exception_id)
            .bind(actor.practice_id)
            .bind(x.clinician_id)
            .bind(x.starts_at)
            .bind(x.ends_at)
            .bind(x.kind.as_str())
            .bind(now()),
            "adding an availability exception",
        )
        .await?;
        tx.commit().await?;
        Ok(x)
    }

    /// Exceptions overlapping `[from, to)`.
    pub async fn list_availability_exceptions(&self, actor: &Actor, clinician: UserId, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<AvailabilityException>> {
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                Sql::new(
                    "SELECT availability_exception_id, clinician_id, starts_at, ends_at, kind FROM availability_exception \
                     WHERE practice_id = $1 AND clinician_id = $2 AND ends_at > $3 AND starts_at < $4 ORDER BY starts_at",
                )
                .bind(actor.practice_id)
                .bind(clinician)
                .bind(truncate(from))
                .bind(truncate(to)),
                "listing availability exceptions",
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AvailabilityException {
                    exception_id: ExceptionId::from_uuid(r.get::<Uuid>("availability_exception_id")?),
                    clinician_id: UserId::from_uuid(r.get("clinician_id")?),
                    starts_at: r.get("starts_at")?,
                    ends_at: r.get("ends_at")?,
                    kind: ExceptionKind::parse(&r.get::<String>("kind")?)?,
                })
            })
            .collect()
    }

    pub async fn delete_availability_exception(&self, actor: &Actor, id: ExceptionId) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                Sql::new("DELETE FROM availability_exception WHERE availability_exception_id = $1 AND practice_id = $2").bind(id).bind(actor.practice_id),
                "deleting an availability exception",
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }
}
