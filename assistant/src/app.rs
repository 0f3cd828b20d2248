//! Wiring: opening the store from settings, the shared [`AppState`], the router with its layers,
//! and serving with graceful shutdown on SIGINT/SIGTERM.

use crate::auth::session::CookiePolicy;
use crate::config::Settings;
use crate::http;
use anyhow::Context;
use axum::Router;
use axum::extract::FromRef;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// State shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: store::Store,
    pub settings: Arc<Settings>,
    pub cookies: CookiePolicy,
    /// What the provider webhooks remember between requests (recent Telegram updates).
    pub webhooks: Arc<crate::gateway::webhooks::WebhookMemory>,
}

impl FromRef<AppState> for store::Store {
    fn from_ref(s: &AppState) -> Self {
        s.store.clone()
    }
}

/// Whether opening may create a new database and key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissing {
    /// First run in the data folder: create the SQLite file and the key (mode 0600).
    Create,
    /// Refuse: a missing file means a mistyped path, not a new practice.
    Refuse,
}

/// Opens the store named by the settings and applies migrations.
pub async fn open_store(
    settings: &Settings,
    on_missing: OnMissing,
) -> anyhow::Result<store::Store> {
    if on_missing == OnMissing::Create {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating the data folder {}", settings.data_dir.display()))?;
    }
    let config = store::StoreConfig {
        database_url: settings.database_url.expose_secret().to_owned(),
        key_file: settings.key_file.clone(),
        create_if_missing: on_missing == OnMissing::Create,
    };
    let store = store::Store::open(&config)
        .await
        .context("opening the database")?;
    store
        .migrate()
        .await
        .context("bringing the database up to date")?;
    Ok(store)
}

impl AppState {
    pub fn new(store: store::Store, settings: Settings) -> Self {
        let cookies = CookiePolicy {
            secure: settings.https(),
        };
        Self {
            store,
            settings: Arc::new(settings),
            cookies,
            webhooks: Arc::default(),
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    http::router(state)
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    let store = state.store.clone();
    let reminders = tokio::spawn(crate::reminders::scheduler::run(
        store.clone(),
        state.settings.public_url.clone(),
    ));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    // A tick cut short rolls back whole: its reminders stay planned for the next leader.
    reminders.abort();
    store.close().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
