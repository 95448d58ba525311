//! Where each registration's decision message is in Slack (app mode), so
//! later changes edit it.

use crate::store::dynamo::to_item;
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use partnerops_domain::id::RegistrationId;
use partnerops_domain::slack::MessageRef;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[async_trait]
pub trait SlackMessages: Send + Sync {
    /// Keeps the registration's message; `false` when one is kept already
    /// (the first stays).
    async fn keep_slack_message(&self, registration: &RegistrationId, message: &MessageRef)
    -> Result<bool, StoreError>;

    async fn slack_message(&self, registration: &RegistrationId) -> Result<Option<MessageRef>, StoreError>;
}

const SK: &str = "SLACKMSG";

#[derive(Serialize, Deserialize)]
struct MessageItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(flatten)]
    message: MessageRef,
}

#[async_trait]
impl SlackMessages for DynamoStore {
    async fn keep_slack_message(
        &self,
        registration: &RegistrationId,
        message: &MessageRef,
    ) -> Result<bool, StoreError> {
        let item = MessageItem {
            pk: super::items::registration_pk(registration.as_str()),
            sk: SK.into(),
            entity: "slack_message".into(),
            message: message.clone(),
        };
        self.put_item(to_item(&item)?, Some("attribute_not_exists(PK)"), None).await
    }

    async fn slack_message(&self, registration: &RegistrationId) -> Result<Option<MessageRef>, StoreError> {
        let item: Option<MessageItem> = self.get(super::items::registration_pk(registration.as_str()), SK).await?;
        Ok(item.map(|i| i.message))
    }
}

/// The in-memory twin's decision messages by registration.
#[derive(Default, Clone)]
pub(super) struct SlackState {
    pub(super) messages: HashMap<RegistrationId, MessageRef>,
}
