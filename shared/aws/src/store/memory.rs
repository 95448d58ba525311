//! An in-memory store with the DynamoDB store's conditional semantics, for
//! benchmarks and tests that exercise handlers without a network.

use super::{
    ApiKeyRecord, IDEMPOTENCY_HOURS, IdempotencyBegin, IdempotencyKey, Page, PageRequest, ReferralQuery,
    ReferralRecord, Store, StoreError, StoredResponse,
};
use crate::outbox::outbox_item;
use crate::store::items::OutboxItem;
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use partnerops_domain::Timestamp;
use partnerops_domain::id::{KeyId, ReferralId};
use partnerops_domain::partner::{Certification, Partner, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::{AcceptedReferral, ProspectStanding, ReferralClaim, RejectedReferral};
use partnerops_domain::sla::SlaTimer;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct State {
    api_keys: HashMap<KeyId, ApiKeyRecord>,
    partners: HashMap<PartnerId, Partner>,
    certifications: Vec<Certification>,
    customers: HashSet<ProspectKey>,
    referral_claims: HashMap<ProspectKey, ReferralClaim>,
    referrals: BTreeMap<ReferralId, ReferralRecord>,
    timers: Vec<SlaTimer>,
    outbox: Vec<OutboxItem>,
    idempotency: HashMap<String, (String, Option<StoredResponse>, i64)>,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Serialize, Deserialize)]
struct MemoryCursor {
    partition: String,
    after: ReferralId,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Events written so far, oldest first.
    pub fn outbox(&self) -> Vec<OutboxItem> {
        self.state().outbox.clone()
    }

    pub fn timers(&self) -> Vec<SlaTimer> {
        self.state().timers.clone()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.state().api_keys.get(key_id).cloned())
    }

    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.api_keys.contains_key(&record.key_id) {
            return Err(StoreError::Conflict("the API key"));
        }
        state.api_keys.insert(record.key_id.clone(), record.clone());
        Ok(())
    }

    async fn revoke_api_key(&self, key_id: &KeyId, at: Timestamp) -> Result<bool, StoreError> {
        Ok(match self.state().api_keys.get_mut(key_id) {
            Some(record) => {
                record.revoked_at.get_or_insert(at);
                true
            }
            None => false,
        })
    }

    async fn partner(&self, id: &PartnerId) -> Result<Option<Partner>, StoreError> {
        Ok(self.state().partners.get(id).cloned())
    }

    async fn create_partner(&self, partner: &Partner) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.partners.contains_key(&partner.id) {
            return Ok(false);
        }
        state.partners.insert(partner.id.clone(), partner.clone());
        Ok(true)
    }

    async fn update_partner(&self, partner: &Partner, read_at: Timestamp) -> Result<(), StoreError> {
        let mut state = self.state();
        match state.partners.get_mut(&partner.id) {
            Some(current) if current.updated_at == read_at => {
                *current = partner.clone();
                Ok(())
            }
            _ => Err(StoreError::Conflict("the partner")),
        }
    }

    async fn put_certification(&self, certification: &Certification) -> Result<(), StoreError> {
        self.state().certifications.push(certification.clone());
        Ok(())
    }

    async fn certifications(&self, partner: &PartnerId) -> Result<Vec<Certification>, StoreError> {
        Ok(self.state().certifications.iter().filter(|c| &c.partner_id == partner).cloned().collect())
    }

    async fn mark_customers(&self, keys: &[ProspectKey], _at: Timestamp) -> Result<(), StoreError> {
        self.state().customers.extend(keys.iter().cloned());
        Ok(())
    }

    async fn prospect_standing(&self, key: &ProspectKey) -> Result<ProspectStanding, StoreError> {
        let state = self.state();
        Ok(ProspectStanding {
            existing_customer: state.customers.contains(key),
            referral_claim: state.referral_claims.get(key).cloned(),
            registration: None,
        })
    }

    async fn record_accepted_referral(&self, accepted: &AcceptedReferral) -> Result<(), StoreError> {
        let mut state = self.state();
        let current = state.referral_claims.get(&accepted.claim.prospect_key);
        let unchanged = match (&accepted.replaces_claim, current) {
            (None, None) => true,
            (Some(old), Some(now)) => old.referral_id == now.referral_id,
            _ => false,
        };
        if !unchanged {
            return Err(StoreError::Conflict("the prospect's referral claim"));
        }
        if state.referrals.contains_key(&accepted.referral.id) {
            return Err(StoreError::Conflict("the referral"));
        }
        state.referral_claims.insert(accepted.claim.prospect_key.clone(), accepted.claim.clone());
        state.referrals.insert(
            accepted.referral.id.clone(),
            ReferralRecord { referral: accepted.referral.clone(), slas: vec![accepted.timer.view()] },
        );
        state.timers.push(accepted.timer.clone());
        state.outbox.push(outbox_item(&accepted.event));
        Ok(())
    }

    async fn record_rejected_referral(&self, rejected: &RejectedReferral) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.referrals.contains_key(&rejected.referral.id) {
            return Err(StoreError::Conflict("the referral"));
        }
        state.referrals.insert(
            rejected.referral.id.clone(),
            ReferralRecord { referral: rejected.referral.clone(), slas: Vec::new() },
        );
        state.outbox.push(outbox_item(&rejected.event));
        Ok(())
    }

    async fn referral(&self, id: &ReferralId) -> Result<Option<ReferralRecord>, StoreError> {
        Ok(self.state().referrals.get(id).cloned())
    }

    async fn referrals(&self, query: &ReferralQuery, page: &PageRequest) -> Result<Page<ReferralRecord>, StoreError> {
        let partition = query.partner_id.as_ref().map_or_else(|| "*".to_owned(), |p| p.to_string());
        let after = match &page.cursor {
            Some(raw) => {
                let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| StoreError::InvalidCursor)?;
                let cursor: MemoryCursor = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
                if cursor.partition != partition {
                    return Err(StoreError::InvalidCursor);
                }
                Some(cursor.after)
            }
            None => None,
        };
        let state = self.state();
        let limit = usize::from(page.limit);
        let mut scanned = state
            .referrals
            .values()
            .rev()
            .filter(|r| query.partner_id.as_ref().is_none_or(|p| &r.referral.partner_id == p))
            .filter(|r| after.as_ref().is_none_or(|a| &r.referral.id < a));
        let window: Vec<&ReferralRecord> = scanned.by_ref().take(limit).collect();
        let more = scanned.next().is_some();
        let next_cursor = match window.last() {
            Some(last) if more => {
                let cursor = MemoryCursor { partition, after: last.referral.id.clone() };
                serde_json::to_vec(&cursor).ok().map(|b| URL_SAFE_NO_PAD.encode(b))
            }
            _ => None,
        };
        let items =
            window.into_iter().filter(|r| query.status.is_none_or(|s| r.referral.status == s)).cloned().collect();
        Ok(Page { items, next_cursor })
    }

    async fn idempotency_begin(&self, key: &IdempotencyKey, now: Timestamp) -> Result<IdempotencyBegin, StoreError> {
        let mut state = self.state();
        let expires = now.plus(Duration::hours(IDEMPOTENCY_HOURS)).unix_seconds();
        match state.idempotency.get(&key.record_key) {
            Some((hash, response, ttl)) if *ttl > now.unix_seconds() => {
                Ok(match (hash == &key.request_hash, response) {
                    (false, _) => IdempotencyBegin::Mismatch,
                    (true, Some(r)) => IdempotencyBegin::Completed(r.clone()),
                    (true, None) => IdempotencyBegin::InProgress,
                })
            }
            _ => {
                state.idempotency.insert(key.record_key.clone(), (key.request_hash.clone(), None, expires));
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
            .insert(key.record_key.clone(), (key.request_hash.clone(), Some(response.clone()), expires));
        Ok(())
    }

    async fn idempotency_abandon(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        self.state().idempotency.remove(&key.record_key);
        Ok(())
    }
}
