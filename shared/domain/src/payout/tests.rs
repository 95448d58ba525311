use super::*;
use proptest::prelude::*;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::parse("USD").unwrap())
}

fn pid(s: &str) -> PartnerId {
    PartnerId::parse(s).unwrap()
}

fn terms() -> ProgramTerms {
    let shipped = include_str!("../../../../infra/program.toml");
    let overrides =
        "\n[[payouts.overrides]]\npartner_id = \"vip\"\nmotion = \"referral\"\nrole = \"sourced\"\nrate_bps = 1500\n";
    ProgramTerms::from_toml(&format!("{shipped}{overrides}")).unwrap()
}

fn close(amount: i64, motion: Motion, attribution: &[(&str, AttributionRole, u32)], closed_at: &str) -> DealClosed {
    DealClosed {
        opportunity_id: "006-ACME".into(),
        referral_id: None,
        deal_registration_id: None,
        partner_id: None,
        prospect_key: crate::prospect::ProspectKey::from_stored("acme.com".into()),
        motion,
        amount: usd(amount),
        closed_at: at(closed_at),
        attribution: attribution
            .iter()
            .map(|(p, role, share)| Attribution { partner_id: pid(p), role: *role, share_bps: *share })
            .collect(),
    }
}

fn partners(list: &[(&str, Tier)]) -> BTreeMap<PartnerId, PartnerAtClose> {
    list.iter().map(|(p, tier)| (pid(p), PartnerAtClose { name: format!("Partner {p}"), tier: *tier })).collect()
}

fn refund(total: i64, amount: i64, refunded_at: &str) -> DealRefunded {
    DealRefunded {
        opportunity_id: "006-ACME".into(),
        refunded_amount: usd(total),
        refunded_total: usd(total),
        refunded_at: at(refunded_at),
        amount: usd(amount),
        closed_at: Some(at("2026-11-10T12:00:00Z")),
    }
}

/// Applies a close and returns the ledger, every line so far and the new ones.
fn closed(
    ledger: &DealLedger,
    lines: &mut Vec<PayoutLine>,
    event: &DealClosed,
    event_at: &str,
    who: &[(&str, Tier)],
) -> (DealLedger, Vec<PayoutLine>) {
    let next = record_close(ledger, event, at(event_at), partners(who));
    let new = reconcile(&next, lines, &terms());
    lines.extend(new.clone());
    (next, new)
}

const CLOSED_AT: &str = "2026-11-10T12:00:00Z";
use crate::Timestamp;
use crate::crm::Attribution;
use crate::event::{DealClosed, DealRefunded};
use crate::id::PayoutLineId;
use crate::money::{Currency, Money};
use crate::partner::{Motion, PartnerId, Tier};
use crate::terms::{AttributionRole, ProgramTerms};
use AttributionRole::{Influenced, Sourced};
use std::collections::BTreeMap;

/// docs/payouts.md's worked examples, row by row.
#[test]
fn worked_examples() {
    struct Example {
        name: &'static str,
        amount: i64,
        motion: Motion,
        attribution: Vec<(&'static str, AttributionRole, u32)>,
        tiers: Vec<(&'static str, Tier)>,
        expected: Vec<(&'static str, i64)>,
    }
    let examples = [
        Example {
            name: "1 referral, sourced, gold ×1.1: 48,000.00 × 10% × 1.1",
            amount: 4_800_000,
            motion: Motion::Referral,
            attribution: vec![("acme", Sourced, 10_000)],
            tiers: vec![("acme", Tier::Gold)],
            expected: vec![("acme", 528_000)],
        },
        Example {
            name: "2 capped: 300,000.00 × 10% × 1.25 = 37,500.00 → cap 25,000.00",
            amount: 30_000_000,
            motion: Motion::Referral,
            attribution: vec![("acme", Sourced, 10_000)],
            tiers: vec![("acme", Tier::Platinum)],
            expected: vec![("acme", 2_500_000)],
        },
        Example {
            name: "3 co-sell split 60/40 with a flat 500.00 on the sourced side",
            amount: 10_000_000,
            motion: Motion::CoSell,
            attribution: vec![("acme", Sourced, 6_000), ("beta", Influenced, 4_000)],
            tiers: vec![("acme", Tier::Silver), ("beta", Tier::Gold)],
            expected: vec![("acme", 330_000), ("beta", 88_000)],
        },
        Example {
            name: "4 half to even, down: 0.25 × 10% = 0.025 → 0.02",
            amount: 25,
            motion: Motion::Referral,
            attribution: vec![("acme", Sourced, 10_000)],
            tiers: vec![("acme", Tier::Registered)],
            expected: vec![("acme", 2)],
        },
        Example {
            name: "5 half to even, up: 0.35 × 10% = 0.035 → 0.04",
            amount: 35,
            motion: Motion::Referral,
            attribution: vec![("acme", Sourced, 10_000)],
            tiers: vec![("acme", Tier::Registered)],
            expected: vec![("acme", 4)],
        },
        Example {
            name: "6 override 15%, no tier multiplier: 10,000.00 → 1,500.00",
            amount: 1_000_000,
            motion: Motion::Referral,
            attribution: vec![("vip", Sourced, 10_000)],
            tiers: vec![("vip", Tier::Gold)],
            expected: vec![("vip", 150_000)],
        },
        Example {
            name: "7 no rate for (resell, influenced): no line",
            amount: 1_000_000,
            motion: Motion::Resell,
            attribution: vec![("acme", Sourced, 5_000), ("beta", Influenced, 5_000)],
            tiers: vec![("acme", Tier::Registered), ("beta", Tier::Registered)],
            expected: vec![("acme", 125_000)],
        },
        Example {
            name: "8 three-way split of 1,000.01 at 33.33/33.33/33.34%, co-sell influenced 2%",
            amount: 100_001,
            motion: Motion::CoSell,
            attribution: vec![("acme", Influenced, 3_333), ("beta", Influenced, 3_333), ("gamma", Influenced, 3_334)],
            tiers: vec![("acme", Tier::Registered), ("beta", Tier::Registered), ("gamma", Tier::Registered)],
            // 100001 × 0.3333 × 0.02 = 666.6666… → 667; × 0.3334 → 666.8066… → 667
            expected: vec![("acme", 667), ("beta", 667), ("gamma", 667)],
        },
    ];
    for e in examples {
        let mut lines = Vec::new();
        let event = close(e.amount, e.motion, &e.attribution, CLOSED_AT);
        let (_, new) = closed(&DealLedger::default(), &mut lines, &event, CLOSED_AT, &e.tiers);
        let got: Vec<(&str, i64)> = new.iter().map(|l| (l.partner_id.as_str(), l.amount)).collect();
        assert_eq!(got, e.expected, "{}", e.name);
        assert!(new.iter().all(|l| l.kind == LineKind::Earned && l.earned_at == at(CLOSED_AT)), "{}", e.name);
    }
}

#[test]
fn the_formula_rounds_half_to_even_in_both_directions() {
    assert_eq!(crate::money::div_half_even(5, 2), 2);
    assert_eq!(crate::money::div_half_even(7, 2), 4);
    assert_eq!(crate::money::div_half_even(-5, 2), -2);
    assert_eq!(crate::money::div_half_even(-7, 2), -4);
    assert_eq!(crate::money::div_half_even(-6, 4), -2);
    assert_eq!(line_amount(i64::MAX, 10_000, 10_000, 100_000, i64::MAX, None), i64::MAX);
}

#[test]
fn a_reclose_adds_an_adjustment_and_a_duplicate_adds_nothing() {
    let mut lines = Vec::new();
    let first = close(4_800_000, Motion::Referral, &[("acme", Sourced, 10_000)], CLOSED_AT);
    let (ledger, _) = closed(&DealLedger::default(), &mut lines, &first, CLOSED_AT, &[("acme", Tier::Gold)]);
    let (ledger, dup) = closed(&ledger, &mut lines, &first, CLOSED_AT, &[("acme", Tier::Gold)]);
    assert!(dup.is_empty());
    let again = close(5_000_000, Motion::Referral, &[("acme", Sourced, 10_000)], "2026-11-12T00:00:00Z");
    let (ledger, adjusted) = closed(&ledger, &mut lines, &again, "2026-11-12T00:00:01Z", &[("acme", Tier::Gold)]);
    assert_eq!(adjusted.len(), 1);
    assert_eq!((adjusted[0].kind, adjusted[0].amount), (LineKind::Adjustment, 22_000));
    assert_eq!(adjusted[0].earned_at, at("2026-11-12T00:00:00Z"));
    // The earlier close delivered late changes nothing.
    let (_, late) = closed(&ledger, &mut lines, &first, CLOSED_AT, &[("acme", Tier::Gold)]);
    assert!(late.is_empty());
    // Back and forth at one instant: every close gets its own adjustment.
    let back = close(4_800_000, Motion::Referral, &[("acme", Sourced, 10_000)], "2026-11-12T00:00:00Z");
    let (ledger, down) = closed(&ledger, &mut lines, &back, "2026-11-12T00:00:01Z", &[("acme", Tier::Gold)]);
    assert_eq!(down.iter().map(|l| l.amount).collect::<Vec<_>>(), vec![-22_000]);
    let (_, up) = closed(&ledger, &mut lines, &again, "2026-11-12T00:00:01Z", &[("acme", Tier::Gold)]);
    assert_eq!(up.iter().map(|l| l.amount).collect::<Vec<_>>(), vec![22_000]);
    let ids: std::collections::BTreeSet<_> = lines.iter().map(|l| l.line_id.clone()).collect();
    assert_eq!(ids.len(), lines.len());
}

#[test]
fn refunds_claw_back_cumulatively_within_the_window_and_nothing_after() {
    let terms = terms();
    let mut lines = Vec::new();
    let event = close(4_800_000, Motion::Referral, &[("acme", Sourced, 10_000)], CLOSED_AT);
    let (ledger, _) = closed(&DealLedger::default(), &mut lines, &event, CLOSED_AT, &[("acme", Tier::Gold)]);
    let ledger = record_refund(&ledger, &refund(1_200_000, 4_800_000, "2026-12-01T00:00:00Z"), &terms).unwrap();
    let first = reconcile(&ledger, &lines, &terms);
    assert_eq!(first.iter().map(|l| (l.kind, l.amount)).collect::<Vec<_>>(), vec![(LineKind::Clawback, -132_000)]);
    assert_eq!(first[0].earned_at, at("2026-12-01T00:00:00Z"));
    lines.extend(first);
    let ledger = record_refund(&ledger, &refund(2_400_000, 4_800_000, "2026-12-15T00:00:00Z"), &terms).unwrap();
    let second = reconcile(&ledger, &lines, &terms);
    assert_eq!(second.iter().map(|l| l.amount).collect::<Vec<_>>(), vec![-132_000]);
    lines.extend(second);
    // 91 days after the close: recorded, clawed back nothing.
    let late = record_refund(&ledger, &refund(4_800_000, 4_800_000, "2027-02-09T12:00:01Z"), &terms).unwrap();
    assert_eq!(late.refunded_total, 4_800_000);
    assert_eq!(late.clawback_basis, 2_400_000);
    assert!(reconcile(&late, &lines, &terms).is_empty());
    // Exactly on the last day still counts.
    let edge = record_refund(&ledger, &refund(3_600_000, 4_800_000, "2027-02-08T12:00:00Z"), &terms).unwrap();
    assert_eq!(reconcile(&edge, &lines, &terms).iter().map(|l| l.amount).sum::<i64>(), -132_000);
}

#[test]
fn a_refund_before_its_close_is_clawed_back_when_the_close_arrives() {
    let terms = terms();
    let early =
        record_refund(&DealLedger::default(), &refund(2_400_000, 4_800_000, "2026-11-20T00:00:00Z"), &terms).unwrap();
    let mut lines = Vec::new();
    let event = close(4_800_000, Motion::Referral, &[("acme", Sourced, 10_000)], CLOSED_AT);
    let (_, new) = closed(&early, &mut lines, &event, CLOSED_AT, &[("acme", Tier::Gold)]);
    assert_eq!(
        new.iter().map(|l| (l.kind, l.amount)).collect::<Vec<_>>(),
        vec![(LineKind::Earned, 528_000), (LineKind::Clawback, -264_000)]
    );
}

#[test]
fn periods_parse_and_bound_calendar_months() {
    let p = Period::parse("2026-12").unwrap();
    assert_eq!(p.to_string(), "2026-12");
    assert_eq!(p.start(), at("2026-12-01T00:00:00Z"));
    assert_eq!(p.end(), at("2027-01-01T00:00:00Z"));
    assert_eq!(p.cutoff(5), at("2026-12-27T00:00:00Z"));
    assert_eq!(Period::previous(at("2027-01-01T02:00:00Z")), Some(Period::parse("2026-12").unwrap()));
    for bad in ["2026-13", "2026-1", "26-01", "2026/01", "", "1999-12", "2026-00", "2026-1x"] {
        assert!(Period::parse(bad).is_err(), "{bad}");
    }
}

fn line(partner: &str, name: &str, amount: i64, earned_at: &str, n: u128) -> PayoutLine {
    PayoutLine {
        line_id: PayoutLineId::from_ulid(ulid::Ulid(n)),
        opportunity_id: "006-ACME".into(),
        partner_id: pid(partner),
        partner_name: name.into(),
        kind: if amount < 0 { LineKind::Clawback } else { LineKind::Earned },
        motion: Motion::Referral,
        role: Sourced,
        share_bps: 10_000,
        rate_bps: 1000,
        tier: Tier::Gold,
        amount,
        currency: Currency::parse("USD").unwrap(),
        earned_at: at(earned_at),
    }
}

#[test]
fn the_files_are_rfc4180_with_crlf_minor_digits_and_formula_guards() {
    let period = Period::parse("2026-11").unwrap();
    let mut lines = vec![
        line("beta", "=HYPERLINK(\"x\")", -1_250, "2026-11-02T00:00:00Z", 2),
        line("acme", "Acme, Inc.", 528_000, "2026-11-10T12:00:00Z", 1),
    ];
    lines.sort_by(export_order);
    let bytes = write_lines_csv(Vec::new(), "exp_1", period, &lines).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let rows: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(rows[0], LINES_HEADER.join(","));
    assert!(rows[1].starts_with("exp_1,2026-11,acme,\"Acme, Inc.\",pay_"), "{}", rows[1]);
    assert!(rows[1].contains(",earned,referral,sourced,10000,1000,gold,5280.00,USD,2026-11-10T12:00:00.000Z"));
    // The name is guarded, the negative amount (a number) is not.
    assert!(rows[2].contains(",\"'=HYPERLINK(\"\"x\"\")\","), "{}", rows[2]);
    assert!(rows[2].contains(",-12.50,USD,"), "{}", rows[2]);
    assert_eq!(rows[3], "");
    assert!(!text.replace("\r\n", "").contains('\n'));
    assert_eq!(text_cell("+1"), "'+1");
    assert_eq!(text_cell("@x"), "'@x");
    assert_eq!(text_cell("\tx"), "'\tx");
    assert_eq!(text_cell("a=b"), "a=b");
}

#[test]
fn groups_below_the_minimum_or_negative_are_carried_forward() {
    let lines = [
        line("acme", "Acme", 528_000, "2026-11-10T12:00:00Z", 1),
        line("beta", "Beta", 4_999, "2026-11-10T12:00:00Z", 2),
        line("gamma", "Gamma", 10_000, "2026-11-10T12:00:00Z", 3),
        line("gamma", "Gamma", -20_000, "2026-11-11T12:00:00Z", 4),
        line("delta", "Delta", 5_000, "2026-11-11T12:00:00Z", 5),
    ];
    let groups = export_groups(&lines, &terms());
    let status: Vec<(&str, i64, bool)> =
        groups.iter().map(|g| (g.partner_id.as_str(), g.amount, g.carried_forward)).collect();
    assert_eq!(
        status,
        vec![("acme", 528_000, false), ("beta", 4_999, true), ("delta", 5_000, false), ("gamma", -10_000, true)]
    );
    assert_eq!(export_totals(&groups), vec![usd(533_000)]);
    let summary =
        String::from_utf8(write_summary_csv(Vec::new(), "exp_1", Period::parse("2026-11").unwrap(), &groups).unwrap())
            .unwrap();
    assert!(summary.contains("\r\nexp_1,2026-11,beta,Beta,USD,1,49.99,carried_forward\r\n"), "{summary}");
}

proptest! {
    #[test]
    fn a_duplicate_close_adds_nothing(
        amount in 1i64..10_000_000_000,
        share in 1u32..=10_000,
        motion in prop_oneof![Just(Motion::Referral), Just(Motion::CoSell), Just(Motion::Resell)],
        tier in prop_oneof![Just(Tier::Registered), Just(Tier::Silver), Just(Tier::Gold), Just(Tier::Platinum)],
    ) {
        let mut lines = Vec::new();
        let event = close(amount, motion, &[("acme", Sourced, share), ("beta", Influenced, 10_000 - share)], CLOSED_AT);
        let who = [("acme", tier), ("beta", tier)];
        let (ledger, _) = closed(&DealLedger::default(), &mut lines, &event, CLOSED_AT, &who);
        let before = lines.len();
        let (_, again) = closed(&ledger, &mut lines, &event, CLOSED_AT, &who);
        prop_assert!(again.is_empty());
        prop_assert_eq!(lines.len(), before);
    }

    #[test]
    fn clawbacks_never_exceed_what_was_earned(
        amount in 1i64..10_000_000_000,
        share in 1u32..=10_000,
        refunds in proptest::collection::vec(0u32..=10_000, 1..6),
    ) {
        let terms = terms();
        let mut lines = Vec::new();
        let event = close(amount, Motion::CoSell, &[("acme", Sourced, share), ("beta", Influenced, 10_000 - share)], CLOSED_AT);
        let (mut ledger, _) = closed(&DealLedger::default(), &mut lines, &event, CLOSED_AT, &[("acme", Tier::Gold), ("beta", Tier::Silver)]);
        let mut total = 0i64;
        for (i, bps) in refunds.iter().enumerate() {
            total = (total + amount * i64::from(*bps) / 10_000 / 5).min(amount);
            let day = format!("2026-11-{:02}T00:00:00Z", 11 + i);
            ledger = record_refund(&ledger, &refund(total, amount, &day), &terms).unwrap();
            let new = reconcile(&ledger, &lines, &terms);
            prop_assert!(new.iter().all(|l| l.kind == LineKind::Clawback && l.amount < 0));
            lines.extend(new);
            prop_assert!(reconcile(&ledger, &lines, &terms).is_empty(), "reconciling twice adds nothing");
        }
        for partner in ["acme", "beta"] {
            let of = |k: LineKind| lines.iter().filter(|l| l.partner_id.as_str() == partner && l.kind == k).map(|l| l.amount).sum::<i64>();
            let earned = of(LineKind::Earned) + of(LineKind::Adjustment);
            let clawed = -of(LineKind::Clawback);
            prop_assert!(clawed >= 0 && clawed <= earned, "{partner}: clawed {clawed} of {earned}");
            if total == amount { prop_assert_eq!(clawed, earned, "a full refund claws back everything"); }
        }
    }

    #[test]
    fn a_periods_lines_sum_to_the_exports_total(
        amounts in proptest::collection::vec((0usize..5, -100_000i64..1_000_000), 1..60),
    ) {
        let partners = ["acme", "beta", "gamma", "delta", "omega"];
        let mut lines: Vec<PayoutLine> = amounts
            .iter()
            .enumerate()
            .map(|(i, (p, amount))| line(partners[*p], partners[*p], *amount, "2026-11-05T00:00:00Z", i as u128 + 1))
            .collect();
        lines.sort_by(export_order);
        let groups = export_groups(&lines, &terms());
        let paid: Vec<&PayoutLine> = lines
            .iter()
            .filter(|l| groups.iter().any(|g| g.partner_id == l.partner_id && !g.carried_forward))
            .collect();
        let csv = write_lines_csv(Vec::new(), "exp_1", Period::parse("2026-11").unwrap(), paid.iter().copied()).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let mut sum = 0i64;
        for row in reader.records() {
            let row = row.unwrap();
            let (sign, digits) = match row[12].strip_prefix('-') { Some(d) => (-1, d), None => (1, &row[12]) };
            sum += sign * crate::money::parse_minor_units(digits, 2).unwrap();
        }
        let total: i64 = export_totals(&groups).iter().map(Money::minor_units).sum();
        prop_assert_eq!(sum, total);
    }
}
