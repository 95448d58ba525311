//! The sourced-vs-influenced pipeline report (SPEC §19): what one
//! opportunity contributes per day and group, attributed by share, and the
//! rows read back from the tallies.

use super::days::{Slot, day_of};
use super::measures::{median_tenth_days, optional, rate_bps, tenth_days_text};
use crate::attribution::Attribution;
use crate::crm::{Opportunity, OpportunityStatus};
use crate::money::{Currency, div_half_even};
use crate::terms::AttributionRole;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
            (true, Some(at)) => vec![at.since(opportunity.opened()).num_milliseconds()],
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

/// What an opportunity contributes, by slot, on the day the CRM created it: per
/// motion, once per role it has (the role's shares together); per partner,
/// each partner's own share in its role.
pub fn opportunity_contribution(opportunity: &Opportunity) -> BTreeMap<Slot, PipelineCounts> {
    let day = day_of(opportunity.opened());
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
pub const PIPELINE_CSV_HEADER: [&str; 10] = [
    "key",
    "role",
    "currency",
    "opportunities",
    "amount",
    "won",
    "won_amount",
    "lost",
    "win_rate_bps",
    "median_days_to_close",
];

/// The pipeline report as CSV: one row per key, role and currency (a role
/// with no money yet has one row with an empty currency).
pub fn write_pipeline_csv<W: std::io::Write>(out: W, rows: &[PipelineRow]) -> csv::Result<W> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    w.write_record(PIPELINE_CSV_HEADER)?;
    for r in rows {
        for (role, side) in [("sourced", &r.sourced), ("influenced", &r.influenced)] {
            if side.opportunities == 0 {
                continue;
            }
            let mut currencies: Vec<Currency> =
                side.amount.iter().chain(&side.won_amount).map(|m| m.currency()).collect();
            currencies.sort_by(|a, b| a.code().cmp(b.code()));
            currencies.dedup();
            let cells = |currency: Option<Currency>| {
                let of = |list: &[crate::money::Money]| {
                    currency
                        .and_then(|c| list.iter().find(|m| m.currency() == c))
                        .map(|m| crate::money::format_minor_units(m.minor_units(), m.currency().minor_digits()))
                        .unwrap_or_else(|| if currency.is_some() { "0".into() } else { String::new() })
                };
                vec![
                    crate::payout::text_cell(&r.key).into_owned(),
                    role.to_owned(),
                    currency.map(|c| c.code().to_owned()).unwrap_or_default(),
                    side.opportunities.to_string(),
                    of(&side.amount),
                    side.won.to_string(),
                    of(&side.won_amount),
                    side.lost.to_string(),
                    optional(side.win_rate_bps),
                    side.median_tenth_days_to_close.map(tenth_days_text).unwrap_or_default(),
                ]
            };
            if currencies.is_empty() {
                w.write_record(cells(None))?;
            }
            for c in currencies {
                w.write_record(cells(Some(c)))?;
            }
        }
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}
