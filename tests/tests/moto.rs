//! The local server's own costs, counted rather than timed: a transaction
//! does work in proportion to the items it names, a query to the items it
//! can match, never to the table, and a message sent reads the clock as
//! often however many messages its queue holds.
//! The shared server's counters belong to the one test that uses it; the
//! retention and queue tests run servers of their own.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use partnerops_devstack::moto::MotoServer;
use partnerops_e2e::{TestStack, moto_endpoint, referral};
use reqwest::StatusCode;
use serde_json::Value;

async fn stats() -> Value {
    reqwest::get(format!("{}/_partnerops/stats", moto_endpoint())).await.unwrap().json().await.unwrap()
}

async fn fill(t: &TestStack, from: usize, to: usize) {
    let dynamodb = aws_sdk_dynamodb::Client::new(&t.stack.sdk);
    let table = t.stack.provisioned.reference("Table").unwrap().to_owned();
    let items: Vec<usize> = (from..to).collect();
    for chunk in items.chunks(25) {
        let writes = chunk
            .iter()
            .map(|n| {
                let put = PutRequest::builder()
                    .item("PK", AttributeValue::S(format!("FILL#{n}")))
                    .item("SK", AttributeValue::S("FILL".into()))
                    .item("entity", AttributeValue::S("fill".into()))
                    .item("notes", AttributeValue::S("x".repeat(200)))
                    .build()
                    .unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        dynamodb.batch_write_item().request_items(&table, writes).send().await.unwrap();
    }
}

/// Items moto deep-copied while one referral was accepted and one refused.
async fn copies_per_intake(t: &TestStack, alpha: &str, beta: &str, domain: &str) -> u64 {
    let before = stats().await["items_deep_copied"].as_u64().unwrap();
    assert_eq!(t.post("/v1/referrals", alpha, referral(domain)).await.status, StatusCode::CREATED);
    assert_eq!(t.post("/v1/referrals", beta, referral(domain)).await.status, StatusCode::CONFLICT);
    stats().await["items_deep_copied"].as_u64().unwrap() - before
}

/// Items moto listed to answer a table query for one filled item and a GSI
/// query for a key no item holds.
async fn listed_per_query(t: &TestStack) -> (u64, u64) {
    let dynamodb = aws_sdk_dynamodb::Client::new(&t.stack.sdk);
    let table = t.stack.provisioned.reference("Table").unwrap().to_owned();
    let listed = || async { stats().await["items_listed_by_queries"].as_u64().unwrap() };
    let before = listed().await;
    let got = dynamodb
        .query()
        .table_name(&table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("FILL#7".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(got.count, 1);
    let table_query = listed().await - before;
    let before = listed().await;
    let got = dynamodb
        .query()
        .table_name(&table)
        .index_name("GSI1")
        .key_condition_expression("GSI1PK = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("NO#SUCH#KEY".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(got.count, 0);
    (table_query, listed().await - before)
}

#[tokio::test]
async fn a_transaction_costs_what_it_touches_not_what_the_table_holds() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;
    let beta = t.partner("beta", "gold").await;
    // Warm both keys' caches, so only the intakes' own requests are counted.
    copies_per_intake(&t, &alpha, &beta, "warm.com").await;

    fill(&t, 0, 100).await;
    let small = copies_per_intake(&t, &alpha, &beta, "small-table.com").await;
    let listed_small = listed_per_query(&t).await;
    fill(&t, 100, 5_000).await;
    let large = copies_per_intake(&t, &alpha, &beta, "large-table.com").await;
    let listed_large = listed_per_query(&t).await;
    // A table query lists its one partition, a GSI query the items holding its key.
    assert_eq!(listed_small, (1, 0), "items listed by a table and a GSI query with 100 items");
    assert_eq!(listed_large, listed_small, "and with 5,000");

    assert_eq!(small, large, "items copied per intake with 100 and with 5,000 items in the table");
    assert!(small <= 10, "a referral's transactions name a handful of items, copied {small}");
    assert!(stats().await["transactions"].as_u64().unwrap() >= 6, "the intakes wrote through TransactWriteItems");
}

#[tokio::test]
async fn stream_records_older_than_the_retention_are_trimmed() {
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    // A server of its own, keeping records for one second instead of 24 hours.
    let log = std::env::temp_dir().join(format!("partnerops-moto-trim-{}.log", std::process::id()));
    let moto = MotoServer::spawn_with(&log, &[("PARTNEROPS_STREAM_RETENTION_SECONDS", "1")]).unwrap();
    let sdk = partnerops_devstack::local_sdk_config(&moto.endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let arn = partnerops_e2e::create_streamed_table(&dynamodb, "trim").await;
    let put = |pk: &'static str| {
        dynamodb
            .put_item()
            .table_name("trim")
            .item("PK", AttributeValue::S(pk.into()))
            .item("SK", AttributeValue::S("X".into()))
            .send()
    };
    let shard = streams.describe_stream().stream_arn(&arn).send().await.unwrap();
    let shard_id = shard.stream_description.unwrap().shards.unwrap()[0].shard_id.clone().unwrap();
    let horizon = || {
        streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
    };
    put("old").await.unwrap();
    let old_iterator = horizon().send().await.unwrap().shard_iterator.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    put("new").await.unwrap();

    let stale = streams.get_records().shard_iterator(old_iterator).send().await.unwrap_err();
    assert_eq!(aws_sdk_dynamodbstreams::error::ProvideErrorMetadata::code(&stale), Some("TrimmedDataAccessException"));
    let fresh = horizon().send().await.unwrap().shard_iterator.unwrap();
    let records = streams.get_records().shard_iterator(fresh).send().await.unwrap().records.unwrap();
    let keys: Vec<String> =
        records.iter().filter_map(|r| r.dynamodb.as_ref()?.keys.as_ref()?.get("PK")?.as_s().ok().cloned()).collect();
    assert_eq!(keys, ["new"], "only what was written within the retention is kept");
    let stats: Value =
        reqwest::get(format!("{}/_partnerops/stats", moto.endpoint)).await.unwrap().json().await.unwrap();
    assert_eq!(stats["stream_records_trimmed"], 1, "{stats}");
}

#[tokio::test]
async fn a_queue_backlog_does_not_make_each_send_read_the_clock_more() {
    use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
    // A server of its own: no stack polls its queues between the readings.
    let log = std::env::temp_dir().join(format!("partnerops-moto-queue-{}.log", std::process::id()));
    let moto = MotoServer::spawn_with(&log, &[]).unwrap();
    let sdk = partnerops_devstack::local_sdk_config(&moto.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs.create_queue().queue_name("backlog").send().await.unwrap().queue_url.unwrap();
    let readings = || async {
        let stats: Value =
            reqwest::get(format!("{}/_partnerops/stats", moto.endpoint)).await.unwrap().json().await.unwrap();
        stats["sqs_clock_readings"].as_u64().unwrap()
    };
    // The clock readings of one SendMessage and of one count of the queue.
    let one_send_and_count = || async {
        let before = readings().await;
        sqs.send_message().queue_url(&url).message_body("{}").send().await.unwrap();
        let sent = readings().await;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        (sent - before, readings().await - sent, attributes[&QueueAttributeName::ApproximateNumberOfMessages].clone())
    };

    let (send_empty, count_empty, held) = one_send_and_count().await;
    assert_eq!(held, "1");
    for batch in 0..100 {
        let entries = (0..10)
            .map(|n| SendMessageBatchRequestEntry::builder().id(format!("m{n}")).message_body(format!("{batch}")));
        let entries = entries.map(|entry| entry.build().unwrap()).collect();
        sqs.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.unwrap();
    }
    let (send_full, count_full, held) = one_send_and_count().await;
    assert_eq!(held, "1002", "every message is still in the queue");
    assert!(send_empty > 0 && count_empty > 0, "the readings are counted: {send_empty}, {count_empty}");
    assert_eq!(send_full, send_empty, "clock readings of a send into 1 and into 1,001 messages");
    assert_eq!(count_full, count_empty, "clock readings of counting 2 and 1,002 messages");
}
