//! The payout ledger on the table (docs/data-model.md):
//!
//! - `PAYOUT#<opportunity>` / `LEDGER`: the deal's facts, with a `version`
//!   every write is conditional on;
//! - `PAYOUT#<opportunity>` / `LINE#<line_id>`: append-only lines, put with
//!   `attribute_not_exists`; an open line is in GSI1 under
//!   `PAYOUT#OPEN#<shard>` sorted by `earned_at`, an exported one moves to
//!   GSI2 under `PAYOUT#EXPORT#<period>` in the files' sort order;
//! - `PAYOUT#EXPORT#<period>` / `EXPORT`: the export, `running` then `done`
//!   (or `failed` and `running` again).

use super::dynamo::*;
use super::items::*;
use super::memory::*;
use super::*;
use crate::outbox::outbox_item;
use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use partnerops_domain::Timestamp;
use partnerops_domain::event::DomainEvent;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::payout::{DealLedger, ExportGroup, PayoutLine, Period};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Open lines are spread over this many index partitions.
pub const OPEN_SHARDS: u32 = 8;

fn ledger_pk(opportunity: &str) -> String {
    format!("PAYOUT#{opportunity}")
}

fn open_pk(line: &PayoutLine) -> String {
    let hash = line.line_id.as_str().bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("PAYOUT#OPEN#{}", hash % OPEN_SHARDS)
}

fn export_pk(period: Period) -> String {
    format!("PAYOUT#EXPORT#{period}")
}

fn exported_sk(line: &PayoutLine) -> String {
    format!("{}#{}#{}#{}", line.partner_id, line.currency, line.earned_at, line.line_id)
}

#[derive(Serialize, Deserialize)]
struct LedgerItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    version: u64,
    ledger: DealLedger,
}

/// A partner's copy of one of its lines, written with the line: the
/// partner's earnings are one `Query` on its partition; whether the line was
/// exported is read from the line itself.
#[derive(Serialize, Deserialize)]
struct PartnerLineItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    line: PayoutLine,
}

const PARTNER_LINE_PREFIX: &str = "PAYLINE#";

fn partner_line_item(line: &PayoutLine) -> PartnerLineItem {
    PartnerLineItem {
        pk: partner_pk(&line.partner_id),
        sk: format!("{PARTNER_LINE_PREFIX}{}#{}", line.earned_at, line.line_id),
        entity: "partner_payout_line".into(),
        line: line.clone(),
    }
}

#[derive(Serialize, Deserialize)]
struct LineItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    export_period: Option<String>,
    line: PayoutLine,
}

/// Where the next page of a period's exported lines starts.
#[derive(Debug, Clone)]
pub struct ExportCursor(CursorAt);

#[derive(Debug, Clone)]
enum CursorAt {
    /// DynamoDB's `LastEvaluatedKey`.
    Table(Item),
    /// The in-memory index key of the last line given.
    Memory(String),
}

/// Where an export stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    /// Queued or being written; the worker resumes it after an interruption.
    Running,
    /// The files are in the bucket and the totals are final.
    Done,
    /// The last run stopped with `failure`; starting it again resumes it.
    Failed,
}

impl ExportState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

/// A payout export as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub export_id: partnerops_domain::id::ExportId,
    pub period: String,
    pub status: ExportState,
    /// Why the last run failed, while it is `failed`.
    #[serde(default)]
    pub failure: Option<String>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    #[serde(default)]
    pub lines: u64,
    #[serde(default)]
    pub groups: Vec<ExportGroup>,
    #[serde(default)]
    pub totals: Vec<partnerops_domain::money::Money>,
    #[serde(default)]
    pub files: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct ExportItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// Every export in GSI1 under one partition, by period.
    #[serde(rename = "GSI1PK", default)]
    gsi1pk: String,
    #[serde(rename = "GSI1SK", default)]
    gsi1sk: String,
    entity: String,
    export: ExportRecord,
}

const EXPORTS_PARTITION: &str = "PAYOUT#EXPORTS";

impl ExportItem {
    fn new(period: Period, record: &ExportRecord) -> Self {
        Self {
            pk: export_pk(period),
            sk: "EXPORT".into(),
            gsi1pk: EXPORTS_PARTITION.into(),
            gsi1sk: period.to_string(),
            entity: "payout_export".into(),
            export: record.clone(),
        }
    }
}

/// Each deal's payout ledger and its append-only lines, by deal and by
/// partner: what the ledger writes and the portal's earnings read.
#[async_trait]
pub trait PayoutLines: Send + Sync {
    /// A deal's ledger facts and lines (one `Query`).
    async fn payout_ledger(&self, opportunity: &str) -> Result<(DealLedger, Vec<PayoutLine>), StoreError>;

    /// Writes the ledger (conditional on the version read, `before`), its
    /// new lines (each only if absent) and their events in one transaction.
    async fn save_payout_ledger(
        &self,
        before: u64,
        ledger: &DealLedger,
        lines: &[PayoutLine],
        events: &[DomainEvent],
    ) -> Result<(), StoreError>;

    /// Every line a partner earned, oldest first, each with the period of
    /// the export that carried it (`None` while not yet exported).
    async fn partner_payout_lines(&self, partner: &PartnerId) -> Result<Vec<(PayoutLine, Option<String>)>, StoreError>;
}

/// The monthly exports: the open-line index they drain, each period's
/// exported lines, and the export records.
#[async_trait]
pub trait PayoutExports: Send + Sync {
    /// Moves an unfinished export to `running` or `failed` (with why);
    /// `Conflict` once it is done.
    async fn mark_payout_export(
        &self,
        period: Period,
        status: ExportState,
        failure: Option<String>,
    ) -> Result<(), StoreError>;

    /// One page of the lines not yet exported that were earned before
    /// `cutoff`, from one shard of the open-line index (never a scan), after
    /// the index key `after`; with the key to continue from when the page
    /// was cut. Pages follow index keys, not cursors, so lines moved out of
    /// the index between pages (an export marking them) never derail it.
    async fn open_payout_page(
        &self,
        cutoff: Timestamp,
        shard: u32,
        after: Option<&str>,
    ) -> Result<(Vec<PayoutLine>, Option<String>), StoreError>;

    /// Moves lines from the open index to the period's export index, 100 per
    /// transaction; a line already in another export is a `Conflict`.
    async fn mark_payout_lines_exported(&self, period: Period, lines: &[PayoutLine]) -> Result<(), StoreError>;

    /// One page of a period's exported lines in the files' order (partner,
    /// currency, earned_at, line id) and where the next page starts.
    async fn exported_payout_page(
        &self,
        period: Period,
        start: Option<ExportCursor>,
    ) -> Result<(Vec<PayoutLine>, Option<ExportCursor>), StoreError>;

    async fn payout_export(&self, period: Period) -> Result<Option<ExportRecord>, StoreError>;

    /// Every export, newest period first.
    async fn payout_exports(&self) -> Result<Vec<ExportRecord>, StoreError>;

    /// Starts an export; `Ok(existing)` when the period has one already
    /// (finished, or interrupted and now resumed under the same id).
    async fn begin_payout_export(&self, period: Period, record: &ExportRecord) -> Result<ExportRecord, StoreError>;

    /// Finishes an export with its `PayoutExportReady` event, in one
    /// transaction conditional on it not being `done` yet.
    async fn finish_payout_export(
        &self,
        period: Period,
        record: &ExportRecord,
        event: &DomainEvent,
    ) -> Result<(), StoreError>;
}

#[async_trait]
impl PayoutLines for DynamoStore {
    async fn payout_ledger(&self, opportunity: &str) -> Result<(DealLedger, Vec<PayoutLine>), StoreError> {
        // `LEDGER` and `LINE#…`: the whole partition.
        let items = self.query_prefix(ledger_pk(opportunity), "L").await?;
        let mut ledger = DealLedger { opportunity_id: opportunity.to_owned(), ..DealLedger::default() };
        let mut lines = Vec::new();
        for item in items {
            match item.get("entity").and_then(|e| e.as_s().ok()).map(String::as_str) {
                Some("payout_ledger") => ledger = from_item::<LedgerItem>(item)?.ledger,
                Some("payout_line") => lines.push(from_item::<LineItem>(item)?.line),
                _ => {}
            }
        }
        Ok((ledger, lines))
    }

    async fn save_payout_ledger(
        &self,
        before: u64,
        ledger: &DealLedger,
        lines: &[PayoutLine],
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let item = to_item(&LedgerItem {
            pk: ledger_pk(&ledger.opportunity_id),
            sk: "LEDGER".into(),
            entity: "payout_ledger".into(),
            version: ledger.version,
            ledger: ledger.clone(),
        })?;
        let mut writes = vec![match before {
            0 => self.put(item, Some("attribute_not_exists(PK)"))?,
            v => self.put_with_values(item, "version = :v", HashMap::from([(":v".to_owned(), n(v))]))?,
        }];
        let mut names = vec!["the deal's ledger"];
        for line in lines {
            let item = to_item(&LineItem {
                pk: ledger_pk(&line.opportunity_id),
                sk: format!("LINE#{}", line.line_id),
                entity: "payout_line".into(),
                gsi1pk: Some(open_pk(line)),
                gsi1sk: Some(format!("{}#{}", line.earned_at, line.line_id)),
                export_period: None,
                line: line.clone(),
            })?;
            writes.push(self.put(item, Some("attribute_not_exists(PK)"))?);
            names.push("a payout line");
            writes.push(self.put(to_item(&partner_line_item(line))?, Some("attribute_not_exists(PK)"))?);
            names.push("a payout line");
        }
        for event in events {
            writes.push(self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?);
            names.push("the event");
        }
        self.transact(writes, &names).await
    }

    async fn partner_payout_lines(&self, partner: &PartnerId) -> Result<Vec<(PayoutLine, Option<String>)>, StoreError> {
        let copies = self.query_prefix(partner_pk(partner), PARTNER_LINE_PREFIX).await?;
        let lines: Vec<PayoutLine> =
            copies.into_iter().map(|i| from_item::<PartnerLineItem>(i).map(|c| c.line)).collect::<Result<_, _>>()?;
        let mut periods: HashMap<String, Option<String>> = HashMap::new();
        for chunk in lines.chunks(100) {
            let keys = chunk.iter().map(|l| key(ledger_pk(&l.opportunity_id), format!("LINE#{}", l.line_id))).collect();
            for item in self.batch_get(keys).await? {
                let stored = from_item::<LineItem>(item)?;
                periods.insert(stored.line.line_id.to_string(), stored.export_period);
            }
        }
        Ok(lines
            .into_iter()
            .map(|l| {
                let period = periods.get(l.line_id.as_str()).cloned().flatten();
                (l, period)
            })
            .collect())
    }
}

#[async_trait]
impl PayoutExports for DynamoStore {
    async fn mark_payout_export(
        &self,
        period: Period,
        status: ExportState,
        failure: Option<String>,
    ) -> Result<(), StoreError> {
        let write = self.update(
            key(export_pk(period), "EXPORT"),
            "SET #export.#status = :status, #export.failure = :failure",
            Some("attribute_exists(PK) AND #export.#status <> :done"),
            vec![("#export", "export"), ("#status", "status")],
            HashMap::from([
                (":status".to_owned(), s(status.as_str())),
                (":failure".to_owned(), failure.map_or(AttributeValue::Null(true), s)),
                (":done".to_owned(), s(ExportState::Done.as_str())),
            ]),
        )?;
        self.transact(vec![write], &["the export"]).await
    }

    async fn open_payout_page(
        &self,
        cutoff: Timestamp,
        shard: u32,
        after: Option<&str>,
    ) -> Result<(Vec<PayoutLine>, Option<String>), StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .expression_attribute_values(":pk", s(format!("PAYOUT#OPEN#{shard}")))
            .expression_attribute_values(":cutoff", s(cutoff.to_rfc3339()));
        query = match after {
            // `\u{1}` makes the bound exclusive: no key continues `after` with it.
            Some(after) => query
                .key_condition_expression("GSI1PK = :pk AND GSI1SK BETWEEN :after AND :cutoff")
                .expression_attribute_values(":after", s(format!("{after}\u{1}"))),
            None => query.key_condition_expression("GSI1PK = :pk AND GSI1SK < :cutoff"),
        };
        let page = query.send().await.map_err(unexpected("Query"))?;
        let items = page.items.unwrap_or_default();
        let cut = page.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let mut lines = Vec::with_capacity(items.len());
        let mut last_key = None;
        for item in items {
            let decoded = from_item::<LineItem>(item)?;
            last_key = decoded.gsi1sk;
            lines.push(decoded.line);
        }
        Ok((lines, if cut { last_key } else { None }))
    }

    async fn mark_payout_lines_exported(&self, period: Period, lines: &[PayoutLine]) -> Result<(), StoreError> {
        let period_text = period.to_string();
        for chunk in lines.chunks(100) {
            let mut writes = Vec::with_capacity(chunk.len());
            for line in chunk {
                writes.push(self.update(
                    key(ledger_pk(&line.opportunity_id), format!("LINE#{}", line.line_id)),
                    "REMOVE GSI1PK, GSI1SK SET export_period = :p, GSI2PK = :g2pk, GSI2SK = :g2sk",
                    Some("attribute_exists(PK) AND (attribute_not_exists(export_period) OR export_period = :p)"),
                    Vec::new(),
                    HashMap::from([
                        (":p".to_owned(), s(period_text.clone())),
                        (":g2pk".to_owned(), s(export_pk(period))),
                        (":g2sk".to_owned(), s(exported_sk(line))),
                    ]),
                )?);
            }
            let names = vec!["a payout line"; writes.len()];
            self.transact(writes, &names).await?;
        }
        Ok(())
    }

    async fn exported_payout_page(
        &self,
        period: Period,
        start: Option<ExportCursor>,
    ) -> Result<(Vec<PayoutLine>, Option<ExportCursor>), StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("GSI2PK = :pk")
            .expression_attribute_values(":pk", s(export_pk(period)))
            .set_exclusive_start_key(match start.map(|c| c.0) {
                Some(CursorAt::Table(key)) => Some(key),
                Some(CursorAt::Memory(_)) => return Err(StoreError::InvalidCursor),
                None => None,
            })
            .send()
            .await
            .map_err(unexpected("Query"))?;
        let lines = page
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<LineItem>(item).map(|i| i.line))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((lines, page.last_evaluated_key.filter(|k| !k.is_empty()).map(|k| ExportCursor(CursorAt::Table(k)))))
    }

    async fn payout_export(&self, period: Period) -> Result<Option<ExportRecord>, StoreError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(export_pk(period), "EXPORT")))
            .consistent_read(true)
            .send()
            .await
            .map_err(unexpected("GetItem"))?;
        got.item.map(|item| from_item::<ExportItem>(item).map(|i| i.export)).transpose()
    }

    async fn payout_exports(&self) -> Result<Vec<ExportRecord>, StoreError> {
        let items = self.gsi1_partition(EXPORTS_PARTITION.to_owned(), true).await?;
        items.into_iter().map(|i| from_item::<ExportItem>(i).map(|e| e.export)).collect()
    }

    async fn begin_payout_export(&self, period: Period, record: &ExportRecord) -> Result<ExportRecord, StoreError> {
        let item = to_item(&ExportItem::new(period, record))?;
        if self.put_item(item, Some("attribute_not_exists(PK)"), None).await? {
            return Ok(record.clone());
        }
        self.payout_export(period)
            .await?
            .ok_or_else(|| StoreError::Unexpected(anyhow!("export {period} vanished while starting")))
    }

    async fn finish_payout_export(
        &self,
        period: Period,
        record: &ExportRecord,
        event: &DomainEvent,
    ) -> Result<(), StoreError> {
        let item = to_item(&ExportItem::new(period, record))?;
        let writes = vec![
            self.put_named(
                item,
                "#export.#status <> :done",
                vec![("#export", "export"), ("#status", "status")],
                HashMap::from([(":done".to_owned(), s(ExportState::Done.as_str()))]),
            )?,
            self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?,
        ];
        self.transact(writes, &["the export", "its event"]).await
    }
}

/// A page of the in-memory indexes. DynamoDB cuts pages at 1 MB, a few
/// thousand lines; pages this small make every test that exports a dozen
/// lines follow the page keys.
const MEMORY_PAGE: usize = 5;

/// The payout ledger in memory, with the table's two line indexes.
#[derive(Default)]
pub(super) struct PayoutState {
    ledgers: HashMap<String, DealLedger>,
    /// (opportunity, line id) → the line and the period that exported it.
    lines: BTreeMap<LineKey, (PayoutLine, Option<Period>)>,
    /// GSI1: open lines by shard, then `earned_at#line_id`.
    open: HashMap<String, BTreeMap<String, LineKey>>,
    /// GSI2: exported lines by period, in the files' order.
    exported: HashMap<Period, BTreeMap<String, LineKey>>,
    exports: HashMap<Period, ExportRecord>,
}

fn line_key(line: &PayoutLine) -> LineKey {
    (line.opportunity_id.clone(), line.line_id.to_string())
}

fn open_sk(line: &PayoutLine) -> String {
    format!("{}#{}", line.earned_at, line.line_id)
}

type LineKey = (String, String);

/// One page of an in-memory line index after the key `after` and below
/// `until`, and the last key given when the page was cut.
fn index_page(
    index: &BTreeMap<String, LineKey>,
    after: Option<&str>,
    until: Option<&str>,
    lines: &BTreeMap<LineKey, (PayoutLine, Option<Period>)>,
) -> (Vec<PayoutLine>, Option<String>) {
    let mut keys = index
        .iter()
        .skip_while(|(sk, _)| after.is_some_and(|a| sk.as_str() <= a))
        .take_while(|(sk, _)| until.is_none_or(|u| sk.as_str() < u));
    let page: Vec<(&String, &LineKey)> = keys.by_ref().take(MEMORY_PAGE).collect();
    let cut = keys.next().is_some();
    let found = page.iter().filter_map(|(_, key)| lines.get(*key).map(|(line, _)| line.clone())).collect();
    (found, if cut { page.last().map(|(sk, _)| (*sk).clone()) } else { None })
}

#[async_trait]
impl PayoutLines for MemoryStore {
    async fn payout_ledger(&self, opportunity: &str) -> Result<(DealLedger, Vec<PayoutLine>), StoreError> {
        let state = self.state();
        let ledger = state
            .payouts
            .ledgers
            .get(opportunity)
            .cloned()
            .unwrap_or_else(|| DealLedger { opportunity_id: opportunity.to_owned(), ..DealLedger::default() });
        let start = (opportunity.to_owned(), String::new());
        let lines = state
            .payouts
            .lines
            .range(start..)
            .take_while(|((o, _), _)| o == opportunity)
            .map(|(_, (line, _))| line.clone())
            .collect();
        Ok((ledger, lines))
    }

    async fn save_payout_ledger(
        &self,
        before: u64,
        ledger: &DealLedger,
        lines: &[PayoutLine],
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let payouts = &mut state.payouts;
        let stored = payouts.ledgers.get(&ledger.opportunity_id).map(|l| l.version);
        let holds = match before {
            0 => stored.is_none(),
            v => stored == Some(v),
        };
        if !holds {
            return Err(StoreError::Conflict("the deal's ledger"));
        }
        if lines.iter().any(|l| payouts.lines.contains_key(&line_key(l))) {
            return Err(StoreError::Conflict("a payout line"));
        }
        payouts.ledgers.insert(ledger.opportunity_id.clone(), ledger.clone());
        for line in lines {
            payouts.open.entry(open_pk(line)).or_default().insert(open_sk(line), line_key(line));
            payouts.lines.insert(line_key(line), (line.clone(), None));
        }
        state.outbox.extend(events.iter().map(outbox_item));
        Ok(())
    }

    async fn partner_payout_lines(&self, partner: &PartnerId) -> Result<Vec<(PayoutLine, Option<String>)>, StoreError> {
        let state = self.state();
        let mut lines: Vec<(PayoutLine, Option<String>)> = state
            .payouts
            .lines
            .values()
            .filter(|(l, _)| &l.partner_id == partner)
            .map(|(l, p)| (l.clone(), p.map(|p| p.to_string())))
            .collect();
        lines.sort_by(|(a, _), (b, _)| (a.earned_at, a.line_id.as_str()).cmp(&(b.earned_at, b.line_id.as_str())));
        Ok(lines)
    }
}

#[async_trait]
impl PayoutExports for MemoryStore {
    async fn mark_payout_export(
        &self,
        period: Period,
        status: ExportState,
        failure: Option<String>,
    ) -> Result<(), StoreError> {
        match self.state().payouts.exports.get_mut(&period) {
            Some(export) if export.status != ExportState::Done => {
                export.status = status;
                export.failure = failure;
                Ok(())
            }
            _ => Err(StoreError::Conflict("the export")),
        }
    }

    async fn open_payout_page(
        &self,
        cutoff: Timestamp,
        shard: u32,
        after: Option<&str>,
    ) -> Result<(Vec<PayoutLine>, Option<String>), StoreError> {
        let state = self.state();
        let Some(index) = state.payouts.open.get(&format!("PAYOUT#OPEN#{shard}")) else {
            return Ok((Vec::new(), None));
        };
        Ok(index_page(index, after, Some(&cutoff.to_rfc3339()), &state.payouts.lines))
    }

    async fn mark_payout_lines_exported(&self, period: Period, lines: &[PayoutLine]) -> Result<(), StoreError> {
        let mut state = self.state();
        let payouts = &mut state.payouts;
        // One transaction per 100 lines, as on the table: an earlier chunk
        // stays marked when a later one fails.
        for chunk in lines.chunks(MAX_TRANSACTION_ITEMS) {
            let holds = chunk.iter().all(|l| {
                payouts.lines.get(&line_key(l)).is_some_and(|(_, exported)| exported.is_none_or(|p| p == period))
            });
            if !holds {
                return Err(StoreError::Conflict("a payout line"));
            }
            for line in chunk {
                if let Some((stored, exported)) = payouts.lines.get_mut(&line_key(line)) {
                    if let Some(index) = payouts.open.get_mut(&open_pk(stored)) {
                        index.remove(&open_sk(stored));
                    }
                    *exported = Some(period);
                    payouts.exported.entry(period).or_default().insert(exported_sk(stored), line_key(stored));
                }
            }
        }
        Ok(())
    }

    async fn exported_payout_page(
        &self,
        period: Period,
        start: Option<ExportCursor>,
    ) -> Result<(Vec<PayoutLine>, Option<ExportCursor>), StoreError> {
        let after = match start.map(|c| c.0) {
            Some(CursorAt::Memory(after)) => Some(after),
            Some(CursorAt::Table(_)) => return Err(StoreError::InvalidCursor),
            None => None,
        };
        let state = self.state();
        let Some(index) = state.payouts.exported.get(&period) else {
            return Ok((Vec::new(), None));
        };
        let (lines, next) = index_page(index, after.as_deref(), None, &state.payouts.lines);
        Ok((lines, next.map(|sk| ExportCursor(CursorAt::Memory(sk)))))
    }

    async fn payout_export(&self, period: Period) -> Result<Option<ExportRecord>, StoreError> {
        Ok(self.state().payouts.exports.get(&period).cloned())
    }

    async fn payout_exports(&self) -> Result<Vec<ExportRecord>, StoreError> {
        let state = self.state();
        let mut exports: Vec<(Period, ExportRecord)> =
            state.payouts.exports.iter().map(|(p, r)| (*p, r.clone())).collect();
        exports.sort_by_key(|(p, _)| std::cmp::Reverse(p.to_string()));
        Ok(exports.into_iter().map(|(_, r)| r).collect())
    }

    async fn begin_payout_export(&self, period: Period, record: &ExportRecord) -> Result<ExportRecord, StoreError> {
        Ok(self.state().payouts.exports.entry(period).or_insert_with(|| record.clone()).clone())
    }

    async fn finish_payout_export(
        &self,
        period: Period,
        record: &ExportRecord,
        event: &DomainEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        match state.payouts.exports.get(&period) {
            Some(current) if current.status != ExportState::Done => {
                state.payouts.exports.insert(period, record.clone());
                state.outbox.push(outbox_item(event));
                Ok(())
            }
            _ => Err(StoreError::Conflict("the export")),
        }
    }
}
