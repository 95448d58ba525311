//! Idempotency-Key records: a lease while a request runs, its response after.

use crate::store::dynamo::{from_item, key, s, to_item, unexpected};
use crate::store::items::{IDEMPOTENCY_SK, idempotency_pk};
use crate::{DynamoStore, StoreError};
use anyhow::Context as _;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::Duration;
use partnerops_domain::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A response kept for an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub content_type: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First use of the key: run the request, then complete or abandon.
    Started,
    /// The same request already ran: answer with its response.
    Completed(StoredResponse),
    /// The same request is running right now.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The principal's key id and a hash of the client's key.
    pub record_key: String,
    pub request_hash: String,
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_HOURS: i64 = 24;

/// How long a running request holds its `Idempotency-Key` (well over any
/// function timeout); after that a retry may take it over.
pub const IDEMPOTENCY_LEASE_SECONDS: i64 = 60;

#[async_trait]
pub trait Idempotency: Send + Sync {
    async fn idempotency_begin(&self, key: &IdempotencyKey, now: Timestamp) -> Result<IdempotencyBegin, StoreError>;

    async fn idempotency_complete(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    async fn idempotency_abandon(&self, key: &IdempotencyKey) -> Result<(), StoreError>;
}

#[async_trait]
impl Idempotency for DynamoStore {
    async fn idempotency_begin(&self, idem: &IdempotencyKey, now: Timestamp) -> Result<IdempotencyBegin, StoreError> {
        let item = to_item(&IdempotencyItem {
            pk: idempotency_pk(&idem.record_key),
            sk: IDEMPOTENCY_SK.into(),
            entity: "idempotency".into(),
            request_hash: idem.request_hash.clone(),
            state: "in_progress".into(),
            response: None,
            locked_until: Some(now.plus(Duration::seconds(IDEMPOTENCY_LEASE_SECONDS)).unix_seconds()),
            ttl: now.plus(Duration::hours(IDEMPOTENCY_HOURS)).unix_seconds(),
        })?;
        // A request that died while holding the key (a timeout, a crash) left an
        // in-progress record; once its lease is over, a retry takes the key.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(PK) OR #ttl <= :now OR (#state = :in_progress AND locked_until <= :now)",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", AttributeValue::N(now.unix_seconds().to_string()))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(IdempotencyBegin::Started),
            Err(SdkError::ServiceError(service)) => match service.into_err() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let old: IdempotencyItem =
                        from_item(failed.item.context("condition failed without the old item")?)?;
                    Ok(match (old.request_hash == idem.request_hash, old.response) {
                        (false, _) => IdempotencyBegin::Mismatch,
                        (true, Some(response)) => IdempotencyBegin::Completed(response),
                        (true, None) => IdempotencyBegin::InProgress,
                    })
                }
                other => Err(unexpected("PutItem")(other)),
            },
            Err(e) => Err(unexpected("PutItem")(e)),
        }
    }

    async fn idempotency_complete(
        &self,
        idem: &IdempotencyKey,
        response: &StoredResponse,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let item = to_item(&IdempotencyItem {
            pk: idempotency_pk(&idem.record_key),
            sk: IDEMPOTENCY_SK.into(),
            entity: "idempotency".into(),
            request_hash: idem.request_hash.clone(),
            state: "completed".into(),
            response: Some(response.clone()),
            locked_until: None,
            ttl: now.plus(Duration::hours(IDEMPOTENCY_HOURS)).unix_seconds(),
        })?;
        self.put_item(item, None, None).await.map(drop)
    }

    async fn idempotency_abandon(&self, idem: &IdempotencyKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(idempotency_pk(&idem.record_key), IDEMPOTENCY_SK)))
            .send()
            .await
            .map_err(unexpected("DeleteItem"))?;
        Ok(())
    }
}

/// The in-memory twin's idempotency records: key → (request hash, the
/// response once complete, expiry).
#[derive(Default, Clone)]
pub(super) struct IdempotencyState {
    pub(super) records: HashMap<String, (String, Option<StoredResponse>, i64)>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct IdempotencyItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub request_hash: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<StoredResponse>,
    /// While in progress: until when (epoch seconds) the running request holds the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<i64>,
    /// DynamoDB TTL (epoch seconds); expiry is also checked on read, since
    /// TTL deletion lags.
    pub ttl: i64,
}
