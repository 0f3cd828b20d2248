//! The outbox dispatcher against the fake Twilio (a real HTTP server speaking Twilio's wire
//! format) and a real database: each provider answer lands in the right outbox state.

mod gateway_support;

use std::time::Duration;

use assistant::gateway::dispatcher::{Delivery, Reconciled};
use channels::testing::{FakeTwilio, Scripted};
use gateway_support::{Backend, Place, twilio_toml};
use store::outbox::{ErrorClass, OutboundStatus, Recipient, WorkerId};

const SENDER: &str = "sms:+15550100000";

fn dispatch_toml(extra: &str) -> String {
    format!("[dispatch]\nlease_seconds = 5\nreconcile_after_ms = 0\nbackoff_base_ms = 200\nbackoff_cap_seconds = 5\n{extra}\n[[dispatch.senders]]\nkey = \"{SENDER}\"\nkind = \"short_code\"\n")
}

async fn claim_one(place: &Place) -> store::outbox::ClaimedOutbound {
    let worker = WorkerId::parse("test-worker").expect("valid");
    let mut rows = place
        .store
        .claim_due(&worker, store::types::now(), 10, chrono::TimeDelta::seconds(5))
        .await
        .expect("claims");
    assert_eq!(rows.len(), 1, "exactly the one queued row is due");
    rows.pop().expect("one row")
}

async fn a_rate_limited_send_waits_out_retry_after_then_goes_once(backend: Backend) {
    // Arrange
    let fake = FakeTwilio::start().await.expect("fake twilio");
    let place = Place::new(backend).await;
    let s = place.settings(&format!("{}{}", twilio_toml(&fake, 2000), dispatch_toml("")));
    let d = assistant::gateway::dispatcher(place.store.clone(), &s).expect("dispatcher");
    let id = place.enqueue_sms(1, SENDER).await;
    fake.script(Scripted::RateLimited { retry_after_secs: Some(3) });

    // Act
    let before = store::types::now();
    let first = d.deliver(claim_one(&place).await).await;

    // Assert: back in the queue, not before Retry-After
    assert_eq!(first, Delivery::RetryScheduled);
    let row = place.store.get_outbound(&place.actor(), id).await.expect("row");
    assert_eq!(row.status, OutboundStatus::Pending);
    assert_eq!(row.last_error_class, Some(ErrorClass::RetryLater));
    assert!(row.next_attempt_at >= before + chrono::TimeDelta::seconds(3), "Retry-After of 3 s honoured");
    let early = place
        .store
        .claim_due(&WorkerId::parse("w2").expect("valid"), store::types::now(), 10, chrono::TimeDelta::seconds(5))
        .await
        .expect("claims");
    assert!(early.is_empty(), "nothing is due before Retry-After");

    // A claim after Retry-After sends it, once.
    let later = row.next_attempt_at + chrono::TimeDelta::milliseconds(10);
    let mut rows = place
        .store
        .claim_due(&WorkerId::parse("w3").expect("valid"), later, 10, chrono::TimeDelta::seconds(5))
        .await
        .expect("claims");
    assert_eq!(d.deliver(rows.pop().expect("due now")).await, Delivery::Sent);
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 1);
    let row = place.store.get_outbound(&place.actor(), id).await.expect("row");
    assert_eq!(row.status, OutboundStatus::Sent);
    assert_eq!(row.provider_id.as_deref(), Some(accepted[0].sid.as_str()));
}

async fn an_opted_out_or_bad_number_is_never_retried(backend: Backend) {
    let fake = FakeTwilio::start().await.expect("fake twilio");
    let place = Place::new(backend).await;
    let s = place.settings(&format!("{}{}", twilio_toml(&fake, 2000), dispatch_toml("")));
    let d = assistant::gateway::dispatcher(place.store.clone(), &s).expect("dispatcher");
    fake.opt_out(&gateway_support::number(1));
    fake.mark_not_mobile(&gateway_support::number(2));

    let stopped = place.enqueue_sms(1, SENDER).await;
    assert_eq!(d.deliver(claim_one(&place).await).await, Delivery::Failed(ErrorClass::OptedOut));
    let bad = place.enqueue_sms(2, SENDER).await;
    assert_eq!(d.deliver(claim_one(&place).await).await, Delivery::Failed(ErrorClass::BadNumber));

    for (id, class) in [(stopped, ErrorClass::OptedOut), (bad, ErrorClass::BadNumber)] {
        let row = place.store.get_outbound(&place.actor(), id).await.expect("row");
        assert_eq!((row.status, row.last_error_class), (OutboundStatus::Failed, Some(class)));
    }
    let recipient = Recipient::Sms(store::E164::parse(&gateway_support::number(1)).expect("valid"));
    assert!(place.store.is_opted_out(&place.actor(), &recipient).await.expect("reads"), "Twilio 21610 records the opt-out");
    assert!(fake.accepted().is_empty());
}

async fn a_timeout_after_twilio_accepted_is_reconciled_not_sent_twice(backend: Backend) {
    let fake = FakeTwilio::start().await.expect("fake twilio");
    let place = Place::new(backend).await;
    let s = place.settings(&format!("{}{}", twilio_toml(&fake, 300), dispatch_toml("")));
    let d = assistant::gateway::dispatcher(place.store.clone(), &s).expect("dispatcher");
    let id = place.enqueue_sms(1, SENDER).await;
    fake.script(Scripted::AcceptThenHang(Duration::from_secs(3)));

    assert_eq!(d.deliver(claim_one(&place).await).await, Delivery::Unknown);
    assert_eq!(place.store.get_outbound(&place.actor(), id).await.expect("row").status, OutboundStatus::Unknown);

    let rounds = d.reconcile_round().await.expect("reconciles");
    assert_eq!(rounds, vec![Reconciled::FoundAtProvider]);
    let row = place.store.get_outbound(&place.actor(), id).await.expect("row");
    assert_eq!(row.status, OutboundStatus::Sent);
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 1, "sent exactly once");
    assert_eq!(row.provider_id.as_deref(), Some(accepted[0].sid.as_str()));
    assert!(d.reconcile_round().await.expect("reconciles").is_empty(), "nothing left to reconcile");
}

async fn a_crashed_attempt_that_never_reached_twilio_is_sent_after_reconciling(backend: Backend) {
    let fake = FakeTwilio::start().await.expect("fake twilio");
    let place = Place::new(backend).await;
    let s = place.settings(&format!("{}{}", twilio_toml(&fake, 2000), dispatch_toml("")));
    let d = assistant::gateway::dispatcher(place.store.clone(), &s).expect("dispatcher");
    let id = place.enqueue_sms(1, SENDER).await;
    // A worker claims it and dies before sending: its lease (1 s) runs out.
    let dead = WorkerId::parse("dead-worker").expect("valid");
    let t0 = store::types::now();
    let claimed = place.store.claim_due(&dead, t0, 10, chrono::TimeDelta::seconds(1)).await.expect("claims");
    assert_eq!(claimed.len(), 1);
    let after_lease = t0 + chrono::TimeDelta::seconds(2);
    let again = place.store.claim_due(&dead, after_lease, 10, chrono::TimeDelta::seconds(5)).await.expect("claims");
    assert!(again.is_empty(), "an expired lease is never simply handed out again");
    assert_eq!(place.store.get_outbound(&place.actor(), id).await.expect("row").status, OutboundStatus::Unknown);

    assert_eq!(d.reconcile_round().await.expect("reconciles"), vec![Reconciled::Requeued]);
    let row = place.store.get_outbound(&place.actor(), id).await.expect("row");
    assert_eq!(row.status, OutboundStatus::Pending);
    let mut rows = place
        .store
        .claim_due(d.worker(), row.next_attempt_at, 10, chrono::TimeDelta::seconds(5))
        .await
        .expect("claims");
    assert_eq!(d.deliver(rows.pop().expect("due")).await, Delivery::Sent);
    assert_eq!(fake.accepted().len(), 1);
}

async fn the_console_channel_records_messages_for_staff_without_a_provider(backend: Backend) {
    let place = Place::new(backend).await;
    let s = place.settings(&dispatch_toml(""));
    let d = assistant::gateway::dispatcher(place.store.clone(), &s).expect("dispatcher");
    let id = place.enqueue_sms(1, SENDER).await;
    assert_eq!(d.deliver(claim_one(&place).await).await, Delivery::Sent);
    let row = place.store.get_outbound(&place.actor(), id).await.expect("row");
    assert_eq!(row.status, OutboundStatus::Sent);
    assert_eq!(row.provider_id, Some(assistant::gateway::carriers::console_provider_id(id)));
    assert_eq!(row.body, gateway_support::body(1), "staff read the text in the outbox");
}

async fn a_running_dispatcher_drains_the_queue_and_stops_cleanly(backend: Backend) {
    let fake = FakeTwilio::start().await.expect("fake twilio");
    let place = Place::new(backend).await;
    let s = place.settings(&format!("{}{}", twilio_toml(&fake, 2000), dispatch_toml("poll_interval_ms = 50")));
    let ids: Vec<_> = futures_free_enqueue(&place, 20).await;
    fake.script(Scripted::ServerError);
    let running = assistant::gateway::RunningDispatcher::start(assistant::gateway::dispatcher(place.store.clone(), &s).expect("dispatcher"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut all_sent = true;
        for id in &ids {
            all_sent &= place.store.get_outbound(&place.actor(), *id).await.expect("row").status == OutboundStatus::Sent;
        }
        if all_sent {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the queue drains within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await;
    assert_eq!(fake.accepted().len(), 20, "each message once, the 500 retried");
}

async fn futures_free_enqueue(place: &Place, n: usize) -> Vec<store::OutboxMessageId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(place.enqueue_sms(i, SENDER).await);
    }
    ids
}

gateway_on_both_backends!(
    a_rate_limited_send_waits_out_retry_after_then_goes_once,
    an_opted_out_or_bad_number_is_never_retried,
    a_timeout_after_twilio_accepted_is_reconciled_not_sent_twice,
    a_crashed_attempt_that_never_reached_twilio_is_sent_after_reconciling,
    the_console_channel_records_messages_for_staff_without_a_provider,
    a_running_dispatcher_drains_the_queue_and_stops_cleanly,
);
