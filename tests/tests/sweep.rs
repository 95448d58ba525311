//! The SLA sweep against moto and through the dev stack: it reads only what is
//! due, signals each transition exactly once, and the dev stack's clock walks
//! timers through due-soon, breach and escalation.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use partnerops_aws::DynamoStore;
use partnerops_aws::store::items::SlaTimerItem;
use partnerops_aws::store::ports::*;
use partnerops_domain::Timestamp;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::sla::{SlaKind, SlaStatus, SlaSubject, SlaTimer};
use partnerops_e2e::{TestStack, referral, registration, terms_options};
use partnerops_fixtures as fixtures;
use reqwest::StatusCode;
use serde_json::json;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn timer(i: usize, met: bool) -> SlaTimer {
    let mut t = SlaTimer::start(
        SlaSubject::Referral(format!("ref_h{i:025}")),
        SlaKind::OpportunityCreation,
        "0",
        PartnerId::parse("history").unwrap(),
        ProspectKey::from_stored(format!("h{i}.com")),
        at("2026-11-20T00:00:00Z"),
        24,
    );
    if met {
        t.status = SlaStatus::Met;
        t.met_at = Some(at("2026-11-20T01:00:00Z"));
    }
    t
}

async fn write_timers(client: &aws_sdk_dynamodb::Client, table: &str, timers: impl Iterator<Item = SlaTimer>) {
    let items: Vec<WriteRequest> = timers
        .map(|t| {
            let item = SlaTimerItem::new(format!("REFERRAL#{}", t.subject.id()), t);
            let put = PutRequest::builder().set_item(Some(serde_dynamo::to_item(&item).unwrap())).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    for chunk in items.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out = client.batch_write_item().request_items(table, pending).send().await.unwrap();
            pending = out.unprocessed_items.and_then(|mut u| u.remove(table)).unwrap_or_default();
        }
    }
}

/// `PARTNEROPS_SWEEP_HISTORY` sets the history size (default 10,000).
#[tokio::test]
async fn the_sweep_reads_what_is_due_not_the_history() {
    let t = TestStack::start().await;
    let table = t.stack.provisioned.reference("Table").unwrap().to_owned();
    let client = aws_sdk_dynamodb::Client::new(&t.stack.sdk);
    let store = DynamoStore::new(client.clone(), &table);
    let now = at("2026-11-22T00:00:00Z");
    write_timers(&client, &table, (0..100).map(|i| timer(i, false))).await;
    let without = store.due_timers(now).await.unwrap();
    assert_eq!(without.timers.len(), 100);

    let history: usize = std::env::var("PARTNEROPS_SWEEP_HISTORY").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    write_timers(&client, &table, (100..100 + history).map(|i| timer(i, true))).await;
    let with = store.due_timers(now).await.unwrap();
    println!("sweep with {history} met timers: {} items read in {} queries", with.items_read, with.queries);
    assert_eq!(with.items_read, without.items_read, "reads grow with due timers, never with history");
    assert_eq!(with.items_read, 100);
    assert_eq!(with.queries, without.queries);
}

fn accepted(i: u128) -> partnerops_domain::referral::AcceptedReferral {
    fixtures::accepted_referral("alpha", &format!("acme{i}.com"), at("2026-11-22T00:00:00Z"), i, &terms_options().terms)
}

#[tokio::test]
async fn concurrent_sweeps_signal_each_breach_once() {
    let t = TestStack::start().await;
    let store = &t.stack.store;
    for i in 0..20 {
        store.record_accepted_referral(&accepted(i)).await.unwrap();
    }
    let later = at("2026-11-23T00:05:00Z");
    let (a, b) =
        tokio::join!(partnerops_app::sweep::sweep(&**store, later), partnerops_app::sweep::sweep(&**store, later));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.signals + b.signals, 20, "{a:?} {b:?}");
    assert_eq!(a.skipped + b.skipped, a.due + b.due - 20);
    let again = partnerops_app::sweep::sweep(&**store, later).await.unwrap();
    assert_eq!(again.signals, 0, "a re-run emits nothing");
    let record = store.referral(&accepted(3).referral.id).await.unwrap().unwrap();
    assert_eq!(record.slas[0].status, SlaStatus::Breached);
    assert_eq!(record.slas[0].breached_at, Some(later));
}

#[tokio::test]
async fn the_dev_clock_walks_a_referral_through_every_sla_stage() {
    let t = TestStack::start().await;
    t.set_clock("2026-11-22T10:00:00Z").await;
    let alpha = t.partner("alpha", "gold").await;
    let created = t.post("/v1/referrals", &alpha, referral("acme.com")).await;
    let path = format!("/v1/referrals/{}", created.body["id"].as_str().unwrap());
    assert_eq!(t.tick().await["sla_signals"], 0);

    t.set_clock("2026-11-23T04:00:00Z").await;
    let due_soon = t.tick().await;
    assert_eq!(due_soon["sla_signals"], 1, "75% of 24 h: {due_soon}");
    t.set_clock("2026-11-23T10:00:00Z").await;
    assert_eq!(t.tick().await["sla_signals"], 0, "due exactly now is not yet breached");
    assert_eq!(t.get(&path, &alpha).await.body["slas"][0]["status"], "open");

    t.set_clock("2026-11-23T10:05:00Z").await;
    assert_eq!(t.tick().await["sla_signals"], 1);
    let breached = t.get(&path, &alpha).await;
    assert_eq!(breached.body["slas"][0]["status"], "breached");
    assert_eq!(breached.body["slas"][0]["breached_at"], "2026-11-23T10:05:00.000Z");

    t.set_clock("2026-11-24T10:10:00Z").await;
    let escalated = t.tick().await;
    assert_eq!(escalated["sla_signals"], 1, "one more window after due_at: {escalated}");
    t.set_clock("2026-11-30T00:00:00Z").await;
    assert_eq!(t.tick().await["sla_signals"], 0, "escalated once");
}

#[tokio::test]
async fn an_undecided_registration_breaches_and_a_timely_decision_does_not() {
    let t = TestStack::start().await;
    t.set_clock("2026-11-22T10:00:00Z").await;
    let alpha = t.certified_partner("alpha", "gold").await;
    let manager = t.key("channel_manager", None).await;
    let late = t.post("/v1/deal-registrations", &alpha, registration("globex.com", "10.00")).await;
    let prompt = t.post("/v1/deal-registrations", &alpha, registration("initech.com", "10.00")).await;
    t.set_clock("2026-11-23T10:00:00Z").await;
    let decided = t
        .post(
            &format!("/v1/deal-registrations/{}/decision", prompt.body["id"].as_str().unwrap()),
            &manager,
            json!({ "decision": "approve" }),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK);
    t.set_clock("2026-11-24T10:00:01Z").await;
    let tick = t.tick().await;
    assert_eq!(
        tick["sla_signals"], 1,
        "only the undecided one breaches (its due-soon came with the late first sweep): {tick}"
    );
    let read = t.get(&format!("/v1/deal-registrations/{}", late.body["id"].as_str().unwrap()), &manager).await;
    assert_eq!(read.body["slas"][0]["status"], "breached");
    let read = t.get(&format!("/v1/deal-registrations/{}", prompt.body["id"].as_str().unwrap()), &manager).await;
    assert_eq!(read.body["slas"][0]["status"], "met");
}
