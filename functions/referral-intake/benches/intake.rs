// A benchmark harness: set-up failures should abort loudly.
#![allow(clippy::unwrap_used)]

//! In-process `POST /v1/referrals` through the router with the in-memory
//! store: routing, authentication (warm key cache), a 1 KB JSON body,
//! validation, the prospect key, the decision and the writes.

use axum::body::Body;
use axum::http::Request;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use partnerops_api::ApiContext;
use partnerops_aws::store::ApiKeyRecord;
use partnerops_aws::store::ports::*;
use partnerops_aws::{MemoryStore, SystemClock};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::partner::{PartnerDraft, PartnerId, new_partner};
use partnerops_domain::terms::ProgramTerms;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tower::ServiceExt as _;

/// Requests after which the store is emptied of activity.
const STEADY_SIZE: u64 = 1_000;

fn body(n: u64) -> String {
    let notes = "Met the CFO at the partner summit; budget approved for Q3, evaluating two vendors. ".repeat(9);
    let body = serde_json::json!({
        "company": { "name": "Acme Corporation International", "domain": format!("https://www.sales.company{n}.co.uk/about") },
        "contact": { "name": "Jane Doe", "email": "jane.doe@acme.com", "title": "Chief Financial Officer", "phone": "+15551234567" },
        "motion": "referral",
        "notes": notes,
        "consent": true,
        "external_ref": "CRM-123456"
    })
    .to_string();
    assert!((900..1200).contains(&body.len()), "body is {} bytes", body.len());
    body
}

fn bench_intake(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = Arc::new(MemoryStore::new());
    let now = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
    let key = NewApiKey::generate([7; 32]);
    runtime.block_on(async {
        let draft = PartnerDraft {
            id: Some("alpha".into()),
            name: Some("Alpha".into()),
            tier: Some("gold".into()),
            ..Default::default()
        };
        store.create_partner(&new_partner(draft, now).unwrap()).await.unwrap();
        let record = ApiKeyRecord {
            key_id: key.key_id.clone(),
            hash: key.hash.clone(),
            role: Role::Partner,
            partner_id: Some(PartnerId::parse("alpha").unwrap()),
            label: "bench".into(),
            created_at: now,
            revoked_at: None,
        };
        store.put_api_key(&record).await.unwrap();
    });
    let terms = ProgramTerms::from_toml(include_str!("../../../infra/program.toml")).unwrap();
    let clock: Arc<dyn partnerops_aws::Clock> = Arc::new(SystemClock);
    let context = ApiContext::new(store.clone(), store.clone(), clock.clone());
    let api = referral_intake::ReferralApi { store: store.clone(), clock, terms: Arc::new(terms) };
    let router = referral_intake::router(&context, api);
    let authorization = format!("Bearer {}", key.plaintext);
    let counter = AtomicU64::new(0);
    let refused = AtomicU64::new(0);
    let mut group = c.benchmark_group("intake");
    // The floor: what any handler of this body must do at least, parse the
    // same JSON and hash the presented key. The ratio to it holds on a noisy machine.
    let sample = body(0);
    group.bench_function("floor: serde_json parse of the 1 KB body + SHA-256 of the key", |b| {
        b.iter(|| {
            let parsed: serde_json::Value = serde_json::from_str(std::hint::black_box(&sample)).unwrap();
            let key_id = partnerops_domain::auth::key_id_of(std::hint::black_box(&key.plaintext));
            (parsed, key_id)
        })
    });
    group.bench_function("POST /v1/referrals (in-memory store, 1 KB body)", |b| {
        b.to_async(&runtime).iter_batched(
            || {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                // A steady state: the store never holds more than 1,000 requests' worth.
                if n % STEADY_SIZE == 0 {
                    store.clear_activity();
                }
                Request::post("/v1/referrals")
                    .header("authorization", &authorization)
                    .header("content-type", "application/json")
                    .body(Body::from(body(n)))
                    .unwrap()
            },
            |request| {
                let router = router.clone();
                let refused = &refused;
                async move {
                    let response = router.oneshot(request).await.unwrap();
                    // Counted here, checked once the timing is done.
                    if response.status() != 201 {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    response
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    assert_eq!(refused.load(Ordering::Relaxed), 0, "some timed requests were not created");
}

criterion_group!(benches, bench_intake);
criterion_main!(benches);
