//! The in-memory twin of `store::keys`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::{ApiKeyRecord, ApiKeys};
use crate::{MemoryStore, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::id::KeyId;
#[async_trait]
impl ApiKeys for MemoryStore {
    async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.state().keys.records.get(key_id).cloned())
    }

    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.keys.records.contains_key(&record.key_id) {
            return Err(StoreError::Conflict("the API key"));
        }
        state.keys.records.insert(record.key_id.clone(), record.clone());
        Ok(())
    }

    async fn revoke_api_key(&self, key_id: &KeyId, at: Timestamp) -> Result<bool, StoreError> {
        Ok(match self.state().keys.records.get_mut(key_id) {
            Some(record) => {
                record.revoked_at.get_or_insert(at);
                true
            }
            None => false,
        })
    }
}
