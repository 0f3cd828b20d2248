//! `hearth` command-line smoke tests on a temporary data folder (embedded SQLite): migrate,
//! user add with the password on stdin, demo, audit verify (intact and tampered), keys rotate.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

fn hearth(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("HEARTH_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hearth binary runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("hearth finishes")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn migrate_creates_the_database_and_a_private_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = hearth(&data, &["migrate"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(data.join("hearth.db").exists());
    let mode = std::fs::metadata(data.join("hearth.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // Running again is harmless.
    assert!(hearth(&data, &["migrate"], None).status.success());
}

#[test]
fn user_add_reads_the_password_from_stdin_and_refuses_duplicates_and_short_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "user",
        "add",
        "--practice",
        "Test Practice",
        "--email",
        "Robin@Example.org",
        "--name",
        "Robin Test",
        "--roles",
        "clinician,supervisor",
        "--password-stdin",
    ];
    let o = hearth(dir.path(), &args, Some("a long enough password\n"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("robin@example.org"));
    let again = hearth(dir.path(), &args, Some("a long enough password\n"));
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already signs in"),
        "{}",
        text(&again)
    );
    let short = hearth(
        dir.path(),
        &[
            "user",
            "add",
            "--practice",
            "Test Practice",
            "--email",
            "sam@example.org",
            "--name",
            "Sam",
            "--roles",
            "biller",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!short.status.success());
    assert!(text(&short).contains("at least 12"), "{}", text(&short));
    let trainee = hearth(
        dir.path(),
        &[
            "user",
            "add",
            "--practice",
            "Test Practice",
            "--email",
            "t@example.org",
            "--name",
            "T",
            "--roles",
            "trainee",
            "--supervisor",
            "robin@example.org",
            "--password-stdin",
        ],
        Some("another long password\n"),
    );
    assert!(trainee.status.success(), "{}", text(&trainee));
}

#[test]
fn demo_seeds_a_fictional_practice_once_and_prints_the_logins() {
    let dir = tempfile::tempdir().unwrap();
    let o = hearth(dir.path(), &["demo"], None);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("fictional"));
    for email in [
        "admin@willowcreek.example",
        "jordan.ruiz@willowcreek.example",
        "frontdesk@willowcreek.example",
        "billing@willowcreek.example",
    ] {
        assert!(out.contains(email), "{email} missing from:\n{out}");
    }
    let again = hearth(dir.path(), &["demo"], None);
    assert!(!again.status.success());
    assert!(text(&again).contains("already"));
}

#[test]
fn audit_verify_passes_on_an_untouched_log_and_fails_after_tampering() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hearth(dir.path(), &["demo"], None).status.success());
    let ok = hearth(dir.path(), &["audit", "verify"], None);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("intact"));
    let db = dir.path().join("hearth.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE audit_event SET action = 'client.nothing_to_see' WHERE seq = 3")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    });
    let bad = hearth(dir.path(), &["audit", "verify"], None);
    assert!(!bad.status.success(), "{}", text(&bad));
    assert!(text(&bad).contains("changed"));
}

#[test]
fn keys_rotate_rewraps_every_record_key_and_the_data_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hearth(dir.path(), &["demo"], None).status.success());
    let before = std::fs::read_to_string(dir.path().join("hearth.key")).unwrap();
    let o = hearth(dir.path(), &["keys", "rotate"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("re-wrapped"));
    assert_ne!(
        before,
        std::fs::read_to_string(dir.path().join("hearth.key")).unwrap()
    );
    // The audit log (written under the new key too) still verifies and the demo re-run still
    // reads the practice list.
    assert!(
        hearth(dir.path(), &["audit", "verify"], None)
            .status
            .success()
    );
}

#[test]
fn a_missing_database_is_not_silently_created_by_audit_verify() {
    let dir = tempfile::tempdir().unwrap();
    let o = hearth(&dir.path().join("typo"), &["audit", "verify"], None);
    assert!(!o.status.success());
    assert!(!dir.path().join("typo").join("hearth.db").exists());
}

#[test]
fn every_subcommand_explains_itself_with_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["user", "add", "--help"],
        vec!["demo", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["keys", "rotate", "--help"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stdout).len() > 80, "{args:?}");
    }
}
