//! The in-process cost of folding one event into the aggregates, on the
//! memory twin: a duplicate delivery (the subject read, its facts computed
//! and found current), and a fold that changes something (the same, then
//! one record's fact replaced and its difference added to its day items).
//! The floor beside them is the pure part alone: the same record's fact
//! computed. Before each changing fold the stored fact is put back one
//! revision behind the record, so every fold finds the same one change and
//! the store holds the same items throughout.

// Benchmark set-up may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use partnerops_aws::MemoryStore;
use partnerops_aws::store::ports::{Partners as _, Referrals as _, ReportTallies as _, SlaTimers as _};
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
    // The record moves on (breached), and its fact follows with a fold.
    let breached = sweep_timer(&timer, Timestamp::parse("2026-11-05T10:00:00Z").unwrap()).unwrap().0;
    runtime.block_on(store.record_sweep(&timer, &breached, &[])).unwrap();
    runtime.block_on(engine.fold(&event)).unwrap();
    let current = Fact::of_timer(&breached, None);
    assert_eq!(runtime.block_on(store.report_facts(&current.subject)).unwrap(), vec![current.clone()]);

    let mut group = c.benchmark_group("report_fold");
    group.bench_function("floor: one timer's fact", |b| b.iter(|| black_box(Fact::of_timer(black_box(&timer), None))));
    // Counted in the timed closures, checked once the timing is done.
    let failed = std::sync::atomic::AtomicU64::new(0);
    let fold_counted = || {
        if runtime.block_on(engine.fold(black_box(&event))).is_err() {
            failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    };
    group.bench_function("duplicate delivery: read, compare, no write", |b| b.iter(fold_counted));
    group.bench_function("change: read, compare, one fact replaced, its day items moved", |b| {
        b.iter_batched(
            // Untimed: the stored fact one revision behind the record again.
            || runtime.block_on(store.replace_fact(Some(&current), &open)).unwrap(),
            |()| fold_counted(),
            // Each reset must follow the fold before it, so one at a time.
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
    assert_eq!(failed.into_inner(), 0, "some timed folds failed");
    // Each changing fold replaced exactly the one fact.
    assert_eq!(runtime.block_on(store.report_facts(&current.subject)).unwrap(), vec![current]);
}

criterion_group!(benches, fold);
criterion_main!(benches);
