//! When to try again after a failure that is safe to retry: exponential backoff with "equal
//! jitter" (half the exponential delay fixed, half random; AWS Architecture Blog, "Exponential
//! Backoff And Jitter", 2015), capped, and never earlier than a provider's `Retry-After`
//! (RFC 9110 §10.2.3). Pure: the caller passes the clock and the random draw, so the dispatcher
//! and the tests agree on every number.

use chrono::{DateTime, TimeDelta, Utc};

/// Backoff settings for one channel or sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay scale after the first failure (the actual delay is base/2 to base).
    pub base: TimeDelta,
    /// Largest backoff; a later `Retry-After` still wins.
    pub cap: TimeDelta,
}

impl Default for Backoff {
    /// 10 s, doubling, up to 30 minutes: a reminder retried for a few hours still arrives in
    /// time, and a provider outage is not hammered.
    fn default() -> Self {
        Self { base: TimeDelta::seconds(10), cap: TimeDelta::minutes(30) }
    }
}

impl Backoff {
    /// The delay after the `failures`-th failed attempt (1 for the first): `min(cap, base *
    /// 2^(failures-1))`, of which the upper half is scaled by `jitter`, a uniform draw from
    /// `[0, 1]` (clamped; NaN counts as 0).
    pub fn delay(&self, failures: u32, jitter: f64) -> TimeDelta {
        let cap = self.cap.max(TimeDelta::zero());
        let base = self.base.clamp(TimeDelta::zero(), cap);
        // 2^(failures-1) saturates: past 2^62 any positive base exceeds the cap anyway.
        let shift = failures.saturating_sub(1).min(62);
        let exp = base.num_microseconds().map_or(i64::MAX, |b| b.saturating_mul(1i64 << shift));
        let exp = exp.min(cap.num_microseconds().unwrap_or(i64::MAX));
        let jitter = if jitter.is_nan() { 0.0 } else { jitter.clamp(0.0, 1.0) };
        let half = exp / 2;
        let random = ((exp - half) as f64 * jitter) as i64;
        TimeDelta::microseconds(half + random)
    }

    /// When the next attempt may start: `now + delay`, or `retry_after` if that is later.
    pub fn next_attempt_at(&self, now: DateTime<Utc>, failures: u32, retry_after: Option<DateTime<Utc>>, jitter: f64) -> DateTime<Utc> {
        let backoff = now + self.delay(failures, jitter);
        match retry_after {
            Some(at) if at > backoff => at,
            _ => backoff,
        }
    }

    /// [`Self::next_attempt_at`] with the current time and a fresh random draw.
    pub fn next_attempt_from_now(&self, failures: u32, retry_after: Option<DateTime<Utc>>) -> DateTime<Utc> {
        use rand::Rng;
        self.next_attempt_at(crate::types::now(), failures, retry_after, rand::thread_rng().r#gen::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff { base: TimeDelta::seconds(10), cap: TimeDelta::minutes(5) }
    }

    #[test]
    fn the_first_retry_waits_between_half_the_base_and_the_base() {
        let p = policy();
        assert_eq!(p.delay(1, 0.0), TimeDelta::seconds(5));
        assert_eq!(p.delay(1, 1.0), TimeDelta::seconds(10));
        assert_eq!(p.delay(1, 0.5), TimeDelta::milliseconds(7500));
    }

    #[test]
    fn each_failure_doubles_the_delay_until_the_cap() {
        let p = policy();
        let top: Vec<i64> = (1..=7).map(|n| p.delay(n, 1.0).num_seconds()).collect();
        assert_eq!(top, vec![10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(p.delay(6, 0.0), TimeDelta::seconds(150), "the floor is half the capped delay");
    }

    #[test]
    fn the_delay_stays_within_half_cap_and_cap_for_any_failure_count_and_draw() {
        let p = policy();
        for failures in [0, 1, 2, 10, 31, 32, 63, 64, 1000, u32::MAX] {
            for jitter in [0.0, 0.25, 0.999, 1.0, -3.0, 7.0, f64::NAN] {
                let d = p.delay(failures, jitter);
                assert!(d >= TimeDelta::seconds(5) && d <= p.cap, "failures {failures}, jitter {jitter}: {d}");
                if failures >= 6 {
                    assert!(d >= TimeDelta::seconds(150), "capped delays keep their floor: {d}");
                }
            }
        }
    }

    #[test]
    fn a_retry_after_later_than_the_backoff_is_honoured_exactly() {
        let p = policy();
        let now = DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z").expect("valid").with_timezone(&Utc);
        let later = now + TimeDelta::minutes(20);
        assert_eq!(p.next_attempt_at(now, 1, Some(later), 1.0), later, "Retry-After beyond the cap still wins");
    }

    #[test]
    fn a_retry_after_earlier_than_the_backoff_does_not_shorten_it() {
        let p = policy();
        let now = DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z").expect("valid").with_timezone(&Utc);
        assert_eq!(p.next_attempt_at(now, 3, Some(now + TimeDelta::seconds(1)), 0.0), now + TimeDelta::seconds(20));
        assert_eq!(p.next_attempt_at(now, 3, None, 0.0), now + TimeDelta::seconds(20));
    }

    #[test]
    fn draws_spread_the_delays_of_many_senders() {
        let p = policy();
        let delays: std::collections::BTreeSet<i64> = (0..10).map(|i| p.delay(4, i as f64 / 10.0).num_milliseconds()).collect();
        assert_eq!(delays.len(), 10, "different draws give different delays");
    }

    #[test]
    fn next_attempt_from_now_is_in_the_future_within_the_policy() {
        let p = policy();
        let before = crate::types::now();
        let at = p.next_attempt_from_now(2, None);
        assert!(at >= before + TimeDelta::seconds(10) && at <= Utc::now() + TimeDelta::seconds(20), "{at}");
    }
}
