//! `hearth-evals bench-reminders`: the reminder scheduler's due scan with a large schedule.
//! Seeds N appointments (two planned reminders each) straight into a fresh database with set-based
//! SQL (creating a million visits one by one through the API would take hours and measure
//! something else), then times the real tick ([`assistant::reminders::scheduler::tick`]): with
//! nothing due (the index probe every idle tick pays), and while handling each hour's due
//! reminders (decrypt the client, render, caps, enqueue in the same transaction). Peak memory
//! is the process's `VmHWM`.

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use sqlx::{AssertSqlSafe, Connection};
use store::{
    Actor, E164, Store, StoreConfig, TimeZoneName,
    clients::{Channel, ClientDetails},
    practice::PracticeDetails,
};

/// First visit of the seeded schedule (a Monday); visits follow every `spacing` seconds.
const T0: &str = "2030-01-07T14:00:00Z";
const CLIENTS: usize = 1000;

#[derive(Debug)]
pub struct BenchReport {
    pub backend: &'static str,
    pub appointments: usize,
    pub reminders: usize,
    pub seed_s: f64,
    pub idle_tick_ms: Vec<f64>,
    /// (reminders handled, milliseconds) per busy tick.
    pub busy_ticks: Vec<(usize, usize, f64)>,
    pub peak_rss_mib: f64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

impl BenchReport {
    pub fn table(&self, cores: usize) -> String {
        let mut idle = self.idle_tick_ms.clone();
        let busy_ms: Vec<f64> = self.busy_ticks.iter().map(|b| b.2).collect();
        let handled: usize = self.busy_ticks.iter().map(|b| b.0).sum();
        let queued: usize = self.busy_ticks.iter().map(|b| b.1).sum();
        let total_busy: f64 = busy_ms.iter().sum();
        let mut busy = busy_ms.clone();
        format!(
            "Reminder due-scan benchmark on {cores} cores, {backend}:\n\n\
             | appointments | planned reminders | seed s | idle tick ms (median / p95) | busy ticks | reminders handled | outbox rows | ms per busy tick (median / p95) | ms per reminder | peak RSS MiB |\n\
             |---|---|---|---|---|---|---|---|---|---|\n\
             | {} | {} | {:.1} | {:.2} / {:.2} | {} | {} | {} | {:.1} / {:.1} | {:.2} | {:.0} |\n",
            self.appointments,
            self.reminders,
            self.seed_s,
            median(&mut idle.clone()),
            percentile(&mut idle, 0.95),
            self.busy_ticks.len(),
            handled,
            queued,
            median(&mut busy.clone()),
            percentile(&mut busy, 0.95),
            if handled == 0 { 0.0 } else { total_busy / handled as f64 },
            self.peak_rss_mib,
            backend = self.backend,
        )
    }
}

async fn raw(url: &str, sql: &str) -> anyhow::Result<()> {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).execute(&mut c).await.context("seeding (SQLite)")?;
    } else {
        let mut c = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).execute(&mut c).await.context("seeding (PostgreSQL)")?;
    }
    Ok(())
}

/// Set-based seed: `n` visits `spacing` seconds apart from [`T0`], each with one of the
/// clients, and their 48-hour and 2-hour reminders planned.
fn seed_sql(sqlite: bool, n: usize, spacing: i64, practice: &str, clinician: &str) -> String {
    let t0 = T0.parse::<DateTime<Utc>>().expect("fixed instant").timestamp();
    if sqlite {
        let ts = |expr: &str| format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', {expr}, 'unixepoch')");
        let start = format!("({t0} + a.i * {spacing})");
        format!(
            "BEGIN;
             CREATE TEMP TABLE cl AS SELECT row_number() OVER (ORDER BY client_id) - 1 AS n, client_id FROM client;
             CREATE INDEX temp.cl_n ON cl (n);
             CREATE TEMP TABLE a AS WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {last}) SELECT i, randomblob(16) AS id FROM s;
             INSERT INTO appointment (appointment_id, practice_id, clinician_id, starts_at, ends_at, time_zone, modality, status, created_at, updated_at)
               SELECT a.id, x'{practice}', x'{clinician}', {s}, {e}, 'America/New_York', 'in_person', 'scheduled', {s}, {s} FROM a;
             INSERT INTO appointment_client (appointment_id, client_id) SELECT a.id, cl.client_id FROM a JOIN cl ON cl.n = a.i % {CLIENTS};
             INSERT INTO reminder (reminder_id, practice_id, appointment_id, client_id, kind, minutes_before, channel, due_at, is_last, status, queued, created_at, updated_at)
               SELECT randomblob(16), x'{practice}', a.id, cl.client_id, 'reminder', m.mins, 'sms', {due}, m.mins = 120, 'planned', 0, {s}, {s}
               FROM a JOIN cl ON cl.n = a.i % {CLIENTS} CROSS JOIN (SELECT 2880 AS mins UNION ALL SELECT 120) m;
             COMMIT;",
            last = n - 1,
            s = ts(&start),
            e = ts(&format!("{start} + 3000")),
            due = ts(&format!("{start} - m.mins * 60")),
        )
    } else {
        let start = format!("(to_timestamp({t0}) + a.i * interval '{spacing} seconds')");
        format!(
            "BEGIN;
             CREATE TEMP TABLE cl AS SELECT (row_number() OVER (ORDER BY client_id) - 1)::bigint AS n, client_id FROM client;
             CREATE INDEX ON cl (n);
             CREATE TEMP TABLE a AS SELECT i, gen_random_uuid() AS id FROM generate_series(0, {last}) AS i;
             INSERT INTO appointment (appointment_id, practice_id, clinician_id, starts_at, ends_at, time_zone, modality, status, created_at, updated_at)
               SELECT a.id, '{practice}'::uuid, '{clinician}'::uuid, {start}, {start} + interval '50 minutes', 'America/New_York', 'in_person', 'scheduled', {start}, {start} FROM a;
             INSERT INTO appointment_client (appointment_id, client_id) SELECT a.id, cl.client_id FROM a JOIN cl ON cl.n = a.i % {CLIENTS};
             INSERT INTO reminder (reminder_id, practice_id, appointment_id, client_id, kind, minutes_before, channel, due_at, is_last, status, queued, created_at, updated_at)
               SELECT gen_random_uuid(), '{practice}'::uuid, a.id, cl.client_id, 'reminder', m.mins, 'sms', {start} - m.mins * interval '1 minute', m.mins = 120, 'planned', 0, {start}, {start}
               FROM a JOIN cl ON cl.n = a.i % {CLIENTS} CROSS JOIN (VALUES (2880), (120)) AS m(mins);
             COMMIT;
             ANALYZE;",
            last = n - 1,
        )
    }
}

/// Runs the benchmark on `database_url` (a fresh SQLite file, or a fresh PostgreSQL schema).
pub async fn run(database_url: &str, key_file: &std::path::Path, appointments: usize, busy_ticks: usize) -> anyhow::Result<BenchReport> {
    anyhow::ensure!(appointments >= CLIENTS, "use at least {CLIENTS} appointments");
    let sqlite = database_url.starts_with("sqlite:");
    let store = Store::open(&StoreConfig { database_url: database_url.to_owned(), key_file: key_file.to_owned(), create_if_missing: true }).await?;
    store.migrate().await?;
    let seed_started = Instant::now();
    let p = store
        .create_practice(&PracticeDetails {
            name: "Benchmark Practice".into(),
            phone: Some(E164::parse("+15550009999")?),
            time_zone: TimeZoneName::parse("America/New_York")?,
            settings: serde_json::json!({}),
        })
        .await?;
    let system = Actor::system(p.practice_id);
    let clinician = store
        .create_user(
            &system,
            &store::users::NewStaffUser {
                email: store::EmailAddress::parse("clinician@bench.example.org")?,
                display_name: "Clinician".into(),
                roles: store::users::RoleSet::new([store::users::Role::Clinician]),
                supervisor_id: None,
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            },
        )
        .await?;
    for i in 0..CLIENTS {
        let d = ClientDetails {
            first_name: format!("Client{i}"),
            last_name: "Bench".into(),
            preferred_name: None,
            date_of_birth: None,
            phone: Some(E164::parse(&format!("+1555{:07}", 1_000_000 + i))?),
            email: None,
            telegram_chat_id: None,
            time_zone: TimeZoneName::parse("America/New_York")?,
            channel_preferences: vec![Channel::Sms],
            texting_consent: true,
            primary_clinician_id: Some(clinician.user_id),
            contacts: vec![],
        };
        store.create_client(&system, &d).await?;
    }
    // One visit every year / n seconds: a million visits is about one every 31 seconds.
    let spacing = (365 * 24 * 3600 / appointments as i64).max(1);
    let hex = |u: uuid::Uuid| u.simple().to_string();
    let sql = if sqlite {
        seed_sql(true, appointments, spacing, &hex(p.practice_id.as_uuid()), &hex(clinician.user_id.as_uuid()))
    } else {
        seed_sql(false, appointments, spacing, &p.practice_id.to_string(), &clinician.user_id.to_string())
    };
    raw(database_url, &sql).await?;
    let seed_s = seed_started.elapsed().as_secs_f64();

    let t0: DateTime<Utc> = T0.parse().expect("fixed instant");
    // Idle: before the first reminder is due, so the tick finds nothing.
    let mut idle_tick_ms = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let r = assistant::reminders::scheduler::tick(&store, None, t0 - Duration::days(5)).await?;
        anyhow::ensure!(r.claimed == 0, "the idle tick found work");
        idle_tick_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    // Busy: each tick is one hour later during waking hours (10:00-19:00 New York on the first
    // visit days), handling that hour's due reminders.
    let mut busy = Vec::new();
    let mut now = t0 - Duration::hours(48) + Duration::hours(1);
    for _ in 0..busy_ticks {
        let started = Instant::now();
        let r = assistant::reminders::scheduler::tick(&store, None, now).await?;
        busy.push((r.claimed, r.queued, started.elapsed().as_secs_f64() * 1000.0));
        now += Duration::hours(1);
    }
    store.close().await;
    Ok(BenchReport {
        backend: if sqlite { "SQLite" } else { "PostgreSQL" },
        appointments,
        reminders: appointments * 2,
        seed_s,
        idle_tick_ms,
        busy_ticks: busy,
        peak_rss_mib: crate::draft_bench::peak_rss_mib()?,
    })
}

/// [`run`] on a fresh SQLite file in a temporary folder, or a fresh schema of the PostgreSQL
/// database at `postgres_url` (dropped afterwards).
pub async fn run_in_fresh_database(postgres_url: Option<&str>, appointments: usize, busy_ticks: usize) -> anyhow::Result<BenchReport> {
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let key_file = dir.path().join("keys.json");
    match postgres_url {
        None => run(&format!("sqlite://{}", dir.path().join("bench.db").display()), &key_file, appointments, busy_ticks).await,
        Some(base) => {
            let schema = format!("hearth_bench_{}", uuid::Uuid::new_v4().simple());
            raw(base, &format!("CREATE SCHEMA {schema}")).await?;
            let sep = if base.contains('?') { '&' } else { '?' };
            let r = run(&format!("{base}{sep}options[search_path]={schema}"), &key_file, appointments, busy_ticks).await;
            raw(base, &format!("DROP SCHEMA {schema} CASCADE")).await?;
            r
        }
    }
}
