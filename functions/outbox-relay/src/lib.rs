//! `outbox-relay`: publishes committed domain events from the table's stream
//! to the `partnerops` EventBridge bus.
//!
//! At least once, never lost: an event is only reported done once the bus
//! accepted it. Already-published events in a redelivered batch are skipped
//! (the outbox item records `published_at`); consumers still dedupe by
//! `event_id`, since a crash between publish and record can repeat one.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use partnerops_aws::outbox::{EventPublisher, MAX_ENTRIES_PER_PUT, OutboundEvent, OutboxItem, OutboxLedger};
use partnerops_domain::Timestamp;
use std::time::Duration;

/// Attempts per entry at PutEvents before its record is reported failed.
pub const PUBLISH_ATTEMPTS: u32 = 4;

/// One outbox insert read from the stream, with its sequence number.
#[derive(Debug, Clone)]
pub struct StreamedOutboxItem {
    pub sequence_number: String,
    pub item: OutboxItem,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RelayReport {
    pub published: usize,
    pub already_published: usize,
    pub put_events_calls: usize,
    /// Sequence numbers of the records to deliver again.
    pub failed: Vec<String>,
}

/// Publishes a stream batch's outbox items in order, ten per call, resending
/// only the entries the bus refused.
pub async fn relay(
    items: Vec<StreamedOutboxItem>,
    publisher: &dyn EventPublisher,
    ledger: &dyn OutboxLedger,
    now: Timestamp,
) -> RelayReport {
    let mut report = RelayReport::default();
    let ids: Vec<String> = items.iter().map(|i| i.item.event_id.clone()).collect();
    let done = match ledger.published(&ids).await {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "could not read published flags; publishing the whole batch");
            Default::default()
        }
    };
    let (skip, todo): (Vec<_>, Vec<_>) = items.into_iter().partition(|i| done.contains(&i.item.event_id));
    report.already_published = skip.len();

    let mut published: Vec<OutboxItem> = Vec::new();
    for chunk in todo.chunks(MAX_ENTRIES_PER_PUT) {
        let mut pending: Vec<&StreamedOutboxItem> = chunk.iter().collect();
        for attempt in 0..PUBLISH_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            let events: Vec<OutboundEvent> = pending.iter().map(|p| OutboundEvent::from(p.item.clone())).collect();
            report.put_events_calls += 1;
            match publisher.publish(&events).await {
                Ok(accepted) => {
                    let mut refused = Vec::new();
                    for (entry, ok) in pending.into_iter().zip(accepted.into_iter().chain(std::iter::repeat(false))) {
                        if ok { published.push(entry.item.clone()) } else { refused.push(entry) }
                    }
                    pending = refused;
                }
                Err(e) => tracing::warn!(error = %format!("{e:#}"), attempt, "PutEvents failed"),
            }
        }
        for entry in pending {
            tracing::error!(event_id = %entry.item.event_id, detail_type = %entry.item.detail_type, "event not accepted by the bus; the stream will redeliver it");
            report.failed.push(entry.sequence_number.clone());
        }
    }
    report.published = published.len();
    if let Err(e) = ledger.mark_published(&published, now).await {
        tracing::warn!(error = %format!("{e:#}"), "could not record published events; a redelivery may publish them again");
    }
    report
}

/// The outbox inserts of a Lambda DynamoDB stream event. Records that are
/// not outbox inserts are ignored (the event source mapping filters them too).
pub fn outbox_items(event: Event) -> (Vec<StreamedOutboxItem>, Vec<String>) {
    let mut items = Vec::new();
    let mut undecodable = Vec::new();
    for record in event.records {
        if record.event_name != "INSERT" {
            continue;
        }
        let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
        let is_outbox =
            matches!(record.change.new_image.get("entity"), Some(serde_dynamo::AttributeValue::S(s)) if s == "outbox");
        if !is_outbox {
            continue;
        }
        match serde_dynamo::from_item::<_, OutboxItem>(record.change.new_image) {
            Ok(item) => items.push(StreamedOutboxItem { sequence_number, item }),
            Err(e) => {
                tracing::error!(error = %e, sequence_number, "undecodable outbox item");
                undecodable.push(sequence_number);
            }
        }
    }
    (items, undecodable)
}

/// Undecodable records are logged and dropped: retrying cannot fix them.
pub fn batch_response(report: &RelayReport) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = report
        .failed
        .iter()
        .map(|seq| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(seq.clone());
            failure
        })
        .collect();
    response
}

#[cfg(test)]
mod tests;
