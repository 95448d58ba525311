//! The monthly payout exports (SPEC §10, §20): the export records, the
//! lines each period exported (GSI2, in the files' order), and the moves from
//! the open-line index that an export makes.

use crate::store::dynamo::{Item, from_item, key, s, to_item, unexpected};
use crate::store::items::{GSI1, GSI2, outbox_item};
use crate::store::payout_lines::{LineItem, LineKey, ledger_pk};
use crate::{DynamoStore, StoreError};
use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use partnerops_domain::Timestamp;
use partnerops_domain::event::DomainEvent;
use partnerops_domain::payout::{ExportGroup, PayoutLine, Period};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
pub(super) fn export_pk(period: Period) -> String {
    format!("PAYOUT#EXPORT#{period}")
}

pub(super) fn exported_sk(line: &PayoutLine) -> String {
    format!("{}#{}#{}#{}", line.partner_id, line.currency, line.earned_at, line.line_id)
}

/// Where the next page of a period's exported lines starts.
#[derive(Debug, Clone)]
pub struct ExportCursor(pub(super) CursorAt);

#[derive(Debug, Clone)]
pub(super) enum CursorAt {
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
pub(super) struct ExportItem {
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

pub(super) const EXPORTS_PARTITION: &str = "PAYOUT#EXPORTS";

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

/// The exports in memory, with the table's exported-line index (GSI2).
#[derive(Default, Clone)]
pub(super) struct ExportsState {
    /// GSI2: exported lines by period, in the files' order.
    pub(super) exported: HashMap<Period, BTreeMap<String, LineKey>>,
    pub(super) records: HashMap<Period, ExportRecord>,
}
