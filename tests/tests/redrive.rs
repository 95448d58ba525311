//! Replaying a dead-letter queue through the real SDK on moto: every
//! message goes back to its queue with its attributes, and none is left or
//! doubled; the relay's dead letters (stream batches) are read back from the
//! table's stream and published once.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_sqs::types::MessageAttributeValue;
use partnerops_aws::SystemClock;
use partnerops_aws::outbox::{DynamoOutboxLedger, EventBridgePublisher};
use partnerops_aws::queue::{RedriveTo, redrive};
use partnerops_devstack::local_sdk_config;
use partnerops_devstack::replay::replay_relay_dead_letters;
use partnerops_e2e::{TestStack, bus_tap, drain_tap, moto_endpoint, referral, unique_stack};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

#[tokio::test]
async fn a_dead_letter_queue_moves_back_whole_with_its_attributes() {
    let sdk = local_sdk_config(&moto_endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique_stack();
    let dlq = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap().queue_url.unwrap();
    let source = sqs.create_queue().queue_name(format!("{name}-source")).send().await.unwrap().queue_url.unwrap();
    for i in 0..25 {
        let reason =
            MessageAttributeValue::builder().data_type("String").string_value(format!("reason {i}")).build().unwrap();
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!("{{\"n\":{i}}}"))
            .message_attributes("failure_reason", reason)
            .send()
            .await
            .unwrap();
    }
    let reported = AtomicU64::new(0);
    let moved =
        redrive(&sqs, &dlq, RedriveTo::Queue(&source), &|n| reported.store(n, Ordering::Relaxed)).await.unwrap();
    assert_eq!((moved, reported.load(Ordering::Relaxed)), (25, 25));

    let mut bodies = BTreeSet::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&source)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let body = m.body.clone().unwrap();
            let n: u64 = serde_json::from_str::<serde_json::Value>(&body).unwrap()["n"].as_u64().unwrap();
            let reason = m.message_attributes.as_ref().unwrap()["failure_reason"].string_value.clone().unwrap();
            assert_eq!(reason, format!("reason {n}"), "attributes travel with their message");
            assert!(bodies.insert(body), "no message twice");
            sqs.delete_message().queue_url(&source).receipt_handle(m.receipt_handle.unwrap()).send().await.unwrap();
        }
    }
    assert_eq!(bodies.len(), 25);
    let left = sqs.receive_message().queue_url(&dlq).wait_time_seconds(1).send().await.unwrap();
    assert!(left.messages.unwrap_or_default().is_empty(), "the dead-letter queue is empty");
    assert_eq!(
        redrive(&sqs, &dlq, RedriveTo::Queue(&source), &|_| {}).await.unwrap(),
        0,
        "an empty queue moves nothing"
    );
}

#[tokio::test]
async fn a_rules_dead_letters_go_back_to_the_queue_each_names() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sdk = local_sdk_config(&moto_endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique_stack();
    let dlq = sqs.create_queue().queue_name(format!("{name}-rules-dlq")).send().await.unwrap().queue_url.unwrap();
    let mut targets = Vec::new();
    for target in ["notifications", "payouts"] {
        let url = sqs.create_queue().queue_name(format!("{name}-{target}")).send().await.unwrap().queue_url.unwrap();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let arn = attributes.attributes.unwrap()[&QueueAttributeName::QueueArn].clone();
        targets.push((url, arn));
    }
    // As EventBridge writes them: the event as the body, the target in attributes.
    for i in 0..12 {
        let (_, arn) = &targets[i % 2];
        let text = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build().unwrap();
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!("{{\"detail-type\":\"DealClosed\",\"n\":{i}}}"))
            .message_attributes("TARGET_ARN", text(arn))
            .message_attributes("ERROR_CODE", text("SQSPermissionError"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(redrive(&sqs, &dlq, RedriveTo::Targets, &|_| {}).await.unwrap(), 12);
    for (k, (url, _)) in targets.iter().enumerate() {
        let mut seen = BTreeSet::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                assert!(
                    m.message_attributes.is_none_or(|a| a.is_empty()),
                    "EventBridge's error attributes stay behind"
                );
                let n = serde_json::from_str::<serde_json::Value>(&m.body.unwrap()).unwrap()["n"].as_u64().unwrap();
                assert_eq!(n % 2, k as u64, "each event went back to the queue it names");
                assert!(seen.insert(n));
                sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle.unwrap()).send().await.unwrap();
            }
        }
        assert_eq!(seen.len(), 6);
    }
}

/// The shard and sequence numbers of the outbox inserts in the stack's
/// table stream so far, as the relay's event source mapping would name them.
async fn outbox_batch(t: &TestStack) -> (String, String, Vec<String>) {
    use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};
    let streams = aws_sdk_dynamodbstreams::Client::new(&t.stack.sdk);
    let arn = t.stack.provisioned.attribute("Table", "StreamArn").unwrap().to_owned();
    let described = streams.describe_stream().stream_arn(&arn).send().await.unwrap();
    for shard in described.stream_description.unwrap().shards.unwrap_or_default() {
        let shard_id = shard.shard_id.unwrap();
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        let mut sequences = Vec::new();
        while let Some(current) = iterator {
            let page = streams.get_records().shard_iterator(current).send().await.unwrap();
            let records = page.records.unwrap_or_default();
            if records.is_empty() {
                break;
            }
            for record in records {
                let change = record.dynamodb.unwrap();
                let outbox = change.new_image.as_ref().and_then(|i| i.get("entity")).and_then(|e| e.as_s().ok())
                    == Some(&"outbox".to_owned());
                if outbox && record.event_name == Some(OperationType::Insert) {
                    sequences.push(change.sequence_number.unwrap());
                }
            }
            iterator = page.next_shard_iterator;
        }
        if !sequences.is_empty() {
            return (arn, shard_id, sequences);
        }
    }
    panic!("no outbox insert in the stream")
}

#[tokio::test]
async fn the_relays_dead_letters_are_read_back_from_the_stream_and_published_once() {
    let t = TestStack::start().await;
    let (sqs, tap) = bus_tap(&t).await;
    let alpha = t.partner("alpha", "gold").await;
    for domain in ["acme.com", "globex.com", "initech.com"] {
        assert_eq!(t.post("/v1/referrals", &alpha, referral(domain)).await.status, StatusCode::CREATED);
    }
    // Nothing relayed yet: the dev stack relays on tick, so these events are
    // where a relay that gave up would have left them.
    let (stream_arn, shard_id, sequences) = outbox_batch(&t).await;
    assert!(sequences.len() >= 3, "{sequences:?}");
    let dead_letter = json!({
        "requestContext": { "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 51 },
        "responseContext": { "statusCode": 200, "functionError": "Unhandled" },
        "version": "1.0",
        "timestamp": "2026-12-02T10:00:00.000Z",
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": sequences[0],
            "endSequenceNumber": sequences[sequences.len() - 1],
            "batchSize": sequences.len(),
            "streamArn": stream_arn,
        }
    })
    .to_string();
    let dlq = t.stack.provisioned.reference("OutboxRelayDLQ").unwrap().to_owned();
    let table = t.stack.provisioned.reference("Table").unwrap().to_owned();
    let bus = t.stack.provisioned.reference("EventBus").unwrap().to_owned();
    let streams = aws_sdk_dynamodbstreams::Client::new(&t.stack.sdk);
    let publisher = EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&t.stack.sdk), &bus);
    let ledger = DynamoOutboxLedger::new(aws_sdk_dynamodb::Client::new(&t.stack.sdk), &table);
    let replay = || replay_relay_dead_letters(&sqs, &dlq, &streams, &publisher, &ledger, &SystemClock, &|_| {});

    sqs.send_message().queue_url(&dlq).message_body(&dead_letter).send().await.unwrap();
    let replayed = replay().await.unwrap();
    assert_eq!((replayed.batches, replayed.published, replayed.already_published), (1, sequences.len(), 0));
    let events = drain_tap(&sqs, &tap).await;
    assert_eq!(events.len(), sequences.len(), "{events:?}");
    let received = events.iter().filter(|e| e["detail-type"] == "ReferralReceived").count();
    assert_eq!(received, 3, "{events:?}");
    let left = sqs.receive_message().queue_url(&dlq).send().await.unwrap().messages.unwrap_or_default();
    assert!(left.is_empty(), "a replayed dead letter is deleted");

    // The same batch dead-lettered again publishes nothing twice, nor does
    // the stack's own relay when it next reads the stream.
    sqs.send_message().queue_url(&dlq).message_body(&dead_letter).send().await.unwrap();
    let again = replay().await.unwrap();
    assert_eq!((again.batches, again.published, again.already_published), (1, 0, sequences.len()));
    t.tick().await;
    assert!(drain_tap(&sqs, &tap).await.is_empty(), "every event reached the bus once");

    // A message that names no stream batch stays where it is.
    sqs.send_message().queue_url(&dlq).message_body("{\"Records\":[]}").send().await.unwrap();
    let refused = replay().await.unwrap_err();
    assert!(format!("{refused:#}").contains("DDBStreamBatchInfo"), "{refused:#}");
}
