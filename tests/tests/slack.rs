//! End-to-end: decisions from Slack in app mode (SPEC §17), through the dev
//! stack, against a local stand-in for Slack's Web API that records every
//! call and answers in Slack's shapes (including `ok: false` and 429 with
//! Retry-After). Requests are signed with the official `slack_sdk`
//! signature helper, and every Block Kit payload and modal is checked with
//! `slack_sdk`'s models, not with our own code.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode as AxumStatus;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use partnerops_devstack::SlackAppOptions;
use partnerops_devstack::moto::venv;
use partnerops_e2e::{TestStack, registration};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const NOW: &str = "2026-11-22T10:00:00Z";
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

#[derive(Default)]
struct Recorded {
    calls: Vec<(String, Value)>,
    /// Answers to give instead of success, per method, in order.
    planned: HashMap<String, Vec<(u16, Value, Option<u32>)>>,
    ts: u64,
}

type Slack = Arc<Mutex<Recorded>>;

async fn web_api(State(slack): State<Slack>, Path(method): Path<String>, Json(body): Json<Value>) -> Response {
    let mut s = slack.lock().unwrap();
    s.calls.push((method.clone(), body.clone()));
    if let Some((status, answer, retry_after)) =
        s.planned.get_mut(&method).and_then(|p| (!p.is_empty()).then(|| p.remove(0)))
    {
        let mut response = (AxumStatus::from_u16(status).unwrap(), Json(answer)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert("retry-after", seconds.to_string().parse().unwrap());
        }
        return response;
    }
    match method.as_str() {
        "chat.postMessage" => {
            s.ts += 1;
            let ts = format!("1700000000.{:06}", s.ts);
            Json(json!({ "ok": true, "channel": body["channel"], "ts": ts, "message": { "text": body["text"] } }))
                .into_response()
        }
        "chat.update" => Json(json!({ "ok": true, "channel": body["channel"], "ts": body["ts"] })).into_response(),
        "views.open" => Json(json!({ "ok": true, "view": { "id": "V1" } })).into_response(),
        _ => Json(json!({ "ok": false, "error": "unknown_method" })).into_response(),
    }
}

async fn response_url(State(slack): State<Slack>, Path(id): Path<String>, Json(body): Json<Value>) -> Response {
    slack.lock().unwrap().calls.push((format!("response_url/{id}"), body));
    Json(json!({ "ok": true })).into_response()
}

async fn stand_in() -> (String, Slack) {
    let slack: Slack = Arc::default();
    let app = axum::Router::new()
        .route("/api/{method}", post(web_api))
        .route("/actions/{id}", post(response_url))
        .with_state(slack.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, slack)
}

async fn python(script: &str, stdin: &str) -> String {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(venv().join("bin/python"))
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `slack_sdk`'s own signature for a body at a timestamp.
async fn slack_sdk_signature(timestamp: i64, body: &str) -> String {
    let script = format!(
        "import sys\nfrom slack_sdk.signature import SignatureVerifier\nprint(SignatureVerifier({SECRET:?}).generate_signature(timestamp={timestamp:?}, body=sys.stdin.read()))"
    );
    python(&script, body).await
}

/// Parses every block with `slack_sdk`'s models and validates it; a modal
/// as a `View`. Answers the block types it saw.
async fn slack_sdk_validates(payload: &Value) -> Vec<String> {
    let script = r#"
import json, sys
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
payload = json.load(sys.stdin)
if payload.get("type") == "modal":
    view = View(**payload)
    view.validate_json()
    blocks = view.blocks
else:
    blocks = [Block.parse(b) for b in payload["blocks"]]
    assert payload.get("text"), "a message needs its fallback text"
for b in blocks:
    assert b is not None, "a block slack_sdk does not know"
    b.validate_json()
print(",".join(b.type for b in blocks))
"#;
    python(script, &payload.to_string()).await.split(',').map(str::to_owned).collect()
}

struct Clicks<'a> {
    t: &'a TestStack,
    now: i64,
}

impl Clicks<'_> {
    async fn send(
        &self,
        payload: &Value,
        timestamp: i64,
        signature: Option<String>,
        retry: Option<&str>,
    ) -> reqwest::Response {
        let body: String =
            form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish();
        let signature = match signature {
            Some(s) => s,
            None => slack_sdk_signature(timestamp, &body).await,
        };
        let mut request = self
            .t
            .http
            .post(format!("{}/slack/interactions", self.t.stack.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", signature)
            .body(body);
        if let Some(n) = retry {
            request = request.header("x-slack-retry-num", n).header("x-slack-retry-reason", "http_timeout");
        }
        request.send().await.unwrap()
    }

    async fn click(&self, payload: &Value) -> reqwest::Response {
        self.send(payload, self.now, None, None).await
    }
}

fn button(user: &str, action: &str, registration: &str, slack_url: &str, message_ts: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": { "id": user, "username": "someone" },
        "trigger_id": "1234.5678.abcdef",
        "response_url": format!("{slack_url}/actions/{user}"),
        "container": { "type": "message", "channel_id": "CDEVDECISIONS", "message_ts": message_ts },
        "actions": [{ "type": "button", "action_id": action, "block_id": "decision", "value": registration }],
    })
}

fn submission(user: &str, registration: &str, reason: &str) -> Value {
    json!({
        "type": "view_submission",
        "user": { "id": user },
        "view": { "callback_id": "registration_reject", "private_metadata": registration,
                  "state": { "values": { "reason": { "reason": { "type": "plain_text_input", "value": reason } } } } },
    })
}

fn calls(slack: &Slack, method: &str) -> Vec<Value> {
    slack.lock().unwrap().calls.iter().filter(|(m, _)| m == method).map(|(_, b)| b.clone()).collect()
}

async fn app_stack() -> (TestStack, Slack, String) {
    let (url, slack) = stand_in().await;
    let api_url = format!("{url}/api");
    let t = TestStack::start_with(|options| {
        options.slack_app = Some(SlackAppOptions {
            bot_token: "xoxb-test".into(),
            signing_secret: SECRET.into(),
            api_url: api_url.clone(),
        });
    })
    .await;
    t.set_clock(NOW).await;
    (t, slack, url)
}

async fn user(t: &TestStack, email: &str, role: &str, slack: &str) -> String {
    let body = json!({ "email": email, "name": format!("User {slack}"), "role": role, "slack_user_id": slack });
    let created = t.post("/v1/admin/users", &t.admin(), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

fn now_seconds() -> i64 {
    chrono::DateTime::parse_from_rfc3339(NOW).unwrap().timestamp()
}

#[tokio::test]
async fn a_registration_is_approved_from_slack_once_and_the_message_shows_it() {
    let (t, slack, slack_url) = app_stack().await;
    let partner = t.certified_partner("acme", "gold").await;
    let manager = user(&t, "cm@example.com", "channel_manager", "UCM0001").await;
    user(&t, "fin@example.com", "finance", "UFIN0001").await;
    // The first post meets Slack's rate limit: the notifier waits and posts once.
    slack
        .lock()
        .unwrap()
        .planned
        .insert("chat.postMessage".into(), vec![(429, json!({ "ok": false, "error": "ratelimited" }), Some(1))]);
    let submitted = t.post("/v1/deal-registrations", &partner, registration("initech.com", "12000.00")).await;
    assert_eq!(submitted.status, StatusCode::CREATED);
    let id = submitted.body["id"].as_str().unwrap().to_owned();
    t.tick().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    t.tick().await;
    let posts = calls(&slack, "chat.postMessage");
    let decisions: Vec<&Value> = posts.iter().filter(|p| p["channel"] == "CDEVDECISIONS").collect();
    assert_eq!(posts.iter().filter(|p| p["channel"] == "CDEVDECISIONS").count(), 2, "one 429, then one post");
    let message = decisions[1];
    assert_eq!(slack_sdk_validates(message).await, ["header", "section", "actions"]);
    let buttons = message["blocks"][2]["elements"].as_array().unwrap();
    assert_eq!(buttons[0]["action_id"], "registration_approve");
    assert_eq!(buttons[1]["action_id"], "registration_reject");
    assert_eq!(buttons[0]["value"], id.as_str());
    assert!(
        posts.iter().all(|p| p["channel"] != "CDEVALERTS" || !p.to_string().contains(&id)),
        "no second notice in alerts"
    );

    let clicks = Clicks { t: &t, now: now_seconds() };
    let approve = button("UCM0001", "registration_approve", &id, &slack_url, "1700000000.000001");
    // Unsigned, stale or forged: 401 and nothing changes.
    assert_eq!(
        clicks.send(&approve, now_seconds(), Some("v0=00".into()), None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(clicks.send(&approve, now_seconds() - 301, None, None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(clicks.send(&approve, now_seconds() + 301, None, None).await.status(), StatusCode::UNAUTHORIZED);
    let unsigned =
        t.http.post(format!("{}/slack/interactions", t.stack.url)).body("payload=%7B%7D").send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(t.get(&format!("/v1/deal-registrations/{id}"), &t.admin()).await.body["status"], "pending");

    // Finance and strangers are told, ephemerally, and change nothing.
    for stranger in ["UFIN0001", "UNOBODY1"] {
        let response =
            clicks.click(&button(stranger, "registration_approve", &id, &slack_url, "1700000000.000001")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let told = calls(&slack, &format!("response_url/{stranger}"));
        assert_eq!(told.len(), 1);
        assert_eq!(told[0]["response_type"], "ephemeral");
        assert!(told[0]["text"].as_str().unwrap().contains("Only an active channel manager or admin"));
    }
    assert_eq!(t.get(&format!("/v1/deal-registrations/{id}"), &t.admin()).await.body["status"], "pending");

    // The manager clicks; Slack retries the same request; the manager double-clicks.
    let (first, second) = futures::join!(clicks.click(&approve), clicks.send(&approve, now_seconds(), None, Some("1")));
    assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK));
    let third = clicks.click(&approve).await;
    assert_eq!(third.status(), StatusCode::OK);
    let stored = t.get(&format!("/v1/deal-registrations/{id}"), &t.admin()).await;
    assert_eq!(stored.body["status"], "approved");
    assert_eq!(stored.body["decided_by"], manager.as_str());
    assert_eq!(stored.body["protected_until"], "2027-03-22T10:00:00.000Z", "gold: 120 days");
    let history = t.get(&format!("/v1/deal-registrations/{id}/history"), &t.admin()).await;
    let approvals = history.body["items"].as_array().unwrap().iter().filter(|e| e["to"] == "approved").count();
    assert_eq!(approvals, 1, "decided once");
    let told = calls(&slack, "response_url/UCM0001");
    assert!(!told.is_empty() && told.iter().all(|n| n["text"].as_str().unwrap().contains("not pending")), "{told:?}");
    let updates = calls(&slack, "chat.update");
    assert!(!updates.is_empty());
    for update in &updates {
        assert_eq!(
            (update["channel"].as_str(), update["ts"].as_str()),
            (Some("CDEVDECISIONS"), Some("1700000000.000001"))
        );
        let kinds = slack_sdk_validates(update).await;
        assert!(!kinds.contains(&"actions".to_owned()), "no button left on a decided registration");
        assert!(update.to_string().contains("<@UCM0001>") && update.to_string().contains("2027-03-22"));
    }
}

#[tokio::test]
async fn a_reject_opens_the_modal_and_a_blank_reason_is_refused() {
    let (t, slack, slack_url) = app_stack().await;
    let partner = t.certified_partner("acme", "gold").await;
    user(&t, "admin@example.com", "admin", "UADMIN01").await;
    let submitted = t.post("/v1/deal-registrations", &partner, registration("hooli.com", "500.00")).await;
    let id = submitted.body["id"].as_str().unwrap().to_owned();
    t.tick().await;
    let clicks = Clicks { t: &t, now: now_seconds() };
    let reject = button("UADMIN01", "registration_reject", &id, &slack_url, "1700000000.000001");
    assert_eq!(clicks.click(&reject).await.status(), StatusCode::OK);
    let views = calls(&slack, "views.open");
    assert_eq!(views.len(), 1);
    assert_eq!(views[0]["trigger_id"], "1234.5678.abcdef");
    let view = &views[0]["view"];
    assert_eq!(
        (view["callback_id"].as_str(), view["private_metadata"].as_str()),
        (Some("registration_reject"), Some(id.as_str()))
    );
    assert_eq!(slack_sdk_validates(view).await, ["section", "input"]);

    let blank = clicks.click(&submission("UADMIN01", &id, "   ")).await;
    assert_eq!(blank.status(), StatusCode::OK);
    let answer: Value = blank.json().await.unwrap();
    assert_eq!(answer["response_action"], "errors");
    assert!(answer["errors"]["reason"].is_string());
    assert_eq!(t.get(&format!("/v1/deal-registrations/{id}"), &t.admin()).await.body["status"], "pending");

    // The update after the decision fails once on Slack's side: the decision stands.
    slack
        .lock()
        .unwrap()
        .planned
        .insert("chat.update".into(), vec![(200, json!({ "ok": false, "error": "message_not_found" }), None)]);
    let done = clicks.click(&submission("UADMIN01", &id, "Duplicate of an existing opportunity")).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().is_empty(), "an empty 200 closes the modal");
    let stored = t.get(&format!("/v1/deal-registrations/{id}"), &t.admin()).await;
    assert_eq!(stored.body["status"], "rejected");
    assert_eq!(stored.body["reason"], "Duplicate of an existing opportunity");
    let late = clicks.click(&submission("UADMIN01", &id, "again")).await;
    let answer: Value = late.json().await.unwrap();
    assert_eq!(answer["response_action"], "errors", "already decided: the modal says why");
    // The decided event edits the message again once the notifier hears it.
    t.tick().await;
    let updates = calls(&slack, "chat.update");
    assert!(updates.len() >= 2);
    assert!(updates.last().unwrap().to_string().contains("Duplicate of an existing opportunity"));
    assert_eq!(clicks.click(&reject).await.status(), StatusCode::OK);
    assert_eq!(calls(&slack, "views.open").len(), 1, "no modal for a decided registration");
}

#[tokio::test]
async fn a_withdrawal_or_a_decision_elsewhere_edits_the_message_and_a_disabled_user_is_refused() {
    let (t, slack, slack_url) = app_stack().await;
    let partner = t.certified_partner("acme", "gold").await;
    let manager = user(&t, "cm@example.com", "channel_manager", "UCM0002").await;
    let first = t.post("/v1/deal-registrations", &partner, registration("globex.com", "100.00")).await;
    let id = first.body["id"].as_str().unwrap().to_owned();
    t.tick().await;
    let withdrawn = t.post(&format!("/v1/deal-registrations/{id}/withdraw"), &partner, json!({})).await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{:?}", withdrawn.body);
    t.tick().await;
    let updates = calls(&slack, "chat.update");
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert!(updates[0].to_string().contains("withdrawn"));
    assert!(!slack_sdk_validates(&updates[0]).await.contains(&"actions".to_owned()));

    t.send(
        Method::PATCH,
        &format!("/v1/admin/users/{manager}"),
        Some(&t.admin()),
        Some(json!({ "status": "disabled" })),
    )
    .await;
    let second = t.post("/v1/deal-registrations", &partner, registration("initrode.com", "100.00")).await;
    let second_id = second.body["id"].as_str().unwrap().to_owned();
    t.tick().await;
    let clicks = Clicks { t: &t, now: now_seconds() };
    let click = button("UCM0002", "registration_approve", &second_id, &slack_url, "1700000000.000001");
    assert_eq!(clicks.click(&click).await.status(), StatusCode::OK);
    assert_eq!(t.get(&format!("/v1/deal-registrations/{second_id}"), &t.admin()).await.body["status"], "pending");
    assert_eq!(calls(&slack, "response_url/UCM0002").len(), 1, "a disabled user is told no");

    // Approved through the API, then expired by the sweep: both edit the message.
    let key = t.key("channel_manager", None).await;
    let decided =
        t.post(&format!("/v1/deal-registrations/{second_id}/decision"), &key, json!({ "decision": "approve" })).await;
    assert_eq!(decided.status, StatusCode::OK, "{:?}", decided.body);
    t.tick().await;
    let approved = calls(&slack, "chat.update");
    assert!(approved.last().unwrap().to_string().contains("approved"), "{approved:?}");
    t.set_clock("2027-03-23T10:00:00Z").await;
    t.tick().await;
    let expired = calls(&slack, "chat.update");
    assert!(expired.last().unwrap().to_string().contains("expired"), "{:?}", expired.last());
    assert!(!slack_sdk_validates(expired.last().unwrap()).await.contains(&"actions".to_owned()));
}

#[tokio::test]
async fn an_approve_click_costs_seven_dynamodb_calls() {
    use partnerops_aws::metrics::CallCounter;
    use partnerops_aws::{DynamoStore, FixedClock};
    use tower::ServiceExt as _;
    let (t, _slack, slack_url) = app_stack().await;
    let partner = t.certified_partner("acme", "gold").await;
    user(&t, "cm@example.com", "channel_manager", "UCM0003").await;
    let submitted = t.post("/v1/deal-registrations", &partner, registration("counted.com", "10.00")).await;
    let id = submitted.body["id"].as_str().unwrap().to_owned();
    t.tick().await;

    let counter = CallCounter::new();
    let config = aws_sdk_dynamodb::config::Builder::from(&t.stack.sdk).interceptor(counter.clone()).build();
    let table = t.stack.provisioned.reference("Table").unwrap();
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), table));
    let clock = FixedClock::new(partnerops_domain::Timestamp::parse(NOW).unwrap());
    let api: Arc<dyn partnerops_aws::slack::SlackApp> = Arc::new(
        partnerops_aws::slack::SlackWebApi::new(&format!("{slack_url}/api"), &format!("{slack_url}/"), "xoxb-test")
            .unwrap(),
    );
    let messages = Arc::new(partnerops_app::decisions::DecisionMessages {
        app: api.clone(),
        channel: "CDEVDECISIONS".into(),
        store: store.clone(),
    });
    let router = slack_interactions::router(slack_interactions::SlackState {
        store,
        clock: Arc::new(clock),
        terms: Arc::new(partnerops_e2e::terms_options().terms),
        slack: api,
        messages,
        signing_secret: SECRET.as_bytes().to_vec().into(),
    });
    let payload = button("UCM0003", "registration_approve", &id, &slack_url, "1700000000.000001");
    let body: String =
        form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish();
    let signature = slack_sdk_signature(now_seconds(), &body).await;
    let request = axum::http::Request::post("/slack/interactions")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", now_seconds().to_string())
        .header("x-slack-signature", signature)
        .body(axum::body::Body::from(body))
        .unwrap();
    counter.reset();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), axum::http::StatusCode::OK);
    assert_eq!(t.get(&format!("/v1/deal-registrations/{id}"), &t.admin()).await.body["status"], "approved");
    // The clicker (Query of the users list), the decision (GetItem, BatchGetItem,
    // TransactWriteItems), and the message's edit (its ref, the partner, the decider).
    assert_eq!(counter.count(), 7);
}
