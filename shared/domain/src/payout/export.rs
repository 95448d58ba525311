//! A month's export: lines grouped by partner and currency, carried forward
//! below the minimum, and written as the finance files (RFC 4180 CSV).

use super::ledger::PayoutLine;
use super::period::Period;
use crate::money::{Currency, Money, format_minor_units};
use crate::partner::PartnerId;
use crate::terms::{AttributionRole, ProgramTerms};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One (partner, currency) of an export. On the wire its net is money
/// (`{ "amount": "40.00", "currency": "USD" }`), as everywhere in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "ExportGroupWire", from = "ExportGroupWire")]
pub struct ExportGroup {
    pub partner_id: PartnerId,
    pub partner_name: String,
    pub currency: Currency,
    pub lines: u64,
    /// Net of the group's lines, minor units.
    pub amount: i64,
    /// Held back: below the minimum payout, or negative.
    pub carried_forward: bool,
}

/// The order of lines in an export: partner, currency, earned_at, line id.
pub fn export_order(a: &PayoutLine, b: &PayoutLine) -> std::cmp::Ordering {
    (&a.partner_id, a.currency, a.earned_at, &a.line_id).cmp(&(&b.partner_id, b.currency, b.earned_at, &b.line_id))
}

#[derive(Serialize, Deserialize)]
struct ExportGroupWire {
    partner_id: PartnerId,
    partner_name: String,
    lines: u64,
    amount: Money,
    carried_forward: bool,
}

impl From<ExportGroup> for ExportGroupWire {
    fn from(g: ExportGroup) -> Self {
        Self {
            partner_id: g.partner_id,
            partner_name: g.partner_name,
            lines: g.lines,
            amount: Money::from_minor(g.amount, g.currency),
            carried_forward: g.carried_forward,
        }
    }
}

impl From<ExportGroupWire> for ExportGroup {
    fn from(w: ExportGroupWire) -> Self {
        Self {
            partner_id: w.partner_id,
            partner_name: w.partner_name,
            currency: w.amount.currency(),
            lines: w.lines,
            amount: w.amount.minor_units(),
            carried_forward: w.carried_forward,
        }
    }
}

/// Running (partner, currency) totals: an export adds lines a page at a
/// time and holds one entry per group, never the lines.
#[derive(Debug, Clone, Default)]
pub struct GroupTotals {
    groups: BTreeMap<(PartnerId, Currency), ExportGroup>,
}

impl GroupTotals {
    pub fn add(&mut self, line: &PayoutLine) {
        let group = self.groups.entry((line.partner_id.clone(), line.currency)).or_insert_with(|| ExportGroup {
            partner_id: line.partner_id.clone(),
            partner_name: line.partner_name.clone(),
            currency: line.currency,
            lines: 0,
            amount: 0,
            carried_forward: false,
        });
        group.lines += 1;
        group.amount = group.amount.saturating_add(line.amount);
    }

    /// The groups sorted by partner and currency, each paid or carried
    /// forward (below `minimum_payout[c]`, or negative).
    pub fn finish(self, terms: &ProgramTerms) -> Vec<ExportGroup> {
        self.groups
            .into_values()
            .map(|mut g| {
                let minimum = terms.payouts.minimum_payout.get(&g.currency).copied().unwrap_or(0);
                g.carried_forward = g.amount < 0 || g.amount < minimum;
                g
            })
            .collect()
    }
}

/// Groups the open lines due in an export and decides which groups are paid.
/// Returns the groups (paid and carried) sorted by partner and currency.
pub fn export_groups<'a>(lines: impl IntoIterator<Item = &'a PayoutLine>, terms: &ProgramTerms) -> Vec<ExportGroup> {
    let mut totals = GroupTotals::default();
    lines.into_iter().for_each(|line| totals.add(line));
    totals.finish(terms)
}

/// Net paid per currency: the sum of the paid groups.
pub fn export_totals(groups: &[ExportGroup]) -> Vec<Money> {
    let mut totals: BTreeMap<Currency, i64> = BTreeMap::new();
    for g in groups.iter().filter(|g| !g.carried_forward) {
        let slot = totals.entry(g.currency).or_insert(0);
        *slot = slot.saturating_add(g.amount);
    }
    totals.into_iter().map(|(c, amount)| Money::from_minor(amount, c)).collect()
}

/// A text cell a spreadsheet could run as a formula gets a leading `'`.
pub fn text_cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => std::borrow::Cow::Owned(format!("'{value}")),
        _ => std::borrow::Cow::Borrowed(value),
    }
}

pub const LINES_HEADER: [&str; 15] = [
    "export_id",
    "period",
    "partner_id",
    "partner_name",
    "line_id",
    "opportunity_id",
    "kind",
    "motion",
    "role",
    "share_bps",
    "rate_bps",
    "tier",
    "amount",
    "currency",
    "earned_at",
];

pub const SUMMARY_HEADER: [&str; 8] =
    ["export_id", "period", "partner_id", "partner_name", "currency", "lines", "amount", "status"];

fn csv_writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out)
}

/// Writes `lines.csv`: RFC 4180, CRLF, a header row, lines in the order
/// given (callers pass them in [`export_order`]).
pub fn write_lines_csv<'a, W: std::io::Write>(
    out: W,
    export_id: &str,
    period: Period,
    lines: impl IntoIterator<Item = &'a PayoutLine>,
) -> csv::Result<W> {
    let mut w = csv_writer(out);
    w.write_record(LINES_HEADER)?;
    line_records(w, export_id, period, lines)
}

/// More rows of a `lines.csv` already begun: how the export streams the
/// file a page at a time.
pub fn write_line_rows<'a, W: std::io::Write>(
    out: W,
    export_id: &str,
    period: Period,
    lines: impl IntoIterator<Item = &'a PayoutLine>,
) -> csv::Result<W> {
    line_records(csv_writer(out), export_id, period, lines)
}

fn line_records<'a, W: std::io::Write>(
    mut w: csv::Writer<W>,
    export_id: &str,
    period: Period,
    lines: impl IntoIterator<Item = &'a PayoutLine>,
) -> csv::Result<W> {
    let period = period.to_string();
    for l in lines {
        let (share, rate) = (l.share_bps.to_string(), l.rate_bps.to_string());
        let amount = format_minor_units(l.amount, l.currency.minor_digits());
        let earned_at = l.earned_at.to_rfc3339();
        w.write_record([
            &*text_cell(export_id),
            &*text_cell(&period),
            &*text_cell(l.partner_id.as_str()),
            &*text_cell(&l.partner_name),
            &*text_cell(l.line_id.as_str()),
            &*text_cell(&l.opportunity_id),
            l.kind.as_str(),
            l.motion.as_str(),
            role_str(l.role),
            &share,
            &rate,
            l.tier.as_str(),
            &amount,
            l.currency.code(),
            &*text_cell(&earned_at),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// `summary.csv`: one row per (partner, currency), `paid` or `carried_forward`.
pub fn write_summary_csv<W: std::io::Write>(
    out: W,
    export_id: &str,
    period: Period,
    groups: &[ExportGroup],
) -> csv::Result<W> {
    let mut w = csv_writer(out);
    w.write_record(SUMMARY_HEADER)?;
    let period = period.to_string();
    for g in groups {
        let lines = g.lines.to_string();
        let amount = format_minor_units(g.amount, g.currency.minor_digits());
        w.write_record([
            &*text_cell(export_id),
            &*text_cell(&period),
            &*text_cell(g.partner_id.as_str()),
            &*text_cell(&g.partner_name),
            g.currency.code(),
            &lines,
            &amount,
            if g.carried_forward { "carried_forward" } else { "paid" },
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

pub fn role_str(role: AttributionRole) -> &'static str {
    match role {
        AttributionRole::Sourced => "sourced",
        AttributionRole::Influenced => "influenced",
    }
}
