// A benchmark harness: set-up failures should abort loudly.
#![allow(clippy::unwrap_used)]

//! In-process `POST /v1/deal-registrations` through the router with the
//! in-memory store: routing, authentication (warm key cache), a 1 KB JSON
//! body, validation, money and dates, the checks, the queue and the writes.

use axum::body::Body;
use axum::http::Request;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use partnerops_api::ApiContext;
use partnerops_aws::store::ApiKeyRecord;
use partnerops_aws::store::ports::*;
use partnerops_aws::{FixedClock, MemoryStore};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::partner::{PartnerDraft, PartnerId, new_partner};
use partnerops_domain::registration::REQUIRED_CERTIFICATION;
use partnerops_domain::terms::ProgramTerms;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tower::ServiceExt as _;

/// Requests after which the store is emptied of activity.
const STEADY_SIZE: u64 = 1_000;

fn body(n: u64) -> String {
    let notes = "Renewal of a competitor's contract; procurement engaged, security review scheduled. ".repeat(7);
    let body = serde_json::json!({
        "customer": { "name": "Globex Corporation", "domain": format!("https://www.globex{n}.co.uk") },
        "motion": "resell",
        "estimated_value": { "amount": "125000.00", "currency": "USD" },
        "products": ["platform", "analytics"],
        "expected_close_date": "2027-03-31",
        "notes": notes
    })
    .to_string();
    assert!((800..1200).contains(&body.len()), "body is {} bytes", body.len());
    body
}

fn bench_submission(c: &mut Criterion) {
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
        let mut partner = new_partner(draft, now).unwrap();
        partner.certifications.insert(REQUIRED_CERTIFICATION.into(), Timestamp::parse("2030-01-01T00:00:00Z").unwrap());
        store.create_partner(&partner).await.unwrap();
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
    let clock = FixedClock::new(now);
    let clock: Arc<dyn partnerops_aws::Clock> = Arc::new(clock);
    let context = ApiContext::new(store.clone(), store.clone(), clock.clone());
    let api = deal_registration::RegistrationApi { store: store.clone(), clock, terms: Arc::new(terms) };
    let router = deal_registration::router(&context, api);
    let authorization = format!("Bearer {}", key.plaintext);
    let counter = AtomicU64::new(0);
    let refused = AtomicU64::new(0);
    let mut group = c.benchmark_group("submission");
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
    group.bench_function("POST /v1/deal-registrations (in-memory store, 1 KB body)", |b| {
        b.to_async(&runtime).iter_batched(
            || {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                // A steady state: the store never holds more than 1,000 requests' worth.
                if n % STEADY_SIZE == 0 {
                    store.clear_activity();
                }
                Request::post("/v1/deal-registrations")
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

criterion_group!(benches, bench_submission);
criterion_main!(benches);
