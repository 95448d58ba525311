//! Partner webhook endpoints and their deliveries (SPEC §18).
//!
//! An endpoint is `WHE#<id>` / `ENDPOINT`, listed per partner on GSI1
//! (`WHEP#<partner>`); each message to it is `WHE#<id>` / `MSG#<message>`,
//! so its deliveries log is one query, newest first. A pending delivery sits
//! in GSI1 under `WHDUE#<shard>` by its next attempt, which is what the retry
//! sweep reads; a finished one leaves that index. Every write is conditional
//! on the version read.

use crate::store::dynamo::{Item, encode_cursor, from_item, key, n, s, to_item, unexpected};
use crate::store::items::{GSI1, GSI1PK, GSI1SK, PK, SK};
use crate::store::{Page, PageRequest};
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use partnerops_domain::Timestamp;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::webhook::{Delivery, DeliveryState, Endpoint, EndpointId, MessageId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Shards of the due index, so that a burst of retries spreads over
/// partitions; the sweep reads each.
pub const WEBHOOK_DUE_SHARDS: u32 = 4;
/// How long a delivery stays in its log (longer than its retries: 33 h).
pub const WEBHOOK_DELIVERY_RETENTION_DAYS: i64 = 30;

/// Partners' webhook endpoints, versioned, by id and by partner.
#[async_trait]
pub trait WebhookEndpoints: Send + Sync {
    /// Adds an endpoint (`Conflict` if its id is taken).
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError>;

    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError>;

    /// A partner's endpoints, oldest first.
    async fn partner_endpoints(&self, partner: &PartnerId) -> Result<Vec<Endpoint>, StoreError>;

    /// Writes `endpoint` if the stored one is still at `before`.
    async fn save_endpoint(&self, before: u64, endpoint: &Endpoint) -> Result<(), StoreError>;

    /// `false` when there was no such endpoint. Its deliveries stay in the
    /// log until they expire; pending ones end at their next attempt.
    async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError>;
}

/// Each message's delivery to an endpoint, versioned, in its endpoint's log
/// and, while pending, in the due index the retry sweep reads.
#[async_trait]
pub trait WebhookDeliveries: Send + Sync {
    /// Adds a delivery; `false` when the message was given to this endpoint
    /// before (an event delivered twice).
    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError>;

    async fn delivery(&self, endpoint: &EndpointId, message: &MessageId) -> Result<Option<Delivery>, StoreError>;

    /// Writes `delivery` if the stored one is still at `before`.
    async fn save_delivery(&self, before: u64, delivery: &Delivery) -> Result<(), StoreError>;

    /// An endpoint's deliveries, newest message first.
    async fn deliveries(&self, endpoint: &EndpointId, page: &PageRequest) -> Result<Page<Delivery>, StoreError>;

    /// Up to `limit` pending deliveries due by `now` from each shard of the
    /// due index, soonest first. The index lags the table by moments: each
    /// is claimed with a conditional write before anything is sent.
    async fn due_deliveries(&self, now: Timestamp, limit: u16) -> Result<Vec<Delivery>, StoreError>;
}

const ENDPOINT_SK: &str = "ENDPOINT";

pub(super) fn endpoint_pk(id: &EndpointId) -> String {
    format!("WHE#{id}")
}

fn message_sk(message: &MessageId) -> String {
    format!("MSG#{message}")
}

fn due_shard(message: &MessageId) -> u32 {
    message.as_str().bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % WEBHOOK_DUE_SHARDS
}

fn due_pk(shard: u32) -> String {
    format!("WHDUE#{shard}")
}

#[derive(Serialize, Deserialize)]
struct EndpointItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    entity: String,
    version: u64,
    endpoint: Endpoint,
}

impl EndpointItem {
    fn new(endpoint: &Endpoint) -> Self {
        Self {
            pk: endpoint_pk(&endpoint.id),
            sk: ENDPOINT_SK.into(),
            gsi1pk: format!("WHEP#{}", endpoint.partner_id),
            gsi1sk: format!("{}#{}", endpoint.created_at, endpoint.id),
            entity: "webhook_endpoint".into(),
            version: endpoint.version,
            endpoint: endpoint.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct DeliveryItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// Only while pending: the due index is sparse.
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    entity: String,
    version: u64,
    ttl: i64,
    delivery: Delivery,
}

impl DeliveryItem {
    fn new(delivery: &Delivery) -> Self {
        let due = match (delivery.state, delivery.next_attempt_at) {
            (DeliveryState::Pending, Some(at)) => Some(at),
            _ => None,
        };
        Self {
            pk: endpoint_pk(&delivery.endpoint_id),
            sk: message_sk(&delivery.message_id),
            gsi1pk: due.map(|_| due_pk(due_shard(&delivery.message_id))),
            gsi1sk: due.map(|at| format!("{at}#{}#{}", delivery.endpoint_id, delivery.message_id)),
            entity: "webhook_delivery".into(),
            version: delivery.version,
            ttl: delivery.created_at.plus(Duration::days(WEBHOOK_DELIVERY_RETENTION_DAYS)).unix_seconds(),
            delivery: delivery.clone(),
        }
    }
}

fn version_values(before: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([(":v".to_owned(), n(before))])
}

#[async_trait]
impl WebhookEndpoints for DynamoStore {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        match self.put_item(to_item(&EndpointItem::new(endpoint))?, Some("attribute_not_exists(PK)"), None).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict("the endpoint")),
        }
    }

    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        Ok(self.get::<EndpointItem>(endpoint_pk(id), ENDPOINT_SK).await?.map(|i| i.endpoint))
    }

    async fn partner_endpoints(&self, partner: &PartnerId) -> Result<Vec<Endpoint>, StoreError> {
        let items = self.gsi1_partition(format!("WHEP#{partner}"), false).await?;
        items.into_iter().map(|i| from_item::<EndpointItem>(i).map(|i| i.endpoint)).collect()
    }

    async fn save_endpoint(&self, before: u64, endpoint: &Endpoint) -> Result<(), StoreError> {
        let item = to_item(&EndpointItem::new(endpoint))?;
        match self.put_item(item, Some("version = :v"), Some(version_values(before))).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict("the endpoint")),
        }
    }

    async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(endpoint_pk(id), ENDPOINT_SK)))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unexpected("DeleteItem")(e)),
        }
    }
}

#[async_trait]
impl WebhookDeliveries for DynamoStore {
    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        self.put_item(to_item(&DeliveryItem::new(delivery))?, Some("attribute_not_exists(PK)"), None).await
    }

    async fn delivery(&self, endpoint: &EndpointId, message: &MessageId) -> Result<Option<Delivery>, StoreError> {
        Ok(self.get::<DeliveryItem>(endpoint_pk(endpoint), &message_sk(message)).await?.map(|i| i.delivery))
    }

    async fn save_delivery(&self, before: u64, delivery: &Delivery) -> Result<(), StoreError> {
        let item = to_item(&DeliveryItem::new(delivery))?;
        match self.put_item(item, Some("version = :v"), Some(version_values(before))).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict("the delivery")),
        }
    }

    async fn deliveries(&self, endpoint: &EndpointId, page: &PageRequest) -> Result<Page<Delivery>, StoreError> {
        let pk = endpoint_pk(endpoint);
        let start = page.cursor.as_deref().map(|c| decode_table_cursor(c, &pk)).transpose()?;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":msg", s("MSG#"))
            .scan_index_forward(false)
            .limit(i32::from(page.limit))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unexpected("Query"))?;
        let next_cursor = output.last_evaluated_key.as_ref().and_then(encode_cursor);
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item::<DeliveryItem>(i).map(|i| i.delivery))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn due_deliveries(&self, now: Timestamp, limit: u16) -> Result<Vec<Delivery>, StoreError> {
        let mut due = Vec::new();
        for shard in 0..WEBHOOK_DUE_SHARDS {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#pk = :pk AND #sk <= :now")
                .expression_attribute_names("#pk", GSI1PK)
                .expression_attribute_names("#sk", GSI1SK)
                .expression_attribute_values(":pk", s(due_pk(shard)))
                // Every key of a time `now` or earlier sorts below `now~`.
                .expression_attribute_values(":now", s(format!("{now}~")))
                .limit(i32::from(limit))
                .send()
                .await
                .map_err(unexpected("Query"))?;
            for item in output.items.unwrap_or_default() {
                due.push(from_item::<DeliveryItem>(item)?.delivery);
            }
        }
        due.sort_by_key(|d| d.next_attempt_at);
        Ok(due)
    }
}

/// A cursor of a query on the table itself: its `PK` must be the one asked.
fn decode_table_cursor(cursor: &str, pk: &str) -> Result<Item, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let map: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    if map.len() != 2
        || map.get(PK).map(String::as_str) != Some(pk)
        || !map.get(SK).is_some_and(|s| s.starts_with("MSG#"))
    {
        return Err(StoreError::InvalidCursor);
    }
    Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

/// The in-memory twin's webhook tables.
#[derive(Default, Clone)]
pub(super) struct WebhookState {
    pub(super) endpoints: BTreeMap<EndpointId, Endpoint>,
    pub(super) deliveries: BTreeMap<EndpointId, BTreeMap<MessageId, Delivery>>,
}
