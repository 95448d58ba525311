//! SQS: a consumer's hold on its queue (delaying a message, moving one that
//! can never succeed to the dead-letter queue), and work queues a function
//! sends jobs to.

use async_trait::async_trait;

/// What a consumer does with its queue besides reading it.
#[async_trait]
pub trait QueueControl: Send + Sync {
    /// Makes a received message visible again after `seconds`.
    async fn delay(&self, receipt_handle: &str, seconds: u32) -> anyhow::Result<()>;
    /// Moves a message that can never succeed to the dead-letter queue.
    async fn dead_letter(&self, body: &str, reason: &str) -> anyhow::Result<()>;
}

pub struct SqsQueueControl {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub dlq_url: String,
}

#[async_trait]
impl QueueControl for SqsQueueControl {
    async fn delay(&self, receipt_handle: &str, seconds: u32) -> anyhow::Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(seconds).unwrap_or(i32::MAX))
            .send()
            .await?;
        Ok(())
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> anyhow::Result<()> {
        let reason_attr = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason.chars().take(1000).collect::<String>())
            .build()?;
        self.client
            .send_message()
            .queue_url(&self.dlq_url)
            .message_body(body)
            .message_attributes("failure_reason", reason_attr)
            .send()
            .await?;
        Ok(())
    }
}

impl SqsQueueControl {
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, queue_url: String, dlq_url: String) -> Self {
        Self { client: aws_sdk_sqs::Client::new(sdk), queue_url, dlq_url }
    }
}

/// A queue of jobs for a worker.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send(&self, body: &str) -> anyhow::Result<()>;

    /// Sends `body` to be received `seconds` from now (SQS allows 0-900).
    async fn send_delayed(&self, body: &str, seconds: u32) -> anyhow::Result<()>;
}

pub struct SqsWorkQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsWorkQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(aws_sdk_sqs::Client::new(sdk), queue_url)
    }
}

#[async_trait]
impl WorkQueue for SqsWorkQueue {
    async fn send(&self, body: &str) -> anyhow::Result<()> {
        self.client.send_message().queue_url(&self.queue_url).message_body(body).send().await?;
        Ok(())
    }

    async fn send_delayed(&self, body: &str, seconds: u32) -> anyhow::Result<()> {
        let delay = i32::try_from(seconds.min(900)).unwrap_or(900);
        self.client.send_message().queue_url(&self.queue_url).message_body(body).delay_seconds(delay).send().await?;
        Ok(())
    }
}

/// Jobs kept in memory, for tests that run the worker themselves.
#[derive(Default)]
pub struct MemoryWorkQueue {
    jobs: std::sync::Mutex<Vec<String>>,
}

impl MemoryWorkQueue {
    /// Takes every job sent so far, oldest first.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl WorkQueue for MemoryWorkQueue {
    async fn send(&self, body: &str) -> anyhow::Result<()> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).push(body.to_owned());
        Ok(())
    }

    /// Kept like any job, with its delay in front: `<seconds> <body>`.
    async fn send_delayed(&self, body: &str, seconds: u32) -> anyhow::Result<()> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{seconds} {body}"));
        Ok(())
    }
}

/// Where a redrive sends a dead-letter queue's messages.
#[derive(Debug, Clone, Copy)]
pub enum RedriveTo<'a> {
    /// The one queue whose redrive policy filled the dead-letter queue; each
    /// message goes with its attributes.
    Queue(&'a str),
    /// The queue each message names in its `TARGET_ARN` attribute, as
    /// EventBridge writes it on a rule target's dead letters; the body (the
    /// event) goes alone, without EventBridge's error attributes.
    Targets,
}

/// The URL of the queue an SQS ARN names.
async fn queue_url_of(client: &aws_sdk_sqs::Client, arn: &str) -> anyhow::Result<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [_, _, "sqs", _, account, name] = parts.as_slice() else {
        anyhow::bail!("{arn} is not an SQS queue ARN");
    };
    let found = client.get_queue_url().queue_name(*name).queue_owner_aws_account_id(*account).send().await?;
    found.queue_url.ok_or_else(|| anyhow::anyhow!("no URL for {arn}"))
}

/// Moves every message of `from` (a dead-letter queue) back to where it was
/// going, ten at a time: each is deleted from `from` only once sent, so a
/// failure part way loses nothing (the rest become visible again in
/// `from`). Returns how many moved; `progress` is told the running total
/// after each batch.
pub async fn redrive(
    client: &aws_sdk_sqs::Client,
    from: &str,
    to: RedriveTo<'_>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> anyhow::Result<u64> {
    use aws_sdk_sqs::types::{
        DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
    };
    let mut moved = 0u64;
    let mut empty = 0;
    // Two empty receives in a row: SQS may answer empty once while messages
    // are still spread over its servers.
    while empty < 2 {
        let received = client
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(120)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        // Each message's destination, then one batch per destination.
        let mut batches: std::collections::BTreeMap<String, Vec<SendMessageBatchRequestEntry>> = Default::default();
        for (i, message) in messages.iter().enumerate() {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(message.body.clone().unwrap_or_default());
            let (queue, entry) = match to {
                RedriveTo::Queue(url) => {
                    (url.to_owned(), entry.set_message_attributes(message.message_attributes.clone()))
                }
                RedriveTo::Targets => {
                    let arn = message
                        .message_attributes
                        .as_ref()
                        .and_then(|a| a.get("TARGET_ARN"))
                        .and_then(|v| v.string_value.clone())
                        .ok_or_else(|| anyhow::anyhow!("a message in {from} names no TARGET_ARN; it stays there"))?;
                    (queue_url_of(client, &arn).await?, entry)
                }
            };
            batches.entry(queue).or_default().push(entry.build()?);
        }
        let mut deletes = Vec::with_capacity(messages.len());
        let mut sent_count = 0u64;
        for (queue, entries) in batches {
            let sent = client.send_message_batch().queue_url(&queue).set_entries(Some(entries)).send().await?;
            if let Some(failure) = sent.failed.first() {
                anyhow::bail!(
                    "sending to {queue} failed for {} message(s): {} ({}); they stay in {from}",
                    sent.failed.len(),
                    failure.message.as_deref().unwrap_or("no reason given"),
                    failure.code
                );
            }
            sent_count += sent.successful.len() as u64;
            for ok in &sent.successful {
                let receipt =
                    ok.id.parse::<usize>().ok().and_then(|i| messages.get(i)).and_then(|m| m.receipt_handle.clone());
                if let Some(receipt) = receipt {
                    deletes.push(
                        DeleteMessageBatchRequestEntry::builder().id(ok.id.clone()).receipt_handle(receipt).build()?,
                    );
                }
            }
        }
        let deleted = client.delete_message_batch().queue_url(from).set_entries(Some(deletes)).send().await?;
        if !deleted.failed.is_empty() {
            // Sent but not deleted: the consumer is idempotent, so a message
            // redriven twice is applied once.
            tracing::warn!(failed = deleted.failed.len(), "some redriven messages were not deleted from the DLQ");
        }
        moved += sent_count;
        progress(moved);
    }
    Ok(moved)
}
