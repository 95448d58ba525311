//! Reports (SPEC §19): what one SLA timer or one opportunity contributes to
//! the per-day aggregates, and the rows a report reads back from them.
//!
//! A report never recounts history: every change to a timer or opportunity
//! replaces its previous contribution with its new one, so the aggregates of
//! a day always equal a recount of that day's records. Rates and medians are
//! exact (integers, half-even); money stays in minor units per currency.

use crate::Timestamp;
use crate::attribution::Attribution;
use crate::crm::{Opportunity, OpportunityStatus};
use crate::money::Currency;
use crate::sla::{SlaStatus, SlaTimer};
use crate::terms::AttributionRole;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MAX_RANGE_DAYS: i64 = 366;
const MS_PER_MINUTE: i128 = 60_000;
const MS_PER_TENTH_DAY: i128 = 8_640_000;

/// `numerator / denominator` rounded half to even; `denominator` > 0.
pub fn div_half_even(numerator: i128, denominator: i128) -> i128 {
    if denominator <= 0 {
        return 0;
    }
    let (q, r) = (numerator.div_euclid(denominator), numerator.rem_euclid(denominator));
    match (2 * r).cmp(&denominator) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// `hits × 10000 / (hits + misses)`, half-even; `None` when both are 0.
pub fn rate_bps(hits: u64, misses: u64) -> Option<u32> {
    let total = i128::from(hits) + i128::from(misses);
    (total > 0).then(|| u32::try_from(div_half_even(i128::from(hits) * 10_000, total)).unwrap_or(u32::MAX))
}

/// The median of `values` divided by `unit`, half-even: the middle value, or
/// the mean of the two middle ones, each exact before the one rounding.
fn median_in(values: &[i64], unit: i128) -> Option<i128> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(div_half_even(i128::from(sorted[n / 2]), unit)),
        _ => Some(div_half_even(i128::from(sorted[n / 2 - 1]) + i128::from(sorted[n / 2]), 2 * unit)),
    }
}

/// Median of durations in milliseconds, in whole minutes.
pub fn median_minutes(durations_ms: &[i64]) -> Option<i64> {
    median_in(durations_ms, MS_PER_MINUTE).and_then(|m| i64::try_from(m).ok())
}

/// Median of durations in milliseconds, in tenths of a day.
pub fn median_tenth_days(durations_ms: &[i64]) -> Option<i64> {
    median_in(durations_ms, MS_PER_TENTH_DAY).and_then(|m| i64::try_from(m).ok())
}

/// A UTC calendar day, `YYYY-MM-DD`.
pub fn day_of(at: Timestamp) -> String {
    at.as_datetime().format("%Y-%m-%d").to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaGrouping {
    Kind,
    Partner,
    Manager,
}

impl SlaGrouping {
    pub const ALL: [SlaGrouping; 3] = [Self::Kind, Self::Partner, Self::Manager];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "kind" => Some(Self::Kind),
            "partner" => Some(Self::Partner),
            "manager" => Some(Self::Manager),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kind => "kind",
            Self::Partner => "partner",
            Self::Manager => "manager",
        }
    }
}

/// The manager key of a partner without one.
pub const UNASSIGNED: &str = "unassigned";

/// One day's counts for one group (or one timer's share of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaCounts {
    pub timers: i64,
    pub met_on_time: i64,
    pub breached: i64,
    pub open: i64,
    pub escalated: i64,
    /// Milliseconds from start to met, one per timer met on time.
    #[serde(default)]
    pub met_ms: Vec<i64>,
}

impl SlaCounts {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Adds `other` (`sign` 1) or takes it away (`sign` -1).
    pub fn apply(&mut self, other: &SlaCounts, sign: i64) {
        self.timers += sign * other.timers;
        self.met_on_time += sign * other.met_on_time;
        self.breached += sign * other.breached;
        self.open += sign * other.open;
        self.escalated += sign * other.escalated;
        for ms in &other.met_ms {
            if sign > 0 {
                self.met_ms.push(*ms);
            } else if let Some(i) = self.met_ms.iter().position(|m| m == ms) {
                self.met_ms.swap_remove(i);
            }
        }
    }

    pub fn merge(&mut self, other: &SlaCounts) {
        self.apply(other, 1);
    }
}

/// Where one record's counts land: (grouping, key, day).
pub type Slot = (String, String, String);

/// What a timer contributes, by slot: one slot per grouping on the day it
/// falls due. A timer stopped before it was due and never met (the deal
/// closed first) was no obligation and counts nowhere.
pub fn timer_contribution(timer: &SlaTimer, manager: Option<&str>) -> BTreeMap<Slot, SlaCounts> {
    let met_on_time = timer.status == SlaStatus::Met && timer.met_at.is_some_and(|m| m <= timer.due_at);
    let breached = !met_on_time && (timer.breached_at.is_some() || timer.met_at.is_some_and(|m| m > timer.due_at));
    let withdrawn = !met_on_time && !breached && timer.ended_at.is_some_and(|e| e <= timer.due_at);
    if withdrawn {
        return BTreeMap::new();
    }
    let counts = SlaCounts {
        timers: 1,
        met_on_time: i64::from(met_on_time),
        breached: i64::from(breached),
        open: i64::from(!met_on_time && !breached),
        escalated: i64::from(timer.escalated_at.is_some()),
        met_ms: match (met_on_time, timer.met_at) {
            (true, Some(met)) => vec![met.since(timer.started_at).num_milliseconds()],
            _ => Vec::new(),
        },
    };
    let day = day_of(timer.due_at);
    SlaGrouping::ALL
        .iter()
        .map(|g| {
            let key = match g {
                SlaGrouping::Kind => timer.kind.as_str().to_owned(),
                SlaGrouping::Partner => timer.partner_id.to_string(),
                SlaGrouping::Manager => manager.unwrap_or(UNASSIGNED).to_owned(),
            };
            ((g.as_str().to_owned(), key, day.clone()), counts.clone())
        })
        .collect()
}

/// The change to the aggregates when a record's contribution goes from
/// `before` to `after`: per slot, what to add and what to take away.
pub fn delta<C: Clone>(
    before: &BTreeMap<Slot, C>,
    after: &BTreeMap<Slot, C>,
) -> BTreeMap<Slot, (Option<C>, Option<C>)> {
    let mut out: BTreeMap<Slot, (Option<C>, Option<C>)> = BTreeMap::new();
    for (slot, c) in before {
        out.entry(slot.clone()).or_default().0 = Some(c.clone());
    }
    for (slot, c) in after {
        out.entry(slot.clone()).or_default().1 = Some(c.clone());
    }
    out
}

/// One row of the SLA report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaRow {
    pub key: String,
    pub timers: i64,
    pub met_on_time: i64,
    pub breached: i64,
    pub open: i64,
    pub escalated: i64,
    pub on_time_rate_bps: Option<u32>,
    pub median_minutes_to_meet: Option<i64>,
}

/// The rows of a range from its days' counts per key, by key.
pub fn sla_rows(days: impl IntoIterator<Item = (String, SlaCounts)>) -> Vec<SlaRow> {
    let mut by_key: BTreeMap<String, SlaCounts> = BTreeMap::new();
    for (key, counts) in days {
        by_key.entry(key).or_default().merge(&counts);
    }
    by_key
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(key, c)| SlaRow {
            key,
            timers: c.timers,
            met_on_time: c.met_on_time,
            breached: c.breached,
            open: c.open,
            escalated: c.escalated,
            on_time_rate_bps: rate_bps(c.met_on_time.unsigned_abs(), c.breached.unsigned_abs()),
            median_minutes_to_meet: median_minutes(&c.met_ms),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineGrouping {
    Motion,
    Partner,
}

impl PipelineGrouping {
    pub const ALL: [PipelineGrouping; 2] = [Self::Motion, Self::Partner];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "motion" => Some(Self::Motion),
            "partner" => Some(Self::Partner),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Motion => "motion",
            Self::Partner => "partner",
        }
    }
}

/// One role's side of a pipeline row (or one opportunity's share of it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleCounts {
    pub opportunities: i64,
    /// Attributed amount per currency, minor units.
    pub amount: BTreeMap<Currency, i64>,
    pub won: i64,
    pub won_amount: BTreeMap<Currency, i64>,
    pub lost: i64,
    /// Milliseconds from creation to close, one per won or lost opportunity.
    #[serde(default)]
    pub close_ms: Vec<i64>,
}

impl RoleCounts {
    pub fn apply(&mut self, other: &RoleCounts, sign: i64) {
        self.opportunities += sign * other.opportunities;
        for (c, m) in &other.amount {
            *self.amount.entry(*c).or_default() += sign * m;
        }
        self.won += sign * other.won;
        for (c, m) in &other.won_amount {
            *self.won_amount.entry(*c).or_default() += sign * m;
        }
        self.lost += sign * other.lost;
        for ms in &other.close_ms {
            if sign > 0 {
                self.close_ms.push(*ms);
            } else if let Some(i) = self.close_ms.iter().position(|m| m == ms) {
                self.close_ms.swap_remove(i);
            }
        }
        self.amount.retain(|_, m| *m != 0);
        self.won_amount.retain(|_, m| *m != 0);
    }
}

/// Sourced and influenced counts of one slot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineCounts {
    pub sourced: RoleCounts,
    pub influenced: RoleCounts,
}

impl PipelineCounts {
    pub fn apply(&mut self, other: &PipelineCounts, sign: i64) {
        self.sourced.apply(&other.sourced, sign);
        self.influenced.apply(&other.influenced, sign);
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn role_share(attribution: &[Attribution], role: AttributionRole, partner: Option<&str>) -> Option<u32> {
    let shares: Vec<u32> = attribution
        .iter()
        .filter(|a| a.role == role && partner.is_none_or(|p| a.partner_id.as_str() == p))
        .map(|a| a.share_bps)
        .collect();
    (!shares.is_empty()).then(|| shares.iter().sum())
}

fn role_counts(opportunity: &Opportunity, share_bps: u32) -> RoleCounts {
    let currency = opportunity.amount.currency();
    let attributed = |minor: i64| -> i64 {
        i64::try_from(div_half_even(i128::from(minor) * i128::from(share_bps), 10_000)).unwrap_or(i64::MAX)
    };
    let amount = attributed(opportunity.amount.minor_units());
    let closed = matches!(opportunity.status, OpportunityStatus::Won | OpportunityStatus::Lost);
    let won = opportunity.status == OpportunityStatus::Won;
    RoleCounts {
        opportunities: 1,
        amount: [(currency, amount)].into_iter().filter(|(_, m)| *m != 0).collect(),
        won: i64::from(won),
        won_amount: [(currency, amount)].into_iter().filter(|(_, m)| won && *m != 0).collect(),
        lost: i64::from(opportunity.status == OpportunityStatus::Lost),
        close_ms: match (closed, opportunity.closed_at) {
            (true, Some(at)) => vec![at.since(opportunity.created_at).num_milliseconds()],
            _ => Vec::new(),
        },
    }
}

/// The roles an opportunity credits: its attribution, or, before any, its
/// source partner as sourcing all of it.
fn credited(opportunity: &Opportunity) -> Vec<Attribution> {
    if opportunity.attribution.is_empty() {
        vec![Attribution {
            partner_id: opportunity.partner_id.clone(),
            role: AttributionRole::Sourced,
            share_bps: 10_000,
        }]
    } else {
        opportunity.attribution.clone()
    }
}

/// What an opportunity contributes, by slot, on the day it was created: per
/// motion, once per role it has (the role's shares together); per partner,
/// each partner's own share in its role.
pub fn opportunity_contribution(opportunity: &Opportunity) -> BTreeMap<Slot, PipelineCounts> {
    let day = day_of(opportunity.created_at);
    let attribution = credited(opportunity);
    let mut out: BTreeMap<Slot, PipelineCounts> = BTreeMap::new();
    let motion_slot = ("motion".to_owned(), opportunity.motion.as_str().to_owned(), day.clone());
    for role in [AttributionRole::Sourced, AttributionRole::Influenced] {
        if let Some(share) = role_share(&attribution, role, None) {
            let counts = role_counts(opportunity, share);
            let slot = out.entry(motion_slot.clone()).or_default();
            *side(slot, role) = counts;
        }
    }
    for entry in &attribution {
        let slot = ("partner".to_owned(), entry.partner_id.to_string(), day.clone());
        let Some(share) = role_share(&attribution, entry.role, Some(entry.partner_id.as_str())) else {
            continue;
        };
        let counts = role_counts(opportunity, share);
        *side(out.entry(slot).or_default(), entry.role) = counts;
    }
    out
}

fn side(counts: &mut PipelineCounts, role: AttributionRole) -> &mut RoleCounts {
    match role {
        AttributionRole::Sourced => &mut counts.sourced,
        AttributionRole::Influenced => &mut counts.influenced,
    }
}

/// Money as the API answers it, one entry per currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleSide {
    pub opportunities: i64,
    pub amount: Vec<crate::money::Money>,
    pub won: i64,
    pub won_amount: Vec<crate::money::Money>,
    pub lost: i64,
    pub win_rate_bps: Option<u32>,
    /// Tenths of a day; the API writes it with one decimal.
    pub median_tenth_days_to_close: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineRow {
    pub key: String,
    pub sourced: RoleSide,
    pub influenced: RoleSide,
}

fn role_side(c: &RoleCounts) -> RoleSide {
    let money = |m: &BTreeMap<Currency, i64>| {
        m.iter().filter(|(_, v)| **v != 0).map(|(c, v)| crate::money::Money::from_minor(*v, *c)).collect()
    };
    RoleSide {
        opportunities: c.opportunities,
        amount: money(&c.amount),
        won: c.won,
        won_amount: money(&c.won_amount),
        lost: c.lost,
        win_rate_bps: rate_bps(c.won.unsigned_abs(), c.lost.unsigned_abs()),
        median_tenth_days_to_close: median_tenth_days(&c.close_ms),
    }
}

pub fn pipeline_rows(days: impl IntoIterator<Item = (String, PipelineCounts)>) -> Vec<PipelineRow> {
    let mut by_key: BTreeMap<String, PipelineCounts> = BTreeMap::new();
    for (key, counts) in days {
        by_key.entry(key).or_default().apply(&counts, 1);
    }
    by_key
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(key, c)| PipelineRow { key, sourced: role_side(&c.sourced), influenced: role_side(&c.influenced) })
        .collect()
}

/// A report's range: both days included, `from` ≤ `to`, at most 366 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRange {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
}

impl DayRange {
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, crate::FieldErrors> {
        let mut errors = crate::FieldErrors::default();
        let mut day = |field: &str, raw: Option<&str>| match raw {
            None => {
                errors.push(field, "is required: a UTC day YYYY-MM-DD");
                None
            }
            Some(raw) => match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
                Ok(d) if raw.len() == 10 => Some(d),
                _ => {
                    errors.push(field, "must be a UTC day YYYY-MM-DD");
                    None
                }
            },
        };
        let (from, to) = (day("from", from), day("to", to));
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                errors.push("to", "must not be before from");
            } else if (t - f).num_days() > MAX_RANGE_DAYS {
                errors.push("to", "must be at most 366 days after from");
            }
        }
        match (from, to) {
            (Some(from), Some(to)) if errors.is_empty() => Ok(Self { from, to }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests;
