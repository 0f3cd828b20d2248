//! The scribe job worker (DESIGN flow 4): claims a queued job, turns its input into a
//! transcript (audio through the scribe's front end and whisper; a transcript parsed as is),
//! drafts the note in the job's format with evidence and risk flags, saves the draft as an
//! unsigned note authored by the clinician who asked for it, and completes the job. Progress
//! goes to the job row (stage words and percentages, never PHI), which also renews the lease;
//! a worker that dies leaves a lease that expires, and the next claim takes the job over, so a
//! restart loses nothing. Runs inside `hearth serve` (default) or as `hearth worker`
//! processes. The note is a draft: the system never signs (DESIGN invariant).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use models::embed::MiniLmEmbedder;
use models::speech::{WhisperConfig, WhisperSpeech};
use prompts::FormatRegistry;
use scribe::cpt::SessionKind;
use scribe::{Draft, DraftOptions, Transcript};
use store::jobs::{ClaimedScribeJob, ScribeFailure, ScribeKind, ScribeLease, ScribeOutput, ScribeStage};
use store::notes::NewNote;
use store::outbox::WorkerId;
use store::{Actor, ClientScope, ScribeJobId, Store};
use tokio::sync::{Mutex, watch};

/// How the worker runs. From `[scribe]` in `hearth.toml`.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Run a worker inside `hearth serve` (default true).
    pub in_serve: bool,
    /// A speech model name from `hearth models list`, or a model file's path.
    pub speech_model: String,
    /// Where models are (`HEARTH_MODELS_DIR` or ./models by default).
    pub models_dir: PathBuf,
    /// How long a claim lasts without a progress report.
    pub lease: TimeDelta,
    /// How often an idle worker looks for work.
    pub poll: Duration,
    /// Threads for speech to text.
    pub threads: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            in_serve: true,
            speech_model: "base.en".to_owned(),
            models_dir: models::manifest::models_dir(),
            lease: TimeDelta::minutes(5),
            poll: Duration::from_secs(2),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// How often a worker deletes audio and transcripts past the practice's retention.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Why an attempt stopped, with the code the job records.
struct Stop {
    failure: ScribeFailure,
    cause: anyhow::Error,
}

impl Stop {
    fn new(failure: ScribeFailure, cause: impl Into<anyhow::Error>) -> Self {
        Self { failure, cause: cause.into() }
    }
}

/// One worker; cheap to clone into tasks.
#[derive(Clone)]
pub struct ScribeWorker {
    store: Store,
    settings: WorkerSettings,
    id: WorkerId,
    /// The embedding model, loaded on first use and kept.
    embedder: Arc<Mutex<Option<MiniLmEmbedder>>>,
}

impl ScribeWorker {
    pub fn new(store: Store, settings: WorkerSettings) -> anyhow::Result<Self> {
        let id = WorkerId::parse(&format!("scribe-{}-{:08x}", std::process::id(), rand::random::<u32>())).context("making a worker id")?;
        Ok(Self { store, settings, id, embedder: Arc::new(Mutex::new(None)) })
    }

    pub fn id(&self) -> &WorkerId {
        &self.id
    }

    /// Claims and runs one job; `None` when nothing was due.
    pub async fn run_once(&self) -> anyhow::Result<Option<ScribeJobId>> {
        let Some(job) = self.store.claim_scribe_job(&self.id, self.settings.lease, Utc::now()).await.context("claiming a scribe job")? else {
            return Ok(None);
        };
        let id = job.lease.scribe_job_id();
        tracing::info!(job = %id, attempt = job.lease.attempt(), kind = job.kind.as_str(), "scribe job started");
        match self.work(&job).await {
            Ok(()) => tracing::info!(job = %id, "scribe job finished"),
            Err(stop) => {
                // The cause may quote the input (a parse error): log it at debug only.
                tracing::warn!(job = %id, failure = stop.failure.as_str(), "scribe job attempt failed");
                tracing::debug!(job = %id, cause = %format!("{:#}", stop.cause), "scribe job failure cause");
                let outcome = self.store.fail_scribe_job(&job.lease, stop.failure, Utc::now()).await.context("recording a failed attempt")?;
                tracing::info!(job = %id, ?outcome, "scribe job attempt recorded");
            }
        }
        Ok(Some(id))
    }

    /// Runs until `shutdown` turns true; a job in progress is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut last_purge: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            // Retention: audio and transcripts past the practice's limits, checked hourly.
            if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                last_purge = Some(std::time::Instant::now());
                match self.store.purge_expired_scribe_audio(Utc::now()).await {
                    Ok(p) => tracing::info!(inputs = p.inputs, transcripts = p.transcripts, "scribe retention purge"),
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "the scribe retention purge failed; it runs again in an hour"),
                }
            }
            match self.run_once().await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => tracing::error!(error = %format!("{e:#}"), "the scribe worker could not reach the store; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn progress(&self, lease: &ScribeLease, stage: ScribeStage, percent: u8) -> Result<(), Stop> {
        self.store.report_scribe_progress(lease, stage, percent, Utc::now()).await.map(|_| ()).map_err(|e| Stop::new(ScribeFailure::WorkerError, e))
    }

    async fn work(&self, job: &ClaimedScribeJob) -> Result<(), Stop> {
        let lease = &job.lease;
        let input = self.store.scribe_job_input(lease).await.map_err(|e| Stop::new(ScribeFailure::WorkerError, e))?;
        let transcript = match job.kind {
            ScribeKind::Transcript => {
                self.progress(lease, ScribeStage::Decoding, 5).await?;
                let text = String::from_utf8(input.bytes).map_err(|e| Stop::new(ScribeFailure::UnreadableInput, e))?;
                let t = Transcript::parse(&text).map_err(|e| Stop::new(ScribeFailure::UnreadableInput, e))?;
                if t.cues.is_empty() {
                    return Err(Stop::new(ScribeFailure::NoSpeech, anyhow::anyhow!("the transcript has no cues")));
                }
                t
            }
            ScribeKind::SessionRecording | ScribeKind::Dictation => self.transcribe(lease, input.bytes).await?,
        };
        self.progress(lease, ScribeStage::Drafting, 80).await?;
        let draft = self.draft(job, &transcript).await?;
        self.progress(lease, ScribeStage::Checking, 95).await?;
        let draft_json = serde_json::to_string(&draft).map_err(|e| Stop::new(ScribeFailure::WorkerError, e))?;
        let author = Actor::user(job.practice_id, job.requested_by).with_request_id(self.id.as_str());
        let note = NewNote { client_id: job.client_id, appointment_id: job.appointment_id, format: draft.format.clone(), body: note_body(&draft) };
        let note = self.store.create_note(&author, ClientScope::Practice, &note).await.map_err(|e| Stop::new(ScribeFailure::WorkerError, e))?;
        let output = ScribeOutput { transcript_vtt: transcript.to_webvtt(), draft_json, note_id: Some(note.summary.note_id) };
        self.store.complete_scribe_job(lease, &output).await.map_err(|e| Stop::new(ScribeFailure::WorkerError, e))?;
        Ok(())
    }

    /// Audio to transcript on a blocking thread, reporting progress as it goes.
    async fn transcribe(&self, lease: &ScribeLease, audio: Vec<u8>) -> Result<Transcript, Stop> {
        self.progress(lease, ScribeStage::Decoding, 2).await?;
        let model = crate::model_commands::resolve_speech_model(&self.settings.speech_model, Some(&self.settings.models_dir)).map_err(|e| Stop::new(ScribeFailure::ModelUnavailable, e))?;
        // The decoder reads files: the audio goes to a private (0600) temporary file in the
        // system's temp folder that is removed when this function returns, whatever happens.
        let file = tempfile::Builder::new().prefix("hearth-scribe-").tempfile().map_err(|e| Stop::new(ScribeFailure::WorkerError, e))?;
        std::fs::write(file.path(), &audio).map_err(|e| Stop::new(ScribeFailure::WorkerError, e))?;
        drop(audio);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u8>();
        let threads = self.settings.threads;
        let path = file.path().to_owned();
        let task = tokio::task::spawn_blocking(move || -> Result<Transcript, Stop> {
            let mut engine = WhisperSpeech::load(&WhisperConfig::new(&model, threads)).map_err(|e| Stop::new(ScribeFailure::ModelUnavailable, e))?;
            let options = scribe::FileTranscribeOptions::default();
            let mut last = 0u8;
            let mut report = |p: scribe::Progress| {
                let pct = 10 + (p.fraction.unwrap_or(0.0).clamp(0.0, 1.0) * 65.0) as u8;
                if pct >= last + 5 {
                    last = pct;
                    let _ = tx.send(pct);
                }
            };
            scribe::transcribe_file(&path, &mut engine, &options, &mut report).map_err(|e| {
                use scribe::ScribeError as E;
                let unreadable = matches!(e, E::EmptyAudio | E::UnsupportedFormat | E::UnsupportedCodec | E::NoAudioTrack | E::CorruptAudio(_) | E::UnsupportedChannels(_));
                Stop::new(if unreadable { ScribeFailure::UnreadableInput } else { ScribeFailure::WorkerError }, e)
            })
        });
        self.progress(lease, ScribeStage::Transcribing, 10).await?;
        while let Some(pct) = rx.recv().await {
            self.progress(lease, ScribeStage::Transcribing, pct).await?;
        }
        let transcript = task.await.map_err(|e| Stop::new(ScribeFailure::WorkerError, e))??;
        drop(file);
        if transcript.cues.is_empty() {
            return Err(Stop::new(ScribeFailure::NoSpeech, anyhow::anyhow!("no speech was found")));
        }
        Ok(transcript)
    }

    async fn draft(&self, job: &ClaimedScribeJob, transcript: &Transcript) -> Result<Draft, Stop> {
        let registry = FormatRegistry::builtin_only();
        let key = job.format.as_str().to_owned();
        let options = DraftOptions { kind: (job.kind == ScribeKind::Dictation).then_some(SessionKind::Dictation), clinician_voice: None, client_voice: None };
        let dir = self.settings.models_dir.clone();
        let slot = self.embedder.clone();
        let transcript = transcript.clone();
        let mut guard = slot.lock_owned().await;
        tokio::task::spawn_blocking(move || -> Result<Draft, Stop> {
            if guard.is_none() {
                *guard = Some(MiniLmEmbedder::load_verified(&dir).map_err(|e| Stop::new(ScribeFailure::ModelUnavailable, e))?);
            }
            let embedder = guard.as_mut().expect("loaded just above");
            let format = registry.get(&key).ok_or_else(|| Stop::new(ScribeFailure::WorkerError, anyhow::anyhow!("no note format `{key}`")))?;
            scribe::draft_transcript(&transcript, format, &options, embedder, MiniLmEmbedder::MANIFEST_NAME).map_err(|e| Stop::new(ScribeFailure::WorkerError, e))
        })
        .await
        .map_err(|e| Stop::new(ScribeFailure::WorkerError, e))?
    }
}

/// The note text of a draft: risk flags first, then each section's sentences. A sentence the
/// grounding check could not support is marked so it is never read as fact.
pub fn note_body(draft: &Draft) -> String {
    let mut out = String::new();
    if !draft.risk_flags.is_empty() {
        out.push_str("Risk flags (from the transcript; review first):\n");
        for f in &draft.risk_flags {
            out.push_str(&format!("- {} ({}): \"{}\"\n", f.category, f.severity, f.quote));
        }
        out.push('\n');
    }
    for s in &draft.sections {
        out.push_str(&format!("{}:\n", s.title));
        if s.sentences.is_empty() {
            out.push_str("Not discussed.\n");
        }
        for sentence in &s.sentences {
            if sentence.grounded {
                out.push_str(&format!("{}\n", sentence.text));
            } else {
                out.push_str(&format!("[Unsupported: check against the transcript] {}\n", sentence.text));
            }
        }
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// A worker running in the background of this process.
pub struct RunningWorker {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningWorker {
    pub fn start(w: ScribeWorker) -> Self {
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(w.run(rx));
        Self { shutdown, task }
    }

    /// Asks it to stop and waits for the job in progress.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
