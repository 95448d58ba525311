//! What is known about a prospect: the existing-customer mark, its referral claim and its registration queue.

use crate::store::dynamo::{from_item, key, key_of, to_item};
use crate::store::items::{
    CUSTOMER_SK, CustomerItem, Keyed, REFERRAL_CLAIM_SK, REGISTRATION_CLAIM_SK, SK, prospect_pk,
};
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use partnerops_domain::Timestamp;
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::{ProspectStanding, ReferralClaim, RegistrationProtection};
use partnerops_domain::registration::{CustomerStanding, RegistrationQueue};
use std::collections::HashSet;

#[async_trait]
pub trait Prospects: Send + Sync {
    /// Marks prospects as existing customers (idempotent).
    async fn mark_customers(&self, keys: &[ProspectKey], at: Timestamp) -> Result<(), StoreError>;

    async fn prospect_standing(&self, key: &ProspectKey) -> Result<ProspectStanding, StoreError>;

    /// Existing-customer mark and registration queue of a customer (one read).
    async fn customer_standing(&self, key: &ProspectKey) -> Result<CustomerStanding, StoreError>;
}

#[async_trait]
impl Prospects for DynamoStore {
    async fn mark_customers(&self, keys: &[ProspectKey], at: Timestamp) -> Result<(), StoreError> {
        let items = keys
            .iter()
            .map(|k| {
                to_item(&CustomerItem {
                    pk: prospect_pk(k),
                    sk: CUSTOMER_SK.into(),
                    entity: "customer".into(),
                    prospect_key: k.clone(),
                    marked_at: at,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_put(items).await
    }

    async fn prospect_standing(&self, prospect: &ProspectKey) -> Result<ProspectStanding, StoreError> {
        let pk = prospect_pk(prospect);
        let keys = [CUSTOMER_SK, REFERRAL_CLAIM_SK, REGISTRATION_CLAIM_SK].map(|sk| key(pk.clone(), sk)).to_vec();
        let mut standing = ProspectStanding::default();
        for item in self.batch_get(keys).await? {
            match item.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) {
                Some(CUSTOMER_SK) => standing.existing_customer = true,
                Some(REFERRAL_CLAIM_SK) => {
                    standing.referral_claim = Some(from_item::<Keyed<ReferralClaim>>(item)?.value)
                }
                Some(REGISTRATION_CLAIM_SK) => {
                    let queue: Keyed<RegistrationQueue> = from_item(item)?;
                    standing.registration = queue.value.approved.map(|a| RegistrationProtection {
                        partner_id: a.partner_id,
                        protected_until: a.protected_until,
                    });
                }
                _ => {}
            }
        }
        Ok(standing)
    }

    async fn customer_standing(&self, key: &ProspectKey) -> Result<CustomerStanding, StoreError> {
        let pk = prospect_pk(key);
        let mut standing = CustomerStanding::default();
        for item in self.batch_get(vec![key_of(&pk, CUSTOMER_SK), key_of(&pk, REGISTRATION_CLAIM_SK)]).await? {
            match item.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) {
                Some(CUSTOMER_SK) => standing.existing_customer = true,
                Some(REGISTRATION_CLAIM_SK) => standing.queue = from_item::<Keyed<RegistrationQueue>>(item)?.value,
                _ => {}
            }
        }
        Ok(standing)
    }
}

/// The in-memory twin's existing customers.
#[derive(Default, Clone)]
pub(super) struct ProspectState {
    pub(super) customers: HashSet<ProspectKey>,
}
