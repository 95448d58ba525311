//! What a notification costs: rendering one Slack and one email message (pure),
//! and messages per second through the whole handler, with the real Slack
//! and SES clients posting to capture servers on 127.0.0.1 and the claims
//! in the in-memory store.

// A benchmark's set-up failing should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt as _;
use notifier::{Notifier, SesEmail, SlackWebhook, Transports, WebhookUrl};
use partnerops_aws::store::ports::*;
use partnerops_aws::{FixedClock, MemoryStore};
use partnerops_domain::Timestamp;
use partnerops_domain::event::{DomainEvent, EventPayload, SlaSignalled};
use partnerops_domain::id::{Entropy, EventId};
use partnerops_domain::notify::{Channel, Notification, email_html, email_text, message, notifications, slack_payload};
use partnerops_domain::partner::{PartnerDraft, PartnerId, new_partner};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::sla::{SlaKind, SlaSubject, SlaTimer};
use partnerops_domain::terms::ProgramTerms;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn breach(n: u128) -> DomainEvent {
    let timer = SlaTimer::start(
        SlaSubject::Opportunity("006ABCDEF".into()),
        SlaKind::NotesUpdate,
        "000001",
        PartnerId::parse("acme-consulting").unwrap(),
        ProspectKey::from_stored("globex.com".into()),
        at("2026-11-15T10:00:00Z"),
        168,
    )
    .named("Globex Corporation");
    let now = at("2026-11-22T12:30:00Z");
    DomainEvent::new(EventId::generate(now, Entropy(n)), now, EventPayload::SlaBreached(SlaSignalled::new(&timer, now)))
}

fn terms() -> ProgramTerms {
    ProgramTerms::from_toml(include_str!("../../../infra/program.toml")).unwrap()
}

fn bench_render(c: &mut Criterion) {
    let terms = terms();
    let event = breach(1);
    let rendered = message(&event, None, &terms).expect("a breach renders");
    let slack = slack_payload(&rendered);
    let (text, html) = (email_text(&rendered), email_html(&rendered));
    let mut group = c.benchmark_group("notifier_render");
    // The floor: the finished messages' bytes, written out (the Slack JSON
    // serialized, the email's three parts copied): what any renderer must do.
    group.bench_function("floor: the finished Slack JSON serialized and the email's parts copied", |b| {
        b.iter(|| (black_box(&slack).to_string(), rendered.headline.clone(), text.clone(), html.clone()))
    });
    group.bench_function("render one Slack message (Block Kit JSON)", |b| {
        b.iter(|| message(black_box(&event), None, &terms).map(|m| slack_payload(&m).to_string()))
    });
    group.bench_function("render one email (subject, text and HTML)", |b| {
        b.iter(|| {
            message(black_box(&event), None, &terms).map(|m| (m.headline.clone(), email_text(&m), email_html(&m)))
        })
    });
    group.finish();
}

async fn capture(route: &'static str, reply: &'static str) -> String {
    let app = axum::Router::new().route(route, axum::routing::post(move || async move { reply }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn bench_throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (notifier, transports) = runtime.block_on(async {
        let slack = capture("/hook", "ok").await;
        let ses = capture("/v2/email/outbound-emails", r#"{"MessageId":"m"}"#).await;
        let sdk = partnerops_aws::sdk_defaults()
            .endpoint_url(ses)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sesv2::config::Credentials::new("a", "b", None, None, "bench"))
            .load()
            .await;
        let store = Arc::new(MemoryStore::default());
        let draft = PartnerDraft {
            id: Some("acme-consulting".into()),
            name: Some("Acme Consulting".into()),
            tier: Some("gold".into()),
            motions: None,
            manager: None,
            contact_email: None,
        };
        store.create_partner(&new_partner(draft, at("2026-11-01T00:00:00Z")).unwrap()).await.unwrap();
        let transports = Transports {
            slack: Some(Arc::new(SlackWebhook::new(WebhookUrl::parse(&format!("{slack}/hook")).unwrap()).unwrap())),
            email: Arc::new(SesEmail::from_sdk_config(&sdk, "partnerops@example.com")),
        };
        let notifier = Notifier {
            store,
            terms: Arc::new(terms()),
            clock: Arc::new(FixedClock::new(at("2026-11-22T12:30:00Z"))),
            transports: transports.clone(),
            queue: Arc::new(NoQueue),
            retry_base_seconds: 30,
            decisions: None,
        };
        (notifier, transports)
    });
    // What the handler sends, made once: the floor sends exactly these.
    let event = breach(0);
    let sent: Vec<Notification> = notifications(&event, None, &terms());
    assert_eq!(sent.len(), 2, "one Slack post and one email per breach");
    let next = AtomicU64::new(1);
    let batch = || {
        let mut event = SqsEvent::default();
        for _ in 0..10 {
            let event_of = breach(u128::from(next.fetch_add(1, Ordering::Relaxed)));
            let mut record = SqsMessage::default();
            record.message_id = Some(event_of.event_id.to_string());
            record.body = Some(
                serde_json::json!({ "detail-type": event_of.detail_type(), "detail": event_of.detail() }).to_string(),
            );
            event.records.push(record);
        }
        event
    };
    let short = AtomicU64::new(0);
    let mut group = c.benchmark_group("notifier_throughput");
    group.throughput(Throughput::Elements(10));
    group.bench_function("floor: the same 10 Slack posts and 10 emails, sent with no claim or render", |b| {
        // As the handler sends them: ten messages at a time, each one's
        // notifications in turn.
        b.to_async(&runtime).iter(|| async {
            let slack = transports.slack.as_ref().expect("Slack is on");
            let each_message = futures::stream::iter(0..10).map(|_| async {
                for n in &sent {
                    let transport = if n.channel == Channel::Slack { slack } else { &transports.email };
                    let _ = black_box(transport.send(n).await);
                }
            });
            each_message.buffer_unordered(notifier::CONCURRENCY).collect::<Vec<()>>().await
        })
    });
    group.bench_function("batch of 10 breaches, Slack + email each, capture servers", |b| {
        b.to_async(&runtime).iter_batched(
            batch,
            |event| async {
                let (response, report) = notifier.handle_batch(event).await;
                // Counted here, checked once the timing is done.
                let missing = 20usize.saturating_sub(report.sent) + response.batch_item_failures.len();
                short.fetch_add(missing as u64, Ordering::Relaxed);
                report
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    assert_eq!(short.load(Ordering::Relaxed), 0, "some timed notifications were not sent");
}

struct NoQueue;

#[async_trait::async_trait]
impl notifier::QueueControl for NoQueue {
    async fn delay(&self, _: &str, _: u32) -> anyhow::Result<()> {
        Ok(())
    }
    async fn dead_letter(&self, _: &str, _: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

criterion_group!(benches, bench_render, bench_throughput);
criterion_main!(benches);
