//! Scribe jobs through the running service and a real worker (DESIGN flow 4): a session's
//! transcript or recording is refused without the client's AI-scribe consent (dictation needs
//! none); a transcript from ../shared/corpus becomes a draft note with evidence (real
//! all-MiniLM-L6-v2); a real recording (../shared/audio/jfk.wav) goes through the decoder and a
//! whisper.cpp model (random weights of tiny.en size: the words are meaningless, the pipeline
//! is real) and its audio is deleted once transcribed; progress streams as server-sent events;
//! a job whose worker died is taken over; roles without the scribe cannot start jobs.

mod common;

use assistant::scribe_worker::{ScribeWorker, WorkerSettings};
use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::{Actor, ClientId, ClientScope};

fn shared(path: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared").join(path)
}

async fn seed(app: &TestApp, consent: bool) -> ClientId {
    app.seed_scribe_client("clinician", consent).await
}

fn worker(app: &TestApp, speech_model: Option<String>) -> ScribeWorker {
    let mut settings = WorkerSettings { threads: 2, ..WorkerSettings::default() };
    settings.models_dir = std::path::PathBuf::from(std::env::var("HEARTH_MODELS_DIR").expect("HEARTH_MODELS_DIR names ../shared/models (scripts/test.sh sets it)"));
    if let Some(m) = speech_model {
        settings.speech_model = m;
    }
    ScribeWorker::new(app.store.clone(), settings).expect("a worker")
}

fn random_tiny_model() -> String {
    use models::testing::ggml_whisper::{cache_dir, cached_random_model, vocab_file};
    let vocab = vocab_file().expect("the Whisper vocabulary in ../shared/models");
    cached_random_model(&vocab, "tiny.en", &cache_dir()).expect("a random tiny.en model").display().to_string()
}

fn corpus_transcript() -> String {
    std::fs::read_to_string(shared("corpus/s01-panic-cbt.vtt")).expect("../shared/corpus/s01-panic-cbt.vtt")
}

async fn without_consent_a_session_is_refused_but_dictation_is_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = seed(&app, false).await;
    let mut clinician = app.sign_in_as("clinician").await;
    let (status, body) = clinician.post("/api/scribe/jobs", json!({ "client_id": client, "format": "soap", "transcript": corpus_transcript() })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["field"], "consent", "{body}");
    assert!(body["error"]["message"].as_str().expect("a message").contains("AI-scribe consent"), "{body}");
    assert!(body.to_string().contains("record it first"), "says how: {body}");

    let wav = std::fs::read(shared("audio/jfk.wav")).expect("jfk.wav");
    let url = format!("{}/api/scribe/jobs/audio?client_id={client}&kind=session_recording&format=dap", app.base);
    let r = reqwest::Client::new().post(&url).header("cookie", clinician.cookie.clone().expect("cookie")).header("content-type", "audio/wav").body(wav.clone()).send().await.expect("answers");
    assert_eq!(r.status(), StatusCode::CONFLICT, "a session recording needs consent too");
    let url = format!("{}/api/scribe/jobs/audio?client_id={client}&kind=dictation&format=dap", app.base);
    let r = reqwest::Client::new().post(&url).header("cookie", clinician.cookie.clone().expect("cookie")).header("content-type", "audio/wav").body(wav).send().await.expect("answers");
    assert_eq!(r.status(), StatusCode::CREATED, "dictation is the clinician's own voice (and bigger than the 64 KiB JSON limit)");

    // The front desk and billers cannot start the scribe (404: nothing about the client shown).
    for key in ["front_desk", "biller", "colleague"] {
        let mut s = app.sign_in_as(key).await;
        let (status, _) = s.post("/api/scribe/jobs", json!({ "client_id": client, "format": "soap", "transcript": corpus_transcript() })).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{key}");
    }
    // Bad input says what to do.
    let (status, body) = clinician.post("/api/scribe/jobs", json!({ "client_id": client, "format": "haiku", "transcript": "Clinician: hi" })).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("format")), "{body}");
    app.finish().await;
}

/// Reads a server-sent event stream to its end and returns the `progress` events' data.
async fn progress_events(app: &TestApp, cookie: &str, job: &str) -> Vec<Value> {
    let r = reqwest::Client::new().get(format!("{}/api/scribe/jobs/{job}/events", app.base)).header("cookie", cookie).send().await.expect("answers");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().expect("ascii").starts_with("text/event-stream"));
    let text = tokio::time::timeout(std::time::Duration::from_secs(120), r.text()).await.expect("the stream ends when the job does").expect("a body");
    text.split("\n\n").filter(|e| e.contains("event: progress")).filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: "))).map(|d| serde_json::from_str(d).expect("JSON data")).collect()
}

async fn a_transcript_becomes_a_draft_note_with_evidence(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = seed(&app, true).await;
    let mut clinician = app.sign_in_as("clinician").await;
    let (status, job) = clinician.post("/api/scribe/jobs", json!({ "client_id": client, "format": "SOAP", "transcript": corpus_transcript() })).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!((job["status"].as_str(), job["kind"].as_str(), job["format"].as_str()), (Some("queued"), Some("transcript"), Some("soap")));
    let id = job["scribe_job_id"].as_str().expect("an id").to_owned();

    // The page's progress stream follows the job while a worker runs it.
    let cookie = clinician.cookie.clone().expect("cookie");
    let events = {
        let app_ref = &app;
        let stream = progress_events(app_ref, &cookie, &id);
        let work = async {
            let w = worker(&app, None);
            assert!(w.run_once().await.expect("the worker runs").is_some(), "the job was claimed");
        };
        let (events, ()) = tokio::join!(stream, work);
        events
    };
    // The stream may start before or after the claim; what it shows only ever moves forward.
    let order = |s: &str| ["queued", "running", "succeeded"].iter().position(|x| *x == s).expect("a known status");
    let seen: Vec<usize> = events.iter().map(|e| order(e["status"].as_str().expect("status"))).collect();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]) && events.len() >= 2, "{events:?}");
    let progress: Vec<u64> = events.iter().map(|e| e["progress"].as_u64().expect("progress")).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "progress only grows: {progress:?}");
    let last = events.last().expect("events");
    assert_eq!(last["status"], "succeeded", "{events:?}");
    assert_eq!(last["progress"], 100);
    let note_id = last["note_id"].as_str().expect("a note id").to_owned();

    // The draft: sections in SOAP order, sentences with evidence cue numbers, risk flags.
    let d = clinician.get(&format!("/api/scribe/jobs/{id}/draft")).await;
    assert_eq!(d.0, StatusCode::OK, "{}", d.3);
    let keys: Vec<&str> = d.1["draft"]["sections"].as_array().expect("sections").iter().map(|s| s["key"].as_str().expect("key")).collect();
    assert_eq!(keys, vec!["S", "O", "A", "P"]);
    let sentences: Vec<&Value> = d.1["draft"]["sections"].as_array().expect("sections").iter().flat_map(|s| s["sentences"].as_array().expect("sentences")).collect();
    assert!(sentences.len() >= 4, "a real session yields sentences: {}", sentences.len());
    assert!(sentences.iter().all(|s| !s["evidence"].as_array().expect("evidence").is_empty()), "every sentence cites cues");
    assert!(d.1["transcript"].as_str().expect("the transcript").starts_with("WEBVTT"));

    // The note: an unsigned draft by the clinician who asked, with the draft's text.
    let note = clinician.get(&format!("/api/notes/{note_id}")).await;
    assert_eq!(note.0, StatusCode::OK, "{}", note.3);
    assert_eq!((note.1["status"].as_str(), note.1["author_id"].as_str()), (Some("draft"), Some(app.person("clinician").user_id.to_string().as_str())));
    let first = sentences[0]["text"].as_str().expect("text");
    assert!(note.1["body"].as_str().expect("a body").contains(first), "the note holds the draft's sentences");

    // Another clinician cannot see the job at all.
    let mut colleague = app.sign_in_as("colleague").await;
    assert_eq!(colleague.get(&format!("/api/scribe/jobs/{id}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(colleague.get(&format!("/api/scribe/jobs/{id}/draft")).await.0, StatusCode::NOT_FOUND);
    let list = clinician.get("/api/scribe/jobs?status=succeeded").await;
    assert_eq!(list.1.as_array().map(Vec::len), Some(1));
    app.finish().await;
}

async fn a_recording_is_transcribed_and_its_audio_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = seed(&app, true).await;
    let clinician = app.sign_in_as("clinician").await;
    let wav = std::fs::read(shared("audio/jfk.wav")).expect("jfk.wav");
    let url = format!("{}/api/scribe/jobs/audio?client_id={client}&kind=session_recording&format=dap", app.base);
    let r = reqwest::Client::new().post(&url).header("cookie", clinician.cookie.clone().expect("cookie")).header("content-type", "audio/wav").body(wav).send().await.expect("answers");
    assert_eq!(r.status(), StatusCode::CREATED);
    let job: Value = r.json().await.expect("JSON");
    let id: store::ScribeJobId = job["scribe_job_id"].as_str().expect("an id").parse().expect("an id");
    assert!(job["input"]["size_bytes"].as_i64().expect("a size") > 300_000);

    let w = worker(&app, Some(random_tiny_model()));
    assert!(w.run_once().await.expect("runs").is_some());
    let actor = Actor::system(app.practice_a);
    let done = app.store.get_scribe_job(&actor, ClientScope::Practice, id).await.expect("the job");
    assert_eq!(done.status, store::jobs::ScribeStatus::Succeeded, "{done:?}");
    assert!(done.input.is_none(), "the audio is deleted once transcribed (the default retention)");
    let vtt = app.store.scribe_job_transcript(&actor, ClientScope::Practice, id).await.expect("reads").expect("a transcript");
    assert!(vtt.starts_with("WEBVTT") && vtt.contains("-->"), "cues with times: {vtt}");
    app.finish().await;
}

async fn a_job_whose_worker_died_is_taken_over(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = seed(&app, true).await;
    let mut clinician = app.sign_in_as("clinician").await;
    let (status, job) = clinician.post("/api/scribe/jobs", json!({ "client_id": client, "format": "dap", "transcript": corpus_transcript() })).await;
    assert_eq!(status, StatusCode::CREATED);
    let id: store::ScribeJobId = job["scribe_job_id"].as_str().expect("an id").parse().expect("an id");

    // A worker claims it with a one-second lease and dies (never reports again).
    let dead = store::outbox::WorkerId::parse("scribe-dead-1").expect("an id");
    let claimed = app.store.claim_scribe_job(&dead, chrono::TimeDelta::seconds(1), chrono::Utc::now()).await.expect("claims").expect("a job");
    assert_eq!(claimed.lease.scribe_job_id(), id);
    let w = worker(&app, None);
    assert!(w.run_once().await.expect("runs").is_none(), "not while the lease holds");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(w.run_once().await.expect("runs"), Some(id), "taken over after the lease ran out");
    let done = app.store.get_scribe_job(&Actor::system(app.practice_a), ClientScope::Practice, id).await.expect("the job");
    assert_eq!((done.status, done.attempts), (store::jobs::ScribeStatus::Succeeded, 2));
    // The dead worker's late completion cannot overwrite it.
    let late = store::jobs::ScribeOutput { transcript_vtt: "WEBVTT\n".into(), draft_json: "{}".into(), note_id: None };
    assert!(app.store.complete_scribe_job(&claimed.lease, &late).await.is_err());
    app.finish().await;
}

async fn the_administrator_sets_the_records_policy_and_only_the_administrator(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut admin = app.sign_in_as("admin").await;
    assert_eq!(admin.get("/api/practice/records-policy").await.1, json!({ "audio_retention_days": null, "transcript_retention_days": null, "unsigned_alert_hours": null }));
    let r = admin.put("/api/practice/records-policy", json!({ "audio_retention_days": 30, "transcript_retention_days": null, "unsigned_alert_hours": 48 })).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.3);
    assert_eq!(r.1["audio_retention_days"], 30);
    let r = admin.put("/api/practice/records-policy", json!({ "audio_retention_days": 99999, "transcript_retention_days": null, "unsigned_alert_hours": null })).await;
    assert_eq!((r.0, r.1["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("audio_retention_days")));
    let practice = app.store.get_practice(&Actor::system(app.practice_a)).await.expect("the practice");
    assert_eq!(practice.details.settings["audio_retention_days"], 30, "the refused change saved nothing");
    let mut clinician = app.sign_in_as("clinician").await;
    assert_eq!(clinician.put("/api/practice/records-policy", json!({ "audio_retention_days": 0, "transcript_retention_days": null, "unsigned_alert_hours": null })).await.0, StatusCode::FORBIDDEN);

    // With 30 days of audio retention, a transcribed recording keeps its audio.
    let client = seed(&app, true).await;
    let wav = std::fs::read(shared("audio/jfk.wav")).expect("jfk.wav");
    let url = format!("{}/api/scribe/jobs/audio?client_id={client}&kind=dictation&format=soap", app.base);
    let r = reqwest::Client::new().post(&url).header("cookie", clinician.cookie.clone().expect("cookie")).header("content-type", "audio/wav").body(wav).send().await.expect("answers");
    let job: Value = r.json().await.expect("JSON");
    let id: store::ScribeJobId = job["scribe_job_id"].as_str().expect("an id").parse().expect("an id");
    assert!(worker(&app, Some(random_tiny_model())).run_once().await.expect("runs").is_some());
    let done = app.store.get_scribe_job(&Actor::system(app.practice_a), ClientScope::Practice, id).await.expect("the job");
    assert_eq!(done.status, store::jobs::ScribeStatus::Succeeded);
    assert!(done.input.is_some(), "kept under the practice's 30-day policy");
    app.finish().await;
}

on_both_backends!(
    the_administrator_sets_the_records_policy_and_only_the_administrator,
    without_consent_a_session_is_refused_but_dictation_is_not,
    a_transcript_becomes_a_draft_note_with_evidence,
    a_recording_is_transcribed_and_its_audio_deleted,
    a_job_whose_worker_died_is_taken_over,
);
