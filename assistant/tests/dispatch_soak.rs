//! The gateway issue's proof for the dispatcher: 1,000 reminder-like messages through a fake
//! Twilio that answers 20% 429 (with Retry-After), 5% 500 and 5% accept-then-time-out, while
//! the dispatcher — the real `hearth dispatch` binary in a child process — is killed with
//! SIGKILL at least 50 times at random moments and restarted. Afterwards: every message was
//! accepted by the provider exactly once and the outbox row records that acceptance (0 lost,
//! 0 unreconciled duplicates), and no message was retried before a Retry-After it was given.
//!
//! Sizes can be changed with HEARTH_SOAK_MESSAGES and HEARTH_SOAK_KILLS (defaults 1000, 50).

mod gateway_support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use channels::testing::{Answer, Chaos, FakeTwilio};
use gateway_support::{Backend, Place, body, twilio_toml};
use rand::Rng as _;
use store::outbox::OutboundStatus;

const SENDER: &str = "sms:+15550100000";
const RETRY_AFTER_SECS: u64 = 1;

/// The two backends run one after the other: each soak wants the machine to itself.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn spawn_dispatcher(place: &Place) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--data-dir")
        .arg(place.dir.path())
        .arg("dispatch")
        .env("HEARTH_DATABASE_URL", &place.database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the hearth binary starts")
}

/// Rows per status, read with plain SQL (no audit events: this polls while the dispatcher runs).
async fn status_counts(database_url: &str) -> HashMap<OutboundStatus, usize> {
    let sql = "SELECT status, COUNT(*) AS n FROM outbox_message GROUP BY status";
    let rows: Vec<(String, i64)> = if database_url.starts_with("sqlite:") {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(database_url).await.expect("sqlite opens");
        sqlx::query_as(sql).fetch_all(&mut c).await.expect("counts")
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(database_url).await.expect("postgres connects");
        sqlx::query_as(sql).fetch_all(&mut c).await.expect("counts")
    };
    rows.into_iter()
        .map(|(s, n)| (OutboundStatus::parse(&s).expect("a known status"), n as usize))
        .collect()
}

/// How often each audited outbox action happened (lease expiries, reconciliations…).
async fn audit_counts(database_url: &str) -> HashMap<String, i64> {
    let sql = "SELECT action, COUNT(*) AS n FROM audit_event WHERE action LIKE 'outbox.%' GROUP BY action";
    let rows: Vec<(String, i64)> = if database_url.starts_with("sqlite:") {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(database_url).await.expect("sqlite opens");
        sqlx::query_as(sql).fetch_all(&mut c).await.expect("counts")
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(database_url).await.expect("postgres connects");
        sqlx::query_as(sql).fetch_all(&mut c).await.expect("counts")
    };
    rows.into_iter().collect()
}

async fn soak(backend: Backend) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let messages = env_number("HEARTH_SOAK_MESSAGES", 1000);
    let kills = env_number("HEARTH_SOAK_KILLS", 50);

    // Arrange: the fake's faults, the queue, the dispatcher's settings.
    let fake = FakeTwilio::start().await.expect("fake twilio");
    fake.set_chaos(Chaos {
        rate_limited: 0.20,
        retry_after_secs: RETRY_AFTER_SECS,
        server_error: 0.05,
        accept_then_hang: 0.05,
        hang: Duration::from_secs(2),
    });
    let place = Place::new(backend).await;
    let mut ids = Vec::with_capacity(messages);
    for n in 0..messages {
        ids.push(place.enqueue_sms(n, SENDER).await);
    }
    // Lease 3 s (longer than the 1 s Retry-After, so a crash between a 429 and recording it
    // cannot bring the retry early); requests time out after 400 ms; a fast sender.
    place.settings(&format!(
        "{}[dispatch]\nlease_seconds = 3\nreconcile_after_ms = 500\nbackoff_base_ms = 200\nbackoff_cap_seconds = 2\npoll_interval_ms = 50\nbatch = 40\nconcurrency = 40\nmax_attempts = 1000\n[[dispatch.senders]]\nkey = \"{SENDER}\"\nsegments_per_second = 400\n",
        twilio_toml(&fake, 400)
    ));

    // Act: run, kill at random moments, restart.
    let started = Instant::now();
    let mut child = spawn_dispatcher(&place);
    let mut killed = 0;
    while killed < kills {
        let wait = rand::thread_rng().gen_range(100..600);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().expect("SIGKILL the dispatcher");
        child.wait().expect("reap it");
        killed += 1;
        child = spawn_dispatcher(&place);
    }
    let deadline = Instant::now() + Duration::from_secs(150);
    let counts = loop {
        let counts = status_counts(&place.database_url).await;
        let done = counts.get(&OutboundStatus::Sent).copied().unwrap_or(0)
            + counts.get(&OutboundStatus::Delivered).copied().unwrap_or(0)
            + counts.get(&OutboundStatus::Failed).copied().unwrap_or(0);
        if done == messages || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    child.kill().expect("stop the last dispatcher");
    child.wait().expect("reap it");
    let elapsed = started.elapsed();

    // Assert: nothing lost, nothing failed.
    assert_eq!(counts.get(&OutboundStatus::Sent).copied().unwrap_or(0), messages, "every message sent: {counts:?}");
    assert!(killed >= 50 || kills < 50, "killed {killed} times");

    // Each message accepted by the provider exactly once, and that acceptance is the one recorded.
    let mut accepted: HashMap<String, Vec<String>> = HashMap::new();
    for m in fake.accepted() {
        accepted.entry(m.body).or_default().push(m.sid.to_string());
    }
    let mut duplicates = 0;
    let mut lost = 0;
    for (n, id) in ids.iter().enumerate() {
        let row = place.store.get_outbound(&place.actor(), *id).await.expect("row");
        match accepted.get(&body(n)).map(Vec::as_slice) {
            Some([sid]) => assert_eq!(row.provider_id.as_deref(), Some(sid.as_str()), "message {n} records its acceptance"),
            Some(many) => duplicates += many.len() - 1,
            None => lost += 1,
        }
    }
    assert_eq!((lost, duplicates), (0, 0), "0 lost, 0 duplicates");

    // Retry-After never violated: after a 429 telling a message to wait, that message was not
    // offered again before the wait was over.
    let requests = fake.requests();
    let mut by_body: HashMap<&str, Vec<&channels::testing::CreateRequest>> = HashMap::new();
    for r in &requests {
        by_body.entry(r.body.as_str()).or_default().push(r);
    }
    let (mut limited, mut violations, mut hung, mut errors) = (0, 0, 0, 0);
    for rs in by_body.values() {
        for (i, r) in rs.iter().enumerate() {
            match &r.answer {
                Answer::RateLimited { retry_after_secs: Some(secs) } => {
                    limited += 1;
                    let until = r.at + Duration::from_secs(*secs);
                    violations += rs[i + 1..].iter().filter(|later| later.at < until).count();
                }
                Answer::AcceptedThenHung(_) => hung += 1,
                Answer::ServerError => errors += 1,
                _ => {}
            }
        }
    }
    assert_eq!(violations, 0, "Retry-After violated {violations} times");
    // The kills landed mid-send: leases expired and were reconciled with the provider.
    let audit = audit_counts(&place.database_url).await;
    let expired = audit.get("outbox.lease_expired").copied().unwrap_or(0);
    let reconciled = audit.get("outbox.reconcile_read").copied().unwrap_or(0);
    assert!(expired > 0 && reconciled > 0, "no kill hit a send in flight: {audit:?}");
    assert!(limited > 0 && hung > 0 && errors > 0, "the faults happened: {limited} 429s, {hung} timeouts, {errors} 500s");
    eprintln!(
        "soak {backend:?}: {messages} messages, {killed} kills, {} requests ({limited} 429, {errors} 500, {hung} accept-then-timeout), {expired} leases expired, {reconciled} lookups at the provider, {:.1} s",
        requests.len(),
        elapsed.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_reminders_survive_fifty_kills_and_a_faulty_provider_on_sqlite() {
    soak(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_reminders_survive_fifty_kills_and_a_faulty_provider_on_postgres() {
    soak(Backend::Postgres).await;
}
