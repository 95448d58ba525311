//! What the dev routes share with the background tasks, and `/_dev/tick`:
//! the due schedules at the stack's clock, then the stream and the queues
//! drained until nothing moves.

use crate::clock::DevClock;
use crate::notify::SentLog;
use crate::queues::QueueDrain;
use crate::schedule::{cron_due, rate_of, schedule_due};
use crate::stream::{RelayHealth, StreamRelay};
use partnerops_app::exports::Exports;
use partnerops_aws::{Clock, DynamoStore};
use partnerops_domain::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex as AsyncMutex;

#[derive(Debug, Default, Serialize)]
pub struct TickSummary {
    pub now: Option<Timestamp>,
    pub schedules_run: Vec<String>,
    pub sla_signals: usize,
    pub sla_items_read: usize,
    pub expiring_notices: usize,
    pub registrations_expired: usize,
    pub events_published: usize,
    pub events_failed: usize,
    pub messages_processed: usize,
    /// Messages a consumer asked to see again (a retry).
    pub messages_retried: usize,
    pub notifications_sent: usize,
    /// Webhook attempts the retry sweep made (first attempts happen as
    /// events are consumed).
    pub webhook_attempts: usize,
    /// Drains in this tick that found the stream not showing a fresh write
    /// (each is also logged as an error); 0 on a healthy stack.
    pub relay_stalls: u64,
}

/// State the dev routes share with the background tasks.
pub struct Shared {
    pub clock: Arc<DevClock>,
    pub relay: AsyncMutex<StreamRelay>,
    pub queues: QueueDrain,
    pub exports: Arc<Exports>,
    pub webhooks: Arc<webhooks::Webhooks>,
    pub sent: SentLog,
    pub store: Arc<DynamoStore>,
    /// When each scheduled function last ran, by the stack's clock.
    pub last_runs: AsyncMutex<BTreeMap<&'static str, partnerops_domain::Timestamp>>,
    /// The admin key and the demo keys, by role, for `/_dev/keys`.
    pub keys: Vec<(partnerops_domain::auth::Role, String)>,
}

/// The relay cannot see the table's stream: nothing is being published.
#[derive(Debug, thiserror::Error)]
#[error("the outbox relay is stalled: {0}")]
pub struct RelayStalled(pub String);

impl Shared {
    /// Runs the due schedules at the stack's clock, then drains the stream
    /// and the queues until nothing moves.
    pub async fn tick(&self) -> anyhow::Result<TickSummary> {
        let now = self.clock.now();
        let mut summary = TickSummary { now: Some(now), ..Default::default() };
        let every = rate_of(sla_sweep::SCHEDULE)?;
        let mut last_runs = self.last_runs.lock().await;
        if last_runs.get("sla-sweep").is_none_or(|last| schedule_due(*last, now, every)) {
            let report = partnerops_app::sweep::sweep(&*self.store, now).await?;
            summary.schedules_run.push("sla-sweep".into());
            summary.sla_signals = report.signals;
            summary.sla_items_read = report.items_read;
            summary.expiring_notices = report.expiring_notices;
            summary.registrations_expired = report.expired;
            last_runs.insert("sla-sweep", now);
        }
        // A cron schedule first seen now starts from now: it fires at its
        // instants, never on the stack's first tick.
        match last_runs.get("payout-exports").copied() {
            None => {
                last_runs.insert("payout-exports", now);
            }
            Some(last) if cron_due(payout_exports::SCHEDULE, last, now)? => {
                let record = self.exports.scheduled_export().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                tracing::info!(period = %record.period, "scheduled payout export queued");
                summary.schedules_run.push("payout-exports".into());
                last_runs.insert("payout-exports", now);
            }
            Some(_) => {}
        }
        drop(last_runs);
        let sent_before = self.sent_count();
        let stalls_before = self.relay.lock().await.stalls();
        // Consumers may publish (an export announces itself): go round until
        // neither the stream nor the queues move.
        for _ in 0..10 {
            let relayed = self.relay.lock().await.drain().await?;
            summary.events_published += relayed.published;
            summary.events_failed += relayed.failed.len();
            let drained = self.queues.drain().await?;
            summary.messages_processed += drained.messages;
            summary.messages_retried += drained.failed;
            if relayed.published == 0 && drained.messages == 0 {
                break;
            }
        }
        summary.notifications_sent = self.sent_count().saturating_sub(sent_before);
        let relay = self.relay.lock().await;
        summary.relay_stalls = relay.stalls().saturating_sub(stalls_before);
        if let RelayHealth::Stalled(reason) = relay.health() {
            return Err(RelayStalled(reason.clone()).into());
        }
        drop(relay);
        // Webhook retries fall due to the second: the sweep runs on every
        // tick (deployed, once a minute), after this tick's events made
        // their deliveries.
        summary.webhook_attempts = self.webhooks.sweep().await?.attempts;
        Ok(summary)
    }
}

impl Shared {
    fn sent_count(&self) -> usize {
        self.sent.lock().map(|s| s.len()).unwrap_or(0)
    }
}
