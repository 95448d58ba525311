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
use crate::sla::{SlaStatus, SlaSubject, SlaTimer};
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

/// What one record (a timer, an opportunity) adds to the aggregates, as
/// last folded in: kept beside them so the next change replaces it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// The record's subject, `referral#<id>`, `deal_registration#<id>` or
    /// `opportunity#<id>`.
    pub subject: String,
    /// `opportunity`, or the timer's `kind#seq`.
    pub record: String,
    /// The record's own revision when this was computed: an older read
    /// never replaces a newer one.
    pub source_rev: u64,
    pub contribution: Contribution,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "report", content = "slots", rename_all = "snake_case")]
pub enum Contribution {
    Sla(Vec<(Slot, SlaCounts)>),
    Pipeline(Vec<(Slot, PipelineCounts)>),
}

/// The subject key of a fact.
pub fn subject_key(subject: &SlaSubject) -> String {
    match subject {
        SlaSubject::Referral(id) => format!("referral#{id}"),
        SlaSubject::DealRegistration(id) => format!("deal_registration#{id}"),
        SlaSubject::Opportunity(id) => format!("opportunity#{id}"),
    }
}

impl Fact {
    pub fn of_timer(timer: &SlaTimer, manager: Option<&str>) -> Self {
        Self {
            subject: subject_key(&timer.subject),
            record: format!("{}#{}", timer.kind.as_str(), timer.seq),
            source_rev: timer.rev,
            contribution: Contribution::Sla(timer_contribution(timer, manager).into_iter().collect()),
        }
    }

    pub fn of_opportunity(opportunity: &Opportunity) -> Self {
        Self {
            subject: subject_key(&SlaSubject::Opportunity(opportunity.id.clone())),
            record: "opportunity".into(),
            source_rev: opportunity.rev,
            contribution: Contribution::Pipeline(opportunity_contribution(opportunity).into_iter().collect()),
        }
    }

    /// Whether `self`, computed from a fresh read, should replace `stored`:
    /// a newer revision, or the same one grouped differently (a partner's
    /// manager changed). An older read changes nothing.
    pub fn replaces(&self, stored: Option<&Fact>) -> bool {
        match stored {
            None => true,
            Some(old) => {
                self.source_rev > old.source_rev
                    || (self.source_rev == old.source_rev && self.contribution != old.contribution)
            }
        }
    }
}

/// The records whose contributions an event may have changed: the timers
/// (and opportunity) of each subject it names.
pub fn subjects_of(event: &crate::event::DomainEvent) -> Vec<SlaSubject> {
    use crate::event::EventPayload as P;
    let opportunity_and_source =
        |id: &str, referral: &Option<crate::id::ReferralId>, registration: &Option<crate::id::RegistrationId>| {
            let mut out = vec![SlaSubject::Opportunity(id.to_owned())];
            if let Some(r) = referral {
                out.push(SlaSubject::Referral(r.to_string()));
            }
            if let Some(r) = registration {
                out.push(SlaSubject::DealRegistration(r.to_string()));
            }
            out
        };
    match &event.payload {
        P::ReferralReceived(r) => vec![SlaSubject::Referral(r.referral_id.to_string())],
        P::DealRegistrationSubmitted(r) => vec![SlaSubject::DealRegistration(r.registration_id.to_string())],
        P::DealRegistrationDecided(r) => vec![SlaSubject::DealRegistration(r.registration_id.to_string())],
        P::DealRegistrationWithdrawn(r) => vec![SlaSubject::DealRegistration(r.registration_id.to_string())],
        P::OpportunityLinked(o) => opportunity_and_source(&o.opportunity_id, &o.referral_id, &o.deal_registration_id),
        P::OpportunityUpdated(o) => vec![SlaSubject::Opportunity(o.opportunity_id.clone())],
        P::DealClosed(c) => opportunity_and_source(&c.opportunity_id, &c.referral_id, &c.deal_registration_id),
        P::DealLost(c) => opportunity_and_source(&c.opportunity_id, &c.referral_id, &c.deal_registration_id),
        P::SlaBreached(s) | P::SlaEscalated(s) => vec![s.subject.clone()],
        // A due-soon warning or a refund changes nothing a report counts.
        P::SlaDueSoon(_)
        | P::DealRefunded(_)
        | P::ReferralRejected(_)
        | P::DealRegistrationExpiring(_)
        | P::DealRegistrationExpired(_)
        | P::PayoutLinesCreated(_)
        | P::PayoutExportReady(_) => Vec::new(),
    }
}

/// Tenths of a day as the API writes them: a number with one decimal.
pub fn tenth_days_json(tenths: Option<i64>) -> serde_json::Value {
    match tenths {
        None => serde_json::Value::Null,
        Some(t) => serde_json::from_str(&tenth_days_text(t)).unwrap_or(serde_json::Value::Null),
    }
}

fn tenth_days_text(tenths: i64) -> String {
    let sign = if tenths < 0 { "-" } else { "" };
    format!("{sign}{}.{}", tenths.unsigned_abs() / 10, tenths.unsigned_abs() % 10)
}

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
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

#[cfg(test)]
mod tests;
