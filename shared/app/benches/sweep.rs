//! The SLA sweep over a due set among thousands of timers, on the memory
//! twin: 100 referrals' timers due at `now` among 5,000 that are not. Each
//! iteration sweeps a snapshot of the same store, so every run finds the
//! same 100 due and the store never grows with the iterations. Beside it,
//! its floor: the same 100 timers' domain step (the breach decided and its
//! event built), with no store around it.

// A benchmark's set-up failing should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use partnerops_app::sweep::sweep;
use partnerops_aws::MemoryStore;
use partnerops_aws::store::ports::Referrals as _;
use partnerops_domain::Timestamp;
use partnerops_domain::event::sla_events;
use partnerops_domain::id::{Entropy, EventId};
use partnerops_domain::sla::{SlaTimer, sweep_timer};
use partnerops_fixtures as fixtures;

const DUE: u128 = 100;
const NOT_DUE: u128 = 5_000;

fn bench_sweep(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let terms = fixtures::default_terms();
    let early = Timestamp::parse("2026-11-20T00:00:00Z").unwrap();
    let late = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
    // Swept a little after the early ones fell due, long before the late ones.
    let now = Timestamp::parse("2026-11-21T00:05:00Z").unwrap();
    let base = MemoryStore::new();
    runtime.block_on(async {
        for i in 0..DUE + NOT_DUE {
            let at = if i < DUE { early } else { late };
            let accepted = fixtures::accepted_referral("alpha", &format!("acme{i}.com"), at, i, &terms);
            base.record_accepted_referral(&accepted).await.unwrap();
        }
    });
    let swept = runtime.block_on(sweep(&base.snapshot(), now)).unwrap();
    // Each due timer breaches at once; its due-soon notice is folded into the breach.
    assert_eq!((swept.due, swept.signals, swept.changed), (DUE as usize, DUE as usize, DUE as usize), "{swept:?}");
    let due: Vec<SlaTimer> = base.timers().into_iter().filter(|t| t.started_at == early).collect();
    assert_eq!(due.len(), DUE as usize);

    let mut group = c.benchmark_group("sla_sweep");
    group.throughput(Throughput::Elements(DUE as u64));
    group.bench_function("floor: the 100 due timers' domain step (transitions and events)", |b| {
        b.iter(|| {
            due.iter()
                .filter_map(|timer| {
                    let (after, signals) = sweep_timer(timer, now)?;
                    Some(sla_events(&after, &signals, now, || EventId::generate(now, Entropy(42))))
                })
                .count()
        })
    });
    group.bench_function("sweep: 100 due among 5,100 timers (index read, writes with their events)", |b| {
        // The store is handed back, so dropping it is not timed.
        b.iter_batched(
            || base.snapshot(),
            |store| {
                let report = runtime.block_on(sweep(&store, now));
                (store, report)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_sweep);
criterion_main!(benches);
