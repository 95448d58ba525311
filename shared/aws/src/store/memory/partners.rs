//! The in-memory twin of `store::partners`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::Partners;
use crate::{MemoryStore, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::partner::{Certification, Partner, PartnerId};
#[async_trait]
impl Partners for MemoryStore {
    async fn partner(&self, id: &PartnerId) -> Result<Option<Partner>, StoreError> {
        Ok(self.state().partners.records.get(id).cloned())
    }

    async fn create_partner(&self, partner: &Partner) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.partners.records.contains_key(&partner.id) {
            return Ok(false);
        }
        state.partners.records.insert(partner.id.clone(), partner.clone());
        Ok(true)
    }

    async fn update_partner(&self, partner: &Partner, read_at: Timestamp) -> Result<(), StoreError> {
        let mut state = self.state();
        match state.partners.records.get_mut(&partner.id) {
            Some(current) if current.updated_at == read_at => {
                *current = partner.clone();
                Ok(())
            }
            _ => Err(StoreError::Conflict("the partner")),
        }
    }

    async fn certifications(&self, partner: &PartnerId) -> Result<Vec<Certification>, StoreError> {
        Ok(self.state().partners.certifications.get(partner).cloned().unwrap_or_default())
    }

    async fn add_certification(
        &self,
        certification: &Certification,
        partner: &Partner,
        read_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        match state.partners.records.get_mut(&partner.id) {
            Some(current) if current.updated_at == read_at => *current = partner.clone(),
            _ => return Err(StoreError::Conflict("the partner")),
        }
        state.partners.certifications.entry(certification.partner_id.clone()).or_default().push(certification.clone());
        Ok(())
    }
}
