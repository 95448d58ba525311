//! The in-memory twin of `store::payout_lines`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::PayoutLines;
use crate::store::items::outbox_item;
use crate::store::payout_lines::{LineKey, line_key, open_pk};
use crate::{MemoryStore, StoreError};
use partnerops_domain::event::DomainEvent;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::payout::{DealLedger, PayoutLine, Period};
use std::collections::BTreeMap;
#[async_trait]
impl PayoutLines for MemoryStore {
    async fn payout_ledger(&self, opportunity: &str) -> Result<(DealLedger, Vec<PayoutLine>), StoreError> {
        let state = self.state();
        let ledger = state
            .payout_lines
            .ledgers
            .get(opportunity)
            .cloned()
            .unwrap_or_else(|| DealLedger { opportunity_id: opportunity.to_owned(), ..DealLedger::default() });
        let start = (opportunity.to_owned(), String::new());
        let lines = state
            .payout_lines
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
        let payouts = &mut state.payout_lines;
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
            .payout_lines
            .lines
            .values()
            .filter(|(l, _)| &l.partner_id == partner)
            .map(|(l, p)| (l.clone(), p.map(|p| p.to_string())))
            .collect();
        lines.sort_by(|(a, _), (b, _)| (a.earned_at, a.line_id.as_str()).cmp(&(b.earned_at, b.line_id.as_str())));
        Ok(lines)
    }
}

/// A page of the in-memory indexes. DynamoDB cuts pages at 1 MB, a few
/// thousand lines; pages this small make every test that exports a dozen
/// lines follow the page keys.
pub(super) const MEMORY_PAGE: usize = 5;

pub(super) fn open_sk(line: &PayoutLine) -> String {
    format!("{}#{}", line.earned_at, line.line_id)
}

/// One page of an in-memory line index after the key `after` and below
/// `until`, and the last key given when the page was cut.
pub(super) fn index_page(
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
