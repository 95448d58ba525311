//! End-to-end: referral intake through the dev stack's HTTP routes.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::future::join_all;
use partnerops_e2e::{TestStack, referral};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_referral_is_stored_timed_and_published() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;

    let created = t.post("/v1/referrals", &alpha, referral("https://www.Sales.Acme.co.uk/pricing")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ref_"));
    assert_eq!(created.headers["location"], format!("/v1/referrals/{id}").as_str());
    assert_eq!(created.body["status"], "received");
    assert_eq!(created.body["partner_id"], "alpha");
    assert_eq!(created.body["prospect_key"], "acme.co.uk");
    let sla = &created.body["slas"][0];
    assert_eq!(sla["kind"], "opportunity_creation");
    assert_eq!(sla["status"], "open");
    let created_at = chrono::DateTime::parse_from_rfc3339(created.body["created_at"].as_str().unwrap()).unwrap();
    let due_at = chrono::DateTime::parse_from_rfc3339(sla["due_at"].as_str().unwrap()).unwrap();
    assert_eq!(due_at - created_at, chrono::Duration::hours(24));

    let read = t.get(&format!("/v1/referrals/{id}"), &alpha).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, created.body);

    let tick = t.tick().await;
    assert_eq!(tick["events_published"], 1, "{tick}");
    assert_eq!(t.tick().await["events_published"], 0, "a drained stream publishes nothing twice");
}

#[tokio::test]
async fn the_same_partner_gets_its_first_referral_back() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "silver").await;
    let first = t.post("/v1/referrals", &alpha, referral("acme.com")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = t.post("/v1/referrals", &alpha, referral("https://shop.acme.com")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], first.body["id"]);
    let list = t.get("/v1/referrals", &alpha).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "nothing new was created");
}

#[tokio::test]
async fn conflicts_are_stored_as_rejected_without_naming_the_other_partner() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;
    let beta = t.partner("beta", "gold").await;
    assert_eq!(t.post("/v1/referrals", &alpha, referral("globex.com")).await.status, StatusCode::CREATED);

    let taken = t.post("/v1/referrals", &beta, referral("www.globex.com")).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.code(), "prospect_already_referred");
    assert_eq!(taken.headers["content-type"], "application/problem+json");
    let text = taken.body.to_string();
    assert!(!text.contains("alpha"), "the problem must not reveal the other partner: {text}");
    let rejected_id = taken.body["referral_id"].as_str().unwrap();
    let stored = t.get(&format!("/v1/referrals/{rejected_id}"), &beta).await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(stored.body["status"], "rejected");
    assert_eq!(stored.body["rejection_reason"], "prospect_already_referred");

    let marked = t.post("/v1/admin/customers", &t.admin(), json!({ "domains": ["initech.com"] })).await;
    assert_eq!(marked.status, StatusCode::OK, "{:?}", marked.body);
    let customer = t.post("/v1/referrals", &beta, referral("initech.com")).await;
    assert_eq!(customer.status, StatusCode::CONFLICT);
    assert_eq!(customer.code(), "existing_customer");

    let rejected = t.get("/v1/referrals?status=rejected", &beta).await;
    assert_eq!(rejected.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(t.tick().await["events_published"], 3, "one ReferralReceived and two ReferralRejected");
}

#[tokio::test]
async fn partners_only_see_their_own_referrals() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;
    let beta = t.partner("beta", "gold").await;
    let manager = t.key("channel_manager", None).await;
    let crm = t.key("crm", None).await;
    let a = t.post("/v1/referrals", &alpha, referral("acme.com")).await;
    t.post("/v1/referrals", &beta, referral("globex.com")).await;
    let a_id = a.body["id"].as_str().unwrap();

    let hidden = t.get(&format!("/v1/referrals/{a_id}"), &beta).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.code(), "not_found");
    let list = t.get("/v1/referrals", &beta).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["partner_id"], "beta");
    let snooping = t.get("/v1/referrals?partner_id=alpha", &beta).await;
    assert_eq!(snooping.body["items"].as_array().unwrap().len(), 0);

    assert_eq!(t.get(&format!("/v1/referrals/{a_id}"), &manager).await.status, StatusCode::OK);
    let all = t.get("/v1/referrals", &manager).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    let only_alpha = t.get("/v1/referrals?partner_id=alpha", &manager).await;
    assert_eq!(only_alpha.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(t.get("/v1/referrals", &crm).await.status, StatusCode::FORBIDDEN);
    assert_eq!(t.post("/v1/referrals", &manager, referral("hooli.com")).await.code(), "forbidden");
}

#[tokio::test]
async fn lists_page_with_an_opaque_cursor() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;
    for i in 0..5 {
        let r = t.post("/v1/referrals", &alpha, referral(&format!("company{i}.com"))).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut path = "/v1/referrals?limit=2".to_owned();
    loop {
        let page = t.get(&path, &alpha).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/referrals?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
    assert_eq!(t.get("/v1/referrals?limit=0", &alpha).await.error_fields(), ["limit"]);
    assert_eq!(t.get("/v1/referrals?limit=101", &alpha).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.get("/v1/referrals?cursor=bm9wZQ", &alpha).await.code(), "invalid_cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_partners_racing_for_one_prospect_yield_exactly_one_referral() {
    let t = TestStack::start().await;
    let mut keys = Vec::new();
    for i in 0..20 {
        keys.push(t.partner(&format!("racer-{i}"), "gold").await);
    }
    let body = referral("contested.io");
    let replies = join_all(keys.iter().map(|k| t.post("/v1/referrals", k, body.clone()))).await;
    let created: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    let conflicts = replies.iter().filter(|r| r.code() == "prospect_already_referred").count();
    assert_eq!(created.len(), 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(conflicts, 19);
    let manager = t.key("channel_manager", None).await;
    let received = t.get("/v1/referrals?status=received", &manager).await;
    assert_eq!(received.body["items"].as_array().unwrap().len(), 1);
}
