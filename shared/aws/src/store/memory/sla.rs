//! The in-memory twin of `store::sla`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::items::outbox_item;
use crate::store::memory::{put_timer, put_watch, timer_key};
use crate::store::{DueTimers, SlaTimers};
use crate::{MemoryStore, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::event::DomainEvent;
use partnerops_domain::id::{ReferralId, RegistrationId};
use partnerops_domain::registration::ExpiryWatch;
use partnerops_domain::sla::{SlaSubject, SlaTimer};
#[async_trait]
impl SlaTimers for MemoryStore {
    async fn due_timers(&self, now: Timestamp) -> Result<DueTimers, StoreError> {
        let mut state = self.state();
        let timers: Vec<SlaTimer> = state
            .timers
            .due
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .filter_map(|(_, subject, key)| state.timers.records.get(&(subject.clone(), key.clone())).cloned())
            .collect();
        let expiries: Vec<ExpiryWatch> = state
            .registrations
            .watch_due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter_map(|(_, id)| state.registrations.watches.get(id).cloned())
            .collect();
        state.visited += (timers.len() + expiries.len()) as u64;
        Ok(DueTimers { items_read: timers.len() + expiries.len(), queries: 1, timers, expiries })
    }

    async fn record_sweep(
        &self,
        before: &SlaTimer,
        after: &SlaTimer,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (after.subject.id().to_owned(), timer_key(after));
        if state.timers.records.get(&key).map(|t| t.rev) != Some(before.rev) {
            return Err(StoreError::Conflict("the SLA timer"));
        }
        let subject = after.subject.id();
        let exists = match &after.subject {
            SlaSubject::Referral(id) => {
                ReferralId::parse(id).is_some_and(|id| state.referrals.records.contains_key(&id))
            }
            SlaSubject::DealRegistration(id) => {
                RegistrationId::parse(id).is_some_and(|id| state.registrations.records.contains_key(&id))
            }
            SlaSubject::Opportunity(_) => state.opportunities.records.contains_key(subject),
        };
        if !exists {
            return Err(StoreError::Conflict("the timer's subject"));
        }
        // DynamoDB's `ADD rev :one` on the subject: an opportunity read before
        // the sweep can no longer be written over it.
        if let Some(opportunity) = state.opportunities.records.get_mut(subject)
            && matches!(after.subject, SlaSubject::Opportunity(_))
        {
            opportunity.rev += 1;
        }
        put_timer(&mut state, after);
        state.outbox.extend(events.iter().map(outbox_item));
        Ok(())
    }

    async fn record_expiry_notice(
        &self,
        before: &ExpiryWatch,
        after: &ExpiryWatch,
        event: &DomainEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.registrations.watches.get(&after.registration_id).map(|w| w.rev) != Some(before.rev) {
            return Err(StoreError::Conflict("the expiry watch"));
        }
        put_watch(&mut state, after);
        state.outbox.push(outbox_item(event));
        Ok(())
    }
}
