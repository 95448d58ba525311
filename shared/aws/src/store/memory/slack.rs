//! The in-memory twin of `store::slack`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::SlackMessages;
use crate::{MemoryStore, StoreError};
use partnerops_domain::id::RegistrationId;
use partnerops_domain::slack::MessageRef;
#[async_trait]
impl SlackMessages for MemoryStore {
    async fn keep_slack_message(
        &self,
        registration: &RegistrationId,
        message: &MessageRef,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.slack.messages.contains_key(registration) {
            return Ok(false);
        }
        state.slack.messages.insert(registration.clone(), message.clone());
        Ok(true)
    }

    async fn slack_message(&self, registration: &RegistrationId) -> Result<Option<MessageRef>, StoreError> {
        Ok(self.state().slack.messages.get(registration).cloned())
    }
}
