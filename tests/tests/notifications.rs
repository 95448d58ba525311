//! Notifications through the dev stack: an SLA breach reaches Slack (a
//! capture server standing in for the webhook) and email (SES on moto) once,
//! even when EventBridge delivers the event twice; Slack's 429 is waited out;
//! a 404 sends the message to the dead-letter queue.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode as AxumStatus};
use axum::routing::post;
use partnerops_e2e::{TestStack, referral};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A Slack webhook stand-in: answers from a script (then 200) and keeps
/// every body it was posted.
#[derive(Default)]
struct Capture {
    script: Mutex<VecDeque<(u16, Option<&'static str>, &'static str)>>,
    posts: Mutex<Vec<(u16, Value)>>,
}

impl Capture {
    fn delivered(&self) -> Vec<Value> {
        self.posts.lock().unwrap().iter().filter(|(s, _)| *s == 200).map(|(_, b)| b.clone()).collect()
    }
    fn attempts(&self) -> usize {
        self.posts.lock().unwrap().len()
    }
}

async fn webhook(State(capture): State<Arc<Capture>>, body: axum::body::Bytes) -> (AxumStatus, HeaderMap, String) {
    let (status, retry_after, text) = capture.script.lock().unwrap().pop_front().unwrap_or((200, None, "ok"));
    let parsed = serde_json::from_slice(&body).unwrap_or(Value::Null);
    capture.posts.lock().unwrap().push((status, parsed));
    let mut headers = HeaderMap::new();
    if let Some(seconds) = retry_after {
        headers.insert("retry-after", HeaderValue::from_static(seconds));
    }
    (AxumStatus::from_u16(status).unwrap(), headers, text.to_owned())
}

async fn capture_server(script: Vec<(u16, Option<&'static str>, &'static str)>) -> (String, Arc<Capture>) {
    let capture = Arc::new(Capture { script: Mutex::new(script.into()), posts: Mutex::default() });
    let app = axum::Router::new().route("/services/T000/B000/secret", post(webhook)).with_state(capture.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/services/T000/B000/secret", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, capture)
}

async fn stack_with_slack(script: Vec<(u16, Option<&'static str>, &'static str)>) -> (TestStack, Arc<Capture>) {
    let (url, capture) = capture_server(script).await;
    let t = TestStack::start_with(|options| options.slack_webhook_url = Some(url)).await;
    (t, capture)
}

/// A referral from `partner`, then 25 h later a tick: its SLA breaches.
async fn breach(t: &TestStack, partner: &str, domain: &str) -> Value {
    t.set_clock("2026-11-22T09:00:00Z").await;
    let key = t.partner(partner, "gold").await;
    let created = t.post("/v1/referrals", &key, referral(domain)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let first = t.tick().await;
    assert_eq!(first["notifications_sent"], 0, "nothing is due yet: {first}");
    let moved = t.send(Method::POST, "/_dev/clock", None, Some(json!({ "advance": "25h" }))).await;
    assert_eq!(moved.status, StatusCode::OK);
    t.tick().await
}

async fn outbox(t: &TestStack) -> Vec<Value> {
    t.send(Method::GET, "/_dev/outbox", None, None).await.body.as_array().cloned().unwrap_or_default()
}

fn on(outbox: &[Value], channel: &str) -> Vec<Value> {
    outbox.iter().filter(|n| n["channel"] == channel).cloned().collect()
}

#[tokio::test]
async fn a_breach_is_posted_to_slack_and_emailed_once_each() {
    let (t, capture) = stack_with_slack(vec![]).await;
    let summary = breach(&t, "acme-consulting", "globex.com").await;
    assert_eq!(summary["sla_signals"], 1, "{summary}");

    let posts = capture.delivered();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let post = posts[0].to_string();
    for needle in ["SLA breached", "Partner acme-consulting", "globex.com", "2026-11-23 09:00 UTC", "Overdue by", "1 h"]
    {
        assert!(post.contains(needle), "{needle} missing from the Slack post {post}");
    }
    assert_eq!(posts[0]["blocks"][0]["type"], "header");

    let sent = outbox(&t).await;
    let (slack, email) = (on(&sent, "slack"), on(&sent, "email"));
    assert_eq!((slack.len(), email.len()), (1, 1), "{sent:?}");
    assert_eq!(email[0]["to"], "partner-ops@example.com");
    for n in [&slack[0], &email[0]] {
        let text = n["text"].as_str().unwrap();
        assert!(text.contains("Partner acme-consulting") && text.contains("globex.com"), "{text}");
        assert!(n["event_id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(n["sent_at"], "2026-11-23T10:00:00.000Z");
        assert!(n["subject"].as_str().unwrap().starts_with("SLA breached"));
    }
    assert_eq!(slack[0]["event_id"], email[0]["event_id"]);

    // Later ticks send nothing more.
    let again = t.tick().await;
    assert_eq!(again["notifications_sent"], 0, "{again}");
    assert_eq!(outbox(&t).await.len(), 2);
}

/// A second rule on the bus sends every breach to the notifier's queue
/// again: each event arrives twice.
async fn deliver_breaches_twice(t: &TestStack) {
    let bus = t.stack.provisioned.reference("EventBus").unwrap().to_owned();
    let queue_arn = t.stack.provisioned.attribute("NotificationQueue", "Arn").unwrap().to_owned();
    let events = aws_sdk_eventbridge::Client::new(&t.stack.sdk);
    let rule = format!("{bus}-duplicate");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(json!({ "source": ["partnerops"], "detail-type": ["SlaBreached"] }).to_string())
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder().id("again").arn(queue_arn).build().unwrap();
    events.put_targets().rule(&rule).event_bus_name(&bus).targets(target).send().await.unwrap();
}

#[tokio::test]
async fn an_event_delivered_twice_is_sent_once() {
    let (t, capture) = stack_with_slack(vec![]).await;
    deliver_breaches_twice(&t).await;
    let summary = breach(&t, "acme-consulting", "globex.com").await;
    // Both copies were handled; a copy that met the other mid-send came back later.
    assert!(summary["messages_processed"].as_u64().unwrap() >= 2, "{summary}");
    assert_eq!(summary["notifications_sent"], 2, "{summary}");
    assert_eq!(capture.attempts(), 1);
    let sent = outbox(&t).await;
    assert_eq!((on(&sent, "slack").len(), on(&sent, "email").len()), (1, 1), "{sent:?}");
}

#[tokio::test]
async fn slack_429_is_retried_after_its_retry_after() {
    let (t, capture) = stack_with_slack(vec![(429, Some("1"), "rate_limited")]).await;
    let summary = breach(&t, "acme-consulting", "globex.com").await;
    assert_eq!(summary["messages_retried"], 1, "{summary}");
    assert_eq!(capture.attempts(), 2, "one 429, then the retry");
    assert_eq!(capture.delivered().len(), 1);
    let sent = outbox(&t).await;
    assert_eq!((on(&sent, "slack").len(), on(&sent, "email").len()), (1, 1), "the email is not sent twice: {sent:?}");
}

#[tokio::test]
async fn slack_404_sends_the_message_to_the_dlq_with_its_reason() {
    let (t, capture) = stack_with_slack(vec![(404, None, "no_service")]).await;
    breach(&t, "acme-consulting", "globex.com").await;
    assert_eq!(capture.attempts(), 1, "a 404 is not retried");
    let sent = outbox(&t).await;
    assert_eq!((on(&sent, "slack").len(), on(&sent, "email").len()), (0, 1), "{sent:?}");

    let sqs = aws_sdk_sqs::Client::new(&t.stack.sdk);
    let dlq = t.stack.provisioned.reference("NotificationDLQ").unwrap().to_owned();
    let received = sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let reason = received[0].message_attributes.as_ref().unwrap()["failure_reason"].string_value().unwrap();
    assert!(reason.contains("404") && reason.contains("no_service"), "{reason}");
    let body: Value = serde_json::from_str(received[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["detail-type"], "SlaBreached");
    // And the source queue is empty: nothing is retried.
    let main = t.stack.provisioned.reference("NotificationQueue").unwrap().to_owned();
    let left = sqs.receive_message().queue_url(&main).send().await.unwrap().messages.unwrap_or_default();
    assert!(left.is_empty());
}
