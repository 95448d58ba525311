//! What a webhook costs us. `sign`: the `webhook-signature` of one message
//! beside its floor, a plain SHA-256 of the same signed bytes. `deliver`: a
//! retry sweep of 64 due deliveries to a receiver on 127.0.0.1 (claim, sign,
//! POST, record, all in memory) beside its floor, the same 64 POSTs sent
//! through the same client with nothing around them. Each sweep starts from
//! a fresh store, so no iteration measures the ones before it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use partnerops_aws::MemoryStore;
use partnerops_aws::notify::{SendError, Transport};
use partnerops_aws::store::{WebhookDeliveries as _, WebhookEndpoints as _};
use partnerops_aws::webhooks::{HttpWebhookSender, WebhookSender};
use partnerops_aws::{FixedClock, store::Partners as _};
use partnerops_domain::Timestamp;
use partnerops_domain::id::Entropy;
use partnerops_domain::notify::Notification;
use partnerops_domain::webhook::{
    EndpointDraft, EndpointId, Message, MessageId, SECRET_BYTES, Secret, UrlPolicy, check_url, new_endpoint,
};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::sync::Arc;
use webhooks::Webhooks;

const BATCH: usize = 64;
const BODY: &str = r#"{"type":"registration.decided","timestamp":"2026-12-01T10:00:00.000Z","data":{"registration_id":"reg_01kbdx6a2y7m3q9r5t8v0w4z1c","customer_name":"Globex Corporation","customer_domain":"globex.com","status":"approved","reason":null,"protected_until":"2027-03-01T10:00:00.000Z"}}"#;

struct NoMail;

#[async_trait]
impl Transport for NoMail {
    async fn send(&self, _: &Notification) -> Result<(), SendError> {
        Ok(())
    }
}

fn sign(c: &mut Criterion) {
    let now = Timestamp::parse("2026-12-01T10:00:00Z").unwrap();
    let secret = Secret::from_bytes([7; SECRET_BYTES]);
    let id = MessageId::generate(now, Entropy(1));
    let mut group = c.benchmark_group("sign");
    group.bench_function("webhook_signature", |b| {
        b.iter(|| black_box(secret.sign(black_box(id.as_str()), 1_796_119_200, black_box(BODY))))
    });
    group.bench_function("floor_sha256_same_bytes", |b| {
        b.iter(|| {
            let digest = Sha256::new()
                .chain_update(black_box(id.as_str()))
                .chain_update(b".1796119200.")
                .chain_update(black_box(BODY))
                .finalize();
            black_box(digest)
        })
    });
    group.finish();
}

async fn receiver() -> String {
    let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn deliver(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let url = runtime.block_on(receiver());
    let now = Timestamp::parse("2026-12-01T10:00:00Z").unwrap();
    let policy = UrlPolicy { local_receiver: true };
    let sender: Arc<dyn WebhookSender> = Arc::new(HttpWebhookSender::new(policy).unwrap());
    let checked = check_url(&url, policy).unwrap();
    let partner = partnerops_domain::partner::PartnerId::parse("acme").unwrap();
    let endpoint = new_endpoint(
        EndpointDraft { events: Some(vec!["*".into()]), ..Default::default() },
        partner.clone(),
        &checked,
        EndpointId::generate(now, Entropy(1)),
        Secret::from_bytes([7; SECRET_BYTES]),
        now,
    )
    .unwrap();
    let fresh_engine = || {
        let store = Arc::new(MemoryStore::new());
        runtime.block_on(async {
            let draft = partnerops_domain::partner::PartnerDraft {
                id: Some("acme".into()),
                name: Some("Acme".into()),
                tier: Some("gold".into()),
                motions: None,
                manager: None,
                contact_email: None,
            };
            store.create_partner(&partnerops_domain::partner::new_partner(draft, now).unwrap()).await.unwrap();
            store.create_endpoint(&endpoint).await.unwrap();
            for i in 0..BATCH {
                let message = Message::test(partner.clone(), now, Entropy(i as u128 + 10), &endpoint.id);
                store.create_delivery(&message.delivery_to(&endpoint, now)).await.unwrap();
            }
        });
        Webhooks {
            store,
            sender: sender.clone(),
            mailer: Arc::new(NoMail),
            clock: Arc::new(FixedClock::new(now)),
            policy,
            nudges: None,
        }
    };
    let short = std::sync::atomic::AtomicUsize::new(0);
    let mut group = c.benchmark_group("deliver");
    group.throughput(criterion::Throughput::Elements(BATCH as u64));
    group.bench_function("sweep_64_due_deliveries", |b| {
        b.iter_batched(
            fresh_engine,
            |engine| {
                let report = runtime.block_on(engine.sweep()).unwrap();
                // Counted here, checked once the timing is done.
                short.fetch_add(BATCH.saturating_sub(report.succeeded), std::sync::atomic::Ordering::Relaxed);
                report
            },
            BatchSize::PerIteration,
        )
    });
    let headers = [("content-type", "application/json".to_owned())];
    group.bench_function("floor_64_plain_posts", |b| {
        b.iter(|| {
            runtime.block_on(futures::future::join_all((0..BATCH).map(|_| sender.send(&url, &headers, BODY))));
        })
    });
    group.finish();
    assert_eq!(short.load(std::sync::atomic::Ordering::Relaxed), 0, "some timed deliveries did not succeed");
}

criterion_group!(benches, sign, deliver);
criterion_main!(benches);
