//! The in-memory twin of `store::idempotency`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::{
    IDEMPOTENCY_HOURS, IDEMPOTENCY_LEASE_SECONDS, Idempotency, IdempotencyBegin, IdempotencyKey, StoredResponse,
};
use crate::{MemoryStore, StoreError};
use chrono::Duration;
use partnerops_domain::Timestamp;
#[async_trait]
impl Idempotency for MemoryStore {
    async fn idempotency_begin(&self, key: &IdempotencyKey, now: Timestamp) -> Result<IdempotencyBegin, StoreError> {
        let mut state = self.state();
        // An in-progress record lasts as long as its lease; a completed one 24 h.
        let expires = now.plus(Duration::seconds(IDEMPOTENCY_LEASE_SECONDS)).unix_seconds();
        match state.idempotency.records.get(&key.record_key) {
            Some((hash, response, ttl)) if *ttl > now.unix_seconds() => {
                Ok(match (hash == &key.request_hash, response) {
                    (false, _) => IdempotencyBegin::Mismatch,
                    (true, Some(r)) => IdempotencyBegin::Completed(r.clone()),
                    (true, None) => IdempotencyBegin::InProgress,
                })
            }
            _ => {
                state.idempotency.records.insert(key.record_key.clone(), (key.request_hash.clone(), None, expires));
                Ok(IdempotencyBegin::Started)
            }
        }
    }

    async fn idempotency_complete(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let expires = now.plus(Duration::hours(IDEMPOTENCY_HOURS)).unix_seconds();
        self.state()
            .idempotency
            .records
            .insert(key.record_key.clone(), (key.request_hash.clone(), Some(response.clone()), expires));
        Ok(())
    }

    async fn idempotency_abandon(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        self.state().idempotency.records.remove(&key.record_key);
        Ok(())
    }
}
