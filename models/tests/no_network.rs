//! DESIGN.md: "The scribe and models crates make no network connections". The cheapest proof is
//! that no HTTP client can even be linked: this test reads the crate's normal dependency tree.

/// Crates that open HTTP connections (or fetch models over HTTP, like hf-hub).
const HTTP_CLIENTS: &[&str] = &[
    "reqwest",
    "hyper",
    "ureq",
    "curl",
    "curl-sys",
    "isahc",
    "attohttpc",
    "surf",
    "hf-hub",
    "minreq",
    "http_req",
];

#[test]
fn the_models_crate_has_no_http_client_in_its_dependency_tree() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = std::process::Command::new(&cargo)
        .args([
            "tree",
            "-p",
            "models",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| {
            panic!("running `{cargo} tree` failed ({e}); cargo must be on PATH for this test")
        });
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("cargo prints UTF-8");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();

    assert!(
        crates.contains(&"candle-core"),
        "the tree was read: {}",
        &tree[..tree.len().min(300)]
    );
    let found: Vec<&&str> = crates.iter().filter(|c| HTTP_CLIENTS.contains(c)).collect();
    assert!(
        found.is_empty(),
        "HTTP clients in the models crate's tree: {found:?}"
    );
}
