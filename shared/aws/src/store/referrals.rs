//! Referrals with their claim, timer and events.

use super::items::outbox_item;
use crate::store::dynamo::{Partition, s, to_item};
use crate::store::items::{
    ALL_REFERRALS, Keyed, Listed, REFERRAL_SK, ReferralItem, SlaTimerItem, partner_referrals, referral_pk, timer_list,
};
use crate::store::{Page, PageRequest};
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use partnerops_domain::id::ReferralId;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::{AcceptedReferral, Referral, ReferralClaim, ReferralStatus, RejectedReferral};
use partnerops_domain::sla::{SlaTimer, SlaView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// The in-memory twin's referrals, their partners' index (GSI1) and the
/// prospects' claims.
#[derive(Default, Clone)]
pub(super) struct ReferralState {
    pub(super) records: BTreeMap<ReferralId, ReferralRecord>,
    pub(super) by_partner: HashMap<PartnerId, BTreeSet<ReferralId>>,
    pub(super) claims: HashMap<ProspectKey, ReferralClaim>,
}
