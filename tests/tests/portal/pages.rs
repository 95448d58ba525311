//! The partner's and the staff's pages: headers and escaping, forms with the
//! API's rules, decisions, withdrawals, exports and earnings.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

#[tokio::test]
async fn every_page_carries_the_security_headers_and_escapes_what_people_typed() {
    let t = stack().await;
    t.partner("acme", "gold").await;
    user(&t, "ada@acme.com", "partner", Some("acme")).await;
    let mut browser = signed_in(&t, "ada@acme.com").await;
    let form = browser.get("/portal/referrals/new").await;
    let evil = "<script>alert(1)</script>";
    let created = browser
        .post(
            "/portal/referrals",
            &[
                ("csrf", &form.csrf()),
                ("company.name", evil),
                ("company.domain", "evil-example.com"),
                ("contact.name", "\"><img src=x onerror=alert(1)>"),
                ("contact.email", "jo@evil-example.com"),
                ("consent", "on"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let detail = browser.get(created.location()).await;
    let list = browser.get("/portal/referrals").await;
    let home = browser.get("/portal").await;
    for page in [&form, &detail, &list, &home] {
        assert_eq!(page.headers[CONTENT_TYPE], "text/html; charset=utf-8");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self'; frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert_eq!(page.headers["referrer-policy"], "same-origin");
    }
    for page in [&detail, &list, &home] {
        assert!(!page.body.contains(evil), "raw markup from a partner never reaches a page");
        assert!(!page.body.contains("<img src=x"));
    }
    assert!(detail.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "shown as text");
    assert!(list.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    let css = browser.get("/portal/static/portal.css").await;
    assert_eq!(css.headers[CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(!css.body.contains("url(http"), "no third-party assets");
}

#[tokio::test]
async fn a_referral_form_with_mistakes_comes_back_filled_in_with_the_api_messages() {
    let t = stack().await;
    t.partner("acme", "gold").await;
    let other = t.partner("rival", "gold").await;
    user(&t, "ada@acme.com", "partner", Some("acme")).await;
    let mut browser = signed_in(&t, "ada@acme.com").await;
    let form = browser.get("/portal/referrals/new").await;
    let csrf = form.csrf();
    let nothing = browser.post("/portal/referrals", &[("company.name", "Globex")]).await;
    assert_eq!(nothing.status, StatusCode::FORBIDDEN, "no csrf, nothing stored");

    let wrong = browser
        .post(
            "/portal/referrals",
            &[("csrf", &csrf), ("company.name", "Globex"), ("company.domain", "not a domain"), ("contact.name", "Jo")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("There is a problem"), "a summary at the top");
    assert!(wrong.body.contains("id=\"f-company-domain-error\""), "the error beside its field");
    assert!(wrong.body.contains("id=\"f-contact-email-error\""));
    assert!(wrong.body.contains("id=\"f-consent-error\""));
    assert!(wrong.body.contains("value=\"Globex\""), "filled in again");
    let api_errors = t
        .post(
            "/v1/referrals",
            &other,
            json!({ "company": { "name": "Globex", "domain": "not a domain" }, "contact": { "name": "Jo" } }),
        )
        .await;
    for e in api_errors.body["errors"].as_array().unwrap() {
        let message = e["message"].as_str().unwrap();
        let escaped = message
            .replace('&', "&#38;")
            .replace('<', "&#60;")
            .replace('>', "&#62;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;");
        assert!(wrong.body.contains(&escaped) || wrong.body.contains(message), "API message {message:?} on the page");
    }
    assert_eq!(t.get("/v1/referrals", &other).await.body["items"].as_array().unwrap().len(), 0);

    let fixed = browser
        .post(
            "/portal/referrals",
            &[
                ("csrf", &csrf),
                ("company.name", "Globex"),
                ("company.domain", "globex.com"),
                ("contact.name", "Jo"),
                ("contact.email", "jo@globex.com"),
                ("consent", "on"),
            ],
        )
        .await;
    assert_eq!(fixed.status, StatusCode::SEE_OTHER);
    assert!(fixed.location().starts_with("/portal/referrals/ref_"));
    let list = browser.get("/portal/referrals").await;
    assert!(list.body.contains("Globex"));

    // The rival refers the same company: a 409 page that never names acme.
    let rival_user = user(&t, "rex@rival.com", "partner", Some("rival")).await;
    assert_eq!(rival_user["partner_id"], "rival");
    let mut rex = signed_in(&t, "rex@rival.com").await;
    let rex_csrf = rex.get("/portal/referrals/new").await.csrf();
    let taken = rex
        .post(
            "/portal/referrals",
            &[
                ("csrf", &rex_csrf),
                ("company.name", "Globex"),
                ("company.domain", "www.globex.com"),
                ("contact.name", "Jo"),
                ("contact.email", "jo@globex.com"),
                ("consent", "on"),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(!taken.body.contains("acme") && !taken.body.contains("Partner acme"), "{}", taken.body);
    let id = fixed.location().rsplit('/').next().unwrap();
    assert_eq!(rex.get(&format!("/portal/referrals/{id}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_channel_manager_decides_from_the_queue_with_the_api_rules() {
    let t = stack().await;
    t.certified_partner("acme", "gold").await;
    user(&t, "ada@acme.com", "partner", Some("acme")).await;
    user(&t, "cm@example.com", "channel_manager", None).await;
    let mut ada = signed_in(&t, "ada@acme.com").await;
    let csrf = ada.get("/portal/registrations/new").await.csrf();
    let submitted = ada
        .post(
            "/portal/registrations",
            &[
                ("csrf", &csrf),
                ("customer.name", "Initech"),
                ("customer.domain", "initech.com"),
                ("motion", "resell"),
                ("estimated_value.amount", "12000.00"),
                ("estimated_value.currency", "USD"),
                ("products", "Core, Analytics"),
                ("expected_close_date", "2027-03-31"),
            ],
        )
        .await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER, "{}", submitted.body);
    let path = submitted.location().to_owned();
    let id = path.rsplit('/').next().unwrap().to_owned();

    let mut cm = signed_in(&t, "cm@example.com").await;
    let queue = cm.get("/portal/registrations?status=pending").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains(&id), "listed in the queue");
    assert!(queue.body.contains("48 h 0 min left"), "{}", queue.body);
    let detail = cm.get(&path).await;
    assert!(detail.body.contains("Approve registration") && detail.body.contains("Reject registration"));
    let blank = cm
        .post(&format!("{path}/decision"), &[("csrf", &detail.csrf()), ("decision", "reject"), ("reason", " ")])
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank.body.contains("id=\"reject-f-reason-error\""), "{}", blank.body);
    let approved = cm
        .post(
            &format!("{path}/decision"),
            &[("csrf", &detail.csrf()), ("decision", "approve"), ("protection_days", "30")],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let api = t.get(&format!("/v1/deal-registrations/{id}"), &t.admin()).await;
    assert_eq!(api.body["status"], "approved");
    assert_eq!(api.body["protected_until"], "2026-12-22T10:00:00.000Z");
    assert!(api.body["decided_by"].as_str().unwrap().starts_with("usr_"));
    let twice = cm
        .post(&format!("{path}/decision"), &[("csrf", &detail.csrf()), ("decision", "reject"), ("reason", "late")])
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "already decided, as the API says");
    assert_eq!(
        ada.post(&format!("{path}/decision"), &[("csrf", &csrf), ("decision", "approve")]).await.status,
        StatusCode::FORBIDDEN
    );
    let board = cm.get("/portal/slas").await;
    assert_eq!(board.status, StatusCode::OK);
    assert_eq!(ada.get("/portal/slas").await.status, StatusCode::FORBIDDEN);
    assert_eq!(cm.get("/portal/exports").await.status, StatusCode::FORBIDDEN, "exports are finance's");
}

#[tokio::test]
async fn a_partner_withdraws_its_own_registration_and_never_sees_another() {
    let t = stack().await;
    let acme = t.certified_partner("acme", "gold").await;
    let rival = t.certified_partner("rival", "gold").await;
    user(&t, "ada@acme.com", "partner", Some("acme")).await;
    let mine = t.post("/v1/deal-registrations", &acme, partnerops_e2e::registration("initech.com", "100.00")).await;
    let theirs = t.post("/v1/deal-registrations", &rival, partnerops_e2e::registration("hooli.com", "100.00")).await;
    let mut ada = signed_in(&t, "ada@acme.com").await;
    let theirs_path = format!("/portal/registrations/{}", theirs.body["id"].as_str().unwrap());
    assert_eq!(ada.get(&theirs_path).await.status, StatusCode::NOT_FOUND);
    let mine_path = format!("/portal/registrations/{}", mine.body["id"].as_str().unwrap());
    let page = ada.get(&mine_path).await;
    assert!(page.body.contains("Withdraw this registration"));
    let withdrawn = ada.post(&format!("{mine_path}/withdraw"), &[("csrf", &page.csrf())]).await;
    assert_eq!(withdrawn.status, StatusCode::SEE_OTHER);
    let after = ada.get(&mine_path).await;
    assert!(after.body.contains("withdrawn"));
    let list = ada.get("/portal/registrations").await;
    assert!(list.body.contains(mine.body["id"].as_str().unwrap()) || list.body.contains("Globex"));
    assert!(!list.body.contains(theirs.body["id"].as_str().unwrap()));
}

#[tokio::test]
async fn finance_sees_exports_and_a_partner_its_earnings() {
    let t = stack().await;
    let acme = t.partner("acme", "gold").await;
    let crm_key = t.key("crm", None).await;
    let referral = t.post("/v1/referrals", &acme, partnerops_e2e::referral("globex.com")).await;
    let referral_id = referral.body["id"].as_str().unwrap();
    let event = |id: &str, kind: &str, extra: Value| {
        let mut body = json!({ "event_id": id, "type": kind, "occurred_at": NOW, "opportunity_id": "006-GLOBEX" });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let created = event(
        "e-1",
        "opportunity.created",
        json!({ "referral_id": referral_id, "name": "Globex", "owner_email": "owner@example.com",
                "amount": { "amount": "1000.00", "currency": "USD" } }),
    );
    assert_eq!(t.post("/v1/crm/events", &crm_key, created).await.status, StatusCode::OK);
    let won = event(
        "e-2",
        "opportunity.closed",
        json!({ "outcome": "won", "amount": { "amount": "1000.00", "currency": "USD" }, "closed_at": NOW }),
    );
    assert_eq!(t.post("/v1/crm/events", &crm_key, won).await.status, StatusCode::OK);
    t.tick().await;
    user(&t, "ada@acme.com", "partner", Some("acme")).await;
    user(&t, "fin@example.com", "finance", None).await;
    let mut fin = signed_in(&t, "fin@example.com").await;
    let exports = fin.get("/portal/exports").await;
    assert_eq!(exports.status, StatusCode::OK);
    assert!(exports.body.contains("No exports yet."));
    let mut ada = signed_in(&t, "ada@acme.com").await;
    let earnings = ada.get("/portal/earnings").await;
    assert_eq!(earnings.status, StatusCode::OK);
    // 1,000.00 × 10 % × gold's 1.1 = 110.00, earned this month, not exported yet.
    assert!(earnings.body.contains("2026-11 · USD"), "{}", earnings.body);
    assert!(earnings.body.contains("110.00 USD") && earnings.body.contains("not yet"));
    let home = ada.get("/portal").await;
    assert!(home.body.contains("110.00 USD"), "this month's earnings on the home page");
    let csv = ada.get("/portal/earnings.csv").await;
    assert_eq!(csv.headers[CONTENT_TYPE], "text/csv; charset=utf-8");
    let rows: Vec<&str> = csv.body.lines().collect();
    assert_eq!(rows[0], "earned_at,month,opportunity_id,line_id,kind,motion,role,currency,amount,exported_in");
    assert_eq!(rows.len(), 2, "{}", csv.body);
    assert!(
        rows[1].contains(",2026-11,006-GLOBEX,pay_") && rows[1].ends_with(",earned,referral,sourced,USD,110.00,"),
        "{}",
        rows[1]
    );
    assert_eq!(fin.get("/portal/earnings").await.status, StatusCode::FORBIDDEN);

    // The month ends and finance exports it: the page lists it with its files.
    t.set_clock("2026-12-01T01:00:00Z").await;
    let finance_key = t.key("finance", None).await;
    let started = t.post("/v1/payouts/exports", &finance_key, json!({ "period": "2026-11" })).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    t.tick().await;
    assert_eq!(fin.get("/portal/exports").await.location(), "/portal/sign-in", "12 hours on, the session is over");
    let mut fin = signed_in(&t, "fin@example.com").await;
    let mut ada = signed_in(&t, "ada@acme.com").await;
    let listed = fin.get("/portal/exports").await;
    assert!(listed.body.contains("2026-11") && listed.body.contains(">done<"), "{}", listed.body);
    assert!(listed.body.contains("110.00 USD"));
    // A file is a redirect to the bucket, signed for five minutes: the
    // download never passes through a Lambda response (6 MB at most).
    let bucket = t.stack.provisioned.reference("ExportsBucket").unwrap();
    for (file, expected) in [("lines.csv", "110.00"), ("summary.csv", "paid")] {
        let link = fin.get(&format!("/portal/exports/2026-11/{file}")).await;
        assert_eq!(link.status, StatusCode::SEE_OTHER, "{file}");
        let url = link.location();
        assert!(url.starts_with(&format!("{}/{bucket}/exports/payouts/2026-11/{file}?", t.stack.endpoint)), "{url}");
        assert!(url.contains("X-Amz-Expires=300") && url.contains("X-Amz-Signature="), "{url}");
        let downloaded = reqwest::get(url).await.unwrap();
        assert_eq!(downloaded.status(), StatusCode::OK, "{url}");
        assert_eq!(downloaded.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
        assert_eq!(
            downloaded.headers()["content-disposition"],
            format!("attachment; filename=\"payouts-2026-11-{file}\"").as_str()
        );
        let body = downloaded.text().await.unwrap();
        assert!(body.contains("acme") && body.contains(expected), "{file}: {body}");
    }
    assert_eq!(fin.get("/portal/exports/2026-10/lines.csv").await.status, StatusCode::NOT_FOUND);
    assert_eq!(fin.get("/portal/exports/2026-11/other.csv").await.status, StatusCode::NOT_FOUND);
    assert_eq!(ada.get("/portal/exports/2026-11/lines.csv").await.status, StatusCode::FORBIDDEN);
    let exported = ada.get("/portal/earnings").await;
    assert!(exported.body.contains("in 2026-11"), "the line now shows its export");
}
