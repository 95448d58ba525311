//! The in-memory twin of `store::payout_exports`: the same conditional
//! semantics on the twin's one lock.

use crate::store::items::{MAX_TRANSACTION_ITEMS, outbox_item};
use crate::store::memory::State;
use crate::store::memory::payout_lines::{index_page, open_sk};
use crate::store::payout_exports::{CursorAt, exported_sk};
use crate::store::payout_lines::{line_key, open_pk};
use crate::store::{ExportCursor, ExportRecord, ExportState, PayoutExports};
use crate::{MemoryStore, StoreError};
use async_trait::async_trait;
use partnerops_domain::Timestamp;
use partnerops_domain::event::DomainEvent;
use partnerops_domain::payout::{PayoutLine, Period};
#[async_trait]
impl PayoutExports for MemoryStore {
    async fn mark_payout_export(
        &self,
        period: Period,
        status: ExportState,
        failure: Option<String>,
    ) -> Result<(), StoreError> {
        match self.state().payout_exports.records.get_mut(&period) {
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
        let Some(index) = state.payout_lines.open.get(&format!("PAYOUT#OPEN#{shard}")) else {
            return Ok((Vec::new(), None));
        };
        Ok(index_page(index, after, Some(&cutoff.to_rfc3339()), &state.payout_lines.lines))
    }

    async fn mark_payout_lines_exported(&self, period: Period, lines: &[PayoutLine]) -> Result<(), StoreError> {
        let mut state = self.state();
        let State { payout_lines, payout_exports, .. } = &mut *state;
        // One transaction per 100 lines, as on the table: an earlier chunk
        // stays marked when a later one fails.
        for chunk in lines.chunks(MAX_TRANSACTION_ITEMS) {
            let holds = chunk.iter().all(|l| {
                payout_lines.lines.get(&line_key(l)).is_some_and(|(_, exported)| exported.is_none_or(|p| p == period))
            });
            if !holds {
                return Err(StoreError::Conflict("a payout line"));
            }
            for line in chunk {
                if let Some((stored, exported)) = payout_lines.lines.get_mut(&line_key(line)) {
                    if let Some(index) = payout_lines.open.get_mut(&open_pk(stored)) {
                        index.remove(&open_sk(stored));
                    }
                    *exported = Some(period);
                    payout_exports.exported.entry(period).or_default().insert(exported_sk(stored), line_key(stored));
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
        let Some(index) = state.payout_exports.exported.get(&period) else {
            return Ok((Vec::new(), None));
        };
        let (lines, next) = index_page(index, after.as_deref(), None, &state.payout_lines.lines);
        Ok((lines, next.map(|sk| ExportCursor(CursorAt::Memory(sk)))))
    }

    async fn payout_export(&self, period: Period) -> Result<Option<ExportRecord>, StoreError> {
        Ok(self.state().payout_exports.records.get(&period).cloned())
    }

    async fn payout_exports(&self) -> Result<Vec<ExportRecord>, StoreError> {
        let state = self.state();
        let mut exports: Vec<(Period, ExportRecord)> =
            state.payout_exports.records.iter().map(|(p, r)| (*p, r.clone())).collect();
        exports.sort_by_key(|(p, _)| std::cmp::Reverse(p.to_string()));
        Ok(exports.into_iter().map(|(_, r)| r).collect())
    }

    async fn begin_payout_export(&self, period: Period, record: &ExportRecord) -> Result<ExportRecord, StoreError> {
        Ok(self.state().payout_exports.records.entry(period).or_insert_with(|| record.clone()).clone())
    }

    async fn finish_payout_export(
        &self,
        period: Period,
        record: &ExportRecord,
        event: &DomainEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        match state.payout_exports.records.get(&period) {
            Some(current) if current.status != ExportState::Done => {
                state.payout_exports.records.insert(period, record.clone());
                state.outbox.push(outbox_item(event));
                Ok(())
            }
            _ => Err(StoreError::Conflict("the export")),
        }
    }
}
