//! A consumer's hold on its SQS queue: delaying a message and moving one
//! that can never succeed to the dead-letter queue.

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
