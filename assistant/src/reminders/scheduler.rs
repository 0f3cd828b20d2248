//! The reminder scheduler: while this process holds the leadership lock, every tick hands the
//! due reminders to the store, which resolves recipients and writes outbox rows in the same
//! transaction that marks each reminder handled; here we only render the text. The outbox
//! dispatcher sends what was queued.
//!
//! Logs carry counts only: never a name, number or message text.

use std::time::Duration;

use chrono::{DateTime, Utc};
use store::outbox::SenderKey;
use store::reminders::{DueReminder, ReminderChannel, ReminderRender, TemplateKind, TickReport};

use super::template::{Template, Values, default_source};

/// How often the leader looks for due reminders.
pub const TICK_INTERVAL: Duration = Duration::from_secs(30);
/// Reminders handled per transaction.
pub const TICK_BATCH: usize = 200;

/// Where the client portal lives, for `{portal_link}`.
pub fn portal_link(public_url: Option<&str>) -> Option<String> {
    public_url.map(|u| format!("{}/portal", u.trim_end_matches('/')))
}

/// The sending identity a reminder is rate-limited under (the dispatcher's sender keys).
fn sender_for(due: &DueReminder) -> SenderKey {
    let key = match (due.channel, &due.practice_phone) {
        (ReminderChannel::Sms, Some(p)) => format!("sms:{}", p.as_str()),
        (ReminderChannel::Sms, None) => "sms:default".to_owned(),
        (ReminderChannel::Telegram, _) => "telegram:bot".to_owned(),
    };
    SenderKey::parse(&key).unwrap_or_else(|_| SenderKey::parse("sms:default").expect("a fixed valid sender key"))
}

/// Renders one due reminder: the practice's template, or the default when it has none (or one
/// saved before a rule it now breaks). A telehealth reminder without a join link falls back to
/// the ordinary reminder; a join message without one is skipped.
pub fn render(due: &DueReminder, portal: Option<&str>) -> ReminderRender {
    let mut kind = due.template_kind;
    if due.join_link.is_none() {
        match kind {
            TemplateKind::Join => return ReminderRender::Skip("no_join_link"),
            TemplateKind::ReminderVirtual => kind = TemplateKind::Reminder,
            TemplateKind::Reminder => {}
        }
    }
    let saved = if kind == due.template_kind { due.template.as_deref() } else { None };
    let template = saved
        .and_then(|s| Template::parse(s, kind, portal.is_some()).ok())
        .or_else(|| Template::parse(default_source(due.channel, kind), kind, portal.is_some()).ok());
    let Some(template) = template else { return ReminderRender::Skip("template_invalid") };
    let mut values = Values::for_visit(&due.first_name, due.starts_at, due.time_zone.tz(), &due.practice_name, due.practice_phone.as_ref().map(|p| p.as_str()));
    values.join_link = due.join_link.clone().unwrap_or_default();
    values.portal_link = portal.unwrap_or_default().to_owned();
    let body = template.render(&values);
    if due.channel == ReminderChannel::Sms && channels::sms::SmsBody::parse(body.clone()).is_err() {
        return ReminderRender::Skip("too_long");
    }
    ReminderRender::Send { body, sender_key: sender_for(due) }
}

/// Handles every reminder due at `now`, batch after batch.
pub async fn tick(store: &store::Store, public_url: Option<&str>, now: DateTime<Utc>) -> store::Result<TickReport> {
    let portal = portal_link(public_url);
    let mut total = TickReport::default();
    loop {
        let r = store.run_due_reminders(now, TICK_BATCH, &|due: &DueReminder| render(due, portal.as_deref())).await?;
        total.claimed += r.claimed;
        total.queued += r.queued;
        total.skipped += r.skipped;
        total.withdrawn += r.withdrawn;
        total.deferred += r.deferred;
        if r.claimed < TICK_BATCH {
            return Ok(total);
        }
    }
}

/// Runs forever: waits for leadership, then ticks every [`TICK_INTERVAL`] while it lasts.
pub async fn run(store: store::Store, public_url: Option<String>) {
    loop {
        let mut lead = match store.try_lead_reminders().await {
            Ok(Some(l)) => l,
            Ok(None) => {
                tokio::time::sleep(TICK_INTERVAL).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reminder scheduler: could not try for leadership");
                tokio::time::sleep(TICK_INTERVAL).await;
                continue;
            }
        };
        tracing::info!("reminder scheduler: leading");
        while lead.still_leading().await {
            match tick(&store, public_url.as_deref(), Utc::now()).await {
                Ok(r) if r.claimed > 0 => {
                    tracing::info!(claimed = r.claimed, queued = r.queued, skipped = r.skipped, withdrawn = r.withdrawn, deferred = r.deferred, "reminder tick")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reminder tick failed; retrying next tick"),
            }
            tokio::time::sleep(TICK_INTERVAL).await;
        }
        tracing::warn!("reminder scheduler: lost leadership");
    }
}
