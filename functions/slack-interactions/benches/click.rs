// A benchmark harness: set-up failures should abort loudly.
#![allow(clippy::unwrap_used)]

//! An Approve click in process with the in-memory store: the v0 signature
//! and timestamp, the payload, the clicker's user, the decision (the API's
//! own) and the message's new state, with the Web API a no-op. Each batch
//! decides fresh pending registrations, so the store does not grow with the
//! run. The floor beside it is the signature check alone on the same body.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use partnerops_app::decisions::DecisionMessages;
use partnerops_aws::notify::SendError;
use partnerops_aws::slack::SlackApp;
use partnerops_aws::store::ports::*;
use partnerops_aws::{FixedClock, MemoryStore};
use partnerops_domain::Timestamp;
use partnerops_domain::id::{Entropy, UserId};
use partnerops_domain::partner::{PartnerDraft, new_partner};
use partnerops_domain::people::{UserDraft, new_user};
use partnerops_domain::registration::{REQUIRED_CERTIFICATION, RegistrationDraft, RegistrationSubmission};
use partnerops_domain::slack::{MessageRef, sign, verify_signature};
use partnerops_domain::terms::ProgramTerms;
use serde_json::{Value, json};
use slack_interactions::{SlackState, router};
use std::sync::Arc;
use tower::ServiceExt as _;

const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";

struct Quiet;

#[async_trait]
impl SlackApp for Quiet {
    async fn post_message(&self, channel: &str, _: &Value) -> Result<MessageRef, SendError> {
        Ok(MessageRef { channel: channel.into(), ts: "1.1".into() })
    }
    async fn update_message(&self, _: &MessageRef, _: &Value) -> Result<(), SendError> {
        Ok(())
    }
    async fn open_view(&self, _: &str, _: &Value) -> Result<(), SendError> {
        Ok(())
    }
    async fn respond(&self, _: &str, _: &Value) -> Result<(), SendError> {
        Ok(())
    }
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-22T10:00:00Z").unwrap()
}

fn terms() -> ProgramTerms {
    ProgramTerms::from_toml(include_str!("../../../infra/program.toml")).unwrap()
}

/// A store with one certified partner, one channel manager and `n` pending
/// registrations (one customer each); the router over it; their ids.
async fn world(n: usize) -> (axum::Router, Vec<String>) {
    let store = Arc::new(MemoryStore::new());
    let draft = PartnerDraft {
        id: Some("alpha".into()),
        name: Some("Alpha".into()),
        tier: Some("gold".into()),
        ..Default::default()
    };
    let mut partner = new_partner(draft, now()).unwrap();
    partner.certifications.insert(REQUIRED_CERTIFICATION.into(), Timestamp::parse("2030-01-01T00:00:00Z").unwrap());
    store.create_partner(&partner).await.unwrap();
    let user = UserDraft {
        email: Some("cm@example.com".into()),
        name: Some("Casey".into()),
        role: Some("channel_manager".into()),
        partner_id: None,
        slack_user_id: Some("UCM0001".into()),
    };
    store.create_user(&new_user(user, UserId::generate(now(), Entropy(1)), now()).unwrap()).await.unwrap();

    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let draft: RegistrationDraft = serde_json::from_value(json!({
            "customer": { "name": "Globex", "domain": format!("globex{i}.com") },
            "motion": "resell",
            "estimated_value": { "amount": "1000.00", "currency": "USD" },
            "products": ["platform"],
            "expected_close_date": "2027-03-31"
        }))
        .unwrap();
        let submission = RegistrationSubmission::parse(draft, now().as_datetime().date_naive()).unwrap();
        let clock = FixedClock::new(now());
        let submitted =
            partnerops_app::registrations::submit(&*store, &clock, &terms(), &partner, &submission).await.unwrap();
        ids.push(submitted.record.registration.id.to_string());
    }
    let slack: Arc<dyn SlackApp> = Arc::new(Quiet);
    let messages =
        Arc::new(DecisionMessages { app: slack.clone(), channel: "CDECISIONS".into(), store: store.clone() });
    let state = SlackState {
        store,
        clock: Arc::new(FixedClock::new(now())),
        terms: Arc::new(terms()),
        slack,
        messages,
        signing_secret: SECRET.to_vec().into(),
    };
    (router(state), ids)
}

fn click_body(id: &str) -> String {
    let payload = json!({
        "type": "block_actions", "user": { "id": "UCM0001" }, "trigger_id": "t",
        "response_url": "https://hooks.slack.com/actions/1",
        "container": { "type": "message", "channel_id": "CDECISIONS", "message_ts": "1.1" },
        "actions": [{ "type": "button", "action_id": "registration_approve", "value": id }],
    });
    form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}

fn request(body: String) -> Request<Body> {
    let ts = now().unix_seconds().to_string();
    let signature = sign(SECRET, &ts, body.as_bytes());
    Request::post("/slack/interactions")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .body(Body::from(body))
        .unwrap()
}

const BATCH: usize = 64;

fn bench_click(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let refused = std::sync::atomic::AtomicU64::new(0);
    let mut group = c.benchmark_group("slack_click");
    group.bench_function("approve", |b| {
        b.iter_batched(
            || {
                let (router, ids) = runtime.block_on(world(BATCH));
                ids.into_iter().map(|id| (router.clone(), request(click_body(&id)))).collect::<Vec<_>>()
            },
            |clicks| {
                runtime.block_on(async {
                    for (router, request) in clicks {
                        let response = router.oneshot(request).await.unwrap();
                        // Counted here, checked once the timing is done.
                        if response.status() != 200 {
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                })
            },
            BatchSize::PerIteration,
        )
    });
    let body = click_body("reg_01kaqz8m2r5v3x9q7w2e4t6y8p");
    let ts = now().unix_seconds().to_string();
    let signature = sign(SECRET, &ts, body.as_bytes());
    group.bench_function("floor_signature_only", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                verify_signature(SECRET, &ts, std::hint::black_box(body.as_bytes()), &signature, now()).unwrap();
            }
        })
    });
    group.finish();
    assert_eq!(refused.load(std::sync::atomic::Ordering::Relaxed), 0, "some timed clicks were refused");
}

criterion_group!(benches, bench_click);
criterion_main!(benches);
