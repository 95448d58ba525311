//! The transactional outbox: events are written as items in the same
//! transaction as the state change that caused them, and `outbox-relay`
//! publishes them from the table's stream to EventBridge.

use crate::store::items::{OUTBOX_SK, outbox_pk};
pub use crate::store::items::{OutboxItem, outbox_item};
use anyhow::Context as _;
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use partnerops_domain::Timestamp;
use partnerops_domain::event::EVENT_SOURCE;

/// EventBridge accepts at most ten entries per `PutEvents` call.
pub const MAX_ENTRIES_PER_PUT: usize = 10;

/// One event ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEvent {
    pub event_id: String,
    pub detail_type: String,
    pub detail: String,
    pub occurred_at: Timestamp,
}

impl From<OutboxItem> for OutboundEvent {
    fn from(item: OutboxItem) -> Self {
        Self {
            event_id: item.event_id,
            detail_type: item.detail_type,
            detail: item.detail,
            occurred_at: item.occurred_at,
        }
    }
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes up to ten events in one call; returns, per entry in order,
    /// whether the bus accepted it.
    async fn publish(&self, events: &[OutboundEvent]) -> anyhow::Result<Vec<bool>>;
}

#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl EventBridgePublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        Self { client, bus_name: bus_name.into() }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, bus_name: impl Into<String>) -> Self {
        Self::new(aws_sdk_eventbridge::Client::new(sdk), bus_name)
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[OutboundEvent]) -> anyhow::Result<Vec<bool>> {
        let entries: Vec<PutEventsRequestEntry> = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(EVENT_SOURCE)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .time(aws_sdk_eventbridge::primitives::DateTime::from_millis(e.occurred_at.unix_millis()))
                    .build()
            })
            .collect();
        let output =
            self.client.put_events().set_entries(Some(entries)).send().await.context("EventBridge PutEvents")?;
        let results = output.entries();
        Ok((0..events.len())
            .map(|i| results.get(i).is_some_and(|r| r.error_code().is_none() && r.event_id().is_some()))
            .collect())
    }
}

/// Remembers which outbox events were published, so a redelivered stream
/// batch does not publish them again.
#[async_trait]
pub trait OutboxLedger: Send + Sync {
    /// The subset of `event_ids` already published.
    async fn published(&self, event_ids: &[String]) -> anyhow::Result<std::collections::HashSet<String>>;
    async fn mark_published(&self, items: &[OutboxItem], at: Timestamp) -> anyhow::Result<()>;
}

#[derive(Debug, Clone)]
pub struct DynamoOutboxLedger {
    store: crate::DynamoStore,
}

impl DynamoOutboxLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { store: crate::DynamoStore::new(client, table) }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(sdk), table)
    }
}

#[async_trait]
impl OutboxLedger for DynamoOutboxLedger {
    async fn published(&self, event_ids: &[String]) -> anyhow::Result<std::collections::HashSet<String>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        use std::collections::HashMap;
        let mut published = std::collections::HashSet::new();
        for chunk in event_ids.chunks(100) {
            let keys = chunk
                .iter()
                .map(|id| {
                    HashMap::from([
                        ("PK".to_owned(), AttributeValue::S(outbox_pk(id))),
                        ("SK".to_owned(), AttributeValue::S(OUTBOX_SK.to_owned())),
                    ])
                })
                .collect();
            for item in self.store.batch_get(keys).await? {
                if item.contains_key("published_at")
                    && let Some(AttributeValue::S(id)) = item.get("event_id")
                {
                    published.insert(id.clone());
                }
            }
        }
        Ok(published)
    }

    async fn mark_published(&self, items: &[OutboxItem], at: Timestamp) -> anyhow::Result<()> {
        let mut encoded = Vec::with_capacity(items.len());
        for item in items {
            let mut item = item.clone();
            item.published_at = Some(at);
            encoded.push(serde_dynamo::to_item(&item).context("encoding outbox item")?);
        }
        self.store.batch_put(encoded).await?;
        Ok(())
    }
}
