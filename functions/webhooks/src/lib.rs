//! `webhooks` (SPEC §18): partners' endpoints (the API), and deliveries of
//! each partner's own events to them, signed as Standard Webhooks describes.
//!
//! Domain events arrive on the webhook queue; each becomes one message per
//! partner it concerns and one delivery per subscribed endpoint, attempted at
//! once. Failed attempts are retried on the schedule of §18 by the retry
//! sweep (every minute deployed, on `POST /_dev/tick` locally). Every attempt
//! is claimed with a conditional write first, so no two run at once and a
//! message is recorded `succeeded` at most once per endpoint.

mod api;

pub use api::{EndpointStore, WebhookApi, router, routes};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::future::join_all;
use partnerops_api::lambda::{MessageBody, Triggers, each_message};
use partnerops_app::retry::retry_on_conflict;
use partnerops_aws::notify::Transport;
use partnerops_aws::queue::WorkQueue;
use partnerops_aws::store::{Partners, PayoutExports, WebhookDeliveries, WebhookEndpoints};
use partnerops_aws::webhooks::WebhookSender;
use partnerops_aws::{Clock, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::event::{DomainEvent, EventPayload};
use partnerops_domain::money::Money;
use partnerops_domain::notify::{Channel, Notification};
use partnerops_domain::payout::Period;
use partnerops_domain::webhook::{
    Delivery, DeliveryState, Endpoint, EndpointId, ExportedGroup, Message, MessageId, Outcome, UrlPolicy, abandon,
    claim, export_messages, messages_for, record,
};
use std::sync::Arc;

/// The template's queue of domain events for webhooks.
pub const QUEUE: &str = "WebhookQueue";
pub const DEAD_LETTER_QUEUE: &str = "WebhookDLQ";
/// The retry sweep.
pub const SCHEDULE: &str = "rate(1 minute)";
/// Due deliveries one sweep takes from each shard of the due index.
pub const SWEEP_PAGE: u16 = 100;
const ENDPOINT_WRITE_ATTEMPTS: usize = 4;

/// What webhooks reads and writes: endpoints and deliveries, the partners
/// (a contact to tell), and finished exports (each partner's group).
pub trait Store: WebhookEndpoints + WebhookDeliveries + Partners + PayoutExports {}

impl<T: WebhookEndpoints + WebhookDeliveries + Partners + PayoutExports + ?Sized> Store for T {}

pub struct Webhooks {
    pub store: Arc<dyn Store>,
    pub sender: Arc<dyn WebhookSender>,
    /// Tells a partner's contact that its endpoint was disabled.
    pub mailer: Arc<dyn Transport>,
    pub clock: Arc<dyn Clock>,
    /// The URL rules: the deployed ones, or the dev stack's loopback exception.
    pub policy: UrlPolicy,
    /// Deployed, the webhook queue: a retry due within SQS's 15-minute delay
    /// is also sent there delayed, so it runs on time rather than at the
    /// next minute's sweep. `None` leaves every retry to the sweep (the dev
    /// stack, whose clock SQS delays know nothing of).
    pub nudges: Option<Arc<dyn WorkQueue>>,
}

/// A retry sent to the webhook queue to arrive when it falls due.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetryNudge {
    pub endpoint_id: EndpointId,
    pub message_id: MessageId,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct NudgeBody {
    webhook_retry: RetryNudge,
}

/// SQS delays messages by at most this much.
const MAX_NUDGE_SECONDS: i64 = 900;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub deliveries_created: usize,
    pub attempts: usize,
    pub succeeded: usize,
    pub failed: usize,
}

impl Report {
    fn add(&mut self, other: Report) {
        self.deliveries_created += other.deliveries_created;
        self.attempts += other.attempts;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
    }
}

impl Webhooks {
    /// The messages an event makes, with a `PayoutExportReady`'s groups read
    /// from its export.
    async fn messages(&self, event: &DomainEvent) -> Result<Vec<Message>, StoreError> {
        let EventPayload::PayoutExportReady(ready) = &event.payload else {
            return Ok(messages_for(event));
        };
        let Ok(period) = Period::parse(&ready.period) else {
            return Ok(Vec::new());
        };
        let Some(export) = self.store.payout_export(period).await? else {
            return Ok(Vec::new());
        };
        let groups: Vec<ExportedGroup> = export
            .groups
            .iter()
            .map(|g| ExportedGroup {
                partner_id: g.partner_id.clone(),
                lines: g.lines,
                total: Money::from_minor(g.amount, g.currency),
                carried_forward: g.carried_forward,
            })
            .collect();
        Ok(export_messages(event, &groups))
    }

    /// Turns one domain event into deliveries and attempts them. A second
    /// delivery of the same event finds its deliveries made and only
    /// attempts those still due.
    pub async fn fan_out(&self, event: &DomainEvent) -> anyhow::Result<Report> {
        let now = self.clock.now();
        let mut report = Report::default();
        let mut due = Vec::new();
        for message in self.messages(event).await? {
            for endpoint in self.store.partner_endpoints(&message.partner_id).await? {
                if !endpoint.enabled() || !endpoint.subscribes_to(message.event_type) {
                    continue;
                }
                let delivery = message.delivery_to(&endpoint, now);
                if self.store.create_delivery(&delivery).await? {
                    report.deliveries_created += 1;
                    due.push(delivery);
                } else if let Some(existing) = self.store.delivery(&endpoint.id, &message.message_id).await? {
                    due.push(existing);
                }
            }
        }
        report.add(self.attempt_all(due).await?);
        Ok(report)
    }

    /// Attempts every delivery at once: a slow receiver holds up only itself.
    async fn attempt_all(&self, deliveries: Vec<Delivery>) -> anyhow::Result<Report> {
        let mut report = Report::default();
        for result in join_all(deliveries.iter().map(|d| self.attempt(d))).await {
            match result? {
                Some(DeliveryState::Succeeded) => {
                    report.attempts += 1;
                    report.succeeded += 1;
                }
                Some(DeliveryState::Failed) => {
                    report.attempts += 1;
                    report.failed += 1;
                }
                Some(DeliveryState::Pending) => report.attempts += 1,
                None => {}
            }
        }
        Ok(report)
    }

    /// One attempt at a delivery if it is due: claimed, sent, recorded. The
    /// state it was left in, or `None` when nothing was sent.
    pub async fn attempt(&self, delivery: &Delivery) -> anyhow::Result<Option<DeliveryState>> {
        let now = self.clock.now();
        let endpoint = match self.store.endpoint(&delivery.endpoint_id).await? {
            Some(e) if e.enabled() => e,
            gone => {
                if delivery.state == DeliveryState::Pending {
                    let reason = if gone.is_some() { "the endpoint is disabled" } else { "the endpoint was deleted" };
                    let ended = abandon(delivery, reason, now);
                    match self.store.save_delivery(delivery.version, &ended).await {
                        Ok(()) | Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                return Ok(None);
            }
        };
        let Some(claimed) = claim(delivery, now) else {
            return Ok(None);
        };
        match self.store.save_delivery(delivery.version, &claimed).await {
            Ok(()) => {}
            // Another attempt took it first, or the index showed an old copy.
            Err(StoreError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let headers = [
            ("webhook-id", claimed.message_id.to_string()),
            ("webhook-timestamp", now.unix_seconds().to_string()),
            ("webhook-signature", endpoint.signature(&claimed.message_id, now, &claimed.body)),
            ("content-type", "application/json".to_owned()),
        ];
        let outcome = self.sender.send(&endpoint.url, &headers, &claimed.body).await;
        let done = record(&claimed, &outcome, now);
        tracing::info!(
            endpoint_id = %claimed.endpoint_id,
            message_id = %claimed.message_id,
            attempt = claimed.attempts,
            status = ?done.last_status,
            state = ?done.state,
            "webhook attempt"
        );
        match self.store.save_delivery(claimed.version, &done).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                tracing::warn!(message_id = %claimed.message_id, "delivery changed during its attempt; outcome not kept");
                return Ok(Some(done.state));
            }
            Err(e) => return Err(e.into()),
        }
        self.endpoint_after(endpoint, &outcome, now).await?;
        self.nudge(&done, now).await;
        Ok(Some(done.state))
    }

    /// Keeps the endpoint's failure streak, disabling it on a 410 or after
    /// five days of failures (then its partner's contact is emailed).
    async fn endpoint_after(&self, endpoint: Endpoint, outcome: &Outcome, now: Timestamp) -> anyhow::Result<()> {
        let id = endpoint.id.clone();
        // The first attempt decides on the endpoint as the attempt read it;
        // one that lost to a concurrent write reads it again.
        let given = std::sync::Mutex::new(Some(endpoint));
        retry_on_conflict(ENDPOINT_WRITE_ATTEMPTS, || async {
            let read = given.lock().map(|mut g| g.take()).unwrap_or(None);
            let endpoint = match read {
                Some(endpoint) => endpoint,
                None => match self.store.endpoint(&id).await? {
                    Some(current) => current,
                    None => return Ok(()),
                },
            };
            let (next, disabled_for_failures) = endpoint.after_attempt(outcome, now);
            if next.version == endpoint.version {
                return Ok(());
            }
            self.store.save_endpoint(endpoint.version, &next).await?;
            if !next.enabled() && endpoint.enabled() {
                tracing::warn!(endpoint_id = %next.id, reason = ?next.disabled_reason, "webhook endpoint disabled");
            }
            if disabled_for_failures {
                self.tell_partner(&next).await;
            }
            Ok(())
        })
        .await
    }

    /// Sends a pending delivery's retry to the queue to arrive when due (a
    /// second after, so it is never early); the sweep still backs it up.
    async fn nudge(&self, delivery: &Delivery, now: Timestamp) {
        let (Some(queue), DeliveryState::Pending, Some(due)) = (&self.nudges, delivery.state, delivery.next_attempt_at)
        else {
            return;
        };
        let wait = due.since(now).num_seconds() + 1;
        if !(0..=MAX_NUDGE_SECONDS).contains(&wait) {
            return;
        }
        let body = NudgeBody {
            webhook_retry: RetryNudge {
                endpoint_id: delivery.endpoint_id.clone(),
                message_id: delivery.message_id.clone(),
            },
        };
        let sent = match serde_json::to_string(&body) {
            Ok(body) => queue.send_delayed(&body, u32::try_from(wait).unwrap_or(0)).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = sent {
            tracing::warn!(message_id = %delivery.message_id, error = %format!("{e:#}"), "retry not queued; the sweep will run it");
        }
    }

    /// A retry the queue delivered: attempted if still due.
    async fn retry(&self, nudge: &RetryNudge) -> anyhow::Result<()> {
        if let Some(delivery) = self.store.delivery(&nudge.endpoint_id, &nudge.message_id).await? {
            self.attempt(&delivery).await?;
        }
        Ok(())
    }

    async fn tell_partner(&self, endpoint: &Endpoint) {
        let partner = match self.store.partner(&endpoint.partner_id).await {
            Ok(Some(p)) => p,
            _ => return,
        };
        let Some(to) = partner.contact_email.clone() else {
            return;
        };
        let text = format!(
            "Every delivery to your partnerops webhook endpoint {} ({}) failed for five days, so it has been disabled. \
             Fix the receiver, then create the endpoint again; deliveries since it was disabled are in its deliveries log.",
            endpoint.id, endpoint.url
        );
        let notification = Notification {
            event_id: format!("webhook-disabled-{}-{}", endpoint.id, endpoint.version),
            channel: Channel::Email,
            to,
            subject: "Your partnerops webhook endpoint was disabled".into(),
            html: format!("<p>{}</p>", html_escape::encode_text(&text)),
            text,
            slack: serde_json::Value::Null,
        };
        if let Err(e) = self.mailer.send(&notification).await {
            tracing::error!(endpoint_id = %endpoint.id, error = ?e, "telling the partner its endpoint was disabled failed");
        }
    }

    /// The retry sweep: every delivery due by now, attempted at once.
    pub async fn sweep(&self) -> anyhow::Result<Report> {
        let now = self.clock.now();
        let due = self.store.due_deliveries(now, SWEEP_PAGE).await?;
        self.attempt_all(due).await
    }

    /// Handles a batch from the webhook queue, every message at once.
    pub async fn handle_batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        each_message(&batch, batch.records.len(), |message: QueueMessage| async move {
            match message {
                QueueMessage::Retry(nudge) => self.retry(&nudge).await,
                QueueMessage::Event(event) => self.fan_out(&event).await.map(drop),
            }
        })
        .await
    }
}

/// What the webhook queue carries: domain events from the rule, and the
/// function's own delayed retries.
pub enum QueueMessage {
    Event(Box<DomainEvent>),
    Retry(RetryNudge),
}

impl MessageBody for QueueMessage {
    fn decode(body: &str) -> anyhow::Result<Self> {
        match serde_json::from_str::<NudgeBody>(body) {
            Ok(nudge) => Ok(Self::Retry(nudge.webhook_retry)),
            Err(_) => DomainEvent::decode(body).map(|e| Self::Event(Box::new(e))),
        }
    }

    fn event_id(&self) -> Option<String> {
        match self {
            Self::Event(event) => event.event_id(),
            Self::Retry(_) => None,
        }
    }
}

impl Triggers for Webhooks {
    async fn batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        self.handle_batch(batch).await
    }

    /// The retry sweep.
    async fn scheduled(&self) -> anyhow::Result<serde_json::Value> {
        let report = self.sweep().await?;
        tracing::info!(
            attempts = report.attempts,
            succeeded = report.succeeded,
            failed = report.failed,
            "webhook retry sweep"
        );
        Ok(serde_json::to_value(report)?)
    }
}

#[cfg(test)]
mod tests;
