//! An in-memory store with the DynamoDB store's conditional semantics, for
//! benchmarks and tests that exercise handlers without a network. Each
//! port's state is declared beside its DynamoDB implementation; its
//! methods on the twin are in the module of the same name here.

mod crm;
mod deliveries;
mod idempotency;
mod keys;
mod partners;
mod payout_exports;
mod payout_lines;
mod people;
mod prospects;
mod referrals;
mod registrations;
mod reports;
mod sla;
mod slack;
mod webhooks;

use super::items::timer_key;
use crate::store::items::OutboxItem;
use partnerops_domain::id::{ReferralId, RegistrationId};
use partnerops_domain::registration::ExpiryWatch;
use partnerops_domain::sla::{SlaSubject, SlaTimer};
use std::sync::{Mutex, MutexGuard};

#[derive(Default, Clone)]
pub(super) struct State {
    pub(super) keys: super::keys::KeyState,
    pub(super) partners: super::partners::PartnerState,
    pub(super) prospects: super::prospects::ProspectState,
    pub(super) referrals: super::referrals::ReferralState,
    pub(super) registrations: super::registrations::RegistrationState,
    pub(super) timers: super::sla::TimerState,
    pub(super) opportunities: super::crm::OpportunityState,
    pub(super) notifications: super::deliveries::ClaimState,
    pub(super) idempotency: super::idempotency::IdempotencyState,
    pub(super) payout_lines: super::payout_lines::LineState,
    pub(super) payout_exports: super::payout_exports::ExportsState,
    pub(super) people: super::people::PeopleState,
    pub(super) slack: super::slack::SlackState,
    pub(super) webhooks: super::webhooks::WebhookState,
    pub(super) reports: super::reports::ReportState,
    /// Events written so far, oldest first.
    pub(super) outbox: Vec<OutboxItem>,
    /// Records looked at by reads and index upkeep, so a test can show that
    /// no path's cost grows with what the store holds.
    pub(super) visited: u64,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
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
        self.state().timers.records.values().cloned().collect()
    }

    /// How many stored records reads and index upkeep have looked at so far.
    pub fn records_visited(&self) -> u64 {
        self.state().visited
    }

    /// A copy of everything the store holds, to run the same work again on
    /// the same state (a benchmark's steady state).
    pub fn snapshot(&self) -> Self {
        Self { state: Mutex::new(self.state().clone()) }
    }

    /// Forgets everything but keys, partners, certifications and customers,
    /// so a benchmark can keep the store at a steady size.
    pub fn clear_activity(&self) {
        let mut state = self.state();
        let kept = State {
            keys: std::mem::take(&mut state.keys),
            partners: std::mem::take(&mut state.partners),
            prospects: std::mem::take(&mut state.prospects),
            ..State::default()
        };
        *state = kept;
    }
}

/// One subject's timers, by a range over its key prefix.
pub(super) fn timers_of(state: &mut State, subject: &str) -> Vec<SlaTimer> {
    let start = (subject.to_owned(), String::new());
    let mine: Vec<SlaTimer> =
        state.timers.records.range(start..).take_while(|((id, _), _)| id == subject).map(|(_, t)| t.clone()).collect();
    state.visited += mine.len() as u64;
    mine
}

/// DynamoDB's condition on every timer write but a referral's first: a new
/// timer (rev 0) must not exist, a changed one must still be at the rev it
/// was changed from.
pub(super) fn timer_condition_holds(state: &State, timer: &SlaTimer) -> bool {
    let stored = state.timers.records.get(&(timer.subject.id().to_owned(), timer_key(timer))).map(|t| t.rev);
    match timer.rev {
        0 => stored.is_none(),
        rev => stored == Some(rev - 1),
    }
}

pub(super) fn put_watch(state: &mut State, watch: &ExpiryWatch) {
    if let Some(at) = state.registrations.watches.get(&watch.registration_id).and_then(ExpiryWatch::next_check_at) {
        state.registrations.watch_due.remove(&(at, watch.registration_id.clone()));
    }
    if let Some(at) = watch.next_check_at() {
        state.registrations.watch_due.insert((at, watch.registration_id.clone()));
    }
    state.registrations.watches.insert(watch.registration_id.clone(), watch.clone());
}

/// Stores a timer, keeps the due-time index, and refreshes its subject's copy.
pub(super) fn put_timer(state: &mut State, timer: &SlaTimer) {
    let subject = timer.subject.id().to_owned();
    let key = timer_key(timer);
    if let Some(at) = state.timers.records.get(&(subject.clone(), key.clone())).and_then(SlaTimer::next_check_at) {
        state.timers.due.remove(&(at, subject.clone(), key.clone()));
    }
    if let Some(at) = timer.next_check_at() {
        state.timers.due.insert((at, subject.clone(), key.clone()));
    }
    state.timers.records.insert((subject.clone(), key), timer.clone());
    let mut mine = timers_of(state, &subject);
    mine.sort_by(|a, b| (a.started_at, a.kind.as_str()).cmp(&(b.started_at, b.kind.as_str())));
    match &timer.subject {
        SlaSubject::Referral(id) => {
            if let Some(record) = ReferralId::parse(id).and_then(|id| state.referrals.records.get_mut(&id)) {
                record.slas = mine.iter().map(SlaTimer::view).collect();
                record.timers = mine;
            }
        }
        SlaSubject::DealRegistration(id) => {
            if let Some(record) = RegistrationId::parse(id).and_then(|id| state.registrations.records.get_mut(&id)) {
                record.timers = mine;
            }
        }
        SlaSubject::Opportunity(_) => {}
    }
}
