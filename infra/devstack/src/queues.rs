//! Queue consumers in the local stack: receives from each function's SQS
//! queue the way the Lambda event source mapping would (batches of 10, the
//! receive count attribute, deletes only what the handler did not report
//! as failed) and hands the batch to the very handler the Lambda runs.

use anyhow::Context as _;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A function's SQS handler, as its Lambda main calls it.
#[async_trait]
pub trait QueueConsumer: Send + Sync {
    async fn handle(&self, event: SqsEvent) -> anyhow::Result<SqsBatchResponse>;
}

pub struct ConsumedQueue {
    pub function: &'static str,
    pub queue_url: String,
    pub consumer: Arc<dyn QueueConsumer>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct DrainReport {
    pub messages: usize,
    pub failed: usize,
}

/// How long a drain waits for messages that are in flight (delayed by a
/// handler, as for Slack's `Retry-After`) to come back.
pub const IN_FLIGHT_WAIT: Duration = Duration::from_secs(20);

pub struct QueueDrain {
    pub sqs: aws_sdk_sqs::Client,
    pub queues: Vec<ConsumedQueue>,
}

impl QueueDrain {
    pub fn new(sqs: aws_sdk_sqs::Client, queues: Vec<ConsumedQueue>) -> Self {
        Self { sqs, queues }
    }

    /// One receive per queue; the number of messages handled.
    pub async fn poll_once(&self) -> anyhow::Result<DrainReport> {
        let mut report = DrainReport::default();
        for queue in &self.queues {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&queue.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .with_context(|| format!("receiving for {}", queue.function))?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                continue;
            }
            let mut event = SqsEvent::default();
            for m in &messages {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id.clone();
                record.receipt_handle = m.receipt_handle.clone();
                record.body = m.body.clone();
                record.attributes = m
                    .attributes
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v))
                    .collect();
                record.event_source = Some("aws:sqs".into());
                event.records.push(record);
            }
            let response = queue.consumer.handle(event).await?;
            let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
            let done: Vec<DeleteMessageBatchRequestEntry> = messages
                .iter()
                .filter(|m| !failed.contains(&m.message_id.as_deref().unwrap_or_default()))
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_receipt_handle(m.receipt_handle.clone())
                        .build()
                        .ok()
                })
                .collect();
            if !done.is_empty() {
                self.sqs.delete_message_batch().queue_url(&queue.queue_url).set_entries(Some(done)).send().await?;
            }
            report.messages += messages.len();
            report.failed += failed.len();
        }
        Ok(report)
    }

    /// Messages received but not yet deleted or visible again, over every queue.
    pub async fn in_flight(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        for queue in &self.queues {
            let attrs = self
                .sqs
                .get_queue_attributes()
                .queue_url(&queue.queue_url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await?;
            total += attrs
                .attributes
                .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible).cloned())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
        }
        Ok(total)
    }

    /// Polls until every queue is empty, waiting up to [`IN_FLIGHT_WAIT`]
    /// for delayed messages to return.
    pub async fn drain(&self) -> anyhow::Result<DrainReport> {
        let mut total = DrainReport::default();
        let started = Instant::now();
        loop {
            let report = self.poll_once().await?;
            total.messages += report.messages;
            total.failed += report.failed;
            if report.messages > 0 {
                continue;
            }
            if self.in_flight().await? == 0 || started.elapsed() > IN_FLIGHT_WAIT {
                return Ok(total);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The payouts function's queue handler.
pub struct PayoutsConsumer(pub Arc<partnerops_app::ledger::Ledger>);

#[async_trait]
impl QueueConsumer for PayoutsConsumer {
    async fn handle(&self, event: SqsEvent) -> anyhow::Result<SqsBatchResponse> {
        Ok(payouts::handle_batch(&self.0, event).await)
    }
}

/// The export worker's queue handler.
pub struct ExportsConsumer(pub payout_exports::ExportWorker);

#[async_trait]
impl QueueConsumer for ExportsConsumer {
    async fn handle(&self, event: SqsEvent) -> anyhow::Result<SqsBatchResponse> {
        Ok(self.0.handle_batch(event).await)
    }
}

/// The webhooks function's queue handler.
pub struct WebhooksConsumer(pub Arc<webhooks::Webhooks>);

#[async_trait]
impl QueueConsumer for WebhooksConsumer {
    async fn handle(&self, event: SqsEvent) -> anyhow::Result<SqsBatchResponse> {
        Ok(self.0.handle_batch(event).await)
    }
}

/// The reports function's queue handler.
pub struct ReportsConsumer(pub Arc<reports::Reports>);

#[async_trait]
impl QueueConsumer for ReportsConsumer {
    async fn handle(&self, event: SqsEvent) -> anyhow::Result<SqsBatchResponse> {
        Ok(self.0.handle_batch(event).await)
    }
}
