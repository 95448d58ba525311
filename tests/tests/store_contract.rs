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
use partnerops_app::exports::{Exports, Started};
use partnerops_app::ledger::Ledger;
use partnerops_aws::objects::MemoryObjects;
use partnerops_aws::queue::MemoryWorkQueue;
use partnerops_aws::store::{
    ApiKeyRecord, DeliveryClaim, ExportCursor, ExportRecord, ExportState, IdempotencyBegin, IdempotencyKey,
    OPEN_SHARDS, PageRequest, ReferralQuery, RegistrationQuery, StoredResponse,
};
use partnerops_aws::{Clock, FixedClock, MemoryStore, Store, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::event::{DomainEvent, EventPayload};
use partnerops_domain::id::{Entropy, EventId, ExportId};
use partnerops_domain::partner::PartnerId;
use partnerops_domain::payout::Period;
use partnerops_domain::registration::{ExpiryStep, sweep_expiry};
use partnerops_e2e::{TestStack, referral, registration, terms_options};
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
        let swept = partnerops_app::sweep::sweep(&*t.store, t.clock.now()).await.unwrap();
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

fn outcome<T: std::fmt::Debug>(result: Result<T, StoreError>) -> Value {
    match result {
        Ok(value) => json!(format!("{value:?}")),
        Err(StoreError::Conflict(what)) => json!(format!("conflict: {what}")),
        Err(e) => json!(format!("error: {e}")),
    }
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

#[tokio::test]
async fn lists_page_newest_first_per_partner_and_cursors_stay_in_their_list() {
    let observed = on_both(|t| async move {
        let alpha = t.partner("alpha").await;
        let beta = t.partner("beta").await;
        let mut referrals = Vec::new();
        for (n, key) in [&alpha, &beta, &alpha, &alpha, &beta].into_iter().enumerate() {
            t.advance(1);
            let (status, body) = t.post("/v1/referrals", key, referral(&format!("prospect{n}.com"))).await;
            assert_eq!(status, 201, "{body}");
            referrals.push(body["id"].as_str().unwrap().to_owned());
        }
        let alpha_id = PartnerId::parse("alpha").unwrap();
        let mut pages = Vec::new();
        let mut cursor = None;
        loop {
            let query = ReferralQuery { partner_id: Some(alpha_id.clone()), status: None };
            let page = t.store.referrals(&query, &PageRequest { limit: 2, cursor: cursor.clone() }).await.unwrap();
            let ids: Vec<usize> = page
                .items
                .iter()
                .map(|r| referrals.iter().position(|id| *id == r.referral.id.to_string()).unwrap())
                .collect();
            pages.push(ids);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let all = t.store.referrals(&ReferralQuery::default(), &PageRequest { limit: 10, cursor: None }).await.unwrap();
        // The first page of alpha's list, then its cursor on the list of everyone.
        let first = t
            .store
            .referrals(
                &ReferralQuery { partner_id: Some(alpha_id.clone()), status: None },
                &PageRequest { limit: 1, cursor: None },
            )
            .await
            .unwrap();
        let crossed = t
            .store
            .referrals(&ReferralQuery::default(), &PageRequest { limit: 1, cursor: first.next_cursor.clone() })
            .await;
        let registrations = t
            .store
            .registrations(&RegistrationQuery::default(), &PageRequest { limit: 10, cursor: None })
            .await
            .unwrap();
        json!({
            "alpha_pages": pages,
            "everyone": all.items.len(),
            "everyone_more": all.next_cursor.is_some(),
            "crossed_cursor": matches!(crossed, Err(StoreError::InvalidCursor)),
            "registrations": registrations.items.len(),
        })
    })
    .await;
    assert_eq!(
        observed,
        json!({ "alpha_pages": [[3, 2], [0]], "everyone": 5, "everyone_more": false, "crossed_cursor": true, "registrations": 0 })
    );
}

#[tokio::test]
async fn history_and_expiry_notices_follow_their_revisions() {
    let observed = on_both(|t| async move {
        let alpha = t.partner("alpha").await;
        let cm = t.key(Role::ChannelManager, None).await;
        let (_, registered) = t.post("/v1/deal-registrations", &alpha, registration("globex.com", "900000.00")).await;
        let id = registered["id"].as_str().unwrap().to_owned();
        let decided =
            t.post(&format!("/v1/deal-registrations/{id}/decision"), &cm, json!({ "decision": "approve" })).await;
        assert_eq!(decided.0, 200, "{}", decided.1);
        let registration_id = partnerops_domain::id::RegistrationId::parse(&id).unwrap();
        let history = t.store.registration_history(&registration_id).await.unwrap();
        // The watch as the sweep sees it when the expiry notice is due.
        let due = t.store.due_timers(t.clock.now().plus(chrono::Duration::days(85))).await.unwrap();
        let watch = due.expiries.iter().find(|w| w.registration_id == registration_id).cloned().unwrap();
        let notice_at = watch.notice_at;
        let step = sweep_expiry(&watch, notice_at, EventId::generate(notice_at, Entropy(7))).unwrap();
        let ExpiryStep::Notice(after, event) = step else { panic!("expected the expiry notice") };
        let first = t.store.record_expiry_notice(&watch, &after, &event).await;
        let second = t.store.record_expiry_notice(&watch, &after, &event).await;
        let later = t.store.due_timers(notice_at).await.unwrap();
        json!({
            "history": history.iter().map(|a| format!("{:?}", a.to)).collect::<Vec<_>>(),
            "first_notice": conflict_name(first),
            "repeated_notice": conflict_name(second),
            "notified": later.expiries.iter().find(|w| w.registration_id == registration_id).map(|w| w.notified_at.is_some()),
        })
    })
    .await;
    assert_eq!(observed["first_notice"], json!("ok"), "{observed}");
    assert_eq!(observed["repeated_notice"], json!("the expiry watch"), "{observed}");
    // Submitted and approved at one instant: still listed in the order they happened.
    assert_eq!(observed["history"], json!(["Pending", "Approved"]), "{observed}");
}

fn deal_closed(opportunity: &str, at: &str, partners: &[(&str, u32)]) -> DomainEvent {
    let occurred = Timestamp::parse(at).unwrap();
    let attribution: Vec<Value> = partners
        .iter()
        .enumerate()
        .map(|(n, (p, bps))| {
            json!({ "partner_id": p, "role": if n == 0 { "sourced" } else { "influenced" }, "share_bps": bps })
        })
        .collect();
    let closed = serde_json::from_value(json!({
        "opportunity_id": opportunity, "referral_id": null, "deal_registration_id": null,
        "prospect_key": format!("{opportunity}.example"), "motion": "referral",
        "amount": { "amount": "100000.00", "currency": "USD" }, "closed_at": at, "attribution": attribution,
    }))
    .unwrap();
    DomainEvent::new(EventId::generate(occurred, Entropy(1)), occurred, EventPayload::DealClosed(closed))
}

#[tokio::test]
async fn payout_ledgers_lines_and_export_passes_agree() {
    let observed = on_both(|t| async move {
        t.partner("alpha").await;
        t.partner("beta").await;
        let mut seen = serde_json::Map::new();
        let mut applied = Vec::new();
        for n in 0..12 {
            let event = deal_closed(&format!("006-{n:02}"), "2026-10-05T12:00:00Z", &[("alpha", 6000), ("beta", 4000)]);
            applied.push(t.payouts.apply(&event).await.unwrap());
            // A redelivered close changes nothing.
            applied.push(t.payouts.apply(&event).await.unwrap());
        }
        seen.insert("lines_applied".into(), json!(applied));
        let (ledger, lines) = t.store.payout_ledger("006-00").await.unwrap();
        // The ledger moved on: a write from the version before loses, and so
        // does a line that exists already.
        let stale = t.store.save_payout_ledger(ledger.version - 1, &ledger, &[], &[]).await;
        let duplicate = t.store.save_payout_ledger(ledger.version, &ledger, &lines[..1], &[]).await;
        let fresh = t.store.save_payout_ledger(0, &ledger, &[], &[]).await;
        seen.insert("ledger_writes".into(), json!([conflict_name(stale), conflict_name(duplicate), conflict_name(fresh)]));

        let period = Period::parse("2026-10").unwrap();
        let cutoff = period.cutoff(t.exports.terms.payouts.hold_days);
        let mut open = 0;
        for shard in 0..OPEN_SHARDS {
            let mut after: Option<String> = None;
            loop {
                let (page, next) = t.store.open_payout_page(cutoff, shard, after.as_deref()).await.unwrap();
                open += page.len();
                match next {
                    Some(key) => after = Some(key),
                    None => break,
                }
            }
        }
        seen.insert("open_before".into(), json!(open));
        // Another period cannot take a line this one exported.
        let other = Period::parse("2026-09").unwrap();
        t.store.mark_payout_lines_exported(period, &lines[..1]).await.unwrap();
        let again = t.store.mark_payout_lines_exported(period, &lines[..1]).await;
        let taken = t.store.mark_payout_lines_exported(other, &lines[..1]).await;
        seen.insert("marks".into(), json!([conflict_name(again), conflict_name(taken)]));

        t.clock.set(Timestamp::parse("2026-11-20T00:00:00Z").unwrap());
        // Started, queued once, failed on the way and resumed by the worker.
        let (started, how) = t.exports.start(period).await.unwrap();
        let queued = t.jobs.take().len();
        let failed = t.store.mark_payout_export(period, ExportState::Failed, Some("the bucket was away".into())).await;
        let failure = t.store.payout_export(period).await.unwrap().unwrap().failure;
        let (restarted, _) = t.exports.start(period).await.unwrap();
        let requeued = t.jobs.take().len();
        let record = t.exports.run(period).await.unwrap();
        let (repeat, how_again) = t.exports.start(period).await.unwrap();
        let mark_done = t.store.mark_payout_export(period, ExportState::Failed, None).await;
        let created = how == Started::Queued && started.status == ExportState::Running;
        let created_again = how_again == Started::Queued;
        seen.insert("export_flow".into(), json!({
            "queued": [queued, requeued],
            "failed": conflict_name(failed),
            "failure": failure,
            "restarted": [format!("{:?}", restarted.status), restarted.failure],
            "done": format!("{:?}", record.status),
            "mark_done": conflict_name(mark_done),
            "nothing_queued_once_done": t.jobs.take().is_empty(),
        }));
        let mut exported = Vec::new();
        let mut cursor: Option<ExportCursor> = None;
        loop {
            let (page, next) = t.store.exported_payout_page(period, cursor).await.unwrap();
            exported.extend(page.into_iter().map(|l| (l.partner_id.to_string(), l.amount)));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let finished_again = t
            .store
            .finish_payout_export(period, &record, &deal_closed("006-x", "2026-11-20T00:00:00Z", &[("alpha", 10000)]))
            .await;
        let begun = ExportRecord {
            export_id: ExportId::generate(t.clock.now(), Entropy(2)),
            period: "2026-09".into(),
            status: ExportState::Running,
            failure: None,
            created_at: t.clock.now(),
            completed_at: None,
            lines: 0,
            groups: Vec::new(),
            totals: Vec::new(),
            files: Vec::new(),
        };
        let first_begin = t.store.begin_payout_export(other, &begun).await.unwrap();
        let second = ExportRecord { export_id: ExportId::generate(t.clock.now(), Entropy(3)), ..begun.clone() };
        let second_begin = t.store.begin_payout_export(other, &second).await.unwrap();
        let lines_csv = String::from_utf8(t.files.object("exports/payouts/2026-10/lines.csv").unwrap()).unwrap();
        seen.insert("export".into(), json!({
            "created": [created, created_again],
            "same_record": repeat.export_id == record.export_id,
            "lines": record.lines,
            "totals": record.totals,
            "exported": exported,
            "finish_again": conflict_name(finished_again),
            "begin_keeps_the_first": first_begin.export_id == begun.export_id && second_begin.export_id == begun.export_id,
            "csv_rows": lines_csv.lines().count(),
        }));
        Value::Object(seen)
    })
    .await;
    // Referral deals pay their sourcing partner only (one line each).
    assert_eq!(
        observed["lines_applied"],
        json!([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    );
    assert_eq!(observed["ledger_writes"], json!(["the deal's ledger", "a payout line", "the deal's ledger"]));
    assert_eq!(observed["open_before"], json!(12));
    assert_eq!(observed["marks"], json!(["ok", "a payout line"]));
    assert_eq!(observed["export"]["lines"], json!(12), "{observed}");
    assert_eq!(observed["export"]["csv_rows"], json!(13), "a header and 12 lines: {observed}");
    assert_eq!(observed["export"]["finish_again"], json!("the export"));
    assert_eq!(observed["export"]["begin_keeps_the_first"], json!(true));
    assert_eq!(observed["export"]["created"], json!([true, false]));
    assert_eq!(
        observed["export_flow"],
        json!({
            "queued": [1, 1],
            "failed": "ok",
            "failure": "the bucket was away",
            "restarted": ["Running", null],
            "done": "Done",
            "mark_done": "the export",
            "nothing_queued_once_done": true,
        })
    );
}

#[tokio::test]
async fn customers_rejections_and_a_crm_event_seen_twice() {
    let observed = on_both(|t| async move {
        let alpha = t.partner("alpha").await;
        let crm = t.key(Role::Crm, None).await;
        let (marked, _) =
            t.post("/v1/admin/customers", &t.admin, json!({ "domains": ["initech.com", "www.initech.com"] })).await;
        let key = partnerops_domain::prospect::ProspectKey::from_domain_input("initech.com").unwrap();
        let standing = t.store.prospect_standing(&key).await.unwrap();
        let customer = t.store.customer_standing(&key).await.unwrap();
        let (status, rejected) = t.post("/v1/referrals", &alpha, referral("initech.com")).await;
        let mine = t
            .store
            .referrals(
                &ReferralQuery { partner_id: Some(PartnerId::parse("alpha").unwrap()), status: None },
                &PageRequest { limit: 10, cursor: None },
            )
            .await
            .unwrap();
        let (_, accepted) = t.post("/v1/referrals", &alpha, referral("globex.com")).await;
        let now = t.clock.now().to_rfc3339();
        let event = json!({ "event_id": "seen-1", "type": "opportunity.created", "occurred_at": now,
            "opportunity_id": "006-S", "referral_id": accepted["id"], "name": "Deal",
            "amount": { "amount": "50000.00", "currency": "USD" }, "owner_email": "owner@example.com" });
        let first = t.post("/v1/crm/events", &crm, event.clone()).await;
        let seen = t.store.crm_event_seen("seen-1", t.clock.now()).await.unwrap();
        let again = t.post("/v1/crm/events", &crm, event).await;
        // Past the 30-day window the id is forgotten.
        let forgotten = t.store.crm_event_seen("seen-1", t.clock.now().plus(chrono::Duration::days(31))).await.unwrap();
        json!({
            "marked": marked,
            "standing": [standing.existing_customer, customer.existing_customer],
            "referral": [status, rejected["code"]],
            "stored_rejected": mine.items.iter().map(|r| format!("{:?}", r.referral.status)).collect::<Vec<_>>(),
            "crm": [first.0, first.1["duplicate"], seen, again.0, again.1["duplicate"], forgotten],
        })
    })
    .await;
    assert_eq!(observed["standing"], json!([true, true]), "{observed}");
    assert_eq!(observed["referral"], json!([409, "existing_customer"]), "{observed}");
    assert_eq!(observed["stored_rejected"], json!(["Rejected"]), "{observed}");
    assert_eq!(observed["crm"], json!([200, false, true, 200, true, false]), "{observed}");
}

#[tokio::test]
async fn people_links_sessions_limits_and_form_links_agree() {
    use partnerops_domain::id::UserId;
    use partnerops_domain::people::{Secret, Session, SignInLink, UserDraft, UserPatchDraft, new_user, patch_user};
    let observed = on_both(|t| async move {
        let now = t.clock.now();
        let draft = |email: &str, role: &str| UserDraft {
            email: Some(email.into()),
            name: Some("Ada".into()),
            role: Some(role.into()),
            partner_id: None,
            slack_user_id: None,
        };
        let mut made = Vec::new();
        for (n, email) in ["a@example.com", "b@example.com", "c@example.com"].iter().enumerate() {
            let at = now.plus(chrono::Duration::milliseconds(n as i64));
            let user = new_user(draft(email, "finance"), UserId::generate(at, Entropy(n as u128)), at).unwrap();
            assert!(t.store.create_user(&user).await.unwrap());
            made.push(user);
        }
        let clash = new_user(draft("A@Example.com", "admin"), UserId::generate(now, Entropy(99)), now).unwrap();
        let duplicate_email = t.store.create_user(&clash).await.unwrap();
        let by_email = t.store.user_by_email("A@EXAMPLE.COM").await.unwrap().map(|u| u.id == made[0].id);
        let mut member = made[2].clone();
        member.slack_user_id = Some("UCM0001".into());
        let read_at = member.updated_at;
        member.updated_at = read_at.plus(chrono::Duration::milliseconds(5));
        t.store.update_user(&member, read_at).await.unwrap();
        let by_slack = t.store.user_by_slack_id("UCM0001").await.unwrap().map(|u| u.id == made[2].id);
        let nobody = t.store.user_by_slack_id("UNOBODY1").await.unwrap().is_none();
        let registration = partnerops_domain::id::RegistrationId::generate(now, Entropy(3));
        let message = partnerops_domain::slack::MessageRef { channel: "C1".into(), ts: "1.1".into() };
        let later = partnerops_domain::slack::MessageRef { channel: "C1".into(), ts: "2.2".into() };
        let kept = [
            t.store.keep_slack_message(&registration, &message).await.unwrap(),
            t.store.keep_slack_message(&registration, &later).await.unwrap(),
        ];
        let stays = t.store.slack_message(&registration).await.unwrap().map(|m| m.ts);
        let first = t.store.users(&PageRequest { limit: 2, cursor: None }).await.unwrap();
        let rest = t.store.users(&PageRequest { limit: 2, cursor: first.next_cursor.clone() }).await.unwrap();
        let disabled = patch_user(
            made[1].clone(),
            UserPatchDraft { status: Some("disabled".into()), ..Default::default() },
            now.plus(chrono::Duration::seconds(1)),
        )
        .unwrap();
        let stale = t.store.update_user(&disabled, now.plus(chrono::Duration::seconds(-5))).await;
        let fresh = t.store.update_user(&disabled, made[1].updated_at).await;

        let secret = Secret::generate([7; 32]);
        t.store.put_sign_in_link(&SignInLink::new(secret.hash.clone(), made[0].id.clone(), now)).await.unwrap();
        let (one, two) =
            futures::join!(t.store.use_sign_in_link(&secret.hash, now), t.store.use_sign_in_link(&secret.hash, now));
        let concurrent = [one.unwrap().is_some(), two.unwrap().is_some()];
        let late = Secret::generate([8; 32]);
        t.store.put_sign_in_link(&SignInLink::new(late.hash.clone(), made[0].id.clone(), now)).await.unwrap();
        let expired = t.store.use_sign_in_link(&late.hash, now.plus(chrono::Duration::minutes(15))).await.unwrap();
        let unknown = t.store.use_sign_in_link(&Secret::generate([9; 32]).hash, now).await.unwrap();

        let session = Session::new(Secret::generate([3; 32]).hash, made[0].id.clone(), now);
        t.store.put_session(&session).await.unwrap();
        let live = t.store.session(&session.hash, now.plus(chrono::Duration::hours(11))).await.unwrap().is_some();
        let over = t.store.session(&session.hash, now.plus(chrono::Duration::hours(12))).await.unwrap().is_some();
        t.store.end_session(&session.hash).await.unwrap();
        let ended = t.store.session(&session.hash, now).await.unwrap().is_some();

        let mut admitted = Vec::new();
        for minute in [0, 10, 20, 59, 61] {
            let at = now.plus(chrono::Duration::minutes(minute));
            admitted.push(t.store.admit("signin#a@example.com", 3, chrono::Duration::hours(1), at).await.unwrap());
        }

        let partner = PartnerId::parse("alpha").unwrap();
        t.partner("alpha").await;
        let old = Secret::generate([4; 32]);
        let new = Secret::generate([5; 32]);
        t.store.replace_referral_form(&partner, &old.hash).await.unwrap();
        let before = t.store.referral_form(&old.hash).await.unwrap().is_some();
        t.store.replace_referral_form(&partner, &new.hash).await.unwrap();
        let old_after = t.store.referral_form(&old.hash).await.unwrap().is_some();
        let new_after = t.store.referral_form(&new.hash).await.unwrap().map(|p| p.to_string());
        json!({
            "duplicate_email": duplicate_email,
            "by_email": by_email,
            "by_slack": [json!(by_slack), json!(nobody)],
            "slack_message": [json!(kept), json!(stays)],
            "pages": [first.items.len(), rest.items.len(), usize::from(rest.next_cursor.is_some())],
            "newest_first": first.items[0].id == made[2].id,
            "stale_update": conflict_name(stale),
            "fresh_update": conflict_name(fresh),
            "concurrent_clicks": concurrent.iter().filter(|x| **x).count(),
            "expired": expired.is_some(),
            "unknown": unknown.is_some(),
            "session": [live, over, ended],
            "admitted": admitted,
            "form_links": [json!(before), json!(old_after), json!(new_after)],
        })
    })
    .await;
    assert_eq!(
        observed,
        json!({
            "duplicate_email": false,
            "by_email": true,
            "by_slack": [true, true],
            "slack_message": [[true, false], "1.1"],
            "pages": [2, 1, 0],
            "newest_first": true,
            "stale_update": "the user",
            "fresh_update": "ok",
            "concurrent_clicks": 1,
            "expired": false,
            "unknown": false,
            "session": [true, false, false],
            "admitted": [true, true, true, false, true],
            "form_links": [true, false, "alpha"],
        })
    );
}

#[tokio::test]
async fn webhook_endpoints_and_deliveries_are_versioned_and_due_in_order() {
    use partnerops_domain::webhook::{
        EndpointDraft, EndpointId, Message, Outcome, SECRET_BYTES, Secret, UrlPolicy, check_url, claim, new_endpoint,
        record,
    };
    let observed = on_both(|t| async move {
        let now = t.clock.now();
        let acme = PartnerId::parse("acme").unwrap();
        let url = check_url("https://hooks.example.com/in", UrlPolicy::default()).unwrap();
        let make = |n: u128| {
            new_endpoint(
                EndpointDraft { events: Some(vec!["*".into()]), ..Default::default() },
                acme.clone(),
                &url,
                EndpointId::generate(now.plus(chrono::Duration::seconds(n as i64)), Entropy(n)),
                Secret::from_bytes([n as u8; SECRET_BYTES]),
                now.plus(chrono::Duration::seconds(n as i64)),
            )
            .unwrap()
        };
        let (first, second) = (make(1), make(2));
        let mut seen = vec![
            conflict_name(t.store.create_endpoint(&first).await),
            conflict_name(t.store.create_endpoint(&first).await),
            conflict_name(t.store.create_endpoint(&second).await),
        ];
        let listed: Vec<String> =
            t.store.partner_endpoints(&acme).await.unwrap().iter().map(|e| e.id.to_string()).collect();
        seen.push(json!(listed == vec![first.id.to_string(), second.id.to_string()]));
        let rotated = first.rotated(Secret::from_bytes([9; SECRET_BYTES]), now);
        seen.push(conflict_name(t.store.save_endpoint(first.version, &rotated).await));
        seen.push(conflict_name(t.store.save_endpoint(first.version, &rotated).await));
        seen.push(json!(t.store.endpoint(&first.id).await.unwrap() == Some(rotated.clone())));

        // Three messages, due now, in 5 s and not at all (delivered).
        let messages: Vec<Message> = (0..3)
            .map(|n| {
                Message::test(acme.clone(), now.plus(chrono::Duration::seconds(n)), Entropy(n as u128 + 20), &first.id)
            })
            .collect();
        for m in &messages {
            seen.push(json!(t.store.create_delivery(&m.delivery_to(&rotated, now)).await.unwrap()));
        }
        seen.push(json!(t.store.create_delivery(&messages[0].delivery_to(&rotated, now)).await.unwrap()));
        let d1 = t.store.delivery(&first.id, &messages[1].message_id).await.unwrap().unwrap();
        let claimed = claim(&d1, now).unwrap();
        seen.push(conflict_name(t.store.save_delivery(d1.version, &claimed).await));
        seen.push(conflict_name(t.store.save_delivery(d1.version, &claimed).await));
        let failed = record(&claimed, &Outcome::of_status(500, b"no"), now);
        seen.push(conflict_name(t.store.save_delivery(claimed.version, &failed).await));
        let d2 = t.store.delivery(&first.id, &messages[2].message_id).await.unwrap().unwrap();
        let c2 = claim(&d2, now).unwrap();
        t.store.save_delivery(d2.version, &c2).await.unwrap();
        t.store.save_delivery(c2.version, &record(&c2, &Outcome::of_status(200, b"ok"), now)).await.unwrap();
        let due = |at| {
            let store = t.store.clone();
            async move {
                store
                    .due_deliveries(at, 100)
                    .await
                    .unwrap()
                    .iter()
                    .map(|d| d.message_id.to_string())
                    .collect::<Vec<_>>()
            }
        };
        seen.push(json!(due(now).await == vec![messages[0].message_id.to_string()]));
        seen.push(json!(
            due(now.plus(chrono::Duration::seconds(5))).await
                == vec![messages[0].message_id.to_string(), messages[1].message_id.to_string()]
        ));
        // The log, newest message first, a page of two and then the rest.
        let page = t.store.deliveries(&first.id, &PageRequest { limit: 2, cursor: None }).await.unwrap();
        let rest =
            t.store.deliveries(&first.id, &PageRequest { limit: 2, cursor: page.next_cursor.clone() }).await.unwrap();
        let order: Vec<String> = page.items.iter().chain(&rest.items).map(|d| d.message_id.to_string()).collect();
        let mut newest_first: Vec<String> = messages.iter().map(|m| m.message_id.to_string()).collect();
        newest_first.reverse();
        seen.push(json!(order == newest_first));
        seen.push(json!(rest.next_cursor.is_none()));
        let other = t.store.deliveries(&second.id, &PageRequest { limit: 2, cursor: page.next_cursor.clone() }).await;
        seen.push(outcome(other.map(|p| p.items.len())));
        seen.push(json!(t.store.delete_endpoint(&second.id).await.unwrap()));
        seen.push(json!(t.store.delete_endpoint(&second.id).await.unwrap()));
        seen.push(json!(t.store.partner_endpoints(&acme).await.unwrap().len()));
        json!(seen)
    })
    .await;
    assert_eq!(
        observed,
        json!([
            "ok",
            "the endpoint",
            "ok",
            true,
            "ok",
            "the endpoint",
            true,
            true,
            true,
            true,
            false,
            "ok",
            "the delivery",
            "ok",
            true,
            true,
            true,
            true,
            "error: cursor is not valid for this list",
            true,
            false,
            1
        ])
    );
}
