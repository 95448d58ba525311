//! Report tallies: a record's fact replaced only from the fact it was read
//! with, and the per-day tallies its contributions leave.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use partnerops_aws::Clock;
use partnerops_aws::store::ReportKind;
use partnerops_domain::report::{DayRange, Fact, subject_key};
use partnerops_domain::sla::{SlaStatus, SlaTimer};
use partnerops_fixtures as fixtures;
use serde_json::json;

fn tallies(days: &partnerops_aws::store::ReportDays) -> Vec<String> {
    days.days.iter().map(|d| format!("{} {} {:?}", d.day, d.key, d.tallies)).collect()
}

#[tokio::test]
async fn a_fact_is_replaced_only_from_the_one_it_was_read_with() {
    let observed = on_both(|t| async move {
        let now = t.clock.now();
        let terms = terms_options().terms;
        let accepted = fixtures::accepted_referral("alpha", "stark.com", now, 30, &terms);
        let timer: SlaTimer = accepted.timer.clone();
        let subject = subject_key(&timer.subject);
        let first = Fact::of_timer(&timer, Some("pat@example.com"));
        let mut seen = vec![conflict_name(t.store.replace_fact(None, &first).await)];
        // A second fold that also read "no fact yet" loses.
        seen.push(conflict_name(t.store.replace_fact(None, &first).await));
        seen.push(json!(t.store.report_facts(&subject).await.unwrap().len()));
        let range = DayRange::parse(Some("2026-11-01"), Some("2026-11-30")).unwrap();
        let by_kind = t.store.report_days(ReportKind::Sla, "kind", &range).await.unwrap();
        seen.push(json!(tallies(&by_kind)));
        // The timer is met: its fact moves from open to met on its due day.
        let met = SlaTimer { status: SlaStatus::Met, met_at: Some(now), rev: timer.rev + 1, ..timer.clone() };
        let second = Fact::of_timer(&met, Some("pat@example.com"));
        seen.push(conflict_name(t.store.replace_fact(Some(&first), &second).await));
        seen.push(conflict_name(t.store.replace_fact(Some(&first), &second).await));
        let stored = t.store.report_facts(&subject).await.unwrap();
        seen.push(json!(stored.iter().map(|f| f.source_rev).collect::<Vec<_>>()));
        seen.push(json!(tallies(&t.store.report_days(ReportKind::Sla, "kind", &range).await.unwrap())));
        // Other groupings and reports hold their own items; a range without
        // the day reads none of them.
        let by_manager = t.store.report_days(ReportKind::Sla, "manager", &range).await.unwrap();
        seen.push(json!(by_manager.days.iter().map(|d| d.key.clone()).collect::<Vec<_>>()));
        let pipeline = t.store.report_days(ReportKind::Pipeline, "motion", &range).await.unwrap();
        let october = DayRange::parse(Some("2026-10-01"), Some("2026-10-31")).unwrap();
        let empty = t.store.report_days(ReportKind::Sla, "kind", &october).await.unwrap();
        seen.push(json!([pipeline.days.len(), empty.days.len()]));
        json!(seen)
    })
    .await;
    assert_eq!(observed[0], json!("ok"));
    assert_ne!(observed[1], json!("ok"), "a stale fact must be refused: {observed}");
    assert_eq!(observed[2], json!(1));
    assert_eq!(observed[4], json!("ok"));
    assert_ne!(observed[5], json!("ok"), "{observed}");
    assert_eq!(observed[6], json!([1]));
    assert_ne!(observed[3], observed[7], "the tallies moved with the fact: {observed}");
    assert_eq!(observed[8], json!(["pat@example.com"]));
    assert_eq!(observed[9], json!([0, 0]));
}
