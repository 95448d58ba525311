//! End-to-end: partner webhooks (SPEC §18) through the dev stack, delivered
//! to a local receiver (tests/webhooks/receiver.py) that verifies every
//! delivery with the official `standardwebhooks` package, with the stack's
//! clock as its own: a good signature, a tampered body, a stale timestamp,
//! and both secrets during a rotation.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_devstack::moto::venv;
use partnerops_e2e::{TestStack, registration, repo_file};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

const NOW: &str = "2026-12-01T10:00:00Z";

struct Receiver {
    url: String,
    http: reqwest::Client,
    _child: tokio::process::Child,
}

impl Receiver {
    async fn start(t: &TestStack) -> Self {
        let mut child = tokio::process::Command::new(venv().join("bin/python"))
            .arg(repo_file("tests/webhooks/receiver.py"))
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines.next_line().await.unwrap().expect("the receiver prints its port");
        let receiver = Self { url: format!("http://127.0.0.1:{port}"), http: reqwest::Client::new(), _child: child };
        receiver.control(json!({ "clock_url": format!("{}/_dev/clock", t.stack.url) })).await;
        receiver
    }

    async fn control(&self, settings: Value) {
        let r = self.http.post(format!("{}/_control", self.url)).json(&settings).send().await.unwrap();
        assert!(r.status().is_success());
    }

    async fn deliveries(&self, path: &str) -> Vec<Value> {
        let all: Vec<Value> =
            self.http.get(format!("{}/_deliveries", self.url)).send().await.unwrap().json().await.unwrap();
        all.into_iter().filter(|d| d["path"] == path).collect()
    }
}

async fn endpoint(t: &TestStack, key: &str, url: &str, events: Value) -> Value {
    let created = t.post("/v1/webhooks/endpoints", key, json!({ "url": url, "events": events })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body
}

async fn advance(t: &TestStack, by: &str) -> Value {
    let moved = t.send(Method::POST, "/_dev/clock", None, Some(json!({ "advance": by }))).await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    t.tick().await
}

async fn deliveries_log(t: &TestStack, key: &str, endpoint: &str) -> Vec<Value> {
    let log = t.get(&format!("/v1/webhooks/endpoints/{endpoint}/deliveries"), key).await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    log.body["items"].as_array().unwrap().clone()
}

fn assert_verified_by_the_library(d: &Value, secret: &str) {
    assert_eq!(d["verified"][secret], true, "standardwebhooks rejected a delivery: {d}");
    assert_eq!(d["tampered"][secret], "No matching signature found", "{d}");
    assert_eq!(d["stale"][secret], "Message timestamp too old", "{d}");
    assert_eq!(d["headers"]["content-type"], "application/json");
    assert!(d["headers"]["webhook-id"].as_str().unwrap().starts_with("msg_"));
}

#[tokio::test]
async fn a_decided_registration_reaches_its_partner_only_signed_as_the_spec_says() {
    let t = TestStack::start().await;
    t.set_clock(NOW).await;
    let receiver = Receiver::start(&t).await;
    let acme = t.certified_partner("acme", "gold").await;
    let globex = t.partner("globex", "silver").await;
    let manager = t.key("channel_manager", None).await;

    let mine = endpoint(
        &t,
        &acme,
        &format!("{}/acme", receiver.url),
        json!(["registration.submitted", "registration.decided"]),
    )
    .await;
    let secret = mine["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() >= 6 + 32, "{secret}");
    assert_eq!(mine["status"], "enabled");
    let id = mine["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("whe_"));
    let theirs = endpoint(&t, &globex, &format!("{}/globex", receiver.url), json!(["*"])).await;
    receiver.control(json!({ "secrets": { "acme": secret, "globex": theirs["secret"] } })).await;

    // The secret is shown once; another partner's endpoint does not exist.
    let shown = t.get(&format!("/v1/webhooks/endpoints/{id}"), &acme).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.get("secret").is_none());
    assert_eq!(t.get(&format!("/v1/webhooks/endpoints/{id}"), &globex).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&format!("/v1/webhooks/endpoints/{id}/deliveries"), &globex).await.status, StatusCode::NOT_FOUND);
    let delete = t.send(Method::DELETE, &format!("/v1/webhooks/endpoints/{id}"), Some(&globex), None).await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);
    let listed = t.get("/v1/webhooks/endpoints", &globex).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(t.get("/v1/webhooks/endpoints", &manager).await.status, StatusCode::FORBIDDEN);
    let admin_view = t.get("/v1/webhooks/endpoints?partner_id=acme", &t.admin()).await;
    assert_eq!(admin_view.body["items"][0]["id"], id.as_str());

    // Addresses inside the network are refused at registration; the dev
    // stack's local receiver is http to 127.0.0.1 or localhost as written,
    // never another loopback form.
    for url in [
        "https://[::ffff:127.0.0.1]/x",
        "https://127.0.0.1:8443/x",
        "http://[::1]:9000/x",
        "http://127.0.0.2:9000/x",
        "http://2130706433:9000/x",
        "https://localhost:8443/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hook",
        "https://[fd00::1]/hook",
        "https://100.64.1.1/hook",
        "http://hooks.example.com/hook",
        "http://127.0.0.1/no-port",
        "https://user:secret@hooks.example.com/hook",
        "https://no-such-host.invalid/hook",
    ] {
        let refused = t.post("/v1/webhooks/endpoints", &acme, json!({ "url": url, "events": ["*"] })).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {:?}", refused.body);
        assert_eq!(refused.code(), "webhook_url_not_allowed", "{url}");
    }

    let submitted = t.post("/v1/deal-registrations", &acme, registration("globex-customer.com", "12000.00")).await;
    assert_eq!(submitted.status, StatusCode::CREATED, "{:?}", submitted.body);
    let registration_id = submitted.body["id"].as_str().unwrap().to_owned();
    // A minute apart: the log orders messages by when their events happened.
    advance(&t, "1m").await;
    let decision = format!("/v1/deal-registrations/{registration_id}/decision");
    let approved = t.post(&decision, &manager, json!({ "decision": "approve" })).await;
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    t.tick().await;
    t.tick().await;

    let received = receiver.deliveries("/acme").await;
    let types: Vec<&str> = received
        .iter()
        .map(|d| serde_json::from_str::<Value>(d["body"].as_str().unwrap()).unwrap()["type"].clone())
        .map(|v| match v.as_str() {
            Some("registration.submitted") => "registration.submitted",
            Some("registration.decided") => "registration.decided",
            _ => "other",
        })
        .collect();
    assert_eq!(types, vec!["registration.submitted", "registration.decided"], "{received:?}");
    for d in &received {
        assert_verified_by_the_library(d, "acme");
        assert_ne!(d["verified"]["globex"], true, "signed with the endpoint's own secret only");
        assert!(!d["body"].as_str().unwrap().contains("globex\""), "{d}");
    }
    let decided: Value = serde_json::from_str(received[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(decided["data"]["registration_id"], registration_id.as_str());
    assert_eq!(decided["data"]["status"], "approved");
    assert_eq!(decided["timestamp"].as_str().unwrap().len(), 24);
    // Another partner hears nothing of acme's registration.
    assert!(receiver.deliveries("/globex").await.is_empty());

    let log = deliveries_log(&t, &acme, &id).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["type"], "registration.decided", "newest first");
    for entry in &log {
        assert_eq!(
            (entry["state"].as_str(), entry["attempts"].as_u64(), entry["last_status"].as_u64()),
            (Some("succeeded"), Some(1), Some(200))
        );
        assert_eq!(entry["next_attempt_at"], Value::Null);
    }
}

#[tokio::test]
async fn failures_are_retried_on_the_schedule_and_410_disables() {
    let t = TestStack::start().await;
    t.set_clock(NOW).await;
    let receiver = Receiver::start(&t).await;
    let acme = t.certified_partner("acme", "gold").await;
    let flaky = endpoint(&t, &acme, &format!("{}/flaky", receiver.url), json!(["registration.submitted"])).await;
    let id = flaky["id"].as_str().unwrap().to_owned();
    receiver.control(json!({ "secrets": { "flaky": flaky["secret"] }, "answers": { "/flaky": [500, 500] } })).await;

    let submitted = t.post("/v1/deal-registrations", &acme, registration("retry-customer.com", "5000.00")).await;
    assert_eq!(submitted.status, StatusCode::CREATED, "{:?}", submitted.body);
    t.tick().await;
    let log = deliveries_log(&t, &acme, &id).await;
    assert_eq!(log[0]["state"], "pending");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["last_status"], 500);
    assert_eq!(log[0]["next_attempt_at"], "2026-12-01T10:00:05.000Z");

    advance(&t, "4s").await;
    assert_eq!(receiver.deliveries("/flaky").await.len(), 1, "not due yet");
    advance(&t, "1s").await;
    let log = deliveries_log(&t, &acme, &id).await;
    assert_eq!(
        (log[0]["attempts"].as_u64(), log[0]["next_attempt_at"].as_str()),
        (Some(2), Some("2026-12-01T10:05:05.000Z"))
    );
    advance(&t, "5m").await;
    advance(&t, "1day").await;

    let received = receiver.deliveries("/flaky").await;
    let times: Vec<&str> = received.iter().map(|d| d["headers"]["webhook-timestamp"].as_str().unwrap()).collect();
    let t0 = 1_796_119_200; // 2026-12-01T10:00:00Z
    assert_eq!(times, vec![t0.to_string(), (t0 + 5).to_string(), (t0 + 305).to_string()]);
    let ids: std::collections::BTreeSet<&str> =
        received.iter().map(|d| d["headers"]["webhook-id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "every attempt of a message carries its id");
    assert_eq!(received.iter().map(|d| d["answered"].as_u64().unwrap()).collect::<Vec<_>>(), vec![500, 500, 200]);
    received.iter().for_each(|d| assert_verified_by_the_library(d, "flaky"));
    let log = deliveries_log(&t, &acme, &id).await;
    assert_eq!((log[0]["state"].as_str(), log[0]["attempts"].as_u64()), (Some("succeeded"), Some(3)));
    let message = log[0]["message_id"].as_str().unwrap();
    let again = t.post(&format!("/v1/webhooks/endpoints/{id}/deliveries/{message}/retry"), &acme, json!({})).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "already_delivered"));

    // 410 disables the endpoint at once; nothing more is sent to it.
    let gone = endpoint(&t, &acme, &format!("{}/gone", receiver.url), json!(["registration.submitted"])).await;
    let gone_id = gone["id"].as_str().unwrap();
    receiver.control(json!({ "answers": { "/gone": [410] } })).await;
    let tested = t.post(&format!("/v1/webhooks/endpoints/{gone_id}/test"), &acme, json!({})).await;
    assert_eq!(tested.status, StatusCode::OK, "{:?}", tested.body);
    assert_eq!((tested.body["state"].as_str(), tested.body["last_status"].as_u64()), (Some("failed"), Some(410)));
    let shown = t.get(&format!("/v1/webhooks/endpoints/{gone_id}"), &acme).await;
    assert_eq!(shown.body["status"], "disabled");
    let submitted = t.post("/v1/deal-registrations", &acme, registration("after-gone.com", "5000.00")).await;
    assert_eq!(submitted.status, StatusCode::CREATED);
    t.tick().await;
    assert_eq!(receiver.deliveries("/gone").await.len(), 1);
    assert_eq!(receiver.deliveries("/flaky").await.len(), 4, "the healthy endpoint still receives");

    // A redirect is a failed attempt, never followed.
    let moved = endpoint(&t, &acme, &format!("{}/moved", receiver.url), json!(["registration.submitted"])).await;
    receiver.control(json!({ "answers": { "/moved": [307] } })).await;
    let tested =
        t.post(&format!("/v1/webhooks/endpoints/{}/test", moved["id"].as_str().unwrap()), &acme, json!({})).await;
    assert_eq!((tested.body["state"].as_str(), tested.body["last_status"].as_u64()), (Some("pending"), Some(307)));
    assert!(receiver.deliveries("/moved/followed").await.is_empty(), "the redirect was followed");
}

#[tokio::test]
async fn a_rotation_signs_with_both_secrets_for_a_day_and_a_slow_receiver_holds_up_no_one() {
    let t = TestStack::start().await;
    t.set_clock(NOW).await;
    let receiver = Receiver::start(&t).await;
    let acme = t.partner("acme", "gold").await;
    let created = endpoint(&t, &acme, &format!("{}/rotating", receiver.url), json!(["*"])).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let rotated = t.post(&format!("/v1/webhooks/endpoints/{id}/rotate-secret"), &acme, json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert_ne!(rotated.body["secret"], created["secret"]);
    assert_eq!(rotated.body["previous_secret_expires_at"], "2026-12-02T10:00:00.000Z");
    receiver.control(json!({ "secrets": { "old": created["secret"], "new": rotated.body["secret"] } })).await;

    let test = format!("/v1/webhooks/endpoints/{id}/test");
    assert_eq!(t.post(&test, &acme, json!({})).await.body["state"], "succeeded");
    advance(&t, "24h").await;
    assert_eq!(t.post(&test, &acme, json!({})).await.body["state"], "succeeded");
    let received = receiver.deliveries("/rotating").await;
    assert_eq!(received.len(), 2);
    assert_verified_by_the_library(&received[0], "old");
    assert_verified_by_the_library(&received[0], "new");
    assert_eq!(received[0]["headers"]["webhook-signature"].as_str().unwrap().split(' ').count(), 2);
    assert_verified_by_the_library(&received[1], "new");
    assert_eq!(received[1]["verified"]["old"], "No matching signature found", "the old secret stops after 24 h");
    let body: Value = serde_json::from_str(received[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["type"], "webhook.test");
    assert!(t.get(&format!("/v1/webhooks/endpoints/{id}"), &acme).await.body["previous_secret_expires_at"].is_null());

    // Two endpoints of one partner: the slow one (created first, so tried
    // first) is still answering when the other has its delivery.
    let slow = endpoint(&t, &acme, &format!("{}/slow", receiver.url), json!(["referral.received"])).await;
    let fast = endpoint(&t, &acme, &format!("{}/fast", receiver.url), json!(["referral.received"])).await;
    receiver
        .control(json!({ "slow": { "/slow": 3 }, "secrets": { "slow": slow["secret"], "fast": fast["secret"] } }))
        .await;
    let referral = t.post("/v1/referrals", &acme, partnerops_e2e::referral("slowpoke.com")).await;
    assert_eq!(referral.status, StatusCode::CREATED, "{:?}", referral.body);
    t.tick().await;
    let (slow, fast) = (&receiver.deliveries("/slow").await[0], &receiver.deliveries("/fast").await[0]);
    assert!(fast["seq"].as_u64() < slow["done"].as_u64(), "the fast endpoint waited for the slow one: {slow} {fast}");
    assert_verified_by_the_library(fast, "fast");
}

#[tokio::test]
async fn five_days_of_failures_disable_the_endpoint_and_email_the_partner() {
    let t = TestStack::start().await;
    t.set_clock(NOW).await;
    let receiver = Receiver::start(&t).await;
    let created = t
        .post(
            "/v1/admin/partners",
            &t.admin(),
            json!({ "id": "acme", "name": "Acme", "tier": "gold", "contact_email": "ops@acme.example" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let acme = t.key("partner", Some("acme")).await;
    // An admin registers it for the partner.
    let made = t
        .post(
            "/v1/webhooks/endpoints",
            &t.admin(),
            json!({ "url": format!("{}/down", receiver.url), "events": ["*"], "partner_id": "acme" }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let id = made.body["id"].as_str().unwrap().to_owned();
    receiver.control(json!({ "answers": { "/down": vec![503; 40] } })).await;
    let test = format!("/v1/webhooks/endpoints/{id}/test");
    assert_eq!(t.post(&test, &acme, json!({})).await.body["state"], "pending");
    // Through the whole schedule: eight attempts over 27 h 35 min, all failed.
    for step in ["5s", "5m", "30m", "2h", "5h", "10h", "10h"] {
        advance(&t, step).await;
    }
    let first = deliveries_log(&t, &acme, &id).await;
    assert_eq!((first[0]["state"].as_str(), first[0]["attempts"].as_u64()), (Some("failed"), Some(8)));
    assert_eq!(receiver.deliveries("/down").await.len(), 8);
    assert_eq!(t.get(&format!("/v1/webhooks/endpoints/{id}"), &acme).await.body["status"], "enabled");
    // Five days after the first failure, one more failure disables it.
    advance(&t, "4days").await;
    let tested = t.post(&test, &acme, json!({})).await;
    assert_eq!((tested.body["state"].as_str(), tested.body["last_status"].as_u64()), (Some("pending"), Some(503)));
    let shown = t.get(&format!("/v1/webhooks/endpoints/{id}"), &acme).await;
    assert_eq!(shown.body["status"], "disabled");
    assert!(shown.body["disabled_reason"].as_str().unwrap().contains("5 days"));
    let sent = t.get("/_dev/outbox", &t.admin()).await.body;
    let emails: Vec<&Value> = sent.as_array().unwrap().iter().filter(|n| n["to"] == "ops@acme.example").collect();
    assert_eq!(emails.len(), 1, "{sent}");
    assert!(emails[0]["subject"].as_str().unwrap().contains("disabled"));
    let refused = t.post(&test, &acme, json!({})).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::CONFLICT, "endpoint_disabled"));
    // The last message's retry finds the endpoint disabled and ends unsent.
    advance(&t, "5s").await;
    assert_eq!(receiver.deliveries("/down").await.len(), 9);
    let log = deliveries_log(&t, &acme, &id).await;
    assert_eq!(
        (log[0]["state"].as_str(), log[0]["last_error"].as_str()),
        (Some("failed"), Some("the endpoint is disabled"))
    );
}
