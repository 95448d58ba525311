//! The server's cost of the referral list with 100 referrals: building the
//! page from the records and rendering its HTML, beside the floor of
//! serializing the same records as the JSON API's list body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use askama::Template;
use criterion::{Criterion, criterion_group, criterion_main};
use partnerops_aws::store::ReferralRecord;
use portal::referral_list;
use portal::view::Layout;
use serde_json::json;
use std::hint::black_box;

fn records() -> Vec<ReferralRecord> {
    (0..100)
        .map(|n| {
            let value = json!({
                "id": format!("ref_01kaqz8m2r5v3x9q7w2e4t{n:04}"),
                "partner_id": "acme-consulting",
                "company": { "name": format!("Company <{n}> & Sons"), "domain": format!("company{n}.com") },
                "prospect_key": format!("company{n}.com"),
                "contact": { "name": "Jane Doe", "email": "jane@example.com", "title": "CFO" },
                "motion": "referral",
                "status": "received",
                "created_at": "2026-11-22T10:00:00.000Z",
                "updated_at": "2026-11-22T10:00:00.000Z",
                "slas": [{ "kind": "opportunity_creation", "due_at": "2026-11-23T10:00:00.000Z", "status": "open",
                           "met_at": null, "breached_at": null }],
            });
            serde_json::from_value(value).unwrap()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let records = records();
    let mut group = c.benchmark_group("referral_list_100");
    group.bench_function("html_page", |b| {
        b.iter(|| {
            let layout = Layout { title: "Referrals".into(), ..Layout::default() };
            let page = referral_list(layout, black_box(&records), None, Some("cursor"));
            black_box(page.render().unwrap())
        })
    });
    group.bench_function("floor_json_list", |b| {
        b.iter(|| {
            black_box(serde_json::to_string(&json!({ "items": black_box(&records), "next_cursor": "cursor" })).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
