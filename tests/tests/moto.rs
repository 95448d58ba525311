//! The local server's own costs, counted rather than timed: a transaction
//! does work in proportion to the items it names, a query (table or index)
//! to the items in the partition it asks for, never to the table, and a message sent reads the clock as
//! often however many messages its queue holds.
//! Every test that reads the server's counters runs a server of its own, so
//! no other test's requests are counted with its own.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use partnerops_devstack::moto::MotoServer;
use partnerops_e2e::{TestStack, referral};
use reqwest::StatusCode;
use serde_json::Value;

async fn stats(t: &TestStack) -> Value {
    reqwest::get(format!("{}/_partnerops/stats", t.stack.endpoint)).await.unwrap().json().await.unwrap()
}

/// A dev stack on a moto server of its own, which the stack must not outlive.
async fn stack_on_own_server(name: &str) -> (MotoServer, TestStack) {
    let log = std::env::temp_dir().join(format!("partnerops-moto-{name}-{}.log", std::process::id()));
    let moto = MotoServer::spawn(&log).unwrap();
    let endpoint = moto.endpoint.clone();
    (moto, TestStack::start_with(|options| options.endpoint = Some(endpoint)).await)
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
                    // Three items share one index partition, the rest have one each.
                    .item("GSI1PK", AttributeValue::S(if *n < 3 { "FILL#GROUP".into() } else { format!("FILL#{n}") }))
                    .item("GSI1SK", AttributeValue::S(format!("{n:06}")))
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
    let before = stats(t).await["items_deep_copied"].as_u64().unwrap();
    assert_eq!(t.post("/v1/referrals", alpha, referral(domain)).await.status, StatusCode::CREATED);
    assert_eq!(t.post("/v1/referrals", beta, referral(domain)).await.status, StatusCode::CONFLICT);
    stats(t).await["items_deep_copied"].as_u64().unwrap() - before
}

async fn examined(t: &TestStack) -> u64 {
    stats(t).await["items_examined_by_queries"].as_u64().unwrap()
}

/// How many items a query read, and how many it returned.
async fn query_cost(t: &TestStack, index: Option<&str>, key: &str) -> (u64, i32) {
    let dynamodb = aws_sdk_dynamodb::Client::new(&t.stack.sdk);
    let table = t.stack.provisioned.reference("Table").unwrap().to_owned();
    let attribute = if index.is_some() { "GSI1PK" } else { "PK" };
    let before = examined(t).await;
    let got = dynamodb
        .query()
        .table_name(&table)
        .set_index_name(index.map(str::to_owned))
        .key_condition_expression(format!("{attribute} = :pk"))
        .expression_attribute_values(":pk", AttributeValue::S(key.into()))
        .send()
        .await
        .unwrap();
    (examined(t).await - before, got.count)
}

/// Items moto read to answer a table query for one filled item, a GSI query
/// for a partition of three and one for a key no item holds.
async fn examined_per_query(t: &TestStack) -> [(u64, i32); 3] {
    [
        query_cost(t, None, "FILL#7").await,
        query_cost(t, Some("GSI1"), "FILL#GROUP").await,
        query_cost(t, Some("GSI1"), "NO#SUCH#KEY").await,
    ]
}

#[tokio::test]
async fn a_transaction_costs_what_it_touches_not_what_the_table_holds() {
    let (_moto, t) = stack_on_own_server("costs").await;
    let alpha = t.partner("alpha", "gold").await;
    let beta = t.partner("beta", "gold").await;
    // Warm both keys' caches, so only the intakes' own requests are counted.
    copies_per_intake(&t, &alpha, &beta, "warm.com").await;

    fill(&t, 0, 100).await;
    let small = copies_per_intake(&t, &alpha, &beta, "small-table.com").await;
    let read_small = examined_per_query(&t).await;
    fill(&t, 100, 5_000).await;
    let large = copies_per_intake(&t, &alpha, &beta, "large-table.com").await;
    let read_large = examined_per_query(&t).await;
    // A table query reads its one partition, a GSI query the items filed under its key.
    assert_eq!(read_small, [(1, 1), (3, 3), (0, 0)], "items read and returned by three queries with 100 items");
    assert_eq!(read_large, read_small, "and with 5,000");

    assert_eq!(small, large, "items copied per intake with 100 and with 5,000 items in the table");
    assert!(small <= 10, "a referral's transactions name a handful of items, copied {small}");
    assert!(stats(&t).await["transactions"].as_u64().unwrap() >= 6, "the intakes wrote through TransactWriteItems");
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

/// The keys an index query for `partition` returns, in order.
async fn gsi1_keys(dynamodb: &aws_sdk_dynamodb::Client, table: &str, partition: &str) -> Vec<String> {
    let got = dynamodb
        .query()
        .table_name(table)
        .index_name("GSI1")
        .key_condition_expression("GSI1PK = :pk AND GSI1SK > :after")
        .expression_attribute_values(":pk", AttributeValue::S(partition.into()))
        .expression_attribute_values(":after", AttributeValue::S("0".into()))
        .send()
        .await
        .unwrap();
    got.items.unwrap_or_default().iter().map(|item| item["PK"].as_s().unwrap().clone()).collect()
}

#[tokio::test]
async fn an_index_query_finds_every_item_its_partition_holds_after_any_change() {
    use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};
    let t = TestStack::start().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&t.stack.sdk);
    let table = t.stack.provisioned.reference("Table").unwrap().to_owned();
    let put = |pk: &str, partition: &str, sort: &str| {
        dynamodb
            .put_item()
            .table_name(&table)
            .item("PK", AttributeValue::S(pk.into()))
            .item("SK", AttributeValue::S("X".into()))
            .item("GSI1PK", AttributeValue::S(partition.into()))
            .item("GSI1SK", AttributeValue::S(sort.into()))
            .send()
    };
    let update = |pk: &str, partition: &str| {
        dynamodb
            .update_item()
            .table_name(&table)
            .key("PK", AttributeValue::S(pk.into()))
            .key("SK", AttributeValue::S("X".into()))
            .update_expression("SET GSI1PK = :p")
            .expression_attribute_values(":p", AttributeValue::S(partition.into()))
            .send()
    };
    put("a", "P#1", "2").await.unwrap();
    put("b", "P#1", "1").await.unwrap();
    // The first index query files what the table already holds.
    assert_eq!(gsi1_keys(&dynamodb, &table, "P#1").await, ["b", "a"]);
    put("c", "P#1", "3").await.unwrap();
    update("a", "P#2").await.unwrap();
    assert_eq!(gsi1_keys(&dynamodb, &table, "P#1").await, ["b", "c"], "a put joins, an update leaves");
    assert_eq!(gsi1_keys(&dynamodb, &table, "P#2").await, ["a"]);
    // An update that makes its item: filed under the partition it sets.
    dynamodb
        .update_item()
        .table_name(&table)
        .key("PK", AttributeValue::S("d".into()))
        .key("SK", AttributeValue::S("X".into()))
        .update_expression("SET GSI1PK = :p, GSI1SK = :s")
        .expression_attribute_values(":p", AttributeValue::S("P#2".into()))
        .expression_attribute_values(":s", AttributeValue::S("9".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(gsi1_keys(&dynamodb, &table, "P#2").await, ["a", "d"]);

    // A cancelled transaction moves nothing: its update is undone.
    let moved = Update::builder()
        .table_name(&table)
        .key("PK", AttributeValue::S("b".into()))
        .key("SK", AttributeValue::S("X".into()))
        .update_expression("SET GSI1PK = :p")
        .expression_attribute_values(":p", AttributeValue::S("P#3".into()))
        .build()
        .unwrap();
    let refused = ConditionCheck::builder()
        .table_name(&table)
        .key("PK", AttributeValue::S("c".into()))
        .key("SK", AttributeValue::S("X".into()))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .unwrap();
    let cancelled = dynamodb
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(moved).build())
        .transact_items(TransactWriteItem::builder().condition_check(refused).build())
        .send()
        .await;
    assert!(cancelled.is_err(), "the condition check refuses the transaction");
    assert_eq!(gsi1_keys(&dynamodb, &table, "P#1").await, ["b", "c"], "the undone update left b where it was");
    assert!(gsi1_keys(&dynamodb, &table, "P#3").await.is_empty());

    dynamodb
        .delete_item()
        .table_name(&table)
        .key("PK", AttributeValue::S("c".into()))
        .key("SK", AttributeValue::S("X".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(gsi1_keys(&dynamodb, &table, "P#1").await, ["b"], "a delete leaves");
}
