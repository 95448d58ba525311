//! The in-memory twin of `store::referrals`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::items::outbox_item;
use crate::store::memory::{State, put_timer};
use crate::store::paging::{list_page, page_start};
use crate::store::{Page, PageRequest, ReferralQuery, ReferralRecord, Referrals};
use crate::{MemoryStore, StoreError};
use partnerops_domain::id::ReferralId;
use partnerops_domain::referral::{AcceptedReferral, RejectedReferral};
#[async_trait]
impl Referrals for MemoryStore {
    async fn record_accepted_referral(&self, accepted: &AcceptedReferral) -> Result<(), StoreError> {
        let mut state = self.state();
        let current = state.referrals.claims.get(&accepted.claim.prospect_key);
        let unchanged = match (&accepted.replaces_claim, current) {
            (None, None) => true,
            (Some(old), Some(now)) => old.referral_id == now.referral_id,
            _ => false,
        };
        if !unchanged {
            return Err(StoreError::Conflict("the prospect's referral claim"));
        }
        if state.referrals.records.contains_key(&accepted.referral.id) {
            return Err(StoreError::Conflict("the referral"));
        }
        state.referrals.claims.insert(accepted.claim.prospect_key.clone(), accepted.claim.clone());
        state
            .referrals
            .by_partner
            .entry(accepted.referral.partner_id.clone())
            .or_default()
            .insert(accepted.referral.id.clone());
        state.referrals.records.insert(
            accepted.referral.id.clone(),
            ReferralRecord {
                referral: accepted.referral.clone(),
                slas: vec![accepted.timer.view()],
                timers: vec![accepted.timer.clone()],
            },
        );
        put_timer(&mut state, &accepted.timer);
        state.outbox.push(outbox_item(&accepted.event));
        Ok(())
    }

    async fn record_rejected_referral(&self, rejected: &RejectedReferral) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.referrals.records.contains_key(&rejected.referral.id) {
            return Err(StoreError::Conflict("the referral"));
        }
        state
            .referrals
            .by_partner
            .entry(rejected.referral.partner_id.clone())
            .or_default()
            .insert(rejected.referral.id.clone());
        state.referrals.records.insert(
            rejected.referral.id.clone(),
            ReferralRecord { referral: rejected.referral.clone(), slas: Vec::new(), timers: Vec::new() },
        );
        state.outbox.push(outbox_item(&rejected.event));
        Ok(())
    }

    async fn referral(&self, id: &ReferralId) -> Result<Option<ReferralRecord>, StoreError> {
        Ok(self.state().referrals.records.get(id).cloned())
    }

    async fn referrals(&self, query: &ReferralQuery, page: &PageRequest) -> Result<Page<ReferralRecord>, StoreError> {
        let partition = query.partner_id.as_ref().map_or_else(|| "*".to_owned(), |p| p.to_string());
        let after = match page_start(page, &partition)? {
            Some(raw) => Some(ReferralId::parse(&raw).ok_or(StoreError::InvalidCursor)?),
            None => None,
        };
        let mut state = self.state();
        let State { referrals, visited, .. } = &mut *state;
        let index = match &query.partner_id {
            Some(partner) => match referrals.by_partner.get(partner) {
                Some(ids) => Some(ids),
                None => return Ok(Page { items: Vec::new(), next_cursor: None }),
            },
            None => None,
        };
        let keep = |r: &ReferralRecord| query.status.is_none_or(|s| r.referral.status == s);
        Ok(list_page(&referrals.records, index, after, partition, keep, page, visited))
    }
}
