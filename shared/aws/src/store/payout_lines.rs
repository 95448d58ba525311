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

use super::items::outbox_item;
use crate::store::dynamo::{from_item, key, n, to_item};
use crate::store::items::partner_pk;
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use partnerops_domain::event::DomainEvent;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::payout::{DealLedger, PayoutLine, Period};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Open lines are spread over this many index partitions.
pub const OPEN_SHARDS: u32 = 8;

pub(super) fn ledger_pk(opportunity: &str) -> String {
    format!("PAYOUT#{opportunity}")
}

pub(super) fn open_pk(line: &PayoutLine) -> String {
    let hash = line.line_id.as_str().bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("PAYOUT#OPEN#{}", hash % OPEN_SHARDS)
}

#[derive(Serialize, Deserialize)]
pub(super) struct LedgerItem {
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
pub(super) struct PartnerLineItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    line: PayoutLine,
}

pub(super) const PARTNER_LINE_PREFIX: &str = "PAYLINE#";

pub(super) fn partner_line_item(line: &PayoutLine) -> PartnerLineItem {
    PartnerLineItem {
        pk: partner_pk(&line.partner_id),
        sk: format!("{PARTNER_LINE_PREFIX}{}#{}", line.earned_at, line.line_id),
        entity: "partner_payout_line".into(),
        line: line.clone(),
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct LineItem {
    #[serde(rename = "PK")]
    pub(super) pk: String,
    #[serde(rename = "SK")]
    pub(super) sk: String,
    pub(super) entity: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub(super) gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub(super) gsi1sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) export_period: Option<String>,
    pub(super) line: PayoutLine,
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

/// The payout ledgers in memory, with their lines and the table's open-line
/// index (GSI1).
#[derive(Default, Clone)]
pub(super) struct LineState {
    pub(super) ledgers: HashMap<String, DealLedger>,
    /// (opportunity, line id) → the line and the period that exported it.
    pub(super) lines: BTreeMap<LineKey, (PayoutLine, Option<Period>)>,
    /// GSI1: open lines by shard, then `earned_at#line_id`.
    pub(super) open: HashMap<String, BTreeMap<String, LineKey>>,
}

pub(super) fn line_key(line: &PayoutLine) -> LineKey {
    (line.opportunity_id.clone(), line.line_id.to_string())
}

pub(super) type LineKey = (String, String);
