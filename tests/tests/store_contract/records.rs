//! Referrals, registrations and opportunities: cascades, timers, lists,
//! history and expiry notices, customers and CRM events seen twice.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use partnerops_aws::store::{PageRequest, ReferralQuery, RegistrationQuery};
use partnerops_aws::{Clock, StoreError};
use partnerops_domain::auth::Role;
use partnerops_domain::id::{Entropy, EventId};
use partnerops_domain::partner::PartnerId;
use partnerops_domain::registration::{ExpiryStep, sweep_expiry};
use partnerops_e2e::{referral, registration};
use serde_json::{Value, json};

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
