//! Open slots of a clinician — weekly hours in the clinician's zone and "available" exceptions,
//! minus "unavailable" exceptions and visits still booked — and booking one for a visit being
//! moved. Booking locks the clinician's row first (PostgreSQL `FOR UPDATE`; SQLite's
//! `BEGIN IMMEDIATE` already serialises writers), so two clients cannot both get one slot.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::{Booking, OfferedSlot, ReplyTurn, SLOT_HORIZON, append};

/// Most candidate slots examined when checking that one is still open (4 weeks of 15-minute slots).
const MAX_CANDIDATES: usize = 28 * 96;
use crate::{
    Result, Store, StoreError,
    clients::ClientScope,
    db::Sql,
    ids::{AppointmentId, UserId},
    types::{TimeZoneName, truncate},
};

/// One weekly window: ISO weekday, minutes from local midnight, zone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Weekly {
    pub weekday: Weekday,
    pub start_minute: i64,
    pub end_minute: i64,
    pub tz: Tz,
}

/// Starts of `duration`-long slots after `after` and before `after + horizon`, in order:
/// inside a weekly window or an extra-hours interval, overlapping no blocked interval.
pub(crate) fn open_slots(weekly: &[Weekly], extra: &[(DateTime<Utc>, DateTime<Utc>)], blocked: &[(DateTime<Utc>, DateTime<Utc>)], duration: Duration, after: DateTime<Utc>, horizon: Duration, n: usize) -> Vec<OfferedSlot> {
    if duration <= Duration::zero() || n == 0 {
        return Vec::new();
    }
    let until = after + horizon;
    let mut starts: Vec<DateTime<Utc>> = Vec::new();
    for w in weekly {
        let first = after.with_timezone(&w.tz).date_naive() - Duration::days(1);
        let mut day = first;
        while day.and_hms_opt(0, 0, 0).map(|d| w.tz.from_utc_datetime(&d).with_timezone(&Utc)).is_some_and(|d| d <= until + Duration::days(1)) {
            if day.weekday() == w.weekday {
                let mut m = w.start_minute;
                while m + duration.num_minutes() <= w.end_minute {
                    let local = day.and_time(NaiveTime::MIN) + Duration::minutes(m);
                    // A start inside a DST gap does not exist; an ambiguous one takes the earlier.
                    if let Some(t) = w.tz.from_local_datetime(&local).earliest() {
                        starts.push(t.with_timezone(&Utc));
                    }
                    m += duration.num_minutes();
                }
            }
            day += Duration::days(1);
            if day - first > Duration::days(400) {
                break;
            }
        }
    }
    for (from, to) in extra {
        let mut t = *from;
        while t + duration <= *to {
            starts.push(t);
            t += duration;
        }
    }
    starts.sort();
    starts.dedup();
    starts
        .into_iter()
        .filter(|s| *s > after && *s < until)
        .filter(|s| !blocked.iter().any(|(b0, b1)| *s < *b1 && *s + duration > *b0))
        .take(n)
        .map(|s| OfferedSlot { starts_at: s, ends_at: s + duration })
        .collect()
}

impl ReplyTurn {
    pub(super) async fn lock_clinician(&mut self, clinician: UserId) -> Result<()> {
        if self.tx.is_postgres() {
            self.tx.fetch_one(Sql::new("SELECT staff_user_id FROM staff_user WHERE staff_user_id = $1 AND practice_id = $2 FOR UPDATE").bind(clinician).bind(self.actor.practice_id), "locking the clinician's calendar").await?;
        } else {
            Store::user_in(&mut self.tx, self.actor.practice_id, clinician).await?;
        }
        Ok(())
    }

    /// The clinician's next `n` open slots of `duration` after the turn's `now`. A visit being
    /// moved blocks its own time too: offering a client the time they already have is no offer.
    pub async fn open_slots(&mut self, clinician: UserId, duration: Duration, n: usize) -> Result<Vec<OfferedSlot>> {
        self.lock_clinician(clinician).await?;
        let p = self.actor.practice_id;
        let weekly = self
            .tx
            .fetch_all(Sql::new("SELECT weekday, start_minute, end_minute, time_zone FROM availability_slot WHERE practice_id = $1 AND clinician_id = $2").bind(p).bind(clinician), "reading weekly hours")
            .await?
            .iter()
            .map(|r| {
                let wd: i64 = r.get("weekday")?;
                Ok(Weekly {
                    weekday: Weekday::try_from((wd - 1) as u8).map_err(|_| StoreError::Invalid(format!("stored weekday {wd} is out of range")))?,
                    start_minute: r.get("start_minute")?,
                    end_minute: r.get("end_minute")?,
                    tz: TimeZoneName::parse(&r.get::<String>("time_zone")?)?.tz(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let until = self.now + SLOT_HORIZON;
        let mut extra = Vec::new();
        let mut blocked = Vec::new();
        for r in self
            .tx
            .fetch_all(
                Sql::new("SELECT starts_at, ends_at, kind FROM availability_exception WHERE practice_id = $1 AND clinician_id = $2 AND ends_at > $3 AND starts_at < $4")
                    .bind(p)
                    .bind(clinician)
                    .bind(self.now)
                    .bind(until),
                "reading availability exceptions",
            )
            .await?
        {
            let iv = (r.get("starts_at")?, r.get("ends_at")?);
            if r.get::<String>("kind")? == "available" { extra.push(iv) } else { blocked.push(iv) }
        }
        for r in self
            .tx
            .fetch_all(
                Sql::new(
                    "SELECT starts_at, ends_at FROM appointment WHERE practice_id = $1 AND clinician_id = $2 \
                     AND status IN ('scheduled', 'confirmed') AND ends_at > $3 AND starts_at < $4",
                )
                .bind(p)
                .bind(clinician)
                .bind(self.now)
                .bind(until),
                "reading booked visits",
            )
            .await?
        {
            blocked.push((r.get("starts_at")?, r.get("ends_at")?));
        }
        Ok(open_slots(&weekly, &extra, &blocked, duration, self.now, SLOT_HORIZON, n))
    }

    /// Moves visit `id` to `slot` if the slot is still open, releasing its old time, with the
    /// reminders re-planned — all in this turn's transaction.
    pub async fn book(&mut self, id: AppointmentId, slot: OfferedSlot) -> Result<Booking> {
        let a = Store::appointment_in(&mut self.tx, &self.actor, ClientScope::Practice, id).await?;
        let duration = slot.ends_at - slot.starts_at;
        // Still open: one of the clinician's open slots of this length, now.
        let open = self.open_slots(a.details.clinician_id, duration, MAX_CANDIDATES).await?;
        if !open.contains(&slot) {
            return Ok(Booking::Taken);
        }
        self.tx
            .execute(
                Sql::new("UPDATE appointment SET starts_at = $2, ends_at = $3, updated_at = $4 WHERE appointment_id = $1").bind(id).bind(truncate(slot.starts_at)).bind(truncate(slot.ends_at)).bind(self.now),
                "moving a visit",
            )
            .await?;
        append(&mut self.tx, &self.keys, &self.actor, "appointment.update", "appointment", id.to_string()).await?;
        crate::reminders::replan_tx(&mut self.tx, &self.keys, &self.actor, id, true).await?;
        Ok(Booking::Booked(Box::new(Store::appointment_in(&mut self.tx, &self.actor, ClientScope::Practice, id).await?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn slots_follow_local_hours_and_skip_booked_and_blocked_times() {
        let ny: Tz = "America/New_York".parse().expect("zone");
        let weekly = [Weekly { weekday: Weekday::Mon, start_minute: 9 * 60, end_minute: 12 * 60, tz: ny }];
        // Monday 2027-03-15 09:00 EDT = 13:00Z.
        let booked = [(at("2027-03-15T13:00:00Z"), at("2027-03-15T14:00:00Z"))];
        let s = open_slots(&weekly, &[], &booked, Duration::minutes(60), at("2027-03-14T00:00:00Z"), Duration::days(28), 3);
        let starts: Vec<_> = s.iter().map(|x| x.starts_at).collect();
        assert_eq!(starts, [at("2027-03-15T14:00:00Z"), at("2027-03-15T15:00:00Z"), at("2027-03-22T13:00:00Z")]);
    }

    #[test]
    fn nothing_is_offered_without_hours_or_with_a_zero_duration() {
        assert!(open_slots(&[], &[], &[], Duration::minutes(50), at("2027-03-14T00:00:00Z"), Duration::days(28), 3).is_empty());
        let ny: Tz = "America/New_York".parse().expect("zone");
        let weekly = [Weekly { weekday: Weekday::Mon, start_minute: 0, end_minute: 1440, tz: ny }];
        assert!(open_slots(&weekly, &[], &[], Duration::zero(), at("2027-03-14T00:00:00Z"), Duration::days(28), 3).is_empty());
    }
}
