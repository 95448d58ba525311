//! The in-process cost of folding one event into the aggregates, on the
//! memory twin: a duplicate delivery (the subject read, its facts computed
//! and found current), and a change (one record's fact replaced and its
//! difference added to its day items). The floor beside them is the pure
//! part alone: the same record's fact computed. The change alternates one
//! timer between two states, so the store holds the same items throughout.

// Benchmark set-up may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use partnerops_aws::MemoryStore;
use partnerops_aws::store::ports::{Partners as _, Referrals as _, ReportTallies as _};
use partnerops_domain::Timestamp;
use partnerops_domain::event::DomainEvent;
use partnerops_domain::report::Fact;
use partnerops_domain::sla::sweep_timer;
use partnerops_fixtures as fixtures;
use reports::Reports;
use std::hint::black_box;
use std::sync::Arc;

fn fold(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let now = Timestamp::parse("2026-11-02T09:00:00Z").unwrap();
    let store = Arc::new(MemoryStore::new());
    let event = runtime.block_on(async {
        store.create_partner(&fixtures::partner("alpha", None, now)).await.unwrap();
        let accepted = fixtures::accepted_referral("alpha", "acme.com", now, 1, &fixtures::default_terms());
        store.record_accepted_referral(&accepted).await.unwrap();
        let item = store.outbox().remove(0);
        DomainEvent::from_detail(&item.detail_type, serde_json::from_str(&item.detail).unwrap()).unwrap()
    });
    let engine = Reports { store: store.clone() };
    runtime.block_on(engine.fold(&event)).unwrap();
    let timer = store.timers().remove(0);
    let open = Fact::of_timer(&timer, None);
    let breached =
        Fact::of_timer(&sweep_timer(&timer, Timestamp::parse("2026-11-05T10:00:00Z").unwrap()).unwrap().0, None);

    let mut group = c.benchmark_group("report_fold");
    group.bench_function("floor: one timer's fact", |b| b.iter(|| black_box(Fact::of_timer(black_box(&timer), None))));
    group.bench_function("duplicate delivery: read, compare, no write", |b| {
        b.iter(|| runtime.block_on(engine.fold(black_box(&event))).unwrap())
    });
    let mut state = false;
    group.bench_function("change: one fact replaced, its day items moved", |b| {
        b.iter(|| {
            let (before, after) = if state { (&breached, &open) } else { (&open, &breached) };
            state = !state;
            runtime.block_on(store.replace_fact(Some(before), after)).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, fold);
criterion_main!(benches);
