//! The messaging gateway's transport: the outbox dispatcher (claim, pace, send, record,
//! reconcile) and the provider webhooks (Twilio inbound SMS and status callbacks, Telegram
//! updates). What to say in a conversation is not decided here (see [`inbound`]'s hook).

/// The channels a dispatcher sends through (Twilio, Telegram, console).
pub mod carriers;
/// The dispatch loop and the reconciler.
pub mod dispatcher;
/// Inbound texts: keywords first, then the staff inbox and the conversation hook.
pub mod inbound;
/// Per-sender pacing.
pub mod pace;
/// The gateway's settings tables.
pub mod settings;
/// Staff routes: the inbox, alerts, Telegram links.
pub mod staff;
/// Provider webhooks: Twilio inbound SMS and status callbacks, Telegram updates.
pub mod webhooks;

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Settings;

/// The status-callback URL Twilio is asked to report delivery to, under the public URL.
pub fn status_callback_url(settings: &Settings) -> Option<String> {
    settings
        .public_url
        .as_deref()
        .map(|base| format!("{}/webhooks/twilio/status", base.trim_end_matches('/')))
}

/// Builds a dispatcher from the settings.
pub fn dispatcher(store: store::Store, settings: &Settings) -> anyhow::Result<dispatcher::Dispatcher> {
    let carriers = carriers::Carriers::new(settings.channel, &settings.gateway, status_callback_url(settings))?;
    dispatcher::Dispatcher::new(store, carriers, settings.gateway.dispatch.clone())
}

/// A dispatcher running on a task; stop it with [`RunningDispatcher::stop`].
pub struct RunningDispatcher {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningDispatcher {
    pub fn start(d: dispatcher::Dispatcher) -> Self {
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(Arc::new(d).run(rx));
        Self { shutdown, task }
    }

    /// Asks it to stop and waits for the sends in flight.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
