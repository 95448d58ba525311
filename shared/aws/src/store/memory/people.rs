//! The in-memory twin of `store::people`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::paging::{list_page, page_start};
use crate::store::people::USERS_PARTITION;
use crate::store::{Page, PageRequest, RateLimits, ReferralForms, SignIns, Users};
use crate::{MemoryStore, StoreError};
use chrono::Duration;
use partnerops_domain::Timestamp;
use partnerops_domain::auth::KeyHash;
use partnerops_domain::id::UserId;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::people::{Session, SignInLink, User, admit};
#[async_trait]
impl Users for MemoryStore {
    async fn create_user(&self, user: &User) -> Result<bool, StoreError> {
        let mut state = self.state();
        let people = &mut state.people;
        let email = user.email.to_lowercase();
        if people.emails.contains_key(&email) {
            return Ok(false);
        }
        if people.users.contains_key(&user.id) {
            return Err(StoreError::Conflict("the user"));
        }
        people.emails.insert(email, user.id.clone());
        people.users.insert(user.id.clone(), user.clone());
        Ok(true)
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.state().people.users.get(id).cloned())
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let state = self.state();
        let id = state.people.emails.get(&email.to_lowercase());
        Ok(id.and_then(|id| state.people.users.get(id)).cloned())
    }

    async fn user_by_slack_id(&self, member: &str) -> Result<Option<User>, StoreError> {
        Ok(self.state().people.users.values().find(|u| u.slack_user_id.as_deref() == Some(member)).cloned())
    }

    async fn users(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
        let after = page_start(page, USERS_PARTITION)?
            .map(|a| UserId::parse(&a).ok_or(StoreError::InvalidCursor))
            .transpose()?;
        let mut state = self.state();
        let state = &mut *state;
        Ok(list_page(&state.people.users, None, after, USERS_PARTITION.into(), |_| true, page, &mut state.visited))
    }

    async fn update_user(&self, user: &User, read_at: Timestamp) -> Result<(), StoreError> {
        let mut state = self.state();
        match state.people.users.get_mut(&user.id) {
            Some(current) if current.updated_at == read_at => {
                *current = user.clone();
                Ok(())
            }
            _ => Err(StoreError::Conflict("the user")),
        }
    }
}

#[async_trait]
impl RateLimits for MemoryStore {
    async fn admit(&self, key: &str, limit: usize, window: Duration, now: Timestamp) -> Result<bool, StoreError> {
        let mut state = self.state();
        let sent = state.people.rates.entry(key.to_owned()).or_default();
        match admit(sent, limit, window, now) {
            Some(next) => {
                *sent = next;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl SignIns for MemoryStore {
    async fn put_sign_in_link(&self, link: &SignInLink) -> Result<(), StoreError> {
        let mut state = self.state();
        let hash = link.hash.as_str().to_owned();
        if state.people.links.contains_key(&hash) {
            return Err(StoreError::Conflict("the sign-in link"));
        }
        state.people.links.insert(hash, link.clone());
        Ok(())
    }

    async fn use_sign_in_link(&self, hash: &KeyHash, now: Timestamp) -> Result<Option<SignInLink>, StoreError> {
        let mut state = self.state();
        match state.people.links.get_mut(hash.as_str()) {
            Some(link) if link.usable(now) => {
                link.used_at = Some(now);
                Ok(Some(link.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut state = self.state();
        let hash = session.hash.as_str().to_owned();
        if state.people.sessions.contains_key(&hash) {
            return Err(StoreError::Conflict("the session"));
        }
        state.people.sessions.insert(hash, session.clone());
        Ok(())
    }

    async fn session(&self, hash: &KeyHash, now: Timestamp) -> Result<Option<Session>, StoreError> {
        Ok(self.state().people.sessions.get(hash.as_str()).filter(|s| s.live(now)).cloned())
    }

    async fn end_session(&self, hash: &KeyHash) -> Result<(), StoreError> {
        self.state().people.sessions.remove(hash.as_str());
        Ok(())
    }
}

#[async_trait]
impl ReferralForms for MemoryStore {
    async fn replace_referral_form(&self, partner: &PartnerId, hash: &KeyHash) -> Result<(), StoreError> {
        let mut state = self.state();
        let people = &mut state.people;
        if people.forms.contains_key(hash.as_str()) {
            return Err(StoreError::Conflict("the form link"));
        }
        if let Some(old) = people.form_of.insert(partner.clone(), hash.as_str().to_owned()) {
            people.forms.remove(&old);
        }
        people.forms.insert(hash.as_str().to_owned(), partner.clone());
        Ok(())
    }

    async fn referral_form(&self, hash: &KeyHash) -> Result<Option<PartnerId>, StoreError> {
        Ok(self.state().people.forms.get(hash.as_str()).cloned())
    }
}
