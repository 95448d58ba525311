//! The outbox relay in the local stack: reads the table's stream the way the
//! Lambda event source mapping would and hands each batch to the very same
//! `outbox_relay::relay` the Lambda runs.

use anyhow::Context as _;
use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};
use outbox_relay::{RelayReport, StreamedOutboxItem, relay};
use partnerops_aws::Clock;
use partnerops_aws::outbox::{DynamoOutboxLedger, EventBridgePublisher, OutboxItem};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct StreamRelay {
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Shard id → next iterator; `None` once a shard is closed and read.
    iterators: BTreeMap<String, Option<String>>,
    publisher: EventBridgePublisher,
    ledger: DynamoOutboxLedger,
    clock: Arc<dyn Clock>,
}

impl StreamRelay {
    pub fn new(
        streams: aws_sdk_dynamodbstreams::Client,
        stream_arn: String,
        publisher: EventBridgePublisher,
        ledger: DynamoOutboxLedger,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { streams, stream_arn, iterators: BTreeMap::new(), publisher, ledger, clock }
    }

    async fn discover_shards(&mut self) -> anyhow::Result<()> {
        let described = self.streams.describe_stream().stream_arn(&self.stream_arn).send().await?;
        let shards = described.stream_description.map(|d| d.shards.unwrap_or_default()).unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            if self.iterators.contains_key(&id) {
                continue;
            }
            let iterator = self
                .streams
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator;
            self.iterators.insert(id, iterator);
        }
        Ok(())
    }

    /// Reads each shard once and relays what it found; returns the totals.
    pub async fn poll_once(&mut self) -> anyhow::Result<RelayReport> {
        self.discover_shards().await?;
        let mut total = RelayReport::default();
        let shard_ids: Vec<String> = self.iterators.keys().cloned().collect();
        for shard_id in shard_ids {
            let Some(Some(iterator)) = self.iterators.get(&shard_id).cloned() else {
                continue;
            };
            let output =
                self.streams.get_records().shard_iterator(iterator).limit(1000).send().await.context("GetRecords")?;
            let mut items = Vec::new();
            for record in output.records.unwrap_or_default() {
                if record.event_name != Some(OperationType::Insert) {
                    continue;
                }
                let Some(change) = record.dynamodb else {
                    continue;
                };
                let sequence_number = change.sequence_number.unwrap_or_default();
                let image = change.new_image.unwrap_or_default();
                let is_outbox = image.get("entity").and_then(|v| v.as_s().ok()).is_some_and(|s| s == "outbox");
                if !is_outbox {
                    continue;
                }
                match serde_dynamo::from_item::<_, OutboxItem>(image) {
                    Ok(item) => items.push(StreamedOutboxItem { sequence_number, item }),
                    Err(e) => tracing::error!(error = %e, "undecodable outbox item in the stream"),
                }
            }
            let mut next = output.next_shard_iterator;
            if !items.is_empty() {
                let report = relay(items, &self.publisher, &self.ledger, self.clock.now()).await;
                if let Some(first_failed) = report.failed.first() {
                    next = self
                        .streams
                        .get_shard_iterator()
                        .stream_arn(&self.stream_arn)
                        .shard_id(&shard_id)
                        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                        .sequence_number(first_failed)
                        .send()
                        .await?
                        .shard_iterator;
                }
                total.published += report.published;
                total.already_published += report.already_published;
                total.put_events_calls += report.put_events_calls;
                total.failed.extend(report.failed);
            }
            self.iterators.insert(shard_id, next);
        }
        Ok(total)
    }

    /// Polls until a pass publishes nothing new.
    pub async fn drain(&mut self) -> anyhow::Result<RelayReport> {
        let mut total = RelayReport::default();
        for _ in 0..100 {
            let report = self.poll_once().await?;
            let idle = report.published == 0 && report.failed.is_empty();
            total.published += report.published;
            total.already_published += report.already_published;
            total.put_events_calls += report.put_events_calls;
            total.failed = report.failed;
            if idle {
                break;
            }
        }
        Ok(total)
    }
}
