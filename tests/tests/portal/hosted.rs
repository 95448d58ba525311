//! The hosted referral form, without a sign-in.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use partnerops_e2e::TestStack;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_hosted_form_takes_referrals_without_a_sign_in() {
    let t = stack().await;
    t.partner("acme", "gold").await;
    let admin = t.admin();
    let link = t.post("/v1/admin/partners/acme/referral-form", &admin, json!({})).await;
    assert_eq!(link.status, StatusCode::CREATED, "{:?}", link.body);
    let url = link.body["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/forms/referral/", t.stack.url)), "{url}");
    let mut visitor = Browser::new(&t);
    let form = visitor.get(&url).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(form.body.contains("name=\"submitter.name\"") && form.body.contains("name=\"website\""));

    let filled = [
        ("submitter.name", "Sam Seller"),
        ("submitter.email", "sam@acme.com"),
        ("company.name", "Hooli"),
        ("company.domain", "hooli.com"),
        ("contact.name", "Gavin"),
        ("contact.email", "gavin@hooli.com"),
        ("consent", "on"),
        ("website", ""),
    ];
    let missing = visitor.post(&url, &filled[2..]).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.body.contains("id=\"f-submitter-name-error\""));
    let done = visitor.post(&url, &filled).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let acme_key = t.key("partner", Some("acme")).await;
    let stored = t.get("/v1/referrals", &acme_key).await;
    let items = stored.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["submitter"], json!({ "name": "Sam Seller", "email": "sam@acme.com" }));
    assert!(done.body.contains(items[0]["id"].as_str().unwrap()));

    let mut bot = filled;
    bot[3] = ("company.domain", "piedpiper.com");
    bot[7] = ("website", "http://spam.example");
    let fooled = visitor.post(&url, &bot).await;
    assert_eq!(fooled.status, StatusCode::OK, "the bot sees success");
    assert_eq!(t.get("/v1/referrals", &acme_key).await.body["items"].as_array().unwrap().len(), 1, "nothing stored");

    let replaced = t.post("/v1/admin/partners/acme/referral-form", &admin, json!({})).await;
    let new_url = replaced.body["url"].as_str().unwrap().to_owned();
    assert_eq!(visitor.get(&url).await.status, StatusCode::NOT_FOUND, "the old link is gone at once");
    assert_eq!(visitor.post(&url, &filled).await.status, StatusCode::NOT_FOUND);
    assert_eq!(visitor.get(&new_url).await.status, StatusCode::OK);

    // 30 submissions per link per hour, whatever they contain.
    for n in 1..30 {
        assert_eq!(visitor.post(&new_url, &[("website", "x")]).await.status, StatusCode::OK, "submission {n}");
    }
    assert_eq!(visitor.post(&new_url, &[("website", "x")]).await.status, StatusCode::OK, "the 30th");
    assert_eq!(visitor.post(&new_url, &filled).await.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_hosted_form_may_be_framed_only_by_the_programme_origins() {
    let t = TestStack::start_with(|options| {
        options.terms.portal.frame_ancestors = vec!["https://partner.example.com".into()];
    })
    .await;
    t.set_clock(NOW).await;
    t.partner("acme", "gold").await;
    let link = t.post("/v1/admin/partners/acme/referral-form", &t.admin(), json!({})).await;
    let mut visitor = Browser::new(&t);
    let form = visitor.get(link.body["url"].as_str().unwrap()).await;
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors https://partner.example.com;"), "{csp}");
    let sign_in = visitor.get("/portal/sign-in").await;
    assert!(sign_in.headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
}
