//! The local stack's stream: events written after transactions that were
//! cancelled by concurrent ones still reach the bus and the notifier, and a
//! relay that can no longer see the stream says so instead of going quiet.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_e2e::{TestStack, referral};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn events_after_a_cancelled_concurrent_transaction_reach_the_outbox() {
    let t = TestStack::start().await;
    let mut keys = Vec::new();
    for n in 0..10 {
        keys.push(t.partner(&format!("racer-{n}"), "gold").await);
    }
    t.set_clock("2026-11-23T09:00:00Z").await;
    // The relay opens its stream iterator here, before any transaction is cancelled.
    t.tick().await;

    let race = keys.iter().map(|key| t.post("/v1/referrals", key, referral("contested.com")));
    let replies = futures::future::join_all(race).await;
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let refused = replies.iter().filter(|r| r.code() == "prospect_already_referred").count();
    assert_eq!((created, refused), (1, 9), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let after_race = t.tick().await;
    assert!(after_race["events_published"].as_u64().unwrap() >= 10, "{after_race}");
    assert_eq!(after_race["relay_stalls"], 0, "the relay kept reading one stream: {after_race}");

    let fresh = t.post("/v1/referrals", &keys[3], referral("fresh-after-race.com")).await;
    assert_eq!(fresh.status, StatusCode::CREATED);
    let fresh_id = fresh.body["id"].as_str().unwrap().to_owned();
    let published = t.tick().await;
    assert_eq!(published["events_published"], 1, "the ReferralReceived written after the race: {published}");
    assert_eq!(published["relay_stalls"], 0, "{published}");

    t.set_clock("2026-11-24T10:00:00Z").await;
    let breached = t.tick().await;
    assert!(breached["notifications_sent"].as_u64().unwrap() >= 1, "{breached}");
    let outbox = t.send(Method::GET, "/_dev/outbox", None, None).await;
    let sent: Vec<&Value> = outbox.body.as_array().unwrap().iter().collect();
    let about_fresh = sent.iter().filter(|n| n["text"].as_str().is_some_and(|s| s.contains(&fresh_id))).count();
    assert!(about_fresh >= 1, "a breach notice for {fresh_id} in {sent:?}");
}

#[tokio::test]
async fn a_relay_that_cannot_see_the_stream_says_so() {
    let t = TestStack::start().await;
    let health = t.send(Method::GET, "/_dev/health", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(t.tick().await["events_published"], 0);

    // A table deleted and made again has a new stream; the relay still holds
    // iterators on the old one, which will never see another record.
    let dynamodb = aws_sdk_dynamodb::Client::new(&t.stack.sdk);
    let table = t.stack.provisioned.reference("Table").unwrap().to_owned();
    dynamodb.delete_table().table_name(&table).send().await.unwrap();
    partnerops_e2e::create_streamed_table(&dynamodb, &table).await;

    let tick = t.send(Method::POST, "/_dev/tick", None, None).await;
    assert_eq!(tick.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", tick.body);
    assert_eq!(tick.code(), "relay_stalled");
    let health = t.send(Method::GET, "/_dev/health", None, None).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.body["status"], "relay_stalled");
}
