//! SLA timers as the sweep reads and writes them, and registration expiry watches.

use super::dynamo::*;
use super::items::*;
use super::memory::*;
use super::*;
use crate::outbox::outbox_item;
use async_trait::async_trait;
use partnerops_domain::Timestamp;
use partnerops_domain::event::DomainEvent;
use partnerops_domain::id::{ReferralId, RegistrationId};
use partnerops_domain::registration::ExpiryWatch;
use partnerops_domain::sla::{SlaSubject, SlaTimer};
use std::collections::HashMap;

/// What one sweep read from the due-time index.
#[derive(Debug, Clone, Default)]
pub struct DueTimers {
    pub timers: Vec<SlaTimer>,
    pub expiries: Vec<ExpiryWatch>,
    /// Index items read (DynamoDB's `ScannedCount`, summed over pages).
    pub items_read: usize,
    pub queries: usize,
}

/// Number of partitions the SLA due-time index is spread over.
pub const DUE_INDEX_SHARDS: u32 = 8;

#[async_trait]
pub trait SlaTimers: Send + Sync {
    /// Every timer whose next check is due at `now`, from the sparse due-time
    /// index (never a scan), with the number of items read.
    async fn due_timers(&self, now: Timestamp) -> Result<DueTimers, StoreError>;

    /// Writes a swept timer, its copy on its subject and its events in one
    /// transaction; `Conflict` if the timer changed since it was read.
    async fn record_sweep(&self, before: &SlaTimer, after: &SlaTimer, events: &[DomainEvent])
    -> Result<(), StoreError>;

    /// Records an expiry notice with its event, conditional on the watch's `rev`.
    async fn record_expiry_notice(
        &self,
        before: &ExpiryWatch,
        after: &ExpiryWatch,
        event: &DomainEvent,
    ) -> Result<(), StoreError>;
}

#[async_trait]
impl SlaTimers for DynamoStore {
    async fn due_timers(&self, now: Timestamp) -> Result<DueTimers, StoreError> {
        // `~` sorts after every character of a key, so this takes every entry
        // whose next check is at or before `now`.
        let upto = format!("{}#~", now.to_rfc3339());
        let mut due = DueTimers::default();
        for shard in 0..DUE_INDEX_SHARDS {
            let read = query_counted(
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(DUE_INDEX)
                    .key_condition_expression("DUEPK = :shard AND DUESK <= :upto")
                    .expression_attribute_values(":shard", s(format!("DUE#{shard}")))
                    .expression_attribute_values(":upto", s(upto.clone())),
            )
            .await?;
            due.queries += read.queries;
            due.items_read += read.items_read;
            for item in read.items {
                match item.get("entity").and_then(|e| e.as_s().ok()).map(String::as_str) {
                    Some("registration_expiry") => due.expiries.push(from_item::<ExpiryWatchItem>(item)?.watch),
                    _ => due.timers.push(from_item::<SlaTimerItem>(item)?.timer),
                }
            }
        }
        Ok(due)
    }

    async fn record_sweep(
        &self,
        before: &SlaTimer,
        after: &SlaTimer,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let pk = subject_pk(&after.subject);
        let mut items = vec![
            self.put_with_values(
                to_item(&SlaTimerItem::new(pk.clone(), after.clone()))?,
                "rev = :rev",
                HashMap::from([(":rev".to_owned(), n(before.rev))]),
            )?,
            self.update(
                key_of(&pk, subject_sk(&after.subject)),
                "SET sla_timers.#k = :timer ADD rev :one",
                Some("attribute_exists(PK)"),
                vec![("#k", &timer_key(after))],
                HashMap::from([(":timer".to_owned(), to_value(after)?), (":one".to_owned(), n(1))]),
            )?,
        ];
        let mut names = vec!["the SLA timer", "the timer's subject"];
        for event in events {
            items.push(self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?);
            names.push("the outbox");
        }
        self.transact(items, &names).await
    }

    async fn record_expiry_notice(
        &self,
        before: &ExpiryWatch,
        after: &ExpiryWatch,
        event: &DomainEvent,
    ) -> Result<(), StoreError> {
        let items = vec![
            self.put_with_values(
                to_item(&ExpiryWatchItem::new(after.clone()))?,
                "rev = :rev",
                HashMap::from([(":rev".to_owned(), n(before.rev))]),
            )?,
            self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?,
        ];
        self.transact(items, &["the expiry watch", "the outbox"]).await
    }
}

#[async_trait]
impl SlaTimers for MemoryStore {
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
}
