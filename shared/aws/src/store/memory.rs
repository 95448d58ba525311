//! An in-memory store with the DynamoDB store's conditional semantics, for
//! benchmarks and tests that exercise handlers without a network.

use super::items::timer_key;
use super::{
    ApiKeyRecord, DELIVERY_LEASE_SECONDS, DeliveryClaim, DueTimers, IDEMPOTENCY_HOURS, IDEMPOTENCY_LEASE_SECONDS,
    IdempotencyBegin, IdempotencyKey, OpportunityRecord, Page, PageRequest, ReferralQuery, ReferralRecord,
    RegistrationQuery, RegistrationRecord, Store, StoreError, StoredResponse,
};
use crate::outbox::outbox_item;
use crate::store::items::OutboxItem;
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use partnerops_domain::Timestamp;
use partnerops_domain::crm::{CrmChange, Opportunity, Source};
use partnerops_domain::event::DomainEvent;
use partnerops_domain::id::{KeyId, ReferralId, RegistrationId};
use partnerops_domain::partner::{Certification, Partner, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::ReferralStatus;
use partnerops_domain::referral::{AcceptedReferral, ProspectStanding, ReferralClaim, RejectedReferral};
use partnerops_domain::registration::{
    AuditEntry, CustomerStanding, ExpiryWatch, QueueChange, QueueWrite, Recorded, RegistrationQueue, RegistrationStatus,
};
use partnerops_domain::sla::{SlaSubject, SlaTimer};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct State {
    api_keys: HashMap<KeyId, ApiKeyRecord>,
    partners: HashMap<PartnerId, Partner>,
    certifications: HashMap<PartnerId, Vec<Certification>>,
    customers: HashSet<ProspectKey>,
    referral_claims: HashMap<ProspectKey, ReferralClaim>,
    referrals: BTreeMap<ReferralId, ReferralRecord>,
    /// GSI1 of the table: each partner's referrals and registrations by id.
    partner_referrals: HashMap<PartnerId, BTreeSet<ReferralId>>,
    partner_registrations: HashMap<PartnerId, BTreeSet<RegistrationId>>,
    /// Every timer by (subject id, timer key).
    timers: BTreeMap<(String, String), SlaTimer>,
    /// The due-time index: timers the sweep still has to look at, by their
    /// next check, as DynamoDB's sparse DUE index holds them.
    due: BTreeSet<(Timestamp, String, String)>,
    watch_due: BTreeSet<(Timestamp, RegistrationId)>,
    /// Records looked at by reads and index upkeep, so a test can show that
    /// no path's cost grows with what the store holds.
    visited: u64,
    outbox: Vec<OutboxItem>,
    idempotency: HashMap<String, (String, Option<StoredResponse>, i64)>,
    /// (event, delivery) → `None` once sent, else the claim's lease end.
    deliveries: HashMap<(String, String), Option<i64>>,
    registrations: BTreeMap<RegistrationId, RegistrationRecord>,
    watches: BTreeMap<RegistrationId, ExpiryWatch>,
    opportunities: BTreeMap<String, Opportunity>,
    crm_events: HashMap<String, i64>,
    queues: HashMap<ProspectKey, RegistrationQueue>,
    history: HashMap<RegistrationId, Vec<AuditEntry>>,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Serialize, Deserialize)]
struct MemoryCursor {
    partition: String,
    after: String,
}

/// Where a page starts: the id after which the previous page ended.
fn page_start(page: &PageRequest, partition: &str) -> Result<Option<String>, StoreError> {
    let Some(raw) = &page.cursor else {
        return Ok(None);
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| StoreError::InvalidCursor)?;
    let cursor: MemoryCursor = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    if cursor.partition != partition {
        return Err(StoreError::InvalidCursor);
    }
    Ok(Some(cursor.after))
}

/// A page of a list, newest first: all of `records`, or only the ids in
/// `index` (a partner's), below the cursor's id.
fn list_page<K: Ord + Clone + fmt::Display, T: Clone>(
    records: &BTreeMap<K, T>,
    index: Option<&BTreeSet<K>>,
    after: Option<K>,
    partition: String,
    keep: impl Fn(&T) -> bool,
    page: &PageRequest,
    visited: &mut u64,
) -> Page<T> {
    let ids: Box<dyn Iterator<Item = &K>> = match (index, &after) {
        (None, Some(a)) => Box::new(records.range(..a.clone()).rev().map(|(id, _)| id)),
        (None, None) => Box::new(records.keys().rev()),
        (Some(index), Some(a)) => Box::new(index.range(..a.clone()).rev()),
        (Some(index), None) => Box::new(index.iter().rev()),
    };
    let rows = ids.filter_map(|id| Some((id.to_string(), records.get(id)?.clone())));
    page_of(rows, partition, keep, page, visited)
}

/// One page, newest first, from ids already below the cursor, as the
/// DynamoDB store pages: the limit applies before the status filter.
fn page_of<T>(
    mut newest_first: impl Iterator<Item = (String, T)>,
    partition: String,
    keep: impl Fn(&T) -> bool,
    page: &PageRequest,
    visited: &mut u64,
) -> Page<T> {
    let window: Vec<(String, T)> = newest_first.by_ref().take(usize::from(page.limit)).collect();
    let more = newest_first.next().is_some();
    *visited += window.len() as u64 + u64::from(more);
    let next_cursor = match window.last() {
        Some((last, _)) if more => {
            serde_json::to_vec(&MemoryCursor { partition, after: last.clone() }).ok().map(|b| URL_SAFE_NO_PAD.encode(b))
        }
        _ => None,
    };
    Page { items: window.into_iter().map(|(_, r)| r).filter(|r| keep(r)).collect(), next_cursor }
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
        self.state().timers.values().cloned().collect()
    }

    /// How many stored records reads and index upkeep have looked at so far.
    pub fn records_visited(&self) -> u64 {
        self.state().visited
    }

    /// Forgets everything but keys, partners, certifications and customers,
    /// so a benchmark can keep the store at a steady size.
    pub fn clear_activity(&self) {
        let mut state = self.state();
        let kept = State {
            api_keys: std::mem::take(&mut state.api_keys),
            partners: std::mem::take(&mut state.partners),
            certifications: std::mem::take(&mut state.certifications),
            customers: std::mem::take(&mut state.customers),
            ..State::default()
        };
        *state = kept;
    }
}

/// One subject's timers, by a range over its key prefix.
fn timers_of(state: &mut State, subject: &str) -> Vec<SlaTimer> {
    let start = (subject.to_owned(), String::new());
    let mine: Vec<SlaTimer> =
        state.timers.range(start..).take_while(|((id, _), _)| id == subject).map(|(_, t)| t.clone()).collect();
    state.visited += mine.len() as u64;
    mine
}

/// DynamoDB's condition on every timer write but a referral's first: a new
/// timer (rev 0) must not exist, a changed one must still be at the rev it
/// was changed from.
fn timer_condition_holds(state: &State, timer: &SlaTimer) -> bool {
    let stored = state.timers.get(&(timer.subject.id().to_owned(), timer_key(timer))).map(|t| t.rev);
    match timer.rev {
        0 => stored.is_none(),
        rev => stored == Some(rev - 1),
    }
}

/// The status a CRM change moves its referral or registration to.
enum SourceStatus {
    Referral(ReferralStatus),
    Registration(RegistrationStatus),
}

/// A status as the store writes it: DynamoDB takes the string as it is, and a
/// value no reader can decode would make the record unreadable, so it is an
/// error here rather than silently kept as before.
fn status_of<T: serde::de::DeserializeOwned>(to: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(to.to_owned()))
        .map_err(|_| StoreError::Unexpected(anyhow::anyhow!("unknown status {to:?} in a source update")))
}

fn put_watch(state: &mut State, watch: &ExpiryWatch) {
    if let Some(at) = state.watches.get(&watch.registration_id).and_then(ExpiryWatch::next_check_at) {
        state.watch_due.remove(&(at, watch.registration_id.clone()));
    }
    if let Some(at) = watch.next_check_at() {
        state.watch_due.insert((at, watch.registration_id.clone()));
    }
    state.watches.insert(watch.registration_id.clone(), watch.clone());
}

/// Stores a timer, keeps the due-time index, and refreshes its subject's copy.
fn put_timer(state: &mut State, timer: &SlaTimer) {
    let subject = timer.subject.id().to_owned();
    let key = timer_key(timer);
    if let Some(at) = state.timers.get(&(subject.clone(), key.clone())).and_then(SlaTimer::next_check_at) {
        state.due.remove(&(at, subject.clone(), key.clone()));
    }
    if let Some(at) = timer.next_check_at() {
        state.due.insert((at, subject.clone(), key.clone()));
    }
    state.timers.insert((subject.clone(), key), timer.clone());
    let mut mine = timers_of(state, &subject);
    mine.sort_by(|a, b| (a.started_at, a.kind.as_str()).cmp(&(b.started_at, b.kind.as_str())));
    match &timer.subject {
        SlaSubject::Referral(id) => {
            if let Some(record) = ReferralId::parse(id).and_then(|id| state.referrals.get_mut(&id)) {
                record.slas = mine.iter().map(SlaTimer::view).collect();
                record.timers = mine;
            }
        }
        SlaSubject::DealRegistration(id) => {
            if let Some(record) = RegistrationId::parse(id).and_then(|id| state.registrations.get_mut(&id)) {
                record.timers = mine;
            }
        }
        SlaSubject::Opportunity(_) => {}
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn crm_event_seen(&self, event_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.state().crm_events.get(event_id).is_some_and(|ttl| *ttl > now.unix_seconds()))
    }

    async fn opportunity(&self, id: &str) -> Result<Option<OpportunityRecord>, StoreError> {
        let mut state = self.state();
        let Some(opportunity) = state.opportunities.get(id).cloned() else {
            return Ok(None);
        };
        Ok(Some(OpportunityRecord { opportunity, timers: timers_of(&mut state, id) }))
    }

    async fn apply_crm(&self, change: &CrmChange, now: Timestamp) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.crm_events.get(&change.event_id).is_some_and(|ttl| *ttl > now.unix_seconds()) {
            return Err(StoreError::AlreadyApplied);
        }
        let current = state.opportunities.get(&change.opportunity.id).map(|o| o.rev);
        if current != change.opportunity_read_rev {
            return Err(StoreError::Conflict("the opportunity"));
        }
        if let Some(update) = &change.source_update {
            let status = match &update.source {
                Source::Referral(id) => state.referrals.get(id).map(|r| r.referral.status.as_str().to_owned()),
                Source::Registration(id) => {
                    state.registrations.get(id).map(|r| r.registration.status.as_str().to_owned())
                }
            };
            if status.is_none() || update.from.as_ref().is_some_and(|from| status.as_ref() != Some(from)) {
                return Err(StoreError::Conflict("the referral or registration"));
            }
        }
        // Decoded before anything is written: a status no reader could decode
        // changes nothing.
        let source_status = match &change.source_update {
            Some(update) => Some(match &update.source {
                Source::Referral(_) => SourceStatus::Referral(status_of(&update.to)?),
                Source::Registration(_) => SourceStatus::Registration(status_of(&update.to)?),
            }),
            None => None,
        };
        let source_timer = change.source_update.as_ref().and_then(|u| u.timer.as_ref());
        if !change.changed_timers.iter().chain(source_timer).all(|t| timer_condition_holds(&state, t)) {
            return Err(StoreError::Conflict("an SLA timer"));
        }
        let ttl = now.plus(chrono::Duration::days(partnerops_domain::crm::DEDUPE_DAYS)).unix_seconds();
        state.crm_events.insert(change.event_id.clone(), ttl);
        state.opportunities.insert(change.opportunity.id.clone(), change.opportunity.clone());
        for timer in &change.changed_timers {
            put_timer(&mut state, timer);
        }
        if let Some(update) = &change.source_update {
            match (&update.source, source_status) {
                (Source::Referral(id), Some(SourceStatus::Referral(status))) => {
                    if let Some(record) = state.referrals.get_mut(id) {
                        record.referral.status = status;
                        if update.opportunity_id.is_some() {
                            record.referral.opportunity_id = update.opportunity_id.clone();
                        }
                        record.referral.updated_at = now;
                    }
                }
                (Source::Registration(id), Some(SourceStatus::Registration(status))) => {
                    if let Some(record) = state.registrations.get_mut(id) {
                        record.registration.status = status;
                        if update.opportunity_id.is_some() {
                            record.registration.opportunity_id = update.opportunity_id.clone();
                        }
                        record.registration.updated_at = now;
                    }
                }
                _ => {}
            }
            if let Some(timer) = &update.timer {
                put_timer(&mut state, timer);
            }
        }
        state.outbox.extend(change.events.iter().map(outbox_item));
        Ok(())
    }

    async fn due_timers(&self, now: Timestamp) -> Result<DueTimers, StoreError> {
        let mut state = self.state();
        let timers: Vec<SlaTimer> = state
            .due
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .filter_map(|(_, subject, key)| state.timers.get(&(subject.clone(), key.clone())).cloned())
            .collect();
        let expiries: Vec<ExpiryWatch> = state
            .watch_due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter_map(|(_, id)| state.watches.get(id).cloned())
            .collect();
        state.visited += (timers.len() + expiries.len()) as u64;
        Ok(DueTimers { items_read: timers.len() + expiries.len(), queries: 1, timers, expiries })
    }

    async fn record_expiry_notice(
        &self,
        before: &ExpiryWatch,
        after: &ExpiryWatch,
        event: &DomainEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.watches.get(&after.registration_id).map(|w| w.rev) != Some(before.rev) {
            return Err(StoreError::Conflict("the expiry watch"));
        }
        put_watch(&mut state, after);
        state.outbox.push(outbox_item(event));
        Ok(())
    }

    async fn record_sweep(
        &self,
        before: &SlaTimer,
        after: &SlaTimer,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (after.subject.id().to_owned(), timer_key(after));
        if state.timers.get(&key).map(|t| t.rev) != Some(before.rev) {
            return Err(StoreError::Conflict("the SLA timer"));
        }
        let subject = after.subject.id();
        let exists = match &after.subject {
            SlaSubject::Referral(id) => ReferralId::parse(id).is_some_and(|id| state.referrals.contains_key(&id)),
            SlaSubject::DealRegistration(id) => {
                RegistrationId::parse(id).is_some_and(|id| state.registrations.contains_key(&id))
            }
            SlaSubject::Opportunity(_) => state.opportunities.contains_key(subject),
        };
        if !exists {
            return Err(StoreError::Conflict("the timer's subject"));
        }
        // DynamoDB's `ADD rev :one` on the subject: an opportunity read before
        // the sweep can no longer be written over it.
        if let Some(opportunity) = state.opportunities.get_mut(subject)
            && matches!(after.subject, SlaSubject::Opportunity(_))
        {
            opportunity.rev += 1;
        }
        put_timer(&mut state, after);
        state.outbox.extend(events.iter().map(outbox_item));
        Ok(())
    }

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

    async fn certifications(&self, partner: &PartnerId) -> Result<Vec<Certification>, StoreError> {
        Ok(self.state().certifications.get(partner).cloned().unwrap_or_default())
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
            registration: state.queues.get(key).and_then(|q| q.approved.as_ref()).map(|a| {
                partnerops_domain::referral::RegistrationProtection {
                    partner_id: a.partner_id.clone(),
                    protected_until: a.protected_until,
                }
            }),
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
        state
            .partner_referrals
            .entry(accepted.referral.partner_id.clone())
            .or_default()
            .insert(accepted.referral.id.clone());
        state.referrals.insert(
            accepted.referral.id.clone(),
            ReferralRecord {
                referral: accepted.referral.clone(),
                slas: vec![accepted.timer.view()],
                timers: vec![accepted.timer.clone()],
            },
        );
        put_timer(&mut state, &accepted.timer);
        state.outbox.push(outbox_item(&accepted.event));
        Ok(())
    }

    async fn record_rejected_referral(&self, rejected: &RejectedReferral) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.referrals.contains_key(&rejected.referral.id) {
            return Err(StoreError::Conflict("the referral"));
        }
        state
            .partner_referrals
            .entry(rejected.referral.partner_id.clone())
            .or_default()
            .insert(rejected.referral.id.clone());
        state.referrals.insert(
            rejected.referral.id.clone(),
            ReferralRecord { referral: rejected.referral.clone(), slas: Vec::new(), timers: Vec::new() },
        );
        state.outbox.push(outbox_item(&rejected.event));
        Ok(())
    }

    async fn referral(&self, id: &ReferralId) -> Result<Option<ReferralRecord>, StoreError> {
        Ok(self.state().referrals.get(id).cloned())
    }

    async fn referrals(&self, query: &ReferralQuery, page: &PageRequest) -> Result<Page<ReferralRecord>, StoreError> {
        let partition = query.partner_id.as_ref().map_or_else(|| "*".to_owned(), |p| p.to_string());
        let after = match page_start(page, &partition)? {
            Some(raw) => Some(ReferralId::parse(&raw).ok_or(StoreError::InvalidCursor)?),
            None => None,
        };
        let mut state = self.state();
        let State { referrals, partner_referrals, visited, .. } = &mut *state;
        let index = match &query.partner_id {
            Some(partner) => match partner_referrals.get(partner) {
                Some(ids) => Some(ids),
                None => return Ok(Page { items: Vec::new(), next_cursor: None }),
            },
            None => None,
        };
        let keep = |r: &ReferralRecord| query.status.is_none_or(|s| r.referral.status == s);
        Ok(list_page(referrals, index, after, partition, keep, page, visited))
    }

    async fn customer_standing(&self, key: &ProspectKey) -> Result<CustomerStanding, StoreError> {
        let state = self.state();
        Ok(CustomerStanding {
            existing_customer: state.customers.contains(key),
            queue: state.queues.get(key).cloned().unwrap_or_default(),
        })
    }

    async fn registration_queue(&self, key: &ProspectKey) -> Result<RegistrationQueue, StoreError> {
        Ok(self.state().queues.get(key).cloned().unwrap_or_default())
    }

    async fn queue_and_partner(
        &self,
        key: &ProspectKey,
        partner: &PartnerId,
    ) -> Result<(RegistrationQueue, Option<Partner>), StoreError> {
        let state = self.state();
        Ok((state.queues.get(key).cloned().unwrap_or_default(), state.partners.get(partner).cloned()))
    }

    async fn record_registration(&self, recorded: &Recorded) -> Result<(), StoreError> {
        let mut state = self.state();
        let registration = &recorded.registration;
        let key = &registration.customer_key;
        let current = state.queues.get(key).cloned();
        let next = match &recorded.queue_write {
            None => current,
            Some(QueueWrite::Replace { queue, read_version }) => {
                if current.as_ref().map(|q| q.version) != *read_version {
                    return Err(StoreError::Conflict("the customer's registration queue"));
                }
                Some(queue.clone())
            }
            Some(QueueWrite::Append(entry)) => match current {
                Some(mut q) if !q.queue.is_empty() && q.approved.is_none() => {
                    q.queue.push(entry.clone());
                    q.version += 1;
                    Some(q)
                }
                _ => return Err(StoreError::Conflict("the customer's registration queue")),
            },
        };
        if state.registrations.contains_key(&registration.id) {
            return Err(StoreError::Conflict("the registration"));
        }
        if !recorded.timer.iter().all(|t| timer_condition_holds(&state, t)) {
            return Err(StoreError::Conflict("the SLA timer"));
        }
        if let Some(queue) = next {
            state.queues.insert(key.clone(), queue);
        }
        let timers: Vec<SlaTimer> = recorded.timer.iter().cloned().collect();
        for timer in &timers {
            put_timer(&mut state, timer);
        }
        if let Some(watch) = &recorded.watch {
            put_watch(&mut state, watch);
        }
        state.partner_registrations.entry(registration.partner_id.clone()).or_default().insert(registration.id.clone());
        state
            .registrations
            .insert(registration.id.clone(), RegistrationRecord { registration: registration.clone(), timers });
        state.history.entry(recorded.audit.registration_id.clone()).or_default().push(recorded.audit.clone());
        state.outbox.extend(recorded.events.iter().map(outbox_item));
        Ok(())
    }

    async fn registration(&self, id: &RegistrationId) -> Result<Option<RegistrationRecord>, StoreError> {
        Ok(self.state().registrations.get(id).cloned())
    }

    async fn registrations(
        &self,
        query: &RegistrationQuery,
        page: &PageRequest,
    ) -> Result<Page<RegistrationRecord>, StoreError> {
        let partition = query.partner_id.as_ref().map_or_else(|| "*".to_owned(), |p| p.to_string());
        let after = match page_start(page, &partition)? {
            Some(raw) => Some(RegistrationId::parse(&raw).ok_or(StoreError::InvalidCursor)?),
            None => None,
        };
        let mut state = self.state();
        let State { registrations, partner_registrations, visited, .. } = &mut *state;
        let index = match &query.partner_id {
            Some(partner) => match partner_registrations.get(partner) {
                Some(ids) => Some(ids),
                None => return Ok(Page { items: Vec::new(), next_cursor: None }),
            },
            None => None,
        };
        let keep = |r: &RegistrationRecord| query.status.is_none_or(|s| r.registration.status == s);
        Ok(list_page(registrations, index, after, partition, keep, page, visited))
    }

    async fn registration_history(&self, id: &RegistrationId) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.state().history.get(id).cloned().unwrap_or_default())
    }

    /// As DynamoDB applies it: a first transaction with the queue, the timers,
    /// the watches, the promoted registrations and as many status changes as
    /// fit in 100 items; further status changes in further transactions, one
    /// after another, each all-or-nothing, earlier ones kept if a later fails.
    async fn apply_queue_change(&self, change: &QueueChange) -> Result<(), StoreError> {
        let mut state = self.state();
        let untouched_owners: Vec<&RegistrationId> =
            change.timer_owners.iter().filter(|o| change.changes.iter().all(|c| &c.registration_id != *o)).collect();
        let fixed = 1 + change.timers.len() + change.watches.len() + untouched_owners.len();
        let mut batches: Vec<(usize, Vec<&partnerops_domain::registration::StatusChange>)> = vec![(fixed, Vec::new())];
        for c in &change.changes {
            let items = 2 + usize::from(c.event.is_some());
            match batches.last_mut() {
                Some((size, batch)) if *size + items <= super::MAX_TRANSACTION_ITEMS => {
                    *size += items;
                    batch.push(c);
                }
                _ => batches.push((items, vec![c])),
            }
        }
        for (index, (_, batch)) in batches.into_iter().enumerate() {
            if index == 0 {
                let version = state.queues.get(&change.customer_key).map(|q| q.version);
                if version != Some(change.queue_read) {
                    return Err(StoreError::Conflict("the customer's registration queue"));
                }
                if !change.timers.iter().all(|t| timer_condition_holds(&state, t)) {
                    return Err(StoreError::Conflict("an SLA timer"));
                }
                let all_pending = untouched_owners.iter().all(|owner| {
                    state.registrations.get(*owner).map(|r| r.registration.status) == Some(RegistrationStatus::Pending)
                });
                if !all_pending {
                    return Err(StoreError::Conflict("the promoted registration"));
                }
            }
            for c in &batch {
                if state.registrations.get(&c.registration_id).map(|r| r.registration.status) != Some(c.from) {
                    return Err(StoreError::Conflict("a registration's status"));
                }
            }
            if index == 0 {
                state.queues.insert(change.customer_key.clone(), change.queue_after.clone());
                for timer in &change.timers {
                    put_timer(&mut state, timer);
                }
                for watch in &change.watches {
                    put_watch(&mut state, watch);
                }
            }
            for c in batch {
                if let Some(record) = state.registrations.get_mut(&c.registration_id) {
                    record.registration.apply(c);
                }
                state.history.entry(c.audit.registration_id.clone()).or_default().push(c.audit.clone());
                if let Some(event) = &c.event {
                    state.outbox.push(outbox_item(event));
                }
            }
        }
        Ok(())
    }

    async fn add_certification(
        &self,
        certification: &Certification,
        partner: &Partner,
        read_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        match state.partners.get_mut(&partner.id) {
            Some(current) if current.updated_at == read_at => *current = partner.clone(),
            _ => return Err(StoreError::Conflict("the partner")),
        }
        state.certifications.entry(certification.partner_id.clone()).or_default().push(certification.clone());
        Ok(())
    }

    async fn claim_delivery(
        &self,
        event_id: &str,
        delivery: &str,
        now: Timestamp,
    ) -> Result<DeliveryClaim, StoreError> {
        let mut state = self.state();
        let key = (event_id.to_owned(), delivery.to_owned());
        match state.deliveries.get(&key) {
            Some(None) => Ok(DeliveryClaim::Sent),
            Some(Some(until)) if *until > now.unix_seconds() => Ok(DeliveryClaim::InFlight),
            _ => {
                let until = now.plus(Duration::seconds(DELIVERY_LEASE_SECONDS)).unix_seconds();
                state.deliveries.insert(key, Some(until));
                Ok(DeliveryClaim::Claimed)
            }
        }
    }

    async fn delivery_sent(&self, event_id: &str, delivery: &str, _now: Timestamp) -> Result<(), StoreError> {
        self.state().deliveries.insert((event_id.to_owned(), delivery.to_owned()), None);
        Ok(())
    }

    async fn release_delivery(&self, event_id: &str, delivery: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (event_id.to_owned(), delivery.to_owned());
        if matches!(state.deliveries.get(&key), Some(Some(_))) {
            state.deliveries.remove(&key);
        }
        Ok(())
    }

    async fn idempotency_begin(&self, key: &IdempotencyKey, now: Timestamp) -> Result<IdempotencyBegin, StoreError> {
        let mut state = self.state();
        // An in-progress record lasts as long as its lease; a completed one 24 h.
        let expires = now.plus(Duration::seconds(IDEMPOTENCY_LEASE_SECONDS)).unix_seconds();
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
