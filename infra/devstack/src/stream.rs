//! The outbox relay in the local stack: reads the table's stream the way the
//! Lambda event source mapping would and hands each batch to the very same
//! `outbox_relay::relay` the Lambda runs.
//!
//! A stream reader that silently reads nothing is the worst failure a relay
//! can have: every event after it is lost without a word. So the relay proves
//! on every drain that it still sees the stream: it writes a probe item to the
//! table and must find that write among the records it reads. When it cannot,
//! it says so in the log at error level, in `/_dev/health` and in
//! `/_dev/tick` (503 `relay_stalled`), and keeps trying.

use anyhow::Context as _;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::error::ProvideErrorMetadata as _;
use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};
use outbox_relay::{RelayReport, StreamedOutboxItem, relay};
use partnerops_aws::Clock;
use partnerops_aws::outbox::{DynamoOutboxLedger, EventBridgePublisher, OutboxItem};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The probe's key: outside every key space the functions use.
const PROBE_PK: &str = "DEVSTACK#RELAY";
const PROBE_SK: &str = "PROBE";
/// Reads that find nothing new, after a drain, before a probe that has not
/// shown up counts as lost. Reads that find records are the relay catching up
/// on a busy stream (consumers write too), not a stall, and do not count.
const PROBE_POLLS: usize = 20;

/// What the relay knows of its own health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayHealth {
    Ok,
    /// The stream cannot be read, or reads nothing of what is written.
    Stalled(String),
}

#[derive(Debug, Clone, Default)]
struct Shard {
    iterator: Option<String>,
    /// The last sequence number handed to the relay, to resume after it.
    last_sequence: Option<String>,
    /// The shard is closed and read to its end.
    done: bool,
}

pub struct StreamRelay {
    streams: aws_sdk_dynamodbstreams::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    stream_arn: String,
    shards: BTreeMap<String, Shard>,
    publisher: EventBridgePublisher,
    ledger: DynamoOutboxLedger,
    clock: Arc<dyn Clock>,
    probe_written: u64,
    probe_seen: u64,
    /// Stream records read, outbox or not: a read that moves it is progress.
    records_read: u64,
    /// Probes that did not come back: each one a stall, even if it healed.
    stalls: u64,
    health: RelayHealth,
}

impl StreamRelay {
    pub fn new(
        streams: aws_sdk_dynamodbstreams::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        table: String,
        stream_arn: String,
        publisher: EventBridgePublisher,
        ledger: DynamoOutboxLedger,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            streams,
            dynamodb,
            table,
            stream_arn,
            shards: BTreeMap::new(),
            publisher,
            ledger,
            clock,
            probe_written: 0,
            probe_seen: 0,
            records_read: 0,
            stalls: 0,
            health: RelayHealth::Ok,
        }
    }

    pub fn health(&self) -> &RelayHealth {
        &self.health
    }

    /// How many drains so far found the stream not showing what was written.
    pub fn stalls(&self) -> u64 {
        self.stalls
    }

    async fn discover_shards(&mut self) -> anyhow::Result<()> {
        let described =
            self.streams.describe_stream().stream_arn(&self.stream_arn).send().await.context("DescribeStream")?;
        let shards = described.stream_description.map(|d| d.shards.unwrap_or_default()).unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            self.shards.entry(id).or_default();
        }
        Ok(())
    }

    /// An iterator after the last record relayed, or from the oldest kept.
    async fn reopen(&self, shard_id: &str, after: Option<&str>) -> anyhow::Result<Option<String>> {
        let request = self.streams.get_shard_iterator().stream_arn(&self.stream_arn).shard_id(shard_id);
        let request = match after {
            Some(sequence) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(sequence)
            }
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        Ok(request.send().await.context("GetShardIterator")?.shard_iterator)
    }

    /// Reads each shard once and relays what it found; returns the totals.
    pub async fn poll_once(&mut self) -> anyhow::Result<RelayReport> {
        self.discover_shards().await?;
        let mut total = RelayReport::default();
        let shard_ids: Vec<String> = self.shards.keys().cloned().collect();
        for shard_id in shard_ids {
            let shard = self.shards.get(&shard_id).cloned().unwrap_or_default();
            if shard.done {
                continue;
            }
            let iterator = match shard.iterator {
                Some(iterator) => iterator,
                None => match self.reopen(&shard_id, shard.last_sequence.as_deref()).await? {
                    Some(iterator) => iterator,
                    None => continue,
                },
            };
            let output = match self.streams.get_records().shard_iterator(iterator).limit(1000).send().await {
                Ok(output) => output,
                Err(e) => {
                    let code = e.code().unwrap_or_default().to_owned();
                    let entry = self.shards.entry(shard_id.clone()).or_default();
                    entry.iterator = None;
                    match code.as_str() {
                        // Iterators live 15 minutes: take a new one after the last record relayed.
                        "ExpiredIteratorException" => {
                            tracing::info!(shard = %shard_id, "shard iterator expired; resuming after the last record");
                            continue;
                        }
                        "TrimmedDataAccessException" => {
                            tracing::error!(
                                shard = %shard_id,
                                "stream records were removed before the relay read them: events written then \
                                 were never published; resuming from the oldest record kept"
                            );
                            entry.last_sequence = None;
                            self.health =
                                RelayHealth::Stalled("stream records were trimmed before they were relayed".into());
                            continue;
                        }
                        _ => return Err(anyhow::Error::new(e).context("GetRecords")),
                    }
                }
            };
            let mut items = Vec::new();
            let mut last_sequence = None;
            let records = output.records.unwrap_or_default();
            self.records_read += records.len() as u64;
            for record in records {
                let Some(change) = record.dynamodb else {
                    continue;
                };
                let sequence_number = change.sequence_number.clone().unwrap_or_default();
                last_sequence = Some(sequence_number.clone());
                let image = change.new_image.unwrap_or_default();
                if let Some(n) = probe_number(&image) {
                    self.probe_seen = self.probe_seen.max(n);
                    continue;
                }
                items.extend(outbox_insert(record.event_name.as_ref(), sequence_number, image));
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
                        .await
                        .context("GetShardIterator")?
                        .shard_iterator;
                    // What failed is read again from its own sequence number.
                    last_sequence = None;
                }
                total.published += report.published;
                total.already_published += report.already_published;
                total.put_events_calls += report.put_events_calls;
                total.failed.extend(report.failed);
            }
            let entry = self.shards.entry(shard_id).or_default();
            if let Some(sequence) = last_sequence {
                entry.last_sequence = Some(sequence);
            }
            entry.done = next.is_none();
            entry.iterator = next;
        }
        Ok(total)
    }

    /// Polls until a pass publishes nothing new, then proves the stream is
    /// still live: a probe written to the table must come back through it.
    pub async fn drain(&mut self) -> anyhow::Result<RelayReport> {
        let mut total = self.drain_once().await?;
        let probe = self.write_probe().await?;
        let mut empty_reads = 0;
        while self.probe_seen < probe && empty_reads < PROBE_POLLS {
            let read_before = self.records_read;
            let report = self.poll_once().await?;
            if self.records_read == read_before {
                empty_reads += 1;
            }
            total.published += report.published;
            total.already_published += report.already_published;
            total.put_events_calls += report.put_events_calls;
            total.failed.extend(report.failed);
        }
        if self.probe_seen >= probe {
            if matches!(self.health, RelayHealth::Stalled(_)) {
                tracing::warn!("the table stream is readable again; the relay is publishing");
            }
            self.health = RelayHealth::Ok;
        } else {
            let reason = format!(
                "a write to {} did not appear in its stream {} after {PROBE_POLLS} reads found nothing new: \
                 the relay cannot see new records, so no event is being published",
                self.table, self.stream_arn
            );
            tracing::error!(reason = %reason, "outbox relay stalled");
            self.stalls += 1;
            self.health = RelayHealth::Stalled(reason);
            // Next time, start again from the stream's description.
            for shard in self.shards.values_mut() {
                shard.iterator = None;
            }
        }
        Ok(total)
    }

    async fn drain_once(&mut self) -> anyhow::Result<RelayReport> {
        let mut total = RelayReport::default();
        for _ in 0..100 {
            let read_before = self.records_read;
            let report = self.poll_once().await?;
            let idle = self.records_read == read_before && report.failed.is_empty();
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

    async fn write_probe(&mut self) -> anyhow::Result<u64> {
        self.probe_written += 1;
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .item("PK", AttributeValue::S(PROBE_PK.into()))
            .item("SK", AttributeValue::S(PROBE_SK.into()))
            .item("entity", AttributeValue::S("relay_probe".into()))
            .item("probe", AttributeValue::N(self.probe_written.to_string()))
            .send()
            .await
            .context("writing the relay probe")?;
        Ok(self.probe_written)
    }
}

/// The outbox item a stream record inserted, if it is one; an undecodable
/// one is logged and skipped, since reading it again cannot mend it.
pub(crate) fn outbox_insert(
    event_name: Option<&OperationType>,
    sequence_number: String,
    image: std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Option<StreamedOutboxItem> {
    if event_name != Some(&OperationType::Insert) {
        return None;
    }
    let entity = image.get("entity").and_then(|v| v.as_s().ok());
    if entity.map(String::as_str) != Some("outbox") {
        return None;
    }
    match serde_dynamo::from_item::<_, OutboxItem>(image) {
        Ok(item) => Some(StreamedOutboxItem { sequence_number, item }),
        Err(e) => {
            tracing::error!(error = %e, sequence_number, "undecodable outbox item in the stream");
            None
        }
    }
}

fn probe_number(
    image: &std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Option<u64> {
    let is_probe = image.get("PK").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk == PROBE_PK);
    if !is_probe {
        return None;
    }
    image.get("probe").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}
