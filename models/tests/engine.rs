//! The engine thread: bounded queue, overload refusal, health reporting and pings.

use std::sync::mpsc;
use std::time::Duration;

use models::Error;
use models::engine::{EngineConfig, EngineHandle, Health};

/// A stand-in engine whose jobs can be held open, so the queue can be filled deterministically.
struct Counter {
    calls: u32,
}

#[tokio::test]
async fn a_loaded_engine_answers_calls_in_order_on_its_own_thread() {
    let engine = EngineHandle::spawn(EngineConfig::new("counter", 4), || Ok(Counter { calls: 0 }))
        .expect("valid config");
    engine.wait_ready().await.expect("loader succeeds");
    let caller_thread = std::thread::current().id();

    let first = engine
        .call(move |c: &mut Counter| {
            c.calls += 1;
            Ok((c.calls, std::thread::current().id() != caller_thread))
        })
        .await
        .expect("call succeeds");
    let second = engine.call(|c: &mut Counter| {
        c.calls += 1;
        Ok(c.calls)
    });

    assert_eq!(first, (1, true), "the job ran on the engine thread");
    assert_eq!(
        second.await.expect("call succeeds"),
        2,
        "state persists between calls"
    );
    assert_eq!(engine.health(), Health::Ready);
}

#[tokio::test]
async fn a_full_queue_is_refused_at_once_with_overloaded() {
    // Capacity 1: one job running (held open) plus one waiting fill the engine.
    let engine = EngineHandle::spawn(EngineConfig::new("busy", 1), || Ok(Counter { calls: 0 }))
        .expect("valid config");
    engine.wait_ready().await.expect("loader succeeds");
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();

    let running = tokio::spawn({
        let engine = engine.clone();
        async move {
            engine
                .call(move |c: &mut Counter| {
                    started_tx
                        .send(())
                        .expect("test waits for the start signal");
                    release_rx.recv().expect("test releases the job");
                    c.calls += 1;
                    Ok(c.calls)
                })
                .await
        }
    });
    tokio::task::spawn_blocking(move || started_rx.recv())
        .await
        .unwrap()
        .expect("job started");
    // The first call's job enters the queue on its first poll; its future is then dropped by
    // the timeout (the job stays queued and reports through `done_tx` instead).
    let (done_tx, done_rx) = mpsc::channel::<u32>();
    let queued = tokio::time::timeout(
        Duration::from_millis(20),
        engine.call(move |c: &mut Counter| {
            done_tx
                .send(c.calls)
                .expect("test waits for the queued job");
            Ok(())
        }),
    )
    .await;
    assert!(queued.is_err(), "the queued job waits behind the held one");

    let refused = engine.call(|c: &mut Counter| Ok(c.calls)).await;

    let refused = refused.expect_err("a call beyond the queue capacity is refused");
    assert!(
        matches!(refused, Error::Overloaded { capacity: 1, .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("busy engine is overloaded"),
        "{refused}"
    );
    release_tx.send(()).expect("running job still waits");
    assert_eq!(running.await.unwrap().expect("held job completes"), 1);
    let seen = tokio::task::spawn_blocking(move || done_rx.recv())
        .await
        .unwrap();
    assert_eq!(seen.expect("queued job ran after the held one"), 1);
    assert_eq!(
        engine.health(),
        Health::Ready,
        "overload does not make the engine unhealthy"
    );
}

#[tokio::test]
async fn a_failed_load_reports_failed_health_and_refuses_calls() {
    let engine: EngineHandle<Counter> = EngineHandle::spawn(EngineConfig::new("broken", 2), || {
        Err(Error::bad_model("reading model.gguf", "not a GGUF file"))
    })
    .expect("valid config");

    let waited = engine.wait_ready().await;
    let called = engine.call(|c: &mut Counter| Ok(c.calls)).await;
    let pinged = engine.ping(Duration::from_secs(5)).await;

    assert!(matches!(engine.health(), Health::Failed(r) if r.contains("not a GGUF file")));
    for result in [waited.map(|_| 0), called.map(|_| 0), pinged.map(|_| 0)] {
        let err = result.expect_err("a failed engine answers nothing");
        assert!(matches!(err, Error::EngineFailed { .. }), "{err}");
        assert!(err.to_string().contains("not a GGUF file"), "{err}");
    }
}

#[tokio::test]
async fn health_goes_from_loading_to_ready_and_ping_answers_only_when_ready() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let engine = EngineHandle::spawn(EngineConfig::new("slow", 2), move || {
        go_rx.recv().expect("test lets the load finish");
        Ok(Counter { calls: 0 })
    })
    .expect("valid config");
    let mut health = engine.watch_health();

    assert_eq!(engine.health(), Health::Loading);
    let early = engine.ping(Duration::from_secs(5)).await;
    assert!(matches!(early, Err(Error::NotReady { .. })), "{early:?}");
    go_tx.send(()).expect("loader waits");
    health
        .wait_for(|h| *h == Health::Ready)
        .await
        .expect("engine alive");
    engine
        .ping(Duration::from_secs(5))
        .await
        .expect("a ready engine answers a ping");
}

#[tokio::test]
async fn a_panicking_job_marks_the_engine_failed_instead_of_serving_corrupt_state() {
    let engine = EngineHandle::spawn(EngineConfig::new("fragile", 2), || Ok(Counter { calls: 0 }))
        .expect("valid config");
    engine.wait_ready().await.expect("loader succeeds");

    let crashed = engine
        .call(|_c: &mut Counter| -> models::Result<()> { panic!("boom") })
        .await;
    let mut health = engine.watch_health();
    health
        .wait_for(|h| matches!(h, Health::Failed(_)))
        .await
        .expect("health published");
    let after = engine.call(|c: &mut Counter| Ok(c.calls)).await;

    assert!(
        matches!(crashed, Err(Error::EngineFailed { .. })),
        "{crashed:?}"
    );
    assert!(
        matches!(after, Err(Error::EngineFailed { .. })),
        "{after:?}"
    );
}

#[test]
fn a_zero_or_huge_queue_capacity_is_rejected_with_the_limit() {
    for capacity in [0, EngineConfig::MAX_QUEUE_CAPACITY + 1] {
        let err = EngineHandle::spawn(EngineConfig::new("x", capacity), || {
            Ok(Counter { calls: 0 })
        })
        .expect_err("capacity out of range");
        assert!(err.to_string().contains("between 1 and 4096"), "{err}");
    }
}
