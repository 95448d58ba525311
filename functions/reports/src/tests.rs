// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use partnerops_aws::MemoryStore;
use partnerops_aws::store::ReportKind;
use partnerops_aws::store::ports::SlaTimers as _;
use partnerops_domain::Timestamp;
use partnerops_domain::id::{Entropy, EventId};
use partnerops_domain::report::{DayRange, SlaRow, sla_rows};
use partnerops_domain::sla::sweep_timer;
use partnerops_fixtures as fixtures;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn events(store: &MemoryStore) -> Vec<DomainEvent> {
    store
        .outbox()
        .iter()
        .map(|o| DomainEvent::from_detail(&o.detail_type, serde_json::from_str(&o.detail).unwrap()).unwrap())
        .collect()
}

/// One referral from `alpha` (managed by Mia) received at `now`.
async fn referred(now: Timestamp) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    store.create_partner(&fixtures::partner("alpha", Some("Mia@Vendor.example"), now)).await.unwrap();
    let accepted = fixtures::accepted_referral("alpha", "acme.com", now, 1, &fixtures::default_terms());
    store.record_accepted_referral(&accepted).await.unwrap();
    store
}

async fn sla_report(store: &MemoryStore, grouping: &str, from: &str, to: &str) -> Vec<SlaRow> {
    let range = DayRange::parse(Some(from), Some(to)).unwrap();
    sla_rows(store.report_days(ReportKind::Sla, grouping, &range).await.unwrap().sla())
}

/// Sweeps every timer of the store at `now`, as sla-sweep would.
async fn sweep(store: &MemoryStore, now: Timestamp) {
    for timer in store.timers() {
        if let Some((after, signals)) = sweep_timer(&timer, now) {
            let mut n = 100;
            let events = partnerops_domain::event::sla_events(&after, &signals, now, || {
                n += 1;
                EventId::generate(now, Entropy(n))
            });
            store.record_sweep(&timer, &after, &events).await.unwrap();
        }
    }
}

#[tokio::test]
async fn an_event_delivered_twice_counts_once() {
    let store = referred(at("2026-11-02T09:00:00Z")).await;
    let reports = Reports { store: store.clone() };
    let received = events(&store).remove(0);
    assert_eq!(reports.fold(&received).await.unwrap(), Folded { subjects: 1, replaced: 1 });
    assert_eq!(reports.fold(&received).await.unwrap(), Folded { subjects: 1, replaced: 0 });
    let rows = sla_report(&store, "kind", "2026-11-03", "2026-11-03").await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].key.as_str(), rows[0].timers, rows[0].open), ("opportunity_creation", 1, 1));
    let by_manager = sla_report(&store, "manager", "2026-11-01", "2026-11-30").await;
    assert_eq!(by_manager[0].key, "mia@vendor.example");
}

#[tokio::test]
async fn a_late_breach_lands_on_the_day_the_timer_fell_due() {
    let store = referred(at("2026-11-02T09:00:00Z")).await;
    let reports = Reports { store: store.clone() };
    for event in events(&store) {
        reports.fold(&event).await.unwrap();
    }
    // Breached two days after its due day.
    sweep(&store, at("2026-11-05T10:00:00Z")).await;
    let all = events(&store);
    let breach = all.iter().find(|e| e.detail_type() == "SlaBreached").unwrap();
    reports.fold(breach).await.unwrap();
    // An old event arriving last changes nothing: the record is read as it is now.
    reports.fold(&all[0]).await.unwrap();
    let due_day = sla_report(&store, "partner", "2026-11-03", "2026-11-03").await;
    assert_eq!((due_day[0].timers, due_day[0].breached, due_day[0].open), (1, 1, 0));
    assert_eq!(due_day[0].on_time_rate_bps, Some(0));
    assert!(sla_report(&store, "partner", "2026-11-04", "2026-11-30").await.is_empty());
}

#[tokio::test]
async fn an_older_read_never_replaces_a_newer_fact() {
    let store = referred(at("2026-11-02T09:00:00Z")).await;
    let reports = Reports { store: store.clone() };
    let timer = store.timers().remove(0);
    let newer = Fact::of_timer(&sweep_timer(&timer, at("2026-11-05T10:00:00Z")).unwrap().0, None);
    store.replace_fact(None, &newer).await.unwrap();
    let older = Fact::of_timer(&timer, None);
    assert!(!older.replaces(Some(&newer)));
    assert!(matches!(store.replace_fact(None, &older).await, Err(StoreError::Conflict(_))));
    reports.refresh(&timer.subject).await.unwrap();
    let rows = sla_report(&store, "kind", "2026-11-03", "2026-11-03").await;
    assert_eq!(rows[0].breached, 1, "the stored timer is still open, but the newer fact stands");
}
