//! Per-sender pacing: each sender (the practice's number, the bot) sends at most its rate in
//! segments per second, so the carrier does not queue or filter us (Twilio queues what exceeds
//! a sender's throughput and fails it after 4 hours: twilio.com/docs/messaging/guides/scaling-
//! queueing-latency). One slot per send, spaced by `segments / rate`; no bursts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The send schedule of every sender this process has seen.
#[derive(Debug)]
pub struct Pacer {
    default_rate: f64,
    rates: HashMap<String, f64>,
    next_free: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    pub fn new(default_rate: f64, rates: HashMap<String, f64>) -> Self {
        Self {
            default_rate,
            rates,
            next_free: Mutex::new(HashMap::new()),
        }
    }

    /// Segments per second for `sender`.
    pub fn rate(&self, sender: &str) -> f64 {
        self.rates.get(sender).copied().unwrap_or(self.default_rate)
    }

    /// Reserves the next slot for a message of `segments` from `sender`, if it starts within
    /// `horizon` of `now`; otherwise reserves nothing and says when the sender is next free.
    pub fn reserve(
        &self,
        sender: &str,
        segments: u32,
        now: Instant,
        horizon: Duration,
    ) -> Result<Instant, Instant> {
        let spacing = Duration::from_secs_f64(f64::from(segments.max(1)) / self.rate(sender));
        let mut next = self
            .next_free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let free = next.get(sender).copied().unwrap_or(now).max(now);
        if free > now + horizon {
            return Err(free);
        }
        next.insert(sender.to_owned(), free + spacing);
        Ok(free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_code_sends_one_segment_per_second_and_a_long_message_takes_longer() {
        let pacer = Pacer::new(1.0, HashMap::from([("sms:tf".to_owned(), 3.0)]));
        let t0 = Instant::now();
        let h = Duration::from_secs(60);
        assert_eq!(pacer.reserve("sms:lc", 1, t0, h), Ok(t0));
        assert_eq!(pacer.reserve("sms:lc", 2, t0, h), Ok(t0 + Duration::from_secs(1)));
        assert_eq!(pacer.reserve("sms:lc", 1, t0, h), Ok(t0 + Duration::from_secs(3)));
        // Another sender has its own schedule and rate.
        assert_eq!(pacer.reserve("sms:tf", 1, t0, h), Ok(t0));
        let second = pacer.reserve("sms:tf", 1, t0, h).expect("within the horizon");
        assert!((second - t0).as_secs_f64() - 1.0 / 3.0 < 1e-6);
    }

    #[test]
    fn a_slot_beyond_the_horizon_is_not_reserved() {
        let pacer = Pacer::new(1.0, HashMap::new());
        let t0 = Instant::now();
        let h = Duration::from_millis(1500);
        assert!(pacer.reserve("s", 1, t0, h).is_ok());
        assert!(pacer.reserve("s", 1, t0, h).is_ok());
        assert_eq!(pacer.reserve("s", 1, t0, h), Err(t0 + Duration::from_secs(2)));
        assert_eq!(pacer.reserve("s", 1, t0, h), Err(t0 + Duration::from_secs(2)), "nothing was reserved");
    }
}
