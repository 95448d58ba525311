//! One contract for both stores: every scenario here is written once and run
//! against the in-memory twin and against DynamoDB (moto, the real SDK on the
//! wire), through the same routers and domain calls the functions use. Each
//! scenario returns what it observed; the two twins must observe the same,
//! and that must be what DynamoDB is known to do.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Method, Request};
use partnerops_api::ApiContext;
use partnerops_app::exports::Exports;
use partnerops_app::ledger::Ledger;
use partnerops_aws::objects::MemoryObjects;
use partnerops_aws::queue::MemoryWorkQueue;
use partnerops_aws::store::ApiKeyRecord;
use partnerops_aws::{Clock, FixedClock, MemoryStore, Store, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::partner::PartnerId;
use partnerops_e2e::{TestStack, terms_options};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use tower::ServiceExt as _;

const START: &str = "2026-11-22T10:00:00Z";

/// A store behind the API routers, with a clock the scenario moves.
struct Twin {
    store: Arc<dyn Store>,
    /// The payout ledger over the same store.
    payouts: Ledger,
    /// The export function over the same store, its files and queue in memory.
    exports: Exports,
    files: Arc<MemoryObjects>,
    jobs: Arc<MemoryWorkQueue>,
    clock: FixedClock,
    router: axum::Router,
    admin: String,
}

impl Twin {
    async fn new<S: Store + 'static>(concrete: Arc<S>) -> Self {
        let store: Arc<dyn Store> = concrete.clone();
        let clock = FixedClock::new(Timestamp::parse(START).unwrap());
        let files = Arc::new(MemoryObjects::default());
        let jobs = Arc::new(MemoryWorkQueue::default());
        let terms = Arc::new(terms_options().terms);
        let payouts = Ledger { store: concrete.clone(), terms: terms.clone() };
        let exports = Exports {
            store: concrete.clone(),
            files: files.clone(),
            work: jobs.clone(),
            terms: terms.clone(),
            clock: Arc::new(clock.clone()),
        };
        let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let context = ApiContext::new(concrete.clone(), concrete.clone(), dyn_clock.clone());
        let router = partnerops_api::routes::with_not_found(partnerops_devstack::wiring::api_router(
            &context,
            concrete,
            dyn_clock,
            terms,
            "".into(),
        ));
        let admin = NewApiKey::generate(rand_key());
        Self::register(&*store, &admin, Role::Admin, None).await;
        Self { store, payouts, exports, files, jobs, clock, router, admin: admin.plaintext }
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

fn outcome<T: std::fmt::Debug>(result: Result<T, StoreError>) -> Value {
    match result {
        Ok(value) => json!(format!("{value:?}")),
        Err(StoreError::Conflict(what)) => json!(format!("conflict: {what}")),
        Err(e) => json!(format!("error: {e}")),
    }
}

mod conventions;
mod payouts;
mod people;
mod records;
mod reports;
mod webhooks;
mod writes;

/// Every method of every port is called by a scenario here, so each one is
/// held to the same behaviour on both stores.
#[test]
fn every_port_method_has_a_scenario() {
    let read_dir = |dir: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(partnerops_e2e::repo_file(dir)).unwrap().map(|e| e.unwrap().path()).collect()
    };
    let mut methods = Vec::new();
    for file in read_dir("shared/aws/src/store").into_iter().filter(|f| f.extension().is_some_and(|e| e == "rs")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for block in text.split("pub trait ").skip(1) {
            let (port, body) = block.split_once(": Send + Sync {").unwrap_or(("", ""));
            let body = body.split("\n}").next().unwrap_or_default();
            for method in body.split("async fn ").skip(1) {
                methods.push(format!("{port}::{}", method.split('(').next().unwrap_or_default()));
            }
        }
    }
    let mut scenarios = std::fs::read_to_string(partnerops_e2e::repo_file("tests/tests/store_contract.rs")).unwrap();
    for file in read_dir("tests/tests/store_contract") {
        scenarios.push_str(&std::fs::read_to_string(file).unwrap());
    }
    assert!(methods.len() > 70, "the ports were not found: {methods:?}");
    let missing: Vec<&String> = methods
        .iter()
        .filter(|m| !scenarios.contains(&format!(".{}(", m.split("::").nth(1).unwrap_or_default())))
        .collect();
    assert!(missing.is_empty(), "port methods no contract scenario calls: {missing:?}");
}
