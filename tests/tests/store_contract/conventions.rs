//! Idempotency records, notification delivery claims, API keys, partners and
//! certifications.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use partnerops_aws::Clock;
use partnerops_aws::store::{DeliveryClaim, IdempotencyBegin, IdempotencyKey, StoredResponse};
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::partner::PartnerId;
use serde_json::json;

#[tokio::test]
async fn idempotency_leases_and_mismatches() {
    let observed = on_both(|t| async move {
        let now = t.clock.now();
        let key = IdempotencyKey { record_key: "key_contract#k".into(), request_hash: "h1".into() };
        let other = IdempotencyKey { request_hash: "h2".into(), ..key.clone() };
        let mut seen = vec![format!("{:?}", t.store.idempotency_begin(&key, now).await.unwrap())];
        seen.push(format!("{:?}", t.store.idempotency_begin(&key, now).await.unwrap()));
        seen.push(format!("{:?}", t.store.idempotency_begin(&other, now).await.unwrap()));
        // A request that died: its lease runs out and the key can be taken again.
        let later = now.plus(chrono::Duration::seconds(61));
        seen.push(format!("{:?}", t.store.idempotency_begin(&key, later).await.unwrap()));
        let response =
            StoredResponse { status: 201, content_type: "application/json".into(), location: None, body: "{}".into() };
        t.store.idempotency_complete(&key, &response, later).await.unwrap();
        let replayed = t.store.idempotency_begin(&key, later).await.unwrap();
        seen.push(matches!(replayed, IdempotencyBegin::Completed(ref r) if r.status == 201).to_string());
        seen.push(format!("{:?}", t.store.idempotency_begin(&other, later).await.unwrap()));
        json!(seen)
    })
    .await;
    assert_eq!(observed, json!(["Started", "InProgress", "Mismatch", "Started", "true", "Mismatch"]));
}
#[tokio::test]
async fn delivery_claims_hold_a_lease_and_a_send_is_final() {
    let observed = on_both(|t| async move {
        let now = t.clock.now();
        let (event, slack) = ("evt_1", "slack#ops");
        let mut seen = vec![
            outcome(t.store.claim_delivery(event, slack, now).await),
            outcome(t.store.claim_delivery(event, slack, now.plus(chrono::Duration::seconds(119))).await),
            // A claim whose holder died is taken over once its lease ends.
            outcome(t.store.claim_delivery(event, slack, now.plus(chrono::Duration::seconds(121))).await),
        ];
        t.store.release_delivery(event, slack).await.unwrap();
        seen.push(outcome(t.store.claim_delivery(event, slack, now).await));
        t.store.delivery_sent(event, slack, now).await.unwrap();
        // A release after the send never forgets it.
        t.store.release_delivery(event, slack).await.unwrap();
        seen.push(outcome(t.store.claim_delivery(event, slack, now.plus(chrono::Duration::days(1))).await));
        // Each (event, delivery) is its own record.
        seen.push(outcome(t.store.claim_delivery(event, "email#a@example.com", now).await));
        seen.push(outcome(t.store.claim_delivery("evt_2", slack, now).await));
        json!(seen)
    })
    .await;
    let expected: Vec<String> = [
        DeliveryClaim::Claimed,
        DeliveryClaim::InFlight,
        DeliveryClaim::Claimed,
        DeliveryClaim::Claimed,
        DeliveryClaim::Sent,
        DeliveryClaim::Claimed,
        DeliveryClaim::Claimed,
    ]
    .iter()
    .map(|c| format!("{c:?}"))
    .collect();
    assert_eq!(observed, json!(expected));
}

#[tokio::test]
async fn keys_partners_and_certifications_are_conditional_writes() {
    let observed = on_both(|t| async move {
        let key = NewApiKey::generate(rand_key());
        Twin::register(&*t.store, &key, Role::Finance, None).await;
        let record = t.store.api_key(&key.key_id).await.unwrap().unwrap();
        let duplicate = t.store.put_api_key(&record).await;
        let first = t.clock.now();
        let revoked = t.store.revoke_api_key(&key.key_id, first).await.unwrap();
        let again = t.store.revoke_api_key(&key.key_id, first.plus(chrono::Duration::hours(1))).await.unwrap();
        let kept = t.store.api_key(&key.key_id).await.unwrap().unwrap().revoked_at == Some(first);
        let missing = NewApiKey::generate(rand_key());
        let revoke_missing = t.store.revoke_api_key(&missing.key_id, first).await.unwrap();

        t.partner("alpha").await;
        let id = PartnerId::parse("alpha").unwrap();
        let partner = t.store.partner(&id).await.unwrap().unwrap();
        let create_again = t.store.create_partner(&partner).await.unwrap();
        let stale = t.store.update_partner(&partner, partner.updated_at.plus(chrono::Duration::seconds(-1))).await;
        let fresh = t.store.update_partner(&partner, partner.updated_at).await;
        let certifications = t.store.certifications(&id).await.unwrap();
        let stale_cert = t
            .store
            .add_certification(&certifications[0], &partner, partner.updated_at.plus(chrono::Duration::seconds(-1)))
            .await;
        json!({
            "duplicate_key": conflict_name(duplicate),
            "revoked": [revoked, again, kept, revoke_missing],
            "create_again": create_again,
            "stale_update": conflict_name(stale),
            "fresh_update": conflict_name(fresh),
            "certifications": certifications.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            "stale_certification": conflict_name(stale_cert),
        })
    })
    .await;
    assert_eq!(
        observed,
        json!({
            "duplicate_key": "the API key",
            "revoked": [true, true, true, false],
            "create_again": false,
            "stale_update": "the partner",
            "fresh_update": "ok",
            "certifications": ["deal_registration"],
            "stale_certification": "the partner",
        })
    );
}
