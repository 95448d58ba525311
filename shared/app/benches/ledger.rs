//! The cost of one payout line: reconciling a won deal's ledger after its
//! close (rate lookup, the i128 formula, the deterministic line id) into
//! its earned line, in process.

// A benchmark's set-up failing should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use partnerops_domain::Timestamp;
use partnerops_domain::crm::Attribution;
use partnerops_domain::event::DealClosed;
use partnerops_domain::money::{Currency, Money};
use partnerops_domain::partner::{Motion, PartnerId, Tier};
use partnerops_domain::payout::{DealLedger, PartnerAtClose, line_amount, reconcile, record_close};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::terms::{AttributionRole, ProgramTerms};
use std::collections::BTreeMap;

fn bench_line(c: &mut Criterion) {
    let terms = ProgramTerms::from_toml(include_str!("../../../infra/program.toml")).unwrap();
    let at = Timestamp::parse("2026-11-25T12:00:00Z").unwrap();
    let partner = PartnerId::parse("acme-consulting").unwrap();
    let close = DealClosed {
        opportunity_id: "006-GLOBEX".into(),
        referral_id: None,
        deal_registration_id: None,
        partner_id: None,
        prospect_key: ProspectKey::from_stored("globex.com".into()),
        motion: Motion::CoSell,
        amount: Money::from_minor(10_000_000, Currency::parse("USD").unwrap()),
        closed_at: at,
        attribution: vec![Attribution { partner_id: partner.clone(), role: AttributionRole::Sourced, share_bps: 6000 }],
    };
    let partners = BTreeMap::from([(partner, PartnerAtClose { name: "Acme Consulting".into(), tier: Tier::Gold })]);
    let ledger = record_close(&DealLedger::default(), &close, at, partners);
    assert_eq!(reconcile(&ledger, &[], &terms).len(), 1, "the close earns one line");
    let mut group = c.benchmark_group("payout_ledger");
    group.bench_function("floor: the amount formula alone (i128, half-even, cap)", |b| {
        b.iter(|| line_amount(std::hint::black_box(10_000_000), 6000, 500, 11_000, 50_000, Some(2_500_000)))
    });
    group.bench_function("a close reconciled into its earned line (rate lookup, formula, line id)", |b| {
        b.iter(|| reconcile(std::hint::black_box(&ledger), &[], &terms))
    });
    group.finish();
}

criterion_group!(benches, bench_line);
criterion_main!(benches);
