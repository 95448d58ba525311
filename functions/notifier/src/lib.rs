//! The notifier: consumes the §9 events from its SQS queue and sends each
//! message at most once per (event, channel, recipient).
//!
//! Per message the outcome is one of three: delivered (every recipient sent,
//! or sent before); retry (Slack's 429 with its `Retry-After`, a 5xx, a
//! timeout, a throttled SES call: the message goes back to the queue with
//! that visibility and only the unsent recipients are tried again); dead
//! letter (a permanent failure such as a 4xx: the message is moved to the
//! DLQ with the reason, and logged). One message never fails its batch.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt as _;
use partnerops_app::decisions::{self, DecisionDelivery, DecisionMessages};
use partnerops_aws::Clock;
pub use partnerops_aws::notify::{SendError, SesEmail, SlackWebhook, Transport, WebhookUrl};
pub use partnerops_aws::queue::{QueueControl, SqsQueueControl};
use partnerops_aws::store::{NotificationDeliveries, Partners};
use partnerops_domain::event::{DomainEvent, EventPayload};
use partnerops_domain::notify::{Channel, Notification, notifications, partner_of};
use partnerops_domain::terms::ProgramTerms;
use std::sync::Arc;
use tracing::Instrument as _;

/// The template's queue this function consumes.
pub const QUEUE: &str = "NotificationQueue";
/// Where messages that can never be sent go.
pub const DEAD_LETTER_QUEUE: &str = "NotificationDLQ";

/// Attempts to record a send before giving up (and logging it).
const MARK_ATTEMPTS: usize = 3;

/// Messages of one batch handled at once.
pub const CONCURRENCY: usize = 10;
/// The longest a message is kept invisible before its next try (SQS allows 12 h).
pub const MAX_DELAY_SECONDS: u32 = 900;

/// The transports the notifier sends through; Slack is off when no webhook
/// is configured.
/// Every event the notifier's queue receives: the notified ones, and in app
/// mode the expiry that edits a registration's decision message.
pub const QUEUE_EVENTS: [&str; 9] = [
    "SlaDueSoon",
    "SlaBreached",
    "SlaEscalated",
    "DealRegistrationSubmitted",
    "DealRegistrationDecided",
    "DealRegistrationWithdrawn",
    "DealRegistrationExpired",
    "ReferralRejected",
    "PayoutExportReady",
];

#[derive(Clone)]
pub struct Transports {
    pub slack: Option<Arc<dyn Transport>>,
    pub email: Arc<dyn Transport>,
}

/// What the notifier reads and writes: its delivery records, and the
/// partners it addresses.
pub trait NotifierStore: NotificationDeliveries + Partners {}

impl<T: NotificationDeliveries + Partners + ?Sized> NotifierStore for T {}

pub struct Notifier {
    pub store: Arc<dyn NotifierStore>,
    pub terms: Arc<ProgramTerms>,
    pub clock: Arc<dyn Clock>,
    pub transports: Transports,
    pub queue: Arc<dyn QueueControl>,
    /// First retry delay for transient failures, doubled per receive.
    pub retry_base_seconds: u32,
    /// App mode's decisions channel; `None` in webhook mode.
    pub decisions: Option<Arc<DecisionMessages>>,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered { sent: usize, already_sent: usize },
    Retry { after_seconds: u32, reason: String },
    DeadLetter { reason: String },
}

/// Totals of one batch, for logs and the dev stack's tick summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub messages: usize,
    pub sent: usize,
    pub already_sent: usize,
    pub retried: usize,
    pub dead_lettered: usize,
}

impl BatchReport {
    pub fn log(&self) {
        tracing::info!(
            messages = self.messages,
            sent = self.sent,
            already_sent = self.already_sent,
            retried = self.retried,
            dead_lettered = self.dead_lettered,
            "notification batch handled"
        );
    }
}

impl Notifier {
    /// Exponential backoff from the message's receive count.
    fn backoff(&self, receive_count: u32) -> u32 {
        let doublings = receive_count.saturating_sub(1).min(16);
        self.retry_base_seconds.max(1).saturating_mul(1 << doublings).min(MAX_DELAY_SECONDS)
    }

    /// Handles one message body: the event's notifications, each claimed,
    /// sent and marked, or released when its send failed.
    pub async fn handle(&self, body: &str, receive_count: u32) -> Outcome {
        let event = match DomainEvent::from_eventbridge(body) {
            Ok(event) => event,
            Err(reason) => return Outcome::DeadLetter { reason },
        };
        tracing::Span::current().record("event_id", tracing::field::display(&event.event_id));
        let partner = match partner_of(&event) {
            Some(id) => match self.store.partner(id).await {
                Ok(partner) => partner,
                Err(e) => return Outcome::Retry { after_seconds: self.backoff(receive_count), reason: e.to_string() },
            },
            None => None,
        };
        let mut jobs: Vec<(Notification, Arc<dyn Transport>)> = Vec::new();
        let decision = self.decisions.as_ref().and_then(|d| decisions::planned(&event).map(|p| (d.clone(), p)));
        for notification in notifications(&event, partner.as_ref(), &self.terms) {
            // In app mode the decisions channel's message, with its buttons,
            // is a new registration's Slack notice.
            let replaced = decision.is_some() && matches!(event.payload, EventPayload::DealRegistrationSubmitted(_));
            let transport = match notification.channel {
                Channel::Slack if replaced => continue,
                Channel::Slack => match &self.transports.slack {
                    Some(slack) => slack.clone(),
                    None => continue,
                },
                Channel::Email => self.transports.email.clone(),
            };
            jobs.push((notification, transport));
        }
        if let Some((messages, (notification, registration))) = decision {
            let delivery = DecisionDelivery { messages, registration, event: event.clone() };
            jobs.push((notification, Arc::new(delivery)));
        }
        let (mut sent, mut already_sent) = (0, 0);
        let mut retry: Option<(u32, String)> = None;
        let mut permanent: Vec<String> = Vec::new();
        for (notification, transport) in jobs {
            match self.deliver(&notification, &*transport).await {
                Ok(true) => sent += 1,
                Ok(false) => already_sent += 1,
                Err(SendError::Permanent(reason)) => {
                    permanent.push(format!("{} to {}: {reason}", notification.channel.as_str(), notification.to))
                }
                Err(SendError::RetryAfter(seconds, reason)) => {
                    let after = seconds.clamp(1, MAX_DELAY_SECONDS);
                    retry = Some(retry.map_or((after, reason.clone()), |(a, r)| (a.max(after), r)));
                }
                Err(SendError::Transient(reason)) => {
                    let after = self.backoff(receive_count);
                    retry = Some(retry.map_or((after, reason.clone()), |(a, r)| (a.max(after), r)));
                }
            }
        }
        match (retry, permanent.is_empty()) {
            (Some((after_seconds, reason)), _) => Outcome::Retry { after_seconds, reason },
            (None, false) => Outcome::DeadLetter { reason: permanent.join("; ") },
            (None, true) => Outcome::Delivered { sent, already_sent },
        }
    }

    /// `Ok(true)` sent now, `Ok(false)` sent before.
    async fn deliver(&self, notification: &Notification, transport: &dyn Transport) -> Result<bool, SendError> {
        use partnerops_aws::store::DeliveryClaim;
        let key = notification.delivery_key();
        let event_id = notification.event_id.as_str();
        let claim = self
            .store
            .claim_delivery(event_id, &key, self.clock.now())
            .await
            .map_err(|e| SendError::Transient(format!("claiming the delivery: {e}")))?;
        match claim {
            DeliveryClaim::Sent => return Ok(false),
            DeliveryClaim::InFlight => {
                return Err(SendError::Transient("another delivery of this event is sending it".into()));
            }
            DeliveryClaim::Claimed => {}
        }
        match transport.send(notification).await {
            Ok(()) => {
                // Marking is retried: an unmarked claim could be taken over
                // once its lease ends, and the message sent again.
                let mut marked = self.store.delivery_sent(event_id, &key, self.clock.now()).await;
                for _ in 1..MARK_ATTEMPTS {
                    if marked.is_ok() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    marked = self.store.delivery_sent(event_id, &key, self.clock.now()).await;
                }
                if let Err(e) = marked {
                    tracing::error!(event_id, channel = notification.channel.as_str(), error = %e, "sent, but not marked sent");
                }
                tracing::info!(event_id, channel = notification.channel.as_str(), "notification sent");
                Ok(true)
            }
            Err(failure) => {
                if let Err(e) = self.store.release_delivery(event_id, &key).await {
                    tracing::warn!(event_id, error = %e, "could not release a failed delivery's claim");
                }
                Err(failure)
            }
        }
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<Outcome, anyhow::Error> {
        let body = record.body.as_deref().unwrap_or_default();
        let receive_count = record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let outcome = self.handle(body, receive_count).await;
        match &outcome {
            Outcome::Delivered { .. } => {}
            Outcome::Retry { after_seconds, reason } => {
                tracing::warn!(message_id, after_seconds, reason = %reason, "notification will be retried");
                if let Some(receipt) = record.receipt_handle.as_deref() {
                    self.queue.delay(receipt, *after_seconds).await?;
                }
            }
            Outcome::DeadLetter { reason } => {
                tracing::error!(message_id, reason = %reason, "notification failed permanently; moved to the DLQ");
                self.queue.dead_letter(body, reason).await?;
            }
        }
        Ok(outcome)
    }

    async fn handle_owned(&self, record: SqsMessage) -> (String, Result<Outcome, anyhow::Error>) {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("message", message_id = %message_id, event_id = tracing::field::Empty);
        let outcome = self.handle_record(&record).instrument(span).await;
        (message_id, outcome)
    }

    /// Handles a batch; the response names the messages to try again.
    pub async fn handle_batch(&self, event: SqsEvent) -> (SqsBatchResponse, BatchReport) {
        let handled = futures::stream::iter(event.records).map(|record| self.handle_owned(record));
        let outcomes: Vec<(String, Result<Outcome, anyhow::Error>)> =
            handled.buffer_unordered(CONCURRENCY).collect().await;
        let mut response = SqsBatchResponse::default();
        let mut report = BatchReport { messages: outcomes.len(), ..Default::default() };
        for (message_id, outcome) in outcomes {
            match outcome {
                Ok(Outcome::Delivered { sent, already_sent }) => {
                    report.sent += sent;
                    report.already_sent += already_sent;
                }
                Ok(Outcome::DeadLetter { .. }) => report.dead_lettered += 1,
                Ok(Outcome::Retry { .. }) => {
                    report.retried += 1;
                    response.add_failure(message_id);
                }
                Err(e) => {
                    tracing::error!(message_id, error = %format!("{e:#}"), "queue call failed; the message stays");
                    report.retried += 1;
                    response.add_failure(message_id);
                }
            }
        }
        (response, report)
    }
}

#[cfg(test)]
mod tests;
