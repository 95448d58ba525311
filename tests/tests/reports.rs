//! End-to-end: the reports (SPEC §19), kept from the domain events through
//! the dev stack's rules and reports queue, read through its routes.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_e2e::{TestStack, referral};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn crm_event(id: &str, kind: &str, occurred_at: &str, extra: Value) -> Value {
    let mut body = json!({ "event_id": id, "type": kind, "occurred_at": occurred_at, "opportunity_id": "006-GLOBEX" });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn both_reports_follow_the_events_and_answer_json_and_csv() {
    let t = TestStack::start().await;
    t.set_clock("2026-11-02T09:00:00Z").await;
    let alpha = t.partner("alpha", "gold").await;
    t.partner("beta", "silver").await;
    let crm = t.key("crm", None).await;
    let manager = t.key("channel_manager", None).await;
    let met = t.post("/v1/referrals", &alpha, referral("globex.com")).await.body["id"].as_str().unwrap().to_owned();
    t.post("/v1/referrals", &alpha, referral("initech.com")).await;

    // One referral's opportunity three hours in; the other is never linked.
    t.set_clock("2026-11-02T12:00:00Z").await;
    let created = crm_event(
        "e-created",
        "opportunity.created",
        "2026-11-02T12:00:00Z",
        json!({ "referral_id": met, "name": "Globex", "amount": { "amount": "50000.00", "currency": "USD" },
                "owner_email": "ae@vendor.example" }),
    );
    assert_eq!(t.post("/v1/crm/events", &crm, created).await.status, StatusCode::OK);
    t.tick().await;
    // The breach is found a day after the due day, one window late, so it is
    // escalated in the same sweep: both still count on the due day.
    t.set_clock("2026-11-04T10:00:00Z").await;
    t.tick().await;
    t.set_clock("2026-11-06T12:00:00Z").await;
    let won = crm_event(
        "e-won",
        "opportunity.closed",
        "2026-11-06T12:00:00Z",
        json!({ "outcome": "won", "amount": { "amount": "50000.01", "currency": "USD" }, "closed_at": "2026-11-06T12:00:00Z",
                "attribution": [{ "partner_id": "alpha", "role": "sourced", "share_bps": 7000 },
                                { "partner_id": "beta", "role": "influenced", "share_bps": 3000 }] }),
    );
    assert_eq!(t.post("/v1/crm/events", &crm, won).await.status, StatusCode::OK);
    t.tick().await;

    let slas = t.get("/v1/reports/slas?from=2026-11-03&to=2026-11-03&group_by=kind", &manager).await;
    assert_eq!(slas.status, StatusCode::OK, "{:?}", slas.body);
    assert_eq!(
        slas.body,
        json!({ "from": "2026-11-03", "to": "2026-11-03", "group_by": "kind", "rows": [{
            "key": "opportunity_creation", "timers": 2, "met_on_time": 1, "breached": 1, "open": 0, "escalated": 1,
            "on_time_rate_bps": 5000, "median_minutes_to_meet": 180 }] })
    );
    let by_manager = t.get("/v1/reports/slas?from=2026-11-01&to=2026-11-30&group_by=manager", &manager).await;
    assert_eq!(by_manager.body["rows"][0]["key"], "unassigned");

    let finance = t.key("finance", None).await;
    let pipeline = t.get("/v1/reports/pipeline?from=2026-11-01&to=2026-11-30&group_by=motion", &finance).await;
    assert_eq!(pipeline.status, StatusCode::OK, "{:?}", pipeline.body);
    let row = &pipeline.body["rows"][0];
    assert_eq!(row["key"], "referral");
    // 50000.01 × 70% = 35000.007 → 35000.01; × 30% = 15000.003 → 15000.00 (half-even, in cents).
    assert_eq!(
        row["sourced"],
        json!({ "opportunities": 1, "amount": [{ "amount": "35000.01", "currency": "USD" }], "won": 1,
                "won_amount": [{ "amount": "35000.01", "currency": "USD" }], "lost": 0, "win_rate_bps": 10000,
                "median_days_to_close": 4.0 })
    );
    assert_eq!(row["influenced"]["won_amount"], json!([{ "amount": "15000.00", "currency": "USD" }]));
    let by_partner = t.get("/v1/reports/pipeline?from=2026-11-01&to=2026-11-30&group_by=partner", &finance).await;
    let keys: Vec<&str> =
        by_partner.body["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["alpha", "beta"]);

    let csv = t
        .http
        .get(format!("{}/v1/reports/slas?from=2026-11-03&to=2026-11-03&group_by=kind", t.stack.url))
        .bearer_auth(&manager)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.text().await.unwrap(),
        "key,timers,met_on_time,breached,open,escalated,on_time_rate_bps,median_minutes_to_meet\r\n\
         opportunity_creation,2,1,1,0,1,5000,180\r\n"
    );

    assert_eq!(
        t.get("/v1/reports/slas?from=2026-11-01&to=2026-11-30&group_by=kind", &alpha).await.status,
        StatusCode::FORBIDDEN
    );
    let bad = t.get("/v1/reports/pipeline?from=2026-11-30&to=2026-11-01&group_by=manager", &manager).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["to", "group_by"]);
    let missing = t.get("/v1/reports/slas?to=2027-12-31", &manager).await;
    assert_eq!(missing.error_fields(), ["from", "group_by"]);
    let long = t.get("/v1/reports/slas?from=2026-01-01&to=2027-01-03&group_by=kind", &manager).await;
    assert_eq!(long.error_fields(), ["to"], "367 days apart");
}

/// Facts for `timers` timers and `opportunities` opportunities spread over
/// 2026, numbered from `first` so a second call adds new records on the same
/// days and keys.
async fn seed(store: &partnerops_aws::DynamoStore, first: usize, timers: usize, opportunities: usize) {
    use partnerops_aws::store::ports::ReportTallies as _;
    use partnerops_domain::Timestamp;
    use partnerops_domain::attribution::Attribution;
    use partnerops_domain::crm::{Opportunity, OpportunityStatus};
    use partnerops_domain::money::{Currency, Money};
    use partnerops_domain::partner::{Motion, PartnerId};
    use partnerops_domain::prospect::ProspectKey;
    use partnerops_domain::report::Fact;
    use partnerops_domain::sla::{SlaKind, SlaSubject, SlaTimer};
    use partnerops_domain::terms::AttributionRole;
    let start = Timestamp::parse("2026-01-01T06:00:00Z").unwrap();
    let kinds =
        [SlaKind::OpportunityCreation, SlaKind::RegistrationDecision, SlaKind::NotesUpdate, SlaKind::PartnerFollowUp];
    let partner = |i: usize| PartnerId::parse(&format!("p{}", i % 8)).unwrap();
    let mut facts = Vec::new();
    for i in first..first + timers {
        let (id, i) = (i, i - first);
        let started = start.plus(chrono::Duration::hours((i % 365 * 24) as i64));
        let timer = SlaTimer::start(
            SlaSubject::Referral(format!("ref_{id}")),
            kinds[i % 4],
            "0",
            partner(i),
            ProspectKey::from_stored(format!("c{i}.com")),
            started,
            24,
        );
        let timer = match i % 3 {
            0 => timer.meet(started.plus(chrono::Duration::minutes((i % 1400) as i64))).unwrap(),
            1 => partnerops_domain::sla::sweep_timer(&timer, started.plus(chrono::Duration::hours(30))).unwrap().0,
            _ => timer,
        };
        let manager = ["mia@vendor.example", "raj@vendor.example"].get(i % 3).copied();
        facts.push(Fact::of_timer(&timer, manager));
    }
    let currencies = ["USD", "EUR", "JPY"].map(|c| Currency::parse(c).unwrap());
    for i in first..first + opportunities {
        let (id, i) = (i, i - first);
        let opened = start.plus(chrono::Duration::hours((i % 365 * 24) as i64));
        let status = [OpportunityStatus::Open, OpportunityStatus::Won, OpportunityStatus::Lost][i % 3];
        let opportunity = Opportunity {
            id: format!("006-{id}"),
            name: format!("Company {i}"),
            amount: Money::from_minor(100_001 + i as i64, currencies[i % 3]),
            owner_email: "ae@vendor.example".into(),
            referral_id: None,
            deal_registration_id: None,
            partner_id: partner(i),
            prospect_key: ProspectKey::from_stored(format!("c{i}.com")),
            motion: [Motion::Referral, Motion::Resell, Motion::CoSell][i % 3],
            attribution: vec![
                Attribution { partner_id: partner(i), role: AttributionRole::Sourced, share_bps: 7_000 },
                Attribution { partner_id: partner(i + 1), role: AttributionRole::Influenced, share_bps: 3_000 },
            ],
            status,
            closed_at: (status != OpportunityStatus::Open).then(|| opened.plus(chrono::Duration::hours(90))),
            refunded_minor: 0,
            last_notes_at: opened,
            notes_seq: 1,
            created_at: opened,
            updated_at: opened,
            opened_at: Some(opened),
            rev: 0,
        };
        facts.push(Fact::of_opportunity(&opportunity));
    }
    for chunk in facts.chunks(16) {
        let written = futures::future::join_all(chunk.iter().map(|f| store.replace_fact(None, f))).await;
        assert!(written.iter().all(Result::is_ok), "{written:?}");
    }
}

/// What a 365-day report of each grouping read: (items, queries, ms).
async fn year_reads(store: &partnerops_aws::DynamoStore) -> Vec<(String, usize, usize, u128)> {
    use partnerops_aws::store::ReportKind;
    use partnerops_aws::store::ports::ReportTallies as _;
    let year = partnerops_domain::report::DayRange::parse(Some("2026-01-01"), Some("2026-12-31")).unwrap();
    let mut out = Vec::new();
    for (kind, grouping) in [
        (ReportKind::Sla, "kind"),
        (ReportKind::Sla, "partner"),
        (ReportKind::Sla, "manager"),
        (ReportKind::Pipeline, "motion"),
        (ReportKind::Pipeline, "partner"),
    ] {
        let started = std::time::Instant::now();
        let read = store.report_days(kind, grouping, &year).await.unwrap();
        out.push((format!("{kind:?} by {grouping}"), read.items_read, read.queries, started.elapsed().as_millis()));
    }
    out
}

/// A year's report reads one item per day and key, whatever the number of
/// timers and opportunities behind them (counted on DynamoDB, moto).
/// `PARTNEROPS_REPORT_TIMERS` sets the size (the opportunities are half).
#[tokio::test]
async fn a_years_report_reads_days_times_groups_not_records() {
    let t = TestStack::start().await;
    let store = t.stack.store.clone();
    let timers: usize = std::env::var("PARTNEROPS_REPORT_TIMERS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    seed(&store, 0, timers, timers / 2).await;
    let first = year_reads(&store).await;
    seed(&store, timers, timers, timers / 2).await;
    let second = year_reads(&store).await;
    println!("{timers} timers and {} opportunities: {first:?}", timers / 2);
    println!("{} timers and {} opportunities: {second:?}", 2 * timers, timers);
    for ((name, items, queries, _), (_, items_after, queries_after, _)) in first.iter().zip(&second) {
        assert_eq!((items, queries), (items_after, queries_after), "{name}: twice the records, the same reads");
        assert_eq!(*queries, 12, "{name}: one month partition per month");
    }
    // By kind: each of 365 days holds (at most) the four kinds, and the
    // report reads fewer items than the records behind them.
    assert!(first[0].1 <= 365 * 4, "{first:?}");
    assert!(second[0].1 < 2 * timers, "fewer items than timers: {second:?}");
}
