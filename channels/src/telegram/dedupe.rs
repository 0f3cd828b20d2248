//! Telegram redelivers an update, with the same `update_id`, until our webhook answers 2xx
//! (core.telegram.org/bots/api#setwebhook: "we will repeat the request ... after a reasonable
//! amount of attempts"). A retry can also arrive while the first delivery is still being handled.
//!
//! [`RecentUpdates`] is a fast, in-process first filter for those retries. It is not the
//! deduplication that matters: it forgets on restart and is not shared between `serve`
//! processes. The store is the durable dedupe: the assistant records each `update_id` in the same
//! transaction as the effect of the update and ignores one already recorded.

use std::collections::{HashSet, VecDeque};

use super::ids::UpdateId;

/// Default number of update ids remembered: hours of a practice's traffic, a few KiB.
pub const DEFAULT_RECENT_UPDATES: usize = 4096;

/// Whether an update is new here. Named for what the webhook handler does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Not seen recently: handle it (the store still has the final word).
    First,
    /// Seen recently: answer 200 and do nothing, so Telegram stops redelivering it.
    Repeat,
}

/// The last `capacity` update ids seen, oldest forgotten first. Pure and synchronous; wrap it in
/// a `Mutex` to share it.
#[derive(Debug, Clone)]
pub struct RecentUpdates {
    capacity: usize,
    order: VecDeque<UpdateId>,
    seen: HashSet<UpdateId>,
}

impl Default for RecentUpdates {
    fn default() -> Self {
        Self::new(DEFAULT_RECENT_UPDATES)
    }
}

impl RecentUpdates {
    /// Remembers at most `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            order: VecDeque::with_capacity(capacity),
            seen: HashSet::with_capacity(capacity),
        }
    }

    /// Records `id` and says whether it was already among the recent ones.
    pub fn record(&mut self, id: UpdateId) -> Delivery {
        if self.seen.contains(&id) {
            return Delivery::Repeat;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.order.push_back(id);
        self.seen.insert(id);
        Delivery::First
    }

    /// Forgets `id`, so a redelivery is handled again: call it when handling the update failed
    /// and the webhook answers 5xx to have Telegram retry.
    pub fn forget(&mut self, id: UpdateId) {
        if self.seen.remove(&id) {
            self.order.retain(|x| *x != id);
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_redelivered_update_is_a_repeat() {
        let mut recent = RecentUpdates::new(8);
        assert_eq!(recent.record(UpdateId::new(10)), Delivery::First);
        assert_eq!(recent.record(UpdateId::new(11)), Delivery::First);
        assert_eq!(recent.record(UpdateId::new(10)), Delivery::Repeat);
        assert_eq!(recent.len(), 2);
    }

    #[test]
    fn the_oldest_id_is_forgotten_when_the_window_is_full() {
        let mut recent = RecentUpdates::new(2);
        recent.record(UpdateId::new(1));
        recent.record(UpdateId::new(2));
        recent.record(UpdateId::new(3));
        assert_eq!(recent.len(), 2);
        assert_eq!(recent.record(UpdateId::new(3)), Delivery::Repeat);
        assert_eq!(
            recent.record(UpdateId::new(1)),
            Delivery::First,
            "1 was evicted"
        );
    }

    #[test]
    fn a_forgotten_update_is_handled_again() {
        let mut recent = RecentUpdates::new(4);
        recent.record(UpdateId::new(5));
        recent.forget(UpdateId::new(5));
        assert!(recent.is_empty());
        assert_eq!(recent.record(UpdateId::new(5)), Delivery::First);
    }

    proptest! {
        #[test]
        fn the_window_never_exceeds_its_capacity_and_always_knows_the_latest_ids(
            capacity in 1usize..16,
            ids in proptest::collection::vec(0i64..32, 0..200),
        ) {
            let mut recent = RecentUpdates::new(capacity);
            for id in &ids {
                recent.record(UpdateId::new(*id));
                prop_assert!(recent.len() <= capacity);
                prop_assert_eq!(recent.order.len(), recent.seen.len());
            }
            if let Some(last) = ids.last() {
                prop_assert_eq!(recent.record(UpdateId::new(*last)), Delivery::Repeat);
            }
        }
    }
}
