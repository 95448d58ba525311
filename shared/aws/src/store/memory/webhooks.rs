//! The in-memory twin of `store::webhooks`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::paging::{page_of, page_start};
use crate::store::webhooks::endpoint_pk;
use crate::store::{Page, PageRequest, WEBHOOK_DUE_SHARDS, WebhookDeliveries, WebhookEndpoints};
use crate::{MemoryStore, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::webhook::{Delivery, DeliveryState, Endpoint, EndpointId, MessageId};
use std::collections::BTreeMap;
#[async_trait]
impl WebhookEndpoints for MemoryStore {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.webhooks.endpoints.contains_key(&endpoint.id) {
            return Err(StoreError::Conflict("the endpoint"));
        }
        state.webhooks.endpoints.insert(endpoint.id.clone(), endpoint.clone());
        Ok(())
    }

    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        Ok(self.state().webhooks.endpoints.get(id).cloned())
    }

    async fn partner_endpoints(&self, partner: &PartnerId) -> Result<Vec<Endpoint>, StoreError> {
        let state = self.state();
        let mut endpoints: Vec<Endpoint> =
            state.webhooks.endpoints.values().filter(|e| &e.partner_id == partner).cloned().collect();
        endpoints.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(endpoints)
    }

    async fn save_endpoint(&self, before: u64, endpoint: &Endpoint) -> Result<(), StoreError> {
        let mut state = self.state();
        match state.webhooks.endpoints.get_mut(&endpoint.id) {
            Some(stored) if stored.version == before => {
                *stored = endpoint.clone();
                Ok(())
            }
            _ => Err(StoreError::Conflict("the endpoint")),
        }
    }

    async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError> {
        Ok(self.state().webhooks.endpoints.remove(id).is_some())
    }
}

#[async_trait]
impl WebhookDeliveries for MemoryStore {
    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let mut state = self.state();
        let log = state.webhooks.deliveries.entry(delivery.endpoint_id.clone()).or_default();
        if log.contains_key(&delivery.message_id) {
            return Ok(false);
        }
        log.insert(delivery.message_id.clone(), delivery.clone());
        Ok(true)
    }

    async fn delivery(&self, endpoint: &EndpointId, message: &MessageId) -> Result<Option<Delivery>, StoreError> {
        Ok(self.state().webhooks.deliveries.get(endpoint).and_then(|log| log.get(message)).cloned())
    }

    async fn save_delivery(&self, before: u64, delivery: &Delivery) -> Result<(), StoreError> {
        let mut state = self.state();
        match state.webhooks.deliveries.get_mut(&delivery.endpoint_id).and_then(|log| log.get_mut(&delivery.message_id))
        {
            Some(stored) if stored.version == before => {
                *stored = delivery.clone();
                Ok(())
            }
            _ => Err(StoreError::Conflict("the delivery")),
        }
    }

    async fn deliveries(&self, endpoint: &EndpointId, page: &PageRequest) -> Result<Page<Delivery>, StoreError> {
        let partition = endpoint_pk(endpoint);
        let after = page_start(page, &partition)?;
        let mut state = self.state();
        let state = &mut *state;
        let rows: Vec<(String, Delivery)> = state
            .webhooks
            .deliveries
            .get(endpoint)
            .map(|log| log.iter().map(|(m, d)| (m.to_string(), d.clone())).collect())
            .unwrap_or_default();
        let newest_first = rows.into_iter().rev().filter(|(m, _)| after.as_ref().is_none_or(|a| m < a));
        Ok(page_of(newest_first, partition, |_| true, page, &mut state.visited))
    }

    async fn due_deliveries(&self, now: Timestamp, limit: u16) -> Result<Vec<Delivery>, StoreError> {
        let state = self.state();
        let mut due: Vec<Delivery> = state
            .webhooks
            .deliveries
            .values()
            .flat_map(BTreeMap::values)
            .filter(|d| d.state == DeliveryState::Pending && d.next_attempt_at.is_some_and(|at| at <= now))
            .cloned()
            .collect();
        due.sort_by_key(|d| d.next_attempt_at);
        due.truncate(usize::from(limit) * WEBHOOK_DUE_SHARDS as usize);
        Ok(due)
    }
}
