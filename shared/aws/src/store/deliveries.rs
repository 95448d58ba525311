//! Notification deliveries: a claim with a lease before a send, a record after it.

use crate::store::dynamo::{from_item, key, s, to_item, unexpected};
use crate::store::items::{DeliveryItem, delivery_pk, delivery_sk};
use crate::{DynamoStore, StoreError};
use anyhow::Context as _;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::Duration;
use partnerops_domain::Timestamp;
use std::collections::HashMap;

/// The outcome of claiming a notification delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// Send it, then mark it sent (or release it if the send failed).
    Claimed,
    /// It was sent already: send nothing.
    Sent,
    /// Another delivery of the event is sending it right now: try later.
    InFlight,
}

/// How long a claimed delivery holds before a retry may take it over (well
/// over the notifier's timeout, so a slow send is never repeated).
pub const DELIVERY_LEASE_SECONDS: i64 = 120;

/// How long a sent delivery is remembered (longer than any redelivery).
pub const DELIVERY_RETENTION_DAYS: i64 = 30;

#[async_trait]
pub trait NotificationDeliveries: Send + Sync {
    /// Claims (event, delivery) before a send, with a conditional put: at
    /// most one claim holds at a time, and none once it is sent.
    async fn claim_delivery(&self, event_id: &str, delivery: &str, now: Timestamp)
    -> Result<DeliveryClaim, StoreError>;

    async fn delivery_sent(&self, event_id: &str, delivery: &str, now: Timestamp) -> Result<(), StoreError>;

    /// Gives a claim back after a failed send, so a retry may send.
    async fn release_delivery(&self, event_id: &str, delivery: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl NotificationDeliveries for DynamoStore {
    async fn claim_delivery(
        &self,
        event_id: &str,
        delivery: &str,
        now: Timestamp,
    ) -> Result<DeliveryClaim, StoreError> {
        let item = to_item(&DeliveryItem {
            pk: delivery_pk(event_id),
            sk: delivery_sk(delivery),
            entity: "delivery".into(),
            state: "sending".into(),
            locked_until: Some(now.plus(Duration::seconds(DELIVERY_LEASE_SECONDS)).unix_seconds()),
            sent_at: None,
            ttl: now.plus(Duration::days(DELIVERY_RETENTION_DAYS)).unix_seconds(),
        })?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR (#state = :sending AND locked_until <= :now)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", AttributeValue::N(now.unix_seconds().to_string()))
            .expression_attribute_values(":sending", s("sending"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(DeliveryClaim::Claimed),
            Err(SdkError::ServiceError(service)) => match service.into_err() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let old: DeliveryItem = from_item(failed.item.context("condition failed without the old item")?)?;
                    Ok(if old.state == "sent" { DeliveryClaim::Sent } else { DeliveryClaim::InFlight })
                }
                other => Err(unexpected("PutItem")(other)),
            },
            Err(e) => Err(unexpected("PutItem")(e)),
        }
    }

    async fn delivery_sent(&self, event_id: &str, delivery: &str, now: Timestamp) -> Result<(), StoreError> {
        let item = to_item(&DeliveryItem {
            pk: delivery_pk(event_id),
            sk: delivery_sk(delivery),
            entity: "delivery".into(),
            state: "sent".into(),
            locked_until: None,
            sent_at: Some(now),
            ttl: now.plus(Duration::days(DELIVERY_RETENTION_DAYS)).unix_seconds(),
        })?;
        self.put_item(item, None, None).await.map(drop)
    }

    async fn release_delivery(&self, event_id: &str, delivery: &str) -> Result<(), StoreError> {
        // Never forget a send that happened: only a claim is given back.
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(delivery_pk(event_id), delivery_sk(delivery))))
            .condition_expression("#state = :sending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s("sending"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unexpected("DeleteItem")(e)),
        }
    }
}

/// The in-memory twin's delivery claims: (event, delivery) → `None` once
/// sent, else the claim's lease end.
#[derive(Default, Clone)]
pub(super) struct ClaimState {
    pub(super) claims: HashMap<(String, String), Option<i64>>,
}
