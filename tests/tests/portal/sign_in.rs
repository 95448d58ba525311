//! Users, sign-in links and sessions.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use reqwest::header::SET_COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn users_are_unique_by_email_and_checked_like_every_admin_body() {
    let t = stack().await;
    t.partner("acme", "gold").await;
    let ada = user(&t, "Ada@Example.com", "partner", Some("acme")).await;
    assert_eq!(ada["email"], "ada@example.com");
    assert!(ada["id"].as_str().unwrap().starts_with("usr_"));
    let again = t
        .post("/v1/admin/users", &t.admin(), json!({ "email": "ADA@example.com", "name": "A", "role": "finance" }))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "user_exists");
    let bad = t
        .post("/v1/admin/users", &t.admin(), json!({ "email": "x@example.com", "name": "X", "role": "partner" }))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["partner_id"]);
    let crm =
        t.post("/v1/admin/users", &t.admin(), json!({ "email": "c@example.com", "name": "C", "role": "crm" })).await;
    assert_eq!(crm.error_fields(), ["role"]);
    let id = ada["id"].as_str().unwrap();
    let patched = t
        .send(
            Method::PATCH,
            &format!("/v1/admin/users/{id}"),
            Some(&t.admin()),
            Some(json!({ "slack_user_id": "U024BE7LH" })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["slack_user_id"], "U024BE7LH");
    let listed = t.get("/v1/admin/users", &t.admin()).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let partner_key = t.key("partner", Some("acme")).await;
    assert_eq!(t.get("/v1/admin/users", &partner_key).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sign_in_says_the_same_for_any_address_and_a_link_works_once() {
    let t = stack().await;
    user(&t, "cm@example.com", "channel_manager", None).await;
    let mut browser = Browser::new(&t);
    let form = browser.get("/portal/sign-in").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("<label for=\"f-email\">"), "every input has a label");

    let known = browser.post("/portal/sign-in", &[("email", "CM@example.com")]).await;
    let unknown = browser.post("/portal/sign-in", &[("email", "nobody@example.com")]).await;
    assert_eq!((known.status, unknown.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(known.body, unknown.body, "the same page whether or not the address has an account");
    assert!(outbox_to(&t, "nobody@example.com").await.is_empty());
    let sent = outbox_to(&t, "cm@example.com").await;
    assert_eq!(sent.len(), 1);
    let link = link_in(&sent[0]);
    assert!(link.starts_with(&format!("{}/portal/auth/", t.stack.url)), "{link}");

    // Two clicks at the same instant: one session.
    let mut a = Browser::new(&t);
    let mut b = Browser::new(&t);
    let (first, second) = futures::join!(a.get(&link), b.get(&link));
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::BAD_REQUEST]);
    let winner = if first.status == StatusCode::SEE_OTHER { &first } else { &second };
    let cookie = winner.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.starts_with("po_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain http on the dev stack");
    let used = Browser::new(&t).get(&link).await;
    assert_eq!(used.status, StatusCode::BAD_REQUEST);
    assert!(used.body.contains("Ask for a new one"));
    assert_eq!(Browser::new(&t).get("/portal/auth/not-a-token").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn links_expire_after_fifteen_minutes_and_an_address_gets_five_an_hour() {
    let t = stack().await;
    user(&t, "fin@example.com", "finance", None).await;
    let mut browser = Browser::new(&t);
    let stale = request_link(&t, &mut browser, "fin@example.com").await;
    t.set_clock("2026-11-22T10:15:00Z").await;
    assert_eq!(Browser::new(&t).get(&stale).await.status, StatusCode::BAD_REQUEST, "15 minutes is the end");
    for _ in 0..4 {
        request_link(&t, &mut browser, "fin@example.com").await;
    }
    let refused = browser.post("/portal/sign-in", &[("email", "fin@example.com")]).await;
    assert_eq!(refused.status, StatusCode::OK, "the same answer");
    assert_eq!(outbox_to(&t, "fin@example.com").await.len(), 5, "no sixth link within the hour");
    t.set_clock("2026-11-22T11:00:01Z").await;
    let fresh = request_link(&t, &mut browser, "fin@example.com").await;
    assert_eq!(Browser::new(&t).get(&fresh).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_ends_at_sign_out_and_when_its_user_or_partner_is_stopped() {
    let t = stack().await;
    t.partner("acme", "gold").await;
    let ada = user(&t, "ada@acme.com", "partner", Some("acme")).await;
    let mut browser = signed_in(&t, "ada@acme.com").await;
    let home = browser.get("/portal").await;
    assert_eq!(home.status, StatusCode::OK);
    let refused = browser.post("/portal/sign-out", &[("csrf", "forged")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "a wrong csrf changes nothing");
    assert_eq!(browser.get("/portal").await.status, StatusCode::OK, "still signed in");
    let old_cookie = browser.cookie.clone();
    let out = browser.post("/portal/sign-out", &[("csrf", &home.csrf())]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/portal/sign-in");
    assert!(browser.cookie.is_none(), "the cookie is cleared");
    let mut replay = Browser::new(&t);
    replay.cookie = old_cookie;
    assert_eq!(replay.get("/portal").await.location(), "/portal/sign-in", "the session itself ended");

    // A stolen cookie stops working when the session is ended elsewhere.
    let mut again = signed_in(&t, "ada@acme.com").await;
    let cookie = again.cookie.clone();
    let mut replay = Browser::new(&t);
    let id = ada["id"].as_str().unwrap();
    t.send(Method::PATCH, &format!("/v1/admin/users/{id}"), Some(&t.admin()), Some(json!({ "status": "disabled" })))
        .await;
    assert_eq!(again.get("/portal").await.location(), "/portal/sign-in", "disabled: signed out at once");
    t.send(Method::PATCH, &format!("/v1/admin/users/{id}"), Some(&t.admin()), Some(json!({ "status": "active" })))
        .await;
    replay.cookie = cookie;
    assert_eq!(replay.get("/portal").await.location(), "/portal/sign-in", "the ended session stays ended");

    let mut third = signed_in(&t, "ada@acme.com").await;
    let suspended = t
        .send(Method::PATCH, "/v1/admin/partners/acme", Some(&t.admin()), Some(json!({ "status": "suspended" })))
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{:?}", suspended.body);
    assert_eq!(third.get("/portal").await.location(), "/portal/sign-in", "suspended partner: signed out");
}
