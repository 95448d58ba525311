//! The sweep's cost per due timer, in process: the domain step (decide the
//! timer's transitions and build its events), without I/O.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use partnerops_domain::Timestamp;
use partnerops_domain::event::sla_events;
use partnerops_domain::id::{Entropy, EventId};
use partnerops_domain::partner::PartnerId;
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::sla::{SlaKind, SlaSubject, SlaTimer, sweep_timer};

fn bench_sweep_step(c: &mut Criterion) {
    let Ok(start) = Timestamp::parse("2026-11-22T00:00:00Z") else { return };
    let Ok(now) = Timestamp::parse("2026-11-23T00:05:00Z") else { return };
    let Ok(partner) = PartnerId::parse("acme-consulting") else { return };
    let timers: Vec<SlaTimer> = (0..1000)
        .map(|i| {
            SlaTimer::start(
                SlaSubject::Referral(format!("ref_{i:026}")),
                SlaKind::OpportunityCreation,
                "0",
                partner.clone(),
                ProspectKey::from_stored(format!("acme{i}.com")),
                start,
                24,
            )
        })
        .collect();
    c.bench_function("sweep step per due timer (breach + event)", |b| {
        b.iter_batched(
            || timers[7].clone(),
            |timer| {
                let (after, signals) = sweep_timer(&timer, now)?;
                let events = sla_events(&after, &signals, now, || EventId::generate(now, Entropy(42)));
                Some((after, events))
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench_sweep_step);
criterion_main!(benches);
