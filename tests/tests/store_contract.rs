//! One contract for both stores: every scenario here is written once and run
//! against the in-memory twin and against DynamoDB (moto, the real SDK on the
//! wire), through the same routers and domain calls the functions use. Each
//! scenario returns what it observed; the two twins must observe the same,
//! and that must be what DynamoDB is known to do.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Method, Request};
use partnerops_api::{AppState, build_router};
use partnerops_aws::store::{ApiKeyRecord, IdempotencyBegin, IdempotencyKey, StoredResponse};
use partnerops_aws::{Clock, FixedClock, MemoryStore, Store, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::partner::PartnerId;
use partnerops_e2e::{TestStack, referral, registration, terms_options};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use tower::ServiceExt as _;

const START: &str = "2026-11-22T10:00:00Z";

/// A store behind the API routers, with a clock the scenario moves.
struct Twin {
    store: Arc<dyn Store>,
    clock: FixedClock,
    router: axum::Router,
    admin: String,
}

impl Twin {
    async fn new(store: Arc<dyn Store>) -> Self {
        let clock = FixedClock::new(Timestamp::parse(START).unwrap());
        let state = AppState::new(store.clone(), Arc::new(clock.clone()), Arc::new(terms_options().terms));
        let routes = partnerops_devstack::api_routes()
            .into_iter()
            .filter(|(function, _)| *function != "payouts")
            .flat_map(|(_, routes)| routes)
            .collect();
        let router = build_router(routes, state);
        let admin = NewApiKey::generate(rand_key());
        Self::register(&*store, &admin, Role::Admin, None).await;
        Self { store, clock, router, admin: admin.plaintext }
    }

    async fn register(store: &dyn Store, key: &NewApiKey, role: Role, partner: Option<&str>) {
        let record = ApiKeyRecord {
            key_id: key.key_id.clone(),
            hash: key.hash.clone(),
            role,
            partner_id: partner.map(|p| PartnerId::parse(p).unwrap()),
            label: "contract".into(),
            created_at: Timestamp::parse(START).unwrap(),
            revoked_at: None,
        };
        store.put_api_key(&record).await.unwrap();
    }

    async fn call(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {key}"));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, key, Some(body)).await
    }

    async fn get(&self, path: &str, key: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, key, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A certified partner and a key for it.
    async fn partner(&self, id: &str) -> String {
        let (status, body) =
            self.post("/v1/admin/partners", &self.admin, json!({ "id": id, "name": id, "tier": "silver" })).await;
        assert_eq!(status, 201, "{body}");
        let cert = json!({ "name": "deal_registration", "expires_at": "2030-01-01T00:00:00Z" });
        assert_eq!(self.post(&format!("/v1/admin/partners/{id}/certifications"), &self.admin, cert).await.0, 201);
        self.key(Role::Partner, Some(id)).await
    }

    async fn key(&self, role: Role, partner: Option<&str>) -> String {
        let key = NewApiKey::generate(rand_key());
        Self::register(&*self.store, &key, role, partner).await;
        key.plaintext
    }

    fn advance(&self, hours: i64) {
        self.clock.set(self.clock.now().plus(chrono::Duration::hours(hours)));
    }
}

fn rand_key() -> [u8; 32] {
    rand::random()
}

/// Runs `scenario` against both twins and returns what each observed.
async fn on_both<F, Fut>(scenario: F) -> Value
where
    F: Fn(Twin) -> Fut,
    Fut: Future<Output = Value>,
{
    let memory = scenario(Twin::new(Arc::new(MemoryStore::new())).await).await;
    let stack = TestStack::start().await;
    let dynamo = scenario(Twin::new(stack.stack.store.clone()).await).await;
    assert_eq!(memory, dynamo, "the in-memory twin and DynamoDB disagree");
    memory
}

fn conflict_name(result: Result<(), StoreError>) -> Value {
    match result {
        Ok(()) => json!("ok"),
        Err(StoreError::Conflict(what)) => json!(what),
        Err(e) => json!(format!("error: {e}")),
    }
}

#[tokio::test]
async fn crm_source_updates_reach_referrals_and_registrations_alike() {
    let observed = on_both(|t| async move {
        let alpha = t.partner("alpha").await;
        let cm = t.key(Role::ChannelManager, None).await;
        let crm = t.key(Role::Crm, None).await;
        let (_, referred) = t.post("/v1/referrals", &alpha, referral("acme.com")).await;
        let referral_id = referred["id"].as_str().unwrap().to_owned();
        let (_, registered) = t.post("/v1/deal-registrations", &alpha, registration("globex.com", "900000.00")).await;
        let registration_id = registered["id"].as_str().unwrap().to_owned();
        let decided = t
            .post(&format!("/v1/deal-registrations/{registration_id}/decision"), &cm, json!({ "decision": "approve" }))
            .await;
        assert_eq!(decided.0, 200, "{}", decided.1);
        t.advance(1);
        let now = t.clock.now().to_rfc3339();
        let mut outcomes = Vec::new();
        for (opportunity, source) in [("006-R", json!({ "referral_id": referral_id })), ("006-D", json!({ "deal_registration_id": registration_id }))] {
            let mut created = json!({ "event_id": format!("{opportunity}-c"), "type": "opportunity.created", "occurred_at": now,
                "opportunity_id": opportunity, "name": "Deal", "amount": { "amount": "50000.00", "currency": "USD" },
                "owner_email": "owner@example.com" });
            for (k, v) in source.as_object().unwrap() {
                created[k] = v.clone();
            }
            let (status, body) = t.post("/v1/crm/events", &crm, created).await;
            assert_eq!(status, 200, "{body}");
            let closed = json!({ "event_id": format!("{opportunity}-w"), "type": "opportunity.closed", "occurred_at": now,
                "opportunity_id": opportunity, "outcome": "won", "amount": { "amount": "50000.00", "currency": "USD" }, "closed_at": now });
            let (status, body) = t.post("/v1/crm/events", &crm, closed).await;
            outcomes.push(json!([status, body["changed"]]));
        }
        let referral = t.get(&format!("/v1/referrals/{referral_id}"), &alpha).await;
        let registration = t.get(&format!("/v1/deal-registrations/{registration_id}"), &alpha).await;
        json!({
            "closes": outcomes,
            "referral": [referral["status"], referral["opportunity_id"]],
            "registration": [registration["status"], registration["opportunity_id"]],
        })
    })
    .await;
    assert_eq!(observed["referral"], json!(["won", "006-R"]));
    assert_eq!(observed["registration"], json!(["won", "006-D"]), "{observed}");
}

async fn cascade(size: usize) -> Value {
    on_both(move |t| async move {
        let cm = t.key(Role::ChannelManager, None).await;
        let mut keys = Vec::new();
        for n in 0..=size {
            keys.push(t.partner(&format!("p{n:03}")).await);
        }
        let mut ids = Vec::new();
        for key in &keys {
            let (status, body) =
                t.post("/v1/deal-registrations", key, registration("contested.com", "900000.00")).await;
            assert!(status == 201, "{status} {body}");
            ids.push(body["id"].as_str().unwrap().to_owned());
        }
        let (status, body) =
            t.post(&format!("/v1/deal-registrations/{}/decision", ids[0]), &cm, json!({ "decision": "approve" })).await;
        assert_eq!(status, 200, "{body}");
        let mut statuses = std::collections::BTreeMap::<String, usize>::new();
        for (id, key) in ids.iter().zip(&keys) {
            let read = t.get(&format!("/v1/deal-registrations/{id}"), key).await;
            *statuses.entry(read["status"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        json!(statuses)
    })
    .await
}

#[tokio::test]
async fn a_cascade_of_40_fits_one_transaction_and_of_120_spans_several_on_both() {
    assert_eq!(cascade(40).await, json!({ "approved": 1, "rejected": 40 }));
    assert_eq!(cascade(120).await, json!({ "approved": 1, "rejected": 120 }));
}

#[tokio::test]
async fn timer_revisions_and_the_sweep_bump_on_its_subject() {
    let observed = on_both(|t| async move {
        let alpha = t.partner("alpha").await;
        let crm = t.key(Role::Crm, None).await;
        let (_, referred) = t.post("/v1/referrals", &alpha, referral("acme.com")).await;
        let referral_id = referred["id"].as_str().unwrap().to_owned();
        let now = t.clock.now().to_rfc3339();
        let created = json!({ "event_id": "e-1", "type": "opportunity.created", "occurred_at": now,
            "opportunity_id": "006-A", "referral_id": referral_id, "name": "Deal",
            "amount": { "amount": "50000.00", "currency": "USD" }, "owner_email": "owner@example.com" });
        assert_eq!(t.post("/v1/crm/events", &crm, created).await.0, 200);
        let before = t.store.opportunity("006-A").await.unwrap().unwrap();
        // Past the weekly notes SLA: the sweep changes the opportunity's timer.
        t.advance(24 * 9);
        let swept = sla_sweep::sweep(&*t.store, t.clock.now()).await.unwrap();
        let after = t.store.opportunity("006-A").await.unwrap().unwrap();
        let timer = after.timers.iter().find(|timer| timer.rev > 0).cloned().unwrap();
        // A sweep working from the timer as it was before loses to the one that ran.
        let stale_before = before.timers.iter().find(|x| x.kind == timer.kind).cloned().unwrap();
        let stale = t.store.record_sweep(&stale_before, &timer, &[]).await;
        json!({
            "signals": swept.signals > 0,
            "opportunity_rev_bump": after.opportunity.rev - before.opportunity.rev,
            "stale_sweep": conflict_name(stale),
        })
    })
    .await;
    assert_eq!(observed, json!({ "signals": true, "opportunity_rev_bump": 1, "stale_sweep": "the SLA timer" }));
}

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
