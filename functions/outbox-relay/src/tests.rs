use super::*;
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Mutex;

fn at() -> Timestamp {
    Timestamp::parse("2026-11-22T00:00:00Z").unwrap()
}

fn item(n: usize) -> StreamedOutboxItem {
    StreamedOutboxItem {
        sequence_number: format!("{n:05}"),
        item: OutboxItem {
            pk: format!("OUTBOX#evt_{n}"),
            sk: "OUTBOX".into(),
            entity: "outbox".into(),
            event_id: format!("evt_{n}"),
            detail_type: "ReferralReceived".into(),
            detail: "{}".into(),
            occurred_at: at(),
            published_at: None,
            ttl: 0,
        },
    }
}

/// A bus that refuses the listed events a number of times each.
#[derive(Default)]
struct FlakyBus {
    refuse: Mutex<Vec<(String, u32)>>,
    calls: Mutex<Vec<usize>>,
    accepted: Mutex<Vec<String>>,
}

#[async_trait]
impl EventPublisher for FlakyBus {
    async fn publish(&self, events: &[OutboundEvent]) -> anyhow::Result<Vec<bool>> {
        assert!(events.len() <= MAX_ENTRIES_PER_PUT);
        self.calls.lock().unwrap().push(events.len());
        let mut refuse = self.refuse.lock().unwrap();
        Ok(events
            .iter()
            .map(|e| match refuse.iter_mut().find(|(id, left)| id == &e.event_id && *left > 0) {
                Some((_, left)) => {
                    *left -= 1;
                    false
                }
                None => {
                    self.accepted.lock().unwrap().push(e.event_id.clone());
                    true
                }
            })
            .collect())
    }
}

#[derive(Default)]
struct MemoryLedger(Mutex<HashSet<String>>);

#[async_trait]
impl OutboxLedger for MemoryLedger {
    async fn published(&self, ids: &[String]) -> anyhow::Result<HashSet<String>> {
        let done = self.0.lock().unwrap();
        Ok(ids.iter().filter(|i| done.contains(*i)).cloned().collect())
    }

    async fn mark_published(&self, items: &[OutboxItem], _at: Timestamp) -> anyhow::Result<()> {
        self.0.lock().unwrap().extend(items.iter().map(|i| i.event_id.clone()));
        Ok(())
    }
}

#[tokio::test]
async fn publishes_in_calls_of_at_most_ten() {
    let bus = FlakyBus::default();
    let ledger = MemoryLedger::default();
    let report = relay((0..23).map(item).collect(), &bus, &ledger, at()).await;
    assert_eq!(report.published, 23);
    assert_eq!(*bus.calls.lock().unwrap(), vec![10, 10, 3]);
    assert!(report.failed.is_empty());
}

#[tokio::test]
async fn resends_only_refused_entries() {
    let bus = FlakyBus { refuse: Mutex::new(vec![("evt_3".into(), 2)]), ..Default::default() };
    let ledger = MemoryLedger::default();
    let report = relay((0..5).map(item).collect(), &bus, &ledger, at()).await;
    assert_eq!(report.published, 5);
    assert_eq!(*bus.calls.lock().unwrap(), vec![5, 1, 1]);
    assert_eq!(bus.accepted.lock().unwrap().iter().filter(|id| *id == "evt_3").count(), 1);
}

#[tokio::test]
async fn persistent_refusals_are_reported_as_batch_item_failures() {
    let bus = FlakyBus { refuse: Mutex::new(vec![("evt_1".into(), 99)]), ..Default::default() };
    let ledger = MemoryLedger::default();
    let report = relay((0..3).map(item).collect(), &bus, &ledger, at()).await;
    assert_eq!(report.failed, vec!["00001".to_owned()]);
    assert_eq!(report.published, 2);
    let response = batch_response(&report);
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier.as_deref(), Some("00001"));
}

#[tokio::test]
async fn a_redelivered_batch_publishes_nothing_twice() {
    let bus = FlakyBus::default();
    let ledger = MemoryLedger::default();
    relay((0..4).map(item).collect(), &bus, &ledger, at()).await;
    let again = relay((0..4).map(item).collect(), &bus, &ledger, at()).await;
    assert_eq!(again.already_published, 4);
    assert_eq!(again.published, 0);
    assert_eq!(bus.accepted.lock().unwrap().len(), 4);
}

#[test]
fn only_outbox_inserts_are_relayed() {
    let event: Event = serde_json::from_str(include_str!("../../../infra/events/outbox-stream.json")).unwrap();
    let (items, undecodable) = outbox_items(event);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item.event_id, "evt_01kaqz8m2r0000000000000000");
    assert_eq!(items[0].sequence_number, "111");
    assert!(undecodable.is_empty());
}
