//! The local DynamoDB's own costs, counted rather than timed: a transaction
//! does work in proportion to the items it names, never to the table.
//! One test in this binary, so it has the moto server's counters to itself.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
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

#[tokio::test]
async fn a_transaction_costs_what_it_touches_not_what_the_table_holds() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;
    let beta = t.partner("beta", "gold").await;
    // Warm both keys' caches, so only the intakes' own requests are counted.
    copies_per_intake(&t, &alpha, &beta, "warm.com").await;

    fill(&t, 0, 100).await;
    let small = copies_per_intake(&t, &alpha, &beta, "small-table.com").await;
    fill(&t, 100, 5_000).await;
    let large = copies_per_intake(&t, &alpha, &beta, "large-table.com").await;

    assert_eq!(small, large, "items copied per intake with 100 and with 5,000 items in the table");
    assert!(small <= 10, "a referral's transactions name a handful of items, copied {small}");
    assert!(stats().await["transactions"].as_u64().unwrap() >= 6, "the intakes wrote through TransactWriteItems");
}
