//! The in-memory twin of `store::deliveries`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::{DELIVERY_LEASE_SECONDS, DeliveryClaim, NotificationDeliveries};
use crate::{MemoryStore, StoreError};
use chrono::Duration;
use partnerops_domain::Timestamp;
#[async_trait]
impl NotificationDeliveries for MemoryStore {
    async fn claim_delivery(
        &self,
        event_id: &str,
        delivery: &str,
        now: Timestamp,
    ) -> Result<DeliveryClaim, StoreError> {
        let mut state = self.state();
        let key = (event_id.to_owned(), delivery.to_owned());
        match state.notifications.claims.get(&key) {
            Some(None) => Ok(DeliveryClaim::Sent),
            Some(Some(until)) if *until > now.unix_seconds() => Ok(DeliveryClaim::InFlight),
            _ => {
                let until = now.plus(Duration::seconds(DELIVERY_LEASE_SECONDS)).unix_seconds();
                state.notifications.claims.insert(key, Some(until));
                Ok(DeliveryClaim::Claimed)
            }
        }
    }

    async fn delivery_sent(&self, event_id: &str, delivery: &str, _now: Timestamp) -> Result<(), StoreError> {
        self.state().notifications.claims.insert((event_id.to_owned(), delivery.to_owned()), None);
        Ok(())
    }

    async fn release_delivery(&self, event_id: &str, delivery: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (event_id.to_owned(), delivery.to_owned());
        if matches!(state.notifications.claims.get(&key), Some(Some(_))) {
            state.notifications.claims.remove(&key);
        }
        Ok(())
    }
}
