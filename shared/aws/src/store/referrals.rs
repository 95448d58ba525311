//! Referrals with their claim, timer and events.

use super::dynamo::*;
use super::items::*;
use super::memory::*;
use super::*;
use crate::outbox::outbox_item;
use async_trait::async_trait;
use partnerops_domain::id::ReferralId;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::referral::{AcceptedReferral, Referral, ReferralStatus, RejectedReferral};
use partnerops_domain::sla::{SlaTimer, SlaView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A referral with its SLA timers as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralRecord {
    #[serde(flatten)]
    pub referral: Referral,
    pub slas: Vec<SlaView>,
    /// The timers behind `slas`, for rules that meet them.
    #[serde(skip)]
    pub timers: Vec<SlaTimer>,
}

impl From<ReferralItem> for ReferralRecord {
    fn from(item: ReferralItem) -> Self {
        let timers = timer_list(item.sla_timers);
        Self { referral: item.value, slas: timers.iter().map(SlaTimer::view).collect(), timers }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReferralQuery {
    pub partner_id: Option<PartnerId>,
    pub status: Option<ReferralStatus>,
}

#[async_trait]
pub trait Referrals: Send + Sync {
    /// Writes the referral, its claim, its SLA timer and its event in one
    /// transaction; `Conflict` if the prospect's claim changed since read.
    async fn record_accepted_referral(&self, accepted: &AcceptedReferral) -> Result<(), StoreError>;

    /// Writes the rejected referral and its event in one transaction.
    async fn record_rejected_referral(&self, rejected: &RejectedReferral) -> Result<(), StoreError>;

    async fn referral(&self, id: &ReferralId) -> Result<Option<ReferralRecord>, StoreError>;

    async fn referrals(&self, query: &ReferralQuery, page: &PageRequest) -> Result<Page<ReferralRecord>, StoreError>;
}

#[async_trait]
impl Referrals for DynamoStore {
    async fn record_accepted_referral(&self, accepted: &AcceptedReferral) -> Result<(), StoreError> {
        let referral_id = accepted.referral.id.to_string();
        let claim = to_item(&Keyed::referral_claim(accepted.claim.clone()))?;
        let claim_write = match &accepted.replaces_claim {
            None => self.put(claim, Some("attribute_not_exists(PK)"))?,
            Some(old) => self.put_with_values(
                claim,
                "referral_id = :old",
                HashMap::from([(":old".to_owned(), s(old.referral_id.to_string()))]),
            )?,
        };
        let items = vec![
            claim_write,
            self.put(
                to_item(&Listed::referral(accepted.referral.clone(), vec![accepted.timer.clone()]))?,
                Some("attribute_not_exists(PK)"),
            )?,
            self.put(to_item(&SlaTimerItem::new(referral_pk(&referral_id), accepted.timer.clone()))?, None)?,
            self.put(to_item(&outbox_item(&accepted.event))?, Some("attribute_not_exists(PK)"))?,
        ];
        self.transact(items, &["the prospect's referral claim", "the referral", "the SLA timer", "the outbox"]).await
    }

    async fn record_rejected_referral(&self, rejected: &RejectedReferral) -> Result<(), StoreError> {
        let items = vec![
            self.put(
                to_item(&Listed::referral(rejected.referral.clone(), Vec::new()))?,
                Some("attribute_not_exists(PK)"),
            )?,
            self.put(to_item(&outbox_item(&rejected.event))?, Some("attribute_not_exists(PK)"))?,
        ];
        self.transact(items, &["the referral", "the outbox"]).await
    }

    async fn referral(&self, id: &ReferralId) -> Result<Option<ReferralRecord>, StoreError> {
        let item: Option<ReferralItem> = self.get(referral_pk(id.as_str()), REFERRAL_SK).await?;
        Ok(item.map(ReferralRecord::from))
    }

    async fn referrals(&self, query: &ReferralQuery, page: &PageRequest) -> Result<Page<ReferralRecord>, StoreError> {
        let partition = match &query.partner_id {
            Some(partner) => Partition::Partner(partner_referrals(partner)),
            None => Partition::All(ALL_REFERRALS),
        };
        self.list_records::<ReferralItem, _>(partition, query.status.map(|s| s.as_str()), page).await
    }
}

#[async_trait]
impl Referrals for MemoryStore {
    async fn record_accepted_referral(&self, accepted: &AcceptedReferral) -> Result<(), StoreError> {
        let mut state = self.state();
        let current = state.referral_claims.get(&accepted.claim.prospect_key);
        let unchanged = match (&accepted.replaces_claim, current) {
            (None, None) => true,
            (Some(old), Some(now)) => old.referral_id == now.referral_id,
            _ => false,
        };
        if !unchanged {
            return Err(StoreError::Conflict("the prospect's referral claim"));
        }
        if state.referrals.contains_key(&accepted.referral.id) {
            return Err(StoreError::Conflict("the referral"));
        }
        state.referral_claims.insert(accepted.claim.prospect_key.clone(), accepted.claim.clone());
        state
            .partner_referrals
            .entry(accepted.referral.partner_id.clone())
            .or_default()
            .insert(accepted.referral.id.clone());
        state.referrals.insert(
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
        if state.referrals.contains_key(&rejected.referral.id) {
            return Err(StoreError::Conflict("the referral"));
        }
        state
            .partner_referrals
            .entry(rejected.referral.partner_id.clone())
            .or_default()
            .insert(rejected.referral.id.clone());
        state.referrals.insert(
            rejected.referral.id.clone(),
            ReferralRecord { referral: rejected.referral.clone(), slas: Vec::new(), timers: Vec::new() },
        );
        state.outbox.push(outbox_item(&rejected.event));
        Ok(())
    }

    async fn referral(&self, id: &ReferralId) -> Result<Option<ReferralRecord>, StoreError> {
        Ok(self.state().referrals.get(id).cloned())
    }

    async fn referrals(&self, query: &ReferralQuery, page: &PageRequest) -> Result<Page<ReferralRecord>, StoreError> {
        let partition = query.partner_id.as_ref().map_or_else(|| "*".to_owned(), |p| p.to_string());
        let after = match page_start(page, &partition)? {
            Some(raw) => Some(ReferralId::parse(&raw).ok_or(StoreError::InvalidCursor)?),
            None => None,
        };
        let mut state = self.state();
        let State { referrals, partner_referrals, visited, .. } = &mut *state;
        let index = match &query.partner_id {
            Some(partner) => match partner_referrals.get(partner) {
                Some(ids) => Some(ids),
                None => return Ok(Page { items: Vec::new(), next_cursor: None }),
            },
            None => None,
        };
        let keep = |r: &ReferralRecord| query.status.is_none_or(|s| r.referral.status == s);
        Ok(list_page(referrals, index, after, partition, keep, page, visited))
    }
}
