//! Queue consumers in the local stack: receives from each function's SQS
//! queue the way the Lambda event source mapping would (batches of 10, the
//! receive count attribute, deletes only what the handler did not report
//! as failed) and hands the batch to the very handler the Lambda runs.

use anyhow::Context as _;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use partnerops_aws::queue::QueueControl;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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

/// The longest a drain waits for a message its handler put back for later
/// (a Slack `Retry-After`, a backoff): one due sooner is retried in the same
/// drain, a later one at a later tick, when it is visible again.
pub const RETRY_WAIT: Duration = Duration::from_secs(5);

/// When the messages that handlers put back become visible again, so a drain
/// waits for exactly those and no longer.
#[derive(Clone, Default)]
pub struct Retries(Arc<Mutex<Vec<Instant>>>);

impl Retries {
    fn next_within(&self, limit: Duration) -> Option<Instant> {
        let now = Instant::now();
        let mut due = self.0.lock().unwrap_or_else(|p| p.into_inner());
        due.retain(|at| *at > now);
        due.iter().copied().filter(|at| *at <= now + limit).min()
    }
}

/// A queue control that also tells the drain when a delayed message returns.
pub struct RecordedRetries {
    pub inner: Arc<dyn QueueControl>,
    pub retries: Retries,
}

#[async_trait]
impl QueueControl for RecordedRetries {
    async fn delay(&self, receipt_handle: &str, seconds: u32) -> anyhow::Result<()> {
        self.inner.delay(receipt_handle, seconds).await?;
        let at = Instant::now() + Duration::from_secs(u64::from(seconds));
        self.retries.0.lock().unwrap_or_else(|p| p.into_inner()).push(at);
        Ok(())
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> anyhow::Result<()> {
        self.inner.dead_letter(body, reason).await
    }
}

/// Messages (or a receive) this process holds, counted while held.
struct InHand<'a> {
    drain: &'a QueueDrain,
    count: usize,
}

impl<'a> InHand<'a> {
    fn take(drain: &'a QueueDrain, count: usize) -> Self {
        drain.in_hand.fetch_add(count, Ordering::SeqCst);
        Self { drain, count }
    }
}

impl Drop for InHand<'_> {
    fn drop(&mut self) {
        self.drain.in_hand.fetch_sub(self.count, Ordering::SeqCst);
        self.drain.handled.notify_waiters();
    }
}

pub struct QueueDrain {
    pub sqs: aws_sdk_sqs::Client,
    pub queues: Vec<ConsumedQueue>,
    /// Messages received in this process and not yet handled.
    in_hand: AtomicUsize,
    handled: tokio::sync::Notify,
    pub retries: Retries,
}

impl QueueDrain {
    pub fn new(sqs: aws_sdk_sqs::Client, queues: Vec<ConsumedQueue>, retries: Retries) -> Self {
        Self { sqs, queues, in_hand: AtomicUsize::new(0), handled: tokio::sync::Notify::new(), retries }
    }

    /// One receive per queue; the number of messages handled.
    pub async fn poll_once(&self) -> anyhow::Result<DrainReport> {
        let mut report = DrainReport::default();
        for queue in &self.queues {
            // Held from before the receive, so no drain sees an empty queue
            // while this one holds what it took from it.
            let taking = InHand::take(self, 1);
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
            let held = InHand::take(self, messages.len());
            drop(taking);
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
            let failed = self.handle_and_delete(queue, &messages, event).await;
            drop(held);
            let failed = failed?;
            report.messages += messages.len();
            report.failed += failed;
        }
        Ok(report)
    }

    /// Hands a batch to its consumer and deletes what it did not report
    /// failed; the number that failed.
    async fn handle_and_delete(
        &self,
        queue: &ConsumedQueue,
        messages: &[aws_sdk_sqs::types::Message],
        event: SqsEvent,
    ) -> anyhow::Result<usize> {
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
        Ok(failed.len())
    }

    /// Polls until every queue is empty and nothing is being handled here,
    /// waiting for the messages handlers put back that return within
    /// [`RETRY_WAIT`]: the work the drain started, and no more.
    pub async fn drain(&self) -> anyhow::Result<DrainReport> {
        let mut total = DrainReport::default();
        loop {
            let report = self.poll_once().await?;
            total.messages += report.messages;
            total.failed += report.failed;
            if report.messages > 0 {
                continue;
            }
            if self.in_hand.load(Ordering::SeqCst) > 0 {
                // Another poller holds messages; its handler may queue more.
                let handled = self.handled.notified();
                if self.in_hand.load(Ordering::SeqCst) > 0 {
                    let _ = tokio::time::timeout(Duration::from_millis(500), handled).await;
                }
                continue;
            }
            match self.retries.next_within(RETRY_WAIT) {
                Some(at) => tokio::time::sleep_until((at + Duration::from_millis(50)).into()).await,
                None => return Ok(total),
            }
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
