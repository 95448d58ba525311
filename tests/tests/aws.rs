//! Integration tests against moto with the real AWS SDK on the wire: the
//! DynamoDB store's conditional writes, the outbox relay to EventBridge
//! (proved by a rule that forwards to an SQS queue), and the DynamoDB call
//! budget of a referral.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::Request;
use partnerops_api::ApiContext;
use partnerops_aws::metrics::CallCounter;
use partnerops_aws::outbox::{DynamoOutboxLedger, EventBridgePublisher, outbox_item};
use partnerops_aws::store::ports::*;
use partnerops_aws::store::{IdempotencyBegin, IdempotencyKey, StoredResponse};
use partnerops_aws::{DynamoStore, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::id::{Entropy, EventId, ReferralId};
use partnerops_domain::partner::PartnerId;
use partnerops_domain::referral::{IntakeDecision, IntakeIds, decide_referral_intake};
use partnerops_e2e::{TestStack, bus_tap, drain_tap, referral, registration, terms_options};
use partnerops_fixtures as fixtures;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt as _;

#[tokio::test]
async fn committed_events_reach_the_bus_once_and_only_through_the_relay() {
    let t = TestStack::start().await;
    let (sqs, tap) = bus_tap(&t).await;
    let alpha = t.partner("alpha", "gold").await;
    let beta = t.partner("beta", "gold").await;
    assert_eq!(t.post("/v1/referrals", &alpha, referral("acme.com")).await.status, StatusCode::CREATED);
    assert_eq!(t.post("/v1/referrals", &beta, referral("acme.com")).await.status, StatusCode::CONFLICT);

    assert!(drain_tap(&sqs, &tap).await.is_empty(), "the request path publishes nothing itself");
    t.tick().await;
    let mut events = drain_tap(&sqs, &tap).await;
    events.sort_by_key(|e| e["detail-type"].as_str().unwrap().to_owned());
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["detail-type"], "ReferralReceived");
    assert_eq!(events[1]["detail-type"], "ReferralRejected");
    for event in &events {
        assert_eq!(event["source"], "partnerops");
        let detail = &event["detail"];
        assert!(detail["event_id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(detail["schema_version"], 1);
        assert!(Timestamp::parse(detail["occurred_at"].as_str().unwrap()).is_ok());
    }
    assert_eq!(events[1]["detail"]["reason"], "prospect_already_referred");

    t.tick().await;
    assert!(drain_tap(&sqs, &tap).await.is_empty(), "a second drain publishes nothing again");
}

fn accept(store_standing: &partnerops_domain::referral::ProspectStanding, partner: &str, n: u128) -> IntakeDecision {
    let now = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
    let terms = terms_options().terms;
    let ids =
        IntakeIds { referral_id: ReferralId::generate(now, Entropy(n)), event_id: EventId::generate(now, Entropy(n)) };
    decide_referral_intake(
        fixtures::submission("acme.com"),
        &PartnerId::parse(partner).unwrap(),
        store_standing,
        &terms,
        now,
        ids,
    )
}

#[tokio::test]
async fn a_prospect_claim_is_taken_by_exactly_one_conditional_write() {
    let t = TestStack::start().await;
    let store = &t.stack.store;
    let key = fixtures::submission("acme.com").prospect_key;
    let standing = store.prospect_standing(&key).await.unwrap();
    let (IntakeDecision::Accepted(a), IntakeDecision::Accepted(b)) =
        (accept(&standing, "alpha", 1), accept(&standing, "beta", 2))
    else {
        panic!("both should be accepted on an empty standing")
    };
    let (ra, rb) = tokio::join!(store.record_accepted_referral(&a), store.record_accepted_referral(&b));
    let conflicts = [&ra, &rb].iter().filter(|r| matches!(r, Err(StoreError::Conflict(_)))).count();
    assert_eq!(conflicts, 1, "{ra:?} {rb:?}");
    assert_eq!([&ra, &rb].iter().filter(|r| r.is_ok()).count(), 1);
    let winner = if ra.is_ok() { &a } else { &b };
    let loser = if ra.is_ok() { &b } else { &a };
    assert!(store.referral(&loser.referral.id).await.unwrap().is_none(), "a lost transaction writes nothing");
    let stored = store.referral(&winner.referral.id).await.unwrap().unwrap();
    assert_eq!(stored.slas.len(), 1);
    let claim = store.prospect_standing(&key).await.unwrap().referral_claim.unwrap();
    assert_eq!(claim.referral_id, winner.referral.id);
}

#[tokio::test]
async fn idempotency_records_are_claimed_conditionally_and_expire() {
    let t = TestStack::start().await;
    let store = &t.stack.store;
    let now = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
    let key = IdempotencyKey { record_key: "key_x#abc".into(), request_hash: "h1".into() };
    assert_eq!(store.idempotency_begin(&key, now).await.unwrap(), IdempotencyBegin::Started);
    assert_eq!(store.idempotency_begin(&key, now).await.unwrap(), IdempotencyBegin::InProgress);
    let other = IdempotencyKey { request_hash: "h2".into(), ..key.clone() };
    assert_eq!(store.idempotency_begin(&other, now).await.unwrap(), IdempotencyBegin::Mismatch);
    let response = StoredResponse {
        status: 201,
        location: Some("/x".into()),
        content_type: "application/json".into(),
        body: "{}".into(),
    };
    store.idempotency_complete(&key, &response, now).await.unwrap();
    assert_eq!(store.idempotency_begin(&key, now).await.unwrap(), IdempotencyBegin::Completed(response));
    let abandoned = IdempotencyKey { record_key: "key_x#dead".into(), request_hash: "h3".into() };
    assert_eq!(store.idempotency_begin(&abandoned, now).await.unwrap(), IdempotencyBegin::Started);
    assert_eq!(
        store.idempotency_begin(&abandoned, now.plus(chrono::Duration::seconds(59))).await.unwrap(),
        IdempotencyBegin::InProgress
    );
    assert_eq!(
        store.idempotency_begin(&abandoned, now.plus(chrono::Duration::seconds(60))).await.unwrap(),
        IdempotencyBegin::Started,
        "a request that died holding the key loses it when its lease ends"
    );
    let next_day = now.plus(chrono::Duration::hours(24));
    assert_eq!(
        store.idempotency_begin(&other, next_day).await.unwrap(),
        IdempotencyBegin::Started,
        "expired after 24 h"
    );
}

#[tokio::test]
async fn the_relay_is_idempotent_against_the_real_bus() {
    let t = TestStack::start().await;
    let (sqs, tap) = bus_tap(&t).await;
    let store = &t.stack.store;
    let standing = store.prospect_standing(&fixtures::submission("acme.com").prospect_key).await.unwrap();
    let IntakeDecision::Accepted(a) = accept(&standing, "alpha", 7) else { panic!("accepted") };
    store.record_accepted_referral(&a).await.unwrap();

    let table = t.stack.provisioned.reference("Table").unwrap();
    let bus = t.stack.provisioned.reference("EventBus").unwrap();
    let publisher = EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&t.stack.sdk), bus);
    let ledger = DynamoOutboxLedger::new(aws_sdk_dynamodb::Client::new(&t.stack.sdk), table);
    let item = outbox_relay::StreamedOutboxItem { sequence_number: "1".into(), item: outbox_item(&a.event) };
    let now = Timestamp::parse("2026-11-22T00:00:01Z").unwrap();
    let first = outbox_relay::relay(vec![item.clone()], &publisher, &ledger, now).await;
    assert_eq!((first.published, first.put_events_calls), (1, 1));
    let again = outbox_relay::relay(vec![item], &publisher, &ledger, now).await;
    assert_eq!((again.published, again.already_published, again.put_events_calls), (0, 1, 0));
    assert_eq!(drain_tap(&sqs, &tap).await.len(), 1);
}

#[tokio::test]
async fn an_accepted_referral_costs_two_dynamodb_calls_on_a_warm_container() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;
    let counter = CallCounter::new();
    let config = aws_sdk_dynamodb::config::Builder::from(&t.stack.sdk).interceptor(counter.clone()).build();
    let table = t.stack.provisioned.reference("Table").unwrap();
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), table));
    let clock: Arc<dyn partnerops_aws::Clock> = Arc::new(partnerops_aws::SystemClock);
    let context = ApiContext::new(store.clone(), store.clone(), clock.clone());
    let api = referral_intake::ReferralApi { store, clock, terms: Arc::new(terms_options().terms) };
    let router = referral_intake::router(&context, api);
    let call = |body: Value| {
        Request::post("/v1/referrals")
            .header("authorization", format!("Bearer {alpha}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let warm = router.clone().oneshot(call(referral("warmup.com"))).await.unwrap();
    assert_eq!(warm.status(), StatusCode::CREATED);
    counter.reset();
    let response = router.clone().oneshot(call(referral("counted.com"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(counter.count(), 2, "one BatchGetItem for the prospect, one TransactWriteItems");
    counter.reset();
    let repeat = router.oneshot(call(referral("counted.com"))).await.unwrap();
    assert_eq!(repeat.status(), StatusCode::OK);
    assert_eq!(counter.count(), 2, "a repeat reads the standing and the first referral");
}

#[tokio::test]
async fn registration_submissions_and_decisions_stay_within_their_call_budget() {
    let t = TestStack::start().await;
    t.set_clock("2026-11-22T10:00:00Z").await;
    let alpha = t.certified_partner("alpha", "gold").await;
    let manager = t.key("channel_manager", None).await;
    let mut queued = Vec::new();
    for i in 0..40 {
        queued.push(t.certified_partner(&format!("q{i:02}"), "gold").await);
    }
    let counter = CallCounter::new();
    let config = aws_sdk_dynamodb::config::Builder::from(&t.stack.sdk).interceptor(counter.clone()).build();
    let table = t.stack.provisioned.reference("Table").unwrap();
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), table));
    let clock: Arc<dyn partnerops_aws::Clock> =
        Arc::new(partnerops_aws::FixedClock::new(Timestamp::parse("2026-11-22T10:00:00Z").unwrap()));
    let context = ApiContext::new(store.clone(), store.clone(), clock.clone());
    let api = deal_registration::RegistrationApi { store, clock, terms: Arc::new(terms_options().terms) };
    let router = deal_registration::router(&context, api);
    let call = |path: String, key: &str, body: Value| {
        Request::post(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let json_of = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap();
    let warm = router
        .clone()
        .oneshot(call("/v1/deal-registrations".into(), &alpha, registration("warm.com", "1.00")))
        .await
        .unwrap();
    assert_eq!(warm.status(), StatusCode::CREATED);

    counter.reset();
    let lead = router
        .clone()
        .oneshot(call("/v1/deal-registrations".into(), &alpha, registration("counted.com", "1.00")))
        .await
        .unwrap();
    assert_eq!(lead.status(), StatusCode::CREATED);
    assert_eq!(counter.count(), 2, "a submission without conflict: BatchGetItem + TransactWriteItems");
    let lead = json_of(&axum::body::to_bytes(lead.into_body(), 1 << 20).await.unwrap());

    for key in &queued {
        let r = router
            .clone()
            .oneshot(call("/v1/deal-registrations".into(), key, registration("counted.com", "1.00")))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    counter.reset();
    let path = format!("/v1/deal-registrations/{}/decision", lead["id"].as_str().unwrap());
    let decided =
        router.clone().oneshot(call(path, &manager, serde_json::json!({ "decision": "approve" }))).await.unwrap();
    assert_eq!(decided.status(), StatusCode::OK);
    // auth (cold channel-manager key) 1 + GetItem + BatchGetItem + 2 transactions for 40 cascades
    assert_eq!(counter.count(), 5, "a decision with 40 cascaded rejections");
}
