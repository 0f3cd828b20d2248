//! `hearth-evals gateway-bench`: the messaging gateway under load, against the real HTTP
//! server and a local fake Twilio (a benchmark, never a test assertion).
//!
//! 1. Inbound SMS webhook latency: signed Twilio webhooks posted open-loop at a fixed rate
//!    (default 500 requests/s for 60 s, each a new MessageSid with an ordinary text that is
//!    stored for staff); reports p50, p99, max and errors (any non-200 or transport failure).
//! 2. Dispatch throughput: N queued SMS sent by one dispatcher to the fake Twilio with no
//!    sender rate limit; reports messages per second until the fake accepted all of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::ExposeSecret;
use serde::Serialize;
use store::outbox::{IdempotencyKey, NewOutbound, Purpose, Recipient, SenderKey};

/// The figures, as JSON.
#[derive(Debug, Serialize)]
pub struct GatewayReport {
    pub backend: String,
    pub inbound_rate_per_s: u32,
    pub inbound_seconds: u64,
    pub inbound_sent: usize,
    pub inbound_errors: usize,
    pub inbound_p50_ms: f64,
    pub inbound_p99_ms: f64,
    pub inbound_max_ms: f64,
    pub dispatch_messages: usize,
    pub dispatch_seconds: f64,
    pub dispatch_per_s: f64,
}

impl GatewayReport {
    /// The figures as a Markdown table.
    pub fn table(&self, cores: usize) -> String {
        format!(
            "Inbound SMS webhooks (signed, through the real service) at a fixed rate, then dispatch to a local fake Twilio, on {cores} cores, {}:\n\n\
             | inbound rate /s | seconds | requests | errors | p50 ms | p99 ms | max ms | dispatched | dispatch s | dispatch msg/s |\n\
             |---|---|---|---|---|---|---|---|---|---|\n\
             | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.0} |\n",
            self.backend,
            self.inbound_rate_per_s,
            self.inbound_seconds,
            self.inbound_sent,
            self.inbound_errors,
            self.inbound_p50_ms,
            self.inbound_p99_ms,
            self.inbound_max_ms,
            self.dispatch_messages,
            self.dispatch_seconds,
            self.dispatch_per_s,
        )
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs both parts. `database_url`: `None` for a fresh SQLite file in a temporary folder.
pub async fn run(database_url: Option<String>, rate: u32, seconds: u64, messages: usize) -> anyhow::Result<GatewayReport> {
    let dir = tempfile::tempdir().context("making a temporary data folder")?;
    let database_url = database_url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("hearth.db").display()));
    let fake = channels::testing::FakeTwilio::start().await.context("starting the fake Twilio")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let token = fake.auth_token();
    let env = || vec![("HEARTH_DATABASE_URL".to_owned(), database_url.clone())];
    let store = assistant::app::open_store(&assistant::config::load(dir.path(), None, env())?, assistant::app::OnMissing::Create).await?;
    let practice = store
        .create_practice(&store::practice::PracticeDetails {
            name: "Bench Practice".into(),
            phone: None,
            time_zone: store::TimeZoneName::parse("America/Chicago")?,
            settings: serde_json::json!({}),
        })
        .await?;
    let practice_id = practice.practice_id;
    std::fs::write(
        dir.path().join("hearth.toml"),
        format!(
            "public_url = \"{base}\"\nchannel = \"twilio\"\n[twilio]\npractice_id = \"{practice_id}\"\naccount_sid = \"{}\"\nauth_token = \"{}\"\nfrom = \"+15550100000\"\napi_base_url = \"{}\"\n[dispatch]\nin_serve = false\npoll_interval_ms = 20\nbatch = 200\nconcurrency = 64\n[[dispatch.senders]]\nkey = \"sms:+15550100000\"\nsegments_per_second = 10000\n",
            fake.account_sid(),
            token.expose_secret(),
            fake.base_url()
        ),
    )?;
    let settings = assistant::config::load(dir.path(), None, env())?;
    let server = tokio::spawn(assistant::app::serve(listener, assistant::app::AppState::new(store.clone(), settings.clone())));

    // 1. Inbound latency, open loop: a request leaves every 1/rate s whatever the answers do.
    let url = format!("{base}/webhooks/twilio/sms");
    let client = reqwest::Client::builder().pool_max_idle_per_host(1024).build()?;
    let account = fake.account_sid().to_string();
    let total = (u64::from(rate) * seconds) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total);
    let token = Arc::new(token);
    for i in 0..total {
        tick.tick().await;
        let params: Vec<(String, String)> = vec![
            ("AccountSid".into(), account.clone()),
            ("Body".into(), format!("Running a little late today ({i})")),
            ("From".into(), format!("+1555{:07}", 2_000_000 + (i % 5000))),
            ("MessageSid".into(), format!("SM{:032x}", 0xbe9c_0000_0000u64 + i as u64)),
            ("NumMedia".into(), "0".into()),
            ("To".into(), "+15550100000".into()),
        ];
        let signature = channels::twilio::signature::form_signature(&token, &url, &params);
        let request = client.post(&url).header("X-Twilio-Signature", signature).form(&params);
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let ok = matches!(request.send().await, Ok(r) if r.status() == 200);
            (t0.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    for t in tasks {
        let (d, ok) = t.await?;
        latencies.push(d);
        errors += usize::from(!ok);
    }
    latencies.sort();

    // 2. Dispatch throughput.
    let actor = store::Actor::system(practice.practice_id);
    for n in 0..messages {
        store
            .enqueue(
                &actor,
                &NewOutbound {
                    client_id: None,
                    recipient: Recipient::Sms(store::E164::parse(&format!("+1555{:07}", 3_000_000 + n))?),
                    body: format!("Reminder {n}: your visit is Tue 3:00 PM. Reply C to confirm."),
                    purpose: Purpose::Reminder,
                    appointment_id: None,
                    message_id: None,
                    sender_key: SenderKey::parse("sms:+15550100000")?,
                    idempotency_key: IdempotencyKey::parse(&format!("bench:{n}"))?,
                    not_before: None,
                },
            )
            .await?;
    }
    let t0 = Instant::now();
    let running = assistant::gateway::RunningDispatcher::start(assistant::gateway::dispatcher(store.clone(), &settings)?);
    while fake.accepted().len() < messages {
        anyhow::ensure!(t0.elapsed() < Duration::from_secs(600), "dispatch did not finish in 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dispatch_seconds = t0.elapsed().as_secs_f64();
    running.stop().await;
    server.abort();

    Ok(GatewayReport {
        backend: if database_url.starts_with("sqlite:") { "sqlite".into() } else { "postgres".into() },
        inbound_rate_per_s: rate,
        inbound_seconds: seconds,
        inbound_sent: total,
        inbound_errors: errors,
        inbound_p50_ms: percentile(&latencies, 0.50),
        inbound_p99_ms: percentile(&latencies, 0.99),
        inbound_max_ms: latencies.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
        dispatch_messages: messages,
        dispatch_seconds,
        dispatch_per_s: messages as f64 / dispatch_seconds,
    })
}

