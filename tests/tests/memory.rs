//! The in-memory twin has no path whose cost grows with what it holds:
//! it reads by key and by range, as DynamoDB does. Counted, not timed.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::Request;
use partnerops_api::ApiContext;
use partnerops_aws::store::ApiKeyRecord;
use partnerops_aws::store::ports::*;
use partnerops_aws::{MemoryStore, SystemClock};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::partner::{PartnerDraft, PartnerId, new_partner};
use partnerops_e2e::{referral, terms_options};
use std::sync::Arc;
use tower::ServiceExt as _;

async fn intake_store() -> (Arc<MemoryStore>, axum::Router, String) {
    let store = Arc::new(MemoryStore::new());
    let now = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
    let draft = PartnerDraft {
        id: Some("alpha".into()),
        name: Some("Alpha".into()),
        tier: Some("gold".into()),
        ..Default::default()
    };
    store.create_partner(&new_partner(draft, now).unwrap()).await.unwrap();
    let key = NewApiKey::generate([9; 32]);
    let record = ApiKeyRecord {
        key_id: key.key_id.clone(),
        hash: key.hash.clone(),
        role: Role::Partner,
        partner_id: Some(PartnerId::parse("alpha").unwrap()),
        label: "test".into(),
        created_at: now,
        revoked_at: None,
    };
    store.put_api_key(&record).await.unwrap();
    let terms = Arc::new(terms_options().terms);
    let clock: Arc<dyn partnerops_aws::Clock> = Arc::new(SystemClock);
    let context = ApiContext::new(store.clone(), store.clone(), clock.clone());
    let router = referral_intake::router(&context, referral_intake::ReferralApi { store: store.clone(), clock, terms });
    (store, router, format!("Bearer {}", key.plaintext))
}

async fn refer(router: &axum::Router, authorization: &str, n: usize) {
    let request = Request::post("/v1/referrals")
        .header("authorization", authorization)
        .header("content-type", "application/json")
        .body(Body::from(referral(&format!("company{n}.com")).to_string()))
        .unwrap();
    assert_eq!(router.clone().oneshot(request).await.unwrap().status(), 201);
}

/// Records the store looked at while accepting one more referral.
async fn visited_by_one_intake(store: &MemoryStore, router: &axum::Router, authorization: &str, n: usize) -> u64 {
    let before = store.records_visited();
    refer(router, authorization, n).await;
    store.records_visited() - before
}

#[tokio::test]
async fn an_intake_and_a_sweep_read_what_they_need_not_what_is_stored() {
    let (store, router, authorization) = intake_store().await;
    for n in 0..10 {
        refer(&router, &authorization, n).await;
    }
    let small = visited_by_one_intake(&store, &router, &authorization, 10_000).await;
    for n in 10..2_000 {
        refer(&router, &authorization, n).await;
    }
    let large = visited_by_one_intake(&store, &router, &authorization, 10_001).await;
    assert_eq!(small, large, "records looked at per intake with 10 and 2,000 referrals stored");
    assert!(small <= 2, "one referral's own timers: {small}");

    // Nothing is due yet: the sweep looks at none of the 2,002 open timers.
    let before = store.records_visited();
    let due = store.due_timers(Timestamp::parse("2026-01-01T00:00:00Z").unwrap()).await.unwrap();
    assert_eq!((due.timers.len(), store.records_visited() - before), (0, 0));
}

#[tokio::test]
async fn a_list_page_reads_its_page_and_the_cursor_walks_every_item_once() {
    use partnerops_aws::store::{PageRequest, ReferralQuery};
    let (store, router, authorization) = intake_store().await;
    for n in 0..300 {
        refer(&router, &authorization, n).await;
    }
    let alpha = PartnerId::parse("alpha").unwrap();
    for partner_id in [None, Some(alpha)] {
        let query = ReferralQuery { partner_id: partner_id.clone(), status: None };
        let before = store.records_visited();
        let first = store.referrals(&query, &PageRequest { limit: 25, cursor: None }).await.unwrap();
        assert_eq!(first.items.len(), 25);
        assert!(store.records_visited() - before <= 26, "one page, not the 300 stored ({partner_id:?})");

        let (mut seen, mut cursor) = (std::collections::HashSet::new(), None);
        for _ in 0..20 {
            let page = store.referrals(&query, &PageRequest { limit: 25, cursor: cursor.take() }).await.unwrap();
            for record in &page.items {
                assert!(seen.insert(record.referral.id.clone()), "listed twice");
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 300, "{partner_id:?}");
    }
}
