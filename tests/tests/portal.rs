//! End-to-end: the portal through the dev stack (SPEC §15, §16): users,
//! one-time sign-in links, sessions, CSRF, the partner and staff pages, and
//! the hosted referral form, as a browser without JavaScript uses them.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_e2e::TestStack;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NOW: &str = "2026-11-22T10:00:00Z";

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

/// A browser: no redirects followed, one session cookie.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(t: &TestStack) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, base: t.stack.url.clone(), cookie: None }
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Page {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let mut request = self.http.request(method, url);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie.clone());
        }
        if let Some(form) = form {
            let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form.iter()).finish();
            request = request.header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(set) = headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap().to_owned();
            self.cookie = if pair.ends_with('=') { None } else { Some(pair) };
        }
        Page { status, headers, body: response.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, Some(form)).await
    }
}

async fn user(t: &TestStack, email: &str, role: &str, partner: Option<&str>) -> Value {
    let mut body = json!({ "email": email, "name": format!("User {email}"), "role": role });
    if let Some(p) = partner {
        body["partner_id"] = json!(p);
    }
    let created = t.post("/v1/admin/users", &t.admin(), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body
}

async fn outbox_to(t: &TestStack, address: &str) -> Vec<Value> {
    let sent = t.send(Method::GET, "/_dev/outbox", None, None).await.body;
    sent.as_array().unwrap().iter().filter(|n| n["to"] == address).cloned().collect()
}

fn link_in(notification: &Value) -> String {
    let text = notification["text"].as_str().unwrap();
    text.split_whitespace().find(|w| w.contains("/portal/auth/")).unwrap().to_owned()
}

/// Asks for a link and returns it, checking that an email carried it.
async fn request_link(t: &TestStack, browser: &mut Browser, email: &str) -> String {
    let before = outbox_to(t, email).await.len();
    let page = browser.post("/portal/sign-in", &[("email", email)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let sent = outbox_to(t, email).await;
    assert_eq!(sent.len(), before + 1, "one email for {email}");
    link_in(sent.last().unwrap())
}

async fn signed_in(t: &TestStack, email: &str) -> Browser {
    let mut browser = Browser::new(t);
    let link = request_link(t, &mut browser, email).await;
    let landed = browser.get(&link).await;
    assert_eq!(landed.status, StatusCode::SEE_OTHER);
    assert_eq!(landed.location(), "/portal");
    assert!(browser.cookie.is_some());
    browser
}

async fn stack() -> TestStack {
    let t = TestStack::start().await;
    t.set_clock(NOW).await;
    t
}

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
