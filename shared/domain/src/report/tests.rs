use super::*;
use crate::Timestamp;
use crate::crm::{Attribution, Opportunity, OpportunityStatus};
use crate::money::{Currency, Money, div_half_even};
use crate::partner::{Motion, PartnerId};
use crate::prospect::ProspectKey;
use crate::sla::{SlaKind, SlaSubject, SlaTimer};
use crate::terms::AttributionRole;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

#[test]
fn half_even_rounds_ties_to_the_even_neighbour() {
    assert_eq!(div_half_even(5, 2), 2);
    assert_eq!(div_half_even(7, 2), 4);
    assert_eq!(div_half_even(-5, 2), -2);
    assert_eq!(div_half_even(-7, 2), -4);
    assert_eq!(div_half_even(10, 3), 3);
    assert_eq!(div_half_even(11, 3), 4);
    assert_eq!(div_half_even(1, 0), 0);
    // 2 of 3 on time: 6666.67 bps → 6667; 1 of 8: 1250 exactly.
    assert_eq!(rate_bps(2, 1), Some(6667));
    assert_eq!(rate_bps(1, 7), Some(1250));
    assert_eq!(rate_bps(0, 0), None);
    assert_eq!(rate_bps(0, 5), Some(0));
    // 1 of 16 = 625 bps exactly; 1 of 32 = 312.5 → 312 (even); 3 of 32 = 937.5 → 938.
    assert_eq!(rate_bps(1, 15), Some(625));
    assert_eq!(rate_bps(1, 31), Some(312));
    assert_eq!(rate_bps(3, 29), Some(938));
}

#[test]
fn medians_are_exact_then_rounded_once() {
    let minute = 60_000;
    assert_eq!(median_minutes(&[]), None);
    assert_eq!(median_minutes(&[90 * minute / 60 * 60]), Some(90));
    // 10 and 11 minutes: 10.5 → 10 (even); 11 and 12: 11.5 → 12.
    assert_eq!(median_minutes(&[11 * minute, 10 * minute]), Some(10));
    assert_eq!(median_minutes(&[11 * minute, 12 * minute]), Some(12));
    // 30 s rounds to even (0); 90 s to 2.
    assert_eq!(median_minutes(&[30_000]), Some(0));
    assert_eq!(median_minutes(&[90_000]), Some(2));
    let day = 86_400_000;
    assert_eq!(median_tenth_days(&[day, 2 * day, 10 * day]), Some(20));
    // 1.25 days → 12.5 tenths → 12; 1.35 → 13.5 → 14.
    assert_eq!(median_tenth_days(&[day + day / 4]), Some(12));
    assert_eq!(median_tenth_days(&[day, day + 7 * day / 10]), Some(14));
}

fn timer(due: &str) -> SlaTimer {
    SlaTimer::start(
        SlaSubject::Referral("ref_x".into()),
        SlaKind::OpportunityCreation,
        "1".to_owned(),
        PartnerId::parse("acme").unwrap(),
        ProspectKey::from_stored("globex.com".into()),
        at(due).minus(chrono::Duration::hours(24)),
        24,
    )
}

#[test]
fn a_timer_counts_on_its_due_day_once_per_grouping() {
    let open = timer("2026-12-02T10:00:00Z");
    let c = timer_contribution(&open, Some("pat@example.com"));
    let keys: Vec<_> = c.keys().cloned().collect();
    assert_eq!(
        keys,
        vec![
            ("kind".to_owned(), "opportunity_creation".to_owned(), "2026-12-02".to_owned()),
            ("manager".to_owned(), "pat@example.com".to_owned(), "2026-12-02".to_owned()),
            ("partner".to_owned(), "acme".to_owned(), "2026-12-02".to_owned()),
        ]
    );
    assert!(c.values().all(|v| v.open == 1 && v.timers == 1 && v.met_on_time == 0));
    let met = open.meet(at("2026-12-02T09:00:00Z")).unwrap();
    let c = timer_contribution(&met, None);
    let kind = &c[&("kind".to_owned(), "opportunity_creation".to_owned(), "2026-12-02".to_owned())];
    assert_eq!((kind.met_on_time, kind.open, kind.met_ms.clone()), (1, 0, vec![23 * 3_600_000]));
    assert!(c.contains_key(&("manager".to_owned(), UNASSIGNED.to_owned(), "2026-12-02".to_owned())));
}

#[test]
fn replacing_a_contribution_leaves_the_recount() {
    let open = timer("2026-12-02T10:00:00Z");
    let met = open.meet(at("2026-12-02T09:30:00Z")).unwrap();
    let mut aggregate: BTreeMap<Slot, SlaCounts> = BTreeMap::new();
    let mut fold = |before: &BTreeMap<Slot, SlaCounts>, after: &BTreeMap<Slot, SlaCounts>| {
        for (slot, (minus, plus)) in delta(before, after) {
            let entry = aggregate.entry(slot).or_default();
            if let Some(m) = minus {
                entry.apply(&m, -1);
            }
            if let Some(p) = plus {
                entry.apply(&p, 1);
            }
        }
    };
    let first = timer_contribution(&open, None);
    fold(&BTreeMap::new(), &first);
    let second = timer_contribution(&met, None);
    fold(&first, &second);
    let rows = sla_rows(aggregate.iter().filter(|(s, _)| s.0 == "kind").map(|(s, c)| (s.1.clone(), c.clone())));
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].timers, rows[0].met_on_time, rows[0].open), (1, 1, 0));
    assert_eq!(rows[0].on_time_rate_bps, Some(10_000));
    assert_eq!(rows[0].median_minutes_to_meet, Some(23 * 60 + 30));
}

fn opportunity(status: OpportunityStatus, attribution: Vec<(&str, AttributionRole, u32)>) -> Opportunity {
    let usd = Currency::parse("USD").unwrap();
    let created = at("2026-11-01T12:00:00Z");
    Opportunity {
        id: "006-X".into(),
        name: "Globex".into(),
        amount: Money::from_minor(100_001, usd),
        owner_email: "ae@vendor.example".into(),
        referral_id: None,
        deal_registration_id: None,
        partner_id: PartnerId::parse("acme").unwrap(),
        prospect_key: ProspectKey::from_stored("globex.com".into()),
        motion: Motion::CoSell,
        attribution: attribution
            .into_iter()
            .map(|(p, role, share_bps)| Attribution { partner_id: PartnerId::parse(p).unwrap(), role, share_bps })
            .collect(),
        status,
        closed_at: matches!(status, OpportunityStatus::Won | OpportunityStatus::Lost)
            .then(|| created.plus(chrono::Duration::hours(36))),
        refunded_minor: 0,
        last_notes_at: created,
        notes_seq: 0,
        created_at: created,
        updated_at: created,
        opened_at: Some(created),
        rev: 1,
    }
}

#[test]
fn an_opportunity_counts_once_per_role_with_shares_half_even() {
    let o = opportunity(
        OpportunityStatus::Won,
        vec![("acme", AttributionRole::Sourced, 7_000), ("initech", AttributionRole::Influenced, 2_500)],
    );
    let c = opportunity_contribution(&o);
    let motion = &c[&("motion".to_owned(), "co_sell".to_owned(), "2026-11-01".to_owned())];
    let usd = Currency::parse("USD").unwrap();
    // 100,001 × 0.7 = 70,000.7 → 70,001; × 0.25 = 25,000.25 → 25,000.
    assert_eq!(motion.sourced.amount[&usd], 70_001);
    assert_eq!(motion.influenced.amount[&usd], 25_000);
    assert_eq!((motion.sourced.won, motion.sourced.opportunities), (1, 1));
    assert_eq!(motion.sourced.close_ms, vec![36 * 3_600_000]);
    let initech = &c[&("partner".to_owned(), "initech".to_owned(), "2026-11-01".to_owned())];
    assert_eq!(initech.sourced, RoleCounts::default());
    assert_eq!(initech.influenced.won_amount[&usd], 25_000);
    let rows = pipeline_rows(c.iter().filter(|(s, _)| s.0 == "motion").map(|(s, v)| (s.1.clone(), v.clone())));
    assert_eq!(rows[0].sourced.win_rate_bps, Some(10_000));
    assert_eq!(rows[0].sourced.median_tenth_days_to_close, Some(15));
    assert_eq!(rows[0].influenced.amount, vec![Money::from_minor(25_000, usd)]);
    // Before any attribution, the source partner sources all of it.
    let open = opportunity(OpportunityStatus::Open, vec![]);
    let c = opportunity_contribution(&open);
    let acme = &c[&("partner".to_owned(), "acme".to_owned(), "2026-11-01".to_owned())];
    assert_eq!((acme.sourced.opportunities, acme.sourced.amount[&usd], acme.sourced.won), (1, 100_001, 0));
    assert_eq!(rate_bps(0, 0), None);
}

#[test]
fn ranges_are_checked_by_field() {
    assert!(DayRange::parse(Some("2026-01-01"), Some("2026-12-31")).is_ok());
    assert!(DayRange::parse(Some("2026-01-01"), Some("2027-01-02")).is_ok(), "366 days apart");
    let field = |f: Option<&str>, t: Option<&str>| DayRange::parse(f, t).unwrap_err().as_slice()[0].field.clone();
    assert_eq!(field(Some("2026-01-01"), Some("2027-01-03")), "to");
    assert_eq!(field(Some("2026-02-01"), Some("2026-01-01")), "to");
    assert_eq!(field(None, Some("2026-01-01")), "from");
    assert_eq!(field(Some("2026-1-01"), Some("2026-01-01")), "from");
    assert_eq!(field(Some("2026-01-01"), Some("2026-02-30")), "to");
}

proptest! {
    #[test]
    fn half_even_is_within_half_and_ties_go_even(n in -1_000_000i128..1_000_000, d in 1i128..10_000) {
        let q = div_half_even(n, d);
        let twice_error = (2 * (n - q * d)).abs();
        prop_assert!(twice_error <= d);
        if twice_error == d {
            prop_assert_eq!(q % 2, 0);
        }
    }

    #[test]
    fn folding_in_any_order_equals_the_recount(minutes in proptest::collection::vec(0i64..=1440, 1..40)) {
        // Every timer first counted open, then met: the aggregate equals a
        // recount of the met timers alone.
        let mut aggregate = SlaCounts::default();
        let mut recount = SlaCounts::default();
        let timers: Vec<SlaTimer> = minutes.iter().map(|_| timer("2026-12-03T10:00:00Z")).collect();
        for t in &timers {
            aggregate.apply(&timer_contribution(t, None).into_values().next().unwrap(), 1);
        }
        for (t, m) in timers.iter().zip(&minutes) {
            let met = t.meet(t.started_at.plus(chrono::Duration::minutes(*m))).unwrap();
            let before = timer_contribution(t, None).into_values().next().unwrap();
            let after = timer_contribution(&met, None).into_values().next().unwrap();
            aggregate.apply(&before, -1);
            aggregate.apply(&after, 1);
            recount.apply(&after, 1);
        }
        aggregate.met_ms.sort_unstable();
        recount.met_ms.sort_unstable();
        prop_assert_eq!(aggregate, recount);
    }
}
