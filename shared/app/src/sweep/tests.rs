use super::*;
use partnerops_aws::MemoryStore;
use partnerops_aws::outbox::OutboxItem;
use partnerops_aws::store::ports::*;
use partnerops_domain::id::{Entropy, ReferralId};
use partnerops_fixtures as fixtures;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

async fn store_with_referrals(n: u128) -> MemoryStore {
    let store = MemoryStore::new();
    let terms = fixtures::default_terms();
    let now = at("2026-11-22T00:00:00Z");
    for i in 0..n {
        let accepted = fixtures::accepted_referral("alpha", &format!("acme{i}.com"), now, i, &terms);
        store.record_accepted_referral(&accepted).await.unwrap();
    }
    store
}

fn types(outbox: &[OutboxItem]) -> Vec<String> {
    outbox.iter().map(|o| o.detail_type.clone()).filter(|t| t.starts_with("Sla")).collect()
}

#[tokio::test]
async fn each_signal_is_emitted_once_however_often_the_sweep_runs() {
    let store = store_with_referrals(3).await;
    assert_eq!(sweep(&store, at("2026-11-22T17:00:00Z")).await.unwrap().signals, 0);
    assert_eq!(sweep(&store, at("2026-11-22T18:00:00Z")).await.unwrap().signals, 3);
    assert_eq!(sweep(&store, at("2026-11-22T18:05:00Z")).await.unwrap().signals, 0);
    assert_eq!(sweep(&store, at("2026-11-23T00:00:00Z")).await.unwrap().signals, 0, "due exactly now is not breached");
    assert_eq!(sweep(&store, at("2026-11-23T00:05:00Z")).await.unwrap().signals, 3);
    assert_eq!(sweep(&store, at("2026-11-24T00:05:00Z")).await.unwrap().signals, 3);
    let last = sweep(&store, at("2026-12-24T00:00:00Z")).await.unwrap();
    assert_eq!((last.signals, last.due), (0, 0), "escalated timers leave the index");
    let signalled = types(&store.outbox());
    assert_eq!(signalled.iter().filter(|t| *t == "SlaDueSoon").count(), 3);
    assert_eq!(signalled.iter().filter(|t| *t == "SlaBreached").count(), 3);
    assert_eq!(signalled.iter().filter(|t| *t == "SlaEscalated").count(), 3);
}

#[tokio::test]
async fn swept_timers_show_on_their_subject() {
    let store = store_with_referrals(1).await;
    sweep(&store, at("2026-11-23T01:00:00Z")).await.unwrap();
    let id = ReferralId::generate(at("2026-11-22T00:00:00Z"), Entropy(0));
    let record = store.referral(&id).await.unwrap().unwrap();
    assert_eq!(record.slas[0].status, partnerops_domain::sla::SlaStatus::Breached);
    assert_eq!(record.slas[0].breached_at, Some(at("2026-11-23T01:00:00Z")));
}

#[tokio::test]
async fn the_outbox_keeps_each_event_as_its_detail_says() {
    let store = store_with_referrals(2).await;
    sweep(&store, at("2026-11-22T19:00:00Z")).await.unwrap();
    sweep(&store, at("2026-11-23T01:00:00Z")).await.unwrap();
    let outbox = store.outbox();
    assert!(outbox.len() >= 6, "{outbox:?}");
    for item in outbox {
        let detail: serde_json::Value = serde_json::from_str(&item.detail).unwrap();
        let event = partnerops_domain::event::DomainEvent::from_detail(&item.detail_type, detail.clone()).unwrap();
        assert_eq!(detail, event.detail(), "{}", item.detail_type);
        assert_eq!(item.detail, event.detail_json());
    }
}
