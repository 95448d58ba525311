//! An in-memory store with the DynamoDB store's conditional semantics, for
//! benchmarks and tests that exercise handlers without a network.

use super::items::timer_key;
use super::*;
use crate::store::items::OutboxItem;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use partnerops_domain::Timestamp;
use partnerops_domain::crm::Opportunity;
use partnerops_domain::id::{KeyId, ReferralId, RegistrationId};
use partnerops_domain::partner::{Certification, Partner, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::ReferralClaim;
use partnerops_domain::registration::{AuditEntry, ExpiryWatch, RegistrationQueue};
use partnerops_domain::sla::{SlaSubject, SlaTimer};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
pub(super) struct State {
    pub(super) api_keys: HashMap<KeyId, ApiKeyRecord>,
    pub(super) partners: HashMap<PartnerId, Partner>,
    pub(super) certifications: HashMap<PartnerId, Vec<Certification>>,
    pub(super) customers: HashSet<ProspectKey>,
    pub(super) referral_claims: HashMap<ProspectKey, ReferralClaim>,
    pub(super) referrals: BTreeMap<ReferralId, ReferralRecord>,
    /// GSI1 of the table: each partner's referrals and registrations by id.
    pub(super) partner_referrals: HashMap<PartnerId, BTreeSet<ReferralId>>,
    pub(super) partner_registrations: HashMap<PartnerId, BTreeSet<RegistrationId>>,
    /// Every timer by (subject id, timer key).
    pub(super) timers: BTreeMap<(String, String), SlaTimer>,
    /// The due-time index: timers the sweep still has to look at, by their
    /// next check, as DynamoDB's sparse DUE index holds them.
    pub(super) due: BTreeSet<(Timestamp, String, String)>,
    pub(super) watch_due: BTreeSet<(Timestamp, RegistrationId)>,
    /// Records looked at by reads and index upkeep, so a test can show that
    /// no path's cost grows with what the store holds.
    pub(super) visited: u64,
    pub(super) outbox: Vec<OutboxItem>,
    pub(super) idempotency: HashMap<String, (String, Option<StoredResponse>, i64)>,
    /// (event, delivery) → `None` once sent, else the claim's lease end.
    pub(super) deliveries: HashMap<(String, String), Option<i64>>,
    pub(super) registrations: BTreeMap<RegistrationId, RegistrationRecord>,
    pub(super) watches: BTreeMap<RegistrationId, ExpiryWatch>,
    pub(super) opportunities: BTreeMap<String, Opportunity>,
    pub(super) crm_events: HashMap<String, i64>,
    pub(super) queues: HashMap<ProspectKey, RegistrationQueue>,
    /// Each registration's audit entries by their sort key on the table.
    pub(super) history: HashMap<RegistrationId, BTreeMap<String, AuditEntry>>,
    pub(super) payouts: super::payouts::PayoutState,
    pub(super) people: super::people::PeopleState,
    pub(super) slack_messages: HashMap<RegistrationId, partnerops_domain::slack::MessageRef>,
    pub(super) webhooks: super::webhooks::WebhookState,
    pub(super) reports: super::reports::ReportState,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct MemoryCursor {
    partition: String,
    after: String,
}

/// Where a page starts: the id after which the previous page ended.
pub(super) fn page_start(page: &PageRequest, partition: &str) -> Result<Option<String>, StoreError> {
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
pub(super) fn list_page<K: Ord + Clone + fmt::Display, T: Clone>(
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
pub(super) fn page_of<T>(
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

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
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
pub(super) fn timers_of(state: &mut State, subject: &str) -> Vec<SlaTimer> {
    let start = (subject.to_owned(), String::new());
    let mine: Vec<SlaTimer> =
        state.timers.range(start..).take_while(|((id, _), _)| id == subject).map(|(_, t)| t.clone()).collect();
    state.visited += mine.len() as u64;
    mine
}

/// DynamoDB's condition on every timer write but a referral's first: a new
/// timer (rev 0) must not exist, a changed one must still be at the rev it
/// was changed from.
pub(super) fn timer_condition_holds(state: &State, timer: &SlaTimer) -> bool {
    let stored = state.timers.get(&(timer.subject.id().to_owned(), timer_key(timer))).map(|t| t.rev);
    match timer.rev {
        0 => stored.is_none(),
        rev => stored == Some(rev - 1),
    }
}

pub(super) fn put_watch(state: &mut State, watch: &ExpiryWatch) {
    if let Some(at) = state.watches.get(&watch.registration_id).and_then(ExpiryWatch::next_check_at) {
        state.watch_due.remove(&(at, watch.registration_id.clone()));
    }
    if let Some(at) = watch.next_check_at() {
        state.watch_due.insert((at, watch.registration_id.clone()));
    }
    state.watches.insert(watch.registration_id.clone(), watch.clone());
}

/// Stores a timer, keeps the due-time index, and refreshes its subject's copy.
pub(super) fn put_timer(state: &mut State, timer: &SlaTimer) {
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
