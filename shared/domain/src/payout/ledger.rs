//! A won deal's payout ledger: the amount formula, the facts kept from each
//! close and refund, and the lines that bring the ledger to what is owed.

use crate::Timestamp;
use crate::attribution::Attribution;
use crate::event::{DealClosed, DealRefunded};
use crate::id::PayoutLineId;
use crate::money::{Currency, Money, div_half_even};
use crate::partner::{Motion, PartnerId, Tier};
use crate::terms::{AttributionRole, PayoutRate, ProgramTerms};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const BPS: i128 = 10_000;

/// `div_half_even((A·s·R·M + F·s·M·10⁴) / 10¹²)`, then capped: one
/// attribution entry's payout in minor units. Saturates at the `i64` range
/// (amounts that large are refused upstream).
pub fn line_amount(deal: i64, share_bps: u32, rate_bps: u32, multiplier_bps: u32, flat: i64, cap: Option<i64>) -> i64 {
    let (a, s, r, m, f) =
        (i128::from(deal), i128::from(share_bps), i128::from(rate_bps), i128::from(multiplier_bps), i128::from(flat));
    let numerator = a * s * r * m + f * s * m * BPS;
    let amount = div_half_even(numerator, BPS * BPS * BPS);
    let amount = i64::try_from(amount).unwrap_or(if amount < 0 { i64::MIN } else { i64::MAX });
    match cap {
        Some(cap) => amount.min(cap),
        None => amount,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Earned,
    Adjustment,
    Clawback,
}

impl From<&PayoutLine> for crate::event::CreatedLine {
    fn from(line: &PayoutLine) -> Self {
        Self {
            line_id: line.line_id.clone(),
            partner_id: line.partner_id.clone(),
            kind: line.kind.as_str().to_owned(),
            motion: line.motion,
            role: line.role,
            share_bps: line.share_bps,
            rate_bps: line.rate_bps,
            amount: crate::money::Money::from_minor(line.amount, line.currency),
            earned_at: line.earned_at,
        }
    }
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Earned => "earned",
            LineKind::Adjustment => "adjustment",
            LineKind::Clawback => "clawback",
        }
    }
}

/// One ledger line. Never changed once written, except for the export that
/// pays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutLine {
    pub line_id: PayoutLineId,
    pub opportunity_id: String,
    pub partner_id: PartnerId,
    pub partner_name: String,
    pub kind: LineKind,
    pub motion: Motion,
    pub role: AttributionRole,
    pub share_bps: u32,
    pub rate_bps: u32,
    pub tier: Tier,
    /// Minor units of `currency`; negative for clawbacks and downward adjustments.
    pub amount: i64,
    pub currency: Currency,
    pub earned_at: Timestamp,
}

/// The terms a (partner, role) was paid under, repeated on its later lines.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LineTerms {
    share_bps: u32,
    rate_bps: u32,
    tier: Tier,
    partner_name: String,
}

/// A partner as a close saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerAtClose {
    pub name: String,
    pub tier: Tier,
}

/// The close a deal's earnings follow: the latest one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseFacts {
    pub motion: Motion,
    pub amount: Money,
    pub closed_at: Timestamp,
    pub attribution: Vec<Attribution>,
    pub partners: BTreeMap<PartnerId, PartnerAtClose>,
    /// When the close's event occurred: a later event's close wins.
    pub event_at: Timestamp,
}

/// What the ledger knows of one won deal, besides its lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealLedger {
    pub opportunity_id: String,
    #[serde(default)]
    pub close: Option<CloseFacts>,
    /// Cumulative refunds, minor units, as the latest refund reported them.
    #[serde(default)]
    pub refunded_total: i64,
    /// Cumulative refunds made within `clawback_days` of the close: what
    /// clawbacks follow.
    #[serde(default)]
    pub clawback_basis: i64,
    #[serde(default)]
    pub clawback_at: Option<Timestamp>,
    /// Bumped by every change; writes are conditional on it.
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutError {
    #[error("the refund is in {refund}, the deal in {deal}")]
    CurrencyMismatch { deal: Currency, refund: Currency },
}

/// The ledger after a close. A later close event replaces the facts; an
/// earlier or the same one (a duplicate, a reordered delivery) changes nothing.
pub fn record_close(
    ledger: &DealLedger,
    close: &DealClosed,
    event_at: Timestamp,
    partners: BTreeMap<PartnerId, PartnerAtClose>,
) -> DealLedger {
    let mut next = ledger.clone();
    next.opportunity_id.clone_from(&close.opportunity_id);
    // Two closes at the same instant (a frozen clock, one batch) are ordered
    // by arrival; an identical one is a duplicate.
    let differs = |c: &CloseFacts| {
        (c.amount, c.closed_at, c.motion, &c.attribution)
            != (close.amount, close.closed_at, close.motion, &close.attribution)
    };
    if ledger.close.as_ref().is_none_or(|c| event_at > c.event_at || (event_at == c.event_at && differs(c))) {
        next.close = Some(CloseFacts {
            motion: close.motion,
            amount: close.amount,
            closed_at: close.closed_at,
            attribution: close.attribution.clone(),
            partners,
            event_at,
        });
        next.version += 1;
    }
    next
}

/// The ledger after a refund: refunds within `clawback_days` of the close
/// raise the clawback basis; later ones are recorded only.
pub fn record_refund(
    ledger: &DealLedger,
    refund: &DealRefunded,
    terms: &ProgramTerms,
) -> Result<DealLedger, PayoutError> {
    let currency = refund.refunded_total.currency();
    if let Some(close) = &ledger.close
        && close.amount.currency() != currency
    {
        return Err(PayoutError::CurrencyMismatch { deal: close.amount.currency(), refund: currency });
    }
    let mut next = ledger.clone();
    next.opportunity_id.clone_from(&refund.opportunity_id);
    let total = refund.refunded_total.minor_units();
    let closed_at = ledger.close.as_ref().map(|c| c.closed_at).or(refund.closed_at);
    let window_end = closed_at.map(|at| at.plus(Duration::days(i64::from(terms.payouts.clawback_days))));
    let in_window = window_end.is_some_and(|end| refund.refunded_at <= end);
    if total > next.refunded_total {
        next.refunded_total = total;
        next.version += 1;
    }
    if in_window && total > next.clawback_basis {
        next.clawback_basis = total;
        next.clawback_at = Some(refund.refunded_at);
        next.version += 1;
    }
    Ok(next)
}

/// The program's (or the partner's override) rate for a line, and the tier
/// multiplier that applies (none for an override).
fn rate_for<'a>(
    terms: &'a ProgramTerms,
    partner: &PartnerId,
    motion: Motion,
    role: AttributionRole,
    tier: Tier,
) -> Option<(&'a PayoutRate, u32)> {
    let payouts = &terms.payouts;
    if let Some(o) =
        payouts.overrides.iter().find(|o| &o.partner_id == partner && o.rate.motion == motion && o.rate.role == role)
    {
        return Some((&o.rate, 10_000));
    }
    let rate = payouts.rates.iter().find(|r| r.motion == motion && r.role == role)?;
    Some((rate, payouts.tier_multiplier_bps.get(&tier).copied().unwrap_or(10_000)))
}

/// A line id from what the line settles: the same settlement, the same id.
pub(crate) fn line_id(
    opportunity: &str,
    partner: &PartnerId,
    role: AttributionRole,
    kind: LineKind,
    detail: &str,
) -> PayoutLineId {
    let key = format!("{opportunity}\u{1f}{partner}\u{1f}{role:?}\u{1f}{}\u{1f}{detail}", kind.as_str());
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    PayoutLineId::from_ulid(ulid::Ulid(u128::from_be_bytes(bytes)))
}

/// Sums per (partner, role) of a deal's lines.
#[derive(Default)]
struct Sums {
    earned: i64,
    clawed: i64,
    any: bool,
}

/// The lines that bring a deal's ledger to what its facts say is owed:
/// earned lines for a first close, adjustments when a re-close changes an
/// amount, clawbacks up to `div_half_even(earned · refunded / amount)`.
pub fn reconcile(ledger: &DealLedger, lines: &[PayoutLine], terms: &ProgramTerms) -> Vec<PayoutLine> {
    let Some(close) = &ledger.close else { return Vec::new() };
    let currency = close.amount.currency();
    let deal = close.amount.minor_units();
    let opportunity = ledger.opportunity_id.as_str();

    let mut targets: BTreeMap<(PartnerId, AttributionRole), (i64, LineTerms)> = BTreeMap::new();
    for entry in &close.attribution {
        let at_close = close.partners.get(&entry.partner_id);
        let tier = at_close.map_or(Tier::Registered, |p| p.tier);
        let Some((rate, multiplier)) = rate_for(terms, &entry.partner_id, close.motion, entry.role, tier) else {
            continue;
        };
        let flat = rate.flat.get(&currency).copied().unwrap_or(0);
        let amount =
            line_amount(deal, entry.share_bps, rate.rate_bps, multiplier, flat, rate.cap.get(&currency).copied());
        let slot = targets.entry((entry.partner_id.clone(), entry.role)).or_insert((
            0,
            LineTerms {
                share_bps: entry.share_bps,
                rate_bps: rate.rate_bps,
                tier,
                partner_name: at_close.map_or_else(|| entry.partner_id.to_string(), |p| p.name.clone()),
            },
        ));
        slot.0 = slot.0.saturating_add(amount);
    }

    let mut sums: BTreeMap<(PartnerId, AttributionRole), Sums> = BTreeMap::new();
    let mut known_terms: BTreeMap<(PartnerId, AttributionRole), LineTerms> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.currency == currency) {
        let key = (line.partner_id.clone(), line.role);
        let sum = sums.entry(key.clone()).or_default();
        sum.any = true;
        match line.kind {
            LineKind::Earned | LineKind::Adjustment => sum.earned = sum.earned.saturating_add(line.amount),
            LineKind::Clawback => sum.clawed = sum.clawed.saturating_sub(line.amount),
        }
        known_terms.entry(key).or_insert_with(|| LineTerms {
            share_bps: line.share_bps,
            rate_bps: line.rate_bps,
            tier: line.tier,
            partner_name: line.partner_name.clone(),
        });
    }

    let line = |key: &(PartnerId, AttributionRole), kind, detail: &str, amount, earned_at, t: &LineTerms| PayoutLine {
        line_id: line_id(opportunity, &key.0, key.1, kind, detail),
        opportunity_id: opportunity.to_owned(),
        partner_id: key.0.clone(),
        partner_name: t.partner_name.clone(),
        kind,
        motion: close.motion,
        role: key.1,
        share_bps: t.share_bps,
        rate_bps: t.rate_bps,
        tier: t.tier,
        amount,
        currency,
        earned_at,
    };

    let mut out = Vec::new();
    let mut keys: Vec<(PartnerId, AttributionRole)> = targets.keys().chain(sums.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    for key in &keys {
        let (target, target_terms) = match targets.get(key) {
            Some((amount, t)) => (*amount, t.clone()),
            None => match known_terms.get(key) {
                Some(t) => (0, t.clone()),
                None => continue,
            },
        };
        let sum = sums.entry(key.clone()).or_default();
        if !sum.any {
            if target != 0 {
                out.push(line(key, LineKind::Earned, "", target, close.closed_at, &target_terms));
                sum.earned = target;
                sum.any = true;
            }
        } else if target != sum.earned {
            // The close event's instant and the version it made: one
            // adjustment per close, even if amounts go back and forth.
            let detail = format!("{}\u{1f}{}\u{1f}{}\u{1f}{target}", close.closed_at, close.event_at, ledger.version);
            out.push(line(key, LineKind::Adjustment, &detail, target - sum.earned, close.closed_at, &target_terms));
            sum.earned = target;
        }
        if ledger.clawback_basis > 0 && deal > 0 && sum.earned > 0 {
            let basis = ledger.clawback_basis.min(deal);
            let claw = div_half_even(i128::from(sum.earned) * i128::from(basis), i128::from(deal));
            let claw = i64::try_from(claw).unwrap_or(sum.earned);
            if claw > sum.clawed {
                let detail = format!("{basis}\u{1f}{}", sum.earned);
                let at = ledger.clawback_at.unwrap_or(close.closed_at);
                out.push(line(key, LineKind::Clawback, &detail, sum.clawed - claw, at, &target_terms));
                sum.clawed = claw;
            }
        }
    }
    out
}
