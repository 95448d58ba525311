use super::*;
use async_trait::async_trait;
use partnerops_aws::{FixedClock, MemoryStore};
use partnerops_domain::Timestamp;
use partnerops_domain::event::{EventPayload, SlaSignalled};
use partnerops_domain::id::{Entropy, EventId};
use partnerops_domain::partner::{PartnerDraft, PartnerId, new_partner};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::sla::{SlaKind, SlaSubject, SlaTimer};
use std::collections::VecDeque;
use std::sync::Mutex;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// Records what it sends; answers from a script, then `Ok`.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<Result<(), SendError>>>,
    sent: Mutex<Vec<Notification>>,
}

impl Scripted {
    fn answering(answers: Vec<Result<(), SendError>>) -> Arc<Self> {
        Arc::new(Self { answers: Mutex::new(answers.into()), sent: Mutex::default() })
    }
    fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let answer = self.answers.lock().unwrap().pop_front().unwrap_or(Ok(()));
        if answer.is_ok() {
            self.sent.lock().unwrap().push(notification.clone());
        }
        answer
    }
}

#[derive(Default)]
struct Queue {
    delays: Mutex<Vec<(String, u32)>>,
    dead: Mutex<Vec<String>>,
}

#[async_trait]
impl QueueControl for Queue {
    async fn delay(&self, receipt_handle: &str, seconds: u32) -> anyhow::Result<()> {
        self.delays.lock().unwrap().push((receipt_handle.to_owned(), seconds));
        Ok(())
    }
    async fn dead_letter(&self, _body: &str, reason: &str) -> anyhow::Result<()> {
        self.dead.lock().unwrap().push(reason.to_owned());
        Ok(())
    }
}

struct Rig {
    notifier: Notifier,
    slack: Arc<Scripted>,
    email: Arc<Scripted>,
    queue: Arc<Queue>,
}

async fn rig(slack_answers: Vec<Result<(), SendError>>) -> Rig {
    let store = Arc::new(MemoryStore::default());
    let draft = PartnerDraft {
        id: Some("acme".into()),
        name: Some("Acme Consulting".into()),
        tier: Some("gold".into()),
        motions: None,
        manager: None,
        contact_email: None,
    };
    store.create_partner(&new_partner(draft, at("2026-11-01T00:00:00Z")).unwrap()).await.unwrap();
    let slack = Scripted::answering(slack_answers);
    let email = Scripted::answering(vec![]);
    let queue = Arc::new(Queue::default());
    let terms = ProgramTerms::from_toml(include_str!("../../../infra/program.toml")).unwrap();
    let notifier = Notifier {
        store,
        terms: Arc::new(terms),
        clock: Arc::new(FixedClock::new(at("2026-11-23T11:00:00Z"))),
        transports: Transports { slack: Some(slack.clone()), email: email.clone() },
        queue: queue.clone(),
        retry_base_seconds: 30,
        decisions: None,
    };
    Rig { notifier, slack, email, queue }
}

fn breach_body(entropy: u128) -> String {
    let timer = SlaTimer::start(
        SlaSubject::Referral("ref_01JD0000000000000000000000".into()),
        SlaKind::OpportunityCreation,
        "0",
        PartnerId::parse("acme").unwrap(),
        ProspectKey::from_stored("globex.com".into()),
        at("2026-11-22T10:00:00Z"),
        24,
    )
    .named("Globex");
    let now = at("2026-11-23T11:00:00Z");
    let event = DomainEvent::new(
        EventId::generate(now, Entropy(entropy)),
        now,
        EventPayload::SlaBreached(SlaSignalled::new(&timer, now)),
    );
    serde_json::json!({
        "version": "0", "id": "x", "source": "partnerops", "detail-type": event.detail_type(),
        "time": "2026-11-23T11:00:00Z", "detail": event.detail()
    })
    .to_string()
}

fn record(id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.into());
    message.receipt_handle = Some(format!("rh-{id}"));
    message.body = Some(body.into());
    message.attributes.insert("ApproximateReceiveCount".into(), receive_count.to_string());
    message
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

#[tokio::test]
async fn a_breach_goes_to_slack_and_one_email_and_a_duplicate_sends_nothing() {
    let rig = rig(vec![]).await;
    let body = breach_body(1);
    assert_eq!(rig.notifier.handle(&body, 1).await, Outcome::Delivered { sent: 2, already_sent: 0 });
    assert_eq!(rig.notifier.handle(&body, 1).await, Outcome::Delivered { sent: 0, already_sent: 2 });
    assert_eq!((rig.slack.count(), rig.email.count()), (1, 1));
    let email = rig.email.sent.lock().unwrap()[0].clone();
    assert_eq!(email.to, "partner-ops@example.com");
    assert!(email.text.contains("Acme Consulting") && email.text.contains("globex.com"));
}

#[tokio::test]
async fn concurrent_duplicates_send_once() {
    let rig = rig(vec![]).await;
    let body = breach_body(2);
    let runs = futures::future::join_all((0..8).map(|_| rig.notifier.handle(&body, 1))).await;
    assert_eq!((rig.slack.count(), rig.email.count()), (1, 1), "{runs:?}");
}

#[tokio::test]
async fn slack_429_waits_its_retry_after_and_sends_only_what_is_left() {
    let rig = rig(vec![Err(SendError::RetryAfter(7, "429".into()))]).await;
    let body = breach_body(3);
    let (response, report) = rig.notifier.handle_batch(batch(vec![record("m1", &body, 1)])).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(report.retried, 1);
    assert_eq!(*rig.queue.delays.lock().unwrap(), vec![("rh-m1".to_owned(), 7)]);
    assert_eq!((rig.slack.count(), rig.email.count()), (0, 1));
    // The redelivery sends the Slack message, and the email not again.
    assert_eq!(rig.notifier.handle(&body, 2).await, Outcome::Delivered { sent: 1, already_sent: 1 });
    assert_eq!((rig.slack.count(), rig.email.count()), (1, 1));
}

#[tokio::test]
async fn a_permanent_failure_goes_to_the_dlq_without_failing_the_batch() {
    let rig = rig(vec![Err(SendError::Permanent("Slack answered 404: no_service".into()))]).await;
    let good = breach_body(5);
    let records = vec![record("bad", &breach_body(4), 1), record("junk", "{not json", 1), record("good", &good, 1)];
    let (response, report) = rig.notifier.handle_batch(batch(records)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(report.dead_lettered, 2);
    let dead = rig.queue.dead.lock().unwrap().clone();
    assert!(dead.iter().any(|r| r.contains("404: no_service")), "{dead:?}");
    assert!(dead.iter().any(|r| r.contains("not an EventBridge event")), "{dead:?}");
    // The other message of the batch went out: one Slack post, and both emails.
    assert_eq!((rig.slack.count(), rig.email.count()), (1, 2));
}

#[tokio::test]
async fn transient_failures_back_off_exponentially_and_are_released() {
    let rig = rig(vec![Err(SendError::Transient("503".into())), Err(SendError::Transient("503".into()))]).await;
    let body = breach_body(6);
    assert!(matches!(rig.notifier.handle(&body, 1).await, Outcome::Retry { after_seconds: 30, .. }));
    assert!(matches!(rig.notifier.handle(&body, 3).await, Outcome::Retry { after_seconds: 120, .. }));
    assert_eq!(rig.notifier.backoff(40), MAX_DELAY_SECONDS);
    assert_eq!(rig.notifier.handle(&body, 4).await, Outcome::Delivered { sent: 1, already_sent: 1 });
}

#[tokio::test]
async fn without_a_webhook_only_email_is_sent() {
    let mut rig = rig(vec![]).await;
    rig.notifier.transports.slack = None;
    assert_eq!(rig.notifier.handle(&breach_body(7), 1).await, Outcome::Delivered { sent: 1, already_sent: 0 });
}
