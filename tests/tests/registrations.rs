//! End-to-end: deal registrations through the dev stack (SPEC §6).

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::future::join_all;
use partnerops_e2e::{Reply, TestStack, registration};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;

const NOW: &str = "2026-11-22T10:00:00Z";

async fn stack() -> TestStack {
    let t = TestStack::start().await;
    t.set_clock(NOW).await;
    t
}

fn id(reply: &Reply) -> String {
    reply.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_checks_run_in_order() {
    let t = stack().await;
    let manager = t.key("channel_manager", None).await;
    let uncertified = t.partner("rookie", "platinum").await;
    let refused = t.post("/v1/deal-registrations", &uncertified, registration("globex.com", "100.00")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "not_certified");
    assert_eq!(
        t.get("/v1/deal-registrations", &manager).await.body["items"].as_array().unwrap().len(),
        0,
        "nothing stored"
    );

    let platinum = t.certified_partner("alpha", "platinum").await;
    t.post("/v1/admin/customers", &t.admin(), json!({ "domains": ["initech.com"] })).await;
    let customer = t.post("/v1/deal-registrations", &platinum, registration("initech.com", "100.00")).await;
    assert_eq!(customer.status, StatusCode::CONFLICT);
    assert_eq!(customer.code(), "existing_customer");
    let stored = t
        .get(&format!("/v1/deal-registrations/{}", customer.body["registration_id"].as_str().unwrap()), &platinum)
        .await;
    assert_eq!(stored.body["status"], "rejected");

    let auto = t.post("/v1/deal-registrations", &platinum, registration("https://www.globex.com", "25000.00")).await;
    assert_eq!(auto.status, StatusCode::CREATED, "{:?}", auto.body);
    assert_eq!(auto.body["status"], "approved");
    assert_eq!(auto.body["decided_by"], "system");
    assert_eq!(auto.body["protected_until"], "2027-05-21T10:00:00.000Z", "platinum: 180 days");
    assert_eq!(auto.body["estimated_value"], json!({ "amount": "25000.00", "currency": "USD" }));

    let again = t.post("/v1/deal-registrations", &platinum, registration("globex.com", "1.00")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(id(&again), id(&auto));

    let gold = t.certified_partner("beta", "gold").await;
    let taken = t.post("/v1/deal-registrations", &gold, registration("globex.com", "10.00")).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.code(), "already_registered");
    assert!(!taken.body.to_string().contains("alpha"), "never names the other partner");

    let referral = partnerops_e2e::referral("globex.com");
    let blocked = t.post("/v1/referrals", &gold, referral).await;
    assert_eq!(blocked.code(), "registered_by_another_partner");
}

#[tokio::test]
async fn the_first_pending_registration_leads_and_approval_rejects_the_rest() {
    let t = stack().await;
    let manager = t.key("channel_manager", None).await;
    let alpha = t.certified_partner("alpha", "gold").await;
    let beta = t.certified_partner("beta", "gold").await;
    let gamma = t.certified_partner("gamma", "platinum").await;

    let lead = t.post("/v1/deal-registrations", &alpha, registration("globex.com", "125000.00")).await;
    assert_eq!(lead.status, StatusCode::CREATED);
    assert_eq!(lead.body["status"], "pending");
    assert!(lead.body.get("conflict").is_none());
    assert_eq!(lead.body["slas"][0]["kind"], "registration_decision");
    assert_eq!(lead.body["slas"][0]["due_at"], "2026-11-24T10:00:00.000Z");
    let second = t.post("/v1/deal-registrations", &beta, registration("globex.com", "10.00")).await;
    assert_eq!(second.body["conflict"]["queue_position"], 2);
    let third = t.post("/v1/deal-registrations", &gamma, registration("sales.globex.com", "10.00")).await;
    assert_eq!(third.body["status"], "pending", "a conflict is never approved automatically");
    assert_eq!(third.body["conflict"]["queue_position"], 3);

    let not_lead = t
        .post(&format!("/v1/deal-registrations/{}/decision", id(&second)), &manager, json!({ "decision": "approve" }))
        .await;
    assert_eq!(not_lead.status, StatusCode::CONFLICT);
    assert_eq!(not_lead.code(), "conflict_not_lead");
    assert_eq!(
        t.post(&format!("/v1/deal-registrations/{}/decision", id(&lead)), &alpha, json!({ "decision": "approve" }))
            .await
            .code(),
        "forbidden"
    );

    t.set_clock("2026-11-23T10:00:00Z").await;
    let approved = t
        .post(
            &format!("/v1/deal-registrations/{}/decision", id(&lead)),
            &manager,
            json!({ "decision": "approve", "protection_days": 30 }),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["protected_until"], "2026-12-23T10:00:00.000Z");
    assert_eq!(approved.body["slas"][0]["status"], "met");
    assert_eq!(approved.body["slas"][0]["met_at"], "2026-11-23T10:00:00.000Z");

    for loser in [&second, &third] {
        let read = t.get(&format!("/v1/deal-registrations/{}", id(loser)), &manager).await;
        assert_eq!(read.body["status"], "rejected");
        assert_eq!(read.body["reason"], "already_registered");
    }
    let history = t.get(&format!("/v1/deal-registrations/{}/history", id(&second)), &beta).await;
    let entries = history.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!((entries[0]["from"].clone(), entries[0]["to"].clone()), (json!(null), json!("pending")));
    assert_eq!(entries[1]["from"], "pending");
    assert_eq!(entries[1]["to"], "rejected");
    assert_eq!(entries[1]["actor"], "system");
    assert_eq!(entries[1]["reason"], "already_registered");
    let lead_history = t.get(&format!("/v1/deal-registrations/{}/history", id(&lead)), &manager).await;
    let last = lead_history.body["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["to"], "approved");
    assert!(last["actor"].as_str().unwrap().starts_with("key_"), "the channel manager's key: {last}");
    assert_eq!(last["at"], "2026-11-23T10:00:00.000Z");

    let tick = t.tick().await;
    assert_eq!(tick["events_published"], 6, "three submitted, three decided: {tick}");
    let again = t
        .post(
            &format!("/v1/deal-registrations/{}/decision", id(&lead)),
            &manager,
            json!({ "decision": "reject", "reason": "x" }),
        )
        .await;
    assert_eq!(again.code(), "already_decided");
}

#[tokio::test]
async fn rejecting_the_lead_promotes_the_next() {
    let t = stack().await;
    let manager = t.key("channel_manager", None).await;
    let alpha = t.certified_partner("alpha", "gold").await;
    let beta = t.certified_partner("beta", "silver").await;
    let lead = t.post("/v1/deal-registrations", &alpha, registration("globex.com", "10.00")).await;
    let next = t.post("/v1/deal-registrations", &beta, registration("globex.com", "10.00")).await;
    assert!(next.body["slas"].as_array().unwrap().is_empty(), "a queued registration is not timed yet");

    let no_reason = t
        .post(&format!("/v1/deal-registrations/{}/decision", id(&lead)), &manager, json!({ "decision": "reject" }))
        .await;
    assert_eq!(no_reason.error_fields(), ["reason"]);
    t.set_clock("2026-11-22T20:00:00Z").await;
    let rejected = t
        .post(
            &format!("/v1/deal-registrations/{}/decision", id(&lead)),
            &manager,
            json!({ "decision": "reject", "reason": "No budget confirmed" }),
        )
        .await;
    assert_eq!(rejected.body["status"], "rejected");
    assert_eq!(rejected.body["reason"], "No budget confirmed");

    let promoted = t.get(&format!("/v1/deal-registrations/{}", id(&next)), &beta).await;
    assert_eq!(promoted.body["status"], "pending");
    assert!(promoted.body.get("conflict").is_none(), "{:?}", promoted.body);
    assert_eq!(promoted.body["slas"][0]["due_at"], "2026-11-24T20:00:00.000Z", "timed from its promotion");
    let approved = t
        .post(&format!("/v1/deal-registrations/{}/decision", id(&next)), &manager, json!({ "decision": "approve" }))
        .await;
    assert_eq!(approved.body["protected_until"], "2027-02-20T20:00:00.000Z", "silver: the program's 90 days");
}

#[tokio::test]
async fn withdrawal_is_for_the_owner_and_releases_the_customer() {
    let t = stack().await;
    let alpha = t.certified_partner("alpha", "platinum").await;
    let beta = t.certified_partner("beta", "gold").await;
    let manager = t.key("channel_manager", None).await;
    let approved = t.post("/v1/deal-registrations", &alpha, registration("globex.com", "10.00")).await;
    assert_eq!(approved.body["status"], "approved");
    let path = format!("/v1/deal-registrations/{}/withdraw", id(&approved));
    assert_eq!(t.post(&path, &beta, json!({})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.post(&path, &manager, json!({})).await.code(), "forbidden", "wrong role: 403");
    assert_eq!(t.get(&format!("/v1/deal-registrations/{}", id(&approved)), &beta).await.status, StatusCode::NOT_FOUND);
    let withdrawn = t.post(&path, &alpha, json!({})).await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{:?}", withdrawn.body);
    assert_eq!(withdrawn.body["status"], "withdrawn");
    assert_eq!(t.post(&path, &alpha, json!({})).await.code(), "not_withdrawable");

    let free = t.post("/v1/deal-registrations", &beta, registration("globex.com", "10.00")).await;
    assert_eq!(free.status, StatusCode::CREATED);
    assert!(free.body.get("conflict").is_none(), "the claim was released");
    let history = t.get(&format!("/v1/deal-registrations/{}/history", id(&approved)), &alpha).await;
    let last = history.body["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["from"].clone(), last["to"].clone(), last["actor"].clone()),
        (json!("approved"), json!("withdrawn"), json!("alpha"))
    );
}

#[tokio::test]
async fn bad_registrations_name_their_fields_and_store_nothing() {
    let t = stack().await;
    let alpha = t.certified_partner("alpha", "gold").await;
    let mut body = registration("globex.com", "10.5");
    body["estimated_value"]["currency"] = json!("JPY");
    body["expected_close_date"] = json!("2026-11-21");
    body["motion"] = json!("barter");
    let bad = t.post("/v1/deal-registrations", &alpha, body).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["motion", "estimated_value.amount", "expected_close_date"]);
    let mut far = registration("globex.com", "10.00");
    far["expected_close_date"] = json!("2028-11-23");
    assert_eq!(t.post("/v1/deal-registrations", &alpha, far).await.error_fields(), ["expected_close_date"]);
    let mut bhd = registration("globex.com", "1.234");
    bhd["estimated_value"]["currency"] = json!("BHD");
    let ok = t.post("/v1/deal-registrations", &alpha, bhd).await;
    assert_eq!(ok.body["estimated_value"], json!({ "amount": "1.234", "currency": "BHD" }));
    let list = t.get("/v1/deal-registrations?status=pending", &alpha).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "only the valid one is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_partners_racing_for_one_customer_get_one_lead_and_a_clean_queue() {
    let t = stack().await;
    let mut keys = Vec::new();
    for i in 0..50 {
        keys.push(t.certified_partner(&format!("racer-{i:02}"), "gold").await);
    }
    let body = registration("contested.io", "10.00");
    let replies = join_all(keys.iter().map(|k| t.post("/v1/deal-registrations", k, body.clone()))).await;
    assert!(
        replies.iter().all(|r| r.status == StatusCode::CREATED),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let leads = replies.iter().filter(|r| r.body.get("conflict").is_none()).count();
    assert_eq!(leads, 1);
    let positions: BTreeSet<u64> =
        replies.iter().filter_map(|r| r.body["conflict"]["queue_position"].as_u64()).collect();
    assert_eq!(positions, (2..=50).collect::<BTreeSet<u64>>(), "positions 2..50, none repeated");
    let timed = replies.iter().filter(|r| !r.body["slas"].as_array().unwrap().is_empty()).count();
    assert_eq!(timed, 1, "only the lead has a decision timer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_decisions_on_one_registration_apply_once() {
    let t = stack().await;
    let manager = t.key("channel_manager", None).await;
    let alpha = t.certified_partner("alpha", "gold").await;
    let lead = t.post("/v1/deal-registrations", &alpha, registration("globex.com", "10.00")).await;
    let path = format!("/v1/deal-registrations/{}/decision", id(&lead));
    let decisions = [
        json!({ "decision": "approve" }),
        json!({ "decision": "reject", "reason": "duplicate" }),
        json!({ "decision": "approve", "protection_days": 10 }),
        json!({ "decision": "reject", "reason": "no budget" }),
    ];
    let replies = join_all(decisions.iter().map(|d| t.post(&path, &manager, d.clone()))).await;
    assert_eq!(
        replies.iter().filter(|r| r.status == StatusCode::OK).count(),
        1,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(replies.iter().filter(|r| r.code() == "already_decided").count(), 3);
    let history = t.get(&format!("/v1/deal-registrations/{}/history", id(&lead)), &manager).await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 2, "submitted, then exactly one decision");
}

#[tokio::test]
async fn approvals_expire_after_a_notice_and_release_the_customer() {
    let t = stack().await;
    let alpha = t.certified_partner("alpha", "platinum").await;
    let beta = t.certified_partner("beta", "gold").await;
    let approved = t.post("/v1/deal-registrations", &alpha, registration("globex.com", "10.00")).await;
    assert_eq!(approved.body["protected_until"], "2027-05-21T10:00:00.000Z");
    t.tick().await;

    t.set_clock("2027-05-07T09:59:00Z").await;
    assert_eq!(t.tick().await["expiring_notices"], 0);
    t.set_clock("2027-05-07T10:00:00Z").await;
    let notice = t.tick().await;
    assert_eq!(notice["expiring_notices"], 1, "14 days before: {notice}");
    assert_eq!(notice["events_published"], 1);
    t.set_clock("2027-05-14T00:00:00Z").await;
    assert_eq!(t.tick().await["expiring_notices"], 0, "once");
    let mut later = registration("globex.com", "10.00");
    later["expected_close_date"] = json!("2027-12-31");
    assert_eq!(t.post("/v1/deal-registrations", &beta, later.clone()).await.code(), "already_registered");

    t.set_clock("2027-05-21T10:00:00Z").await;
    let expiry = t.tick().await;
    assert_eq!(expiry["registrations_expired"], 1, "{expiry}");
    let read = t.get(&format!("/v1/deal-registrations/{}", id(&approved)), &alpha).await;
    assert_eq!(read.body["status"], "expired");
    let history = t.get(&format!("/v1/deal-registrations/{}/history", id(&approved)), &alpha).await;
    let last = history.body["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["from"].clone(), last["to"].clone(), last["actor"].clone()),
        (json!("approved"), json!("expired"), json!("system"))
    );
    let free = t.post("/v1/deal-registrations", &beta, later).await;
    assert_eq!(free.status, StatusCode::CREATED, "the claim was released: {:?}", free.body);
    assert!(free.body.get("conflict").is_none());
    t.set_clock("2027-06-30T00:00:00Z").await;
    assert_eq!(t.tick().await["registrations_expired"], 0, "expired once");
}
