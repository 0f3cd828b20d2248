//! `hearth models pull` against a local HTTP/1.1 server that serves the real stories260K.gguf,
//! honours `Range`, and can cut the connection halfway or corrupt the bytes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use assistant::model_download::{PullError, PullOptions, PullProgress, pull_model};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MODEL: &str = "stories260K";

fn model_bytes() -> Vec<u8> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/stories260K.gguf");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "test model {} is missing ({e}); the shared models folder must be checked out",
            path.display()
        )
    })
}

/// How the server misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Honest,
    /// The first N responses stop after half the body, then close the connection.
    DropFirst(usize),
    /// Every byte flipped: same size, wrong hash.
    Corrupt,
    NotFound,
}

/// (path, Range header) of each request the server saw.
type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct Server {
    base_url: String,
    requests: RequestLog,
}

async fn serve(mode: Mode) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    let body = Arc::new(match mode {
        Mode::Corrupt => model_bytes().iter().map(|b| !b).collect(),
        _ => model_bytes(),
    });
    tokio::spawn(async move {
        let mut served = 0usize;
        loop {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.expect("read request");
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let range = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("range: ")
                    .map(|v| v.trim().to_string())
            });
            log.lock().unwrap().push((path.clone(), range.clone()));
            if mode == Mode::NotFound || !path.ends_with("/stories260K.gguf") {
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
                continue;
            }
            let start: usize = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.trim_end_matches('-').parse().ok())
                .unwrap_or(0);
            let total = body.len();
            let status = if start > 0 {
                format!(
                    "206 Partial Content\r\ncontent-range: bytes {start}-{}/{total}",
                    total - 1
                )
            } else {
                "200 OK".to_string()
            };
            let header = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\naccept-ranges: bytes\r\nconnection: close\r\n\r\n",
                total - start
            );
            let _ = sock.write_all(header.as_bytes()).await;
            let drop_now = matches!(mode, Mode::DropFirst(n) if served < n);
            served += 1;
            let end = if drop_now {
                start + (total - start) / 2
            } else {
                total
            };
            let _ = sock.write_all(&body[start..end]).await;
            let _ = sock.flush().await;
            // Dropping the socket here closes the connection, mid-body when `drop_now`.
        }
    });
    Server { base_url, requests }
}

fn options(server: &Server, dir: &tempfile::TempDir, max_attempts: u32) -> PullOptions {
    PullOptions {
        base_url: server.base_url.clone(),
        dir: dir.path().to_path_buf(),
        max_attempts,
    }
}

fn sha256(path: &std::path::Path) -> String {
    models::manifest::sha256_file(path).expect("readable file")
}

#[tokio::test]
async fn a_model_is_downloaded_verified_and_moved_into_place() {
    let server = serve(Mode::Honest).await;
    let dir = tempfile::tempdir().unwrap();
    let mut events = Vec::new();

    let paths = pull_model(MODEL, &options(&server, &dir, 1), &mut |p| events.push(p))
        .await
        .expect("pull succeeds");

    assert_eq!(paths, vec![dir.path().join("stories260K.gguf")]);
    assert_eq!(
        sha256(&paths[0]),
        models::manifest::find(MODEL).unwrap().files[0].sha256
    );
    assert!(
        !dir.path().join("stories260K.gguf.part").exists(),
        "no partial file is left behind"
    );
    assert!(matches!(events.last(), Some(PullProgress::Verified { .. })));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PullProgress::Advanced { done, total, .. } if done == total))
    );
    let verified = models::manifest::verified_paths(MODEL, dir.path())
        .expect("the models crate accepts the file");
    assert_eq!(verified, paths);
}

#[tokio::test]
async fn a_dropped_connection_is_resumed_with_a_range_request() {
    let server = serve(Mode::DropFirst(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut events = Vec::new();

    let paths = pull_model(MODEL, &options(&server, &dir, 3), &mut |p| events.push(p))
        .await
        .expect("pull resumes");

    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(
        requests.len(),
        2,
        "one cut request, one resumed request: {requests:?}"
    );
    assert_eq!(requests[0].1, None);
    let half = model_bytes().len() / 2;
    assert_eq!(
        requests[1].1.as_deref(),
        Some(format!("bytes={half}-").as_str())
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PullProgress::Retrying { done, .. } if *done == half as u64))
    );
    assert_eq!(
        sha256(&paths[0]),
        models::manifest::find(MODEL).unwrap().files[0].sha256
    );
}

#[tokio::test]
async fn an_interrupted_pull_keeps_its_part_file_and_the_next_pull_resumes_it() {
    let server = serve(Mode::DropFirst(1)).await;
    let dir = tempfile::tempdir().unwrap();

    let first = pull_model(MODEL, &options(&server, &dir, 1), &mut |_| {}).await;
    let part = dir.path().join("stories260K.gguf.part");
    let kept = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let second = pull_model(MODEL, &options(&server, &dir, 1), &mut |_| {}).await;

    let err = first.expect_err("one attempt against a dropping server fails");
    assert!(matches!(err, PullError::Interrupted { .. }), "{err}");
    assert!(
        err.to_string().contains("hearth models pull stories260K"),
        "{err}"
    );
    assert_eq!(
        kept,
        (model_bytes().len() / 2) as u64,
        "the half that arrived was kept"
    );
    let paths = second.expect("the second pull completes from the part file");
    assert_eq!(
        server.requests.lock().unwrap()[1].1.as_deref(),
        Some(format!("bytes={kept}-").as_str())
    );
    assert_eq!(
        sha256(&paths[0]),
        models::manifest::find(MODEL).unwrap().files[0].sha256
    );
}

#[tokio::test]
async fn a_download_with_the_wrong_hash_is_removed_and_says_what_to_do() {
    let server = serve(Mode::Corrupt).await;
    let dir = tempfile::tempdir().unwrap();

    let err = pull_model(MODEL, &options(&server, &dir, 1), &mut |_| {})
        .await
        .expect_err("hash mismatch");

    assert!(matches!(err, PullError::HashMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("`hearth models pull stories260K` again"),
        "{err}"
    );
    assert!(
        !dir.path().join("stories260K.gguf.part").exists(),
        "the bad bytes were deleted"
    );
    assert!(
        !dir.path().join("stories260K.gguf").exists(),
        "nothing was moved into place"
    );
}

#[tokio::test]
async fn an_http_error_names_the_status() {
    let server = serve(Mode::NotFound).await;
    let dir = tempfile::tempdir().unwrap();

    let err = pull_model(MODEL, &options(&server, &dir, 3), &mut |_| {})
        .await
        .expect_err("404");

    assert!(matches!(err, PullError::Http { status: 404, .. }), "{err}");
    assert_eq!(
        server.requests.lock().unwrap().len(),
        1,
        "a 404 is not retried"
    );
}

#[tokio::test]
async fn a_present_and_verified_file_is_not_fetched_again() {
    let server = serve(Mode::Honest).await;
    let dir = tempfile::tempdir().unwrap();
    pull_model(MODEL, &options(&server, &dir, 1), &mut |_| {})
        .await
        .expect("first pull");
    let mut events = Vec::new();

    pull_model(MODEL, &options(&server, &dir, 1), &mut |p| events.push(p))
        .await
        .expect("second pull");

    assert_eq!(server.requests.lock().unwrap().len(), 1);
    assert!(
        matches!(events.as_slice(), [PullProgress::AlreadyPresent { .. }]),
        "{events:?}"
    );
}

#[tokio::test]
async fn an_unknown_model_name_points_to_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let opts = PullOptions {
        base_url: "http://127.0.0.1:9".into(),
        dir: dir.path().into(),
        max_attempts: 1,
    };
    let err = pull_model("no-such-model", &opts, &mut |_| {})
        .await
        .expect_err("unknown");
    assert!(err.to_string().contains("hearth models list"), "{err}");
}
