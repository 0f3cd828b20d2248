//! Scribe jobs on both backends: the consent gate, scope, limits, claims that never overlap,
//! leases that expire and are reclaimed (a restart), attempts and backoff, fencing of a lost
//! lease, audio and transcript retention, encryption at rest, and the audit trail.

use std::collections::HashSet;

use chrono::TimeDelta;
use store::{
    Backend, ClientId, ClientScope, StoreError,
    consents::{ConsentKind, NewConsent},
    jobs::{
        Cancellation, FormatKey, InputDisposition, MAX_ATTEMPTS, MAX_AUDIO_BYTES, MAX_TRANSCRIPT_BYTES, NewScribeJob, ScribeFailure, ScribeJobFilter, ScribeKind,
        ScribeOutput, ScribeRetry, ScribeStage, ScribeStatus,
    },
    outbox::WorkerId,
    types::now,
};

use crate::common::{Practice, TestDb, both, client, practice};

const LEASE: TimeDelta = TimeDelta::seconds(30);
/// Stands for session content: it must never appear in a stored byte.
const PHRASE: &str = "violet lighthouse";

fn worker(name: &str) -> WorkerId {
    WorkerId::parse(name).expect("valid worker id")
}

fn audio() -> Vec<u8> {
    format!("RIFF....WAVEfmt the {PHRASE} recording").into_bytes()
}

fn job(client_id: ClientId, kind: ScribeKind) -> NewScribeJob {
    let (media_type, input) = match kind {
        ScribeKind::Transcript => ("text/vtt", format!("WEBVTT\n\n00:00.000 --> 00:03.000\n<v Client>I dream of the {PHRASE}.\n").into_bytes()),
        _ => ("audio/wav", audio()),
    };
    NewScribeJob { client_id, appointment_id: None, kind, format: FormatKey::parse("SOAP").expect("valid"), media_type: media_type.to_owned(), input }
}

fn output() -> ScribeOutput {
    ScribeOutput {
        transcript_vtt: format!("WEBVTT\n\n1\n00:00.000 --> 00:04.000\n<v Client>I keep dreaming of the {PHRASE}.\n"),
        draft_json: format!(r#"{{"format":"soap","sections":[{{"key":"S","sentences":[{{"text":"Client reports a recurring dream of a {PHRASE}.","evidence":["1"],"grounded":true}}]}}]}}"#),
        note_id: None,
    }
}

fn invalid(r: Result<store::jobs::ScribeJob, StoreError>) -> String {
    match r {
        Err(StoreError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {:?}", other.map(|j| j.scribe_job_id)),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A client of `p.clinician` with an active AI-scribing consent.
async fn consented_client(db: &TestDb, p: &Practice, first: &str) -> ClientId {
    let c = db.store.create_client(&p.admin, &client(first, "Scribe", Some(p.clinician.user_id))).await.expect("client");
    let consent = NewConsent { client_id: c.client_id, kind: ConsentKind::AiScribing, disclosure: None, granted_at: now() - TimeDelta::days(1), expires_at: None };
    db.store.record_consent(&p.admin, ClientScope::Practice, &consent).await.expect("consent");
    c.client_id
}

async fn set_settings(db: &TestDb, p: &Practice, settings: serde_json::Value) {
    let mut details = db.store.get_practice(&p.admin).await.expect("practice").details;
    details.settings = settings;
    db.store.update_practice(&p.admin, &details).await.expect("update settings");
}

both! {
    async fn a_session_recording_or_transcript_needs_ai_scribing_consent_but_a_dictation_does_not(db) {
        let p = practice(&db.store, "sjconsent").await;
        let c = db.store.create_client(&p.admin, &client("Cora", "Consent", Some(p.clinician.user_id))).await.expect("client").client_id;
        let me = p.as_user(&p.clinician);
        let scope = Practice::team(&p.clinician);
        for kind in [ScribeKind::SessionRecording, ScribeKind::Transcript] {
            match db.store.create_scribe_job(&me, scope, &job(c, kind)).await {
                Err(e @ StoreError::ConsentRequired { kind: ConsentKind::AiScribing }) => assert!(e.to_string().contains("ai_scribing consent"), "{e}"),
                other => panic!("{kind:?} without consent: expected ConsentRequired, got {other:?}"),
            }
        }
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM scribe_job").await, 0, "a refused job writes nothing");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM scribe_payload").await, 0);

        let d = db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::Dictation)).await.expect("a dictation needs no consent");
        assert_eq!((d.status, d.kind, d.requested_by, d.attempts, d.progress), (ScribeStatus::Queued, ScribeKind::Dictation, p.clinician.user_id, 0, 0));
        assert_eq!(d.format.as_str(), "soap");
        let input = d.input.expect("input stored");
        assert_eq!((input.media_type.as_str(), input.size_bytes), ("audio/wav", audio().len() as i64));

        let consent = NewConsent { client_id: c, kind: ConsentKind::AiScribing, disclosure: None, granted_at: now() - TimeDelta::hours(1), expires_at: None };
        let consent = db.store.record_consent(&p.admin, ClientScope::Practice, &consent).await.expect("consent");
        db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::SessionRecording)).await.expect("recording with consent");
        db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::Transcript)).await.expect("transcript with consent");

        db.store.revoke_consent(&p.admin, ClientScope::Practice, consent.consent_id).await.expect("revoke");
        assert!(matches!(db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::SessionRecording)).await, Err(StoreError::ConsentRequired { .. })), "a revoked consent no longer counts");
        // A recording queued before the revocation is not processed: the claim fails it.
        let mut failed = 0;
        while let Some(claimed) = db.store.claim_scribe_job(&worker("w1"), LEASE, now()).await.expect("claim") {
            assert_eq!(claimed.kind, ScribeKind::Dictation, "only the dictation may still run");
            db.store.complete_scribe_job(&claimed.lease, &output()).await.expect("complete");
        }
        for j in db.store.list_scribe_jobs(&p.admin, ClientScope::Practice, &ScribeJobFilter::default()).await.expect("list") {
            if j.kind != ScribeKind::Dictation {
                assert_eq!((j.status, j.error), (ScribeStatus::Failed, Some(ScribeFailure::ConsentWithdrawn)));
                failed += 1;
            }
        }
        assert_eq!(failed, 2);
    }

    async fn a_client_outside_the_scope_or_the_practice_is_not_found(db) {
        let p = practice(&db.store, "sjscope").await;
        let c = consented_client(&db, &p, "Sam").await;
        let bare = db.store.create_client(&p.admin, &client("Bea", "Bare", Some(p.clinician.user_id))).await.expect("client").client_id;
        let other = p.as_user(&p.other_clinician);
        let other_scope = Practice::team(&p.other_clinician);
        assert!(matches!(db.store.create_scribe_job(&other, other_scope, &job(c, ScribeKind::SessionRecording)).await, Err(StoreError::NotFound)));
        assert!(matches!(db.store.create_scribe_job(&other, other_scope, &job(bare, ScribeKind::SessionRecording)).await, Err(StoreError::NotFound)), "NotFound comes before the consent check, so consent cannot be probed");

        let j = db.store.create_scribe_job(&p.as_user(&p.clinician), Practice::team(&p.clinician), &job(c, ScribeKind::SessionRecording)).await.expect("create").scribe_job_id;
        assert!(matches!(db.store.get_scribe_job(&other, other_scope, j).await, Err(StoreError::NotFound)));
        assert!(matches!(db.store.scribe_job_transcript(&other, other_scope, j).await, Err(StoreError::NotFound)));
        assert!(matches!(db.store.scribe_job_draft(&other, other_scope, j).await, Err(StoreError::NotFound)));
        assert!(matches!(db.store.cancel_scribe_job(&other, other_scope, j).await, Err(StoreError::NotFound)));
        assert!(db.store.list_scribe_jobs(&other, other_scope, &ScribeJobFilter::default()).await.expect("list").is_empty());
        // The admin, with practice scope, sees it.
        assert_eq!(db.store.get_scribe_job(&p.admin, ClientScope::Practice, j).await.expect("admin").client_id, c);

        let q = practice(&db.store, "sjscope2").await;
        assert!(matches!(db.store.get_scribe_job(&q.admin, ClientScope::Practice, j).await, Err(StoreError::NotFound)));
        assert!(matches!(db.store.create_scribe_job(&q.admin, ClientScope::Practice, &job(c, ScribeKind::Dictation)).await, Err(StoreError::NotFound)));
        assert!(db.store.list_scribe_jobs(&q.admin, ClientScope::Practice, &ScribeJobFilter::default()).await.expect("list").is_empty());
    }

    async fn inputs_over_the_limits_are_refused_with_the_limit_in_the_message(db) {
        let p = practice(&db.store, "sjlimits").await;
        let c = consented_client(&db, &p, "Lim").await;
        let me = p.as_user(&p.clinician);
        let scope = Practice::team(&p.clinician);

        let big_audio = NewScribeJob { input: vec![0; MAX_AUDIO_BYTES + 1], ..job(c, ScribeKind::SessionRecording) };
        let m = invalid(db.store.create_scribe_job(&me, scope, &big_audio).await);
        assert!(m.starts_with("input") && m.contains("256.0 MiB"), "{m}");
        let big_text = NewScribeJob { input: vec![b'a'; MAX_TRANSCRIPT_BYTES + 1], ..job(c, ScribeKind::Transcript) };
        let m = invalid(db.store.create_scribe_job(&me, scope, &big_text).await);
        assert!(m.starts_with("input") && m.contains("2.0 MiB"), "{m}");
        for bad in [
            NewScribeJob { input: Vec::new(), ..job(c, ScribeKind::Dictation) },
            NewScribeJob { input: vec![0xff, 0xfe, 0x00], ..job(c, ScribeKind::Transcript) },
            NewScribeJob { media_type: "application/pdf".into(), ..job(c, ScribeKind::Dictation) },
            NewScribeJob { media_type: "audio/wav".into(), ..job(c, ScribeKind::Transcript) },
        ] {
            invalid(db.store.create_scribe_job(&me, scope, &bad).await);
        }
        let m = invalid(db.store.create_scribe_job(&store::Actor::system(p.id), ClientScope::Practice, &job(c, ScribeKind::Dictation)).await);
        assert!(m.contains("user_id"), "{m}");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM scribe_job").await, 0, "nothing refused was written");

        // Exactly at the limit is accepted.
        let at_limit = NewScribeJob { input: vec![b'a'; MAX_TRANSCRIPT_BYTES], ..job(c, ScribeKind::Transcript) };
        let j = db.store.create_scribe_job(&me, scope, &at_limit).await.expect("at the limit");
        assert_eq!(j.input.expect("stored").size_bytes, MAX_TRANSCRIPT_BYTES as i64);
    }

    async fn concurrent_claimers_never_claim_the_same_job(db) {
        let p = practice(&db.store, "sjcc").await;
        let c = consented_client(&db, &p, "Conc").await;
        let me = p.as_user(&p.clinician);
        const N: usize = 24;
        for i in 0..N {
            let kind = if i % 2 == 0 { ScribeKind::Dictation } else { ScribeKind::SessionRecording };
            db.store.create_scribe_job(&me, Practice::team(&p.clinician), &job(c, kind)).await.expect("create");
        }
        // Three handles (as three worker processes would have), two claimers on each.
        let handles = [db.store.clone(), db.reopen().await, db.reopen().await];
        let t0 = now();
        let mut tasks = Vec::new();
        for i in 0..6 {
            let store = handles[i % 3].clone();
            tasks.push(tokio::spawn(async move {
                let w = WorkerId::parse(&format!("w{i}")).expect("valid");
                let mut mine = Vec::new();
                while let Some(claimed) = store.claim_scribe_job(&w, LEASE, t0).await.expect("claim") {
                    assert_eq!((claimed.lease.worker(), claimed.lease.attempt()), (&w, 1));
                    mine.push(claimed.lease.scribe_job_id());
                    tokio::task::yield_now().await;
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("claimer task"));
        }
        let distinct: HashSet<_> = all.iter().copied().collect();
        assert_eq!(all.len(), N, "every job was claimed exactly once in total");
        assert_eq!(distinct.len(), N, "no job was claimed by two claimers");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM scribe_job WHERE status = 'running' AND attempts = 1").await, N as i64);
    }

    async fn an_expired_lease_is_reclaimed_and_the_old_lease_can_no_longer_finish(db) {
        let p = practice(&db.store, "sjlease").await;
        let c = consented_client(&db, &p, "Lee").await;
        let me = p.as_user(&p.clinician);
        let id = db.store.create_scribe_job(&me, Practice::team(&p.clinician), &job(c, ScribeKind::SessionRecording)).await.expect("create").scribe_job_id;
        let t0 = now();
        let a = db.store.claim_scribe_job(&worker("w1"), LEASE, t0).await.expect("claim").expect("a queued job");
        assert_eq!((a.lease.scribe_job_id(), a.lease.attempt(), a.lease_until, a.kind, a.client_id), (id, 1, t0 + LEASE, ScribeKind::SessionRecording, c));
        assert_eq!((a.format.as_str(), a.input_media_type.as_str(), a.requested_by), ("soap", "audio/wav", p.clinician.user_id));
        assert!(db.store.claim_scribe_job(&worker("w2"), LEASE, t0 + TimeDelta::seconds(10)).await.expect("claim").is_none(), "the lease holds");

        // Progress renews the lease.
        let until = db.store.report_scribe_progress(&a.lease, ScribeStage::Transcribing, 40, t0 + TimeDelta::seconds(20)).await.expect("progress");
        assert_eq!(until, t0 + TimeDelta::seconds(50));
        assert!(db.store.claim_scribe_job(&worker("w2"), LEASE, t0 + TimeDelta::seconds(40)).await.expect("claim").is_none(), "the renewed lease holds");
        let seen = db.store.get_scribe_job(&me, Practice::team(&p.clinician), id).await.expect("get");
        assert_eq!((seen.status, seen.progress, seen.stage, seen.lease_owner.as_deref()), (ScribeStatus::Running, 40, Some(ScribeStage::Transcribing), Some("w1")));
        assert!(matches!(db.store.report_scribe_progress(&a.lease, ScribeStage::Drafting, 101, t0).await, Err(StoreError::Invalid(_))));

        // w1 stalls past its lease; w2 takes the job over (what a restart looks like).
        let b = db.store.claim_scribe_job(&worker("w2"), LEASE, t0 + TimeDelta::seconds(51)).await.expect("claim").expect("the expired lease is reclaimed");
        assert_eq!((b.lease.scribe_job_id(), b.lease.attempt()), (id, 2));
        assert_eq!(db.store.get_scribe_job(&me, Practice::team(&p.clinician), id).await.expect("get").attempts, 2);
        assert!(matches!(db.store.report_scribe_progress(&a.lease, ScribeStage::Drafting, 90, t0).await, Err(StoreError::State(_))));
        assert!(matches!(db.store.scribe_job_input(&a.lease).await, Err(StoreError::State(_))));
        assert!(matches!(db.store.fail_scribe_job(&a.lease, ScribeFailure::WorkerError, t0).await, Err(StoreError::State(_))));
        match db.store.complete_scribe_job(&a.lease, &output()).await {
            Err(StoreError::State(m)) => assert!(m.contains("lease was lost"), "{m}"),
            other => panic!("a lost lease must not complete: {other:?}"),
        }
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM scribe_payload WHERE part <> 'input'").await, 0, "the stale worker stored nothing");

        let input = db.store.scribe_job_input(&b.lease).await.expect("input");
        assert_eq!((input.media_type.as_str(), input.bytes), ("audio/wav", audio()));
        assert_eq!(db.store.complete_scribe_job(&b.lease, &output()).await.expect("complete"), InputDisposition::Deleted);
        let done = db.store.get_scribe_job(&me, Practice::team(&p.clinician), id).await.expect("get");
        assert_eq!((done.status, done.progress, done.attempts, done.has_transcript, done.has_draft), (ScribeStatus::Succeeded, 100, 2, true, true));
        assert!(done.finished_at.is_some() && done.input.is_none() && done.lease_owner.is_none());
        assert!(matches!(db.store.complete_scribe_job(&b.lease, &output()).await, Err(StoreError::State(_))), "a job completes once");

        // The same worker name after a restart gets a new attempt; its old lease is still dead.
        let id2 = db.store.create_scribe_job(&me, Practice::team(&p.clinician), &job(c, ScribeKind::Dictation)).await.expect("create").scribe_job_id;
        let t1 = now();
        let old = db.store.claim_scribe_job(&worker("w1"), LEASE, t1).await.expect("claim").expect("job");
        let new = db.store.claim_scribe_job(&worker("w1"), LEASE, t1 + TimeDelta::seconds(31)).await.expect("claim").expect("reclaimed");
        assert_eq!((old.lease.scribe_job_id(), new.lease.scribe_job_id(), new.lease.attempt()), (id2, id2, 2));
        assert!(matches!(db.store.complete_scribe_job(&old.lease, &output()).await, Err(StoreError::State(_))), "the attempt number fences a restarted worker of the same name");
        db.store.complete_scribe_job(&new.lease, &output()).await.expect("the current attempt completes");
    }

    async fn attempts_are_limited_and_failures_back_off(db) {
        let p = practice(&db.store, "sjmax").await;
        let c = consented_client(&db, &p, "Max").await;
        let me = p.as_user(&p.clinician);
        let scope = Practice::team(&p.clinician);

        // A worker that dies every time: after MAX_ATTEMPTS claims the job fails instead.
        let a = db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::SessionRecording)).await.expect("create").scribe_job_id;
        let t0 = now();
        let mut t = t0;
        for attempt in 1..=MAX_ATTEMPTS {
            let claimed = db.store.claim_scribe_job(&worker("crashy"), LEASE, t).await.expect("claim").expect("claimable");
            assert_eq!((claimed.lease.scribe_job_id(), claimed.lease.attempt()), (a, attempt));
            t += LEASE + TimeDelta::seconds(1);
        }
        assert!(db.store.claim_scribe_job(&worker("crashy"), LEASE, t).await.expect("claim").is_none(), "not claimed a fourth time");
        let failed = db.store.get_scribe_job(&me, scope, a).await.expect("get");
        assert_eq!((failed.status, failed.attempts, failed.error), (ScribeStatus::Failed, MAX_ATTEMPTS, Some(ScribeFailure::Abandoned)));
        assert!(failed.finished_at.is_some() && failed.lease_owner.is_none());
        assert!(failed.input.is_some(), "a failed job's input is kept for a while, so it can be retried");

        // Failures that may pass are retried after a backoff, until the attempts run out.
        let b = db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::Dictation)).await.expect("create").scribe_job_id;
        let t1 = now();
        let l1 = db.store.claim_scribe_job(&worker("w1"), LEASE, t1).await.expect("claim").expect("job").lease;
        let ScribeRetry::Requeued(at1) = db.store.fail_scribe_job(&l1, ScribeFailure::ModelUnavailable, t1).await.expect("fail") else { panic!("retried") };
        assert!(at1 >= t1 + TimeDelta::seconds(15) && at1 <= t1 + TimeDelta::seconds(30), "first backoff is 15-30 s: {}", at1 - t1);
        let queued = db.store.get_scribe_job(&me, scope, b).await.expect("get");
        assert_eq!((queued.status, queued.error, queued.next_attempt_at), (ScribeStatus::Queued, Some(ScribeFailure::ModelUnavailable), at1));
        assert!(db.store.claim_scribe_job(&worker("w1"), LEASE, at1 - TimeDelta::seconds(1)).await.expect("claim").is_none(), "not before the backoff");
        let l2 = db.store.claim_scribe_job(&worker("w1"), LEASE, at1).await.expect("claim").expect("due").lease;
        assert_eq!((l2.scribe_job_id(), l2.attempt()), (b, 2));
        let ScribeRetry::Requeued(at2) = db.store.fail_scribe_job(&l2, ScribeFailure::WorkerError, at1).await.expect("fail") else { panic!("retried") };
        assert!(at2 - at1 >= TimeDelta::seconds(30), "the backoff doubles: {}", at2 - at1);
        let l3 = db.store.claim_scribe_job(&worker("w1"), LEASE, at2).await.expect("claim").expect("due").lease;
        assert_eq!(l3.attempt(), 3);
        assert_eq!(db.store.fail_scribe_job(&l3, ScribeFailure::WorkerError, at2).await.expect("fail"), ScribeRetry::Failed, "the last attempt's failure is final");
        assert_eq!(db.store.get_scribe_job(&me, scope, b).await.expect("get").status, ScribeStatus::Failed);

        // A permanent failure is final at once; staff can retry it while the input is kept.
        let d = db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::Dictation)).await.expect("create").scribe_job_id;
        let l = db.store.claim_scribe_job(&worker("w1"), LEASE, now()).await.expect("claim").expect("job").lease;
        assert_eq!(l.scribe_job_id(), d);
        assert_eq!(db.store.fail_scribe_job(&l, ScribeFailure::UnreadableInput, now()).await.expect("fail"), ScribeRetry::Failed);
        assert!(matches!(db.store.retry_scribe_job(&me, scope, b).await, Ok(j) if j.status == ScribeStatus::Queued && j.attempts == 0 && j.error.is_none()));
        let again = db.store.claim_scribe_job(&worker("w1"), LEASE, now()).await.expect("claim").expect("requeued by staff");
        assert_eq!((again.lease.scribe_job_id(), again.lease.attempt()), (b, 1));
        assert!(matches!(db.store.retry_scribe_job(&me, scope, b).await, Err(StoreError::State(_))), "only a failed job is retried");
    }

    async fn completing_deletes_the_audio_by_default_and_retention_keeps_it_until_the_purge(db) {
        let p = practice(&db.store, "sjretain").await;
        let c = consented_client(&db, &p, "Ret").await;
        let me = p.as_user(&p.clinician);
        let scope = Practice::team(&p.clinician);

        // Default: the audio goes when the job succeeds, with its data key.
        let j1 = db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::SessionRecording)).await.expect("create").scribe_job_id;
        let lease = db.store.claim_scribe_job(&worker("w1"), LEASE, now()).await.expect("claim").expect("job").lease;
        let keys_before = db.raw_i64("SELECT COUNT(*) FROM data_key").await;
        assert_eq!(db.store.complete_scribe_job(&lease, &output()).await.expect("complete"), InputDisposition::Deleted);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM data_key").await, keys_before + 1, "two payload keys added, the input's key deleted");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM scribe_payload WHERE part = 'input'").await, 0);
        assert!(db.store.get_scribe_job(&me, scope, j1).await.expect("get").input.is_none());

        // With audio_retention_days the audio stays until the purge finds it old enough.
        set_settings(&db, &p, serde_json::json!({"audio_retention_days": 7, "transcript_retention_days": 30})).await;
        let j2 = db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::SessionRecording)).await.expect("create").scribe_job_id;
        let lease = db.store.claim_scribe_job(&worker("w1"), LEASE, now()).await.expect("claim").expect("job").lease;
        let before = now();
        let InputDisposition::KeptUntil(until) = db.store.complete_scribe_job(&lease, &output()).await.expect("complete") else { panic!("kept") };
        assert!(until >= before + TimeDelta::days(7) && until <= now() + TimeDelta::days(7), "kept seven days");
        assert!(db.store.get_scribe_job(&me, scope, j2).await.expect("get").input.is_some());

        let t = now();
        assert_eq!(db.store.purge_expired_scribe_audio(t + TimeDelta::days(6)).await.expect("purge").inputs, 0, "not yet");
        assert!(db.store.get_scribe_job(&me, scope, j2).await.expect("get").input.is_some());
        let purged = db.store.purge_expired_scribe_audio(t + TimeDelta::days(8)).await.expect("purge");
        assert_eq!((purged.inputs, purged.transcripts), (1, 0));
        assert!(db.store.get_scribe_job(&me, scope, j2).await.expect("get").input.is_none());
        let actions: Vec<String> = db.store.audit_events_for_object(&p.admin, "scribe_job", &j2.to_string()).await.expect("audit").into_iter().map(|e| e.action).collect();
        assert!(actions.iter().any(|a| a == "scribe_job.audio_deleted"), "{actions:?}");

        // transcript_retention_days: transcripts go after their days, drafts stay.
        let purged = db.store.purge_expired_scribe_audio(t + TimeDelta::days(31)).await.expect("purge");
        assert_eq!((purged.inputs, purged.transcripts), (0, 2));
        for j in [j1, j2] {
            assert_eq!(db.store.scribe_job_transcript(&me, scope, j).await.expect("read"), None);
            assert!(db.store.scribe_job_draft(&me, scope, j).await.expect("read").is_some());
        }
        assert_eq!(db.store.purge_expired_scribe_audio(t + TimeDelta::days(60)).await.expect("purge"), Default::default(), "nothing left to purge");

        // Another practice without settings: a failed job's audio is kept a week, then purged.
        let q = practice(&db.store, "sjretain2").await;
        let qc = consented_client(&db, &q, "Fay").await;
        let qj = db.store.create_scribe_job(&q.as_user(&q.clinician), ClientScope::Practice, &job(qc, ScribeKind::SessionRecording)).await.expect("create").scribe_job_id;
        let lease = db.store.claim_scribe_job(&worker("w1"), LEASE, now()).await.expect("claim").expect("job").lease;
        db.store.fail_scribe_job(&lease, ScribeFailure::NoSpeech, now()).await.expect("fail");
        assert_eq!(db.store.purge_expired_scribe_audio(now() + TimeDelta::days(6)).await.expect("purge").inputs, 0);
        assert_eq!(db.store.purge_expired_scribe_audio(now() + TimeDelta::days(8)).await.expect("purge").inputs, 1);
        assert!(db.store.get_scribe_job(&q.admin, ClientScope::Practice, qj).await.expect("get").input.is_none());
        assert!(matches!(db.store.retry_scribe_job(&q.admin, ClientScope::Practice, qj).await, Err(StoreError::State(_))), "nothing left to retry");
    }

    async fn payloads_are_sealed_at_rest(db) {
        let p = practice(&db.store, "sjseal").await;
        set_settings(&db, &p, serde_json::json!({"audio_retention_days": 30})).await;
        let c = consented_client(&db, &p, "Sealy").await;
        let me = p.as_user(&p.clinician);
        let scope = Practice::team(&p.clinician);
        let rec = db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::SessionRecording)).await.expect("create").scribe_job_id;
        let text = db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::Transcript)).await.expect("create").scribe_job_id;
        for _ in 0..2 {
            let lease = db.store.claim_scribe_job(&worker("w1"), LEASE, now()).await.expect("claim").expect("job").lease;
            db.store.complete_scribe_job(&lease, &output()).await.expect("complete");
        }
        let blobs = db.raw_blobs("SELECT body FROM scribe_payload").await;
        assert_eq!(blobs.len(), 6, "input, transcript and draft of both jobs");
        for b in &blobs {
            assert!(!contains(b, PHRASE.as_bytes()), "a payload is stored in plaintext");
        }
        // The store reads them back.
        assert!(db.store.scribe_job_transcript(&me, scope, rec).await.expect("read").expect("stored").contains(PHRASE));
        assert!(db.store.scribe_job_draft(&me, scope, text).await.expect("read").expect("stored").contains(PHRASE));
        // Ciphertext moved from one part to another does not open.
        db.raw_ids("UPDATE scribe_payload SET body = (SELECT s.body FROM scribe_payload s WHERE s.scribe_job_id = $1 AND s.part = 'transcript') WHERE scribe_job_id = $1 AND part = 'draft'", &[rec.as_uuid()])
            .await
            .expect("raw swap");
        assert!(matches!(db.store.scribe_job_draft(&me, scope, rec).await, Err(StoreError::Decrypt { table: "scribe_payload", .. })));

        // Nowhere in the database: every file on SQLite (WAL included), every job row on PostgreSQL.
        match db.backend {
            Backend::Sqlite => {
                db.store.close().await;
                let mut scanned = 0;
                for suffix in ["", "-wal"] {
                    if let Ok(bytes) = std::fs::read(db.dir.path().join(format!("hearth.db{suffix}"))) {
                        scanned += bytes.len();
                        assert!(!contains(&bytes, PHRASE.as_bytes()), "the phrase is in hearth.db{suffix}");
                    }
                }
                assert!(scanned > 10_000, "the database files were read ({scanned} bytes)");
            }
            Backend::Postgres => {
                let hex_phrase = hex::encode(PHRASE);
                for table in ["scribe_payload", "scribe_job", "audit_event"] {
                    for row in db.pg_rows_as_text(table).await {
                        assert!(!row.contains(PHRASE) && !row.contains(&hex_phrase), "{table} holds the phrase: {row}");
                    }
                }
            }
        }
    }

    async fn reads_writes_and_deletions_are_audited(db) {
        let p = practice(&db.store, "sjaudit").await;
        let c = consented_client(&db, &p, "Aud").await;
        let me = p.as_user(&p.clinician);
        let scope = Practice::team(&p.clinician);
        let id = db.store.create_scribe_job(&me, scope, &job(c, ScribeKind::SessionRecording)).await.expect("create").scribe_job_id;
        db.store.get_scribe_job(&me, scope, id).await.expect("get");
        db.store.list_scribe_jobs(&me, scope, &ScribeJobFilter::default()).await.expect("list");
        let claimed = db.store.claim_scribe_job(&worker("scribe-1"), LEASE, now()).await.expect("claim").expect("job");
        db.store.report_scribe_progress(&claimed.lease, ScribeStage::Decoding, 5, now()).await.expect("progress");
        db.store.scribe_job_input(&claimed.lease).await.expect("input");
        db.store.complete_scribe_job(&claimed.lease, &output()).await.expect("complete");
        db.store.scribe_job_transcript(&me, scope, id).await.expect("transcript");
        db.store.scribe_job_draft(&me, scope, id).await.expect("draft");

        let events = db.store.audit_events_for_object(&p.admin, "scribe_job", &id.to_string()).await.expect("audit");
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "scribe_job.create", "scribe_job.read_meta", "scribe_job.list", "scribe_job.claim", "scribe_job.read_input", "scribe_job.complete",
                "scribe_job.audio_deleted", "scribe_job.read_transcript", "scribe_job.read_draft",
            ]
        );
        let by = |a: &str| events.iter().find(|e| e.action == a).expect("event");
        assert_eq!(by("scribe_job.create").user_id, Some(p.clinician.user_id));
        assert_eq!(by("scribe_job.read_transcript").user_id, Some(p.clinician.user_id));
        for system in ["scribe_job.claim", "scribe_job.read_input", "scribe_job.audio_deleted"] {
            let e = by(system);
            assert_eq!((e.user_id, e.request_id.as_deref(), e.practice_id), (None, Some("scribe-1"), Some(p.id)), "{system} is the worker's");
        }
        assert!(matches!(db.store.verify_audit().await.expect("verify"), store::AuditReport::Intact { .. }));
    }

    async fn the_review_queue_filters_by_clinician_and_status_and_cancelling_stops_the_worker(db) {
        let p = practice(&db.store, "sjqueue").await;
        let mine = consented_client(&db, &p, "Mia").await;
        let theirs = db.store.create_client(&p.admin, &client("Theo", "Theirs", Some(p.other_clinician.user_id))).await.expect("client").client_id;
        let me = p.as_user(&p.clinician);
        let scope = Practice::team(&p.clinician);
        let other = p.as_user(&p.other_clinician);
        let j1 = db.store.create_scribe_job(&me, scope, &job(mine, ScribeKind::Dictation)).await.expect("create").scribe_job_id;
        let j2 = db.store.create_scribe_job(&other, Practice::team(&p.other_clinician), &job(theirs, ScribeKind::Dictation)).await.expect("create").scribe_job_id;
        let j3 = db.store.create_scribe_job(&me, scope, &job(mine, ScribeKind::SessionRecording)).await.expect("create").scribe_job_id;

        let ids = |jobs: Vec<store::jobs::ScribeJob>| jobs.into_iter().map(|j| j.scribe_job_id).collect::<Vec<_>>();
        let all = ScribeJobFilter::default();
        assert_eq!(ids(db.store.list_scribe_jobs(&p.admin, ClientScope::Practice, &all).await.expect("list")), [j1, j2, j3], "oldest first");
        let by_me = ScribeJobFilter { requested_by: Some(p.clinician.user_id), ..all };
        assert_eq!(ids(db.store.list_scribe_jobs(&p.admin, ClientScope::Practice, &by_me).await.expect("list")), [j1, j3]);
        assert_eq!(ids(db.store.list_scribe_jobs(&other, Practice::team(&p.other_clinician), &all).await.expect("list")), [j2], "scope applies");

        let running = db.store.claim_scribe_job(&worker("w1"), LEASE, now()).await.expect("claim").expect("job");
        assert_eq!(running.lease.scribe_job_id(), j1);
        let queued = ScribeJobFilter { status: Some(ScribeStatus::Queued), ..by_me };
        assert_eq!(ids(db.store.list_scribe_jobs(&me, scope, &queued).await.expect("list")), [j3]);
        let for_client = ScribeJobFilter { client_id: Some(theirs), ..all };
        assert_eq!(ids(db.store.list_scribe_jobs(&p.admin, ClientScope::Practice, &for_client).await.expect("list")), [j2]);

        // Cancelling a queued job: never claimed, input deleted at once.
        assert_eq!(db.store.cancel_scribe_job(&me, scope, j3).await.expect("cancel"), Cancellation::Cancelled);
        assert_eq!(db.store.cancel_scribe_job(&me, scope, j3).await.expect("cancel"), Cancellation::TooLate(ScribeStatus::Cancelled));
        let j = db.store.get_scribe_job(&me, scope, j3).await.expect("get");
        assert!(j.status == ScribeStatus::Cancelled && j.input.is_none() && j.finished_at.is_some());
        // Cancelling a running job: the worker's lease is lost.
        assert_eq!(db.store.cancel_scribe_job(&me, scope, j1).await.expect("cancel"), Cancellation::Cancelled);
        assert!(matches!(db.store.report_scribe_progress(&running.lease, ScribeStage::Drafting, 80, now()).await, Err(StoreError::State(_))));
        assert!(matches!(db.store.complete_scribe_job(&running.lease, &output()).await, Err(StoreError::State(_))));
        let next = db.store.claim_scribe_job(&worker("w1"), LEASE, now() + TimeDelta::hours(2)).await.expect("claim").expect("j2 is left");
        assert_eq!(next.lease.scribe_job_id(), j2, "cancelled jobs are never claimed");
        assert!(db.store.claim_scribe_job(&worker("w2"), LEASE, now() + TimeDelta::hours(2)).await.expect("claim").is_none(), "j2 is running");
    }
}
