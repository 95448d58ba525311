// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use partnerops_aws::notify::SendError;
use partnerops_aws::queue::MemoryWorkQueue;
use partnerops_aws::{FixedClock, MemoryStore};
use partnerops_domain::event::ReferralReceived;
use partnerops_domain::id::{Entropy, EventId, ReferralId};
use partnerops_domain::partner::{Motion, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::webhook::{
    EndpointDraft, EndpointId, SECRET_BYTES, Secret, UrlRefusal, check_url, new_endpoint,
};
use std::sync::Mutex;

/// A receiver that answers the statuses it is given, in order, then 200.
#[derive(Default)]
struct Scripted {
    answers: Mutex<Vec<u16>>,
    sent: Mutex<Vec<Vec<(&'static str, String)>>>,
}

#[async_trait]
impl WebhookSender for Scripted {
    async fn check(&self, _: &str) -> Result<(), UrlRefusal> {
        Ok(())
    }

    async fn send(&self, _: &str, headers: &[(&'static str, String)], _: &str) -> Outcome {
        self.sent.lock().unwrap().push(headers.to_vec());
        let mut answers = self.answers.lock().unwrap();
        let status = if answers.is_empty() { 200 } else { answers.remove(0) };
        Outcome::of_status(status, b"")
    }
}

struct NoMail;

#[async_trait]
impl Transport for NoMail {
    async fn send(&self, _: &Notification) -> Result<(), SendError> {
        Ok(())
    }
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

struct Fixture {
    engine: Webhooks,
    store: Arc<MemoryStore>,
    sender: Arc<Scripted>,
    queue: Arc<MemoryWorkQueue>,
    clock: FixedClock,
    endpoint: EndpointId,
}

async fn fixture(answers: Vec<u16>) -> Fixture {
    let now = at("2026-12-01T10:00:00Z");
    let store = Arc::new(MemoryStore::new());
    let sender = Arc::new(Scripted { answers: Mutex::new(answers), ..Default::default() });
    let queue = Arc::new(MemoryWorkQueue::default());
    let clock = FixedClock::new(now);
    let url = check_url("https://hooks.example.com/in", UrlPolicy::default()).unwrap();
    let endpoint = new_endpoint(
        EndpointDraft { events: Some(vec!["referral.received".into()]), ..Default::default() },
        PartnerId::parse("acme").unwrap(),
        &url,
        EndpointId::generate(now, Entropy(1)),
        Secret::from_bytes([3; SECRET_BYTES]),
        now,
    )
    .unwrap();
    store.create_endpoint(&endpoint).await.unwrap();
    let engine = Webhooks {
        store: store.clone(),
        sender: sender.clone(),
        mailer: Arc::new(NoMail),
        clock: Arc::new(clock.clone()),
        policy: UrlPolicy::default(),
        nudges: Some(queue.clone()),
    };
    Fixture { engine, store, sender, queue, clock, endpoint: endpoint.id }
}

fn received(partner: &str) -> DomainEvent {
    let now = at("2026-12-01T10:00:00Z");
    DomainEvent::new(
        EventId::generate(now, Entropy(7)),
        now,
        EventPayload::ReferralReceived(ReferralReceived {
            referral_id: ReferralId::generate(now, Entropy(8)),
            partner_id: PartnerId::parse(partner).unwrap(),
            prospect_key: ProspectKey::from_stored("globex.com".into()),
            company_name: "Globex".into(),
            motion: Motion::Referral,
            opportunity_creation_due_at: now.plus(chrono::Duration::hours(24)),
        }),
    )
}

fn sqs(body: &str) -> SqsEvent {
    let mut record = SqsMessage::default();
    record.message_id = Some("m-1".into());
    record.body = Some(body.into());
    let mut event = SqsEvent::default();
    event.records.push(record);
    event
}

#[tokio::test]
async fn a_near_retry_is_queued_to_arrive_when_due_and_runs_once() {
    let f = fixture(vec![500]).await;
    let report = f.engine.fan_out(&received("acme")).await.unwrap();
    assert_eq!((report.deliveries_created, report.attempts, report.failed), (1, 1, 0));
    let jobs = f.queue.take();
    assert_eq!(jobs.len(), 1);
    let (delay, body) = jobs[0].split_once(' ').unwrap();
    assert_eq!(delay, "6", "5 s after the attempt, and a second so it is never early");
    // Delivered early (or the clock not yet there): nothing is sent.
    assert!(f.engine.handle_batch(sqs(body)).await.batch_item_failures.is_empty());
    assert_eq!(f.sender.sent.lock().unwrap().len(), 1);
    f.clock.set(f.clock.now().plus(chrono::Duration::seconds(6)));
    assert!(f.engine.handle_batch(sqs(body)).await.batch_item_failures.is_empty());
    assert!(f.engine.handle_batch(sqs(body)).await.batch_item_failures.is_empty());
    let sent = f.sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "the second nudge found nothing due");
    assert_eq!(sent[0][0].1, sent[1][0].1, "one webhook-id on every attempt");
    assert_ne!(sent[0][1].1, sent[1][1].1, "each attempt has its own timestamp");
    let log = f.store.deliveries(&f.endpoint, &partnerops_aws::store::PageRequest { limit: 10, cursor: None }).await;
    let log = log.unwrap().items;
    assert_eq!((log[0].state, log[0].attempts), (DeliveryState::Succeeded, 2));
    // A success queues nothing; neither does a retry beyond SQS's 15 minutes.
    assert!(f.queue.take().is_empty());
}

#[tokio::test]
async fn a_redelivered_event_makes_no_second_message_and_others_partners_hear_nothing() {
    let f = fixture(vec![]).await;
    let event = received("acme");
    assert_eq!(f.engine.fan_out(&event).await.unwrap().succeeded, 1);
    let again = f.engine.fan_out(&event).await.unwrap();
    assert_eq!((again.deliveries_created, again.attempts), (0, 0));
    let other = f.engine.fan_out(&received("globex")).await.unwrap();
    assert_eq!(other, Report::default());
    assert_eq!(f.sender.sent.lock().unwrap().len(), 1);
    // A queue message that is neither an event nor a retry is retried by SQS.
    let bad = f.engine.handle_batch(sqs("{\"nothing\":1}")).await;
    assert_eq!(bad.batch_item_failures.len(), 1);
}

#[tokio::test]
async fn later_retries_wait_for_the_sweep() {
    let f = fixture(vec![500, 500, 500]).await;
    f.engine.fan_out(&received("acme")).await.unwrap();
    f.queue.take();
    f.clock.set(f.clock.now().plus(chrono::Duration::seconds(5)));
    assert_eq!(f.engine.sweep().await.unwrap().attempts, 1);
    let (delay, _) =
        f.queue.take().pop().map(|j| j.split_once(' ').map(|(d, b)| (d.to_owned(), b.to_owned())).unwrap()).unwrap();
    assert_eq!(delay, "301");
    f.clock.set(f.clock.now().plus(chrono::Duration::seconds(300)));
    assert_eq!(f.engine.sweep().await.unwrap().attempts, 1);
    assert!(f.queue.take().is_empty(), "30 minutes is beyond an SQS delay: the sweep runs it");
    f.clock.set(f.clock.now().plus(chrono::Duration::minutes(30)));
    let last = f.engine.sweep().await.unwrap();
    assert_eq!((last.attempts, last.succeeded), (1, 1));
}
