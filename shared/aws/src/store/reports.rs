//! Report aggregates (SPEC §19): per UTC day and group, the counts of both
//! reports, beside each record's last contribution to them.
//!
//! An aggregate item is `RPT#<report>#<grouping>#<YYYY-MM>` / `<day>#<key>`,
//! one number attribute per tally, changed only by `ADD` in the transaction
//! that replaces a record's fact (`RPTFACT#<subject>` / `F#<record>`): the
//! fact's condition makes each change count once however often it is
//! folded. A report over a range reads one month partition per month and,
//! in it, one item per day and key: never the records themselves.

use crate::store::dynamo::{Item, from_item, key_of, n, query_counted, s, to_item};
use crate::store::items::MAX_TRANSACTION_ITEMS;
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use partnerops_domain::money::Currency;
use partnerops_domain::report::{DayRange, Fact, PipelineCounts, RoleCounts, SlaCounts, Slot};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// An aggregate's numbers by attribute name.
pub type Tallies = BTreeMap<String, i64>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Sla,
    Pipeline,
}

impl ReportKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Sla => "sla",
            Self::Pipeline => "pipeline",
        }
    }
}

/// One day's tallies for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTallies {
    pub day: String,
    pub key: String,
    pub tallies: Tallies,
}

/// What a report read: its day items, and what reading them cost.
#[derive(Debug, Clone, Default)]
pub struct ReportDays {
    pub days: Vec<DayTallies>,
    /// Items DynamoDB read (`ScannedCount`, summed over pages).
    pub items_read: usize,
    pub queries: usize,
}

impl ReportDays {
    pub fn sla(&self) -> Vec<(String, SlaCounts)> {
        self.days.iter().map(|d| (d.key.clone(), sla_counts(&d.tallies))).collect()
    }

    pub fn pipeline(&self) -> Vec<(String, PipelineCounts)> {
        self.days.iter().map(|d| (d.key.clone(), pipeline_counts(&d.tallies))).collect()
    }
}

#[async_trait]
pub trait ReportTallies: Send + Sync {
    /// Every fact kept for a subject (`referral#…`, `opportunity#…`).
    async fn report_facts(&self, subject: &str) -> Result<Vec<Fact>, StoreError>;

    /// Replaces a record's fact and moves the aggregates by the difference,
    /// in one transaction; `Conflict` when the stored fact is no longer
    /// `before` (another fold got there first: read again).
    async fn replace_fact(&self, before: Option<&Fact>, after: &Fact) -> Result<(), StoreError>;

    /// The day items of one report and grouping over a range.
    async fn report_days(&self, report: ReportKind, grouping: &str, range: &DayRange)
    -> Result<ReportDays, StoreError>;
}

fn add_to(tallies: &mut Tallies, name: String, by: i64) {
    if by != 0 {
        *tallies.entry(name).or_default() += by;
    }
}

pub fn sla_tallies(c: &SlaCounts) -> Tallies {
    let mut t = Tallies::new();
    add_to(&mut t, "timers".into(), c.timers);
    add_to(&mut t, "met_on_time".into(), c.met_on_time);
    add_to(&mut t, "breached".into(), c.breached);
    add_to(&mut t, "open".into(), c.open);
    add_to(&mut t, "escalated".into(), c.escalated);
    for ms in &c.met_ms {
        add_to(&mut t, format!("ms_{ms}"), 1);
    }
    t
}

/// Durations kept as `<prefix><ms>` counts, expanded back to one value each.
fn durations(t: &Tallies, prefix: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for (name, count) in t {
        if let Some(ms) = name.strip_prefix(prefix).and_then(|v| v.parse::<i64>().ok()) {
            out.extend(std::iter::repeat_n(ms, usize::try_from(*count).unwrap_or(0)));
        }
    }
    out
}

pub fn sla_counts(t: &Tallies) -> SlaCounts {
    let get = |name: &str| t.get(name).copied().unwrap_or(0);
    SlaCounts {
        timers: get("timers"),
        met_on_time: get("met_on_time"),
        breached: get("breached"),
        open: get("open"),
        escalated: get("escalated"),
        met_ms: durations(t, "ms_"),
    }
}

fn role_tallies(t: &mut Tallies, p: &str, c: &RoleCounts) {
    add_to(t, format!("{p}_opportunities"), c.opportunities);
    add_to(t, format!("{p}_won"), c.won);
    add_to(t, format!("{p}_lost"), c.lost);
    for (currency, minor) in &c.amount {
        add_to(t, format!("{p}_amount_{}", currency.code()), *minor);
    }
    for (currency, minor) in &c.won_amount {
        add_to(t, format!("{p}_wonamount_{}", currency.code()), *minor);
    }
    for ms in &c.close_ms {
        add_to(t, format!("{p}_close_{ms}"), 1);
    }
}

pub fn pipeline_tallies(c: &PipelineCounts) -> Tallies {
    let mut t = Tallies::new();
    role_tallies(&mut t, "s", &c.sourced);
    role_tallies(&mut t, "i", &c.influenced);
    t
}

fn role_counts(t: &Tallies, p: &str) -> RoleCounts {
    let get = |name: String| t.get(&name).copied().unwrap_or(0);
    let money = |prefix: String| -> BTreeMap<Currency, i64> {
        t.iter()
            .filter(|(_, v)| **v != 0)
            .filter_map(|(name, v)| Some((Currency::parse(name.strip_prefix(&prefix)?).ok()?, *v)))
            .collect()
    };
    RoleCounts {
        opportunities: get(format!("{p}_opportunities")),
        amount: money(format!("{p}_amount_")),
        won: get(format!("{p}_won")),
        won_amount: money(format!("{p}_wonamount_")),
        lost: get(format!("{p}_lost")),
        close_ms: durations(t, &format!("{p}_close_")),
    }
}

pub fn pipeline_counts(t: &Tallies) -> PipelineCounts {
    PipelineCounts { sourced: role_counts(t, "s"), influenced: role_counts(t, "i") }
}

fn fact_tallies(fact: &Fact) -> BTreeMap<Slot, (ReportKind, Tallies)> {
    use partnerops_domain::report::Contribution;
    match &fact.contribution {
        Contribution::Sla(slots) => {
            slots.iter().map(|(slot, c)| (slot.clone(), (ReportKind::Sla, sla_tallies(c)))).collect()
        }
        Contribution::Pipeline(slots) => {
            slots.iter().map(|(slot, c)| (slot.clone(), (ReportKind::Pipeline, pipeline_tallies(c)))).collect()
        }
    }
}

/// Per aggregate item, `after − before`, without the zeros.
pub(super) fn changes(before: Option<&Fact>, after: &Fact) -> Vec<(String, String, Slot, Tallies)> {
    let mut out: BTreeMap<(String, String), (Slot, Tallies)> = BTreeMap::new();
    let mut fold = |fact: &Fact, sign: i64| {
        for (slot, (report, tallies)) in fact_tallies(fact) {
            let (pk, sk) = aggregate_key(report, &slot);
            let entry = out.entry((pk, sk)).or_insert_with(|| (slot.clone(), Tallies::new()));
            for (name, v) in tallies {
                *entry.1.entry(name).or_default() += sign * v;
            }
        }
    };
    if let Some(before) = before {
        fold(before, -1);
    }
    fold(after, 1);
    out.into_iter()
        .filter_map(|((pk, sk), (slot, mut t))| {
            t.retain(|_, v| *v != 0);
            (!t.is_empty()).then_some((pk, sk, slot, t))
        })
        .collect()
}

fn aggregate_key(report: ReportKind, (grouping, key, day): &Slot) -> (String, String) {
    let month = day.get(..7).unwrap_or(day);
    (format!("RPT#{}#{grouping}#{month}", report.as_str()), format!("{day}#{key}"))
}

fn fact_pk(subject: &str) -> String {
    format!("RPTFACT#{subject}")
}

const FACT_SK_PREFIX: &str = "F#";

/// The `YYYY-MM` partitions a range touches, first to last.
pub(super) fn months(range: &DayRange) -> Vec<String> {
    use chrono::Datelike;
    let mut out = Vec::new();
    let (mut y, mut m) = (range.from.year(), range.from.month());
    while (y, m) <= (range.to.year(), range.to.month()) {
        out.push(format!("{y:04}-{m:02}"));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    out
}

pub(super) fn bounds(range: &DayRange) -> (String, String) {
    (range.from.format("%Y-%m-%d").to_string(), format!("{}#~", range.to.format("%Y-%m-%d")))
}

#[derive(Serialize, Deserialize)]
struct FactItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    source_rev: u64,
    /// The fact as JSON: its slots are keyed by tuples, which no item map holds.
    fact: String,
}

#[async_trait]
impl ReportTallies for DynamoStore {
    async fn report_facts(&self, subject: &str) -> Result<Vec<Fact>, StoreError> {
        self.query_prefix(fact_pk(subject), FACT_SK_PREFIX)
            .await?
            .into_iter()
            .map(|item| {
                let item: FactItem = from_item(item)?;
                serde_json::from_str(&item.fact).map_err(|e| StoreError::Unexpected(e.into()))
            })
            .collect()
    }

    async fn replace_fact(&self, before: Option<&Fact>, after: &Fact) -> Result<(), StoreError> {
        let item = FactItem {
            pk: fact_pk(&after.subject),
            sk: format!("{FACT_SK_PREFIX}{}", after.record),
            entity: "report_fact".into(),
            source_rev: after.source_rev,
            fact: serde_json::to_string(after).map_err(|e| StoreError::Unexpected(e.into()))?,
        };
        let mut items = vec![match before {
            None => self.put(to_item(&item)?, Some("attribute_not_exists(PK)"))?,
            Some(b) => self.put_with_values(
                to_item(&item)?,
                "source_rev = :rev",
                HashMap::from([(":rev".to_owned(), n(b.source_rev))]),
            )?,
        }];
        let mut names = vec!["the report fact"];
        for (pk, sk, (_, key, day), tallies) in changes(before, after) {
            let mut expression = "SET #day = :day, #key = :key ADD ".to_owned();
            let mut attr_names = vec![("#day".to_owned(), "day".to_owned()), ("#key".to_owned(), "key".to_owned())];
            let mut values = HashMap::from([(":day".to_owned(), s(day)), (":key".to_owned(), s(key))]);
            for (i, (name, by)) in tallies.into_iter().enumerate() {
                if i > 0 {
                    expression.push_str(", ");
                }
                expression.push_str(&format!("#a{i} :v{i}"));
                attr_names.push((format!("#a{i}"), name));
                values.insert(format!(":v{i}"), AttributeValue::N(by.to_string()));
            }
            let attr_names: Vec<(&str, &str)> = attr_names.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            items.push(self.update(key_of(&pk, &sk), &expression, None, attr_names, values)?);
            names.push("a report aggregate");
        }
        if items.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "a record's report change touches {} items, over one transaction's {MAX_TRANSACTION_ITEMS}",
                items.len()
            )));
        }
        self.transact(items, &names).await
    }

    async fn report_days(
        &self,
        report: ReportKind,
        grouping: &str,
        range: &DayRange,
    ) -> Result<ReportDays, StoreError> {
        let (from, to) = bounds(range);
        let mut out = ReportDays::default();
        for month in months(range) {
            let read = query_counted(
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
                    .expression_attribute_values(":pk", s(format!("RPT#{}#{grouping}#{month}", report.as_str())))
                    .expression_attribute_values(":from", s(from.clone()))
                    .expression_attribute_values(":to", s(to.clone())),
            )
            .await?;
            out.queries += read.queries;
            out.items_read += read.items_read;
            out.days.extend(read.items.iter().map(day_tallies));
        }
        Ok(out)
    }
}

fn day_tallies(item: &Item) -> DayTallies {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let tallies = item
        .iter()
        .filter_map(|(name, v)| Some((name.clone(), v.as_n().ok()?.parse::<i64>().ok()?)))
        .filter(|(_, v)| *v != 0)
        .collect();
    DayTallies { day: text("day"), key: text("key"), tallies }
}

/// The memory twin's copy of the aggregate and fact items.
#[derive(Default, Clone)]
pub(super) struct ReportState {
    pub(super) facts: BTreeMap<(String, String), Fact>,
    pub(super) aggregates: BTreeMap<(String, String), (String, String, Tallies)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use partnerops_domain::report::Contribution;

    fn slot(day: &str, key: &str) -> Slot {
        ("kind".into(), key.into(), day.into())
    }

    #[test]
    fn tallies_round_trip_and_name_each_duration() {
        let c = SlaCounts { timers: 3, met_on_time: 2, breached: 1, open: 0, escalated: 1, met_ms: vec![5, 5, -1] };
        let t = sla_tallies(&c);
        assert_eq!(t.get("ms_5"), Some(&2));
        assert_eq!(t.get("ms_-1"), Some(&1));
        let mut back = sla_counts(&t);
        back.met_ms.sort_unstable();
        assert_eq!(back, SlaCounts { met_ms: vec![-1, 5, 5], ..c });
    }

    #[test]
    fn a_replacement_moves_only_what_changed() {
        let fact = |rev, open, met| Fact {
            subject: "referral#r".into(),
            record: "opportunity_creation#0".into(),
            source_rev: rev,
            contribution: Contribution::Sla(vec![(
                slot("2026-11-02", "opportunity_creation"),
                SlaCounts {
                    timers: 1,
                    open,
                    met_on_time: met,
                    met_ms: vec![60_000; met as usize],
                    ..SlaCounts::default()
                },
            )]),
        };
        let (open, met) = (fact(0, 1, 0), fact(1, 0, 1));
        let moved = changes(Some(&open), &met);
        assert_eq!(moved.len(), 1);
        let (pk, sk, _, t) = &moved[0];
        assert_eq!((pk.as_str(), sk.as_str()), ("RPT#sla#kind#2026-11", "2026-11-02#opportunity_creation"));
        assert_eq!(t, &Tallies::from([("met_on_time".into(), 1), ("ms_60000".into(), 1), ("open".into(), -1)]));
        assert!(changes(Some(&met), &met).is_empty());
    }

    #[test]
    fn a_range_reads_the_months_it_spans() {
        let range = DayRange::parse(Some("2025-12-30"), Some("2026-02-01")).unwrap();
        assert_eq!(months(&range), ["2025-12", "2026-01", "2026-02"]);
    }
}
