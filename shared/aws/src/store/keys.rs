//! API keys: what a key grants, stored by its id; the key itself never is.

use crate::store::dynamo::{key, s, to_item, unexpected};
use crate::store::items::{API_KEY_SK, Keyed, api_key_pk};
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{KeyHash, Role};
use partnerops_domain::id::KeyId;
use partnerops_domain::partner::PartnerId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What an API key grants, as stored (the key itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub key_id: KeyId,
    pub hash: KeyHash,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<PartnerId>,
    pub label: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

#[async_trait]
pub trait ApiKeys: Send + Sync {
    async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError>;

    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError>;

    /// `false` when no such key exists. Revoking twice keeps the first time.
    async fn revoke_api_key(&self, key_id: &KeyId, at: Timestamp) -> Result<bool, StoreError>;
}

#[async_trait]
impl ApiKeys for DynamoStore {
    async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let item: Option<Keyed<ApiKeyRecord>> = self.get(api_key_pk(key_id.as_str()), API_KEY_SK).await?;
        Ok(item.map(|i| i.value))
    }

    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let item = to_item(&Keyed::api_key(record.clone()))?;
        match self.put_item(item, Some("attribute_not_exists(PK)"), None).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict("the API key")),
        }
    }

    async fn revoke_api_key(&self, key_id: &KeyId, at: Timestamp) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(api_key_pk(key_id.as_str()), API_KEY_SK)))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                Ok(false)
            }
            Err(e) => Err(unexpected("UpdateItem")(e)),
        }
    }
}

/// The in-memory twin's API keys.
#[derive(Default, Clone)]
pub(super) struct KeyState {
    pub(super) records: HashMap<KeyId, ApiKeyRecord>,
}

impl Keyed<ApiKeyRecord> {
    pub fn api_key(record: ApiKeyRecord) -> Self {
        Self::new(api_key_pk(record.key_id.as_str()), API_KEY_SK, "api_key", record)
    }
}
