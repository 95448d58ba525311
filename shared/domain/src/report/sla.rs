//! The SLA compliance report (SPEC §19): what one timer contributes per day
//! and group, and the rows read back from the tallies.

use super::days::{Slot, day_of};
use super::measures::{median_minutes, optional, rate_bps};
use crate::sla::{SlaStatus, SlaTimer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

pub const SLA_CSV_HEADER: [&str; 8] =
    ["key", "timers", "met_on_time", "breached", "open", "escalated", "on_time_rate_bps", "median_minutes_to_meet"];

/// The SLA report as CSV: RFC 4180, CRLF, a header row, text cells guarded
/// against spreadsheet formulas.
pub fn write_sla_csv<W: std::io::Write>(out: W, rows: &[SlaRow]) -> csv::Result<W> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    w.write_record(SLA_CSV_HEADER)?;
    for r in rows {
        w.write_record([
            crate::payout::text_cell(&r.key).into_owned(),
            r.timers.to_string(),
            r.met_on_time.to_string(),
            r.breached.to_string(),
            r.open.to_string(),
            r.escalated.to_string(),
            optional(r.on_time_rate_bps),
            optional(r.median_minutes_to_meet),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}
