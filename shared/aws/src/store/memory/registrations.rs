//! The in-memory twin of `store::registrations`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::items::{MAX_TRANSACTION_ITEMS, audit_sk, outbox_item};
use crate::store::memory::{State, put_timer, put_watch, timer_condition_holds};
use crate::store::paging::{list_page, page_start};
use crate::store::{Page, PageRequest, RegistrationQuery, RegistrationRecord, Registrations};
use crate::{MemoryStore, StoreError};
use partnerops_domain::id::RegistrationId;
use partnerops_domain::partner::{Partner, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::registration::{
    AuditEntry, QueueChange, QueueWrite, Recorded, RegistrationQueue, RegistrationStatus,
};
use partnerops_domain::sla::SlaTimer;
#[async_trait]
impl Registrations for MemoryStore {
    async fn registration_queue(&self, key: &ProspectKey) -> Result<RegistrationQueue, StoreError> {
        Ok(self.state().registrations.queues.get(key).cloned().unwrap_or_default())
    }

    async fn queue_and_partner(
        &self,
        key: &ProspectKey,
        partner: &PartnerId,
    ) -> Result<(RegistrationQueue, Option<Partner>), StoreError> {
        let state = self.state();
        Ok((
            state.registrations.queues.get(key).cloned().unwrap_or_default(),
            state.partners.records.get(partner).cloned(),
        ))
    }

    async fn record_registration(&self, recorded: &Recorded) -> Result<(), StoreError> {
        let mut state = self.state();
        let registration = &recorded.registration;
        let key = &registration.customer_key;
        let current = state.registrations.queues.get(key).cloned();
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
        if state.registrations.records.contains_key(&registration.id) {
            return Err(StoreError::Conflict("the registration"));
        }
        if !recorded.timer.iter().all(|t| timer_condition_holds(&state, t)) {
            return Err(StoreError::Conflict("the SLA timer"));
        }
        if let Some(queue) = next {
            state.registrations.queues.insert(key.clone(), queue);
        }
        let timers: Vec<SlaTimer> = recorded.timer.iter().cloned().collect();
        for timer in &timers {
            put_timer(&mut state, timer);
        }
        if let Some(watch) = &recorded.watch {
            put_watch(&mut state, watch);
        }
        state
            .registrations
            .by_partner
            .entry(registration.partner_id.clone())
            .or_default()
            .insert(registration.id.clone());
        state
            .registrations
            .records
            .insert(registration.id.clone(), RegistrationRecord { registration: registration.clone(), timers });
        state
            .registrations
            .history
            .entry(recorded.audit.registration_id.clone())
            .or_default()
            .insert(audit_sk(&recorded.audit), recorded.audit.clone());
        state.outbox.extend(recorded.events.iter().map(outbox_item));
        Ok(())
    }

    async fn registration(&self, id: &RegistrationId) -> Result<Option<RegistrationRecord>, StoreError> {
        Ok(self.state().registrations.records.get(id).cloned())
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
        let State { registrations, visited, .. } = &mut *state;
        let index = match &query.partner_id {
            Some(partner) => match registrations.by_partner.get(partner) {
                Some(ids) => Some(ids),
                None => return Ok(Page { items: Vec::new(), next_cursor: None }),
            },
            None => None,
        };
        let keep = |r: &RegistrationRecord| query.status.is_none_or(|s| r.registration.status == s);
        Ok(list_page(&registrations.records, index, after, partition, keep, page, visited))
    }

    async fn registration_history(&self, id: &RegistrationId) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.state().registrations.history.get(id).map(|h| h.values().cloned().collect()).unwrap_or_default())
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
                Some((size, batch)) if *size + items <= MAX_TRANSACTION_ITEMS => {
                    *size += items;
                    batch.push(c);
                }
                _ => batches.push((items, vec![c])),
            }
        }
        for (index, (_, batch)) in batches.into_iter().enumerate() {
            if index == 0 {
                let version = state.registrations.queues.get(&change.customer_key).map(|q| q.version);
                if version != Some(change.queue_read) {
                    return Err(StoreError::Conflict("the customer's registration queue"));
                }
                if !change.timers.iter().all(|t| timer_condition_holds(&state, t)) {
                    return Err(StoreError::Conflict("an SLA timer"));
                }
                let all_pending = untouched_owners.iter().all(|owner| {
                    state.registrations.records.get(*owner).map(|r| r.registration.status)
                        == Some(RegistrationStatus::Pending)
                });
                if !all_pending {
                    return Err(StoreError::Conflict("the promoted registration"));
                }
            }
            for c in &batch {
                if state.registrations.records.get(&c.registration_id).map(|r| r.registration.status) != Some(c.from) {
                    return Err(StoreError::Conflict("a registration's status"));
                }
            }
            if index == 0 {
                state.registrations.queues.insert(change.customer_key.clone(), change.queue_after.clone());
                for timer in &change.timers {
                    put_timer(&mut state, timer);
                }
                for watch in &change.watches {
                    put_watch(&mut state, watch);
                }
            }
            for c in batch {
                if let Some(record) = state.registrations.records.get_mut(&c.registration_id) {
                    record.registration.apply(c);
                }
                state
                    .registrations
                    .history
                    .entry(c.audit.registration_id.clone())
                    .or_default()
                    .insert(audit_sk(&c.audit), c.audit.clone());
                if let Some(event) = &c.event {
                    state.outbox.push(outbox_item(event));
                }
            }
        }
        Ok(())
    }
}
