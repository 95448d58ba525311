//! The in-memory twin of `store::prospects`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::Prospects;
use crate::{MemoryStore, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::ProspectStanding;
use partnerops_domain::registration::CustomerStanding;
#[async_trait]
impl Prospects for MemoryStore {
    async fn mark_customers(&self, keys: &[ProspectKey], _at: Timestamp) -> Result<(), StoreError> {
        self.state().prospects.customers.extend(keys.iter().cloned());
        Ok(())
    }

    async fn prospect_standing(&self, key: &ProspectKey) -> Result<ProspectStanding, StoreError> {
        let state = self.state();
        Ok(ProspectStanding {
            existing_customer: state.prospects.customers.contains(key),
            referral_claim: state.referrals.claims.get(key).cloned(),
            registration: state.registrations.queues.get(key).and_then(|q| q.approved.as_ref()).map(|a| {
                partnerops_domain::referral::RegistrationProtection {
                    partner_id: a.partner_id.clone(),
                    protected_until: a.protected_until,
                }
            }),
        })
    }

    async fn customer_standing(&self, key: &ProspectKey) -> Result<CustomerStanding, StoreError> {
        let state = self.state();
        Ok(CustomerStanding {
            existing_customer: state.prospects.customers.contains(key),
            queue: state.registrations.queues.get(key).cloned().unwrap_or_default(),
        })
    }
}
