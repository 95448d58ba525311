//! End-to-end: authentication, roles, admin routes and the HTTP conventions
//! of SPEC §3, §4 and §11 through the dev stack.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_e2e::{TestStack, referral};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn keys_authenticate_authorise_and_revoke() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;

    let missing = t.send(Method::GET, "/v1/referrals", None, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.code(), "unauthenticated");
    assert_eq!(missing.headers["content-type"], "application/problem+json");
    // RFC 9110 §11.6.1: a 401 challenges; RFC 6750 §3: with an error code
    // only when a key was presented.
    assert_eq!(missing.headers["www-authenticate"], "Bearer realm=\"partnerops\"");
    let unknown = t.get("/v1/referrals", "pok_not-a-real-key").await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    assert_eq!(unknown.headers["www-authenticate"], "Bearer realm=\"partnerops\", error=\"invalid_token\"");

    let forbidden = t.post("/v1/admin/partners", &alpha, json!({"id": "x1", "name": "X", "tier": "gold"})).await;
    assert_eq!((forbidden.status, forbidden.code()), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(forbidden.body["required_roles"], json!(["admin"]), "a 403 names the roles the route needs");
    assert!(forbidden.headers.get("www-authenticate").is_none(), "only a 401 challenges");

    let created =
        t.post("/v1/admin/keys", &t.admin(), json!({"role": "partner", "partner_id": "alpha", "label": "ci"})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let key_id = created.body["key_id"].as_str().unwrap().to_owned();
    assert!(key_id.starts_with("key_"));
    assert!(key.len() >= 40, "at least 128 bits of secret");
    assert_eq!(t.get("/v1/referrals", &key).await.status, StatusCode::OK);

    let revoked = t.send(Method::DELETE, &format!("/v1/admin/keys/{key_id}"), Some(&t.admin()), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let revoked = t.get("/v1/referrals", &key).await;
    assert_eq!(revoked.code(), "unauthenticated");
    assert_eq!(revoked.headers["www-authenticate"], "Bearer realm=\"partnerops\", error=\"invalid_token\"");
    let again = t.send(Method::DELETE, "/v1/admin/keys/key_01kaqz8m2r0000000000000000", Some(&t.admin()), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    let bad = t.post("/v1/admin/keys", &t.admin(), json!({"role": "root", "partner_id": "nobody"})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["role", "partner_id"]);
    let orphan = t.post("/v1/admin/keys", &t.admin(), json!({"role": "partner", "partner_id": "nobody"})).await;
    assert_eq!(orphan.error_fields(), ["partner_id"]);
}

#[tokio::test]
async fn suspended_partners_are_refused() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;
    let patched = t
        .send(
            Method::PATCH,
            "/v1/admin/partners/alpha",
            Some(&t.admin()),
            Some(json!({"status": "suspended", "tier": "platinum"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["status"], "suspended");
    assert_eq!(patched.body["tier"], "platinum");
    let refused = t.post("/v1/referrals", &alpha, referral("acme.com")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "partner_suspended");
    t.send(Method::PATCH, "/v1/admin/partners/alpha", Some(&t.admin()), Some(json!({"status": "active"}))).await;
    assert_eq!(t.post("/v1/referrals", &alpha, referral("acme.com")).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn admin_routes_validate_and_conflict() {
    let t = TestStack::start().await;
    let admin = t.admin();
    let body = json!({
        "id": "acme-consulting", "name": "Acme Consulting", "tier": "gold", "motions": ["referral", "co_sell"],
        "manager": {"name": "Pat Lee", "email": "pat@example.com", "slack_user_id": "U024BE7LH"},
        "contact_email": "partners@acme-consulting.com"
    });
    let created = t.post("/v1/admin/partners", &admin, body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["status"], "active");
    assert_eq!(t.post("/v1/admin/partners", &admin, body).await.code(), "partner_exists");
    let bad = t.post("/v1/admin/partners", &admin, json!({"id": "A!", "name": "", "tier": "diamond"})).await;
    assert_eq!(bad.error_fields(), ["id", "name", "tier"]);
    assert_eq!(t.get("/v1/admin/partners/acme-consulting", &admin).await.body["manager"]["name"], "Pat Lee");
    assert_eq!(t.get("/v1/admin/partners/nobody", &admin).await.status, StatusCode::NOT_FOUND);

    let cert = t
        .post(
            "/v1/admin/partners/acme-consulting/certifications",
            &admin,
            json!({"name": "deal_registration", "expires_at": "2027-12-31T00:00:00Z"}),
        )
        .await;
    assert_eq!(cert.status, StatusCode::CREATED, "{:?}", cert.body);
    assert!(cert.body["id"].as_str().unwrap().starts_with("cert_"));
    let no_partner = t
        .post(
            "/v1/admin/partners/nobody/certifications",
            &admin,
            json!({"name": "x", "expires_at": "2027-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(no_partner.status, StatusCode::NOT_FOUND);

    let too_many: Vec<String> = (0..1001).map(|i| format!("c{i}.com")).collect();
    assert_eq!(t.post("/v1/admin/customers", &admin, json!({ "domains": too_many })).await.error_fields(), ["domains"]);
    let marked = t
        .post(
            "/v1/admin/customers",
            &admin,
            json!({ "domains": ["https://www.Initech.com/", "initech.com", "a.b.co.uk"] }),
        )
        .await;
    assert_eq!(marked.body["marked"], 2);
    assert_eq!(marked.body["prospect_keys"], json!(["initech.com", "b.co.uk"]));
}

#[tokio::test]
async fn bodies_are_checked_before_and_after_parsing() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;
    let url = format!("{}/v1/referrals", t.stack.url);

    let huge = format!("{{\"notes\": \"{}\"}}", "x".repeat(70 * 1024));
    let too_large = t
        .http
        .post(&url)
        .bearer_auth(&alpha)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let problem: serde_json::Value = too_large.json().await.unwrap();
    assert_eq!(problem["code"], "payload_too_large");

    let text =
        t.http.post(&url).bearer_auth(&alpha).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let broken = t
        .http
        .post(&url)
        .bearer_auth(&alpha)
        .header("content-type", "application/json")
        .body("{\"company\":")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(broken.json::<serde_json::Value>().await.unwrap()["code"], "malformed_json");

    let mut typo = referral("acme.com");
    typo["company"]["compnay"] = json!("Acme");
    typo["status"] = json!("won");
    typo["partner_id"] = json!("beta");
    let unknown = t.post("/v1/referrals", &alpha, typo).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = unknown.error_fields();
    fields.sort();
    assert_eq!(fields, ["company.compnay", "partner_id", "status"]);

    let invalid = t
        .post(
            "/v1/referrals",
            &alpha,
            json!({
                "company": {"name": " ", "domain": "gmail.com"},
                "contact": {"name": "Jane", "email": "not-an-email"},
                "motion": "resell", "consent": false
            }),
        )
        .await;
    assert_eq!(invalid.code(), "validation_failed");
    assert_eq!(invalid.error_fields(), ["company.name", "company.domain", "contact.email", "motion", "consent"]);
    let list = t.get("/v1/referrals", &alpha).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0, "a rejected body stores nothing");
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_response() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;
    let url = format!("{}/v1/referrals", t.stack.url);
    let send = |key: &'static str, body: serde_json::Value| {
        t.http.post(&url).bearer_auth(&alpha).header("idempotency-key", key).json(&body).send()
    };
    let first = send("retry-1", referral("acme.com")).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers()["location"].clone();
    let first_body = first.text().await.unwrap();
    let replay = send("retry-1", referral("acme.com")).await.unwrap();
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["location"], location);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.text().await.unwrap(), first_body);

    let reused = send("retry-1", referral("globex.com")).await.unwrap();
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.json::<serde_json::Value>().await.unwrap()["code"], "idempotency_key_reused");

    let long = "k".repeat(256);
    let too_long = t
        .http
        .post(&url)
        .bearer_auth(&alpha)
        .header("idempotency-key", long)
        .json(&referral("x.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let list = t.get("/v1/referrals", &alpha).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "the replay created nothing");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let t = TestStack::start().await;
    let missing = t.get("/v1/nothing-here", &t.admin()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
    let wrong = t.send(Method::PUT, "/v1/referrals", Some(&t.admin()), None).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.headers["allow"], "POST, GET", "RFC 9110: a 405 names the methods the path has");
    assert_eq!(t.send(Method::GET, "/_dev/health", None, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_route_checks_the_role_before_it_reads_the_body() {
    use partnerops_domain::auth::Role;
    let t = TestStack::start().await;
    t.partner("alpha", "gold").await;
    let mut keys = Vec::new();
    for role in [Role::Partner, Role::ChannelManager, Role::Crm, Role::Finance, Role::Admin] {
        let key = if role == Role::Admin {
            t.admin()
        } else {
            t.key(role.as_str(), (role == Role::Partner).then_some("alpha")).await
        };
        keys.push((role, key));
    }
    let mut checked = 0;
    for (function, routes) in partnerops_devstack::api_route_specs() {
        for route in routes {
            let path = route.path.replace("{id}", "x").replace("{key_id}", "x").replace("{period}", "2026-10");
            for (role, key) in keys.iter().filter(|(role, _)| !route.roles.contains(role)) {
                // Not JSON, not even the right media type: only the role can be answered.
                let reply = t
                    .http
                    .request(route.method.clone(), format!("{}{path}", t.stack.url))
                    .bearer_auth(key)
                    .header("content-type", "text/plain")
                    .body("{\"compnay\": ")
                    .send()
                    .await
                    .unwrap();
                let status = reply.status();
                let body: serde_json::Value = reply.json().await.unwrap_or_default();
                assert_eq!(
                    (status, body["code"].as_str()),
                    (StatusCode::FORBIDDEN, Some("forbidden")),
                    "{function} {} {} as {role}",
                    route.method,
                    route.path
                );
                let named: Vec<&str> = route.roles.iter().map(|r| r.as_str()).collect();
                assert_eq!(body["required_roles"], json!(named), "{function} {} {}", route.method, route.path);
                checked += 1;
            }
        }
    }
    assert!(checked >= 60, "every route has roles it refuses: {checked} checked");
}

async fn raw_referral(t: &TestStack, key: &str, body: &str) -> (StatusCode, serde_json::Value) {
    let reply = t
        .http
        .post(format!("{}/v1/referrals", t.stack.url))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = reply.status();
    (status, reply.json().await.unwrap_or_default())
}

#[tokio::test]
async fn invisible_text_repeated_keys_and_hidden_hosts_are_refused() {
    let t = TestStack::start().await;
    let alpha = t.partner("alpha", "gold").await;
    for name in ["\u{200b}", "\u{202e}", " \u{200d}\u{feff} "] {
        let mut body = referral("invisible.com");
        body["company"]["name"] = json!(name);
        let reply = t.post("/v1/referrals", &alpha, body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert_eq!(reply.error_fields(), ["company.name"], "{name:?}");
    }
    for domain in ["x.com%2F@evil.com", "https://user:pw@acme.com", "acme.com:99999", "ftp://acme.com"] {
        let reply = t.post("/v1/referrals", &alpha, referral(domain)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{domain}");
        assert_eq!(reply.error_fields(), ["company.domain"], "{domain}");
    }
    let valid = referral("twice.com").to_string();
    let twice = valid.replacen("\"consent\":true", "\"consent\":true,\"consent\":false", 1);
    assert_ne!(twice, valid);
    let (status, body) = raw_referral(&t, &alpha, &twice).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));
    let nested = valid.replacen("\"name\":\"Acme Corp\"", "\"name\":\"Acme Corp\",\"name\":\"Evil\"", 1);
    assert_ne!(nested, valid);
    assert_eq!(raw_referral(&t, &alpha, &nested).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(raw_referral(&t, &alpha, &valid).await.0, StatusCode::CREATED, "nothing was stored before");
}

#[tokio::test]
async fn instants_that_cannot_be_stored_are_refused_and_oversized_ids_are_not_found() {
    let t = TestStack::start().await;
    t.partner("alpha", "gold").await;
    for expires_at in ["9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00+01:00"] {
        let reply = t
            .post(
                "/v1/admin/partners/alpha/certifications",
                &t.admin(),
                json!({ "name": "deal_registration", "expires_at": expires_at }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{expires_at}: {:?}", reply.body);
        assert_eq!(reply.error_fields(), ["expires_at"]);
    }
    // The partner is still readable: nothing unreadable was stored.
    assert_eq!(t.get("/v1/admin/partners/alpha", &t.admin()).await.status, StatusCode::OK);
    let long = "o".repeat(3000);
    let reply = t.get(&format!("/v1/opportunities/{long}"), &t.admin()).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::NOT_FOUND, "not_found"));
}
