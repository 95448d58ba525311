//! Replaying the relay's dead letters. When the relay Lambda gives up on a
//! stream batch, its event source mapping sends the batch's place in the
//! stream to `OutboxRelayDLQ` (`DDBStreamBatchInfo`: the shard and the first
//! and last sequence numbers), not the records. The replay reads those
//! records back from the stream and hands them to the same
//! `outbox_relay::relay` the Lambda runs, whose ledger skips the events that
//! were published; a dead letter is deleted only once its whole batch is.

use crate::stream::outbox_insert;
use anyhow::{Context as _, bail};
use aws_sdk_dynamodbstreams::error::ProvideErrorMetadata as _;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use outbox_relay::{StreamedOutboxItem, relay};
use partnerops_aws::Clock;
use partnerops_aws::outbox::{EventPublisher, OutboxLedger};
use serde::Deserialize;
use std::cmp::Ordering;

/// Reads of a shard that return no record before the batch counts as lost.
const EMPTY_READS: usize = 50;

#[derive(Debug, Deserialize)]
struct DeadLetter {
    #[serde(rename = "DDBStreamBatchInfo")]
    batch: BatchInfo,
}

/// A stream batch, as the event source mapping names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInfo {
    pub stream_arn: String,
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
}

impl BatchInfo {
    /// The batch a relay dead letter's body names.
    pub fn of_dead_letter(body: &str) -> anyhow::Result<Self> {
        let letter: DeadLetter =
            serde_json::from_str(body).context("not a stream batch's dead letter (no DDBStreamBatchInfo)")?;
        Ok(letter.batch)
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Dead letters whose batch is now published, and deleted.
    pub batches: u64,
    pub published: usize,
    pub already_published: usize,
}

/// Sequence numbers are decimal strings of any length.
fn by_number(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The outbox items of one batch, read back from the stream.
pub async fn read_batch(
    streams: &aws_sdk_dynamodbstreams::Client,
    batch: &BatchInfo,
) -> anyhow::Result<Vec<StreamedOutboxItem>> {
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&batch.stream_arn)
        .shard_id(&batch.shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(&batch.start_sequence_number)
        .send()
        .await
        .map_err(|e| match e.code() {
            Some("TrimmedDataAccessException" | "ResourceNotFoundException") => anyhow::anyhow!(
                "the stream no longer holds batch {}..{} of {} (it keeps records 24 hours): its events \
                 are still outbox items in the table for 7 days; see docs/operations.md#outboxrelaydlq",
                batch.start_sequence_number,
                batch.end_sequence_number,
                batch.shard_id
            ),
            _ => anyhow::Error::new(e).context("GetShardIterator"),
        })?;
    let mut iterator = iterator.shard_iterator;
    let mut items = Vec::new();
    let mut empty = 0;
    while let Some(current) = iterator {
        let output = streams.get_records().shard_iterator(current).limit(1000).send().await.context("GetRecords")?;
        let records = output.records.unwrap_or_default();
        if records.is_empty() {
            empty += 1;
            if empty >= EMPTY_READS {
                break;
            }
        }
        for record in records {
            let Some(change) = record.dynamodb else { continue };
            let sequence_number = change.sequence_number.clone().unwrap_or_default();
            if by_number(&sequence_number, &batch.end_sequence_number) == Ordering::Greater {
                return Ok(items);
            }
            let last = sequence_number == batch.end_sequence_number;
            items.extend(outbox_insert(
                record.event_name.as_ref(),
                sequence_number,
                change.new_image.unwrap_or_default(),
            ));
            if last {
                return Ok(items);
            }
        }
        iterator = output.next_shard_iterator;
    }
    bail!(
        "shard {} ended before sequence number {}, the batch's last: the dead letter stays",
        batch.shard_id,
        batch.end_sequence_number
    )
}

/// Replays every dead letter of `dlq_url`; `progress` is told the batches
/// done so far. Stops at the first batch that cannot be published, leaving
/// it (and those after it) in the queue.
pub async fn replay_relay_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    streams: &aws_sdk_dynamodbstreams::Client,
    publisher: &dyn EventPublisher,
    ledger: &dyn OutboxLedger,
    clock: &dyn Clock,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> anyhow::Result<Replayed> {
    let mut done = Replayed::default();
    let mut empty = 0;
    // Two empty receives in a row: SQS may answer empty once while messages
    // are still spread over its servers.
    while empty < 2 {
        let received = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(300)
            .send()
            .await
            .context("ReceiveMessage")?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        for message in messages {
            let id = message.message_id.clone().unwrap_or_default();
            let batch = BatchInfo::of_dead_letter(message.body.as_deref().unwrap_or_default())
                .with_context(|| format!("dead letter {id}"))?;
            let items = read_batch(streams, &batch).await.with_context(|| format!("dead letter {id}"))?;
            let report = relay(items, publisher, ledger, clock.now()).await;
            if !report.failed.is_empty() {
                bail!(
                    "dead letter {id}: the bus refused {} event(s) of its batch again; it stays in the queue",
                    report.failed.len()
                );
            }
            sqs.delete_message()
                .queue_url(dlq_url)
                .receipt_handle(message.receipt_handle.unwrap_or_default())
                .send()
                .await
                .context("DeleteMessage")?;
            done.batches += 1;
            done.published += report.published;
            done.already_published += report.already_published;
            progress(done.batches);
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert_eq!(by_number("900", "1000"), Ordering::Less);
        assert_eq!(by_number("1000", "1000"), Ordering::Equal);
        assert_eq!(by_number("1001", "1000"), Ordering::Greater);
    }

    #[test]
    fn a_dead_letter_names_its_batch() {
        let body = r#"{"requestContext":{"condition":"RetryAttemptsExhausted","approximateInvokeCount":51},
            "version":"1.0","timestamp":"2026-12-02T10:00:00.000Z",
            "DDBStreamBatchInfo":{"shardId":"shardId-0001","startSequenceNumber":"100","endSequenceNumber":"250",
            "approximateArrivalOfFirstRecord":"2026-12-02T09:59:00Z","approximateArrivalOfLastRecord":"2026-12-02T09:59:01Z",
            "batchSize":3,"streamArn":"arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026"}}"#;
        let batch = BatchInfo::of_dead_letter(body).unwrap();
        assert_eq!((batch.shard_id.as_str(), batch.start_sequence_number.as_str()), ("shardId-0001", "100"));
        assert_eq!(batch.end_sequence_number, "250");
        assert!(BatchInfo::of_dead_letter(r#"{"Records":[]}"#).is_err());
    }
}
