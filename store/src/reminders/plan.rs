//! Pure reminder timing: when each reminder of a visit goes out (practice rules, the client's
//! time zone, waking hours) and whether a recipient's automated-text caps allow one more. No I/O,
//! so the property tests below can run it millions of times.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{ReminderChannel, ReminderKind, ReminderRules};

/// Earliest and latest local time an automated message may go out (TCPA-style quiet hours:
/// 47 CFR 64.1200(c)(1) bars calls before 8 a.m. and after 9 p.m. recipient local time).
pub const WAKING_START: NaiveTime = NaiveTime::from_hms_opt(8, 0, 0).expect("08:00 is a time");
pub const WAKING_END: NaiveTime = NaiveTime::from_hms_opt(21, 0, 0).expect("21:00 is a time");

/// At most this many automated reminders per recipient in any 7 days, unless they replied.
pub const WEEKLY_CAP: usize = 3;

/// Whether `t` is within waking hours in `tz` (08:00 to 21:00 inclusive).
pub fn is_waking(t: DateTime<Utc>, tz: Tz) -> bool {
    let local = t.with_timezone(&tz).time();
    local >= WAKING_START && local <= WAKING_END
}

/// The instant `time` on `date` in `tz` that is not after `limit`, or the nearest earlier
/// instant that exists when a DST gap swallows `time` (stepping back a minute at a time).
fn local_instant_not_after(tz: Tz, date: NaiveDate, time: NaiveTime, limit: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut naive = date.and_time(time);
    // A gap is at most a day long (Samoa skipped 30 December 2011): give up past that.
    for _ in 0..(26 * 60) {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => {
                let t = t.with_timezone(&Utc);
                return (t <= limit).then_some(t);
            }
            // A repeated hour: the later reading if it is not after the limit.
            LocalResult::Ambiguous(a, b) => {
                let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
                let (early, late) = if a <= b { (a, b) } else { (b, a) };
                return if late <= limit { Some(late) } else if early <= limit { Some(early) } else { None };
            }
            LocalResult::None => naive -= Duration::minutes(1),
        }
    }
    None
}

/// Moves `t` earlier, never later, to the latest instant within waking hours in `tz`: a
/// reminder due at 06:30 goes out at 21:00 the evening before, one due at 22:15 at 21:00 the
/// same evening. Instants already within waking hours are returned unchanged.
pub fn within_waking_hours(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    if is_waking(t, tz) {
        return t;
    }
    let local = t.with_timezone(&tz);
    let mut date = if local.time() > WAKING_END { local.date_naive() } else { local.date_naive() - Duration::days(1) };
    for _ in 0..3 {
        if let Some(c) = local_instant_not_after(tz, date, WAKING_END, t)
            && is_waking(c, tz)
        {
            return c;
        }
        date -= Duration::days(1);
    }
    // No zone in the tz database lacks an evening for three days running; fall back to a plain
    // 12-hour shift, which is still earlier than `t`.
    t - Duration::hours(12)
}

/// One planned reminder of a visit, before it is assigned to a client and channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTime {
    pub kind: ReminderKind,
    pub minutes_before: i64,
    pub due_at: DateTime<Utc>,
    /// The last reminder before the visit: for a telehealth visit it carries the join link.
    pub is_last: bool,
    /// The rule's channels, in the practice's order.
    pub channels: Vec<ReminderChannel>,
}

/// When each reminder of a visit starting at `starts_at` goes out, for a recipient in `tz`,
/// planned at `now`. Each rule's time is moved earlier out of quiet hours; reminders already
/// past are dropped (a visit booked for tomorrow gets no 48-hour reminder); two reminders landing
/// on the same local day keep only the one nearer the visit (one automated text a day). A
/// telehealth visit also gets a join message `join_message_minutes_before` ahead, unless that
/// moment is in quiet hours (its last reminder already carried the link).
pub fn plan_times(rules: &ReminderRules, starts_at: DateTime<Utc>, tz: Tz, telehealth: bool, now: DateTime<Utc>) -> Vec<PlannedTime> {
    let mut offsets: Vec<_> = rules.reminders.iter().filter(|r| !r.channels.is_empty()).collect();
    // Furthest from the visit first.
    offsets.sort_by_key(|r| std::cmp::Reverse(r.minutes_before));
    offsets.dedup_by_key(|r| r.minutes_before);
    let mut out: Vec<PlannedTime> = Vec::new();
    for r in offsets {
        let due = within_waking_hours(starts_at - Duration::minutes(i64::from(r.minutes_before)), tz);
        if due < now || due >= starts_at {
            continue;
        }
        let day = due.with_timezone(&tz).date_naive();
        // Same local day as an earlier (further) reminder: the nearer one replaces it.
        out.retain(|p| p.due_at.with_timezone(&tz).date_naive() != day);
        out.push(PlannedTime { kind: ReminderKind::Reminder, minutes_before: i64::from(r.minutes_before), due_at: due, is_last: false, channels: r.channels.clone() });
    }
    out.sort_by_key(|p| p.due_at);
    if let Some(last) = out.last_mut() {
        last.is_last = true;
    }
    if telehealth && let Some(m) = rules.join_message_minutes_before {
        let due = starts_at - Duration::minutes(i64::from(m));
        if due >= now && is_waking(due, tz) {
            let channels = out.last().map(|p| p.channels.clone()).or_else(|| rules.reminders.first().map(|r| r.channels.clone())).unwrap_or_default();
            if !channels.is_empty() {
                out.push(PlannedTime { kind: ReminderKind::Join, minutes_before: i64::from(m), due_at: due, is_last: false, channels });
            }
        }
    }
    out
}

/// What the automated-text caps say about one more reminder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapDecision {
    Allowed,
    /// One already went out to this recipient on this local day since they last wrote.
    DailyCapReached,
    /// [`WEEKLY_CAP`] went out in the last 7 days since they last wrote.
    WeeklyCapReached,
}

impl CapDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            CapDecision::Allowed => "allowed",
            CapDecision::DailyCapReached => "daily_cap",
            CapDecision::WeeklyCapReached => "weekly_cap",
        }
    }
}

/// Whether a reminder may go to a recipient at `at`, given when earlier automated reminders
/// went to them (`sent`) and when they last wrote to us. Only texts after their last message
/// count: a client who replies has shown they want the conversation. Days are the recipient's
/// local calendar days; the week is the 7 days up to `at`.
pub fn cap_allows(sent: &[DateTime<Utc>], last_inbound: Option<DateTime<Utc>>, at: DateTime<Utc>, tz: Tz) -> CapDecision {
    let counted = || sent.iter().filter(|s| **s <= at && last_inbound.is_none_or(|i| **s > i));
    let day = at.with_timezone(&tz).date_naive();
    if counted().any(|s| s.with_timezone(&tz).date_naive() == day) {
        return CapDecision::DailyCapReached;
    }
    if counted().filter(|s| **s > at - Duration::days(7)).count() >= WEEKLY_CAP {
        return CapDecision::WeeklyCapReached;
    }
    CapDecision::Allowed
}

/// The next instant at or after `t` within waking hours (the scheduler uses it when it finds a
/// reminder due in quiet hours, e.g. after being down overnight).
pub fn next_waking(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    if is_waking(t, tz) {
        return t;
    }
    let local = t.with_timezone(&tz);
    let mut date = if local.time() < WAKING_START { local.date_naive() } else { local.date_naive() + Duration::days(1) };
    for _ in 0..3 {
        match tz.from_local_datetime(&date.and_time(WAKING_START)) {
            LocalResult::Single(x) => return x.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => date += Duration::days(1),
        }
    }
    t + Duration::hours(12)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reminders::{ReminderOffset, ReminderRules};
    use proptest::prelude::*;

    const ZONES: [Tz; 8] = [
        chrono_tz::America::New_York,
        chrono_tz::America::Los_Angeles,
        chrono_tz::Europe::London,
        chrono_tz::Australia::Sydney,
        chrono_tz::Asia::Kolkata,
        chrono_tz::Pacific::Chatham,
        chrono_tz::America::St_Johns,
        chrono_tz::Pacific::Apia,
    ];

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("RFC 3339 instant")
    }

    fn local(t: DateTime<Utc>, tz: Tz) -> String {
        t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
    }

    #[test]
    fn a_reminder_due_before_eight_moves_to_nine_the_evening_before() {
        let ny = chrono_tz::America::New_York;
        // 06:30 EST on 10 March 2026 is 11:30 UTC.
        let t = within_waking_hours(at("2026-03-10T11:30:00Z"), ny);
        assert_eq!(local(t, ny), "2026-03-09 21:00");
    }

    #[test]
    fn a_reminder_due_late_at_night_moves_to_nine_the_same_evening() {
        let ny = chrono_tz::America::New_York;
        let t = within_waking_hours(at("2026-11-02T03:15:00Z"), ny); // 22:15 EST on 1 November
        assert_eq!(local(t, ny), "2026-11-01 21:00");
    }

    #[test]
    fn across_the_march_dst_change_the_evening_before_is_still_nine_local() {
        let ny = chrono_tz::America::New_York;
        // 07:00 EDT on Sunday 8 March 2026 (clocks went forward at 02:00) = 11:00 UTC.
        let t = within_waking_hours(at("2026-03-08T11:00:00Z"), ny);
        assert_eq!(local(t, ny), "2026-03-07 21:00");
        assert_eq!(t, at("2026-03-08T02:00:00Z"), "21:00 EST is 02:00 UTC");
    }

    #[test]
    fn the_48_hour_reminder_across_the_november_change_is_48_real_hours_so_11_local_the_day_before() {
        let ny = chrono_tz::America::New_York;
        let rules = ReminderRules::default();
        // Visit Monday 2 November 2026 10:00 EST (15:00 UTC); clocks went back 1 November.
        let start = at("2026-11-02T15:00:00Z");
        let plan = plan_times(&rules, start, ny, false, at("2026-10-20T00:00:00Z"));
        let times: Vec<_> = plan.iter().map(|p| local(p.due_at, ny)).collect();
        assert_eq!(times, ["2026-10-31 11:00", "2026-11-02 08:00"], "48 h before 10:00 EST is 11:00 EDT; 2 h before is 08:00");
        assert!(plan[1].is_last && !plan[0].is_last);
    }

    #[test]
    fn a_visit_booked_for_tomorrow_gets_only_the_reminders_still_ahead() {
        let ny = chrono_tz::America::New_York;
        let start = at("2026-06-10T18:00:00Z"); // 14:00 EDT
        let plan = plan_times(&ReminderRules::default(), start, ny, false, at("2026-06-09T13:00:00Z"));
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].minutes_before, 120);
    }

    #[test]
    fn a_telehealth_visit_gets_a_join_message_ten_minutes_before() {
        let ny = chrono_tz::America::New_York;
        let start = at("2026-06-10T18:00:00Z");
        let plan = plan_times(&ReminderRules::default(), start, ny, true, at("2026-06-01T00:00:00Z"));
        let join: Vec<_> = plan.iter().filter(|p| p.kind == ReminderKind::Join).collect();
        assert_eq!(join.len(), 1);
        assert_eq!(join[0].due_at, start - Duration::minutes(10));
        assert!(plan.iter().any(|p| p.is_last && p.kind == ReminderKind::Reminder));
    }

    #[test]
    fn two_reminders_on_the_same_local_day_keep_the_nearer_one() {
        let ny = chrono_tz::America::New_York;
        let rules = ReminderRules { reminders: vec![ReminderOffset::sms(300), ReminderOffset::sms(120)], ..ReminderRules::default() };
        let start = at("2026-06-10T20:00:00Z"); // 16:00 EDT
        let plan = plan_times(&rules, start, ny, false, at("2026-06-01T00:00:00Z"));
        assert_eq!(plan.iter().map(|p| p.minutes_before).collect::<Vec<_>>(), [120]);
    }

    #[test]
    fn the_caps_allow_one_a_day_and_three_a_week_until_the_client_replies() {
        let ny = chrono_tz::America::New_York;
        let mon = at("2026-06-08T14:00:00Z");
        let day = Duration::days(1);
        assert_eq!(cap_allows(&[mon], None, mon + Duration::hours(3), ny), CapDecision::DailyCapReached);
        assert_eq!(cap_allows(&[mon], None, mon + day, ny), CapDecision::Allowed);
        let three = [mon, mon + day, mon + day * 2];
        assert_eq!(cap_allows(&three, None, mon + day * 3, ny), CapDecision::WeeklyCapReached);
        assert_eq!(cap_allows(&three, Some(mon + day * 2 + Duration::hours(1)), mon + day * 2 + Duration::hours(2), ny), CapDecision::Allowed);
        assert_eq!(cap_allows(&three, None, mon + day * 7, ny), CapDecision::Allowed, "the oldest fell out of the week");
    }

    proptest! {
        #[test]
        fn shifting_never_moves_later_and_always_lands_in_waking_hours(secs in 1_600_000_000i64..2_000_000_000, z in 0usize..ZONES.len()) {
            let tz = ZONES[z];
            let t = DateTime::from_timestamp(secs, 0).expect("in range");
            let s = within_waking_hours(t, tz);
            prop_assert!(s <= t);
            prop_assert!(is_waking(s, tz), "{} in {tz}", local(s, tz));
            if is_waking(t, tz) { prop_assert_eq!(s, t); }
            // Not dropped, not moved further than needed: at most one night earlier.
            prop_assert!(t - s <= Duration::hours(12) + Duration::minutes(1), "moved {} back", t - s);
        }

        #[test]
        fn nothing_between_the_shifted_time_and_the_original_is_in_waking_hours(secs in 1_600_000_000i64..2_000_000_000, z in 0usize..4) {
            let tz = ZONES[z];
            let t = DateTime::from_timestamp(secs, 0).expect("in range");
            let s = within_waking_hours(t, tz);
            let mut probe = s + Duration::minutes(1);
            while probe <= t {
                prop_assert!(!is_waking(probe, tz), "{} was available", local(probe, tz));
                probe += Duration::minutes(7);
            }
        }

        #[test]
        fn every_planned_reminder_is_in_waking_hours_before_the_visit_and_one_per_day(
            start_secs in 1_700_000_000i64..1_900_000_000, lead_hours in 0i64..200, z in 0usize..ZONES.len(),
            offsets in proptest::collection::vec(10u32..20_000, 1..5), telehealth in any::<bool>())
        {
            let tz = ZONES[z];
            let start = DateTime::from_timestamp(start_secs, 0).expect("in range");
            let now = start - Duration::hours(lead_hours);
            let rules = ReminderRules { reminders: offsets.into_iter().map(ReminderOffset::sms).collect(), ..ReminderRules::default() };
            let plan = plan_times(&rules, start, tz, telehealth, now);
            let reminders: Vec<_> = plan.iter().filter(|p| p.kind == ReminderKind::Reminder).collect();
            for p in &plan {
                prop_assert!(is_waking(p.due_at, tz));
                prop_assert!(p.due_at >= now && p.due_at < start);
            }
            let mut days: Vec<_> = reminders.iter().map(|p| p.due_at.with_timezone(&tz).date_naive()).collect();
            days.dedup();
            prop_assert_eq!(days.len(), reminders.len(), "one reminder per local day");
            prop_assert!(reminders.iter().filter(|p| p.is_last).count() == usize::from(!reminders.is_empty()));
        }

        #[test]
        fn the_caps_never_allow_two_in_a_local_day_or_four_in_a_week_without_a_reply(
            gaps in proptest::collection::vec(1i64..60 * 60 * 30, 1..40), z in 0usize..ZONES.len())
        {
            let tz = ZONES[z];
            let mut t = at("2026-01-01T00:00:00Z");
            let mut sent: Vec<DateTime<Utc>> = Vec::new();
            for g in gaps {
                t += Duration::seconds(g);
                if cap_allows(&sent, None, t, tz) == CapDecision::Allowed {
                    sent.push(t);
                }
            }
            for (i, a) in sent.iter().enumerate() {
                let day = a.with_timezone(&tz).date_naive();
                prop_assert!(sent[..i].iter().all(|b| b.with_timezone(&tz).date_naive() != day));
                prop_assert!(sent[..i].iter().filter(|b| **b > *a - Duration::days(7)).count() < WEEKLY_CAP);
            }
        }

        #[test]
        fn a_reply_after_the_last_text_always_lifts_the_caps(
            gaps in proptest::collection::vec(1i64..60 * 60 * 12, 1..10), z in 0usize..ZONES.len())
        {
            let tz = ZONES[z];
            let mut t = at("2026-01-01T00:00:00Z");
            let sent: Vec<_> = gaps.iter().map(|g| { t += Duration::seconds(*g); t }).collect();
            let reply = t + Duration::seconds(1);
            prop_assert_eq!(cap_allows(&sent, Some(reply), reply + Duration::seconds(1), tz), CapDecision::Allowed);
        }

        #[test]
        fn next_waking_is_never_earlier_and_lands_in_waking_hours(secs in 1_600_000_000i64..2_000_000_000, z in 0usize..ZONES.len()) {
            let tz = ZONES[z];
            let t = DateTime::from_timestamp(secs, 0).expect("in range");
            let n = next_waking(t, tz);
            prop_assert!(n >= t && is_waking(n, tz));
        }
    }
}
