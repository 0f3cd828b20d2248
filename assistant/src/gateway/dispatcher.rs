//! The outbox dispatcher: claims due outbox rows, paces them per sender, sends them through
//! the channel adapters and records each outcome; and reconciles attempts whose outcome is
//! unknown before anything is sent again (DESIGN invariant: "a message whose send outcome is
//! unknown is reconciled before it is retried").
//!
//! Any number of dispatchers may run (inside `hearth serve` or as `hearth dispatch`
//! processes): the store hands each row to one claimer, and every outcome is fenced by its
//! claim. A dispatcher killed at any moment loses nothing: its rows' leases expire, they become
//! `unknown`, and the reconciler asks the provider what happened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use store::outbox::{
    Claim, ClaimedOutbound, ErrorClass, Reconciliation, Recipient, Unreconciled, WorkerId,
};
use store::{Store, StoreError};
use tokio::sync::{Semaphore, watch};

use super::carriers::Carriers;
use super::settings::DispatchSettings;
use super::pace::Pacer;

/// How far Twilio's clock and ours may disagree when matching a listed message to an attempt.
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(2);
/// Time kept between the end of a send's timeout and its lease's end, for recording the outcome.
const LEASE_MARGIN: Duration = Duration::from_millis(500);

/// What happened to one claimed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The provider accepted it (or the console recorded it).
    Sent,
    /// Not sent; back in the queue for a later attempt.
    RetryScheduled,
    /// Never to be sent, for this reason.
    Failed(ErrorClass),
    /// The request may have reached the provider: to reconcile before any retry.
    Unknown,
    /// The claim was no longer ours (its lease expired and another worker moved the row on).
    Superseded,
}

/// What the reconciler decided about one unknown attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    /// The provider has it: recorded as sent, never sent again.
    FoundAtProvider,
    /// The provider has no such message: back in the queue.
    Requeued,
    /// The provider could not be asked now; try again next round.
    Deferred,
}

/// One dispatcher: the store, the carriers, the pacing, and this worker's id.
pub struct Dispatcher {
    store: Store,
    carriers: Carriers,
    settings: DispatchSettings,
    pacer: Pacer,
    worker: WorkerId,
}

impl Dispatcher {
    pub fn new(store: Store, carriers: Carriers, settings: DispatchSettings) -> anyhow::Result<Self> {
        let worker = WorkerId::parse(&format!(
            "dispatch-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ))
        .context("making a worker id")?;
        let pacer = Pacer::new(settings.default_rate, settings.rates.clone());
        Ok(Self {
            store,
            carriers,
            settings,
            pacer,
            worker,
        })
    }

    pub fn worker(&self) -> &WorkerId {
        &self.worker
    }

    /// Runs until `shutdown` turns true, then waits (at most one lease) for sends in flight.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        tracing::info!(worker = %self.worker.as_str(), "outbox dispatcher started");
        while !*shutdown.borrow() {
            if let Err(e) = self.reconcile_round().await {
                tracing::warn!(error = %e, "reconciling unknown sends failed; will try again");
            }
            let free = permits.available_permits().min(self.settings.batch);
            let mut claimed = 0;
            if free > 0 {
                let lease = chrono::TimeDelta::from_std(self.settings.lease)
                    .expect("the lease is checked at load to be at most an hour");
                match self
                    .store
                    .claim_due(&self.worker, store::types::now(), free, lease)
                    .await
                {
                    Ok(rows) => {
                        claimed = rows.len();
                        for row in rows {
                            let permit = permits
                                .clone()
                                .acquire_owned()
                                .await
                                .expect("the semaphore is never closed");
                            let me = self.clone();
                            tokio::spawn(async move {
                                me.deliver(row).await;
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming due messages failed; will try again"),
                }
            }
            if claimed == 0 {
                tokio::select! {
                    () = tokio::time::sleep(self.settings.poll_interval) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        let all = u32::try_from(self.settings.concurrency).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(self.settings.lease, permits.acquire_many(all)).await;
        tracing::info!(worker = %self.worker.as_str(), "outbox dispatcher stopped");
    }

    /// Paces, sends and records one claimed row.
    pub async fn deliver(&self, row: ClaimedOutbound) -> Delivery {
        let claim = row.claim;
        let segments = match &row.recipient {
            Recipient::Sms(_) => channels::sms::count_segments(&row.body).segments,
            _ => 1,
        };
        let lease_left = (row.lease_expires_at - store::types::now())
            .to_std()
            .unwrap_or_default();
        let horizon = lease_left
            .saturating_sub(self.carriers.request_timeout(&row.recipient))
            .saturating_sub(LEASE_MARGIN);
        let slot = self.pacer.reserve(
            row.sender_key.as_str(),
            u32::try_from(segments).unwrap_or(u32::MAX),
            Instant::now(),
            horizon,
        );
        let start = match slot {
            Ok(start) => start,
            Err(free_at) => {
                // The sender's rate cannot reach this row within its lease: give it back for
                // its slot. Nothing was sent.
                let wait = free_at.saturating_duration_since(Instant::now());
                let at = store::types::now() + chrono::TimeDelta::from_std(wait).unwrap_or_default();
                return self.settle(claim, self.store.mark_retry(claim, ErrorClass::RetryLater, at).await, Delivery::RetryScheduled);
            }
        };
        tokio::time::sleep_until(start.into()).await;
        // A stalled process must not send after its lease ran out: another worker may already
        // be reconciling the row. (Fencing guards what is recorded; this guards what is sent.)
        let deadline = row.lease_expires_at
            - chrono::TimeDelta::from_std(self.carriers.request_timeout(&row.recipient) + LEASE_MARGIN / 2)
                .unwrap_or_default();
        if store::types::now() > deadline {
            let at = store::types::now();
            return self.settle(claim, self.store.mark_retry(claim, ErrorClass::RetryLater, at).await, Delivery::RetryScheduled);
        }
        let result = self.carriers.send(&row).await;
        self.record(claim, result).await
    }

    /// Records a send's result on its row.
    pub async fn record(&self, claim: Claim, result: Result<String, channels::Error>) -> Delivery {
        let id = claim.outbox_message_id();
        match result {
            Ok(provider_id) => {
                tracing::debug!(outbox_message_id = %id, "message sent");
                self.settle(claim, self.store.mark_sent(claim, &provider_id).await, Delivery::Sent)
            }
            Err(channels::Error::OutcomeUnknown(why)) => {
                tracing::info!(outbox_message_id = %id, %why, "send outcome unknown; it will be reconciled before any retry");
                self.settle(claim, self.store.mark_unknown(claim).await, Delivery::Unknown)
            }
            Err(e) => {
                let (class, retry_after) = classify(&e);
                match class {
                    ErrorClass::RetryLater | ErrorClass::Misconfigured
                        if claim.attempt() < self.settings.max_attempts =>
                    {
                        if class == ErrorClass::Misconfigured {
                            tracing::error!(outbox_message_id = %id, error = %e, "the provider rejected our configuration; will retry after backoff");
                        } else {
                            tracing::info!(outbox_message_id = %id, error = %e, "send refused for now; will retry");
                        }
                        let at = self.next_attempt(claim, retry_after);
                        self.settle(claim, self.store.mark_retry(claim, class, at).await, Delivery::RetryScheduled)
                    }
                    _ => {
                        tracing::warn!(outbox_message_id = %id, error = %e, class = class.as_str(), "message failed for good");
                        self.settle(claim, self.store.mark_failed(claim, class).await, Delivery::Failed(class))
                    }
                }
            }
        }
    }

    /// When to try again: exponential backoff with jitter, never before `Retry-After`.
    fn next_attempt(&self, claim: Claim, retry_after: Option<Duration>) -> DateTime<Utc> {
        let failures = u32::try_from(claim.attempt()).unwrap_or(u32::MAX);
        let retry_after = retry_after
            .and_then(|d| chrono::TimeDelta::from_std(d).ok())
            .map(|d| store::types::now() + d);
        self.settings.backoff.next_attempt_from_now(failures, retry_after)
    }

    fn settle(&self, claim: Claim, stored: store::Result<()>, done: Delivery) -> Delivery {
        match stored {
            Ok(()) => done,
            Err(StoreError::State(why)) => {
                tracing::info!(outbox_message_id = %claim.outbox_message_id(), %why, "claim superseded; leaving the row to its new owner");
                Delivery::Superseded
            }
            Err(e) => {
                // The row keeps its lease; when it expires the row is reconciled.
                tracing::error!(outbox_message_id = %claim.outbox_message_id(), error = %e, "recording a send outcome failed");
                Delivery::Superseded
            }
        }
    }

    /// Looks up attempts whose outcome is unknown (started at least `reconcile_after` ago) at
    /// their provider and records what it says.
    pub async fn reconcile_round(&self) -> anyhow::Result<Vec<Reconciled>> {
        let before = store::types::now()
            - chrono::TimeDelta::from_std(self.settings.reconcile_after).unwrap_or_default();
        let rows = self
            .store
            .list_unreconciled(before, self.settings.batch.min(50))
            .await
            .context("listing unknown sends")?;
        let mut done = Vec::with_capacity(rows.len());
        for u in rows {
            done.push(self.reconcile(u).await);
        }
        Ok(done)
    }

    async fn reconcile(&self, u: Unreconciled) -> Reconciled {
        let id = u.claim.outbox_message_id();
        let found = match self.carriers.look_up(&u, CLOCK_SKEW).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(outbox_message_id = %id, error = %e, "could not look the message up at the provider; will try again");
                return Reconciled::Deferred;
            }
        };
        for provider_id in found {
            match self.store.reconciled(u.claim, Reconciliation::Found(provider_id)).await {
                Ok(()) => {
                    tracing::info!(outbox_message_id = %id, "unknown send found at the provider: recorded as sent");
                    return Reconciled::FoundAtProvider;
                }
                // Another row already owns that provider message (the same text to the same
                // recipient): try the next candidate.
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => {
                    tracing::info!(outbox_message_id = %id, error = %e, "reconciliation not recorded");
                    return Reconciled::Deferred;
                }
            }
        }
        // Not at the provider. After a crash (lease expired) the dead worker may have been told
        // to wait (429 Retry-After) without recording it: the lease has already run since the
        // attempt began, and the retry waits a backoff on top. (A Retry-After longer than the
        // lease plus that backoff could still be cut short: the store keeps no column for it.)
        let stored = if u.last_error_class == Some(ErrorClass::LeaseExpired) {
            let at = self.next_attempt(u.claim, None);
            self.store.mark_retry(u.claim, ErrorClass::LeaseExpired, at).await
        } else {
            self.store.reconciled(u.claim, Reconciliation::NotSent).await
        };
        match stored {
            Ok(()) => {
                tracing::info!(outbox_message_id = %id, "unknown send not at the provider: queued again");
                Reconciled::Requeued
            }
            Err(e) => {
                tracing::info!(outbox_message_id = %id, error = %e, "reconciliation not recorded");
                Reconciled::Deferred
            }
        }
    }
}

/// Maps a channel error to the outbox's error class and any `Retry-After`.
pub fn classify(e: &channels::Error) -> (ErrorClass, Option<Duration>) {
    use channels::Error as E;
    match e {
        E::RetryLater { retry_after, .. } => (ErrorClass::RetryLater, *retry_after),
        E::OptedOut | E::TelegramBlocked => (ErrorClass::OptedOut, None),
        E::BadNumber { .. } | E::TelegramChatNotFound => (ErrorClass::BadNumber, None),
        E::Misconfigured { .. } | E::ClientConfig(_) => (ErrorClass::Misconfigured, None),
        E::OutcomeUnknown(_) => (ErrorClass::OutcomeUnknown, None),
        // Body rules (empty, too long) and every other refusal: sending again fails the same way.
        _ => (ErrorClass::NeverRetry, None),
    }
}
